#!/usr/bin/env bash
# curl as a POP3 client over implicit TLS (pop3s://) and STLS (pop3:// --ssl-reqd): LIST,
# RETR (byte-identical, dot-stuffing undone), UIDL (stable across sessions), TOP, DELE
# (applied at QUIT, seen through IMAP), SASL mechanisms, and a wrong password.
# Run by with_cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
imap_state=$here/../imap/imap_state.py
read -r user pass < <("$NEW_USER")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp  # no ~/.curlrc
fail() {
  echo "curl_test: $*"
  echo "--- tern-pop3d log (last 20 lines)"
  tail -n 20 "$TERN_VAR/log/tern-pop3d.log" 2>/dev/null || true
  exit 1
}
pop3s="pop3s://127.0.0.1:$POP3S_PORT"
pop3="pop3://127.0.0.1:$POP3_PORT"
c=(curl -sS --max-time 20 --cacert "$TERN_CA" -u "$user:$pass")

# CRLF messages; the first has lines that the server must dot-stuff ("." alone, ".x", "..").
printf 'From: Alice <alice@example.test>\r\nTo: %s\r\nSubject: pop3 curl one\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <p1@example.test>\r\n\r\nFirst body line\r\n.leading dot line\r\n.\r\n..two dots\r\nlast line\r\n' "$user" >"$tmp/m1.eml"
printf 'From: Bob <bob@example.test>\r\nTo: %s\r\nSubject: pop3 curl two\r\nDate: Tue, 3 Nov 2026 11:00:00 +0000\r\n\r\nSecond message body\r\n' "$user" >"$tmp/m2.eml"
"${c[@]}" -T "$tmp/m1.eml" "imaps://127.0.0.1:$IMAPS_PORT/INBOX" || fail "IMAP upload 1"
"${c[@]}" -T "$tmp/m2.eml" "imaps://127.0.0.1:$IMAPS_PORT/INBOX" || fail "IMAP upload 2"
size1=$(wc -c <"$tmp/m1.eml")
size2=$(wc -c <"$tmp/m2.eml")

# LIST: the scan listing gives each message's exact size in octets (CRLF included).
"${c[@]}" "$pop3s/" >"$tmp/list" || fail "LIST over pop3s"
printf '1 %s\r\n2 %s\r\n' "$size1" "$size2" | cmp -s - "$tmp/list" \
  || { cat -A "$tmp/list"; fail "LIST over pop3s: want '1 $size1', '2 $size2'"; }
"${c[@]}" --ssl-reqd "$pop3/" >"$tmp/list_stls" || fail "LIST over STLS"
cmp -s "$tmp/list" "$tmp/list_stls" || { cat -A "$tmp/list_stls"; fail "LIST over STLS differs"; }
# LIST of one message (-l: LIST n instead of RETR n).
"${c[@]}" -l "$pop3s/2" >"$tmp/list2" || fail "LIST 2"
[ ! -s "$tmp/list2" ] || { cat -A "$tmp/list2"; fail "LIST 2 wrote a body (single-line reply expected)"; }
set +e
"${c[@]}" -l "$pop3s/3" >/dev/null 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "LIST 3 (no such message) succeeded"

# RETR: byte-identical to the upload, over both transports.
"${c[@]}" "$pop3s/1" >"$tmp/r1" || fail "RETR 1 over pop3s"
cmp "$tmp/m1.eml" "$tmp/r1" || { cat -A "$tmp/r1"; fail "RETR 1 differs from the upload"; }
"${c[@]}" --ssl-reqd "$pop3/2" >"$tmp/r2" || fail "RETR 2 over STLS"
cmp "$tmp/m2.eml" "$tmp/r2" || { cat -A "$tmp/r2"; fail "RETR 2 differs from the upload"; }
"${c[@]}" --ssl-reqd "$pop3/1" >"$tmp/r1s" || fail "RETR 1 over STLS"
cmp "$tmp/m1.eml" "$tmp/r1s" || { cat -A "$tmp/r1s"; fail "RETR 1 over STLS differs from the upload"; }

# UIDL: two distinct ids, the same in a later session (and over the other transport).
"${c[@]}" -X UIDL "$pop3s/" >"$tmp/uidl" || fail "UIDL"
tr -d '\r' <"$tmp/uidl" >"$tmp/uidl.lf"
[ "$(wc -l <"$tmp/uidl.lf")" -eq 2 ] || { cat -A "$tmp/uidl"; fail "UIDL: want two lines"; }
grep -Eq '^1 [!-~]{1,70}$' "$tmp/uidl.lf" && grep -Eq '^2 [!-~]{1,70}$' "$tmp/uidl.lf" \
  || { cat -A "$tmp/uidl"; fail "UIDL lines are not 'n id' with 1..70 printable characters"; }
