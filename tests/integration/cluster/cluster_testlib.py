"""Helpers for the tests of a cluster of front-ends (standard library only): REPLICAS >= 2
replicas each of tern-imapd, tern-pop3d and tern-lmtpd behind HAProxy, as
tests/integration/imap/with_cluster.sh starts them (deploy/local/run.sh).

What the front-ends' tests share comes from ../common/testlib.py (transcript, line client,
private daemons, main()); the IMAP response parser and raw client from ../imap/imap_testlib.py;
smtplib.LMTP with a transcript, fresh users made ahead of time and metric() from
../lmtp/lmtp_testlib.py; the raw POP3 client from ../pop3/pop3_testlib.py. Here:

- the cluster's coordinates: each replica's ports, HAProxy, Redis, PostgreSQL and the pid
  files run.sh keeps; waiting until every replica is up again and HAProxy sees it so;
- PROXY protocol v1 and v2 headers (haproxy.org/download/2.8/doc/proxy-protocol.txt), so a
  test can connect straight to one replica and know which front-end serves which session;
- Imap: a raw IMAP client that may send a PROXY header first, logs in with SCRAM-SHA-256
  (authd runs no argon2id per login, so twenty logins take milliseconds), SELECTs, IDLEs and
  waits for untagged data, noting when each response came; Pop3: the same for POP3;
- the session registry through `ternctl sessions list|kick`, LMTP deliveries through
  HAProxy, a mailbox's id from PostgreSQL, Redis (PUBSUB NUMSUB, stopping and holding it),
  a replica's Prometheus metrics.
"""

import base64
import collections
import os
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
for _lib in ("imap", "lmtp", "pop3"):
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), _lib))

from common import testlib as common  # noqa: E402
from common.testlib import (  # noqa: E402
    HOST, PRIVATE, TIMEOUT, TRANSCRIPT, Daemon, Scram, TranscriptTestCase, crlf, daemon_env,
    free_port, http_get, require_env, tls_context)
import imap_testlib  # noqa: E402
from imap_testlib import RawClient, quote  # noqa: E402
from lmtp_testlib import RawSMTP, TLMTP, USERS, metric, new_user, prefetch_users  # noqa: E402
from pop3_testlib import Pop3d, RawPOP3  # noqa: E402

# imap_testlib keeps a transcript of its own; its clients write to the shared one here, so a
# failure shows the IMAP, POP3 and LMTP exchanges of a test interleaved, with their times.
imap_testlib.TRANSCRIPT = TRANSCRIPT

__all__ = [
    "HOST", "IMAP_PORT", "IMAPD", "IMAPS_PORT", "LMTP_PORT", "LMTPD", "POP3_PORT", "POP3D",
    "PRIVATE", "REDIS_PORT", "REPLICAS", "TERN_VAR", "TIMEOUT", "TRANSCRIPT", "ClusterTestCase",
    "Daemon", "Imap", "Imapd", "Pop3", "Pop3d", "RawSMTP", "Registered", "alive", "by_client",
    "client_address", "deliver", "flag_set", "http_get", "imapd_metrics", "kick", "kill",
    "mailbox_id", "main", "message", "metric", "new_user", "numsub", "pid_of", "prefetch_users",
    "proxy_v1", "proxy_v2", "quote", "redis", "redis_up", "seen_state", "sessions", "ternctl",
    "wait_cluster_up"]

IMAP_PORT = int(require_env("IMAP_PORT"))
IMAPS_PORT = int(require_env("IMAPS_PORT"))
POP3_PORT = int(require_env("POP3_PORT"))
LMTP_PORT = int(require_env("LMTP_PORT"))
REDIS_PORT = int(require_env("REDIS_PORT"))
TERN_VAR = require_env("TERN_VAR")
PG_DSN = require_env("TEST_PG_DSN")
HAPROXY_HTTP = int(os.environ.get("HAPROXY_HTTP") or 0)
REPLICAS = int(require_env("REPLICAS"))
if REPLICAS < 2 or not HAPROXY_HTTP:
    sys.exit("these tests need REPLICAS=2 or more (HAProxy in front): "
             "REPLICAS=3 tests/integration/imap/with_cluster.sh BUILD_DIR SCRIPT")


def _port(service, i, kind):
    return int(require_env(f"{service}_{i}_{kind}"))


# Per replica i: the ports deploy/local/run.sh gave it (cluster.env).
IMAPD = [{"imap": _port("IMAPD", i, "IMAP_PORT"), "imaps": _port("IMAPD", i, "IMAPS_PORT"),
          "http": _port("IMAPD", i, "HTTP"), "name": f"imapd-{i}"} for i in range(REPLICAS)]
