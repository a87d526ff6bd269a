"""Helpers for the tern-pop3d integration tests (standard library only).

- cluster coordinates from the environment set by tests/integration/imap/with_cluster.sh,
  new_user(), a TLS context for the local certificate, a non-loopback address of this machine;
- a transcript of every byte exchanged in a test, printed when the test fails;
- TPOP3 / TPOP3_SSL: poplib clients that record what they exchange;
- RawPOP3: a raw socket POP3 client for what poplib cannot do (wire bytes, pipelining,
  AUTH, malformed input, watching a connection close);
- IMAP helpers (imaplib and a raw client) to put messages in and look at the INBOX;
- Pop3d: an extra tern-pop3d process against the same cluster;
- SCRAM-SHA-256 client (RFC 5802/7677) and message builders.
"""

import base64
import hashlib
import hmac
import imaplib
import json
import os
import poplib
import re
import signal
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


def _env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run this through tests/integration/imap/with_cluster.sh")
    return value


POP3_PORT = int(_env("POP3_PORT"))
POP3S_PORT = int(_env("POP3S_PORT"))
POP3D_HTTP = int(_env("POP3D_HTTP"))
IMAP_PORT = int(_env("IMAP_PORT"))
IMAPS_PORT = int(os.environ.get("IMAPS_PORT", "0") or 0)
TERN_CA = _env("TERN_CA")
TERN_VAR = _env("TERN_VAR")
NEW_USER = _env("NEW_USER")
POP3D_BIN = os.environ.get("POP3D_BIN", "")

TIMEOUT = 15  # seconds for any single socket read
GREETING = b"+OK Tern POP3 server ready"
MAILDROP_RE = re.compile(rb"^\+OK Maildrop has (\d+) messages \((\d+) octets\)$")


def new_user():
    """Creates a fresh user through NEW_USER; returns (address, password)."""
    out = subprocess.run([NEW_USER], check=True, capture_output=True, text=True).stdout.split()
    if len(out) != 2:
        raise RuntimeError(f"NEW_USER printed {out!r}")
    return out[0], out[1]


