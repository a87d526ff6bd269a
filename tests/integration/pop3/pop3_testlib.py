"""Helpers for the tern-pop3d integration tests (standard library only).

What the POP3 tests share with the other front-ends' tests is in ../common/testlib.py and
re-exported here: new_user(), tls_context(), free_port(), the transcript of every byte
exchanged in a test (printed when the test fails), the raw line client's basics, TIMAP4,
the SCRAM-SHA-256 client (RFC 5802/7677), the private-daemon base class and main(). Here:

- cluster coordinates from the environment set by tests/integration/imap/with_cluster.sh,
  a non-loopback address of this machine;
- TPOP3 / TPOP3_SSL: poplib clients that record what they exchange;
- RawPOP3: a raw socket POP3 client for what poplib cannot do (wire bytes, pipelining,
  AUTH, malformed input, watching a connection close);
- IMAP helpers (imaplib and a raw client) to put messages in and look at the INBOX;
- Pop3d: an extra tern-pop3d process against the same cluster;
- message builders.
"""

import base64
import os
import poplib
import re
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import testlib as common  # noqa: E402
from common.testlib import (  # noqa: E402
    HOST, TIMEOUT, TIMAP4, TRANSCRIPT, Daemon, LineClient, Scram, Transcript, TranscriptTestCase,
    crlf, daemon_env, dot_stuff, free_port, new_user, require_env, tls_context)

# The names the test scripts import from here (common.testlib's among them).
__all__ = [
    "GREETING", "HOST", "IMAP_PORT", "IMAPS_PORT", "MAILDROP_RE", "NEW_USER", "POP3_PORT",
    "POP3D_BIN", "POP3D_HTTP", "POP3S_PORT", "TERN_CA", "TERN_VAR", "TIMAP4", "TIMEOUT", "TPOP3",
    "TPOP3_SSL", "TRANSCRIPT", "b64", "crlf", "dot_stuff", "external_address", "free_port",
    "imap_append", "imap_append_raw", "imap_inbox", "imap_status", "main", "make_message",
    "new_user", "Pop3d", "POP3TestCase", "raw_imap", "RawIMAP", "RawPOP3", "Scram", "tls_context",
    "Transcript", "TranscriptResult", "unstuff"]

POP3_PORT = int(require_env("POP3_PORT"))
POP3S_PORT = int(require_env("POP3S_PORT"))
POP3D_HTTP = int(require_env("POP3D_HTTP"))
IMAP_PORT = int(require_env("IMAP_PORT"))
IMAPS_PORT = int(os.environ.get("IMAPS_PORT", "0") or 0)
TERN_CA = require_env("TERN_CA")
TERN_VAR = require_env("TERN_VAR")
NEW_USER = require_env("NEW_USER")
POP3D_BIN = os.environ.get("POP3D_BIN", "")

GREETING = b"+OK Tern POP3 server ready"
MAILDROP_RE = re.compile(rb"^\+OK Maildrop has (\d+) messages \((\d+) octets\)$")


