"""Helpers shared by the integration tests of the front-ends (standard library only).

The protocol libraries (pop3/pop3_testlib.py, lmtp/lmtp_testlib.py, imap/imap_testlib.py)
import from here with tests/integration on sys.path, and re-export what their scripts use:

- environment lookups (require_env), new_user() through $NEW_USER, free_port(), tls_context();
- a transcript of every byte exchanged in a test (Transcript, TRANSCRIPT);
- LineClient: the basics of a raw line-based client on a socket (send, line with CRLF checks,
  read_until_closed, a STARTTLS-style upgrade);
- TIMAP4: imaplib that records what it exchanges; Scram: a SCRAM-SHA-256 client (RFC 5802,
  RFC 7677); crlf(), dot_stuff();
- Daemon: a private server process started by a test (its log in a temporary file, ready when
  /readyz answers 200), PRIVATE: those still running;
- TranscriptTestCase: the base of the test classes (fresh transcript, closers run at the end);
  TranscriptResult: a unittest result that prints the transcript of a failed test, and main()
  that runs the tests and prints the slowest.
"""

import base64
import hashlib
import hmac
import imaplib
import json
import os
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
import warnings

HOST = "127.0.0.1"
TIMEOUT = 15  # seconds for any single socket read

# Cluster coordinates set by tests/integration/imap/with_cluster.sh (a protocol library that
# needs one checks it with require_env).
IMAP_PORT = int(os.environ.get("IMAP_PORT", "0") or 0)
TERN_CA = os.environ.get("TERN_CA", "")
TERN_VAR = os.environ.get("TERN_VAR", "")
NEW_USER = os.environ.get("NEW_USER", "")


def require_env(name):
    """The value of an environment variable with_cluster.sh sets; exits when it is not set."""
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run this through tests/integration/imap/with_cluster.sh")
    return value


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


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=5):
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def dot_stuff(message):
    """The lines of a CRLF message with a dot added before each leading dot (RFC 1939 3,
    RFC 5321 4.5.2), without the terminating "." line."""
    assert message.endswith(b"\r\n")
    out = bytearray()
    for line in message[:-2].split(b"\r\n"):
        if line.startswith(b"."):
            out += b"."
        out += line + b"\r\n"
    return bytes(out)


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
# A raw line-based connection.


class LineClient:
    """The basics of a line-oriented client on a socket; every received byte is kept in
    `wire`, what is not consumed yet in `buf`."""

    LINE = "line"  # what the errors of line() call a line

    def _connect(self, host, port, label):
        self.label = label
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = b""
        self.wire = bytearray()

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

    def _recv_until(self, deadline):
        """One _recv waiting at most until deadline (time.monotonic()); socket.timeout when
        the deadline has passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout(f"no complete line within the timeout; have {self.buf!r}")
        self._recv(left)

    def line(self, timeout=None):
        """One line without its CRLF; every line must end with CRLF."""
        deadline = time.monotonic() + (TIMEOUT if timeout is None else timeout)
        while b"\r\n" not in self.buf:
            if b"\n" in self.buf:
                raise AssertionError(f"{self.LINE} not ended by CRLF: {self.buf[:200]!r}")
            self._recv_until(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        if b"\r" in line or b"\n" in line:
            raise AssertionError(f"bare CR or LF in a {self.LINE}: {line[:200]!r}")
        return line

    def _upgrade_tls(self, command, context=None):
        """Starts TLS on the connection once the server has accepted `command` (STLS,
        STARTTLS): nothing may follow that answer in plaintext."""
        if self.buf:
            raise AssertionError(f"bytes after the {command} answer: {self.buf!r}")
        self.sock = (context or tls_context()).wrap_socket(self.sock, server_hostname="localhost")
        TRANSCRIPT.note(f"[{self.label}] TLS {self.sock.version()}")

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


# ---------------------------------------------------------------------------------------------
# IMAP with a transcript, and SASL SCRAM-SHA-256 (RFC 5802, RFC 7677).


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
# A private server process against the same cluster.


PRIVATE = []  # running private processes, for the failure report and main()'s clean-up


def daemon_env(name):
    """The environment of a service started by a test: the cluster's gRPC TLS files."""
    env = dict(os.environ)
    env.update({
        "TERN_GRPC_TLS_CERT": TERN_VAR + "/tls/tern.pem",
        "TERN_GRPC_TLS_KEY": TERN_VAR + "/tls/tern.key",
        "TERN_GRPC_TLS_CA": TERN_VAR + "/tls/ca.pem",
        "TERN_INSTANCE": name,
    })
    return env


class Daemon:
    """A service started by a test: its log in a temporary file, ready when /readyz on
    self.http answers 200."""

    kind = "process"
    stop_grace = 10  # seconds stop() gives SIGTERM before SIGKILL; 0: SIGKILL at once

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

    def log_records(self):
        """The JSON records of the log (other lines skipped)."""
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
        if self.proc.poll() is None and self.stop_grace:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_grace)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass
        if self in PRIVATE:
            PRIVATE.remove(self)


# ---------------------------------------------------------------------------------------------
# Test base class, a result that prints the transcript of failed tests, and main().


class TranscriptTestCase(unittest.TestCase):
    """Starts each test with an empty transcript; at its end calls what the test put in
    self._closers, last first (errors ignored)."""

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


class TranscriptResult(unittest.TextTestResult):
    """Records each test's duration; on a failure or error prints the transcript's tail and
    the last lines of log_files()."""

    durations = []
    transcript_lines = 70
    log_lines = 12

    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        TranscriptResult.durations.append((time.monotonic() - self._t0, test.id()))

    def log_files(self):
        """(title, path) of each log to show after a failure."""
        return []

    def _dump(self):
        self.stream.write("\n----- exchange (last lines) -----\n")
        self.stream.write(TRANSCRIPT.tail(self.transcript_lines) + "\n")
        for title, path in self.log_files():
            try:
                with open(path, "rb") as f:
                    log = f.read().decode("utf-8", "replace").splitlines()[-self.log_lines:]
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


def main(resultclass=TranscriptResult, quiet_warnings=True, cleanup=None):
    """Runs the tests of __main__ with resultclass, then cleanup() and stop() of the private
    processes still running; prints the slowest tests and exits 0 when all passed.
    quiet_warnings: ResourceWarning and unittest's warnings are ignored."""
    if quiet_warnings:
        warnings.simplefilter("ignore", ResourceWarning)
    runner = unittest.TextTestRunner(resultclass=resultclass, verbosity=2)
    started = time.monotonic()
    try:
        program = unittest.main(testRunner=runner, exit=False,
                                warnings="ignore" if quiet_warnings else None)
    finally:
        if cleanup is not None:
            cleanup()
        for d in list(PRIVATE):
            d.stop()
    slow = sorted(TranscriptResult.durations, reverse=True)[:8]
    print("slowest tests: " + ", ".join(f"{t.split('.', 1)[1]} {d:.1f}s" for d, t in slow),
          file=sys.stderr)
    print(f"total {time.monotonic() - started:.1f}s", file=sys.stderr)
    sys.exit(0 if program.result.wasSuccessful() else 1)
