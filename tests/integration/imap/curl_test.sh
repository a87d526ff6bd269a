#!/usr/bin/env bash
# curl as an IMAP client (imap:// and imaps://): upload (APPEND), list, search, fetch,
# over STARTTLS and implicit TLS. Run by with_cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
read -r user pass < <("$NEW_USER")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "curl_test: $*"; exit 1; }
imaps="imaps://127.0.0.1:$IMAPS_PORT"
imap="imap://127.0.0.1:$IMAP_PORT"
c=(curl -sS --max-time 20 --cacert "$TERN_CA" -u "$user:$pass")

printf 'From: Alice <alice@example.test>\r\nTo: %s\r\nSubject: curl upload one\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <c1@example.test>\r\n\r\nFirst body line\r\n.leading dot line\r\n' "$user" >"$tmp/m1.eml"
printf 'From: Bob <bob@example.test>\r\nTo: %s\r\nSubject: second message\r\nDate: Tue, 3 Nov 2026 11:00:00 +0000\r\n\r\nNeedle in the body\r\n' "$user" >"$tmp/m2.eml"

# Upload (APPEND) over implicit TLS and over STARTTLS (--ssl-reqd: STARTTLS or fail).
"${c[@]}" -T "$tmp/m1.eml" "$imaps/INBOX" || fail "upload over imaps"
"${c[@]}" --ssl-reqd -T "$tmp/m2.eml" "$imap/INBOX" || fail "upload over STARTTLS"

# LIST
"${c[@]}" "$imaps/" >"$tmp/list" || fail "list"
grep -q 'LIST (.*) "/" INBOX' "$tmp/list" || { cat "$tmp/list"; fail "INBOX not listed"; }
grep -q '\\Sent' "$tmp/list" || { cat "$tmp/list"; fail "no special-use Sent folder"; }

# SEARCH (curl sends "SEARCH <query>" and prints the untagged SEARCH response)
"${c[@]}" "$imaps/INBOX?SUBJECT%20curl" >"$tmp/search" || fail "search"
grep -q '^\* SEARCH 1\s*$' "$tmp/search" || { cat "$tmp/search"; fail "SEARCH SUBJECT"; }
"${c[@]}" "$imaps/INBOX?BODY%20needle" >"$tmp/search2" || fail "search body"
grep -q '^\* SEARCH 2\s*$' "$tmp/search2" || { cat "$tmp/search2"; fail "SEARCH BODY"; }

# FETCH by UID: the bytes come back exactly as uploaded.
"${c[@]}" "$imaps/INBOX;UID=1" >"$tmp/f1" || fail "fetch uid 1"
cmp "$tmp/m1.eml" "$tmp/f1" || fail "fetched message 1 differs from the upload"
"${c[@]}" --ssl-reqd "$imap/INBOX;UID=2" >"$tmp/f2" || fail "fetch uid 2 over STARTTLS"
cmp "$tmp/m2.eml" "$tmp/f2" || fail "fetched message 2 differs from the upload"
# A section: the text of message 1.
"${c[@]}" "$imaps/INBOX;UID=1;SECTION=TEXT" >"$tmp/t1" || fail "fetch section"
printf 'First body line\r\n.leading dot line\r\n' | cmp - "$tmp/t1" || fail "BODY[TEXT] differs"

# Custom request: EXAMINE shows two messages.
"${c[@]}" -X 'EXAMINE INBOX' "$imaps/" >"$tmp/ex" || fail "examine"
grep -q '^\* 2 EXISTS' "$tmp/ex" || { cat "$tmp/ex"; fail "EXISTS after two uploads"; }

# Wrong password: curl fails with a login error (exit 67).
set +e
curl -sS --max-time 20 --cacert "$TERN_CA" -u "$user:wrong" "$imaps/" >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 67 ] || fail "wrong password gave curl exit $rc, want 67 (login denied)"
echo "curl_test: ok"