def external_address():
    """A non-loopback IPv4 address of this machine, or None."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    for a in out:
        if "." in a and not a.startswith("127."):
            return a
    return None


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data)


# ---------------------------------------------------------------------------------------------
# poplib with a transcript.


class _Recording:
    label = "pop"

    def _putline(self, line):
        TRANSCRIPT.add(self.label, "C:", line + b"\r\n")
        return super()._putline(line)

    def _getline(self):
        line, octets = super()._getline()
        TRANSCRIPT.add(self.label, "S:", line + b"\r\n")
        return line, octets


class TPOP3(_Recording, poplib.POP3):
    def __init__(self, label="pop", host=HOST, port=None):
        self.label = label
        poplib.POP3.__init__(self, host, port or POP3_PORT, timeout=TIMEOUT)


class TPOP3_SSL(_Recording, poplib.POP3_SSL):
    def __init__(self, label="pops", host=HOST, port=None, context=None):
        self.label = label
        poplib.POP3_SSL.__init__(self, host, port or POP3S_PORT, timeout=TIMEOUT,
                                 context=context or tls_context())


# ---------------------------------------------------------------------------------------------
# A raw POP3 connection.


class RawPOP3(LineClient):
    """Line-oriented POP3 over a socket; every received byte is kept in `wire`. Every line
    must end with CRLF (RFC 1939 3)."""

    def __init__(self, host=HOST, port=None, tls=False, label="raw", context=None, greet=True):
        self.host = host
        self._connect(host, port or (POP3S_PORT if tls else POP3_PORT), label)
        if tls:
            ctx = context or tls_context()
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.greeting = self.line() if greet else None

    def _recv_until(self, deadline):
        # Past the deadline one more read of 10 ms, whose socket.timeout ends line().
        self._recv(max(0.01, deadline - time.monotonic()))

    def cmd(self, text):
        """Sends one command line; returns the status line."""
        if isinstance(text, str):
            text = text.encode()
        self.send(text + b"\r\n")
        return self.line()

    def body(self):
        """The rest of a multi-line response: the raw bytes up to, not including, the
        terminating ".\\r\\n" (still dot-stuffed)."""
        out = bytearray()
        while True:
            line = self.line()
            if line == b".":
                return bytes(out)
            out += line + b"\r\n"

    def multi(self, text):
        """A command with a multi-line answer: (status line, raw body or None on -ERR)."""
        status = self.cmd(text)
        if status.startswith(b"+OK"):
            return status, self.body()
        return status, None

    def login(self, user, password):
        r = self.cmd(b"USER " + user.encode())
        if not r.startswith(b"+OK"):
            raise AssertionError(f"USER: {r!r}")
        return self.cmd(b"PASS " + password.encode())

    def stls(self, context=None):
        r = self.cmd(b"STLS")
        if r != b"+OK Begin TLS negotiation" and not r.startswith(b"+OK"):
            raise AssertionError(f"STLS: {r!r}")
        self._upgrade_tls("STLS", context)
        return r

    def capa(self):
        status, body = self.multi("CAPA")
        if body is None:
            raise AssertionError(f"CAPA: {status!r}")
        return body.decode().split("\r\n")[:-1]


def unstuff(body):
    return b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n"
                    for l in body[:-2].split(b"\r\n")) if body else b""


def make_message(subject, body_lines, extra_headers=()):
    """A CRLF message with a few headers and the given body lines (bytes or str)."""
    head = [b"From: Sender <sender@example.test>", b"To: rcpt@example.test",
            b"Subject: " + subject.encode(), b"Date: Mon, 3 Jun 2024 10:00:00 +0000",
            b"Message-ID: <" + subject.replace(" ", "-").encode() + b"@example.test>"]
    head += [h.encode() if isinstance(h, str) else h for h in extra_headers]
    body = [l.encode() if isinstance(l, str) else l for l in body_lines]
    return b"\r\n".join(head) + b"\r\n\r\n" + b"".join(l + b"\r\n" for l in body)


# ---------------------------------------------------------------------------------------------
# IMAP: putting messages in and looking at the INBOX.


def imap_append(user, *messages):
    """Appends CRLF messages to the user's INBOX with imaplib; returns their UIDs."""
    m = TIMAP4(label="imap-append")
    try:
        m.login(*user)
        uids = []
        for msg in messages:
            typ, data = m.append("INBOX", None, None, msg)
            if typ != "OK":
                raise AssertionError(f"APPEND: {typ} {data!r}")
            found = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0] or b"")
            uids.append(int(found.group(2)) if found else None)
        return uids
    finally:
        try:
            m.logout()
        except Exception:
            pass


def imap_status(user):
    """(MESSAGES, UIDNEXT, UIDVALIDITY) of the user's INBOX through imaplib STATUS."""
    m = TIMAP4(label="imap-status")
    try:
        m.login(*user)
        typ, data = m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY)")
        if typ != "OK":
            raise AssertionError(f"STATUS: {typ} {data!r}")
        text = data[0].decode()
        get = lambda k: int(re.search(k + r" (\d+)", text).group(1))
        return get("MESSAGES"), get("UIDNEXT"), get("UIDVALIDITY")
    finally:
        try:
            m.logout()
        except Exception:
            pass


class RawIMAP:
    """A minimal raw IMAP client: exact APPEND bytes (imaplib turns LF into CRLF) and the
    untagged responses of each command."""

    def __init__(self, label="rimap"):
        self.label = label
        self.s = socket.create_connection((HOST, IMAP_PORT), timeout=TIMEOUT)
        self.buf = b""
        self.n = 0
        greeting = self.line()
        if not greeting.startswith(b"* OK"):
            raise AssertionError(f"IMAP greeting {greeting!r}")

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError(self.buf)
            TRANSCRIPT.add(self.label, "S:", data)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        m = re.search(rb"\{(\d+)\}$", line)
        if m:
            size = int(m.group(1))
            while len(self.buf) < size:
                data = self.s.recv(65536)
                if not data:
                    raise EOFError(self.buf)
                TRANSCRIPT.add(self.label, "S:", data)
                self.buf += data
            line += b"\r\n" + self.buf[:size]
            self.buf = self.buf[size:]
            line += self.line()
        return line

    def cmd(self, text, literal=None):
        """Runs a command (with a LITERAL+ literal appended); returns all response lines.
        The command must succeed."""
        self.n += 1
        tag = b"r%d" % self.n
        if isinstance(text, str):
            text = text.encode()
        data = tag + b" " + text
        if literal is not None:
            data += b" {%d+}\r\n" % len(literal) + literal
        data += b"\r\n"
        TRANSCRIPT.add(self.label, "C:", data)
        self.s.sendall(data)
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(tag + b" "):
                if not l.startswith(tag + b" OK"):
                    raise AssertionError(f"IMAP {text!r}: {lines!r}")
                return lines