def tls_context(check_hostname=True, version=None):
    ctx = ssl.create_default_context(cafile=TERN_CA)
    ctx.check_hostname = check_hostname  # the certificate names localhost and 127.0.0.1
    ctx.verify_mode = ssl.CERT_REQUIRED
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def external_address():
    """A non-loopback IPv4 address of this machine, or None."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    for a in out:
        if "." in a and not a.startswith("127."):
            return a
    return None


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data)


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
        text = data[: self.MAX_CHUNK].decode("latin-1")
        if len(data) > self.MAX_CHUNK:
            text += f"...<{len(data) - self.MAX_CHUNK} more bytes>"
        stamp = time.strftime("%H:%M:%S")
        with self.lock:
            for i, line in enumerate(text.split("\r\n")):
                if i > 0 and line == "":
                    continue
                self.lines.append(f"{stamp} [{label}] {direction} {line!r}"[: 300])

    def note(self, text):
        with self.lock:
            self.lines.append(f"{time.strftime('%H:%M:%S')} -- {text}")

    def tail(self, n=80):
        with self.lock:
            return "\n".join(self.lines[-n:])


TRANSCRIPT = Transcript()


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


class RawPOP3:
    """Line-oriented POP3 over a socket; every received byte is kept in `wire`."""

    def __init__(self, host=HOST, port=None, tls=False, label="raw", context=None, greet=True):
        self.label = label
        self.host = host
        sock = socket.create_connection((host, port or (POP3S_PORT if tls else POP3_PORT)),
                                        timeout=TIMEOUT)
        if tls:
            ctx = context or tls_context()
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.buf = b""
        self.wire = bytearray()
        self.greeting = self.line() if greet else None

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
        """One line without its CRLF. Every line must end with CRLF (RFC 1939 3)."""
        deadline = time.monotonic() + (TIMEOUT if timeout is None else timeout)
        while b"\r\n" not in self.buf:
            if b"\n" in self.buf:
                raise AssertionError(f"line not ended by CRLF: {self.buf[:200]!r}")
            self._recv(max(0.01, deadline - time.monotonic()))
        line, self.buf = self.buf.split(b"\r\n", 1)
        if b"\n" in line or b"\r" in line:
            raise AssertionError(f"bare CR or LF in a line: {line[:200]!r}")
        return line

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
        if self.buf:
            raise AssertionError(f"bytes after the STLS answer: {self.buf!r}")
        ctx = context or tls_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        TRANSCRIPT.note(f"[{self.label}] TLS {self.sock.version()}")
        return r

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

    def capa(self):
        status, body = self.multi("CAPA")
        if body is None:
            raise AssertionError(f"CAPA: {status!r}")
        return body.decode().split("\r\n")[:-1]


def dot_stuff(message):
    """The wire form of a CRLF message in a multi-line response (RFC 1939 3), without the
    terminator."""
    assert message.endswith(b"\r\n")
    out = bytearray()
    for line in message[:-2].split(b"\r\n"):
        if line.startswith(b"."):
            out += b"."
        out += line + b"\r\n"
    return bytes(out)


def unstuff(body):
    return b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n"
                    for l in body[:-2].split(b"\r\n")) if body else b""


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


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
# SASL SCRAM-SHA-256 (RFC 5802, RFC 7677).


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


# ---------------------------------------------------------------------------------------------
# An extra tern-pop3d against the same cluster.


class Pop3d:
    def __init__(self, name, *flags, redis_addr=None):
        if not POP3D_BIN:
            raise unittest.SkipTest("POP3D_BIN is not set")
        self.name = name
        self.port, self.tls_port, self.http = free_port(), free_port(), free_port()
        env = dict(os.environ)
        env.update({
            "TERN_GRPC_TLS_CERT": TERN_VAR + "/tls/tern.pem",
            "TERN_GRPC_TLS_KEY": TERN_VAR + "/tls/tern.key",
            "TERN_GRPC_TLS_CA": TERN_VAR + "/tls/ca.pem", "TERN_INSTANCE": name,
        })
        self.log = tempfile.NamedTemporaryFile(prefix=f"pop3d-{name}-", suffix=".log",
                                               delete=False)
        argv = [POP3D_BIN,
                f"--pop3-listen=127.0.0.1:{self.port}", f"--pop3s-listen=127.0.0.1:{self.tls_port}",
                f"--http-listen=127.0.0.1:{self.http}",
                f"--tls-cert={TERN_VAR}/tls/tern.pem", f"--tls-key={TERN_VAR}/tls/tern.key",
                "--authd-addr=" + _env("TEST_AUTHD_ADDR"),
                "--metad-addr=" + _env("TEST_METAD_ADDR"),
                "--blobd-addr=" + _env("TEST_BLOBD_ADDR"),
                "--redis-addr=" + (redis_addr or _env("TEST_REDIS_ADDR")),
                f"--instance={name}", *flags]
        TRANSCRIPT.note("starting " + " ".join(argv[1:]))
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tern-pop3d {name} exited with {self.proc.returncode}:\n"
                                   + self.log_text()[-3000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/readyz",
                                            timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tern-pop3d {name} not ready in 30 s:\n"
                                   + self.log_text()[-3000:])
            time.sleep(0.1)

    def log_text(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_records(self):
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def terminate(self, timeout=30):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# Test base class and a result that prints the transcript of failed tests.


class POP3TestCase(unittest.TestCase):
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
        try:
            with open(os.path.join(TERN_VAR, "log", "tern-pop3d.log"), "rb") as f:
                log = f.read().decode("utf-8", "replace").splitlines()[-15:]
            self.stream.write("----- tern-pop3d.log (last lines) -----\n" + "\n".join(log) + "\n")
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
    program = unittest.main(testRunner=runner, exit=False, warnings="ignore")
    slow = sorted(TranscriptResult.durations, reverse=True)[:8]
    print("slowest tests: " + ", ".join(f"{t.split('.', 1)[1]} {d:.1f}s" for d, t in slow),
          file=sys.stderr)
    print(f"total {time.monotonic() - started:.1f}s", file=sys.stderr)
    sys.exit(0 if program.result.wasSuccessful() else 1)
