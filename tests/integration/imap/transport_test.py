#!/usr/bin/env python3
"""tern-imapd transport and authentication, with Python's imaplib and raw sockets:
STARTTLS and IMAPS (TLS 1.2 and 1.3), LOGINDISABLED and refused plaintext logins from a
non-loopback address (RFC 3501 6.2.3, 7.2.1), SASL PLAIN with and without SASL-IR (RFC 4959),
SCRAM-SHA-256 (RFC 5802/7677) and OAUTHBEARER (RFC 7628) through tern-authd, the
pre-login autologout and the per-address connection limit. Run by with_cluster.sh.
"""
import base64
import hashlib
import hmac
import imaplib
import json
import os
import socket
import ssl
import subprocess
import time
import unittest

IMAP_PORT = int(os.environ["IMAP_PORT"])
IMAPS_PORT = int(os.environ["IMAPS_PORT"])
CA = os.environ["TERN_CA"]


def new_user():
    out = subprocess.run([os.environ["NEW_USER"]], check=True, capture_output=True, text=True)
    return out.stdout.split()


def tls_context(version=None):
    ctx = ssl.create_default_context(cafile=CA)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def external_address():
    """A non-loopback address of this machine, or None."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    for a in out:
        if "." in a and not a.startswith("127."):
            return a
    return None


class Raw:
    """A line-oriented IMAP connection for what imaplib cannot do."""

    def __init__(self, host="127.0.0.1", port=IMAP_PORT):
        self.s = socket.create_connection((host, port), timeout=10)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("connection closed; have %r" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, data):
        self.s.sendall(data)

    def until_tagged(self, tag):
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(tag + b" "):
                return lines


def scram_client(user, password):
    """An RFC 5802 SCRAM-SHA-256 client as an imaplib authobject."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), nonce)
    state = {"step": 0}

    def step(challenge):
        if state["step"] == 0:
            state["step"] = 1
            return ("n,," + bare).encode()
        if state["step"] == 1:
            state["step"] = 2
            server_first = challenge.decode()
            fields = dict(kv.split("=", 1) for kv in server_first.split(","))
            assert fields["r"].startswith(nonce)
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                         base64.b64decode(fields["s"]), int(fields["i"]))
            client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            stored = hashlib.sha256(client_key).digest()
            without_proof = "c=biws,r=" + fields["r"]
            auth_message = ",".join([bare, server_first, without_proof]).encode()
            signature = hmac.new(stored, auth_message, hashlib.sha256).digest()
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            state["verifier"] = base64.b64encode(
                hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode()
            return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()
        # server-final-message: check the server's signature (mutual authentication).
        assert challenge.decode() == "v=" + state["verifier"], challenge
        state["verified"] = True
        return b""

    return step, state


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def oauth_token(email, expires_in=300):
    header = {"alg": "RS256", "kid": os.environ["TEST_OAUTH_KID"], "typ": "JWT"}
    now = int(time.time())
    claims = {"iss": os.environ["TERN_OAUTH_ISSUER"], "sub": email, "email": email,
              "iat": now, "exp": now + expires_in}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.environ["TEST_OAUTH_KEY"]],
                         input=signing_input.encode(), capture_output=True, check=True).stdout
    return signing_input + "." + b64url(sig)