POP3D = [{"pop3": _port("POP3D", i, "POP3_PORT"), "http": _port("POP3D", i, "HTTP"),
          "name": f"pop3d-{i}"} for i in range(REPLICAS)]
LMTPD = [{"lmtp": _port("LMTPD", i, "LMTP_PORT"), "http": _port("LMTPD", i, "HTTP"),
          "name": f"lmtpd-{i}"} for i in range(REPLICAS)]


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


# ---------------------------------------------------------------------------------------------
# PROXY protocol headers, and the client addresses they claim.

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_next_port = [40000]


def client_address(ip="192.0.2.10"):
    """(ip, port) for a PROXY header: the port is new on every call, so the session registry's
    CLIENT column names one connection."""
    _next_port[0] += 1
    return ip, _next_port[0]


def proxy_v1(src, dst_port=143):
    """A version 1 header (section 2.1): "PROXY TCP4|TCP6 src dst sport dport\\r\\n"."""
    v6 = ":" in src[0]
    dst = "::1" if v6 else "127.0.0.1"
    return f"PROXY {'TCP6' if v6 else 'TCP4'} {src[0]} {dst} {src[1]} {dst_port}\r\n".encode()


def proxy_v2(src, dst_port=143):
    """A version 2 header (section 2.2): signature, PROXY command, TCP over IPv4 or IPv6."""
    v6 = ":" in src[0]
    family = socket.AF_INET6 if v6 else socket.AF_INET
    dst = "::1" if v6 else "127.0.0.1"
    addresses = (socket.inet_pton(family, src[0]) + socket.inet_pton(family, dst)
                 + struct.pack("!HH", src[1], dst_port))
    return (V2_SIGNATURE + bytes([0x21, 0x21 if v6 else 0x11])
            + struct.pack("!H", len(addresses)) + addresses)


# ---------------------------------------------------------------------------------------------
# IMAP.


class Imap(RawClient):
    """A raw IMAP connection (imap_testlib.RawClient) to HAProxy or, with `header`, straight
    to a replica. What idle(), wait_for(), collect() and done() read besides the tagged
    answers is kept in `seen` as (monotonic time, Response)."""

    def __init__(self, port=None, header=None, label=None, tls=False):
        RawClient._count += 1
        self.label = label or f"imap{RawClient._count}"
        self.sock = socket.create_connection((HOST, port or IMAP_PORT), TIMEOUT)
        self.local_port = self.sock.getsockname()[1]
        self.buf = bytearray()
        self.tagn = 0
        self.idle_tag = None
        self.seen = []
        if header is not None:
            self.send(header)
        if tls:
            self.sock = tls_context().wrap_socket(self.sock, server_hostname="localhost")
        self.greeting = self.read_response()

    def _until(self, tag):
        """Responses up to the tagged one of `tag` or a continuation; (last, untagged)."""
        untagged = []
        while True:
            r = self.read_response()
            if r.tag in (tag, "+"):
                return r, untagged
            untagged.append(r)

    def authenticate(self, user):
        """AUTHENTICATE SCRAM-SHA-256 with SASL-IR (RFC 4959, RFC 7677); checks the server's
        signature. Returns the tagged response (OK, or NO when refused)."""
        scram = Scram(*user)
        tag = self.next_tag()
        self.send(f"{tag} AUTHENTICATE SCRAM-SHA-256 {b64(scram.client_first())}\r\n")
        r, _ = self._until(tag)
        if r.tag == "+":
            self.send(b64(scram.client_final(base64.b64decode(r.text))) + "\r\n")
            r, _ = self._until(tag)
        if r.tag == "+":
            if base64.b64decode(r.text).decode() != scram.verifier:
                raise AssertionError(f"SCRAM server signature {r.raw!r}")
            self.send("\r\n")
            r, _ = self._until(tag)
        if r.tag != tag:
            raise AssertionError(f"unexpected response to AUTHENTICATE: {r.raw!r}")
        return r

    def login_scram(self, user):
        r = self.authenticate(user)
        if r.status != "OK":
            raise AssertionError(f"[{self.label}] AUTHENTICATE refused: {r.raw!r}")
        return self

    def select(self, mailbox="INBOX"):
        """SELECT; returns {"exists": n, "uidvalidity": n}."""
        r = self.ok("SELECT ", quote(mailbox))
        out = {"exists": None, "uidvalidity": None}
        for u in r.untagged:
            if u.kind == "EXISTS":
                out["exists"] = u.num
            if u.code_name() == "UIDVALIDITY":
                out["uidvalidity"] = int(u.code_args())
        return out

    def flags(self):
        """{sequence number: set of flags} of the selected mailbox (FETCH 1:* FLAGS), \\Recent
        left out (it belongs to one session, RFC 3501 2.3.2)."""
        r = self.ok("FETCH 1:* (FLAGS)")
        return {u.num: flag_set(u.fetch()["FLAGS"]) for u in r.untagged if u.kind == "FETCH"}

    def idle(self):
        """IDLE (RFC 2177) up to the continuation."""
        self.idle_tag = self.next_tag()
        self.send(f"{self.idle_tag} IDLE\r\n")
        r, untagged = self._until(self.idle_tag)
        now = time.monotonic()
        self.seen += [(now, u) for u in untagged]
        if r.tag != "+":
            raise AssertionError(f"[{self.label}] IDLE refused: {r.raw!r}")

    def done(self):
        """Ends IDLE; returns the tagged response (what came before it joins `seen`)."""
        self.send("DONE\r\n")
        r, untagged = self._until(self.idle_tag)
        now = time.monotonic()
        self.seen += [(now, u) for u in untagged]
        if r.status != "OK":
            raise AssertionError(f"[{self.label}] DONE: {r.raw!r}")
        return r

    def wait_for(self, predicate, timeout, since=None):
        """Reads responses until one satisfies predicate; returns (it, seconds from `since`,
        default now). AssertionError when none comes within timeout."""
        start = time.monotonic() if since is None else since
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"[{self.label}] nothing matching within {timeout} s; "
                                     f"got {[r.raw for r in got]!r}")
            try:
                r = self.read_response(timeout=left)
            except (socket.timeout, TimeoutError):
                continue
            now = time.monotonic()
            self.seen.append((now, r))
            got.append(r)
            if predicate(r):
                return r, now - start

    def collect(self, seconds):
        """Reads whatever comes within `seconds` (kept in `seen` too); returns it."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                r = self.read_response(timeout=left)
            except (socket.timeout, TimeoutError):
                continue
            self.seen.append((time.monotonic(), r))
            got.append(r)

    def wait_exists(self, n, timeout, since=None):
        return self.wait_for(lambda r: r.kind == "EXISTS" and r.num >= n, timeout, since)

    def wait_closed(self, timeout):
        """Reads until the server closes the connection; returns the responses it sent."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"[{self.label}] still open after {timeout} s; "
                                     f"got {[r.raw for r in got]!r}")
            try:
                got.append(self.read_response(timeout=left))
            except (socket.timeout, TimeoutError):
                continue
            except (EOFError, ConnectionResetError):
                TRANSCRIPT.note(f"[{self.label}] connection closed by the server")
                return got


