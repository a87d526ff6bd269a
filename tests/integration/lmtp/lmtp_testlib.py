"""Helpers for the tern-lmtpd integration tests (standard library only).

- cluster coordinates from the environment set by tests/integration/imap/with_cluster.sh;
- fresh users, made ahead of time by a small pool of threads (authd hashes every new
  password with argon2id, about a second each), disabled users, quotas, mailboxes (ternctl);
- a transcript of every byte exchanged in a test, printed when the test fails;
- TSMTP / TLMTP: smtplib clients that record what they exchange, and lmtp_transaction() for
  the one-reply-per-recipient answer to DATA that smtplib.LMTP leaves unread;
- RawSMTP: a raw socket client for what smtplib cannot do (wire bytes, pipelining, BDAT,
  malformed input, STARTTLS injection, watching a connection close);
- IMAP read-back (imaplib, SASL SCRAM-SHA-256: no argon2id on the server per login);
- the trace fields tern-lmtpd adds (Return-Path, Received), blobd's object files, /metrics;
- Lmtpd: an extra tern-lmtpd with its own flags against the same cluster; Authd: an extra
  tern-authd (same database and keys) with its own flags, e.g. a short DELIVER token lifetime.
"""

import base64
import collections
import concurrent.futures
import email.utils
import hashlib
import hmac
import imaplib
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

HOST = "127.0.0.1"
DOMAIN = "example.test"


def _env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run this through tests/integration/imap/with_cluster.sh")
    return value