uid1=$(awk '$1 == 1 {print $2}' "$tmp/uidl.lf")
uid2=$(awk '$1 == 2 {print $2}' "$tmp/uidl.lf")
[ "$uid1" != "$uid2" ] || fail "UIDL gives both messages the id $uid1"
"${c[@]}" --ssl-reqd -X UIDL "$pop3/" >"$tmp/uidl_again" || fail "UIDL over STLS"
cmp -s "$tmp/uidl" "$tmp/uidl_again" || { cat -A "$tmp/uidl_again"; fail "UIDL changed between sessions"; }

# TOP n 0: the header and the blank line; TOP n 2: plus two body lines (still dot-stuffed
# on the wire, so the ".leading dot line" comes back intact).
header=$(awk 'BEGIN{RS="\r\n"; ORS="\r\n"} {print} /^$/ {exit}' "$tmp/m1.eml" | od -An -tx1)
"${c[@]}" -X 'TOP 1 0' "$pop3s/" >"$tmp/top0" || fail "TOP 1 0"
[ "$(od -An -tx1 <"$tmp/top0")" = "$header" ] || { cat -A "$tmp/top0"; fail "TOP 1 0 is not exactly the header"; }
printf 'First body line\r\n.leading dot line\r\n' >"$tmp/two_lines"
"${c[@]}" -X 'TOP 1 2' "$pop3s/" >"$tmp/top2" || fail "TOP 1 2"
[ "$(od -An -tx1 <"$tmp/top2")" = "$(cat "$tmp/top0" "$tmp/two_lines" | od -An -tx1)" ] \
  || { cat -A "$tmp/top2"; fail "TOP 1 2 is not the header and two body lines"; }

# SASL mechanisms curl can pick (PLAIN is its default with the advertised list).
for mech in PLAIN LOGIN; do
  "${c[@]}" --login-options "AUTH=$mech" "$pop3s/2" >"$tmp/r2_$mech" || fail "login with AUTH=$mech"
  cmp -s "$tmp/m2.eml" "$tmp/r2_$mech" || fail "RETR 2 after AUTH=$mech differs"
done

# DELE (-I: no transfer expected) in one session; takes effect at QUIT, which curl sends
# when it closes the connection.
"${c[@]}" -I -X 'DELE 1' "$pop3s/" >"$tmp/dele" || fail "DELE 1"
"$imap_state" "$user" "$pass" state INBOX >"$tmp/state"
[ "$(wc -l <"$tmp/state")" -eq 1 ] || { cat "$tmp/state"; fail "INBOX has not 1 message after DELE 1 + QUIT"; }
want=$(sha256sum <"$tmp/m2.eml" | cut -d' ' -f1)
grep -q " $want\$" "$tmp/state" || { cat "$tmp/state"; fail "the message left in INBOX is not message 2"; }
# The new session's listing holds only the former message 2, now message 1, same UIDL.
"${c[@]}" --ssl-reqd "$pop3/" >"$tmp/list_after" || fail "LIST after DELE"
printf '1 %s\r\n' "$size2" | cmp -s - "$tmp/list_after" || { cat -A "$tmp/list_after"; fail "LIST after DELE"; }
"${c[@]}" -X UIDL "$pop3s/" | tr -d '\r' >"$tmp/uidl_after" || fail "UIDL after DELE"
[ "$(cat "$tmp/uidl_after")" = "1 $uid2" ] || { cat "$tmp/uidl_after"; fail "UIDL after DELE: want '1 $uid2'"; }
"${c[@]}" "$pop3s/1" >"$tmp/r_after" || fail "RETR 1 after DELE"
cmp "$tmp/m2.eml" "$tmp/r_after" || fail "RETR 1 after DELE is not the former message 2"

# TLS is verified: a CA that did not sign the server certificate fails the connection.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/other.key" -out "$tmp/other.pem" \
  -subj /CN=other-ca -days 1 2>/dev/null
for url in "$pop3s/" "$pop3/"; do
  set +e
  curl -sS --max-time 20 --ssl-reqd --cacert "$tmp/other.pem" -u "$user:$pass" "$url" >/dev/null 2>&1
  rc=$?
  set -e
  [ $rc -eq 60 ] || fail "$url with a foreign CA gave curl exit $rc, want 60 (peer certificate not verified)"
done

# Wrong password: curl fails with a login error (exit 67), over both transports.
for url in "$pop3s/" "$pop3/"; do
  set +e
  curl -sS --max-time 20 --ssl-reqd --cacert "$TERN_CA" -u "$user:wrong" "$url" >/dev/null 2>&1
  rc=$?
  set -e
  [ $rc -eq 67 ] || fail "wrong password on $url gave curl exit $rc, want 67 (login denied)"
done
echo "curl_test: ok"