def flag_set(flags):
    return {str(f) for f in flags} - {"\\Recent"}


def seen_state(client):
    """What the untagged data a client received says about its mailbox: (EXISTS counts in
    the order they came, {sequence number: flags} from the last FETCH FLAGS of each)."""
    exists, flags = [], {}
    for _, r in client.seen:
        if r.kind == "EXISTS":
            exists.append(r.num)
        elif r.kind == "FETCH" and "FLAGS" in r.fetch():
            flags[r.num] = flag_set(r.fetch()["FLAGS"])
    return exists, flags


# ---------------------------------------------------------------------------------------------
# POP3.


class Pop3(RawPOP3):
    """A raw POP3 connection (pop3_testlib.RawPOP3) to HAProxy or, with `header`, straight to a
    replica."""

    def __init__(self, port=None, header=None, label="pop"):
        super().__init__(port=port or POP3_PORT, label=label, greet=False)
        self.local_port = self.sock.getsockname()[1]
        if header is not None:
            self.send(header)
        self.greeting = self.line()

    def login_scram(self, user):
        """AUTH SCRAM-SHA-256 with an initial response (RFC 5034); the maildrop answer."""
        scram = Scram(*user)
        r = self.cmd(f"AUTH SCRAM-SHA-256 {b64(scram.client_first())}")
        if r.startswith(b"+ "):
            r = self.cmd(b64(scram.client_final(base64.b64decode(r[2:]))))
        if r.startswith(b"+ "):
            if base64.b64decode(r[2:]).decode() != scram.verifier:
                raise AssertionError(f"SCRAM server signature {r!r}")
            r = self.cmd("")
        return r


# ---------------------------------------------------------------------------------------------
# The session registry, deliveries, PostgreSQL, Redis, metrics.

