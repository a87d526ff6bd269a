#!/usr/bin/env bash
# swaks, the SMTP/LMTP test client, delivering through tern-lmtpd, with curl's IMAP client
# reading the result back:
#   - SMTP with STARTTLS, the server certificate verified against the cluster's CA (and
#     refused against another CA);
#   - LMTP (RFC 2033), to two recipients, with an unknown one in between;
#   - SMTP with PIPELINING (RFC 2920), to two recipients;
#   - a real message from the test corpus as the DATA (--data @file), stored byte for byte
#     below tern-lmtpd's Return-Path and Received fields;
#   - a binary attachment (--attach), decoded back from the stored MIME message;
#   - refusals make swaks fail: an unknown recipient (24), relaying (24), a message over the
#     recipient's quota (26 in LMTP).
# Run by tests/integration/imap/with_cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
testdata=${TERN_TESTDATA_DIR:-$root/../shared/testdata}
corpus_message=$testdata/mime-corpus/msg_32.txt  # text/plain, LF line endings

for v in IMAP_PORT SMTP_PORT LMTP_PORT NEW_USER TERNCTL TERN_CA; do
  if [ -z "${!v:-}" ]; then
    echo "swaks_test: $v is not set: run this through tests/integration/imap/with_cluster.sh"
    exit 1
  fi
done
for tool in swaks curl python3; do
  command -v "$tool" >/dev/null || { echo "swaks_test: $tool is not installed"; exit 1; }
done
support=$(swaks --support 2>&1 || true)
if ! grep -q "^=== TLS supported" <<<"$support"; then
  echo "swaks_test: swaks has no TLS support: install libnet-ssleay-perl"
  grep -i tls <<<"$support"
  exit 1