def raw_imap(user, label="rimap"):
    c = RawIMAP(label=label)
    c.cmd(b'LOGIN "%s" "%s"' % (user[0].encode(), user[1].encode()))
    return c


def imap_append_raw(user, message):
    """Appends the exact bytes (bare LF kept) to INBOX; returns the UID (APPENDUID)."""
    c = raw_imap(user, "rimap-append")
    try:
        lines = c.cmd(b"APPEND INBOX", literal=message)
        found = re.search(rb"\[APPENDUID (\d+) (\d+)\]", lines[-1])
        return int(found.group(2)) if found else None
    finally:
        c.close()


def imap_inbox(user):
    """(UIDVALIDITY, [UID of each message in order]) of the user's INBOX."""
    c = raw_imap(user, "rimap-inbox")
    try:
        lines = c.cmd(b"SELECT INBOX")
        validity = None
        exists = 0
        for l in lines:
            m = re.search(rb"\[UIDVALIDITY (\d+)\]", l)
            if m:
                validity = int(m.group(1))
            m = re.match(rb"\* (\d+) EXISTS", l)
            if m:
                exists = int(m.group(1))
        uids = []
        if exists:
            for l in c.cmd(b"FETCH 1:* (UID)"):
                m = re.match(rb"\* (\d+) FETCH \(UID (\d+)\)", l)
                if m:
                    uids.append(int(m.group(2)))
        return validity, uids
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------
# An extra tern-pop3d against the same cluster.


class Pop3d(Daemon):
    """An extra tern-pop3d against the same cluster (stop() kills it)."""

    kind = "tern-pop3d"
    stop_grace = 0

    def __init__(self, name, *flags, redis_addr=None):
        if not POP3D_BIN:
            raise unittest.SkipTest("POP3D_BIN is not set")
        self.port, self.tls_port, self.http = free_port(), free_port(), free_port()
        argv = [POP3D_BIN,
                f"--pop3-listen=127.0.0.1:{self.port}", f"--pop3s-listen=127.0.0.1:{self.tls_port}",
                f"--http-listen=127.0.0.1:{self.http}",
                f"--tls-cert={TERN_VAR}/tls/tern.pem", f"--tls-key={TERN_VAR}/tls/tern.key",
                "--authd-addr=" + require_env("TEST_AUTHD_ADDR"),
                "--metad-addr=" + require_env("TEST_METAD_ADDR"),
                "--blobd-addr=" + require_env("TEST_BLOBD_ADDR"),
                "--redis-addr=" + (redis_addr or require_env("TEST_REDIS_ADDR")),
                f"--instance={name}", *flags]
        self._start(name, argv, daemon_env(name))


# ---------------------------------------------------------------------------------------------
# Test base class and a result that prints the transcript of failed tests.


class POP3TestCase(TranscriptTestCase):
    def pop(self, label="pop", host=HOST, port=None, user=None, tls=False):
        """A poplib client, logged in with USER/PASS when user is given."""
        c = TPOP3_SSL(label=label, host=host, port=port) if tls else \
            TPOP3(label=label, host=host, port=port)
        self._closers.append(c.close)
        if user is not None:
            c.user(user[0])
            resp = c.pass_(user[1])
            self.assertRegex(resp, MAILDROP_RE)
        return c

    def raw(self, label="raw", host=HOST, port=None, tls=False, context=None, user=None,
            greet=True):
        c = RawPOP3(host=host, port=port, tls=tls, label=label, context=context, greet=greet)
        self._closers.append(c.close)
        if greet:
            self.assertEqual(c.greeting, GREETING)
        if user is not None:
            self.assertRegex(c.login(*user), MAILDROP_RE)
        return c

    def assertOk(self, line, msg=None):
        self.assertTrue(line.startswith(b"+OK"), msg or f"expected +OK, got {line!r}")

    def assertErr(self, line, code=None, msg=None):
        want = b"-ERR" + (b" [" + code.encode() + b"]" if code else b"")
        self.assertTrue(line == want or line.startswith(want + b" "),
                        msg or f"expected {want!r}..., got {line!r}")

    def assertPoplibErr(self, call, code=None):
        with self.assertRaises(poplib.error_proto) as cm:
            call()
        resp = cm.exception.args[0]
        self.assertIsInstance(resp, bytes, f"poplib raised locally: {resp!r}")
        self.assertErr(resp, code)
        return resp


class TranscriptResult(common.TranscriptResult):
    log_lines = 15

    def log_files(self):
        return [("tern-pop3d.log", os.path.join(TERN_VAR, "log", "tern-pop3d.log"))]


def main():
    common.main(TranscriptResult)
