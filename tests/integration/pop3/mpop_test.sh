#!/usr/bin/env bash
# mpop over POP3S (and once over STLS), certificate checked against TERN_CA, into a maildir:
# a keep run retrieves everything, a second keep run nothing (UIDL-tracked), a new message is
# the only one the next run retrieves, and a run without keep deletes them all (INBOX empty
# through IMAP). Run by with_cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
imap_state=$here/../imap/imap_state.py
read -r user pass < <("$NEW_USER")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "mpop_test: $*"
  echo "--- tern-pop3d log (last 20 lines)"
  tail -n 20 "$TERN_VAR/log/tern-pop3d.log" 2>/dev/null || true
  exit 1
}
export HOME=$tmp/home
mkdir -p "$HOME" "$tmp/Maildir/new" "$tmp/Maildir/cur" "$tmp/Maildir/tmp"

for i in 1 2 3 4; do
  printf 'From: s%s@example.test\r\nTo: %s\r\nSubject: mpop %s\r\nMessage-ID: <mp%s@example.test>\r\n\r\nbody %s\r\n.dot line %s\r\n.\r\n' \
    "$i" "$user" "$i" "$i" "$i" "$i" >"$tmp/m$i.eml"
done
for i in 1 2 3; do "$imap_state" "$user" "$pass" append INBOX "$tmp/m$i.eml"; done

printf '%s\n' "$pass" >"$tmp/pass"
cat >"$tmp/mpoprc" <<CFG
defaults
timeout 20
tls on
tls_trust_file $TERN_CA
received_header off
delivery maildir $tmp/Maildir
uidls_file $tmp/uidls

account tern
host 127.0.0.1
port $POP3S_PORT
tls_starttls off
user $user
passwordeval cat $tmp/pass
auth scram-sha-256
keep on

account tern-stls : tern
port $POP3_PORT
tls_starttls on
auth plain

account tern-delete : tern
auth plain
keep off
CFG
chmod 600 "$tmp/mpoprc"
mpop_run() {  # ACCOUNT [OPTIONS...]
  local account=$1
  shift
  timeout 60 mpop -C "$tmp/mpoprc" "$@" "$account" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "mpop $* $account failed"; }
}
count() { find "$tmp/Maildir/new" "$tmp/Maildir/cur" -type f | wc -l; }
# A retrieved message is the uploaded one (mpop stores LF line endings; no Received header).
has_message() {
  local want=$1 f
  for f in "$tmp"/Maildir/new/* "$tmp"/Maildir/cur/*; do
    [ -f "$f" ] || continue
    if tr -d '\r' <"$f" | cmp -s - <(tr -d '\r' <"$want"); then return 0; fi
  done
  return 1
}

# 1. Keep mode (SCRAM-SHA-256 over POP3S): all three, each intact.
mpop_run tern
n=$(count)
[ "$n" -eq 3 ] || { cat "$tmp/out"; fail "first run delivered $n messages, want 3"; }
for i in 1 2 3; do
  has_message "$tmp/m$i.eml" || { cat "$tmp"/Maildir/new/*; fail "message $i not delivered intact"; }
done
[ -s "$tmp/uidls" ] || fail "mpop wrote no UIDLs file"

# 2. Keep mode again: nothing new.
mpop_run tern
n=$(count)
[ "$n" -eq 3 ] || { cat "$tmp/out"; fail "second run delivered $((n - 3)) messages, want 0"; }
[ "$("$imap_state" "$user" "$pass" state INBOX | wc -l)" -eq 3 ] || fail "keep mode removed messages from INBOX"

# 3. One more message, fetched over STLS (AUTH PLAIN): only that one is new.
"$imap_state" "$user" "$pass" append INBOX "$tmp/m4.eml"
mpop_run tern-stls
n=$(count)
[ "$n" -eq 4 ] || { cat "$tmp/out"; fail "STLS run delivered $((n - 3)) messages, want 1"; }
has_message "$tmp/m4.eml" || fail "message 4 not delivered intact"

# Status only (-s): four messages on the server, none new.
mpop_run tern -s
grep -q 'new: no messages, total: 4 messages' "$tmp/out" || { cat "$tmp/out"; fail "mpop -s: want 4 messages, none new"; }

# 4. keep off: the already retrieved messages are deleted (nothing new delivered), INBOX empty.
mpop_run tern-delete
n=$(count)
[ "$n" -eq 4 ] || { cat "$tmp/out"; fail "delete run delivered $((n - 4)) messages, want 0"; }
"$imap_state" "$user" "$pass" state INBOX >"$tmp/state"
[ ! -s "$tmp/state" ] || { cat "$tmp/state"; cat "$tmp/out"; fail "INBOX not empty after the keep-off run"; }

# TLS is verified: a CA that did not sign the server certificate fails the run; so does a
# wrong password.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/other.key" -out "$tmp/other.pem" \
  -subj /CN=other-ca -days 1 2>/dev/null
"$imap_state" "$user" "$pass" append INBOX "$tmp/m1.eml"
rc=0
timeout 60 mpop -C "$tmp/mpoprc" --tls-trust-file="$tmp/other.pem" tern >"$tmp/out" 2>&1 || rc=$?
# sysexits: EX_UNAVAILABLE (69) for the TLS failure, EX_NOPERM (77) for a failed login.
[ $rc -eq 69 ] && grep -q 'certificate verification failed' "$tmp/out" \
  || { cat "$tmp/out"; fail "foreign CA: mpop exit $rc, want 69 and a certificate error"; }
echo wrong >"$tmp/pass"
rc=0
timeout 60 mpop -C "$tmp/mpoprc" tern >"$tmp/out" 2>&1 || rc=$?
[ $rc -eq 77 ] && grep -q 'authentication failed' "$tmp/out" \
  || { cat "$tmp/out"; fail "wrong password: mpop exit $rc, want 77 and an authentication error"; }
rc=0
timeout 60 mpop -C "$tmp/mpoprc" tern-stls >"$tmp/out" 2>&1 || rc=$?
[ $rc -eq 77 ] || { cat "$tmp/out"; fail "wrong password over STLS (PLAIN): mpop exit $rc, want 77"; }
[ "$(count)" -eq 4 ] || fail "mpop delivered over a failed connection"
echo "mpop_test: ok"
