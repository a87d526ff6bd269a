#!/usr/bin/env bash
# getmail6 over POP3S (SimplePOP3SSLRetriever, certificate checked against TERN_CA) into a
# Maildir: a keep run retrieves everything, a second keep run nothing (UIDL-tracked), a new
# message is the only one the third run retrieves, and a delete run empties INBOX (seen
# through IMAP). Run by with_cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
imap_state=$here/../imap/imap_state.py
read -r user pass < <("$NEW_USER")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "getmail_test: $*"
  echo "--- tern-pop3d log (last 20 lines)"
  tail -n 20 "$TERN_VAR/log/tern-pop3d.log" 2>/dev/null || true
  exit 1
}
export HOME=$tmp/home
mkdir -p "$HOME" "$tmp/gm" "$tmp/Maildir/new" "$tmp/Maildir/cur" "$tmp/Maildir/tmp"
# getmail refuses to deliver as root: there it delivers as "nobody", which needs the maildir.
deliver_as=""
if [ "$(id -u)" -eq 0 ]; then
  deliver_as="user = nobody"
  chown -R nobody "$tmp/Maildir"
  chmod 711 "$tmp"
fi

for i in 1 2 3 4; do
  printf 'From: s%s@example.test\r\nTo: %s\r\nSubject: getmail %s\r\nMessage-ID: <gm%s@example.test>\r\n\r\nbody %s\r\n.dot line %s\r\n' \
    "$i" "$user" "$i" "$i" "$i" "$i" >"$tmp/m$i.eml"
done
for i in 1 2 3; do "$imap_state" "$user" "$pass" append INBOX "$tmp/m$i.eml"; done

# rc FILE DELETE READ_ALL [CA]
rc() {
  cat >"$1" <<CFG
[retriever]
type = SimplePOP3SSLRetriever
server = 127.0.0.1
port = $POP3S_PORT
username = $user
password = $pass
ca_certs = ${4:-$TERN_CA}

[destination]
type = Maildir
path = $tmp/Maildir/
$deliver_as

[options]
verbose = 2
read_all = $3
delete = $2
delivered_to = false
received = false
message_log = $tmp/getmail.log
CFG
  chmod 600 "$1"
}
rc "$tmp/gm/keep.rc" false false
rc "$tmp/gm/delete.rc" true true
getmail_run() {
  timeout 60 getmail --getmaildir="$tmp/gm" --rcfile="$1" >"$tmp/out" 2>&1 \
    || { cat "$tmp/out"; fail "getmail --rcfile=$1 failed"; }
}
count() { find "$tmp/Maildir/new" "$tmp/Maildir/cur" -type f | wc -l; }
# A retrieved message is the uploaded one: getmail stores LF line endings and, with
# delivered_to/received off, adds at most a Return-Path line.
has_message() {
  local want=$1 f
  for f in "$tmp"/Maildir/new/* "$tmp"/Maildir/cur/*; do
    [ -f "$f" ] || continue
    if grep -v '^Return-Path:' "$f" | tr -d '\r' | cmp -s - <(tr -d '\r' <"$want"); then return 0; fi
  done
  return 1
}

# 1. Keep mode: all three, each matching its upload.
getmail_run "$tmp/gm/keep.rc"
n=$(count)
[ "$n" -eq 3 ] || { cat "$tmp/out"; fail "first run delivered $n messages, want 3"; }
for i in 1 2 3; do
  has_message "$tmp/m$i.eml" || { head -n 20 "$tmp"/Maildir/new/*; fail "message $i not delivered intact"; }
done
ls "$tmp"/gm/oldmail-* >/dev/null 2>&1 || fail "getmail kept no oldmail (UIDL) file"

# 2. Keep mode again: nothing new.
getmail_run "$tmp/gm/keep.rc"
n=$(count)
[ "$n" -eq 3 ] || { cat "$tmp/out"; fail "second run delivered $((n - 3)) messages, want 0"; }
grep -Eq '0 messages .*retrieved' "$tmp/out" || { cat "$tmp/out"; fail "second run did not report 0 retrieved"; }
[ "$("$imap_state" "$user" "$pass" state INBOX | wc -l)" -eq 3 ] || fail "keep mode removed messages from INBOX"

# 3. One more message: the third run retrieves exactly that one.
"$imap_state" "$user" "$pass" append INBOX "$tmp/m4.eml"
getmail_run "$tmp/gm/keep.rc"
n=$(count)
[ "$n" -eq 4 ] || { cat "$tmp/out"; fail "third run delivered $((n - 3)) messages, want 1"; }
has_message "$tmp/m4.eml" || fail "message 4 not delivered intact"

# 4. Delete mode (read_all): all four again, then INBOX is empty.
getmail_run "$tmp/gm/delete.rc"
n=$(count)
[ "$n" -eq 8 ] || { cat "$tmp/out"; fail "delete run delivered $((n - 4)) messages, want 4"; }
"$imap_state" "$user" "$pass" state INBOX >"$tmp/state"
[ ! -s "$tmp/state" ] || { cat "$tmp/state"; cat "$tmp/out"; fail "INBOX not empty after the delete run"; }

# TLS is verified: a CA that did not sign the server certificate fails the run.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/other.key" -out "$tmp/other.pem" \
  -subj /CN=other-ca -days 1 2>/dev/null
rc "$tmp/gm/other.rc" false true "$tmp/other.pem"
"$imap_state" "$user" "$pass" append INBOX "$tmp/m1.eml"
if timeout 60 getmail --getmaildir="$tmp/gm" --rcfile="$tmp/gm/other.rc" >"$tmp/out" 2>&1; then
  cat "$tmp/out"; fail "getmail accepted a server certificate not signed by its ca_certs"
fi
grep -q CERTIFICATE_VERIFY_FAILED "$tmp/out" || { cat "$tmp/out"; fail "foreign CA: no certificate error reported"; }
[ "$(count)" -eq 8 ] || fail "getmail delivered over an unverified connection"
echo "getmail_test: ok"