def ternctl(*args):
    """Runs $TERNCTL (a command line) with args; returns its standard output."""
    r = subprocess.run([*shlex.split(require_env("TERNCTL")), *args], capture_output=True,
                       text=True, timeout=30)
    TRANSCRIPT.note(f"ternctl {' '.join(args)} -> {r.returncode}: {r.stdout.strip()[:240]!r}")
    if r.returncode != 0:
        raise AssertionError(f"ternctl {args!r} failed ({r.returncode}): {r.stderr}")
    return r.stdout


Registered = collections.namedtuple(
    "Registered", "id user protocol instance client started metad")


def sessions(user=None):
    """`ternctl sessions list [USER]` as Registered tuples (the header line checked)."""
    lines = ternctl("sessions", "list", *([user] if user else [])).splitlines()
    if not lines or lines[0].split("\t") != list(
            "SESSION USER PROTOCOL INSTANCE CLIENT STARTED METAD".split()):
        raise AssertionError(f"sessions list: unexpected header in {lines[:2]!r}")
    return [Registered(*line.split("\t")) for line in lines[1:]]


def by_client(listed, client):
    """The entry whose CLIENT is `client` ("ip:port", or a local port number of a connection
    through HAProxy), or None."""
    if isinstance(client, int):
        client = f"127.0.0.1:{client}"
    elif isinstance(client, tuple):
        client = f"{client[0]}:{client[1]}"
    found = [s for s in listed if s.client == client]
    return found[0] if found else None


def kick(user):
    """`ternctl sessions kick USER`: (the sessions it printed, N of "kicked N session(s)")."""
    lines = ternctl("sessions", "kick", user).splitlines()
    last = lines[-1].split() if lines else []
    if last[:1] != ["kicked"] or last[2:] != ["session(s)", "of", user]:
        raise AssertionError(f"sessions kick: unexpected last line in {lines!r}")
    return [Registered(*line.split("\t")) for line in lines[:-1]], int(last[1])


def message(subject, to="rcpt@example.test"):
    return crlf(f"From: sender@example.org\r\nTo: {to}\r\nSubject: {subject}\r\n"
                f"Message-ID: <{time.time_ns()}@cluster.test>\r\n\r\n{subject}\r\n".encode())


def deliver(user, subject, port=None, before_data=None):
    """Delivers one message to user over LMTP (through HAProxy unless `port`); before_data()
    is called after RCPT, right before DATA. Returns the monotonic time DATA was sent."""
    c = TLMTP(label="lmtp", port=port or LMTP_PORT)
    try:
        code, msg = c.ehlo()
        if code != 250:
            raise AssertionError(f"LHLO: {code} {msg!r}")
        code, msg = c.mail("sender@example.org")
        if code != 250:
            raise AssertionError(f"MAIL: {code} {msg!r}")
        code, msg = c.rcpt(user[0])
        if code != 250:
            raise AssertionError(f"RCPT: {code} {msg!r}")
        if before_data is not None:
            before_data()
        sent = time.monotonic()
        code, msg = c.data(message(subject, user[0]))
        if code != 250:
            raise AssertionError(f"DATA: {code} {msg!r}")
        c.quit()
        return sent
    finally:
        c.close()


def mailbox_id(user, name="INBOX"):
    """The mailbox's id in PostgreSQL (the schema of services/metadata/schema.cc)."""
    sql = ("SELECT m.id FROM mailboxes m JOIN users u ON u.id = m.user_id "
           "WHERE u.address = :'address' AND m.name = :'name';\n")
    r = subprocess.run(["psql", PG_DSN, "-X", "-Atq", "-v", "ON_ERROR_STOP=1",
                        "-v", f"address={user[0]}", "-v", f"name={name}"],
                       input=sql, capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip().isdigit():
        raise AssertionError(f"mailbox id of {user[0]} {name}: {r.stdout!r} {r.stderr!r}")
    return int(r.stdout.strip())


def redis(*args, check=True):
    """redis-cli against the cluster's Redis; its output lines (None when it cannot connect
    and check is False)."""
    r = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), *args], capture_output=True,
                       text=True, timeout=10)
    if r.returncode != 0 or r.stdout.startswith("Could not connect"):
        if check:
            raise AssertionError(f"redis-cli {args!r}: {r.stdout!r} {r.stderr!r}")
        return None
    return r.stdout.splitlines()


def redis_up():
    return redis("PING", check=False) == ["PONG"]


def numsub(channel):
    """Subscribers of a channel: one per tern-imapd process watching the mailbox."""
    out = redis("PUBSUB", "NUMSUB", channel)
    if len(out) != 2 or out[0] != channel:
        raise AssertionError(f"PUBSUB NUMSUB {channel}: {out!r}")
    return int(out[1])


