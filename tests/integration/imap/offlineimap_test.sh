#!/usr/bin/env bash
# offlineimap (Debian's offlineimap3) one-shot syncs of INBOX and a second folder: download,
# local additions and flag changes uploaded, then a run that changes nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
read -r user pass < <("$NEW_USER")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "offlineimap_test: $*"; exit 1; }
state() { "$here/imap_state.py" "$user" "$pass" state "$1"; }

for i in 1 2; do
  printf 'From: s%s@example.test\r\nTo: %s\r\nSubject: offlineimap %s\r\nMessage-ID: <oi%s@example.test>\r\n\r\nbody %s\r\n' \
    "$i" "$user" "$i" "$i" "$i" >"$tmp/m$i.eml"
done
"$here/imap_state.py" "$user" "$pass" append INBOX "$tmp/m1.eml"
"$here/imap_state.py" "$user" "$pass" append Archive "$tmp/m2.eml" '(\Seen)'

cat >"$tmp/rc" <<CFG
[general]
accounts = tern
metadata = $tmp/meta
ui = basic

[Account tern]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = $tmp/mail

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = $IMAPS_PORT
remoteuser = $user
remotepass = $pass
ssl = yes
sslcacertfile = $TERN_CA
folderfilter = lambda f: f in ['INBOX', 'Archive']
CFG
sync() {
  timeout 120 offlineimap -c "$tmp/rc" -o -u basic >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "offlineimap failed"; }
  if grep -qi 'ERROR' "$tmp/out"; then cat "$tmp/out"; fail "offlineimap reported an error"; fi
}

sync
[ "$(find "$tmp/mail/INBOX" -type f -path '*/cur/*' -o -type f -path '*/new/*' | wc -l)" -eq 1 ] || fail "INBOX not downloaded"
ls "$tmp/mail/Archive/cur" | grep -q 'S$' || fail "Archive message or its \\Seen flag missing"

# Local changes: a new message in INBOX and \Flagged on the Archive message.
printf 'From: me@example.test\r\nTo: %s\r\nSubject: local add\r\n\r\nhello\r\n' "$user" \
  >"$tmp/mail/INBOX/new/$(date +%s)_0.$$.host"
f=$(ls "$tmp/mail/Archive/cur" | head -n1)
mv "$tmp/mail/Archive/cur/$f" "$tmp/mail/Archive/cur/${f%,*},FS"
sync
state INBOX >"$tmp/inbox1"
[ "$(wc -l <"$tmp/inbox1")" -eq 2 ] || { cat "$tmp/inbox1"; fail "local message not uploaded"; }
state Archive | grep -q '\[\\Flagged \\Seen\]' || { state Archive; fail "\\Flagged not uploaded"; }

# Nothing to do: the server stays as it is.
sync
state INBOX >"$tmp/inbox2"
diff "$tmp/inbox1" "$tmp/inbox2" || fail "an idle sync changed the server"
echo "offlineimap_test: ok"
