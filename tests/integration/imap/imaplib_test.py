#!/usr/bin/env python3
"""Integration test of tern-imapd with Python's imaplib (and a raw socket client where
imaplib cannot go): RFC 3501 plus IDLE, UIDPLUS, MOVE, NAMESPACE, ID, ENABLE, UNSELECT,
SPECIAL-USE, LITERAL+, SASL-IR, CHILDREN and APPENDLIMIT.

Run through the cluster wrapper:
    tests/integration/imap/with_cluster.sh build tests/integration/imap/imaplib_test.py

Every test class creates its own user (NEW_USER), tests that need a pristine mailbox store
create another one. A failing test prints the tail of the client/server exchange.
"""

import base64
import datetime
import hashlib
import hmac
import imaplib
import os
import re
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from imap_testlib import (  # noqa: E402
    IMAPTestCase, Literal, Part, ProtocolError, RawClient, TIMAP4, TRANSCRIPT,
    compare_bodystructure, compare_envelope, crlf, expected_bodystructure, main, new_user,
    parse_status_items, quote, seqset_numbers, tls_context)

CORPUS_DIR = "/work/shared/testdata/mime-corpus"

# imaplib knows no ID command; allow it in every state.
imaplib.Commands["ID"] = ("NONAUTH", "AUTH", "SELECTED")

# ---------------------------------------------------------------------------------------------
# Test messages (CRLF line endings). Their part structure is known, so every BODY[section],
# BODYSTRUCTURE and ENVELOPE can be computed.

PLAIN = Part(
    [("Date", "Sat, 01 Feb 2020 12:00:00 +0000"),
     ("From", "Alice Example <alice@example.com>"),
     ("To", "Bob Builder <bob@example.org>, carol@example.net"),
     ("Cc", '"Dave, Jr." <dave@example.com>'),
     ("Subject", "Quarterly report"),
     ("Message-ID", "<plain.1@example.com>"),
     ("X-Tern-Test", "alpha-beta"),
     ("X-Folded", "first part of a long value\r\n\tand its second line"),
     ("X-Dup", "one"),
     ("X-Other", "between"),
     ("X-Dup", "two"),
     ("MIME-Version", "1.0"),
     ("Content-Type", "text/plain; charset=us-ascii")],
    body=b"Hello Bob,\r\n\r\nthe quarterly numbers look good. Look for the zebra.\r\n\r\n"
         b"-- \r\nAlice\r\n")

PLAIN_ENVELOPE = [
    b"Sat, 01 Feb 2020 12:00:00 +0000", b"Quarterly report",
    [(b"Alice Example", None, b"alice", b"example.com")],
    [(b"Alice Example", None, b"alice", b"example.com")],
    [(b"Alice Example", None, b"alice", b"example.com")],
    [(b"Bob Builder", None, b"bob", b"example.org"), (None, None, b"carol", b"example.net")],
    [(b"Dave, Jr.", None, b"dave", b"example.com")],
    None, None, b"<plain.1@example.com>"]

_PDF = base64.encodebytes(bytes(range(256)) * 3).replace(b"\n", b"\r\n")

MULTI = Part(
    [("Date", "Mon, 15 Mar 2021 12:00:00 +0100"),
     ("From", "Carol <carol@example.net>"),
     ("Reply-To", "Carol Replies <replies@example.net>"),
     ("To", "Team: alice@example.com, bob@example.org;"),
     ("Subject", "Holiday photos"),
     ("Message-ID", "<multi.2@example.net>"),
     ("In-Reply-To", "<plain.1@example.com>"),
     ("MIME-Version", "1.0"),
     ("Content-Type", 'multipart/mixed; boundary="=_outer_1"')],
    preamble=b"This is a multi-part message in MIME format.\r\n",
    epilogue=b"",
    parts=[
        Part([("Content-Type", "text/plain; charset=utf-8"),
              ("Content-Transfer-Encoding", "quoted-printable")],
             body=b"Hi all,\r\nphotos from the trip are attached. We saw a giraffe=21\r\n"),
        Part([("Content-Type", 'multipart/alternative; boundary="=_alt_2"')],
             parts=[
                 Part([("Content-Type", "text/plain; charset=us-ascii")],
                      body=b"Plain version: the giraffe was tall.\r\nVery tall.\r\n"),
                 Part([("Content-Type", "text/html; charset=us-ascii")],
                      body=b"<html><body><p>HTML version: the <b>giraffe</b> was tall.</p>"
                           b"</body></html>\r\n"),
             ]),
        Part([("Content-Type", 'application/pdf; name="trip.pdf"'),
              ("Content-Disposition", 'attachment; filename="trip.pdf"'),
              ("Content-Transfer-Encoding", "base64"),
              ("Content-ID", "<att3@example.net>"),
              ("Content-Description", "Trip itinerary")],
             body=_PDF),
    ])

MULTI_ENVELOPE = [
    b"Mon, 15 Mar 2021 12:00:00 +0100", b"Holiday photos",
    [(b"Carol", None, b"carol", b"example.net")],
    [(b"Carol", None, b"carol", b"example.net")],
    [(b"Carol Replies", None, b"replies", b"example.net")],
    [(None, None, b"Team", None), (None, None, b"alice", b"example.com"),
     (None, None, b"bob", b"example.org"), (None, None, None, None)],
    None, None, b"<plain.1@example.com>", b"<multi.2@example.net>"]

INNER = Part(
    [("Date", "Thu, 09 Jun 2022 08:30:00 +0200"),
     ("From", "Frank <frank@example.com>"),
     ("To", "Eve <eve@example.org>"),
     ("Subject", "Original subject"),
     ("Message-ID", "<inner.3@example.com>"),
     ("Content-Type", "text/plain; charset=us-ascii")],
    body=b"This is the original message.\r\nIt has two lines.\r\n")

INNER_ENVELOPE = [
    b"Thu, 09 Jun 2022 08:30:00 +0200", b"Original subject",
    [(b"Frank", None, b"frank", b"example.com")],
    [(b"Frank", None, b"frank", b"example.com")],
    [(b"Frank", None, b"frank", b"example.com")],
    [(b"Eve", None, b"eve", b"example.org")],
    None, None, None, b"<inner.3@example.com>"]

FWD = Part(
    [("Date", "Fri, 10 Jun 2022 12:00:00 -0400"),
     ("From", "Eve <eve@example.org>"),
     ("To", "alice@example.com"),
     ("Subject", "Fwd: Quarterly report"),
     ("Message-ID", "<fwd.3@example.org>"),
     ("MIME-Version", "1.0"),
     ("Content-Type", 'multipart/mixed; boundary="fwd-boundary"')],
    parts=[
        Part([("Content-Type", "text/plain; charset=us-ascii")],
             body=b"See the forwarded message below.\r\n"),
        Part([("Content-Type", "message/rfc822"),
              ("Content-Description", "forwarded message")],
             message=INNER),
    ])

FWD_ENVELOPE = [
    b"Fri, 10 Jun 2022 12:00:00 -0400", b"Fwd: Quarterly report",
    [(b"Eve", None, b"eve", b"example.org")],
    [(b"Eve", None, b"eve", b"example.org")],
    [(b"Eve", None, b"eve", b"example.org")],
    [(None, None, b"alice", b"example.com")],
    None, None, None, b"<fwd.3@example.org>"]

UTF8 = Part(
    [("Date", "Wed, 04 Jan 2023 12:00:00 +0000"),
     ("From", "=?ISO-8859-1?Q?J=F6rg?= <joerg@example.de>"),
     ("To", "Grace <grace@example.org>"),
     ("Subject", "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?="),
     ("Message-ID", "<utf8.4@example.de>"),
     ("MIME-Version", "1.0"),
     ("Content-Type", "text/plain; charset=utf-8"),
     ("Content-Transfer-Encoding", "8bit")],
    body="Grüße aus München!\r\nDas Wetter ist schön.\r\n".encode("utf-8"))

UTF8_ENVELOPE = [
    b"Wed, 04 Jan 2023 12:00:00 +0000", b"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=",
    [(b"=?ISO-8859-1?Q?J=F6rg?=", None, b"joerg", b"example.de")],
    [(b"=?ISO-8859-1?Q?J=F6rg?=", None, b"joerg", b"example.de")],
    [(b"=?ISO-8859-1?Q?J=F6rg?=", None, b"joerg", b"example.de")],
    [(b"Grace", None, b"grace", b"example.org")],
    None, None, None, b"<utf8.4@example.de>"]

BIG = Part(
    [("Date", "Thu, 07 Sep 2023 12:00:00 +0000"),
     ("From", "Log Robot <robot@example.com>"),
     ("To", "ops@example.com"),
     ("Subject", "Big log dump"),
     ("Message-ID", "<big.5@example.com>"),
     ("MIME-Version", "1.0"),
     ("Content-Type", "text/plain; charset=us-ascii")],
    body=b"".join(b"line %04d: the quick brown fox jumps over the lazy dog, again and again\r\n"
                  % i for i in range(400)))

DIGEST_A = Part(
    [("Date", "Sun, 05 Mar 2023 10:00:00 +0000"),
     ("From", "Digest One <one@example.com>"),
     ("Subject", "First digest item"),
     ("Content-Type", "text/plain; charset=us-ascii")],
    body=b"First item body.\r\n")
DIGEST_B = Part(
    [("Date", "Mon, 06 Mar 2023 10:00:00 +0000"),
     ("From", "Digest Two <two@example.com>"),
     ("Subject", "Second digest item"),
     ("Content-Type", "text/plain; charset=us-ascii")],
    body=b"Second item body.\r\nTwo lines.\r\n")
# RFC 2046 5.1.5: in multipart/digest a part without Content-Type is message/rfc822.
DIGEST = Part(
    [("Date", "Tue, 07 Mar 2023 10:00:00 +0000"),
     ("From", "Digest Robot <digest@example.com>"),
     ("To", "list@example.com"),
     ("Subject", "Weekly digest"),
     ("MIME-Version", "1.0"),
     ("Content-Type", 'multipart/digest; boundary="digest-b"')],
    parts=[Part([], message=DIGEST_A, default_type="message/rfc822"),
           Part([], message=DIGEST_B, default_type="message/rfc822")])
DIGEST_ENVELOPES = {
    id(DIGEST_A): [b"Sun, 05 Mar 2023 10:00:00 +0000", b"First digest item",
                   [(b"Digest One", None, b"one", b"example.com")],
                   [(b"Digest One", None, b"one", b"example.com")],
                   [(b"Digest One", None, b"one", b"example.com")],
                   None, None, None, None, None],
    id(DIGEST_B): [b"Mon, 06 Mar 2023 10:00:00 +0000", b"Second digest item",
                   [(b"Digest Two", None, b"two", b"example.com")],
                   [(b"Digest Two", None, b"two", b"example.com")],
                   [(b"Digest Two", None, b"two", b"example.com")],
                   None, None, None, None, None],
}

MESSAGES = [PLAIN, MULTI, FWD, UTF8, BIG]
ENVELOPES = [PLAIN_ENVELOPE, MULTI_ENVELOPE, FWD_ENVELOPE, UTF8_ENVELOPE, None]
INTERNALDATES = ['"01-Feb-2020 12:00:00 +0000"', '"15-Mar-2021 12:00:00 +0000"',
                 '"10-Jun-2022 12:00:00 +0000"', '" 4-Jan-2023 12:00:00 +0000"',
                 '" 7-Sep-2023 12:00:00 +0000"']
NESTED_ENVELOPES = {id(INNER): INNER_ENVELOPE}


def late(test):
    """Marks a test that runs after all the others: it exercises NOOP, CHECK, IDLE or large
    responses, which have crashed tern-imapd (and a crash takes the whole local cluster
    down, failing every later test)."""
    test.late = True
    return test


def simple_message(subject, body=b"Just a short note.\r\n", sender="sender@example.com"):
    return (f"From: {sender}\r\nTo: rcpt@example.com\r\nSubject: {subject}\r\n"
            f"Date: Tue, 02 May 2023 10:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}"
            f"@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii"
            f"\r\n\r\n").encode() + body


