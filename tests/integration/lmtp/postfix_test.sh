#!/usr/bin/env bash
# Postfix as the MTA in front of tern-lmtpd. A private Postfix instance (its own configuration,
# queue and log under a temporary directory; SMTP on a free loopback port, never port 25, never
# /etc/postfix) relays every message for example.test over LMTP:
#   a. to the cluster's tern-lmtpd: the message lands in the recipient's INBOX, read back over
#      IMAP byte for byte as sent, below a Return-Path and the trace fields of Postfix and of
#      tern-lmtpd ("with LMTP");
#   b. to a private tern-lmtpd whose private tern-metad is killed: Postfix keeps the message
#      queued on tern-lmtpd's 4xx reply and nothing reaches the INBOX; with metad back, the
#      queue flush delivers it exactly once.
# Needs root (Postfix's master runs as root and drops to mail_owner) and the Debian postfix
# package (deploy/local/deps.sh). Run by tests/integration/imap/with_cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
testdata=${TERN_TESTDATA_DIR:-$root/../shared/testdata}
message=$testdata/mime-corpus/msg_32.txt  # a real text/plain message, LF line endings

for v in IMAP_PORT NEW_USER TERN_VAR LMTP_PORT LMTPD_BIN METAD_BIN TEST_AUTHD_ADDR \
  TEST_BLOBD_ADDR TEST_REDIS_ADDR TEST_PG_DSN; do
  if [ -z "${!v:-}" ]; then
    echo "postfix_test: $v is not set: run this through tests/integration/imap/with_cluster.sh"
    exit 1
  fi
done
if ! command -v postfix >/dev/null || ! command -v postqueue >/dev/null; then
  echo "postfix_test: Postfix is not installed (deploy/local/deps.sh installs it)"
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "postfix_test: must run as root: Postfix's master starts as root"
  exit 1
fi
[ -r "$message" ] || { echo "postfix_test: $message is missing"; exit 1; }

# Postfix's daemons run as mail_owner and must reach their queue and configuration.
base=${TMPDIR:-/tmp}
runuser -u postfix -- test -x "$base" || base=/tmp
tmp=$(mktemp -d "$base/tern-test-postfix.XXXXXX")
chmod 755 "$tmp"
pf=$tmp/postfix
pfc=$pf/etc  # the instance's config_directory: every Postfix command gets -c "$pfc"
maillog=$tmp/maillog
postfix_started=""
metad_pid=""
lmtpd_pid=""