def imapd_metrics(i):
    """The Prometheus text of replica i of tern-imapd."""
    status, text = http_get(IMAPD[i]["http"], "/metrics")
    if status != 200:
        raise AssertionError(f"imapd-{i} /metrics: {status}")
    return text


def pid_of(name):
    """The current pid of a supervised process (imapd-0, redis, ...) from run.sh's pid file."""
    with open(os.path.join(TERN_VAR, "run", f"{name}.pid")) as f:
        return int(f.read().strip())


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of run.sh stays a zombie until the supervisor reaps it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill(name, sig=signal.SIGKILL):
    """Sends sig to a supervised process; returns its pid."""
    pid = pid_of(name)
    TRANSCRIPT.note(f"kill -{sig.name} {name} (pid {pid})")
    os.kill(pid, sig)
    return pid


def _ready(port):
    try:
        return http_get(port, "/readyz", timeout=2)[0] == 200
    except (urllib.error.URLError, OSError):
        return False


def cluster_problems():
    """What is not up: Redis, a replica's /readyz, a server HAProxy does not see UP."""
    problems = []
    if not redis_up():
        problems.append("redis does not answer PING")
    for r in IMAPD + POP3D + LMTPD:
        if not _ready(r["http"]):
            problems.append(f"{r['name']} not ready")
    try:
        csv = http_get(HAPROXY_HTTP, "/stats;csv")[1]
    except (urllib.error.URLError, OSError) as e:
        return problems + [f"haproxy stats: {e}"]
    for line in csv.splitlines():
        fields = line.split(",")
        if line.startswith("#") or len(fields) < 18 or fields[1] in ("FRONTEND", "BACKEND"):
            continue
        if not fields[17].startswith("UP"):
            problems.append(f"haproxy: {fields[0]}/{fields[1]} {fields[17]}")
    return problems


def wait_cluster_up(timeout=30):
    """Waits until Redis answers, every replica is ready and HAProxy sees them all UP (a
    test may have killed one: run.sh starts it again)."""
    deadline = time.monotonic() + timeout
    while True:
        problems = cluster_problems()
        if not problems:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"cluster not up after {timeout} s: {problems}")
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# A private tern-imapd against the same cluster.


class Imapd(Daemon):
    """An extra tern-imapd with its own flags (stop() kills it)."""

    kind = "tern-imapd"
    stop_grace = 0

    def __init__(self, name, *flags):
        self.port, self.http = free_port(), free_port()
        argv = [require_env("IMAPD_BIN"), f"--imap-listen=127.0.0.1:{self.port}",
                "--imaps-listen=", f"--http-listen=127.0.0.1:{self.http}",
                f"--tls-cert={TERN_VAR}/tls/tern.pem", f"--tls-key={TERN_VAR}/tls/tern.key",
                "--authd-addr=" + require_env("TEST_AUTHD_ADDR"),
                "--metad-addr=" + require_env("TEST_METAD_ADDR"),
                "--blobd-addr=" + require_env("TEST_BLOBD_ADDR"),
                "--redis-addr=" + require_env("TEST_REDIS_ADDR"),
                f"--instance={name}", *flags]
        self._start(name, argv, daemon_env(name))


# ---------------------------------------------------------------------------------------------
# Test base class, failure report, main().


class ClusterTestCase(TranscriptTestCase):
    def setUp(self):
        super().setUp()
        wait_cluster_up()

    def closing(self, client):
        """client, closed at the end of the test."""
        self._closers.append(client.close)
        return client

    def replica_imap(self, i, user=None, ip="192.0.2.10", v2=False, label=None):
        """A connection straight to replica i of tern-imapd with a PROXY header from a new
        client address (kept in .client), logged in when user is given."""
        src = client_address(ip)
        header = proxy_v2(src) if v2 else proxy_v1(src)
        c = self.closing(Imap(IMAPD[i]["imap"], header, label=label or f"imapd{i}-{src[1]}"))
        c.client = src
        if user is not None:
            c.login_scram(user)
        return c

    def haproxy_imap(self, user=None, label=None):
        c = self.closing(Imap(label=label))
        c.client = ("127.0.0.1", c.local_port)
        if user is not None:
            c.login_scram(user)
        return c


class TranscriptResult(common.TranscriptResult):
    log_lines = 15

    def log_files(self):
        logs = [("run.sh", os.path.join(os.path.dirname(TERN_VAR), "run.log"))]
        logs += [(f"tern-{r['name']}", os.path.join(TERN_VAR, "log", f"tern-{r['name']}.log"))
                 for r in IMAPD]
        logs += [(f"{d.kind} {d.name}", d.log.name) for d in PRIVATE]
        return logs


def main():
    common.main(TranscriptResult, cleanup=USERS.shutdown)
