"""Helpers for the tern-lmtpd integration tests (standard library only).

What the LMTP tests share with the other front-ends' tests is in ../common/testlib.py and
re-exported here: tls_context(), free_port(), http_get(), the transcript of every byte
exchanged in a test (printed when the test fails), the raw line client's basics, TIMAP4,
the SCRAM-SHA-256 client, the private-daemon base class and main(). Here:

- cluster coordinates from the environment set by tests/integration/imap/with_cluster.sh;
- fresh users, made ahead of time by a small pool of threads (authd hashes every new
  password with argon2id, about a second each), disabled users, quotas, mailboxes (ternctl);
- TSMTP / TLMTP: smtplib clients that record what they exchange, and lmtp_transaction() for
  the one-reply-per-recipient answer to DATA that smtplib.LMTP leaves unread;
- RawSMTP: a raw socket client for what smtplib cannot do (wire bytes, pipelining, BDAT,
  malformed input, STARTTLS injection, watching a connection close);
- IMAP read-back (imaplib, SASL SCRAM-SHA-256: no argon2id on the server per login);
- the trace fields tern-lmtpd adds (Return-Path, Received), blobd's object files, /metrics;
- Lmtpd: an extra tern-lmtpd with its own flags against the same cluster; Authd: an extra
  tern-authd (same database and keys) with its own flags, e.g. a short DELIVER token lifetime.
"""

import collections
import concurrent.futures
import email.utils
import hashlib
import imaplib
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import testlib as common  # noqa: E402
from common.testlib import (  # noqa: E402
    HOST, PRIVATE, TIMEOUT, TIMAP4, TRANSCRIPT, Daemon, LineClient, Scram, Transcript,
    TranscriptTestCase, crlf, daemon_env, free_port, http_get, require_env, tls_context)
from common.testlib import new_user as _create_user  # noqa: E402

# The names the test scripts import from here (common.testlib's among them).
__all__ = [
    "DOMAIN", "HOST", "HOSTNAME", "IMAP_PORT", "LMTP_PORT", "LMTPD_BIN", "LMTPD_HTTP",
    "MAX_MESSAGE_SIZE", "NEW_USER", "PRIVATE", "SMTP_PORT", "TERN_CA", "TERN_VAR", "TERNCTL",
    "TESTDATA", "TIMAP4", "TIMEOUT", "TLMTP", "TRACE_RE", "TRANSCRIPT", "TSMTP", "USERS", "Authd",
    "blob_count", "blob_dir", "blob_path", "create_mailbox", "crlf", "disable_user", "dot_stuff",
    "fetch_messages", "free_port", "http_get", "imap_login", "lmtp_transaction", "Lmtpd",
    "LMTPTestCase", "mailbox_counts", "main", "make_message", "metric", "new_user",
    "prefetch_users", "RawSMTP", "received_date", "Reply", "Scram", "set_quota", "split_trace",
    "ternctl", "testdata", "tls_context", "Transcript", "TranscriptResult", "unknown_address"]

DOMAIN = "example.test"

LMTP_PORT = int(require_env("LMTP_PORT"))
SMTP_PORT = int(require_env("SMTP_PORT"))
LMTPD_HTTP = int(require_env("LMTPD_HTTP"))
IMAP_PORT = int(require_env("IMAP_PORT"))
TERN_CA = require_env("TERN_CA")
TERN_VAR = require_env("TERN_VAR")
NEW_USER = require_env("NEW_USER")
TERNCTL = require_env("TERNCTL")
LMTPD_BIN = os.environ.get("LMTPD_BIN", "")
TESTDATA = os.environ.get("TERN_TESTDATA_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "testdata")

# The flags of the cluster's tern-lmtpd (deploy/local/run.sh).
HOSTNAME = "localhost"
MAX_MESSAGE_SIZE = 52428800


# ---------------------------------------------------------------------------------------------
# Users.


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
# Addresses.


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


class RawSMTP(LineClient):
    """An SMTP or LMTP client on a socket; every received byte is kept in `wire`. Every reply
    line must end with CRLF (RFC 5321 4.2)."""

    LINE = "reply line"

    def __init__(self, port=None, host=HOST, label="raw", greet=True):
        self._connect(host, port or SMTP_PORT, label)
        self.hello_reply = False  # the next reply answers EHLO/HELO/LHLO
        self.greeting = self.reply(greeting=True) if greet else None

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
        self._upgrade_tls("STARTTLS", context)
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


def dot_stuff(message):
    """The DATA wire form of a CRLF message, terminator included (RFC 5321 4.5.2)."""
    return common.dot_stuff(message) + b".\r\n"


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
    env = daemon_env(name)
    env["TERN_SERVICE_TOKEN_FILE"] = TERN_VAR + "/secrets/service.token"
    return env


class Authd(Daemon):
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
            "TERN_PG_DSN": require_env("TEST_PG_DSN"),
            "TERN_REDIS_ADDR": require_env("TEST_REDIS_ADDR"),
            "TERN_ADMIN_TOKEN_FILE": TERN_VAR + "/secrets/admin.token",
            "TERN_TOKEN_KEY_FILE": TERN_VAR + "/secrets/token.key",
        })
        self._start(name, [binary, f"--grpc-listen={self.addr}",
                           f"--http-listen={HOST}:{self.http}", *flags], env)


class Lmtpd(Daemon):
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
                "--authd-addr=" + (authd_addr or require_env("TEST_AUTHD_ADDR")),
                "--metad-addr=" + require_env("TEST_METAD_ADDR"),
                "--blobd-addr=" + require_env("TEST_BLOBD_ADDR"),
                f"--instance={name}", *flags]
        self._start(name, argv, _grpc_env(name))


# ---------------------------------------------------------------------------------------------
# Test base class and a result that prints the transcript of failed tests.


class LMTPTestCase(TranscriptTestCase):
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


class TranscriptResult(common.TranscriptResult):
    log_lines = 12

    def log_files(self):
        logs = [("tern-lmtpd.log", os.path.join(TERN_VAR, "log", "tern-lmtpd.log"))]
        for d in PRIVATE:
            logs.append((f"{d.kind} {d.name}", d.log.name))
        return logs


def main():
    common.main(TranscriptResult, cleanup=USERS.shutdown)
