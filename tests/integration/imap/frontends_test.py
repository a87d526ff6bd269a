#!/usr/bin/env python3
"""Two tern-imapd processes on one cluster (RFC 3501 5.2, 7.3, 7.4; RFC 2177): a session on
front-end A sees what a session on front-end B does to the same mailbox, while idling, at
NOOP and at the completion of an unrelated command; and a front-end that receives SIGTERM
says BYE to its clients and exits cleanly. Run by with_cluster.sh.
"""
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import warnings

IMAP_PORT = int(os.environ["IMAP_PORT"])
VAR = os.environ["TERN_VAR"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_user():
    out = subprocess.run([os.environ["NEW_USER"]], check=True, capture_output=True, text=True)
    return out.stdout.split()


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.n = 0
        assert self.line().startswith(b"* OK")

    def line(self, timeout=10):
        self.s.settimeout(timeout)
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        if line.endswith(b"}") and b"{" in line:
            size = int(line[line.rindex(b"{") + 1:-1])
            while len(self.buf) < size:
                self.buf += self.s.recv(65536)
            line += b"\r\n" + self.buf[:size]
            self.buf = self.buf[size:]
            line += self.line(timeout)
        return line

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"t%d" % self.n
        if literal is None:
            self.s.sendall(tag + b" " + text + b"\r\n")
        else:
            self.s.sendall(tag + b" " + text + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(tag + b" "):
                assert l.startswith(tag + b" OK"), lines
                return lines

    def wait_for(self, needle, seconds):
        deadline = time.monotonic() + seconds
        seen = []
        while time.monotonic() < deadline:
            try:
                l = self.line(timeout=max(0.01, deadline - time.monotonic()))
            except (socket.timeout, TimeoutError):
                break
            seen.append(l)
            if needle in l:
                return l, seen
        raise AssertionError("%r not seen within %s s; got %r" % (needle, seconds, seen))


MESSAGE = b"From: b@example.test\r\nTo: a@example.test\r\nSubject: across front-ends\r\n\r\nhi\r\n"


class FrontendsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        env = dict(os.environ)
        env.update({
            "TERN_GRPC_TLS_CERT": VAR + "/tls/tern.pem", "TERN_GRPC_TLS_KEY": VAR + "/tls/tern.key",
            "TERN_GRPC_TLS_CA": VAR + "/tls/ca.pem", "TERN_INSTANCE": "second",
        })
        cls.log = tempfile.NamedTemporaryFile(prefix="imapd2-", suffix=".log", delete=False)
        cls.second = subprocess.Popen(
            [os.environ["IMAPD_BIN"], "--imap-listen=127.0.0.1:%d" % cls.port, "--imaps-listen=",
             "--http-listen=127.0.0.1:%d" % free_port(),
             "--authd-addr=" + os.environ["TEST_AUTHD_ADDR"],
             "--metad-addr=" + os.environ["TEST_METAD_ADDR"],
             "--blobd-addr=" + os.environ["TEST_BLOBD_ADDR"],
             "--redis-addr=" + os.environ["TEST_REDIS_ADDR"]],
            env=env, stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", cls.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or cls.second.poll() is not None:
                    raise
                time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        if cls.second.poll() is None:
            cls.second.kill()
            cls.second.wait()
        cls.log.close()
        os.unlink(cls.log.name)

    def login(self, port, user, password):
        c = Client(port)
        c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
        c.cmd(b"SELECT INBOX")
        return c

    def test_changes_cross_front_ends(self):
        user, password = new_user()
        a = self.login(IMAP_PORT, user, password)
        b = self.login(self.port, user, password)
        # While A idles, B appends and flags: A hears EXISTS, then FETCH FLAGS (RFC 2177).
        a.s.sendall(b"i1 IDLE\r\n")
        self.assertTrue(a.line().startswith(b"+"))
        start = time.monotonic()
        # Redis notices make this milliseconds; the bounds leave room for a loaded machine.
        b.cmd(b"APPEND INBOX", MESSAGE)
        a.wait_for(b"* 1 EXISTS", 5.0)
        b.cmd(b"STORE 1 +FLAGS (\\Flagged)")
        line, _ = a.wait_for(b"FETCH", 5.0)
        self.assertIn(b"\\Flagged", line)
        print("IDLE updates across front-ends: %.0f ms" % ((time.monotonic() - start) * 1000))
        a.s.sendall(b"DONE\r\n")
        a.wait_for(b"i1 OK", 2)
        # At the completion of an unrelated command (RFC 3501 7: untagged data may come
        # with any command), A learns of B's next append.
        b.cmd(b"APPEND INBOX", MESSAGE)
        deadline = time.monotonic() + 10
        while True:
            lines = a.cmd(b"STATUS Sent (MESSAGES)")
            if b"* 2 EXISTS" in lines or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertIn(b"* 2 EXISTS", lines)
        self.assertLess(lines.index(b"* 2 EXISTS"), len(lines) - 1)
        # B expunges message 1: A sees it at NOOP, numbers shift (RFC 3501 7.4.1).
        b.cmd(b"STORE 1 +FLAGS (\\Deleted)")
        b.cmd(b"EXPUNGE")
        lines = a.cmd(b"NOOP")
        self.assertIn(b"* 1 EXPUNGE", lines)
        lines = a.cmd(b"FETCH 1 (UID)")
        self.assertTrue(any(b"* 1 FETCH (UID 2)" == l for l in lines), lines)

    def test_zz_sigterm_says_bye_and_exits(self):
        user, password = new_user()
        b = self.login(self.port, user, password)
        self.second.send_signal(signal.SIGTERM)
        line, _ = b.wait_for(b"* BYE", 10)
        self.assertIn(b"UNAVAILABLE", line)
        self.assertEqual(self.second.wait(timeout=20), 0)


if __name__ == "__main__":
    warnings.simplefilter("ignore", ResourceWarning)
    unittest.main(verbosity=2, warnings="ignore")
