#!/usr/bin/env bash
# mbsync (isync) two-way sync of INBOX with flags: server -> maildir, maildir -> server,
# flag changes both ways, and a final run that changes nothing. Run by with_cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
read -r user pass < <("$NEW_USER")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "mbsync_test: $*"; exit 1; }
state() { "$here/imap_state.py" "$user" "$pass" state INBOX; }

for i in 1 2 3; do
  printf 'From: sender%s@example.test\r\nTo: %s\r\nSubject: mbsync %s\r\nMessage-ID: <mb%s@example.test>\r\n\r\nbody %s\r\n' \
    "$i" "$user" "$i" "$i" "$i" >"$tmp/m$i.eml"
done
"$here/imap_state.py" "$user" "$pass" append INBOX "$tmp/m1.eml"
"$here/imap_state.py" "$user" "$pass" append INBOX "$tmp/m2.eml" '(\Seen)'
"$here/imap_state.py" "$user" "$pass" append INBOX "$tmp/m3.eml" '(\Flagged)'

mkdir -p "$tmp/mail"
cat >"$tmp/mbsyncrc" <<CFG
IMAPAccount tern
Host localhost
Port $IMAPS_PORT
User $user
Pass $pass
SSLType IMAPS
CertificateFile $TERN_CA
AuthMechs PLAIN LOGIN

IMAPStore far
Account tern

MaildirStore near
Path $tmp/mail/
Inbox $tmp/mail/INBOX

Channel inbox
Far :far:
Near :near:
Patterns INBOX
Create Both
Expunge Both
SyncState *
Sync All
CFG
sync() { mbsync -c "$tmp/mbsyncrc" -a >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "mbsync failed"; }; }

# 1. Server -> maildir: three messages, flags carried over (S, F).
sync
n=$(find "$tmp/mail/INBOX/cur" "$tmp/mail/INBOX/new" -type f | wc -l)
[ "$n" -eq 3 ] || fail "maildir has $n messages after the first sync, want 3"
ls "$tmp/mail/INBOX/cur" "$tmp/mail/INBOX/new" | grep -q ':2,S$' || fail "\\Seen did not reach the maildir"
ls "$tmp/mail/INBOX/cur" "$tmp/mail/INBOX/new" | grep -q ':2,F$' || fail "\\Flagged did not reach the maildir"

# 2. Maildir -> server: a new local message and a local flag change.
printf 'From: local@example.test\r\nTo: %s\r\nSubject: written locally\r\n\r\nlocal body\r\n' "$user" \
  >"$tmp/mail/INBOX/new/$(date +%s).local1.host"
seen_file=$(ls "$tmp/mail/INBOX/cur" | grep ':2,S$' | head -n1)
mv "$tmp/mail/INBOX/cur/$seen_file" "$tmp/mail/INBOX/cur/${seen_file%:2,S}:2,RS"
sync
state >"$tmp/state1"
[ "$(wc -l <"$tmp/state1")" -eq 4 ] || { cat "$tmp/state1"; fail "server has not 4 messages"; }
grep -q '\[\\Answered \\Seen\]' "$tmp/state1" || { cat "$tmp/state1"; fail "local \\Answered did not reach the server"; }

# 3. Server-side flag change -> maildir.
"$here/imap_state.py" "$user" "$pass" store INBOX 1 '(\Deleted)'
sync
state >"$tmp/state2"
[ "$(wc -l <"$tmp/state2")" -eq 3 ] || { cat "$tmp/state2"; fail "deleted message still on the server after sync"; }
n=$(find "$tmp/mail/INBOX/cur" "$tmp/mail/INBOX/new" -type f | wc -l)
[ "$n" -eq 3 ] || fail "maildir has $n messages, want 3 after the expunge"

# 4. Nothing changed: a further run changes neither side.
(cd "$tmp/mail" && find . -type f | sort) >"$tmp/files_before"
sync
state >"$tmp/state3"
(cd "$tmp/mail" && find . -type f | sort) >"$tmp/files_after"
diff "$tmp/state2" "$tmp/state3" || fail "a sync with nothing to do changed the server"
diff <(grep -v '\.mbsyncstate' "$tmp/files_before") <(grep -v '\.mbsyncstate' "$tmp/files_after") \
  || fail "a sync with nothing to do changed the maildir"
echo "mbsync_test: ok"