class ScramSha256:
    """A SCRAM-SHA-256 client (RFC 5802, RFC 7677) as an imaplib authobject."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.step = 0
        self.verified = False

    def __call__(self, challenge):
        if self.step == 0:
            self.step = 1
            self.nonce = base64.b64encode(os.urandom(18)).decode()
            name = self.user.replace("=", "=3D").replace(",", "=2C")
            self.first_bare = f"n={name},r={self.nonce}"
            return ("n,," + self.first_bare).encode()
        if self.step == 1:
            self.step = 2
            server_first = challenge.decode()
            attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
            if not attrs["r"].startswith(self.nonce):
                raise AssertionError(f"server nonce {attrs['r']!r} does not extend ours")
            salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                         base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            stored_key = hashlib.sha256(client_key).digest()
            final_bare = f"c=biws,r={attrs['r']}"
            auth_message = f"{self.first_bare},{server_first},{final_bare}".encode()
            signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            self.server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
            return f"{final_bare},p={base64.b64encode(proof).decode()}".encode()
        self.step = 3
        expected = "v=" + base64.b64encode(self.server_signature).decode()
        self.verified = challenge.decode() == expected
        return b""


def untagged(client, kind):
    return [r for r in client.last_responses() if r.tag == "*" and r.kind == kind]


def fetch_map(responses):
    """{seq: {ITEM: value}} from a list of Responses (merging several for one message)."""
    out = {}
    for r in responses:
        if r.tag == "*" and r.kind == "FETCH":
            out.setdefault(r.num, {}).update(r.fetch())
    return out


def flags_of(value):
    if not isinstance(value, list):
        raise ProtocolError(f"FLAGS is not a list: {value!r}")
    return {str(f) for f in value}


def norm_flags(flags):
    return {f.lower() for f in flags}


def list_entries(responses, kind="LIST"):
    """{name: (attributes set (lower-case), delimiter)} from LIST/LSUB responses."""
    out = {}
    for r in responses:
        if r.tag == "*" and r.kind == kind:
            if len(r.data) != 3 or not isinstance(r.data[0], list):
                raise ProtocolError(f"bad {kind} response {r.raw!r}")
            attrs, delim, name = r.data
            name = name.decode() if isinstance(name, bytes) else str(name)
            out[name] = ({str(a).lower() for a in attrs}, delim)
    return out


def selected_info(responses):
    info = {"FLAGS": None, "EXISTS": None, "RECENT": None, "codes": {}, "tagged": None}
    for r in responses:
        if r.tag == "*":
            if r.kind == "FLAGS":
                info["FLAGS"] = flags_of(r.data[0])
            elif r.kind == "EXISTS":
                info["EXISTS"] = r.num
            elif r.kind == "RECENT":
                info["RECENT"] = r.num
            elif r.status == "OK" and r.code:
                info["codes"][r.code_name()] = r.code_args()
        elif r.tag != "+":
            info["tagged"] = r
    return info


def check_numbering(responses, exists):
    """RFC 3501 7.4.1 / 5.2: every message number the server uses must be known to the
    client: a FETCH or EXPUNGE for number n needs n <= the last announced EXISTS (EXPUNGE
    lowers the count by one). Returns (problems, final count)."""
    problems = []
    for r in responses:
        if r.tag != "*" or r.num is None:
            continue
        if r.kind == "EXISTS":
            exists = r.num
        elif r.kind in ("FETCH", "EXPUNGE"):
            if not 1 <= r.num <= exists:
                problems.append(f"{r.raw[:80]!r} while the client knows {exists} messages")
            if r.kind == "EXPUNGE":
                exists -= 1
    return problems, exists


def parse_internaldate(value):
    """b'17-Jul-1996 02:44:25 -0700' -> aware datetime; ProtocolError if malformed."""
    text = value.decode() if isinstance(value, bytes) else value
    if not re.fullmatch(r"[ \d]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}", text):
        raise ProtocolError(f"INTERNALDATE {text!r} is not RFC 3501 date-time")
    return datetime.datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S %z")


def expunge_sequence(before_uids, expunge_numbers):
    """Applies EXPUNGE responses (in the order sent) to a list of UIDs; returns the removed
    UIDs and the remaining list."""
    remaining = list(before_uids)
    removed = []
    for n in expunge_numbers:
        if not 1 <= n <= len(remaining):
            raise AssertionError(f"EXPUNGE {n} out of range (had {len(remaining)} messages)")
        removed.append(remaining.pop(n - 1))
    return removed, remaining


# ---------------------------------------------------------------------------------------------


class ConnectionTests(IMAPTestCase):
    """Greeting, CAPABILITY, NOOP, LOGOUT, STARTTLS, implicit TLS, LOGIN, AUTHENTICATE, ID,
    ENABLE, NAMESPACE."""

    REQUIRED_CAPS = {"IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "ID", "ENABLE",
                     "UNSELECT", "SPECIAL-USE", "LITERAL+", "SASL-IR", "CHILDREN"}

    @classmethod
    def setUpClass(cls):
        if "user" in cls.__dict__:
            return  # the class's late tests: same user and data
        cls.user = new_user()

    def caps_set(self, text):
        return {c.upper() for c in text.split()}

    def test_greeting_and_capability(self):
        c = self.raw(login=False)
        g = c.greeting
        self.assertEqual(g.tag, "*")
        self.assertEqual(g.status, "OK", g.raw)
        r = c.command("CAPABILITY")
        self.assertStatus(r, "OK")
        caps = [u for u in r.untagged if u.kind == "CAPABILITY"]
        self.assertEqual(len(caps), 1, "exactly one untagged CAPABILITY")
        names = {str(a).upper() for a in caps[0].data}
        self.assertLessEqual(self.REQUIRED_CAPS, names)
        self.assertIn("STARTTLS", names, "STARTTLS must be offered on the plaintext port")
        self.assertIn("AUTH=PLAIN", names)
        self.assertNotIn("LOGINDISABLED", names, "LOGIN is allowed over loopback")
        limit = [n for n in names if n.startswith("APPENDLIMIT")]
        self.assertTrue(limit, "APPENDLIMIT advertised")
        if g.code_name() == "CAPABILITY":
            self.assertEqual(self.caps_set(g.code_args()), names,
                             "greeting CAPABILITY code equals CAPABILITY response")

    def test_capability_imaplib(self):
        m = self.imap(login=False)
        typ, data = m.capability()
        self.assertEqual(typ, "OK")
        names = self.caps_set(data[0].decode())
        self.assertLessEqual(self.REQUIRED_CAPS, names)
        m.login(*self.user)
        typ, data = m.capability()
        self.assertEqual(typ, "OK")
        after = self.caps_set(data[0].decode())
        self.assertLessEqual(self.REQUIRED_CAPS, after)
        self.assertEqual(m.state, "AUTH")

    @late
    def test_noop_and_logout(self):
        m = self.imap(login=False)
        self.assertOK(m.noop())
        m.login(*self.user)
        self.assertOK(m.noop())
        typ, data = m.logout()
        self.assertEqual(typ, "BYE")
        # Raw: untagged BYE, then the tagged OK, then the server closes.
        c = self.raw()
        r = c.command("LOGOUT")
        self.assertStatus(r, "OK")
        self.assertTrue(any(u.status == "BYE" for u in r.untagged), "untagged BYE before OK")
        with self.assertRaises((EOFError, ConnectionError, socket.timeout)):
            c.read_response(timeout=3)

    def test_starttls_imaplib(self):
        m = self.imap(login=False)
        self.assertIn("STARTTLS", m.capabilities)
        typ, _ = m.starttls(ssl_context=tls_context())
        self.assertEqual(typ, "OK")
        self.assertNotIn("STARTTLS", m.capabilities, "STARTTLS not offered once TLS is active")
        m.login(*self.user)
        self.assertOK(m.select("INBOX"))
        # A second STARTTLS inside TLS must not succeed.
        c = self.raw(login=False)
        r = c.command("STARTTLS")
        self.assertStatus(r, "OK")
        c.sock = tls_context().wrap_socket(c.sock, server_hostname="127.0.0.1")
        r = c.command("STARTTLS")
        self.assertNotEqual(r.status, "OK", "STARTTLS inside TLS")
        r = c.command("CAPABILITY")
        self.assertStatus(r, "OK")

    def test_starttls_discards_pipelined_plaintext(self):
        # A command sent in the clear behind STARTTLS must not run inside the TLS session
        # (the STARTTLS command-injection attack, CVE-2011-0411 and its IMAP cousins).
        c = self.raw(login=False)
        c.send(b"inj1 STARTTLS\r\ninj2 CAPABILITY\r\n")
        r = c.read_response()
        self.assertEqual(r.tag, "inj1")
        self.assertStatus(r, "OK")
        try:
            c.sock = tls_context().wrap_socket(c.sock, server_hostname="127.0.0.1")
        except (ssl.SSLError, OSError):
            return  # refusing the handshake is a safe answer too
        c.buf = bytearray()
        r = c.command("CAPABILITY")
        self.assertStatus(r, "OK")
        self.assertFalse(any(u.tag == "inj2" for u in r.untagged), "inj2 was executed")

    def test_starttls_when_authenticated_is_refused(self):
        c = self.raw()
        r = c.command("STARTTLS")
        self.assertIn(r.status, ("BAD", "NO"), "STARTTLS is only valid before login")
        self.assertAlive(c)

    def test_implicit_tls(self):
        m = self.imap(tls=True, login=False)
        self.assertNotIn("STARTTLS", m.capabilities, "no STARTTLS on the implicit-TLS port")
        m.login(*self.user)
        self.assertOK(m.select("INBOX", readonly=True))
        self.assertEqual(m.state, "SELECTED")

    def test_login_good_and_bad(self):
        # Failed logins are throttled per source address (tern-authd), so this suite keeps
        # them to three: a bad LOGIN here, a bad AUTHENTICATE via imaplib and via SASL-IR.
        c = self.raw(login=False)
        r = c.command("LOGIN ", quote(self.user[0]), " ", quote("wrong-" + self.user[1]))
        self.assertStatus(r, "NO")
        if r.code:
            self.assertEqual(r.code_name(), "AUTHENTICATIONFAILED", r.raw)
        r = c.command("SELECT INBOX")
        self.assertStatus(r, "BAD", msg="still not authenticated after a failed LOGIN")
        # Literals for both arguments.
        r = c.command("LOGIN ", Literal(self.user[0]), " ", Literal(self.user[1]))
        self.assertStatus(r, "OK")
        self.assertEqual(r.continuations, 2)
        self.assertStatus(c.command("SELECT INBOX"), "OK")
        # imaplib
        m = self.imap(login=False)
        typ, _ = m.login(*self.user)
        self.assertEqual(typ, "OK")
        self.assertEqual(m.state, "AUTH")

    def test_authenticate_plain_imaplib(self):
        m = self.imap(login=False)
        user, pw = self.user
        typ, _ = m.authenticate("PLAIN", lambda _: f"\0{user}\0{pw}".encode())
        self.assertEqual(typ, "OK")
        self.assertEqual(m.state, "AUTH")
        self.assertOK(m.select("INBOX"))
        m2 = self.imap(login=False)
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m2.authenticate("PLAIN", lambda _: f"\0{user}\0wrong".encode())
        self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))

    def test_authenticate_plain_sasl_ir(self):
        user, pw = self.user
        c = self.raw(login=False)
        ir = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
        r = c.command("AUTHENTICATE PLAIN ", ir)
        self.assertStatus(r, "OK")
        self.assertEqual(r.continuations, 0, "SASL-IR: no continuation round trip")
        self.assertStatus(c.command("SELECT INBOX"), "OK")
        # Bad credentials -> NO [AUTHENTICATIONFAILED]
        c2 = self.raw(login=False)
        bad = base64.b64encode(f"\0{user}\0not-{pw}".encode()).decode()
        r = c2.command("AUTHENTICATE PLAIN ", bad)
        self.assertStatus(r, "NO", "AUTHENTICATIONFAILED")
        # The connection is still usable and still not authenticated.
        self.assertAlive(c2)
        self.assertStatus(c2.command("SELECT INBOX"), "BAD")

    def test_authenticate_plain_with_continuation(self):
        user, pw = self.user
        c = self.raw(login=False)
        tag = c.next_tag()
        c.send(f"{tag} AUTHENTICATE PLAIN\r\n")
        cont = c.read_response()
        self.assertEqual(cont.tag, "+", cont.raw)
        c.send(base64.b64encode(f"\0{user}\0{pw}".encode()) + b"\r\n")
        r = c.read_response()
        while r.tag == "*":
            r = c.read_response()
        self.assertEqual(r.tag, tag)
        self.assertStatus(r, "OK")
        # Cancelling with "*" gives BAD (RFC 3501 6.2.2).
        c2 = self.raw(login=False)
        tag = c2.next_tag()
        c2.send(f"{tag} AUTHENTICATE PLAIN\r\n")
        self.assertEqual(c2.read_response().tag, "+")
        c2.send(b"*\r\n")
        r = c2.read_response()
        self.assertEqual(r.tag, tag)
        self.assertStatus(r, "BAD")
        self.assertAlive(c2)

    def test_authenticate_login_mechanism(self):
        c = self.raw(login=False)
        caps = {str(x).upper() for x in c.command("CAPABILITY").untagged[0].data}
        if "AUTH=LOGIN" not in caps:
            self.skipTest("AUTH=LOGIN not advertised")
        tag = c.next_tag()
        c.send(f"{tag} AUTHENTICATE LOGIN\r\n")
        self.assertEqual(c.read_response().tag, "+")
        c.send(base64.b64encode(self.user[0].encode()) + b"\r\n")
        self.assertEqual(c.read_response().tag, "+")
        c.send(base64.b64encode(self.user[1].encode()) + b"\r\n")
        r = c.read_response()
        while r.tag == "*":
            r = c.read_response()
        self.assertEqual(r.tag, tag)
        self.assertStatus(r, "OK")

    def test_authenticate_scram_sha256(self):
        m = self.imap(login=False)
        if "AUTH=SCRAM-SHA-256" not in m.capabilities:
            self.skipTest("AUTH=SCRAM-SHA-256 not advertised")
        scram = ScramSha256(*self.user)
        typ, _ = m.authenticate("SCRAM-SHA-256", scram)
        self.assertEqual(typ, "OK")
        self.assertTrue(scram.verified, "the server proved it knows the password (v=...)")
        self.assertEqual(m.state, "AUTH")
        self.assertOK(m.select("INBOX", readonly=True))

    def test_authenticate_unknown_mechanism(self):
        c = self.raw(login=False)
        r = c.command("AUTHENTICATE X-NO-SUCH-MECH")
        self.assertStatus(r, "NO")
        self.assertAlive(c)

    def test_id(self):
        m = self.imap(login=False)
        typ, _ = m.xatom("ID", '("name" "imaplib_test" "version" "1.0")')
        self.assertEqual(typ, "OK")
        ids = untagged(m, "ID")
        self.assertEqual(len(ids), 1, "exactly one untagged ID response")
        value = ids[0].data[0]
        self.assertTrue(value is None or (isinstance(value, list) and len(value) % 2 == 0),
                        ids[0].raw)
        m.login(*self.user)
        typ, _ = m.xatom("ID", "NIL")
        self.assertEqual(typ, "OK")
        self.assertEqual(len(untagged(m, "ID")), 1)

    def test_enable(self):
        c = self.raw(login=False)
        r = c.command("ENABLE CONDSTORE")
        self.assertStatus(r, "BAD", msg="ENABLE is only valid in the authenticated state")
        m = self.shared()
        typ, _ = m.enable("X-UNKNOWN-EXTENSION")
        self.assertEqual(typ, "OK")
        enabled = untagged(m, "ENABLED")
        self.assertLessEqual(len(enabled), 1)
        for e in enabled:
            self.assertNotIn("X-UNKNOWN-EXTENSION", [str(x).upper() for x in e.data],
                             "an unknown extension must not be reported as enabled")

    def test_namespace(self):
        m = self.shared()
        typ, data = m.namespace()
        self.assertEqual(typ, "OK")
        ns = untagged(m, "NAMESPACE")
        self.assertEqual(len(ns), 1)
        personal, other, shared = ns[0].data
        self.assertIsInstance(personal, list)
        self.assertTrue(personal, "a personal namespace")
        prefix, delim = personal[0]
        self.assertEqual(delim, b"/")
        self.assertEqual(prefix, b"")


# ---------------------------------------------------------------------------------------------


class MailboxTests(IMAPTestCase):
    """CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, SELECT/EXAMINE."""

    @classmethod
    def setUpClass(cls):
        if "user" in cls.__dict__:
            return  # the class's late tests: same user and data
        cls.user = new_user()

    def setUp(self):
        super().setUp()
        self.m = self.shared()

    def list(self, ref='""', pattern='"*"'):
        typ, _ = self.m.list(ref, pattern)
        self.assertEqual(typ, "OK")
        return list_entries(self.m.last_responses())

    def test_list_hierarchy_delimiter(self):
        entries = self.list('""', '""')
        self.assertEqual(len(entries), 1, entries)
        name, (attrs, delim) = next(iter(entries.items()))
        self.assertEqual(name, "")
        self.assertEqual(delim, b"/")
        self.assertIn("\\noselect", attrs)

    def test_select_inbox_responses(self):
        m = self.m
        for i in range(3):
            m.append("INBOX", "(\\Seen)" if i == 0 else None, None, simple_message(f"sel {i}"))
        typ, data = m.select("INBOX")
        self.assertEqual(typ, "OK")
        info = selected_info(m.last_responses())
        self.assertIsNotNone(info["FLAGS"], "untagged FLAGS")
        self.assertLessEqual({"\\answered", "\\flagged", "\\deleted", "\\seen", "\\draft"},
                             norm_flags(info["FLAGS"]))
        self.assertGreaterEqual(info["EXISTS"], 3)
        self.assertIsNotNone(info["RECENT"], "untagged RECENT")
        for code in ("UIDVALIDITY", "UIDNEXT", "PERMANENTFLAGS"):
            self.assertIn(code, info["codes"], f"untagged OK [{code}]")
        self.assertGreater(int(info["codes"]["UIDVALIDITY"]), 0)
        self.assertGreater(int(info["codes"]["UIDNEXT"]), 0)
        self.assertIn("\\*", info["codes"]["PERMANENTFLAGS"])
        self.assertEqual(info["tagged"].code_name(), "READ-WRITE")
        if "UNSEEN" in info["codes"]:
            first_unseen = int(info["codes"]["UNSEEN"])
            m.fetch("1:*", "(FLAGS)")
            fm = fetch_map(m.last_responses())
            expected = min(n for n, d in fm.items() if "\\seen" not in norm_flags(flags_of(d["FLAGS"])))
            self.assertEqual(first_unseen, expected, "[UNSEEN n] is the first unseen message")
        # UIDNEXT is above every UID in use.
        m.uid("FETCH", "1:*", "(UID)")
        uids = [int(d["UID"]) for d in fetch_map(m.last_responses()).values()]
        self.assertGreater(int(info["codes"]["UIDNEXT"]), max(uids))
        # EXAMINE: READ-ONLY and an empty (or absent) PERMANENTFLAGS.
        typ, _ = m.select("INBOX", readonly=True)
        self.assertEqual(typ, "OK")
        info = selected_info(m.last_responses())
        self.assertEqual(info["tagged"].code_name(), "READ-ONLY")
        self.assertIsNotNone(info["FLAGS"])
        self.assertIsNotNone(info["EXISTS"])
        self.assertIsNotNone(info["RECENT"])
        self.assertIn("UIDVALIDITY", info["codes"])
        self.assertIn("UIDNEXT", info["codes"])

    def test_select_nonexistent_deselects(self):
        m = self.m
        self.assertOK(m.select("INBOX"))
        typ, _ = m.select("No-Such-Mailbox")
        self.assertEqual(typ, "NO")
        c = self.raw()
        self.assertStatus(c.command("SELECT INBOX"), "OK")
        self.assertStatus(c.command("SELECT No-Such-Mailbox"), "NO")
        r = c.command("FETCH 1 FLAGS")
        self.assertStatus(r, "BAD", msg="a failed SELECT leaves no mailbox selected")

    def test_create_delete(self):
        m = self.m
        self.assertOK(m.create("Alpha"))
        self.assertIn("Alpha", self.list('""', "Alpha"))
        typ, _ = m.create("Alpha")
        self.assertEqual(typ, "NO", "CREATE of an existing name")
        self.assertOK(m.delete("Alpha"))
        self.assertNotIn("Alpha", self.list())
        typ, _ = m.delete("Alpha")
        self.assertEqual(typ, "NO", "DELETE of a missing name")
        for name in ("INBOX", "inbox"):
            typ, _ = m.create(name)
            self.assertEqual(typ, "NO", f"CREATE {name}")
        typ, _ = m.delete("INBOX")
        self.assertEqual(typ, "NO", "DELETE INBOX")
        self.assertIn("INBOX", self.list('""', "INBOX"))

    def test_hierarchy_and_children(self):
        m = self.m
        self.assertOK(m.create("Proj/2024/Q1"))
        entries = self.list('""', '"Proj*"')
        self.assertIn("Proj/2024/Q1", entries)
        # CREATE SHOULD create the superior names (RFC 3501 6.3.3).
        self.assertIn("Proj", entries)
        self.assertIn("Proj/2024", entries)
        self.assertIn("\\haschildren", entries["Proj"][0])
        self.assertIn("\\haschildren", entries["Proj/2024"][0])
        self.assertIn("\\hasnochildren", entries["Proj/2024/Q1"][0])
        for name, (attrs, delim) in entries.items():
            self.assertEqual(delim, b"/")
            self.assertFalse({"\\haschildren", "\\hasnochildren"} <= attrs, name)
        self.assertEqual(set(self.list('""', '"Proj/%"')), {"Proj/2024"})
        self.assertEqual(set(self.list('"Proj/"', '"%"')), {"Proj/2024"})
        self.assertEqual(set(self.list('"Proj/"', '"*"')), {"Proj/2024", "Proj/2024/Q1"})
        top = self.list('""', '"%"')
        self.assertIn("Proj", top)
        self.assertIn("INBOX", top)
        self.assertFalse(any("/" in n for n in top), f"% must not match the delimiter: {top}")

    def test_delete_parent_with_children(self):
        m = self.m
        self.assertOK(m.create("Par"))
        self.assertOK(m.create("Par/Child"))
        m.append("Par", None, None, simple_message("in parent"))
        # RFC 3501 6.3.4: allowed; the name then becomes \Noselect and the child survives.
        self.assertOK(m.delete("Par"))
        entries = self.list('""', '"Par*"')
        self.assertIn("Par/Child", entries, "DELETE MUST NOT remove inferior names")
        self.assertIn("Par", entries)
        self.assertIn("\\noselect", entries["Par"][0])
        typ, _ = m.select("Par")
        self.assertEqual(typ, "NO", "a \\Noselect name cannot be selected")
        typ, _ = m.delete("Par")
        self.assertEqual(typ, "NO", "deleting a \\Noselect name with inferiors is an error")
        self.assertOK(m.delete("Par/Child"))
        self.assertNotIn("Par/Child", self.list())

    def test_rename_with_inferiors(self):
        m = self.m
        self.assertOK(m.create("Old/Sub"))
        self.assertOK(m.append("Old/Sub", None, None, simple_message("in sub")))
        self.assertOK(m.rename("Old", "New"))
        entries = self.list('""', '"*"')
        self.assertIn("New", entries)
        self.assertIn("New/Sub", entries, "RENAME renames inferior names too")
        self.assertNotIn("Old", entries)
        self.assertNotIn("Old/Sub", entries)
        m.status("New/Sub", "(MESSAGES)")
        st = untagged(m, "STATUS")
        self.assertEqual(parse_status_items(st[0].data[1])["MESSAGES"], "1")
        self.assertOK(m.create("Other"))
        typ, _ = m.rename("New", "Other")
        self.assertEqual(typ, "NO", "RENAME onto an existing name")
        typ, _ = m.rename("Missing", "Whatever")
        self.assertEqual(typ, "NO", "RENAME of a missing name")
        # RENAME SHOULD create superior names of the new name.
        self.assertOK(m.rename("Other", "Deep/Er/Other"))
        entries = self.list('""', '"Deep*"')
        self.assertIn("Deep/Er/Other", entries)

    def test_rename_inbox(self):
        user = new_user()
        m = self.imap(user, label="inbox-rename")
        uids = []
        for i in range(2):
            self.assertOK(m.append("INBOX", None, None, simple_message(f"inbox {i}")))
            uidv, uid = (int(x) for x in m.last_tagged().code_args().split())
            uids.append(uid)
        self.assertOK(m.rename("INBOX", '"Old Inbox"'))
        typ, _ = m.list('""', '"*"')
        entries = list_entries(m.last_responses())
        self.assertIn("INBOX", entries, "INBOX still exists after RENAME INBOX")
        self.assertIn("Old Inbox", entries)
        m.status("INBOX", "(MESSAGES)")
        self.assertEqual(parse_status_items(untagged(m, "STATUS")[0].data[1])["MESSAGES"], "0")
        m.status('"Old Inbox"', "(MESSAGES)")
        self.assertEqual(parse_status_items(untagged(m, "STATUS")[0].data[1])["MESSAGES"], "2")
        # New INBOX messages must not reuse the UIDs the moved messages had.
        typ, data = m.append("INBOX", None, None, simple_message("after rename"))
        uidv2, uid2 = (int(x) for x in data[0].decode().split("]")[0].split()[1:3])
        self.assertTrue(uidv2 != uidv or uid2 > max(uids),
                        f"INBOX UID {uid2} reused under UIDVALIDITY {uidv2}")

    def test_modified_utf7_names(self):
        m = self.m
        self.assertOK(m.create("Entw&APw-rfe"))
        entries = self.list('""', '"Entw*"')
        self.assertIn("Entw&APw-rfe", entries)
        self.assertOK(m.append("Entw&APw-rfe", None, None, simple_message("utf7")))
        typ, _ = m.status("Entw&APw-rfe", "(MESSAGES)")
        self.assertEqual(typ, "OK")
        st = untagged(m, "STATUS")[0]
        name = st.data[0]
        self.assertEqual(name.decode() if isinstance(name, bytes) else str(name), "Entw&APw-rfe")
        self.assertOK(m.select("Entw&APw-rfe"))
        self.assertOK(m.unselect())
        self.assertOK(m.rename("Entw&APw-rfe", "&ZeVnLIqe-/&AMk-t&AOk-"))  # 日本語/Été
        entries = self.list('""', '"*"')
        self.assertIn("&ZeVnLIqe-/&AMk-t&AOk-", entries)
        self.assertIn("&ZeVnLIqe-", entries)
        self.assertNotIn("Entw&APw-rfe", entries)
        self.assertOK(m.delete("&ZeVnLIqe-/&AMk-t&AOk-"))
        # "&" itself is "&-" in modified UTF-7.
        self.assertOK(m.create('"R&-D Team"'))
        self.assertIn("R&-D Team", self.list('""', '"R*"'))

    def test_uids_not_reused_after_recreate(self):
        m = self.m
        self.assertOK(m.create("Phoenix"))
        typ, data = m.append("Phoenix", None, None, simple_message("first life"))
        uidv, uid = (int(x) for x in data[0].decode().split("]")[0].split()[1:3])
        self.assertOK(m.delete("Phoenix"))
        self.assertOK(m.create("Phoenix"))
        typ, data = m.append("Phoenix", None, None, simple_message("second life"))
        uidv2, uid2 = (int(x) for x in data[0].decode().split("]")[0].split()[1:3])
        self.assertTrue(uidv2 != uidv or uid2 > uid,
                        f"UID {uid2} reused under UIDVALIDITY {uidv2} (was {uid} under {uidv})")
        # The same after RENAME (RFC 3501 6.3.5).
        self.assertOK(m.rename("Phoenix", "Phoenix2"))
        self.assertOK(m.create("Phoenix"))
        typ, data = m.append("Phoenix", None, None, simple_message("third life"))
        uidv3, uid3 = (int(x) for x in data[0].decode().split("]")[0].split()[1:3])
        self.assertTrue(uidv3 != uidv2 or uid3 > uid2,
                        f"UID {uid3} reused under UIDVALIDITY {uidv3} after RENAME "
                        f"(was {uid2} under {uidv2})")

    def test_subscribe_lsub(self):
        m = self.m
        self.assertOK(m.create("Subs"))
        self.assertOK(m.create("Subs/Inner"))
        self.assertOK(m.subscribe("Subs"))
        typ, _ = m.lsub('""', '"*"')
        self.assertEqual(typ, "OK")
        lsub = list_entries(m.last_responses(), "LSUB")
        self.assertIn("Subs", lsub)
        self.assertNotIn("Subs/Inner", lsub)
        for attrs, delim in lsub.values():
            self.assertEqual(delim, b"/")
        self.assertOK(m.unsubscribe("Subs"))
        m.lsub('""', '"*"')
        self.assertNotIn("Subs", list_entries(m.last_responses(), "LSUB"))
        # RFC 3501 6.3.6: the server MUST NOT unilaterally remove a name from the
        # subscription list, even when the mailbox no longer exists.
        self.assertOK(m.create("Ephemeral"))
        self.assertOK(m.subscribe("Ephemeral"))
        self.assertOK(m.delete("Ephemeral"))
        m.lsub('""', '"*"')
        self.assertIn("Ephemeral", list_entries(m.last_responses(), "LSUB"),
                      "subscription of a deleted mailbox is kept")

    def test_lsub_percent_with_unsubscribed_parent(self):
        m = self.m
        self.assertOK(m.create("Lsp/Child"))
        self.assertOK(m.subscribe("Lsp/Child"))
        typ, _ = m.lsub('""', '"Lsp%"')
        self.assertEqual(typ, "OK")
        lsub = list_entries(m.last_responses(), "LSUB")
        # RFC 3501 6.3.9: "%" must return the unsubscribed parent, flagged \Noselect.
        self.assertEqual(set(lsub), {"Lsp"}, lsub)
        self.assertIn("\\noselect", lsub["Lsp"][0])
        m.lsub('""', '"Lsp/%"')
        self.assertEqual(set(list_entries(m.last_responses(), "LSUB")), {"Lsp/Child"})

    def test_create_with_trailing_delimiter(self):
        m = self.m
        self.assertOK(m.create("Trail/"))
        entries = self.list('""', '"Trail*"')
        self.assertIn("Trail", entries, "CREATE \"Trail/\" declares the name \"Trail\"")
        self.assertNotIn("Trail/", entries)

    def test_inbox_name_case_insensitive_everywhere(self):
        m = self.m
        self.assertOK(m.append("Inbox", None, None, simple_message("mixed-case inbox")))
        typ, _ = m.status("inbox", "(MESSAGES)")
        self.assertEqual(typ, "OK")
        st = untagged(m, "STATUS")[0]
        name = st.data[0].decode() if isinstance(st.data[0], bytes) else str(st.data[0])
        self.assertEqual(name.upper(), "INBOX")
        self.assertGreaterEqual(int(parse_status_items(st.data[1])["MESSAGES"]), 1)

    def test_list_inbox_case_insensitive(self):
        entries = self.list('""', "inbox")
        self.assertEqual(set(entries), {"INBOX"})
        self.assertOK(self.m.select("inbox"))

    def test_status(self):
        m = self.m
        self.assertOK(m.create("St"))
        uids = []
        uidv = None
        for i, flags in enumerate(["(\\Seen)", None, None]):
            typ, data = m.append("St", flags, None, simple_message(f"status {i}"))
            self.assertEqual(typ, "OK")
            code = data[0].decode()
            mo = re.match(r"\[APPENDUID (\d+) (\d+)\]", code)
            self.assertIsNotNone(mo, f"APPENDUID in {code!r}")
            uidv = int(mo.group(1))
            uids.append(int(mo.group(2)))
        typ, _ = m.status("St", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
        self.assertEqual(typ, "OK")
        st = untagged(m, "STATUS")
        self.assertEqual(len(st), 1)
        name, items = st[0].data
        self.assertEqual(name.decode() if isinstance(name, bytes) else str(name), "St")
        items = parse_status_items(items)
        self.assertEqual(set(items), {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"})
        self.assertEqual(int(items["MESSAGES"]), 3)
        self.assertEqual(int(items["RECENT"]), 3, "no session has seen these messages yet")
        self.assertEqual(int(items["UNSEEN"]), 2)
        self.assertEqual(int(items["UIDVALIDITY"]), uidv)
        self.assertGreater(int(items["UIDNEXT"]), max(uids))
        # APPENDLIMIT (RFC 7889): a number no larger than the advertised limit, or NIL.
        typ, _ = m.status("St", "(APPENDLIMIT)")
        self.assertEqual(typ, "OK")
        items = parse_status_items(untagged(m, "STATUS")[0].data[1])
        limit = items["APPENDLIMIT"]
        cap = [c for c in m.capabilities if c.startswith("APPENDLIMIT")]
        if limit is not None and cap and "=" in cap[0]:
            self.assertLessEqual(int(limit), int(cap[0].split("=")[1]))
        typ, _ = m.status("No-Such", "(MESSAGES)")
        self.assertEqual(typ, "NO")

    def test_special_use_default_folders(self):
        user = new_user()
        m = self.imap(user, label="fresh")
        typ, _ = m.list('""', '"*"')
        self.assertEqual(typ, "OK")
        entries = list_entries(m.last_responses())
        self.assertIn("INBOX", entries)
        print(f"\n    default folders of a new user: "
              f"{ {n: sorted(a) for n, (a, d) in entries.items()} }", file=sys.stderr)
        expected = {"Sent": "\\sent", "Drafts": "\\drafts", "Trash": "\\trash",
                    "Junk": "\\junk", "Archive": "\\archive"}
        for name, use in expected.items():
            if name in entries:
                self.assertIn(use, entries[name][0], f"{name} carries {use}")
        uses = {"\\sent", "\\drafts", "\\trash", "\\junk", "\\archive", "\\all", "\\flagged"}
        self.assertFalse(uses & entries["INBOX"][0], "INBOX has no special-use attribute")
        for name, (attrs, _) in entries.items():
            for u in attrs & uses:
                self.assertEqual(sum(1 for a, _ in entries.values() if u in a), 1,
                                 f"{u} on exactly one mailbox")
        # LSUB does not carry special-use attributes (RFC 6154 2) — but must parse.
        typ, _ = m.lsub('""', '"*"')
        self.assertEqual(typ, "OK")


# ---------------------------------------------------------------------------------------------


class AppendTests(IMAPTestCase):
    """APPEND with flags and dates, APPENDUID, LITERAL+, APPENDLIMIT, TRYCREATE."""

    @classmethod
    def setUpClass(cls):
        if "user" in cls.__dict__:
            return  # the class's late tests: same user and data
        cls.user = new_user()
        m = cls._shared_conn = TIMAP4(label="shared")
        m.login(*cls.user)
        m.create("Appends")

    def test_append_flags_date_appenduid(self):
        m = self.shared()
        msg = MULTI.bytes()
        typ, data = m.append("Appends", "(\\Seen \\Flagged $Label1)",
                             '"17-Jul-1996 02:44:25 -0700"', msg)
        self.assertEqual(typ, "OK")
        tagged = m.last_tagged()
        self.assertEqual(tagged.code_name(), "APPENDUID", tagged.raw)
        uidv, uid = (int(x) for x in tagged.code_args().split())
        typ, _ = m.select("Appends")
        info = selected_info(m.last_responses())
        self.assertEqual(int(info["codes"]["UIDVALIDITY"]), uidv)
        self.assertIn("$label1", norm_flags(info["FLAGS"]), "FLAGS lists keywords in use")
        m.uid("FETCH", str(uid), "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
        fm = fetch_map(m.last_responses())
        self.assertEqual(len(fm), 1)
        d = next(iter(fm.values()))
        self.assertEqual(int(d["UID"]), uid)
        self.assertLessEqual({"\\seen", "\\flagged", "$label1"}, norm_flags(flags_of(d["FLAGS"])))
        got = parse_internaldate(d["INTERNALDATE"])
        want = datetime.datetime(1996, 7, 17, 2, 44, 25,
                                 tzinfo=datetime.timezone(datetime.timedelta(hours=-7)))
        self.assertEqual(got, want, "INTERNALDATE is the APPEND date")
        self.assertEqual(int(d["RFC822.SIZE"]), len(msg))
        self.assertEqual(d["BODY[]"], msg)

    def test_internaldate_single_digit_day(self):
        m = self.shared()
        typ, data = m.append("Appends", None, '" 5-Jan-2021 09:08:07 +0200"',
                             simple_message("digit day"))
        self.assertEqual(typ, "OK")
        uid = int(m.last_tagged().code_args().split()[1])
        m.select("Appends", readonly=True)
        m.uid("FETCH", str(uid), "(INTERNALDATE)")
        d = next(iter(fetch_map(m.last_responses()).values()))
        raw = d["INTERNALDATE"]
        self.assertIsInstance(raw, bytes, "INTERNALDATE is a quoted string")
        got = parse_internaldate(raw)
        self.assertEqual(got, datetime.datetime(2021, 1, 5, 9, 8, 7, tzinfo=datetime.timezone(
            datetime.timedelta(hours=2))))

    def test_append_without_date_uses_now(self):
        m = self.shared()
        before = datetime.datetime.now(datetime.timezone.utc)
        self.assertOK(m.append("Appends", None, None, simple_message("now")))
        uid = int(m.last_tagged().code_args().split()[1])
        m.select("Appends", readonly=True)
        m.uid("FETCH", str(uid), "(INTERNALDATE)")
        got = parse_internaldate(next(iter(fetch_map(m.last_responses()).values()))["INTERNALDATE"])
        self.assertLess(abs((got - before).total_seconds()), 120)

    def test_append_to_missing_mailbox_trycreate(self):
        m = self.shared()
        typ, data = m.append("Does-Not-Exist", None, None, simple_message("nowhere"))
        self.assertEqual(typ, "NO")
        self.assertEqual(m.last_tagged().code_name(), "TRYCREATE")

    @late
    def test_append_to_selected_mailbox_announces_exists(self):
        m = self.shared()
        typ, data = m.select("Appends")
        before = int(data[0])
        self.assertOK(m.append("Appends", None, None, simple_message("while selected")))
        exists = [r.num for r in m.last_responses() if r.kind == "EXISTS"]
        if not exists:
            self.assertOK(m.noop())
            exists = [r.num for r in m.last_responses() if r.kind == "EXISTS"]
        self.assertEqual(exists[-1:], [before + 1], "EXISTS announces the appended message")

    def test_append_literal_plus(self):
        c = self.raw()
        msg = PLAIN.bytes()
        r = c.command("APPEND Appends (\\Draft) ", Literal(msg, plus=True))
        self.assertStatus(r, "OK", "APPENDUID")
        self.assertEqual(r.continuations, 0, "no continuation for a {n+} literal")
        uid = r.code_args().split()[1]
        c.ok("SELECT Appends")
        r = c.ok("UID FETCH ", uid, " (FLAGS BODY.PEEK[])")
        d = fetch_map(r.untagged)
        self.assertEqual(len(d), 1)
        d = next(iter(d.values()))
        self.assertEqual(d["BODY[]"], msg)
        self.assertIn("\\draft", norm_flags(flags_of(d["FLAGS"])))
        # Pipelined LITERAL+ APPENDs in one write.
        t1, t2 = c.next_tag(), c.next_tag()
        a = simple_message("pipe a")
        b = simple_message("pipe b")
        c.send(b"%s APPEND Appends {%d+}\r\n%s\r\n%s APPEND Appends {%d+}\r\n%s\r\n" % (
            t1.encode(), len(a), a, t2.encode(), len(b), b))
        tags = []
        while len(tags) < 2:
            resp = c.read_response()
            self.assertNotEqual(resp.tag, "+", "no continuation for {n+}")
            if resp.tag not in ("*",):
                tags.append((resp.tag, resp.status))
        self.assertEqual(tags, [(t1, "OK"), (t2, "OK")])

    def test_append_too_big(self):
        c = self.raw()
        r = c.command("CAPABILITY")
        caps = [str(x) for x in r.untagged[0].data]
        limit = int([x for x in caps if x.upper().startswith("APPENDLIMIT=")][0].split("=")[1])
        tag = c.next_tag()
        c.send(f"{tag} APPEND Appends {{{limit + 1}}}\r\n")
        resp = c.read_response()
        self.assertNotEqual(resp.tag, "+", "no continuation for a literal above APPENDLIMIT")
        self.assertEqual(resp.tag, tag)
        self.assertStatus(resp, "NO", "TOOBIG")
        self.assertAlive(c)

    def test_append_bad_flag_and_date(self):
        c = self.raw()
        r = c.command("APPEND Appends (\\Recent) ", Literal(simple_message("x")))
        self.assertNotEqual(r.status, "OK", "\\Recent cannot be set by APPEND")
        r = c.command('APPEND Appends "32-Foo-2020 99:00:00 +0000" ',
                      Literal(simple_message("x")))
        self.assertStatus(r, "BAD", msg="invalid date-time")
        self.assertAlive(c)


# ---------------------------------------------------------------------------------------------


class FetchTests(IMAPTestCase):
    """FETCH of every data item, compared with the bytes appended."""

    @classmethod
    def setUpClass(cls):
        if "user" in cls.__dict__:
            return  # the class's late tests: same user and data
        cls.user = new_user()
        m = cls._shared_conn = TIMAP4(label="shared")
        m.login(*cls.user)
        m.create("Fetch")
        cls.uids = []
        for msg, date in zip(MESSAGES, INTERNALDATES):
            typ, data = m.append("Fetch", None, date, msg.bytes())
            assert typ == "OK", data
            cls.uids.append(int(m.last_tagged().code_args().split()[1]))

    def setUp(self):
        super().setUp()
        self.m = self.shared()
        typ, data = self.m.select("Fetch")
        self.assertEqual(typ, "OK")
        self.assertEqual(int(data[0]), len(MESSAGES))

    def fetch(self, seq, items, uid=False):
        if uid:
            typ, _ = self.m.uid("FETCH", str(seq), items)
        else:
            typ, _ = self.m.fetch(str(seq), items)
        self.assertEqual(typ, "OK")
        return fetch_map(self.m.last_responses())

    def one(self, seq, items):
        fm = self.fetch(seq, items)
        self.assertIn(seq, fm, f"no FETCH response for {seq}")
        return fm[seq]

    def test_body_full_and_size(self):
        fm = self.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[])")
        self.assertEqual(sorted(fm), [1, 2, 3, 4, 5])
        for n, msg in enumerate(MESSAGES, 1):
            with self.subTest(message=n):
                raw = msg.bytes()
                self.assertEqual(int(fm[n]["UID"]), self.uids[n - 1])
                self.assertEqual(int(fm[n]["RFC822.SIZE"]), len(raw))
                self.assertEqual(fm[n]["BODY[]"], raw)

    def test_rfc822_items(self):
        d = self.one(1, "(RFC822.HEADER RFC822.TEXT RFC822 RFC822.SIZE)")
        self.assertEqual(d["RFC822.HEADER"], PLAIN.header_bytes())
        self.assertEqual(d["RFC822.TEXT"], PLAIN.body_bytes())
        self.assertEqual(d["RFC822"], PLAIN.bytes())
        self.assertEqual(int(d["RFC822.SIZE"]), len(PLAIN.bytes()))

    def test_header_sections(self):
        d = self.one(2, "(BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] "
                        "BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)] BODY.PEEK[TEXT])")
        self.assertEqual(d["BODY[HEADER]"], MULTI.header_bytes())
        self.assertNotIn("BODY.PEEK[HEADER]", d, "the response never says .PEEK")
        self.assertEqual(d["BODY[TEXT]"], MULTI.body_bytes())
        fields = d["BODY[HEADER.FIELDS (SUBJECT FROM)]"]
        self.assertEqual(fields,
                         b"From: Carol <carol@example.net>\r\nSubject: Holiday photos\r\n\r\n")
        not_subject = d["BODY[HEADER.FIELDS.NOT (SUBJECT)]"]
        self.assertEqual(not_subject, MULTI.header_bytes().replace(b"Subject: Holiday photos\r\n",
                                                                   b""))
        # Field names are case-insensitive; a missing field gives just the blank line.
        d = self.one(1, "(BODY.PEEK[HEADER.FIELDS (x-tern-test X-Missing)])")
        key = [k for k in d if k.startswith("BODY[HEADER.FIELDS")]
        self.assertEqual(len(key), 1, d.keys())
        self.assertEqual(d[key[0]], b"X-Tern-Test: alpha-beta\r\n\r\n")
        d = self.one(1, '(BODY.PEEK[HEADER.FIELDS ("Subject" x-dup)])')
        key = [k for k in d if k.startswith("BODY[HEADER.FIELDS")]
        self.assertEqual(d[key[0]], b"Subject: Quarterly report\r\nX-Dup: one\r\nX-Dup: two\r\n\r\n",
                         "header-fld-name may be a quoted string")
        d = self.one(1, "(BODY.PEEK[HEADER.FIELDS (X-DUP)])")
        self.assertEqual(d.get("BODY[HEADER.FIELDS (X-DUP)]"), b"X-Dup: one\r\nX-Dup: two\r\n\r\n",
                         "every occurrence of a field, in message order")
        # A folded field comes back with its continuation line.
        d = self.one(1, "(BODY.PEEK[HEADER.FIELDS (X-FOLDED)])")
        self.assertEqual(d.get("BODY[HEADER.FIELDS (X-FOLDED)]"),
                         b"X-Folded: first part of a long value\r\n\tand its second line\r\n\r\n")

    def test_multipart_sections(self):
        items = ["1", "1.MIME", "2", "2.MIME", "2.1", "2.2", "2.2.MIME", "3", "3.MIME"]
        d = self.one(2, "(" + " ".join(f"BODY.PEEK[{s}]" for s in items) + ")")
        for s in items:
            with self.subTest(section=s):
                if s.endswith(".MIME"):
                    want = MULTI.node(s[:-5]).header_bytes()
                else:
                    want = MULTI.node(s).body_bytes()
                self.assertEqual(d.get(f"BODY[{s}]"), want)

    def test_message_rfc822_sections(self):
        items = ["1", "2", "2.MIME", "2.HEADER", "2.TEXT", "2.1", "2.HEADER.FIELDS (SUBJECT)"]
        d = self.one(3, "(" + " ".join(f"BODY.PEEK[{s}]" for s in items) + ")")
        self.assertEqual(d.get("BODY[1]"), FWD.parts[0].body_bytes())
        self.assertEqual(d.get("BODY[2]"), INNER.bytes(), "BODY[2] is the encapsulated message")
        self.assertEqual(d.get("BODY[2.MIME]"), FWD.parts[1].header_bytes())
        self.assertEqual(d.get("BODY[2.HEADER]"), INNER.header_bytes())
        self.assertEqual(d.get("BODY[2.TEXT]"), INNER.body_bytes())
        self.assertEqual(d.get("BODY[2.1]"), INNER.body_bytes(),
                         "part 1 of a non-multipart encapsulated message is its body")
        self.assertEqual(d.get("BODY[2.HEADER.FIELDS (SUBJECT)]"),
                         b"Subject: Original subject\r\n\r\n")

    def test_multipart_digest(self):
        m = self.m
        self.assertOK(m.create("Digest"))
        self.assertOK(m.append("Digest", None, None, DIGEST.bytes()))
        self.assertOK(m.select("Digest", readonly=True))
        d = self.one(1, "(BODYSTRUCTURE BODY.PEEK[1] BODY.PEEK[2.HEADER] BODY.PEEK[2.1])")
        want = expected_bodystructure(DIGEST, DIGEST_ENVELOPES)
        self.assertEqual(compare_bodystructure(want, d["BODYSTRUCTURE"], True), [],
                         "parts of multipart/digest default to message/rfc822")
        self.assertEqual(d.get("BODY[1]"), DIGEST_A.bytes())
        self.assertEqual(d.get("BODY[2.HEADER]"), DIGEST_B.header_bytes())
        self.assertEqual(d.get("BODY[2.1]"), DIGEST_B.body_bytes())

    def test_non_multipart_part_one(self):
        d = self.one(1, "(BODY.PEEK[1] BODY.PEEK[TEXT])")
        self.assertEqual(d.get("BODY[1]"), PLAIN.body_bytes())
        self.assertEqual(d.get("BODY[TEXT]"), PLAIN.body_bytes())
        d = self.one(4, "(BODY.PEEK[1])")
        self.assertEqual(d.get("BODY[1]"), UTF8.body_bytes(), "8-bit body returned verbatim")

    def test_partial(self):
        raw = PLAIN.bytes()
        d = self.one(1, "(BODY.PEEK[]<0.10> BODY.PEEK[TEXT]<6.5>)")
        self.assertEqual(d.get("BODY[]<0>"), raw[:10])
        self.assertEqual(d.get("BODY[TEXT]<6>"), PLAIN.body_bytes()[6:11])
        d = self.one(1, "(BODY.PEEK[]<20.100000>)")
        self.assertEqual(d.get("BODY[]<20>"), raw[20:], "a partial past the end is truncated")
        d = self.one(1, "(BODY.PEEK[]<100000.10>)")
        self.assertEqual(d.get("BODY[]<100000>"), b"", "a start past the end gives \"\"")
        d = self.one(1, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)]<0.7>)")
        self.assertEqual(d.get("BODY[HEADER.FIELDS (SUBJECT)]<0>"), b"Subject")
        d = self.one(5, "(BODY.PEEK[1]<1000.2000>)")
        self.assertEqual(d.get("BODY[1]<1000>"), BIG.body_bytes()[1000:3000])

    def test_envelope(self):
        fm = self.fetch("1:4", "(ENVELOPE)")
        for n in range(1, 5):
            with self.subTest(message=n):
                problems = compare_envelope(ENVELOPES[n - 1], fm[n]["ENVELOPE"])
                self.assertEqual(problems, [])

    def test_envelope_special_strings(self):
        m = self.m
        self.assertOK(m.create("Env"))
        raw8 = ("From: Jörg Müller <joerg@example.de>\r\nTo: x@example.com\r\n"
                "Subject: Grüße aus Köln\r\nMessage-ID: <raw8@example.de>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "\r\nHallo.\r\n").encode("utf-8")
        quoted = (b'From: "A \\"quoted\\" name" <q@example.com>\r\n'
                  b'Subject: He said "hi" \\ bye\r\nDate: Tue, 02 May 2023 10:00:00 +0000\r\n'
                  b"\r\nx\r\n")
        bare = b"To: x@example.com\r\n\r\nNo From, Date or Subject.\r\n"
        for raw in (raw8, quoted, bare):
            self.assertOK(m.append("Env", None, None, raw))
        self.assertOK(m.select("Env", readonly=True))
        fm = self.fetch("1:3", "(ENVELOPE)")  # strict parser: 8-bit only inside literals
        env = fm[1]["ENVELOPE"]
        self.assertEqual(env[1], "Grüße aus Köln".encode("utf-8"),
                         "raw UTF-8 subject returned verbatim (as a literal)")
        self.assertEqual(env[2], [["Jörg Müller".encode("utf-8"), None, b"joerg", b"example.de"]])
        env = fm[2]["ENVELOPE"]
        self.assertEqual(env[1], b'He said "hi" \\ bye')
        self.assertEqual(env[2][0][0], b'A "quoted" name')
        self.assertEqual(compare_envelope(
            [None, None, None, None, None, [(None, None, b"x", b"example.com")],
             None, None, None, None], fm[3]["ENVELOPE"]), [],
            "missing fields are NIL; without From, Sender and Reply-To are NIL too")

    def test_bodystructure(self):
        fm = self.fetch("1:*", "(BODYSTRUCTURE BODY)")
        for n, msg in enumerate(MESSAGES, 1):
            with self.subTest(message=n):
                want = expected_bodystructure(msg, NESTED_ENVELOPES)
                problems = compare_bodystructure(want, fm[n]["BODYSTRUCTURE"], True)
                problems += compare_bodystructure(want, fm[n]["BODY"], False)
                self.assertEqual(problems, [])

    def test_bodystructure_extension_data(self):
        bs = self.one(2, "(BODYSTRUCTURE)")["BODYSTRUCTURE"]
        # Multipart extension data, if present, starts with the parameter list (boundary).
        ext = bs[4:]
        if ext:
            params = ext[0]
            self.assertIsInstance(params, list)
            pairs = {params[i].decode().upper(): params[i + 1] for i in range(0, len(params), 2)}
            self.assertEqual(pairs.get("BOUNDARY"), b"=_outer_1")
        att = bs[2]
        if len(att) > 7:  # md5, disposition, ...
            disposition = att[8] if len(att) > 8 else None
            self.assertIsInstance(disposition, list, f"disposition of the attachment: {att!r}")
            self.assertEqual(disposition[0].upper(), b"ATTACHMENT")
            self.assertEqual([x.upper() if i % 2 == 0 else x for i, x in enumerate(disposition[1])],
                             [b"FILENAME", b"trip.pdf"])

    def test_macros(self):
        for macro, names in (("FAST", {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}),
                             ("ALL", {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}),
                             ("FULL", {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
                                       "BODY"})):
            with self.subTest(macro=macro):
                d = self.one(3, macro)
                self.assertLessEqual(names, set(d))
                self.assertNotIn("BODYSTRUCTURE", d)
                if macro == "FULL":
                    self.assertEqual(compare_bodystructure(
                        expected_bodystructure(FWD, NESTED_ENVELOPES), d["BODY"], False), [])

    def test_uid_fetch(self):
        fm = self.fetch(self.uids[1], "(FLAGS)", uid=True)
        self.assertEqual(list(fm), [2])
        self.assertEqual(int(fm[2]["UID"]), self.uids[1], "UID FETCH always returns the UID")
        fm = self.fetch(f"{self.uids[0]}:{self.uids[2]}", "(RFC822.SIZE)", uid=True)
        self.assertEqual(sorted(fm), [1, 2, 3])
        # n:* includes the last message even if n is above every UID (RFC 3501 9).
        fm = self.fetch(f"{self.uids[-1] + 1000}:*", "(UID)", uid=True)
        self.assertEqual(list(fm), [5], "UID 9999:* returns the message with the highest UID")
        # A UID that does not exist is ignored without error.
        fm = self.fetch(f"{self.uids[-1] + 1000}", "(UID)", uid=True)
        self.assertEqual(fm, {})
        fm = self.fetch("*", "(UID)")
        self.assertEqual(list(fm), [5])

    def test_fetch_sequence_sets(self):
        fm = self.fetch("4:2", "(UID)")
        self.assertEqual(sorted(fm), [2, 3, 4])
        fm = self.fetch("1,3,5", "(UID)")
        self.assertEqual(sorted(fm), [1, 3, 5])
        fm = self.fetch("2:*", "(UID)")
        self.assertEqual(sorted(fm), [2, 3, 4, 5])

    def test_internaldate_of_appends(self):
        fm = self.fetch("1:*", "(INTERNALDATE)")
        for n, date in enumerate(INTERNALDATES, 1):
            with self.subTest(message=n):
                self.assertEqual(parse_internaldate(fm[n]["INTERNALDATE"]),
                                 parse_internaldate(date.strip('"')))

    @late
    def test_large_message(self):
        m = self.m
        self.assertOK(m.create("Large"))
        body = b"".join(b"%06d %s\r\n" % (i, b"x" * 90) for i in range(6000))  # ~590 KB
        msg = simple_message("large", body=body)
        typ, _ = m.append("Large", None, None, msg)
        self.assertEqual(typ, "OK")
        self.assertOK(m.select("Large", readonly=True))
        d = self.one(1, "(RFC822.SIZE BODY.PEEK[])")
        self.assertEqual(int(d["RFC822.SIZE"]), len(msg))
        self.assertEqual(d["BODY[]"], msg)
        d = self.one(1, "(BODY.PEEK[TEXT]<300000.1000>)")
        self.assertEqual(d.get("BODY[TEXT]<300000>"), body[300000:301000])

    def test_seen_semantics(self):
        m = self.m
        self.assertOK(m.create("SeenBox"))
        for i in range(5):
            self.assertOK(m.append("SeenBox", None, None, simple_message(f"seen {i}")))
        self.assertOK(m.select("SeenBox"))

        def flags(n):
            return norm_flags(flags_of(self.one(n, "(FLAGS)")["FLAGS"]))

        d = self.one(1, "(BODY.PEEK[] BODY.PEEK[TEXT] RFC822.HEADER RFC822.SIZE)")
        self.assertNotIn("\\seen", flags(1), "BODY.PEEK / RFC822.HEADER do not set \\Seen")
        d = self.one(1, "(BODY[TEXT])")
        self.assertIn("\\seen", flags(1), "BODY[TEXT] sets \\Seen")
        self.assertIn("FLAGS", d, "the implicit \\Seen change is reported with the data "
                                  "(RFC 3501 6.4.5 SHOULD)")
        self.one(2, "(RFC822)")
        self.assertIn("\\seen", flags(2), "RFC822 sets \\Seen")
        self.one(3, "(RFC822.TEXT)")
        self.assertIn("\\seen", flags(3), "RFC822.TEXT sets \\Seen")
        self.one(4, "(BODY[HEADER])")
        self.assertIn("\\seen", flags(4), "BODY[HEADER] sets \\Seen")
        # EXAMINE: nothing changes.
        self.assertOK(m.select("SeenBox", readonly=True))
        self.one(5, "(BODY[])")
        self.assertNotIn("\\seen", flags(5), "FETCH BODY[] in an EXAMINEd mailbox")

    def test_corpus_roundtrip(self):
        m = self.m
        self.assertOK(m.create("Corpus"))
        files = sorted(f for f in os.listdir(CORPUS_DIR) if f.endswith(".txt"))
        raws = []
        for f in files:
            with open(os.path.join(CORPUS_DIR, f), "rb") as fh:
                raws.append(crlf(fh.read()))
        # All the APPENDs in one write (LITERAL+), answered in order.
        c = self.raw()
        tags = [c.next_tag() for _ in raws]
        c.send(b"".join(b"%s APPEND Corpus {%d+}\r\n%s\r\n" % (t.encode(), len(r), r)
                        for t, r in zip(tags, raws)))
        done = []
        while len(done) < len(tags):
            r = c.read_response()
            if r.tag not in ("*", "+"):
                done.append((r.tag, r.status))
        self.assertEqual(done, [(t, "OK") for t in tags])
        self.assertOK(m.select("Corpus", readonly=True))
        failures = []
        for start in range(1, len(raws) + 1, 16):
            stop = min(start + 15, len(raws))
            try:
                typ, _ = m.fetch(f"{start}:{stop}",
                                 "(RFC822.SIZE BODY.PEEK[] BODYSTRUCTURE ENVELOPE)")
                fm = fetch_map(m.last_responses())
            except ProtocolError as e:
                failures.append(f"messages {start}:{stop}: unparsable response: {e}")
                continue
            for n in range(start, stop + 1):
                name = files[n - 1]
                d = fm.get(n)
                if d is None:
                    failures.append(f"{name}: no FETCH response")
                    continue
                if d.get("BODY[]") != raws[n - 1]:
                    failures.append(f"{name}: BODY[] differs from what was appended")
                if int(d.get("RFC822.SIZE", -1)) != len(raws[n - 1]):
                    failures.append(f"{name}: RFC822.SIZE {d.get('RFC822.SIZE')} != "
                                    f"{len(raws[n - 1])}")
                env = d.get("ENVELOPE")
                if not isinstance(env, list) or len(env) != 10:
                    failures.append(f"{name}: ENVELOPE has not 10 fields: {env!r}")
                if not isinstance(d.get("BODYSTRUCTURE"), list):
                    failures.append(f"{name}: bad BODYSTRUCTURE {d.get('BODYSTRUCTURE')!r}")
        self.assertEqual(failures, [])


# ---------------------------------------------------------------------------------------------


class StoreTests(IMAPTestCase):
    """STORE/UID STORE with +FLAGS, -FLAGS, FLAGS, .SILENT and keywords."""

    @classmethod
    def setUpClass(cls):
        if "user" in cls.__dict__:
            return  # the class's late tests: same user and data
        cls.user = new_user()

    def setUp(self):
        super().setUp()
        self.m = self.shared()
        self.box = f"Store{self._testMethodName}"
        self.assertOK(self.m.create(self.box))
        for i in range(4):
            self.assertOK(self.m.append(self.box, None, None, simple_message(f"store {i}")))
        self.assertOK(self.m.select(self.box))

    def store(self, seq, item, flags, uid=False):
        if uid:
            typ, _ = self.m.uid("STORE", str(seq), item, flags)
        else:
            typ, _ = self.m.store(str(seq), item, flags)
        self.assertEqual(typ, "OK")
        return fetch_map(self.m.last_responses())

    def current(self, seq):
        self.m.fetch(str(seq), "(FLAGS)")
        return norm_flags(flags_of(fetch_map(self.m.last_responses())[seq]["FLAGS"]))

    def test_add_remove_replace(self):
        fm = self.store(1, "+FLAGS", "(\\Flagged)")
        self.assertIn(1, fm, "STORE returns the new flags in an untagged FETCH")
        self.assertIn("\\flagged", norm_flags(flags_of(fm[1]["FLAGS"])))
        fm = self.store(1, "+FLAGS", "(\\Answered \\Draft)")
        self.assertLessEqual({"\\flagged", "\\answered", "\\draft"}, norm_flags(flags_of(fm[1]["FLAGS"])))
        fm = self.store(1, "-FLAGS", "(\\Flagged \\Draft)")
        got = norm_flags(flags_of(fm[1]["FLAGS"])) - {"\\recent"}
        self.assertEqual(got, {"\\answered"})
        fm = self.store(1, "FLAGS", "(\\Seen $Kw1)")
        got = norm_flags(flags_of(fm[1]["FLAGS"])) - {"\\recent"}
        self.assertEqual(got, {"\\seen", "$kw1"})
        self.assertEqual(self.current(1) - {"\\recent"}, {"\\seen", "$kw1"})
        fm = self.store(1, "FLAGS", "()")
        self.assertEqual(norm_flags(flags_of(fm[1]["FLAGS"])) - {"\\recent"}, set())

    def test_silent(self):
        fm = self.store(2, "+FLAGS.SILENT", "(\\Deleted)")
        self.assertNotIn(2, fm, "no untagged FETCH for the session's own .SILENT store")
        self.assertIn("\\deleted", self.current(2))
        fm = self.store(2, "-FLAGS.SILENT", "(\\Deleted)")
        self.assertNotIn(2, fm)
        self.assertNotIn("\\deleted", self.current(2))
        fm = self.store(2, "FLAGS.SILENT", "(\\Seen)")
        self.assertNotIn(2, fm)
        self.assertEqual(self.current(2) - {"\\recent"}, {"\\seen"})

    def test_range_and_keywords(self):
        fm = self.store("1:*", "+FLAGS", "($Work Junk-Ish)")
        self.assertEqual(sorted(fm), [1, 2, 3, 4])
        for d in fm.values():
            self.assertLessEqual({"$work", "junk-ish"}, norm_flags(flags_of(d["FLAGS"])))
        # The keywords appear in FLAGS of the next SELECT; PERMANENTFLAGS allows new ones.
        self.assertOK(self.m.select(self.box))
        info = selected_info(self.m.last_responses())
        self.assertLessEqual({"$work", "junk-ish"}, norm_flags(info["FLAGS"]))
        self.assertIn("\\*", info["codes"]["PERMANENTFLAGS"])
        # Keywords are case-insensitive: removing $WORK removes $Work.
        fm = self.store("2:3", "-FLAGS", "($WORK)")
        for n in (2, 3):
            self.assertNotIn("$work", norm_flags(flags_of(fm[n]["FLAGS"])))
        self.assertIn("$work", self.current(1))

    def test_uid_store(self):
        self.m.fetch("3", "(UID)")
        uid = int(fetch_map(self.m.last_responses())[3]["UID"])
        fm = self.store(uid, "+FLAGS", "(\\Answered)", uid=True)
        self.assertIn(3, fm)
        self.assertEqual(int(fm[3].get("UID", -1)), uid,
                         "FETCH responses caused by UID STORE include the UID (RFC 3501 6.4.8)")
        self.assertIn("\\answered", norm_flags(flags_of(fm[3]["FLAGS"])))
        fm = self.store(uid + 1000, "+FLAGS", "(\\Answered)", uid=True)
        self.assertEqual(fm, {}, "a missing UID is ignored")

    def test_store_in_examined_mailbox(self):
        self.assertOK(self.m.select(self.box, readonly=True))
        typ, _ = self.m.store("1", "+FLAGS", "(\\Flagged)")
        self.assertEqual(typ, "NO")

    def test_store_invalid(self):
        c = self.raw()
        c.ok("SELECT ", self.box)
        self.assertStatus(c.command("STORE 1 +FOO (\\Seen)"), "BAD")
        self.assertStatus(c.command("STORE 1 +FLAGS (\\NoSuchSystemFlag)"), "BAD")
        self.assertAlive(c)


# ---------------------------------------------------------------------------------------------


class SearchTests(IMAPTestCase):
    """SEARCH and UID SEARCH with the RFC 3501 keys."""

    FLAGS = ["(\\Seen)", "(\\Flagged $Work)", "(\\Deleted \\Seen)", None, "(\\Seen \\Answered)"]

    CASES = [
        ("ALL", [1, 2, 3, 4, 5]),
        ("FROM alice", [1]),
        ('FROM "Carol"', [2]),
        ("TO alice", [2, 3]),
        ("TO bob", [1, 2]),
        ('CC "Dave"', [1]),
        ("BCC anyone", []),
        ("SUBJECT quarterly", [1, 3]),
        ('SUBJECT "Holiday photos"', [2]),
        ("BODY giraffe", [2]),
        ("BODY zebra", [1]),
        ("TEXT zebra", [1]),
        ("TEXT alpha-beta", [1]),
        ("BODY alpha-beta", []),
        ("HEADER X-Tern-Test alpha", [1]),
        ('HEADER X-Tern-Test ""', [1]),
        ("HEADER Message-ID multi", [2]),
        ("SEEN", [1, 3, 5]),
        ("UNSEEN", [2, 4]),
        ("FLAGGED", [2]),
        ("UNFLAGGED", [1, 3, 4, 5]),
        ("DELETED", [3]),
        ("UNDELETED", [1, 2, 4, 5]),
        ("ANSWERED", [5]),
        ("UNANSWERED", [1, 2, 3, 4]),
        ("DRAFT", []),
        ("UNDRAFT", [1, 2, 3, 4, 5]),
        ("KEYWORD $Work", [2]),
        ("KEYWORD $work", [2]),
        ("UNKEYWORD $Work", [1, 3, 4, 5]),
        ("KEYWORD $NotThere", []),
        ("LARGER 10000", [5]),
        ("SMALLER 10000", [1, 2, 3, 4]),
        ("BEFORE 1-Jan-2022", [1, 2]),
        ("ON 10-Jun-2022", [3]),
        ("SINCE 10-Jun-2022", [3, 4, 5]),
        ("SINCE 1-Jan-2023", [4, 5]),
        ("BEFORE 1-Feb-2020", []),
        ("ON 1-Feb-2020", [1]),
        ("SENTBEFORE 1-Jan-2021", [1]),
        ("SENTON 15-Mar-2021", [2]),
        ("SENTON 10-Jun-2022", [3]),
        ("SENTSINCE 4-Jan-2023", [4, 5]),
        ("2:3", [2, 3]),
        ("4:*", [4, 5]),
        ("1,5", [1, 5]),
        ("*", [5]),
        ("OR FROM alice FROM eve", [1, 3]),
        ("NOT SEEN", [2, 4]),
        ("OR (SEEN LARGER 10000) (FLAGGED KEYWORD $Work)", [2, 5]),
        ("NOT (OR SEEN DELETED)", [2, 4]),
        ("SEEN SINCE 1-Jan-2022", [3, 5]),
        ("(SUBJECT quarterly) (NOT DELETED)", [1]),
        ("OR OR FLAGGED DELETED ANSWERED", [2, 3, 5]),
        ("((((SEEN))))", [1, 3, 5]),
        ("1:3 NOT 2", [1, 3]),
        ("CHARSET US-ASCII TEXT zebra", [1]),
        ("SUBJECT QUARTERLY", [1, 3]),
        ("BODY GIRAFFE", [2]),
        ("TEXT Holiday", [2]),
        ("BODY Holiday", []),
        ("BODY original", [3]),
        ("FROM joerg", [4]),
        ("OR 1 5", [1, 5]),
        (f"LARGER {len(PLAIN.bytes())} 1:4", [2, 3]),
        (f"LARGER {len(PLAIN.bytes()) - 1} 1", [1]),
        (f"SMALLER {len(PLAIN.bytes())} 1", []),
        (f"SMALLER {len(PLAIN.bytes()) + 1} 1", [1]),
        ("SINCE 1-Feb-2020", [1, 2, 3, 4, 5]),
        ("SENTSINCE 1-Feb-2020 SENTBEFORE 2-Feb-2020", [1]),
        ("CHARSET UTF-8 SUBJECT report", [1, 3]),
    ]

    @classmethod
    def setUpClass(cls):
        if "user" in cls.__dict__:
            return  # the class's late tests: same user and data
        cls.user = new_user()
        m = cls._shared_conn = TIMAP4(label="shared")
        m.login(*cls.user)
        m.create("Search")
        cls.uids = []
        for msg, date, flags in zip(MESSAGES, INTERNALDATES, cls.FLAGS):
            typ, data = m.append("Search", flags, date, msg.bytes())
            assert typ == "OK", data
            cls.uids.append(int(m.last_tagged().code_args().split()[1]))

    def setUp(self):
        super().setUp()
        self.m = self.shared()
        self.assertOK(self.m.select("Search"))

    def search(self, *criteria, uid=False, charset=None):
        if uid:
            typ, data = self.m.uid("SEARCH", *criteria)
        else:
            typ, data = self.m.search(charset, *criteria)
        self.assertEqual(typ, "OK", f"{criteria}: {data!r}")
        results = [r for r in self.m.last_responses() if r.kind == "SEARCH"]
        self.assertEqual(len(results), 1, "exactly one untagged SEARCH response")
        return sorted(int(x) for x in results[0].data)

    def test_search_keys(self):
        for criteria, expected in self.CASES:
            with self.subTest(criteria=criteria):
                TRANSCRIPT.add("subtest", "--", criteria.encode())
                self.assertEqual(self.search(criteria), expected)

    def test_uid_search(self):
        u = self.uids
        self.assertEqual(self.search("ALL", uid=True), u)
        self.assertEqual(self.search(f"UID {u[1]}:{u[3]}"), [2, 3, 4])
        self.assertEqual(self.search(f"UID {u[0]},{u[4]}", uid=True), [u[0], u[4]])
        self.assertEqual(self.search("FLAGGED", uid=True), [u[1]])
        self.assertEqual(self.search(f"UID {u[4] + 100}:*", uid=True), [u[4]])
        self.assertEqual(self.search("2:3", uid=True), [u[1], u[2]])

    def test_charset_utf8_literals(self):
        self.m.literal = "München".encode("utf-8")
        self.assertEqual(self.search("BODY", charset="UTF-8"), [4])
        self.m.literal = "schön".encode("utf-8")
        self.assertEqual(self.search("TEXT", charset="UTF-8"), [4])
        c = self.raw()
        c.ok("SELECT Search")
        r = c.ok("UID SEARCH CHARSET UTF-8 BODY ", Literal("Grüße".encode()), " SEEN")
        self.assertEqual([x for s in r.untagged if s.kind == "SEARCH" for x in s.data], [])
        r = c.ok("SEARCH CHARSET UTF-8 BODY ", Literal("Grüße".encode()), " UNSEEN")
        self.assertEqual([int(x) for s in r.untagged if s.kind == "SEARCH" for x in s.data], [4])

    def test_unknown_charset(self):
        c = self.raw()
        c.ok("SELECT Search")
        r = c.command("SEARCH CHARSET X-NO-SUCH-CHARSET TEXT foo")
        self.assertStatus(r, "NO", "BADCHARSET")

    def test_bad_search_syntax(self):
        c = self.raw()
        c.ok("SELECT Search")
        for bad in ("SEARCH FOO", "SEARCH SINCE yesterday", "SEARCH LARGER x", "SEARCH OR SEEN",
                    "SEARCH (SEEN", "SEARCH 0:2", "SEARCH 99"):
            with self.subTest(command=bad):
                self.assertStatus(c.command(bad), "BAD")
        self.assertAlive(c)

    def test_empty_result_still_sends_search(self):
        self.assertEqual(self.search("SUBJECT no-such-subject-anywhere"), [])


# ---------------------------------------------------------------------------------------------


class ExpungeCopyMoveTests(IMAPTestCase):
    """CHECK, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE, COPY/MOVE with COPYUID."""

    @classmethod
    def setUpClass(cls):
        if "user" in cls.__dict__:
            return  # the class's late tests: same user and data
        cls.user = new_user()

    def setUp(self):
        super().setUp()
        self.m = self.shared()
        self.box = f"Box{self._testMethodName}"
        self.dest = f"Dest{self._testMethodName}"
        self.assertOK(self.m.create(self.box))
        self.assertOK(self.m.create(self.dest))
        self.uids = []
        for i in range(5):
            typ, _ = self.m.append(self.box, "(\\Flagged)" if i == 1 else None,
                                   '"0%d-Mar-2022 10:00:00 +0000"' % (i + 1),
                                   simple_message(f"msg {i}"))
            self.uids.append(int(self.m.last_tagged().code_args().split()[1]))
        self.assertOK(self.m.select(self.box))

    def all_uids(self, m=None):
        m = m or self.m
        m.fetch("1:*", "(UID)")
        fm = fetch_map(m.last_responses())
        return [int(fm[n]["UID"]) for n in sorted(fm)]

    @late
    def test_check(self):
        self.assertOK(self.m.check())

    def test_close_expunges_silently(self):
        self.m.store("2,4", "+FLAGS.SILENT", "(\\Deleted)")
        typ, _ = self.m.close()
        self.assertEqual(typ, "OK")
        self.assertEqual(untagged(self.m, "EXPUNGE"), [], "CLOSE sends no EXPUNGE responses")
        c = self.raw()
        typ, data = self.m.select(self.box)
        self.assertEqual(int(data[0]), 3)
        self.assertEqual(self.all_uids(), [self.uids[0], self.uids[2], self.uids[4]])
        # After CLOSE the session is authenticated, not selected.
        c.ok("SELECT ", self.box)
        c.ok("CLOSE")
        self.assertStatus(c.command("FETCH 1 FLAGS"), "BAD")

    def test_close_examined_does_not_expunge(self):
        self.m.store("1", "+FLAGS.SILENT", "(\\Deleted)")
        self.assertOK(self.m.select(self.box, readonly=True))
        self.assertEqual(self.m.close()[0], "OK")
        typ, data = self.m.select(self.box)
        self.assertEqual(int(data[0]), 5, "CLOSE after EXAMINE expunges nothing")

    def test_unselect_does_not_expunge(self):
        self.m.store("1", "+FLAGS.SILENT", "(\\Deleted)")
        typ, _ = self.m.unselect()
        self.assertEqual(typ, "OK")
        self.assertEqual(untagged(self.m, "EXPUNGE"), [])
        self.assertEqual(self.m.state, "AUTH")
        typ, data = self.m.select(self.box)
        self.assertEqual(int(data[0]), 5)
        self.m.fetch("1", "(FLAGS)")
        self.assertIn("\\deleted", norm_flags(flags_of(fetch_map(self.m.last_responses())[1]["FLAGS"])))

    def test_logout_does_not_expunge(self):
        c = self.raw()
        c.ok("SELECT ", self.box)
        c.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        r = c.command("LOGOUT")
        self.assertStatus(r, "OK")
        self.assertEqual([x for x in r.untagged if x.kind == "EXPUNGE"], [])
        self.m.status(self.box, "(MESSAGES)")
        self.assertEqual(parse_status_items(untagged(self.m, "STATUS")[0].data[1])["MESSAGES"], "5",
                         "LOGOUT does not expunge")

    def test_expunge_numbers(self):
        self.m.store("2,4", "+FLAGS.SILENT", "(\\Deleted)")
        typ, data = self.m.expunge()
        self.assertEqual(typ, "OK")
        numbers = [r.num for r in untagged(self.m, "EXPUNGE")]
        self.assertEqual(len(numbers), 2, "one EXPUNGE per removed message")
        removed, remaining = expunge_sequence(self.uids, numbers)
        self.assertEqual(sorted(removed), [self.uids[1], self.uids[3]],
                         f"EXPUNGE numbers {numbers} remove the wrong messages")
        self.assertEqual(self.all_uids(), remaining)
        # Nothing left to expunge: no EXPUNGE responses.
        self.assertOK(self.m.expunge())
        self.assertEqual(untagged(self.m, "EXPUNGE"), [])

    def test_expunge_all_consecutive(self):
        self.m.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
        self.assertOK(self.m.expunge())
        numbers = [r.num for r in untagged(self.m, "EXPUNGE")]
        removed, remaining = expunge_sequence(self.uids, numbers)
        self.assertEqual(sorted(removed), self.uids)
        self.assertEqual(remaining, [])
        c = self.raw()
        c.ok("SELECT ", self.box)
        self.assertStatus(c.command("FETCH 1:* UID"), "BAD",
                          msg="1:* in an empty mailbox is invalid (RFC 3501 9)")
        self.assertStatus(c.command("FETCH * UID"), "BAD",
                          msg='RFC 3501 9: the server should answer BAD to a message sequence '
                              'number above the number of messages, "including * if the '
                              'selected mailbox is empty"')

    def test_uid_expunge(self):
        self.m.store("1:3", "+FLAGS.SILENT", "(\\Deleted)")
        typ, _ = self.m.uid("EXPUNGE", f"{self.uids[1]},{self.uids[3]}")
        self.assertEqual(typ, "OK")
        self.assertEqual([r.num for r in untagged(self.m, "EXPUNGE")], [2],
                         "UID EXPUNGE removes only listed messages that have \\Deleted")
        self.assertEqual(self.all_uids(), [self.uids[i] for i in (0, 2, 3, 4)])
        self.m.fetch("1:2", "(FLAGS)")
        fm = fetch_map(self.m.last_responses())
        self.assertIn("\\deleted", norm_flags(flags_of(fm[1]["FLAGS"])))
        self.assertIn("\\deleted", norm_flags(flags_of(fm[2]["FLAGS"])))

    def test_copy_copyuid(self):
        typ, data = self.m.copy("2:3", self.dest)
        self.assertEqual(typ, "OK")
        tagged = self.m.last_tagged()
        self.assertEqual(tagged.code_name(), "COPYUID", tagged.raw)
        uidv, src, dst = tagged.code_args().split()
        self.assertEqual(seqset_numbers(src), self.uids[1:3])
        dst_uids = seqset_numbers(dst)
        self.assertEqual(len(dst_uids), 2)
        self.assertEqual(self.all_uids(), self.uids, "COPY leaves the source alone")
        self.m.status(self.dest, "(MESSAGES UIDVALIDITY RECENT)")
        st = parse_status_items(untagged(self.m, "STATUS")[0].data[1])
        self.assertEqual(st["MESSAGES"], "2")
        self.assertEqual(st["RECENT"], "2", "the copies are \\Recent (RFC 3501 6.4.7 SHOULD)")
        self.assertEqual(int(st["UIDVALIDITY"]), int(uidv))
        self.m.fetch("2:3", "(FLAGS INTERNALDATE BODY.PEEK[])")
        src_data = fetch_map(self.m.last_responses())
        self.assertOK(self.m.select(self.dest))
        self.m.uid("FETCH", dst, "(FLAGS INTERNALDATE BODY.PEEK[])")
        dst_data = {int(d["UID"]): d for d in fetch_map(self.m.last_responses()).values()}
        for s_seq, d_uid in zip((2, 3), dst_uids):
            self.assertEqual(dst_data[d_uid]["BODY[]"], src_data[s_seq]["BODY[]"])
            self.assertEqual(dst_data[d_uid]["INTERNALDATE"], src_data[s_seq]["INTERNALDATE"],
                             "COPY SHOULD preserve the internal date")
            self.assertEqual(norm_flags(flags_of(dst_data[d_uid]["FLAGS"])) - {"\\recent"},
                             norm_flags(flags_of(src_data[s_seq]["FLAGS"])) - {"\\recent"},
                             "COPY SHOULD preserve the flags")

    @late
    def test_copy_into_selected_mailbox(self):
        typ, _ = self.m.copy("1", self.box)
        self.assertEqual(typ, "OK")
        exists = [r.num for r in self.m.last_responses() if r.kind == "EXISTS"]
        if not exists:
            self.assertOK(self.m.noop())
            exists = [r.num for r in self.m.last_responses() if r.kind == "EXISTS"]
        self.assertEqual(exists[-1:], [6], "the copy is announced with EXISTS")
        self.assertEqual(len(self.all_uids()), 6)

    def test_copy_to_missing_mailbox(self):
        typ, _ = self.m.copy("1", "No-Such-Box")
        self.assertEqual(typ, "NO")
        self.assertEqual(self.m.last_tagged().code_name(), "TRYCREATE")

    def test_uid_copy(self):
        typ, _ = self.m.uid("COPY", f"{self.uids[4]},{self.uids[0]}", self.dest)
        self.assertEqual(typ, "OK")
        tagged = self.m.last_tagged()
        self.assertEqual(tagged.code_name(), "COPYUID")
        uidv, src, dst = tagged.code_args().split()
        src_l, dst_l = seqset_numbers(src), seqset_numbers(dst)
        self.assertEqual(sorted(src_l), [self.uids[0], self.uids[4]])
        self.assertEqual(len(dst_l), 2)
        # The two sets correspond element by element.
        self.m.uid("FETCH", f"{self.uids[0]},{self.uids[4]}", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subj = {int(d["UID"]): d["BODY[HEADER.FIELDS (SUBJECT)]"]
                for d in fetch_map(self.m.last_responses()).values()}
        self.assertOK(self.m.select(self.dest, readonly=True))
        self.m.uid("FETCH", dst, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        dsubj = {int(d["UID"]): d["BODY[HEADER.FIELDS (SUBJECT)]"]
                 for d in fetch_map(self.m.last_responses()).values()}
        for s, d in zip(src_l, dst_l):
            self.assertEqual(subj[s], dsubj[d], "COPYUID source and destination sets correspond")

    def test_move(self):
        typ, _ = self.m._simple_command("MOVE", "2", self.dest)
        self.assertEqual(typ, "OK")
        responses = self.m.last_responses()
        copyuid = [r for r in responses if r.status == "OK" and r.code_name() == "COPYUID"]
        self.assertEqual(len(copyuid), 1, "COPYUID (untagged OK or tagged) for MOVE")
        uidv, src, dst = copyuid[0].code_args().split()
        self.assertEqual(seqset_numbers(src), [self.uids[1]])
        expunges = [r.num for r in responses if r.kind == "EXPUNGE"]
        self.assertEqual(expunges, [2])
        # RFC 6851 4.3: the COPYUID comes before the EXPUNGE responses.
        order = [r.kind for r in responses if r.kind in ("EXPUNGE", "OK")]
        if copyuid[0].tag == "*":
            self.assertLess(order.index("OK"), order.index("EXPUNGE"))
        self.assertEqual(self.all_uids(), [self.uids[i] for i in (0, 2, 3, 4)])
        self.assertOK(self.m.select(self.dest))
        self.m.uid("FETCH", dst, "(FLAGS)")
        fm = fetch_map(self.m.last_responses())
        self.assertEqual(len(fm), 1)
        self.assertIn("\\flagged", norm_flags(flags_of(next(iter(fm.values()))["FLAGS"])),
                      "MOVE keeps the flags")

    def test_uid_move(self):
        typ, _ = self.m.uid("MOVE", f"{self.uids[2]}:{self.uids[3]}", self.dest)
        self.assertEqual(typ, "OK")
        responses = self.m.last_responses()
        expunges = [r.num for r in responses if r.kind == "EXPUNGE"]
        removed, remaining = expunge_sequence(self.uids, expunges)
        self.assertEqual(sorted(removed), self.uids[2:4])
        copyuid = [r for r in responses if r.status == "OK" and r.code_name() == "COPYUID"]
        self.assertEqual(len(copyuid), 1)
        self.assertEqual(self.all_uids(), remaining)
        self.m.status(self.dest, "(MESSAGES)")
        self.assertEqual(parse_status_items(untagged(self.m, "STATUS")[0].data[1])["MESSAGES"], "2")

    def test_move_in_examined_mailbox(self):
        self.assertOK(self.m.select(self.box, readonly=True))
        typ, _ = self.m._simple_command("MOVE", "1", self.dest)
        self.assertEqual(typ, "NO")
        self.m.status(self.dest, "(MESSAGES)")
        self.assertEqual(parse_status_items(untagged(self.m, "STATUS")[0].data[1])["MESSAGES"], "0")


# ---------------------------------------------------------------------------------------------


class SessionTests(IMAPTestCase):
    late = True

    """Two sessions on one mailbox: EXISTS/FETCH/EXPUNGE at NOOP, no EXPUNGE during FETCH,
    \\Recent, IDLE."""

    @classmethod
    def setUpClass(cls):
        if "user" in cls.__dict__:
            return  # the class's late tests: same user and data
        cls.user = new_user()

    def setUp(self):
        super().setUp()
        self.box = f"S{self._testMethodName}"
        self.assertOK(self.shared().create(self.box))

    def test_recent(self):
        writer = self.shared()
        for i in range(2):
            self.assertOK(writer.append(self.box, None, None, simple_message(f"recent {i}")))
        writer.status(self.box, "(RECENT MESSAGES)")
        st = parse_status_items(untagged(writer, "STATUS")[0].data[1])
        self.assertEqual(st["RECENT"], "2")
        a = self.raw(label="A")
        info = selected_info(a.ok("SELECT ", self.box).untagged)
        self.assertEqual(info["EXISTS"], 2)
        self.assertEqual(info["RECENT"], 2, "the first session to select sees the messages as recent")
        r = a.ok("FETCH 1:* (FLAGS)")
        for d in fetch_map(r.untagged).values():
            self.assertIn("\\recent", norm_flags(flags_of(d["FLAGS"])))
        r = a.ok("SEARCH RECENT")
        self.assertEqual([int(x) for s in r.untagged if s.kind == "SEARCH" for x in s.data], [1, 2])
        r = a.ok("SEARCH NEW")
        self.assertEqual([int(x) for s in r.untagged if s.kind == "SEARCH" for x in s.data], [1, 2])
        r = a.ok("SEARCH OLD")
        self.assertEqual([x for s in r.untagged if s.kind == "SEARCH" for x in s.data], [])
        b = self.raw(label="B")
        info = selected_info(b.ok("SELECT ", self.box).untagged)
        self.assertEqual(info["RECENT"], 0, "a second session does not see \\Recent")
        r = b.ok("FETCH 1:* (FLAGS)")
        for d in fetch_map(r.untagged).values():
            self.assertNotIn("\\recent", norm_flags(flags_of(d["FLAGS"])))
        r = b.ok("SEARCH RECENT")
        self.assertEqual([x for s in r.untagged if s.kind == "SEARCH" for x in s.data], [])
        r = b.ok("SEARCH OLD")
        self.assertEqual([int(x) for s in r.untagged if s.kind == "SEARCH" for x in s.data], [1, 2])
        # A message arriving while both have the mailbox selected is recent for one only.
        self.assertOK(writer.append(self.box, None, None, simple_message("recent 3")))
        time.sleep(0.3)
        ra = a.ok("NOOP")
        rb = b.ok("NOOP")
        recent_a = [x.num for x in ra.untagged if x.kind == "RECENT"]
        recent_b = [x.num for x in rb.untagged if x.kind == "RECENT"]
        self.assertIn(3, [x.num for x in ra.untagged if x.kind == "EXISTS"])
        self.assertIn(3, [x.num for x in rb.untagged if x.kind == "EXISTS"])
        total_new_recent = (recent_a[-1] - 2 if recent_a else 0) + (recent_b[-1] if recent_b else 0)
        self.assertEqual(total_new_recent, 1,
                         f"exactly one session gets \\Recent (A: {recent_a}, B: {recent_b})")
        # STATUS RECENT is not changed by another session's EXAMINE, and a
        # reselect in A (new session of the mailbox) no longer sees the old ones as recent.
        c = self.raw(label="C")
        info = selected_info(c.ok("EXAMINE ", self.box).untagged)
        self.assertEqual(info["EXISTS"], 3)

    def test_examine_keeps_recent(self):
        writer = self.shared()
        self.assertOK(writer.append(self.box, None, None, simple_message("examined")))
        a = self.raw(label="A")
        info = selected_info(a.ok("EXAMINE ", self.box).untagged)
        self.assertEqual(info["EXISTS"], 1)
        b = self.raw(label="B")
        info = selected_info(b.ok("SELECT ", self.box).untagged)
        self.assertEqual(info["RECENT"], 1, "EXAMINE MUST NOT cause messages to lose \\Recent "
                                            "(RFC 3501 6.3.2)")

    def test_changes_reported_at_noop(self):
        writer = self.shared()
        for i in range(3):
            self.assertOK(writer.append(self.box, None, None, simple_message(f"base {i}")))
        a = self.raw(label="A")
        a.ok("SELECT ", self.box)
        uids = [int(d["UID"]) for n, d in sorted(fetch_map(a.ok("FETCH 1:* UID").untagged).items())]
        # A new message is never mentioned before its EXISTS, even by a UID FETCH 1:*.
        self.assertOK(writer.append(self.box, None, None, simple_message("new one")))
        time.sleep(0.3)
        r1 = a.ok("UID FETCH 1:* (UID FLAGS)")
        problems, known = check_numbering(r1.untagged, 3)
        self.assertEqual(problems, [])
        r = a.ok("NOOP")
        self.assertIn(4, [x.num for x in r1.untagged + r.untagged if x.kind == "EXISTS"],
                      "EXISTS at the latest at NOOP")
        # Flag change -> FETCH FLAGS.
        self.assertOK(writer.select(self.box))
        writer.store("2", "+FLAGS", "(\\Flagged)")
        time.sleep(0.3)
        r = a.ok("NOOP")
        fm = fetch_map(r.untagged)
        self.assertIn(2, fm, "flag change by another session reported at NOOP")
        self.assertIn("\\flagged", norm_flags(flags_of(fm[2]["FLAGS"])))
        # Expunge -> EXPUNGE.
        writer.store("1", "+FLAGS.SILENT", "(\\Deleted)")
        writer.expunge()
        time.sleep(0.3)
        r = a.ok("NOOP")
        numbers = [x.num for x in r.untagged if x.kind == "EXPUNGE"]
        self.assertEqual(numbers, [1])
        # Everything is consistent afterwards.
        fm = fetch_map(a.ok("FETCH 1:* UID").untagged)
        self.assertEqual(len(fm), 3)
        self.assertEqual(int(fm[1]["UID"]), uids[1])

    def test_no_expunge_during_fetch_store_search(self):
        writer = self.shared()
        for i in range(4):
            self.assertOK(writer.append(self.box, None, None, simple_message(f"m{i}")))
        a = self.raw(label="A")
        a.ok("SELECT ", self.box)
        uids = [int(d["UID"]) for n, d in sorted(fetch_map(a.ok("FETCH 1:* UID").untagged).items())]
        self.assertOK(writer.select(self.box))
        writer.store("2", "+FLAGS.SILENT", "(\\Deleted)")
        self.assertOK(writer.expunge())
        time.sleep(0.5)
        # FETCH: no EXPUNGE; the numbers keep their old meaning.
        r = a.ok("FETCH 1:4 (UID FLAGS)")
        self.assertEqual([x for x in r.untagged if x.kind == "EXPUNGE"], [],
                         "no EXPUNGE during FETCH (RFC 3501 7.4.1)")
        fm = fetch_map(r.untagged)
        for n, d in fm.items():
            if "UID" in d:
                self.assertEqual(int(d["UID"]), uids[n - 1],
                                 f"message {n} keeps its number until EXPUNGE is sent")
        r = a.ok("STORE 3 +FLAGS (\\Seen)")
        self.assertEqual([x for x in r.untagged if x.kind == "EXPUNGE"], [],
                         "no EXPUNGE during STORE")
        fm = fetch_map(r.untagged)
        self.assertIn(3, fm)
        r = a.ok("SEARCH ALL")
        self.assertEqual([x for x in r.untagged if x.kind == "EXPUNGE"], [],
                         "no EXPUNGE during SEARCH")
        result = [int(x) for s in r.untagged if s.kind == "SEARCH" for x in s.data]
        self.assertTrue(set(result) <= {1, 2, 3, 4}, result)
        self.assertIn(4, result, "message 4 is still numbered 4")
        # NOOP delivers it.
        r = a.ok("NOOP")
        self.assertEqual([x.num for x in r.untagged if x.kind == "EXPUNGE"], [2])
        fm = fetch_map(a.ok("FETCH 1:* UID").untagged)
        self.assertEqual([int(fm[n]["UID"]) for n in sorted(fm)], [uids[0], uids[2], uids[3]])

    def test_idle(self):
        a = self.raw(label="A")
        a.ok("SELECT ", self.box)
        tag = a.next_tag()
        a.send(f"{tag} IDLE\r\n")
        r = a.read_response()
        while r.tag == "*":
            r = a.read_response()
        self.assertEqual(r.tag, "+", f"continuation for IDLE: {r.raw!r}")
        writer = self.shared()
        t0 = time.monotonic()
        self.assertOK(writer.append(self.box, None, None, simple_message("idle news")))
        got = None
        while time.monotonic() - t0 < 2.5:
            try:
                resp = a.read_response(timeout=max(0.05, 2.5 - (time.monotonic() - t0)))
            except (socket.timeout, TimeoutError):
                break
            if resp.kind == "EXISTS":
                got = resp
                break
        self.assertIsNotNone(got, "* 1 EXISTS within ~2 s while idling")
        self.assertEqual(got.num, 1)
        # A flag change while idling.
        self.assertOK(writer.select(self.box))
        writer.store("1", "+FLAGS.SILENT", "(\\Flagged)")
        t0 = time.monotonic()
        got = None
        while time.monotonic() - t0 < 2.5:
            try:
                resp = a.read_response(timeout=max(0.05, 2.5 - (time.monotonic() - t0)))
            except (socket.timeout, TimeoutError):
                break
            if resp.kind == "FETCH":
                got = resp
                break
        self.assertIsNotNone(got, "FETCH FLAGS within ~2 s while idling")
        self.assertIn("\\flagged", norm_flags(flags_of(got.fetch()["FLAGS"])))
        # An expunge while idling.
        writer.store("1", "+FLAGS.SILENT", "(\\Deleted)")
        self.assertOK(writer.expunge())
        t0 = time.monotonic()
        got = None
        while time.monotonic() - t0 < 2.5:
            try:
                resp = a.read_response(timeout=max(0.05, 2.5 - (time.monotonic() - t0)))
            except (socket.timeout, TimeoutError):
                break
            if resp.kind == "EXPUNGE":
                got = resp
                break
        self.assertIsNotNone(got, "* 1 EXPUNGE within ~2 s while idling")
        self.assertEqual(got.num, 1)
        a.send(b"DONE\r\n")
        r = a.read_response()
        while r.tag == "*":
            r = a.read_response()
        self.assertEqual(r.tag, tag)
        self.assertStatus(r, "OK")
        self.assertAlive(a)

    def test_idle_after_change_between_commands(self):
        # Another session changes the mailbox while this one sits between commands; the
        # change is reported at NOOP; a following IDLE must still work normally.
        a = self.raw(label="A")
        a.ok("SELECT ", self.box)
        writer = self.shared()
        self.assertOK(writer.append(self.box, None, None, simple_message("between")))
        time.sleep(0.5)
        r = a.ok("NOOP")
        self.assertIn(1, [x.num for x in r.untagged if x.kind == "EXISTS"])
        tag = a.next_tag()
        a.send(f"{tag} IDLE\r\n")
        self.assertEqual(a.read_response().tag, "+")
        try:
            extra = a.read_response(timeout=1.0)
            self.fail(f"unexpected response while idling: {extra.raw!r}")
        except (socket.timeout, TimeoutError):
            pass
        except EOFError:
            self.fail("the server closed the connection during IDLE (no BYE, no tagged response)")
        a.send(b"DONE\r\n")
        r = a.read_response()
        while r.tag == "*":
            r = a.read_response()
        self.assertEqual(r.tag, tag)
        self.assertStatus(r, "OK")

    def test_idle_survives_bursts_of_changes(self):
        # Many change notices in quick succession while idling; DONE still ends IDLE with a
        # tagged OK and the session lives on.
        a = self.raw(label="A")
        a.ok("SELECT ", self.box)
        tag = a.next_tag()
        a.send(f"{tag} IDLE\r\n")
        self.assertEqual(a.read_response().tag, "+")
        w = self.raw(label="W")
        msgs = [simple_message(f"burst {i}") for i in range(8)]
        w.send(b"".join(b"w%d APPEND %s {%d+}\r\n%s\r\n" % (i, self.box.encode(), len(m), m)
                        for i, m in enumerate(msgs)))
        done = 0
        while done < len(msgs):
            if w.read_response().tag.startswith("w"):
                done += 1
        w.ok("SELECT ", self.box)
        for i in range(1, 9):
            w.ok(f"STORE {i} +FLAGS.SILENT (\\Seen)")
        time.sleep(1.0)
        a.send(b"DONE\r\n")
        seen = []
        while True:
            r = a.read_response()
            seen.append(r)
            if r.tag != "*":
                break
        self.assertEqual(r.tag, tag)
        self.assertStatus(r, "OK")
        problems, _ = check_numbering(seen, 0)
        self.assertEqual(problems, [])
        self.assertAlive(a)

    def test_idle_in_authenticated_state(self):
        a = self.raw(label="A")
        tag = a.next_tag()
        a.send(f"{tag} IDLE\r\n")
        r = a.read_response()
        self.assertEqual(r.tag, "+")
        a.send(b"DONE\r\n")
        r = a.read_response()
        self.assertEqual(r.tag, tag)
        self.assertStatus(r, "OK")


# ---------------------------------------------------------------------------------------------


class ErrorHandlingTests(IMAPTestCase):
    """Malformed, unknown and wrong-state commands over a raw socket; pipelining."""

    @classmethod
    def setUpClass(cls):
        if "user" in cls.__dict__:
            return  # the class's late tests: same user and data
        cls.user = new_user()
        m = cls._shared_conn = TIMAP4(label="shared")
        m.login(*cls.user)
        m.append("INBOX", None, None, simple_message("only"))

    def conn(self):
        """A logged-in raw connection shared by the tests that leave it usable."""
        cls = type(self)
        c = cls.__dict__.get("_raw_conn")
        if c is not None:
            try:
                if c.command("CAPABILITY").status == "OK":
                    return c
            except (OSError, EOFError, ProtocolError):
                pass
            c.close()
        c = RawClient(label="errs")
        c.login(*self.user)
        cls._raw_conn = c
        return c

    def test_unknown_command(self):
        c = self.raw(login=False)
        self.assertStatus(c.command("FROBNICATE"), "BAD")
        self.assertAlive(c)
        c = self.conn()
        self.assertStatus(c.command("FROBNICATE now"), "BAD")
        self.assertStatus(c.command("UID FROBNICATE 1"), "BAD")
        self.assertAlive(c)

    def test_wrong_state(self):
        c = self.raw(login=False)
        for cmd in ("SELECT INBOX", "LIST \"\" *", "FETCH 1 FLAGS", "STATUS INBOX (MESSAGES)",
                    "APPEND INBOX {3+}\r\nabc", "IDLE", "CLOSE"):
            with self.subTest(command=cmd):
                self.assertStatus(c.command(cmd), "BAD")
        c.login(*self.user)
        for cmd in ("FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "EXPUNGE",
                    "CLOSE", "UID FETCH 1 FLAGS", "COPY 1 INBOX", "UNSELECT", "CHECK"):
            with self.subTest(command=cmd):
                self.assertStatus(c.command(cmd), "BAD")
        self.assertStatus(c.command(f"LOGIN {quote(self.user[0])} {quote(self.user[1])}"), "BAD",
                          msg="LOGIN when already authenticated")
        self.assertAlive(c)

    def test_bad_sequence_sets(self):
        c = self.conn()
        c.ok("SELECT INBOX")
        for cmd in ("FETCH 0 FLAGS", "FETCH 1:x FLAGS", "FETCH a FLAGS", "FETCH 1, FLAGS",
                    "FETCH 2 FLAGS", "FETCH 1:5 FLAGS", "STORE 7 +FLAGS (\\Seen)",
                    "COPY 3 INBOX", "FETCH 1 (FLAGS", "FETCH 1 NOSUCHITEM",
                    "FETCH 1 BODY[1.0]", "FETCH 1 BODY[HEADER.FIELDS]", "FETCH 1 BODY[]<5.0>",
                    "FETCH 1 BODY[]<x>", "UID FETCH 0 FLAGS"):
            with self.subTest(command=cmd):
                self.assertStatus(c.command(cmd), "BAD")
        self.assertStatus(c.command("FETCH 1 FLAGS"), "OK")

    def test_missing_arguments(self):
        c = self.conn()
        for cmd in ("SELECT", "CREATE", "RENAME INBOX", "LOGIN", "STATUS INBOX", "LIST \"\"",
                    "STATUS INBOX (NOSUCHITEM)", "LOGOUT extra", "CAPABILITY extra"):
            with self.subTest(command=cmd):
                self.assertStatus(c.command(cmd), "BAD")
        self.assertAlive(c)

    def test_long_line(self):
        c = self.raw()
        tag = c.next_tag()
        c.send(f"{tag} CAPABILITY {'x' * 70000}\r\n".encode())
        r = c.read_response()
        while r.tag == "*" and r.status not in ("BYE",):
            r = c.read_response()
        self.assertEqual(r.tag, tag, f"tagged BAD for a {70000}-byte line, got {r.raw[:200]!r}")
        self.assertStatus(r, "BAD")
        self.assertAlive(c)

    def test_pipelining(self):
        c = self.conn()
        tags = [c.next_tag() for _ in range(6)]
        cmds = ["STATUS INBOX (MESSAGES)", "CAPABILITY", 'LIST "" INBOX', "SELECT INBOX", "FETCH 1 (UID FLAGS)",
                "FROBNICATE"]
        c.send("".join(f"{t} {cmd}\r\n" for t, cmd in zip(tags, cmds)))
        seen = []
        kinds_before = {}
        current = []
        while len(seen) < len(tags):
            r = c.read_response()
            if r.tag == "*":
                current.append(r.kind)
                continue
            seen.append((r.tag, r.status))
            kinds_before[r.tag] = current
            current = []
        self.assertEqual([t for t, _ in seen], tags, "tagged responses in command order")
        self.assertEqual([s for _, s in seen], ["OK", "OK", "OK", "OK", "OK", "BAD"])
        self.assertIn("CAPABILITY", kinds_before[tags[1]])
        self.assertIn("LIST", kinds_before[tags[2]])
        self.assertIn("EXISTS", kinds_before[tags[3]])
        self.assertIn("FETCH", kinds_before[tags[4]])

    def test_case_insensitive_commands(self):
        c = self.conn()
        self.assertStatus(c.command("noop"), "OK")
        self.assertStatus(c.command("sElEcT inbox"), "OK")
        r = c.command("uid fetch 1:* (uid flags)")
        self.assertStatus(r, "OK")
        self.assertEqual(len(fetch_map(r.untagged)), 1)
        r = c.command("fetch 1 body.peek[header.fields (subject)]")
        self.assertStatus(r, "OK")
        d = fetch_map(r.untagged)[1]
        self.assertEqual(d.get("BODY[HEADER.FIELDS (SUBJECT)]"), b"Subject: only\r\n\r\n")

    def test_literal_where_astring_expected(self):
        c = self.conn()
        r = c.command("SELECT ", Literal(b"INBOX"))
        self.assertStatus(r, "OK")
        r = c.command("STATUS ", Literal(b"INBOX", plus=True), " (MESSAGES)")
        self.assertStatus(r, "OK")
        st = [x for x in r.untagged if x.kind == "STATUS"]
        self.assertEqual(parse_status_items(st[0].data[1])["MESSAGES"], "1")

    def test_bad_literal_recovery(self):
        c = self.conn()
        # A command that fails to parse but carries a non-synchronizing literal: the bytes
        # of the literal must not be taken as a new command.
        tag = c.next_tag()
        c.send(f"{tag} FOO ({{12+}}\r\nNOOP\r\nNOOP\r\n)\r\n".encode())
        r = c.read_response()
        self.assertEqual(r.tag, tag)
        self.assertStatus(r, "BAD")
        self.assertAlive(c)


CLASS_ORDER = [ConnectionTests, MailboxTests, AppendTests, FetchTests, StoreTests, SearchTests,
               ExpungeCopyMoveTests, ErrorHandlingTests, SessionTests]


def load_tests(loader, tests, pattern):
    """Feature order, with the tests marked late (and SessionTests) at the end."""
    early, later = unittest.TestSuite(), unittest.TestSuite()
    for cls in CLASS_ORDER:
        for name in loader.getTestCaseNames(cls):
            test = cls(name)
            is_late = getattr(cls, "late", False) or getattr(getattr(cls, name), "late", False)
            (later if is_late else early).addTest(test)
    return unittest.TestSuite([early, later])


if __name__ == "__main__":
    main()