LMTP_PORT = int(_env("LMTP_PORT"))
SMTP_PORT = int(_env("SMTP_PORT"))
LMTPD_HTTP = int(_env("LMTPD_HTTP"))
IMAP_PORT = int(_env("IMAP_PORT"))
TERN_CA = _env("TERN_CA")
TERN_VAR = _env("TERN_VAR")
NEW_USER = _env("NEW_USER")
TERNCTL = _env("TERNCTL")
LMTPD_BIN = os.environ.get("LMTPD_BIN", "")
TESTDATA = os.environ.get("TERN_TESTDATA_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "testdata")

TIMEOUT = 15  # seconds for any single socket read
# The flags of the cluster's tern-lmtpd (deploy/local/run.sh).
HOSTNAME = "localhost"
MAX_MESSAGE_SIZE = 52428800


# ---------------------------------------------------------------------------------------------
# Transcript: every byte sent and received by every client, per test; printed on failure.


class Transcript:
    MAX_CHUNK = 600

    def __init__(self):
        self.lock = threading.Lock()
        self.lines = []

    def reset(self):
        with self.lock:
            self.lines = []

    def add(self, label, direction, data):
        if not data:
            return
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        text = data[: self.MAX_CHUNK].decode("latin-1")
        if len(data) > self.MAX_CHUNK:
            text += f"...<{len(data) - self.MAX_CHUNK} more bytes>"
        stamp = time.strftime("%H:%M:%S")
        with self.lock:
            for i, line in enumerate(text.split("\r\n")):
                if i > 0 and line == "":
                    continue
                self.lines.append(f"{stamp} [{label}] {direction} {line!r}"[:300])

    def note(self, text):
        with self.lock:
            self.lines.append(f"{time.strftime('%H:%M:%S')} -- {text}")

    def tail(self, n=80):
        with self.lock:
            return "\n".join(self.lines[-n:])


TRANSCRIPT = Transcript()


# ---------------------------------------------------------------------------------------------
# Users.


def _create_user():
    out = subprocess.run([NEW_USER], check=True, capture_output=True, text=True).stdout.split()
    if len(out) != 2:
        raise RuntimeError(f"NEW_USER printed {out!r}")
    return out[0], out[1]


class _UserPool:
    """Users created ahead of time by a few threads, so tests do not wait for argon2id."""

    def __init__(self, workers=3):
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        self.ready = collections.deque()
        self.lock = threading.Lock()

    def prefetch(self, n):
        with self.lock:
            for _ in range(n):
                self.ready.append(self.executor.submit(_create_user))

    def take(self):
        with self.lock:
            future = self.ready.popleft() if self.ready else None
        return future.result() if future else _create_user()

    def shutdown(self):
        with self.lock:
            for f in self.ready:
                f.cancel()
            self.ready.clear()
        self.executor.shutdown(wait=True)


USERS = _UserPool()


def prefetch_users(n):
    """Starts creating n users in the background (call once, at module start)."""
    USERS.prefetch(n)


def new_user():
    """A fresh user (address, password)."""
    user = USERS.take()
    TRANSCRIPT.note(f"user {user[0]}")
    return user


def ternctl(*args, stdin=None):
    """Runs ternctl with the admin environment; returns its standard output."""
    r = subprocess.run([TERNCTL, *args], input=stdin, capture_output=True, text=True)
    TRANSCRIPT.note(f"ternctl {' '.join(args)} -> {r.returncode} {r.stdout.strip()[:200]!r}")
    if r.returncode != 0:
        raise AssertionError(f"ternctl {args!r} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def disable_user(address):
    ternctl("user", "disable", address)


def set_quota(address, messages=None, storage=None):
    args = ["quota", "set", address]
    if messages is not None:
        args.append(f"--quota-messages={messages}")
    if storage is not None:
        args.append(f"--quota-storage={storage}")
    ternctl(*args)


def mailbox_counts(address):
    """{mailbox: messages} from `ternctl mailbox list` (no login: works for any address)."""
    out = {}
    for line in ternctl("mailbox", "list", address).splitlines():
        fields = line.split("\t")
        m = re.search(r"\bmessages=(\d+)", line)
        if fields and m:
            out[fields[0]] = int(m.group(1))
    return out


# ---------------------------------------------------------------------------------------------
# Addresses and TLS.


def tls_context():
    ctx = ssl.create_default_context(cafile=TERN_CA)
    ctx.check_hostname = True  # the certificate names localhost and 127.0.0.1
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def unknown_address():
    return f"nobody{time.time_ns()}@{DOMAIN}"


# ---------------------------------------------------------------------------------------------
# smtplib with a transcript.


class _Recording:
    label = "smtp"

    def send(self, s):
        TRANSCRIPT.add(self.label, "C:", s)
        return super().send(s)

    def getreply(self):
        try:
            code, msg = super().getreply()
        except smtplib.SMTPServerDisconnected:
            TRANSCRIPT.note(f"[{self.label}] connection closed by the server")
            raise
        lines = msg.split(b"\n") or [b""]
        wire = b"".join(b"%d%s%s\r\n" % (code, b" " if i + 1 == len(lines) else b"-", l)
                        for i, l in enumerate(lines))
        TRANSCRIPT.add(self.label, "S:", wire)
        return code, msg


class TSMTP(_Recording, smtplib.SMTP):
    def __init__(self, label="smtp", port=None, host=HOST, local_hostname="client.test"):
        self.label = label
        smtplib.SMTP.__init__(self, host, port or SMTP_PORT, local_hostname=local_hostname,
                              timeout=TIMEOUT)


class TLMTP(_Recording, smtplib.LMTP):
    def __init__(self, label="lmtp", port=None, host=HOST, local_hostname="client.test"):
        self.label = label
        smtplib.LMTP.__init__(self, host, port or LMTP_PORT, local_hostname=local_hostname,
                              timeout=TIMEOUT)


def lmtp_transaction(client, sender, recipients, message, mail_options=()):
    """One LMTP transaction with smtplib: MAIL, RCPT for each recipient, DATA. smtplib reads
    one reply after the content; LMTP sends one per accepted recipient (RFC 2033 4.2), and the
    others are read here. Returns ([RCPT replies], [replies after the content]); the second
    list is empty when no recipient was accepted (DATA is then not sent)."""
    code, msg = client.mail(sender, list(mail_options))
    if code != 250:
        raise AssertionError(f"MAIL FROM:<{sender}>: {code} {msg!r}")
    rcpt = [client.rcpt(r) for r in recipients]
    accepted = sum(1 for code, _ in rcpt if code == 250)
    if accepted == 0:
        client.rset()
        return rcpt, []
    replies = [client.data(message)]
    replies += [client.getreply() for _ in range(accepted - 1)]
    return rcpt, replies


# ---------------------------------------------------------------------------------------------
# A raw SMTP/LMTP connection.


class Reply:
    """One SMTP reply (RFC 5321 4.2): the code and the text of each line."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines  # str, without "250-" / "250 "

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enhanced(self):
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})(?: |$)", self.lines[0])
        return m.group(1) if m else None

    def __repr__(self):
        return f"Reply({self.code}, {self.lines!r})"


class RawSMTP:
    """An SMTP or LMTP client on a socket; every received byte is kept in `wire`."""

    def __init__(self, port=None, host=HOST, label="raw", greet=True):
        self.label = label
        self.sock = socket.create_connection((host, port or SMTP_PORT), timeout=TIMEOUT)
        self.buf = b""
        self.wire = bytearray()
        self.hello_reply = False  # the next reply answers EHLO/HELO/LHLO
        self.greeting = self.reply(greeting=True) if greet else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        TRANSCRIPT.add(self.label, "C:", data)
        self.sock.sendall(data)

    def _recv(self, timeout=None):
        self.sock.settimeout(TIMEOUT if timeout is None else timeout)
        data = self.sock.recv(65536)
        if not data:
            TRANSCRIPT.note(f"[{self.label}] connection closed by the server")
            raise EOFError(f"connection closed; unread {self.buf[:200]!r}")
        TRANSCRIPT.add(self.label, "S:", data)
        self.wire += data
        self.buf += data

    def line(self, timeout=None):
        """One line without its CRLF; every reply line must end with CRLF (RFC 5321 4.2)."""
        deadline = time.monotonic() + (TIMEOUT if timeout is None else timeout)
        while b"\r\n" not in self.buf:
            if b"\n" in self.buf:
                raise AssertionError(f"reply line not ended by CRLF: {self.buf[:200]!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"no complete line within the timeout; have {self.buf!r}")
            self._recv(left)
        line, self.buf = self.buf.split(b"\r\n", 1)
        if b"\r" in line or b"\n" in line:
            raise AssertionError(f"bare CR or LF in a reply line: {line[:200]!r}")
        return line

    def reply(self, timeout=None, greeting=False):
        """One reply, multi-line ones included ("250-..." up to "250 ..."). Every 2xx, 4xx
        and 5xx reply but the greeting and the answer to EHLO/HELO/LHLO must carry an enhanced
        status code of its class (RFC 2034 4, ENHANCEDSTATUSCODES)."""
        lines = []
        code = None
        while True:
            line = self.line(timeout).decode("utf-8")
            m = re.fullmatch(r"(\d{3})([ -])(.*)", line) or re.fullmatch(r"(\d{3})()()", line)
            if not m:
                raise AssertionError(f"malformed reply line {line!r}")
            if code is not None and int(m.group(1)) != code:
                raise AssertionError(f"reply code changed within a reply: {lines!r} {line!r}")
            code = int(m.group(1))
            lines.append(m.group(3))
            if m.group(2) != "-":
                reply = Reply(code, lines)
                hello, self.hello_reply = self.hello_reply, False
                if not greeting and not hello and code // 100 != 3:
                    for text in lines:
                        if not re.match(rf"{code // 100}\.\d{{1,3}}\.\d{{1,3}} ", text + " "):
                            raise AssertionError(f"reply without its enhanced status code "
                                                 f"(RFC 2034 4): {reply!r}")
                return reply

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, text):
        """Sends one command line; returns its reply."""
        if isinstance(text, str):
            text = text.encode()
        self.hello_reply = text[:5].upper() in (b"EHLO ", b"HELO ", b"LHLO ")
        self.send(text + b"\r\n")
        return self.reply()

    def starttls(self, context=None):
        r = self.cmd("STARTTLS")
        if r.code != 220:
            raise AssertionError(f"STARTTLS: {r!r}")
        if self.buf:
            raise AssertionError(f"bytes after the STARTTLS answer: {self.buf!r}")
        self.sock = (context or tls_context()).wrap_socket(self.sock, server_hostname="localhost")
        TRANSCRIPT.note(f"[{self.label}] TLS {self.sock.version()}")
        return r

    def silence(self, seconds):
        """Asserts the server sends nothing for `seconds` (and keeps the connection)."""
        if self.buf:
            raise AssertionError(f"unexpected bytes from the server: {self.buf!r}")
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                self._recv(left)
            except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
                return
            raise AssertionError(f"unexpected bytes from the server: {self.buf!r}")

    def read_until_closed(self, timeout):
        """Everything the server sends until it closes the connection (within timeout
        seconds, else AssertionError)."""
        deadline = time.monotonic() + timeout
        start = len(self.wire) - len(self.buf)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"[{self.label}] still open after {timeout} s")
            try:
                self._recv(left)
            except EOFError:
                return bytes(self.wire[start:])
            except (socket.timeout, TimeoutError):
                continue
            except (ConnectionResetError, ssl.SSLError):
                return bytes(self.wire[start:])


def dot_stuff(message):
    """The DATA wire form of a CRLF message, terminator included (RFC 5321 4.5.2)."""
    assert message.endswith(b"\r\n")
    out = bytearray()
    for line in message[:-2].split(b"\r\n"):
        if line.startswith(b"."):
            out += b"."
        out += line + b"\r\n"
    return bytes(out) + b".\r\n"


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def make_message(subject, body_lines=("hello",), extra_headers=(), sender="sender@example.org"):
    """A CRLF message with a few headers and the given body lines (bytes or str)."""
    head = [b"From: Sender <" + sender.encode() + b">", b"To: rcpt@example.test",
            b"Subject: " + subject.encode(), b"Date: Mon, 3 Jun 2024 10:00:00 +0000",
            b"Message-ID: <" + subject.replace(" ", "-").encode() + b"."
            + str(time.time_ns()).encode() + b"@example.org>"]
    head += [h.encode() if isinstance(h, str) else h for h in extra_headers]
    body = [x.encode() if isinstance(x, str) else x for x in body_lines]
    return b"\r\n".join(head) + b"\r\n\r\n" + b"".join(x + b"\r\n" for x in body)


def testdata(name):
    with open(os.path.join(TESTDATA, "mime-corpus", name), "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# The trace fields tern-lmtpd adds (RFC 5321 4.4).

TRACE_RE = re.compile(
    rb"\AReturn-Path: (<[^\r\n]*>)\r\n(Received:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)")


def split_trace(stored):
    """(Return-Path value, Received field unfolded (str), raw trace bytes, the rest)."""
    m = TRACE_RE.match(stored)
    if not m:
        raise AssertionError(f"stored message does not start with Return-Path and Received: "
                             f"{stored[:300]!r}")
    received = re.sub(r"\r\n[ \t]+", " ", m.group(2).decode("utf-8")).rstrip("\r\n")
    return m.group(1).decode("utf-8"), received, stored[:m.end()], stored[m.end():]


def received_date(received):
    """The date-time after the last ";" of a Received field, as an aware datetime."""
    return email.utils.parsedate_to_datetime(received.rsplit(";", 1)[1].strip())


# ---------------------------------------------------------------------------------------------
# IMAP read-back, authenticated with SCRAM-SHA-256 (RFC 5802, RFC 7677).


class Scram:
    def __init__(self, user, password):
        self.user, self.password = user, password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), self.nonce)
        self.verifier = None

    def client_first(self):
        return ("n,," + self.bare).encode()

    def client_final(self, server_first):
        server_first = server_first.decode()
        fields = dict(kv.split("=", 1) for kv in server_first.split(","))
        if not fields["r"].startswith(self.nonce):
            raise AssertionError(f"server nonce does not extend ours: {server_first!r}")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                     base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + fields["r"]
        auth_message = ",".join([self.bare, server_first, without_proof]).encode()
        signature = hmac.new(stored, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.verifier = "v=" + base64.b64encode(
            hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode()
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()


class TIMAP4(imaplib.IMAP4):
    def __init__(self, label="imap"):
        self.label = label
        imaplib.IMAP4.__init__(self, HOST, IMAP_PORT, timeout=TIMEOUT)

    def send(self, data):
        TRANSCRIPT.add(self.label, "C:", data)
        return super().send(data)

    def readline(self):
        line = super().readline()
        TRANSCRIPT.add(self.label, "S:", line)
        return line

    def read(self, size):
        data = super().read(size)
        TRANSCRIPT.add(self.label, "S:", data)
        return data


def imap_login(user, label="imap"):
    """An imaplib session logged in with AUTHENTICATE SCRAM-SHA-256."""
    m = TIMAP4(label=label)
    scram = Scram(*user)
    step = []

    def respond(challenge):
        step.append(challenge)
        if len(step) == 1:
            return scram.client_first()
        if len(step) == 2:
            return scram.client_final(challenge)
        if challenge.decode() != scram.verifier:
            raise AssertionError(f"SCRAM server signature {challenge!r}")
        return b""

    try:
        typ, data = m.authenticate("SCRAM-SHA-256", respond)
    except imaplib.IMAP4.error:
        m.shutdown()
        raise
    if typ != "OK":
        raise AssertionError(f"AUTHENTICATE: {typ} {data!r}")
    return m


def _logout(m):
    try:
        m.logout()
    except Exception:
        pass


def fetch_messages(user, mailbox="INBOX"):
    """Every message of the mailbox, in UID order, as stored (BODY.PEEK[])."""
    m = imap_login(user, label="imap-fetch")
    try:
        typ, data = m.select(mailbox, readonly=True)
        if typ != "OK":
            raise AssertionError(f"EXAMINE {mailbox}: {typ} {data!r}")
        if int(data[0]) == 0:
            return []
        typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
        if typ != "OK":
            raise AssertionError(f"UID FETCH: {typ} {data!r}")
        found = []
        for item in data:
            if isinstance(item, tuple):
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                found.append((uid, item[1]))
        return [body for _, body in sorted(found)]
    finally:
        _logout(m)


def create_mailbox(user, name):
    m = imap_login(user, label="imap-create")
    try:
        typ, data = m.create(name)
        if typ != "OK":
            raise AssertionError(f"CREATE {name}: {typ} {data!r}")
    finally:
        _logout(m)


# ---------------------------------------------------------------------------------------------
# blobd's files and tern-lmtpd's metrics.


def blob_dir():
    return os.path.join(TERN_VAR, "blobs", "objects")


def blob_count():
    """Objects blobd holds (services/blob/fs_blob_backend.cc: objects/<2 hex>/<sha256>)."""
    n = 0
    for shard in os.listdir(blob_dir()):
        n += len(os.listdir(os.path.join(blob_dir(), shard)))
    return n


def blob_path(data):
    """Where blobd keeps these bytes: blobs are named by their SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    return os.path.join(blob_dir(), digest[:2], digest)


def http_get(port, path, timeout=5):
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


def metric(text, name, **labels):
    """The value of one sample in Prometheus text format (0.0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if have == {k: str(v) for k, v in labels.items()}:
            return float(m.group(3))
    return 0.0


# ---------------------------------------------------------------------------------------------
# An extra tern-lmtpd against the same cluster.


def _grpc_env(name):
    env = dict(os.environ)
    env.update({
        "TERN_GRPC_TLS_CERT": TERN_VAR + "/tls/tern.pem",
        "TERN_GRPC_TLS_KEY": TERN_VAR + "/tls/tern.key",
        "TERN_GRPC_TLS_CA": TERN_VAR + "/tls/ca.pem",
        "TERN_SERVICE_TOKEN_FILE": TERN_VAR + "/secrets/service.token",
        "TERN_INSTANCE": name,
    })
    return env


class _Process:
    """A service started by a test: its log in a temporary file, ready when /readyz is 200."""

    kind = "process"

    def _start(self, name, argv, env):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"{self.kind}-{name}-", suffix=".log",
                                               delete=False)
        TRANSCRIPT.note("starting " + " ".join(argv))
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        PRIVATE.append(self)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                text = self.log_text()[-3000:]
                self.stop()
                raise RuntimeError(f"{self.kind} {name} exited with {self.proc.returncode}:\n"
                                   + text)
            try:
                if http_get(self.http, "/readyz", timeout=2)[0] == 200:
                    return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                text = self.log_text()[-3000:]
                self.stop()
                raise RuntimeError(f"{self.kind} {name} not ready in 30 s:\n" + text)
            time.sleep(0.1)

    def log_text(self):
        try:
            with open(self.log.name, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass
        if self in PRIVATE:
            PRIVATE.remove(self)


class Authd(_Process):
    """An extra tern-authd on the cluster's database, Redis and keys."""

    kind = "tern-authd"

    def __init__(self, name, *flags):
        binary = os.path.join(os.path.dirname(LMTPD_BIN or "/nonexistent"), "..", "..", "auth",
                              "tern-authd")
        if not os.path.exists(binary):
            raise unittest.SkipTest(f"no tern-authd next to LMTPD_BIN ({binary})")
        self.port, self.http = free_port(), free_port()
        self.addr = f"{HOST}:{self.port}"
        env = _grpc_env(name)
        env.update({
            "TERN_PG_DSN": _env("TEST_PG_DSN"),
            "TERN_REDIS_ADDR": _env("TEST_REDIS_ADDR"),
            "TERN_ADMIN_TOKEN_FILE": TERN_VAR + "/secrets/admin.token",
            "TERN_TOKEN_KEY_FILE": TERN_VAR + "/secrets/token.key",
        })
        self._start(name, [binary, f"--grpc-listen={self.addr}",
                           f"--http-listen={HOST}:{self.http}", *flags], env)


class Lmtpd(_Process):
    """An extra tern-lmtpd against the same cluster (or another authd)."""

    kind = "tern-lmtpd"

    def __init__(self, name, *flags, authd_addr=None):
        if not LMTPD_BIN:
            raise unittest.SkipTest("LMTPD_BIN is not set")
        self.lmtp_port, self.smtp_port, self.http = free_port(), free_port(), free_port()
        argv = [LMTPD_BIN,
                f"--lmtp-listen={HOST}:{self.lmtp_port}", f"--smtp-listen={HOST}:{self.smtp_port}",
                f"--http-listen={HOST}:{self.http}", f"--hostname={HOSTNAME}",
                f"--local-domains={DOMAIN}",
                f"--tls-cert={TERN_VAR}/tls/tern.pem", f"--tls-key={TERN_VAR}/tls/tern.key",
                "--authd-addr=" + (authd_addr or _env("TEST_AUTHD_ADDR")),
                "--metad-addr=" + _env("TEST_METAD_ADDR"),
                "--blobd-addr=" + _env("TEST_BLOBD_ADDR"),
                f"--instance={name}", *flags]
        self._start(name, argv, _grpc_env(name))


PRIVATE = []  # running private processes, for the failure report


# ---------------------------------------------------------------------------------------------
# Test base class and a result that prints the transcript of failed tests.


class LMTPTestCase(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        TRANSCRIPT.reset()
        TRANSCRIPT.note(self.id())
        self._closers = []

    def tearDown(self):
        for c in reversed(self._closers):
            try:
                c()
            except Exception:
                pass

    def lmtp(self, label="lmtp", port=None, lhlo=True):
        c = TLMTP(label=label, port=port)
        self._closers.append(c.close)
        if lhlo:
            code, msg = c.ehlo()  # LMTP.ehlo is LHLO
            self.assertEqual(code, 250, msg)
        return c

    def smtp(self, label="smtp", port=None, ehlo=True):
        c = TSMTP(label=label, port=port)
        self._closers.append(c.close)
        if ehlo:
            code, msg = c.ehlo()
            self.assertEqual(code, 250, msg)
        return c

    def raw(self, port, label="raw", greet=True):
        c = RawSMTP(port=port, label=label, greet=greet)
        self._closers.append(c.close)
        if greet:
            self.assertEqual(c.greeting.code, 220, c.greeting)
        return c

    def assertReply(self, reply, code, enhanced=None, msg=None):
        """reply: a Reply, or smtplib's (code, bytes) pair."""
        if isinstance(reply, tuple):
            reply = Reply(reply[0], reply[1].decode("utf-8", "replace").split("\n"))
        self.assertEqual(reply.code, code, msg or f"expected {code} {enhanced or ''}: {reply!r}")
        if enhanced is not None:
            self.assertEqual(reply.enhanced, enhanced,
                             msg or f"expected {code} {enhanced}: {reply!r}")
        return reply


class TranscriptResult(unittest.TextTestResult):
    durations = []

    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        TranscriptResult.durations.append((time.monotonic() - self._t0, test.id()))

    def _dump(self):
        self.stream.write("\n----- exchange (last lines) -----\n")
        self.stream.write(TRANSCRIPT.tail(70) + "\n")
        logs = [("tern-lmtpd.log", os.path.join(TERN_VAR, "log", "tern-lmtpd.log"))]
        for d in PRIVATE:
            logs.append((f"{d.kind} {d.name}", d.log.name))
        for title, path in logs:
            try:
                with open(path, "rb") as f:
                    log = f.read().decode("utf-8", "replace").splitlines()[-12:]
                self.stream.write(f"----- {title} (last lines) -----\n" + "\n".join(log) + "\n")
            except OSError:
                pass
        self.stream.write("---------------------------------\n")
        self.stream.flush()

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.stream.write(f"\nFAIL: {test.id()}\n{self._exc_info_to_string(err, test)}")
        self._dump()

    def addError(self, test, err):
        super().addError(test, err)
        self.stream.write(f"\nERROR: {test.id()}\n{self._exc_info_to_string(err, test)}")
        self._dump()


def main():
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    runner = unittest.TextTestRunner(resultclass=TranscriptResult, verbosity=2)
    started = time.monotonic()
    try:
        program = unittest.main(testRunner=runner, exit=False, warnings="ignore")
    finally:
        USERS.shutdown()
        for d in list(PRIVATE):
            d.stop()
    slow = sorted(TranscriptResult.durations, reverse=True)[:8]
    print("slowest tests: " + ", ".join(f"{t.split('.', 1)[1]} {d:.1f}s" for d, t in slow),
          file=sys.stderr)
    print(f"total {time.monotonic() - started:.1f}s", file=sys.stderr)
    sys.exit(0 if program.result.wasSuccessful() else 1)