class TransportTest(unittest.TestCase):
    def setUp(self):
        self.user, self.password = new_user()

    def test_starttls_then_login(self):
        m = imaplib.IMAP4("127.0.0.1", IMAP_PORT)
        self.assertIn("STARTTLS", m.capabilities)
        m.starttls(ssl_context=tls_context())
        # RFC 3501 6.2.1: capabilities after TLS no longer offer STARTTLS.
        typ, caps = m.capability()
        self.assertNotIn(b"STARTTLS", caps[0].split())
        self.assertEqual(m.login(self.user, self.password)[0], "OK")
        m.logout()

    def test_imaps_tls12_and_tls13(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS_PORT, ssl_context=tls_context(version))
            self.assertEqual(m.sock.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                                ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
            self.assertEqual(m.login(self.user, self.password)[0], "OK")
            m.logout()

    def test_tls10_refused(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(CA)
        try:
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
        except ValueError:
            self.skipTest("this OpenSSL cannot even offer TLS 1.0")
        with self.assertRaises((ssl.SSLError, OSError)):
            imaplib.IMAP4_SSL("127.0.0.1", IMAPS_PORT, ssl_context=ctx)

    def test_plaintext_login_refused_from_a_remote_address(self):
        addr = external_address()
        if addr is None:
            self.fail("no non-loopback address on this machine to test from")
        m = imaplib.IMAP4(addr, IMAP_PORT)
        # RFC 3501 6.2.3 / 7.2.1: LOGINDISABLED, and AUTH=PLAIN not offered in the clear.
        self.assertIn("LOGINDISABLED", m.capabilities)
        with self.assertRaises(imaplib.IMAP4.error) as err:
            m.login(self.user, self.password)
        self.assertIn("PRIVACYREQUIRED", str(err.exception))
        ctx = tls_context()
        ctx.check_hostname = False  # the local certificate names localhost, not this address
        m.starttls(ssl_context=ctx)
        typ, caps = m.capability()
        self.assertNotIn(b"LOGINDISABLED", caps[0].split())
        self.assertEqual(m.login(self.user, self.password)[0], "OK")
        m.logout()

    def test_authenticate_plain_with_and_without_initial_response(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS_PORT, ssl_context=tls_context())
        typ, data = m.authenticate(
            "PLAIN", lambda _: ("\0%s\0%s" % (self.user, self.password)).encode())
        self.assertEqual(typ, "OK")
        m.logout()
        # SASL-IR (RFC 4959): the response on the command line, no continuation.
        r = Raw()
        r.line()
        ir = base64.b64encode(("\0%s\0%s" % (self.user, self.password)).encode())
        r.send(b"a AUTHENTICATE PLAIN " + ir + b"\r\n")
        self.assertTrue(r.until_tagged(b"a")[-1].startswith(b"a OK"))
        # A wrong password: NO [AUTHENTICATIONFAILED] (RFC 5530).
        r = Raw()
        r.line()
        ir = base64.b64encode(("\0%s\0wrong" % self.user).encode())
        r.send(b"b AUTHENTICATE PLAIN " + ir + b"\r\n")
        last = r.until_tagged(b"b")[-1]
        self.assertTrue(last.startswith(b"b NO [AUTHENTICATIONFAILED]"), last)
        # Cancelled exchange: "*" -> BAD (RFC 3501 6.2.2).
        r.send(b"c AUTHENTICATE PLAIN\r\n")
        self.assertTrue(r.line().startswith(b"+"))
        r.send(b"*\r\n")
        self.assertTrue(r.until_tagged(b"c")[-1].startswith(b"c BAD"))
        # Not base64: BAD.
        r.send(b"d AUTHENTICATE PLAIN !!!\r\n")
        self.assertTrue(r.until_tagged(b"d")[-1].startswith(b"d BAD"))

    def test_scram_sha_256(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS_PORT, ssl_context=tls_context())
        self.assertIn("AUTH=SCRAM-SHA-256", m.capabilities)
        step, state = scram_client(self.user, self.password)
        typ, _ = m.authenticate("SCRAM-SHA-256", step)
        self.assertEqual(typ, "OK")
        self.assertTrue(state.get("verified"), "server signature not checked")
        self.assertEqual(m.select("INBOX")[0], "OK")
        m.logout()
        m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS_PORT, ssl_context=tls_context())
        step, _ = scram_client(self.user, "not the password")
        with self.assertRaises(imaplib.IMAP4.error):
            m.authenticate("SCRAM-SHA-256", step)

    def test_oauthbearer(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS_PORT, ssl_context=tls_context())
        self.assertIn("AUTH=OAUTHBEARER", m.capabilities)
        token = oauth_token(self.user)
        msg = ("n,a=%s,\x01auth=Bearer %s\x01\x01" % (self.user, token)).encode()
        self.assertEqual(m.authenticate("OAUTHBEARER", lambda _: msg)[0], "OK")
        m.logout()
        # SASL-IR form, then an expired token: the RFC 7628 error comes as a challenge, the
        # client answers 0x01, and the command fails.
        r = Raw("127.0.0.1", IMAP_PORT)
        r.line()
        r.send(b"a AUTHENTICATE OAUTHBEARER " + base64.b64encode(msg) + b"\r\n")
        self.assertTrue(r.until_tagged(b"a")[-1].startswith(b"a OK"))
        r = Raw("127.0.0.1", IMAP_PORT)
        r.line()
        bad = ("n,,\x01auth=Bearer %s\x01\x01" % oauth_token(self.user, -600)).encode()
        r.send(b"b AUTHENTICATE OAUTHBEARER " + base64.b64encode(bad) + b"\r\n")
        challenge = r.line()
        self.assertTrue(challenge.startswith(b"+ "), challenge)
        self.assertIn("status", json.loads(base64.b64decode(challenge[2:])))
        r.send(base64.b64encode(b"\x01") + b"\r\n")
        self.assertTrue(r.until_tagged(b"b")[-1].startswith(b"b NO"))

    def test_autologout_before_login(self):
        # with_cluster.sh sets TERN_IMAP_LOGIN_TIMEOUT=5s.
        r = Raw()
        r.line()
        start = time.monotonic()
        r.s.settimeout(30)
        self.assertTrue(r.line().startswith(b"* BYE"))
        self.assertGreater(time.monotonic() - start, 4)
        with self.assertRaises(EOFError):
            r.line()

    def test_token_renewed_while_idle(self):
        # with_cluster.sh gives session tokens 20 s; services accept 30 s of clock skew. After
        # 60 quiet seconds only a token renewed meanwhile still works, in IDLE and outside it.
        ttl = os.environ.get("TERN_SESSION_TTL", "")
        if ttl != "20s":
            self.skipTest("needs TERN_SESSION_TTL=20s (set by with_cluster.sh)")

        def login():
            r = Raw()
            r.line()
            r.send(b"l LOGIN %s %s\r\n" % (self.user.encode(), self.password.encode()))
            self.assertTrue(r.until_tagged(b"l")[-1].startswith(b"l OK"))
            r.send(b"s SELECT INBOX\r\n")
            self.assertTrue(r.until_tagged(b"s")[-1].startswith(b"s OK"))
            return r

        idler, quiet = login(), login()
        idler.send(b"i IDLE\r\n")
        self.assertTrue(idler.line().startswith(b"+"))
        time.sleep(60)
        m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS_PORT, ssl_context=tls_context())
        m.login(self.user, self.password)
        self.assertEqual(m.append("INBOX", None, None, b"Subject: late\r\n\r\nx\r\n")[0], "OK")
        m.logout()
        idler.s.settimeout(10)
        line = idler.line()
        while b"EXISTS" not in line:
            self.assertFalse(line.startswith(b"* BYE"), line)
            line = idler.line()
        idler.send(b"DONE\r\n")
        self.assertTrue(idler.until_tagged(b"i")[-1].startswith(b"i OK"))
        quiet.send(b"n NOOP\r\n")
        lines = quiet.until_tagged(b"n")
        self.assertTrue(lines[-1].startswith(b"n OK"), lines)
        self.assertIn(b"* 1 EXISTS", lines)

    def test_per_address_connection_limit(self):
        limit = int(os.environ.get("TERN_IMAP_MAX_CONNECTIONS_PER_ADDRESS", "50"))
        conns = []
        try:
            for _ in range(limit):
                r = Raw()
                self.assertTrue(r.line().startswith(b"* OK"))
                conns.append(r)
            extra = Raw()
            self.assertTrue(extra.line().startswith(b"* BYE"))
            # One closes, and a new connection is admitted again.
            conns.pop().s.close()
            deadline = time.monotonic() + 5
            while True:
                r = Raw()
                if r.line().startswith(b"* OK"):
                    conns.append(r)
                    break
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.1)
        finally:
            for r in conns:
                r.s.close()


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    unittest.main(verbosity=2, warnings="ignore")
