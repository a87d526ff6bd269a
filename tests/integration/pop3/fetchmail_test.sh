#!/usr/bin/env bash
# fetchmail over POP3S and STLS (certificate checked against TERN_CA) delivering through an
# MDA into files: keep + UIDL runs fetch everything, then nothing ("no mail", exit 1), then
# only a newly appended message; a run without keep fetches all and empties INBOX (seen
# through IMAP). Run by with_cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
imap_state=$here/../imap/imap_state.py
read -r user pass < <("$NEW_USER")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "fetchmail_test: $*"
  echo "--- tern-pop3d log (last 20 lines)"
  tail -n 20 "$TERN_VAR/log/tern-pop3d.log" 2>/dev/null || true
  exit 1
}
export HOME=$tmp/home FETCHMAILHOME=$tmp/home
# As root, fetchmail runs the MDA as $FETCHMAILUSER (else $LOGNAME/$USER): keep it ourselves.
FETCHMAILUSER=$(id -un)
export FETCHMAILUSER
mkdir -p "$HOME" "$tmp/out"

for i in 1 2 3 4; do
  printf 'From: s%s@example.test\r\nTo: %s\r\nSubject: fetchmail %s\r\nMessage-ID: <fm%s@example.test>\r\n\r\nbody %s\r\n.dot line %s\r\n.\r\nend\r\n' \
    "$i" "$user" "$i" "$i" "$i" "$i" >"$tmp/m$i.eml"
done
for i in 1 2 3; do "$imap_state" "$user" "$pass" append INBOX "$tmp/m$i.eml"; done

# The password lives in the rc file (fetchmail insists on 0600 or stricter); everything else
# is on the command line. The host is "localhost": fetchmail checks the certificate's DNS
# names only (127.0.0.1 fails as "hostname mismatch" although the certificate has it as an
# IP address).
cat >"$tmp/fetchmailrc" <<CFG
set no syslog
poll localhost protocol pop3 user "$user" password "$pass"
CFG
chmod 600 "$tmp/fetchmailrc"
fm=(timeout 60 fetchmail -f "$tmp/fetchmailrc" --idfile "$tmp/fetchids" --pidfile "$tmp/fetchmail.pid"
    --nodetach --sslcertck --sslcertfile "$TERN_CA" -v -v
    --mda "cat > \"\$(mktemp $tmp/out/msg.XXXXXX)\"")
pop3s=(-P "$POP3S_PORT" --ssl)
stls=(-P "$POP3_PORT" --sslproto TLS1.2+)
# fetch WANT_RC ARGS...: runs fetchmail, insists on its exit code.
fetch() {
  local want=$1 rc=0
  shift
  "${fm[@]}" "$@" localhost >"$tmp/log" 2>&1 || rc=$?
  [ "$rc" -eq "$want" ] || { cat "$tmp/log"; fail "fetchmail $* exited $rc, want $want"; }
}
count() { find "$tmp/out" -type f | wc -l; }
# A delivered message ends with the uploaded one (fetchmail prepends a Received header and
# delivers LF line endings to the MDA).
has_message() {
  local want=$1 f size
  size=$(tr -d '\r' <"$want" | wc -c)
  for f in "$tmp"/out/*; do
    if tail -c "$size" "$f" | cmp -s - <(tr -d '\r' <"$want"); then return 0; fi
  done
  return 1
}

# 1. Keep + UIDL over POP3S: all three, each intact.
fetch 0 "${pop3s[@]}" --keep --uidl
n=$(count)
[ "$n" -eq 3 ] || { cat "$tmp/log"; fail "first run delivered $n messages, want 3"; }
for i in 1 2 3; do
  has_message "$tmp/m$i.eml" || { head -n 30 "$tmp"/out/*; fail "message $i not delivered intact"; }
done
head -n1 "$tmp"/out/* | grep -q '^Received: ' || fail "no Received header from fetchmail"
[ -s "$tmp/fetchids" ] || fail "fetchmail wrote no idfile"

# 2. Again: nothing new, "no mail" (exit 1).
fetch 1 "${pop3s[@]}" --keep --uidl
n=$(count)
[ "$n" -eq 3 ] || { cat "$tmp/log"; fail "second run delivered $((n - 3)) messages, want 0"; }
[ "$("$imap_state" "$user" "$pass" state INBOX | wc -l)" -eq 3 ] || fail "keep mode removed messages from INBOX"

# 3. A new message, fetched over STLS: exactly that one.
"$imap_state" "$user" "$pass" append INBOX "$tmp/m4.eml"
fetch 0 "${stls[@]}" --keep --uidl
n=$(count)
[ "$n" -eq 4 ] || { cat "$tmp/log"; fail "STLS run delivered $((n - 3)) messages, want 1"; }
has_message "$tmp/m4.eml" || fail "message 4 not delivered intact"
grep -q '^fetchmail: POP3> STLS' "$tmp/log" && grep -q 'SSL/TLS: using protocol' "$tmp/log" \
  || { cat "$tmp/log"; fail "the STLS run did not use STLS"; }

# 4. No keep, all messages (-a): four more deliveries, then INBOX is empty.
fetch 0 "${pop3s[@]}" --all
n=$(count)
[ "$n" -eq 8 ] || { cat "$tmp/log"; fail "delete run delivered $((n - 4)) messages, want 4"; }
"$imap_state" "$user" "$pass" state INBOX >"$tmp/state"
[ ! -s "$tmp/state" ] || { cat "$tmp/state"; cat "$tmp/log"; fail "INBOX not empty after the delete run"; }
fetch 1 "${pop3s[@]}" --all

# TLS is verified: a CA that did not sign the server certificate fails the run.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/other.key" -out "$tmp/other.pem" \
  -subj /CN=other-ca -days 1 2>/dev/null
"$imap_state" "$user" "$pass" append INBOX "$tmp/m1.eml"
rc=0
timeout 60 fetchmail -f "$tmp/fetchmailrc" --idfile "$tmp/fetchids" --pidfile "$tmp/fetchmail.pid" \
  --nodetach --sslcertck --sslcertfile "$tmp/other.pem" -P "$POP3S_PORT" --ssl --keep \
  --mda "cat > \"\$(mktemp $tmp/out/msg.XXXXXX)\"" localhost >"$tmp/log" 2>&1 || rc=$?
# Exit 2: socket error (the TLS handshake failed on the certificate).
[ "$rc" -eq 2 ] && grep -q 'certificate verify failed' "$tmp/log" \
  || { cat "$tmp/log"; fail "foreign CA: fetchmail exit $rc, want 2 and a certificate error"; }
[ "$(count)" -eq 8 ] || fail "fetchmail delivered over an unverified connection"
echo "fetchmail_test: ok"