fi
[ -r "$corpus_message" ] || { echo "swaks_test: $corpus_message is missing"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tern-test-swaks.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
started=$(date +%s.%N)
failures=0
current=""

fail() {
  echo "FAIL [$current]: $*"
  failures=$((failures + 1))
}

# swaks_run NAME EXPECTED_EXIT ARGS...: runs swaks with a timeout, its transcript in
# $tmp/NAME.out (printed when the exit code is not the expected one).
swaks_run() {
  local name=$1 expected=$2
  shift 2
  local rc=0
  swaks --timeout 20 --helo client.test --from sender@example.org "$@" >"$tmp/$name.out" 2>&1 \
    || rc=$?
  if [ "$rc" != "$expected" ]; then
    fail "swaks exited with $rc, expected $expected; transcript:"
    sed 's/^/    /' "$tmp/$name.out" | tail -n 60
    return 1
  fi
  return 0
}

# Fresh users, made at once in the background (authd hashes each password with argon2id).
users_wanted=8
for i in $(seq "$users_wanted"); do
  "$NEW_USER" >"$tmp/user.$i" 2>"$tmp/user.$i.err" &
done
users_taken=0
user_addr=""
user_pass=""
take_user() {  # sets user_addr and user_pass
  users_taken=$((users_taken + 1))
  local file=$tmp/user.$users_taken
  if [ "$users_taken" -gt "$users_wanted" ]; then
    "$NEW_USER" >"$file"
  fi
  for _ in $(seq 300); do
    [ -s "$file" ] && break
    sleep 0.1
  done
  [ -s "$file" ] || { echo "swaks_test: NEW_USER failed: $(cat "$file.err" 2>/dev/null)"; exit 1; }
  read -r user_addr user_pass <"$file"
}

imap_url() {  # MAILBOX [;UID=n]
  echo "imap://127.0.0.1:$IMAP_PORT/$1"
}

# messages ADDRESS PASSWORD: the number of messages in the INBOX (IMAP STATUS).
messages() {
  local out
  out=$(curl -sS --max-time 20 --user "$1:$2" "$(imap_url INBOX)" -X 'STATUS INBOX (MESSAGES)') \
    || { echo "curl STATUS failed for $1" >&2; echo -1; return; }
  echo "$out" | tr -d '\r' | sed -n 's/.*(MESSAGES \([0-9]*\)).*/\1/p'
}

# fetch ADDRESS PASSWORD UID FILE: the stored message, as IMAP serves it.
fetch() {
  curl -sS --max-time 20 --user "$1:$2" "$(imap_url "INBOX;UID=$3")" -o "$4"
}

expect_messages() {  # ADDRESS PASSWORD N
  local n
  n=$(messages "$1" "$2")
  [ "$n" = "$3" ] || fail "$1 has $n messages in INBOX, expected $3"
}

# check_trace FILE WITH [RECIPIENT]: the stored message starts with tern-lmtpd's Return-Path
# and Received ("with WITH", "for <RECIPIENT>" with one recipient).
check_trace() {
  python3 - "$@" <<'PY' || fail "trace fields of $1 (with $2)"
import re, sys
data = open(sys.argv[1], "rb").read()
m = re.match(rb"Return-Path: <sender@example\.org>\r\nReceived: ([^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)",
             data)
if not m:
    sys.exit(f"no Return-Path/Received at the top: {data[:300]!r}")
received = re.sub(rb"\r\n[ \t]+", b" ", m.group(1)).decode()
want = f"from client.test ([127.0.0.1]) by localhost (Tern) with {sys.argv[2]} id "
if not received.startswith(want):
    sys.exit(f"Received: {received!r}, expected it to start with {want!r}")
if len(sys.argv) > 3 and f" for <{sys.argv[3]}>;" not in received:
    sys.exit(f"Received: {received!r} does not name <{sys.argv[3]}>")
if len(sys.argv) == 3 and " for <" in received:
    sys.exit(f"Received: {received!r} names a recipient of several")
PY
}

# ---------------------------------------------------------------------------------------------
current="smtp-starttls"
take_user
a=$user_addr pa=$user_pass
if swaks_run starttls 0 --server 127.0.0.1 --port "$SMTP_PORT" --to "$a" \
  -tls --tls-verify --tls-ca-path "$TERN_CA" --header "Subject: swaks over STARTTLS"; then
  grep -q "^<-  220 2.0.0 Ready to start TLS" "$tmp/starttls.out" || fail "no 220 to STARTTLS"
  grep -q "^=== TLS started" "$tmp/starttls.out" || fail "TLS not started"
  # After TLS, EHLO no longer offers STARTTLS (RFC 3207 4.2).
  grep -q "^<~  250 CHUNKING" "$tmp/starttls.out" || fail "no EHLO reply over TLS"
  grep -q "^<~  250.STARTTLS" "$tmp/starttls.out" && fail "STARTTLS offered again after TLS"
  expect_messages "$a" "$pa" 1
  fetch "$a" "$pa" 1 "$tmp/starttls.eml" && check_trace "$tmp/starttls.eml" ESMTPS "$a"
  grep -q "^Subject: swaks over STARTTLS" "$tmp/starttls.eml" || fail "Subject not stored"
fi
# Verification against a CA that did not sign the certificate fails the handshake.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=Other CA" \
  -keyout "$tmp/other-ca.key" -out "$tmp/other-ca.pem" -days 1 2>/dev/null
current="smtp-starttls-wrong-ca"
swaks_run wrong-ca 29 --server 127.0.0.1 --port "$SMTP_PORT" --to "$a" \
  -tls --tls-verify --tls-ca-path "$tmp/other-ca.pem" || true
expect_messages "$a" "$pa" 1

# ---------------------------------------------------------------------------------------------
current="lmtp-two-recipients"
take_user
b=$user_addr pb=$user_pass
take_user
c=$user_addr pc=$user_pass
if swaks_run lmtp 0 --protocol LMTP --server 127.0.0.1 --port "$LMTP_PORT" \
  --to "$b,nobody-$RANDOM@example.test,$c" --header "Subject: swaks over LMTP"; then
  # One reply per accepted recipient after the data, in RCPT order (RFC 2033 4.2).
  awk '/^ -> \.$/ {after = 1; next} after && /^<-/ {print; n++} n == 2 {exit}' \
    "$tmp/lmtp.out" >"$tmp/lmtp.replies"
  grep -q "^<-  250 2.0.0 <$b> delivered" <(sed -n 1p "$tmp/lmtp.replies") \
    || fail "first reply after the data is not for $b: $(cat "$tmp/lmtp.replies")"
  grep -q "^<-  250 2.0.0 <$c> delivered" <(sed -n 2p "$tmp/lmtp.replies") \
    || fail "second reply after the data is not for $c: $(cat "$tmp/lmtp.replies")"
  grep -q "^<\*\* 550 5.1.1 " "$tmp/lmtp.out" || fail "the unknown recipient was not refused 550"
  expect_messages "$b" "$pb" 1
  expect_messages "$c" "$pc" 1
  fetch "$b" "$pb" 1 "$tmp/lmtp-b.eml" && check_trace "$tmp/lmtp-b.eml" LMTP
  fetch "$c" "$pc" 1 "$tmp/lmtp-c.eml"
  cmp -s "$tmp/lmtp-b.eml" "$tmp/lmtp-c.eml" || fail "the two recipients' copies differ"
fi

# ---------------------------------------------------------------------------------------------
current="smtp-pipeline"
take_user
d=$user_addr pd=$user_pass
take_user
e=$user_addr pe=$user_pass
if swaks_run pipeline 0 --server 127.0.0.1 --port "$SMTP_PORT" --pipeline --to "$d,$e" \
  --header "Subject: swaks pipelined"; then
  grep -q "^<-  250-PIPELINING" "$tmp/pipeline.out" || fail "PIPELINING not offered"
  # Pipelined: MAIL, both RCPTs and DATA go out before the first of their replies.
  awk '/^ -> MAIL FROM/ {m = NR} /^<-  250 2.1.0/ {r = NR} /^ -> DATA/ {dt = NR}
       END {exit !(m && r && dt && dt < r)}' "$tmp/pipeline.out" \
    || fail "swaks did not pipeline MAIL/RCPT/DATA"
  expect_messages "$d" "$pd" 1
  expect_messages "$e" "$pe" 1
  fetch "$d" "$pd" 1 "$tmp/pipeline.eml" && check_trace "$tmp/pipeline.eml" ESMTP
fi

# ---------------------------------------------------------------------------------------------
current="data-from-file"
take_user
f=$user_addr pf=$user_pass
if swaks_run datafile 0 --server 127.0.0.1 --port "$SMTP_PORT" --to "$f" \
  --data "@$corpus_message"; then
  expect_messages "$f" "$pf" 1
  fetch "$f" "$pf" 1 "$tmp/datafile.eml" && check_trace "$tmp/datafile.eml" ESMTP "$f"
  python3 - "$tmp/datafile.eml" "$corpus_message" <<'PY' || fail "stored message differs"
import re, sys
stored = open(sys.argv[1], "rb").read()
sent = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
rest = re.sub(rb"\AReturn-Path: [^\r\n]*\r\nReceived: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", b"",
              stored)
# swaks sends the file with CRLF line ends and one more CRLF before the final ".".
if rest != sent + b"\r\n":
    sys.exit(f"stored {len(rest)} octets, sent {len(sent) + 2}: {rest[:200]!r}")
PY
fi

# ---------------------------------------------------------------------------------------------
current="attachment"
take_user
g=$user_addr pg=$user_pass
head -c 6000 /dev/urandom >"$tmp/blob.bin"
if swaks_run attach 0 --protocol LMTP --server 127.0.0.1 --port "$LMTP_PORT" --to "$g" \
  --header "Subject: swaks attachment" --body "see the attachment" \
  --attach-type application/octet-stream --attach-name blob.bin --attach "@$tmp/blob.bin"; then
  expect_messages "$g" "$pg" 1
  fetch "$g" "$pg" 1 "$tmp/attach.eml" && check_trace "$tmp/attach.eml" LMTP "$g"
  python3 - "$tmp/attach.eml" "$tmp/blob.bin" <<'PY' || fail "attachment not intact"
import email, email.policy, sys
msg = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
want = open(sys.argv[2], "rb").read()
parts = [p for p in msg.iter_attachments() if p.get_filename() == "blob.bin"]
if not msg.is_multipart() or len(parts) != 1:
    sys.exit(f"no blob.bin attachment: {msg.get_content_type()} {len(parts)} parts")
if parts[0].get_content() != want:
    sys.exit("the attachment's bytes differ")
PY
fi

# ---------------------------------------------------------------------------------------------
current="refusals"
take_user
h=$user_addr ph=$user_pass
# An unknown local user, and relaying: no recipient accepted (swaks exit 24).
swaks_run unknown 24 --server 127.0.0.1 --port "$SMTP_PORT" --to "nobody-$RANDOM@example.test" \
  && { grep -q "^<\*\* 550 5.1.1 " "$tmp/unknown.out" || fail "unknown user not 550 5.1.1"; }
swaks_run relay 24 --server 127.0.0.1 --port "$SMTP_PORT" --to "someone@example.org" \
  && { grep -q "^<\*\* 550 5.7.1 " "$tmp/relay.out" || fail "relaying not refused 550 5.7.1"; }
swaks_run unknown-lmtp 24 --protocol LMTP --server 127.0.0.1 --port "$LMTP_PORT" \
  --to "nobody-$RANDOM@example.test" || true
# Over quota: the LMTP reply after the data is 452 4.2.2 (swaks exit 26).
"$TERNCTL" quota set "$h" --quota-messages=0 >/dev/null
swaks_run quota 26 --protocol LMTP --server 127.0.0.1 --port "$LMTP_PORT" --to "$h" \
  && { grep -q "^<\*\* 452 4.2.2 " "$tmp/quota.out" || fail "over quota not 452 4.2.2"; }
"$TERNCTL" quota set "$h" --quota-messages=-1 >/dev/null
expect_messages "$h" "$ph" 0

elapsed=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
if [ "$failures" -ne 0 ]; then
  echo "swaks_test: $failures failure(s) (${elapsed}s)"
  exit 1
fi
echo "swaks_test: all passed (${elapsed}s)"