stop_pid() {  # PID: SIGTERM, then SIGKILL after 5 s
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_postfix() {
  [ -n "$postfix_started" ] || return 0
  postfix_started=""
  postfix -c "$pfc" stop >/dev/null 2>&1 || true
  # "stop" only signals the master; wait until its lock is free before removing the queue.
  for _ in $(seq 100); do
    postfix -c "$pfc" status >/dev/null 2>&1 || return 0
    sleep 0.1
  done
  postfix -c "$pfc" abort >/dev/null 2>&1 || true
  sleep 0.5
}
cleanup() {
  stop_postfix
  stop_pid "$lmtpd_pid"
  stop_pid "$metad_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP  # through cleanup: a Postfix master left running outlives the test

diagnostics() {
  local f
  if [ -n "$postfix_started" ]; then
    echo "--- Postfix maillog (last 40 lines)"
    tail -n 40 "$maillog" 2>/dev/null || true
    echo "--- Postfix queue"
    postqueue -c "$pfc" -p 2>&1 || true
  fi
  for f in "$tmp/metad-private.log" "$tmp/lmtpd-private.log" "$TERN_VAR/log/tern-lmtpd.log"; do
    [ -s "$f" ] || continue
    echo "--- $f (last 30 lines)"
    tail -n 30 "$f"
  done
}
fail() {
  echo "postfix_test: FAILED: $*"
  diagnostics
  exit 1
}

# SMTP submission, IMAP reads and the delivered-message check, in Python's standard library.
cat >"$tmp/mail.py" <<'PY'
import difflib
import email.utils
import imaplib
import os
import re
import smtplib
import sys
import time

IMAP = ("127.0.0.1", int(os.environ["IMAP_PORT"]))


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def imap(user, password):
    m = imaplib.IMAP4(*IMAP, timeout=15)
    m.login(user, password)  # plaintext LOGIN is allowed on loopback
    return m


def inbox_count(user, password):
    m = imap(user, password)
    try:
        typ, data = m.status("INBOX", "(MESSAGES)")
        if typ != "OK":
            raise RuntimeError(f"STATUS INBOX: {typ} {data}")
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
    finally:
        m.logout()


def send(port, sender, rcpt, path):
    """Sends PATH (as CRLF lines) over SMTP; prints Postfix's queue ID."""
    with open(path, "rb") as f:
        data = crlf(f.read())
    with smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.tern.test", timeout=30) as s:
        s.ehlo()
        code, resp = s.mail(sender)
        assert code == 250, (code, resp)
        code, resp = s.rcpt(rcpt)
        assert code == 250, (code, resp)
        code, resp = s.data(data)  # smtplib dot-stuffs (RFC 5321 4.5.2)
        assert code == 250, (code, resp)
    m = re.search(rb"queued as ([0-9A-Za-z]+)", resp)
    if not m:
        raise SystemExit(f"no queue ID in the reply to DATA: {resp!r}")
    print(m.group(1).decode())


def wait(user, password, want, timeout):
    """Polls STATUS INBOX until it holds WANT messages; prints the last count."""
    deadline = time.monotonic() + float(timeout)
    n = inbox_count(user, password)
    while n < int(want) and time.monotonic() < deadline:
        time.sleep(0.3)
        n = inbox_count(user, password)
    print(n)


def fields(head):
    """Splits a header block (CRLF lines) into fields, folded lines joined to their field."""
    out = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += b"\r\n" + line
        else:
            out.append(line)
    return out


def trace_problems(prefix, sender):
    """What delivery added on top (RFC 5321 4.4: trace information is prepended, the
    Return-Path by the final delivery): whole CRLF-terminated header fields, Return-Path
    first, then tern-lmtpd's Received ("with LMTP"), then Postfix's."""
    problems = []
    if not prefix:
        return ["delivery added no trace fields (RFC 5321 4.4: Return-Path and Received)"]
    if not prefix.endswith(b"\r\n"):
        return [f"the lines added above the message do not end with CRLF: {prefix!r}"]
    added = fields(prefix[:-2])
    names = [f.split(b":", 1)[0].strip().lower() if b":" in f else b"" for f in added]
    for f, name in zip(added, names):
        if name not in (b"return-path", b"received"):
            problems.append(f"delivery added a field other than Return-Path/Received: {f!r}")
    want = rb"Return-Path:[ \t]*<" + re.escape(sender.encode()) + rb">[ \t]*"
    if not re.fullmatch(want, added[0], re.I):
        problems.append(f"the first field is not Return-Path: <{sender}>")
    if names.count(b"return-path") != 1:
        problems.append(f"{names.count(b'return-path')} Return-Path fields, want 1")
    received = [f for f, n in zip(added, names) if n == b"received"]
    lmtp = [i for i, f in enumerate(received) if re.search(rb"\swith\s+LMTP(?![A-Za-z0-9])", f)]
    postfix = [i for i, f in enumerate(received) if b"(Postfix)" in f]
    if not lmtp:
        problems.append("no Received field 'with LMTP' (RFC 3848) from tern-lmtpd")
    if not postfix:
        problems.append("Postfix's Received field is missing")
    if lmtp and postfix and lmtp[0] > postfix[0]:
        problems.append("tern-lmtpd's Received field is below Postfix's (RFC 5321 4.4: prepend)")
    for f in received:  # RFC 5322 3.6.7: received = "Received:" *received-token ";" date-time
        stamp = f.rsplit(b";", 1)[1] if b";" in f else b""
        try:
            email.utils.parsedate_to_datetime(b" ".join(stamp.split()).decode())
        except (TypeError, ValueError):
            problems.append(f"Received field without a date-time after ';': {f!r}")
    return problems


def check(user, password, sender, path):
    """The INBOX's only message is PATH (as CRLF lines) below the trace fields delivery added."""
    with open(path, "rb") as f:
        sent = crlf(f.read())
    m = imap(user, password)
    try:
        typ, _ = m.select("INBOX", readonly=True)
        assert typ == "OK"
        typ, data = m.fetch("1:*", "(BODY.PEEK[])")
        assert typ == "OK", data
    finally:
        m.logout()
    bodies = [item[1] for item in data if isinstance(item, tuple)]
    problems = []
    if len(bodies) != 1:
        problems.append(f"INBOX holds {len(bodies)} messages, want 1")
    got = bodies[0] if bodies else b""
    if got.endswith(sent):
        problems += trace_problems(got[: len(got) - len(sent)], sender)
    else:
        problems.append("the stored message does not end with the sent one (CRLF lines):")
        problems += difflib.unified_diff(
            sent.decode("latin-1").split("\r\n"), got.decode("latin-1").split("\r\n"),
            "sent", "stored", lineterm="", n=1)
    if problems:
        print("\n".join(problems))
        print("--- sent (CRLF):")
        print(sent.decode("latin-1"))
        print("--- stored:")
        print(got.decode("latin-1"))
        raise SystemExit(1)


if __name__ == "__main__":
    {"send": send, "wait": wait, "check": check}[sys.argv[1]](*sys.argv[2:])
PY
pymail() { python3 "$tmp/mail.py" "$@"; }
inbox() { pymail wait "$1" "$2" "${3:-0}" "${4:-0}"; }  # USER PASS [WANT TIMEOUT]: a count

# Five free loopback ports, bound at once so they differ.
read -r smtp_port metad_port metad_http lmtpd_port lmtpd_http < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

read -r user_a pass_a < <("$NEW_USER") || fail "NEW_USER failed"
read -r user_b pass_b < <("$NEW_USER") || fail "NEW_USER failed"
sender=anne.person@sender.test

# --- The private Postfix instance.
mkdir -p "$pfc" "$pf/queue"
cat >"$pfc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
# Logging through postlogd (the postlog entry in master.cf) into a file of our own; Postfix
# refuses a maillog_file outside maillog_file_prefixes.
maillog_file = $maillog
maillog_file_prefixes = $tmp
myhostname = mx.tern.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Nothing is delivered locally: example.test is relayed, over LMTP to the cluster's
# tern-lmtpd, and user B (scenario b) to the private one.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = example.test
relay_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
transport_maps = texthash:$pfc/transport
# The test client counts as remote: Postfix then adds nothing but its Received field (for a
# "local" client it would complete the header like a submission server, RFC 6409 8).
local_header_rewrite_clients =
# Retry deferred mail within seconds, on a fresh LMTP connection each time.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
lmtp_connection_cache_on_demand = no
CF
printf '%s lmtp:inet:127.0.0.1:%s\n' "$user_b" "$lmtpd_port" >"$pfc/transport"
# Only the services this test uses (postqueue -f refuses to run without pickup: "mail system
# is down"); no chroot (Debian's default master.cf chroots most of them into the queue
# directory, which would need copies of /etc files there).
cat >"$pfc/master.cf" <<CF
127.0.0.1:$smtp_port inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
if ! runuser -u postfix -- test -r "$pfc/main.cf"; then
  fail "the postfix user cannot read $pfc (is a parent directory closed to others?)"
fi
# "postfix start" runs "postfix check" first, which creates the queue's subdirectories with
# the owners and modes mail_owner and setgid_group need.
postfix -c "$pfc" start >"$tmp/start.out" 2>&1 || { cat "$tmp/start.out"; fail "postfix start"; }
postfix_started=1
listening() {
  python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
    "$1" 2>/dev/null
}
for _ in $(seq 100); do
  listening "$smtp_port" && break
  sleep 0.1
done
listening "$smtp_port" || fail "Postfix does not accept SMTP connections on port $smtp_port"
echo "postfix_test: $(postconf -c "$pfc" -h mail_version 2>/dev/null || echo '?') on 127.0.0.1:$smtp_port"

# Polls the maillog for a line about queue ID $1 matching the extended regexp $2.
wait_log() {
  local qid=$1 pattern=$2 timeout=${3:-20}
  for _ in $(seq $((timeout * 5))); do
    if grep -F " $qid: " "$maillog" 2>/dev/null | grep -Eq "$pattern"; then return 0; fi
    sleep 0.2
  done
  return 1
}
queue_has() { postqueue -c "$pfc" -j | grep -Fq "\"queue_id\": \"$1\""; }
wait_queue_empty() {
  for _ in $(seq 50); do
    [ -z "$(postqueue -c "$pfc" -j)" ] && return 0
    sleep 0.2
  done
  return 1
}

# --- a. Postfix -> tern-lmtpd -> INBOX, the message intact.
qid=$(pymail send "$smtp_port" "$sender" "$user_a" "$message") || fail "a: SMTP to Postfix failed"
n=$(inbox "$user_a" "$pass_a" 1 20) || fail "IMAP STATUS INBOX of user a failed"
[ "$n" -eq 1 ] || fail "a: $user_a's INBOX holds $n messages 20 s after Postfix queued $qid, want 1"
wait_log "$qid" 'status=sent' 5 || fail "a: Postfix did not log $qid as sent"
grep -F " $qid: " "$maillog" | grep -q 'relay=127.0.0.1\[127.0.0.1\]:'"$LMTP_PORT," \
  || fail "a: $qid was not relayed to tern-lmtpd on port $LMTP_PORT"
out=$(pymail check "$user_a" "$pass_a" "$sender" "$message") || { echo "$out"; fail "a: the delivered message"; }
echo "postfix_test: a. delivered intact through Postfix ($qid)"

# --- b. A backend outage: tern-lmtpd's 4xx keeps the message in Postfix's queue.
# A private metad and lmtpd against the cluster's PostgreSQL, blobd and authd: run.sh ends
# the whole cluster when one of its own processes dies.
# shellcheck disable=SC2153  # both checked above, through ${!v}
export TERN_PG_DSN="$TEST_PG_DSN" TERN_REDIS_ADDR="$TEST_REDIS_ADDR"
export TERN_GRPC_TLS_CERT="$TERN_VAR/tls/tern.pem" TERN_GRPC_TLS_KEY="$TERN_VAR/tls/tern.key"
export TERN_GRPC_TLS_CA="$TERN_VAR/tls/ca.pem"
export TERN_ADMIN_TOKEN_FILE="$TERN_VAR/secrets/admin.token"
export TERN_SERVICE_TOKEN_FILE="$TERN_VAR/secrets/service.token"
export TERN_TOKEN_KEY_FILE="$TERN_VAR/secrets/token.key"
export TERN_BLOB_KEY_FILE="$TERN_VAR/secrets/blob.key"

wait_ready() {  # NAME PID HTTP_PORT
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || return 1
    if curl -fsS -o /dev/null "http://127.0.0.1:$3/readyz" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
start_metad() {
  local attempt
  # Restarted on the same ports: a port the killed process held can take a moment to free.
  for attempt in 1 2 3 4 5; do
    "$METAD_BIN" --grpc-listen="127.0.0.1:$metad_port" --http-listen="127.0.0.1:$metad_http" \
      --blobd-addr="$TEST_BLOBD_ADDR" --migrate-on-start=false --instance=metad-private \
      >>"$tmp/metad-private.log" 2>&1 &
    metad_pid=$!
    wait_ready tern-metad "$metad_pid" "$metad_http" && return 0
    stop_pid "$metad_pid"
    metad_pid=""
    sleep 1
  done
  fail "b: the private tern-metad did not become ready in $attempt attempts"
}
start_metad
"$LMTPD_BIN" --lmtp-listen="127.0.0.1:$lmtpd_port" --smtp-listen= \
  --http-listen="127.0.0.1:$lmtpd_http" --authd-addr="$TEST_AUTHD_ADDR" \
  --metad-addr="127.0.0.1:$metad_port" --blobd-addr="$TEST_BLOBD_ADDR" \
  --instance=lmtp-private --backend-timeout=3s >>"$tmp/lmtpd-private.log" 2>&1 &
lmtpd_pid=$!
wait_ready tern-lmtpd "$lmtpd_pid" "$lmtpd_http" || fail "b: the private tern-lmtpd did not become ready"

kill -KILL "$metad_pid"
{ wait "$metad_pid" || true; } 2>/dev/null
metad_pid=""
qid=$(pymail send "$smtp_port" "$sender" "$user_b" "$message") || fail "b: SMTP to Postfix failed"
# tern-lmtpd answers 451 4.3.0 for a recipient it cannot store for (after DATA, one reply per
# recipient: RFC 2033 4.2); a 4yz reply is a transient failure (RFC 5321 4.2.1), so Postfix
# defers the recipient and keeps the message queued.
wait_log "$qid" "to=<$user_b>.*relay=127\.0\.0\.1\[127\.0\.0\.1\]:$lmtpd_port,.*dsn=4\.[0-9]+\.[0-9]+, status=deferred \(host [^ ]+ said: 4[0-9][0-9] " 20 \
  || fail "b: Postfix did not log a 4xx deferral of $qid from the private tern-lmtpd"
queue_has "$qid" || fail "b: $qid left Postfix's queue while metad is down"
n=$(inbox "$user_b" "$pass_b") || fail "IMAP STATUS INBOX of user b failed"
[ "$n" -eq 0 ] || fail "b: $user_b's INBOX holds $n messages while metad is down, want 0"
echo "postfix_test: b. deferred while tern-metad is down ($qid)"

start_metad
postqueue -c "$pfc" -f || fail "b: postqueue -f"
n=$(inbox "$user_b" "$pass_b" 1 30) || fail "IMAP STATUS INBOX of user b failed"
[ "$n" -ge 1 ] || fail "b: $user_b's INBOX holds $n messages 30 s after metad came back, want 1"
wait_log "$qid" "to=<$user_b>.*status=sent" 5 || fail "b: Postfix did not log $qid as sent"
wait_queue_empty || fail "b: Postfix's queue is not empty after the delivery"
# Outlast tern-lmtpd's backend timeout and Postfix's retry interval: a late copy would show.
sleep 3
n=$(inbox "$user_b" "$pass_b") || fail "IMAP STATUS INBOX of user b failed"
[ "$n" -eq 1 ] || fail "b: $user_b's INBOX holds $n messages after the retry, want exactly 1"
sent=$(grep -F " $qid: " "$maillog" | grep -c 'status=sent' || true)
[ "$sent" -eq 1 ] || fail "b: Postfix logged $sent deliveries of $qid, want 1"
out=$(pymail check "$user_b" "$pass_b" "$sender" "$message") || { echo "$out"; fail "b: the delivered message"; }
n=$(inbox "$user_a" "$pass_a") || fail "IMAP STATUS INBOX of user a failed"
[ "$n" -eq 1 ] || fail "a: $user_a's INBOX holds $n messages at the end, want 1"
echo "postfix_test: b. delivered exactly once after the outage ($qid)"
echo "postfix_test: ok"
