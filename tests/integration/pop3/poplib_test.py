#!/usr/bin/env python3
"""tern-pop3d against a local cluster, with Python's poplib, raw sockets and IMAP (imaplib and
a raw client) to put mail in and look at the result: greeting and CAPA (RFC 2449), USER/PASS
and AUTH (RFC 1939 7, RFC 5034: PLAIN, LOGIN, SCRAM-SHA-256), plaintext refused from a
non-loopback address without TLS (RFC 2595), STLS and POP3S, the maildrop fixed at login,
sizes counted with CRLF line endings (RFC 1939 11), byte-stuffing, TOP/UIDL, DELE applied only
in the UPDATE state, the exclusive maildrop lock (one process, two processes, Redis down:
PostgreSQL), LOGIN-DELAY, pipelining, malformed input, the pre-login autologout, SIGTERM,
and a session that outlives its first session token.

Run by tests/integration/imap/with_cluster.sh BUILD_DIR tests/integration/pop3/poplib_test.py
"""
import base64
import json
import os
import re
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pop3_testlib import (  # noqa: E402
    GREETING, MAILDROP_RE, POP3S_PORT, POP3_PORT, TRANSCRIPT, POP3TestCase, Pop3d, RawIMAP,
    RawPOP3, Scram, TPOP3, TPOP3_SSL, b64, dot_stuff, external_address, free_port,
    imap_append, imap_append_raw, imap_inbox, imap_status, main, make_message, new_user,
    raw_imap, tls_context)

CORE_CAPS = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
             "IMPLEMENTATION Tern"]


def caps_dict(lines):
    """CAPA lines -> {keyword: "arguments"}; a keyword listed twice is an error."""
    out = {}
    for l in lines:
        k, _, v = l.partition(" ")
        if k in out:
            raise AssertionError(f"capability {k} listed twice: {lines!r}")
        out[k] = v
    return out


def plain(user, password, authzid=""):
    return b64(f"{authzid}\0{user}\0{password}")


def login_when_free(test, user, port=POP3_PORT, within=3.0, label="retry"):
    """Logs in on one connection, repeating USER/PASS while the answer is [IN-USE] (the
    session stays in AUTHORIZATION, RFC 1939 4). Returns (connection, seconds waited)."""
    r = test.raw(label=label, port=port)
    start = time.monotonic()
    while True:
        test.assertOk(r.cmd("USER " + user[0]))
        line = r.cmd("PASS " + user[1])
        if MAILDROP_RE.match(line):
            return r, time.monotonic() - start
        test.assertErr(line, "IN-USE")
        if time.monotonic() - start > within:
            test.fail(f"still [IN-USE] after {within} s: {line!r}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# A session opened when the module starts and used again by the very last test: its session
# token (TERN_SESSION_TTL=20s, plus the services' 30 s clock-skew allowance) must have been
# renewed meanwhile for RETR and the UPDATE state to work.

LONG = {}


def setUpModule():
    user = new_user()
    msg = make_message("long session", ["kept across token renewals"])
    imap_append(user, msg)
    r = RawPOP3(label="long")
    if r.greeting != GREETING:
        raise AssertionError(f"greeting {r.greeting!r}")
    line = r.login(*user)
    if not MAILDROP_RE.match(line):
        raise AssertionError(f"login: {line!r}")
    LONG.update(user=user, msg=msg, conn=r, since=time.monotonic())


def tearDownModule():
    if LONG.get("conn"):
        LONG["conn"].close()


# ---------------------------------------------------------------------------------------------


class A1_GreetingAndCapabilities(POP3TestCase):
    def test_greeting_without_timestamp_and_apop_refused(self):
        user = new_user()
        r = self.raw()  # checks the greeting is exactly "+OK Tern POP3 server ready"
        self.assertNotIn(b"<", r.greeting, "no APOP timestamp (RFC 1939 7)")
        self.assertErr(r.cmd("APOP %s %s" % (user[0], "0123456789abcdef" * 2)))
        # Still in AUTHORIZATION and usable.
        self.assertRegex(r.login(*user), MAILDROP_RE)
        self.assertEqual(r.cmd("STAT"), b"+OK 0 0")
        # poplib sees the same greeting.
        p = self.pop(label="poplib")
        self.assertEqual(p.getwelcome(), GREETING)

    def _check_core(self, caps, where):
        for c in CORE_CAPS:
            k, _, v = c.partition(" ")
            self.assertIn(k, caps, f"{where}: CAPA lacks {c}: {caps!r}")
            self.assertEqual(caps[k], v, f"{where}: CAPA {k} {caps[k]!r}, expected {c!r}")
        self.assertNotIn("LOGIN-DELAY", caps, f"{where}: no --login-delay, no LOGIN-DELAY")

    def test_capa_in_authorization_and_transaction(self):
        user = new_user()
        # What authd offers on a loopback plaintext connection, as tern-imapd shows it.
        im = RawIMAP(label="imap-caps")
        self._closers.append(im.close)
        imap_caps = b" ".join(im.cmd(b"CAPABILITY")[:-1]).decode().split()
        imap_mechs = {c[5:] for c in imap_caps if c.upper().startswith("AUTH=")}
        self.assertIn("PLAIN", imap_mechs)

        r = self.raw()
        before = r.capa()
        caps = caps_dict(before)
        self._check_core(caps, "AUTHORIZATION")
        self.assertEqual(caps.get("USER"), "", f"USER offered on loopback: {before!r}")
        self.assertEqual(caps.get("STLS"), "", f"STLS offered before TLS: {before!r}")
        self.assertIn("SASL", caps, before)
        mechs = caps["SASL"].split()
        for m in ["PLAIN", "LOGIN", "SCRAM-SHA-256"] + (
                ["OAUTHBEARER"] if os.environ.get("TERN_OAUTH_ISSUER") else []):
            self.assertIn(m, mechs, f"SASL {mechs!r}")
        self.assertEqual(set(mechs), imap_mechs, "SASL lists what authd offers (as IMAP does)")

        self.assertRegex(r.login(*user), MAILDROP_RE)
        after = r.capa()
        caps = caps_dict(after)
        self._check_core(caps, "TRANSACTION")
        for k in ("USER", "SASL", "STLS"):
            self.assertNotIn(k, caps, f"TRANSACTION CAPA lists {k}: {after!r}")
        self.assertOk(r.cmd("QUIT"))

        # poplib's view, after STLS: no STLS any more, USER and SASL still there.
        p = self.pop(label="poplib-stls")
        p.stls(context=tls_context())
        caps = {k: " ".join(v) for k, v in p.capa().items()}
        self._check_core(caps, "after STLS")
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        self.assertIn("PLAIN", caps.get("SASL", "").split())

        # POP3S: no STLS either.
        s = self.raw(label="pop3s", tls=True)
        caps = caps_dict(s.capa())
        self._check_core(caps, "POP3S")
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)


class A2_Authentication(POP3TestCase):
    def test_user_pass_and_quit(self):
        user = new_user()
        r = self.raw()
        self.assertOk(r.cmd("USER " + user[0]))
        self.assertEqual(r.cmd("PASS " + user[1]), b"+OK Maildrop has 0 messages (0 octets)")
        self.assertEqual(r.cmd("STAT"), b"+OK 0 0")
        self.assertOk(r.cmd("QUIT"))
        self.assertEqual(r.read_until_closed(5), b"", "nothing after the QUIT answer")
        # QUIT in AUTHORIZATION: +OK and the connection closes (RFC 1939 4).
        q = self.raw(label="quit-auth")
        self.assertOk(q.cmd("QUIT"))
        self.assertEqual(q.read_until_closed(5), b"")
        # poplib
        p = self.pop(label="poplib", user=user)
        self.assertEqual(p.stat(), (0, 0))
        self.assertTrue(p.quit().startswith(b"+OK"))

    def test_wrong_password(self):
        user = new_user()
        r = self.raw()
        self.assertOk(r.cmd("USER " + user[0]))
        self.assertEqual(r.cmd("PASS not-" + user[1]), b"-ERR [AUTH] Authentication failed")
        # Still AUTHORIZATION: no TRANSACTION command, and the right password works.
        self.assertErr(r.cmd("STAT"))
        self.assertRegex(r.login(*user), MAILDROP_RE)
        # An unknown user is answered the same way.
        u = self.raw(label="unknown")
        self.assertOk(u.cmd("USER nobody-%d@example.test" % os.getpid()))
        self.assertEqual(u.cmd("PASS whatever"), b"-ERR [AUTH] Authentication failed")

    def test_pass_only_right_after_user(self):
        user = new_user()
        r = self.raw()
        self.assertErr(r.cmd("PASS " + user[1]), msg="PASS without USER")
        self.assertOk(r.cmd("USER " + user[0]))
        self.assertOk(r.multi("CAPA")[0])
        self.assertErr(r.cmd("PASS " + user[1]), msg="PASS after USER, CAPA")
        self.assertOk(r.cmd("USER " + user[0]))
        self.assertErr(r.cmd("XYZW"))
        self.assertErr(r.cmd("PASS " + user[1]), msg="PASS after USER, an unknown command")
        self.assertOk(r.cmd("USER " + user[0]))
        self.assertErr(r.cmd("STAT"))
        self.assertErr(r.cmd("PASS " + user[1]), msg="PASS after USER, STAT (-ERR)")
        self.assertOk(r.cmd("USER " + user[0]))
        self.assertRegex(r.cmd("PASS " + user[1]), MAILDROP_RE)

    def test_pass_not_right_after_user_when_a_rejected_line_came_between(self):
        # Lines the server answers -ERR before looking up a command (a keyword that is not
        # 3-4 characters, an empty line, a line over 255 octets) are commands from the
        # client all the same: PASS after them does not directly follow USER (RFC 1939 7).
        user = new_user()
        results = []
        for between, what in ((b"XYZZY", "a 5-letter unknown command"),
                              (b"", "an empty line"),
                              (b"NOOP " + b"x" * 300, "a line over 255 octets")):
            r = self.raw(label=what)
            self.assertOk(r.cmd("USER " + user[0]))
            self.assertErr(r.cmd(between), msg=what)
            line = r.cmd("PASS " + user[1])
            results.append((what, line))
            if line.startswith(b"+OK"):
                self.assertOk(r.cmd("QUIT"))
            else:
                self.assertRegex(r.login(*user), MAILDROP_RE)
                self.assertOk(r.cmd("QUIT"))
        wrong = [f"USER, {what}, PASS -> {line!r}" for what, line in results
                 if not line.startswith(b"-ERR")]
        self.assertEqual(wrong, [], "PASS must be refused unless it directly follows USER")

    def test_auth_plain_with_and_without_initial_response(self):
        user = new_user()
        r = self.raw(label="ir")
        self.assertRegex(r.cmd(b"AUTH PLAIN " + plain(*user)), MAILDROP_RE)
        self.assertEqual(r.cmd("STAT"), b"+OK 0 0")
        self.assertOk(r.cmd("QUIT"))
        # Without an initial response: an empty challenge "+ " (RFC 5034 4).
        c = self.raw(label="challenge")
        self.assertEqual(c.cmd("AUTH PLAIN"), b"+ ")
        self.assertRegex(c.cmd(plain(*user)), MAILDROP_RE)
        self.assertOk(c.cmd("QUIT"))
        # Wrong password; a response that is not base64; cancelled with "*".
        w = self.raw(label="wrong")
        self.assertEqual(w.cmd(b"AUTH PLAIN " + plain(user[0], "wrong")),
                         b"-ERR [AUTH] Authentication failed")
        self.assertErr(w.cmd("AUTH PLAIN !!!!"))
        self.assertEqual(w.cmd("AUTH PLAIN"), b"+ ")
        self.assertErr(w.cmd("!!!!"))
        self.assertEqual(w.cmd("AUTH PLAIN"), b"+ ")
        self.assertErr(w.cmd("*"), msg="'*' cancels the exchange")
        self.assertErr(w.cmd("STAT"), msg="still not logged in")
        # The same connection can still log in.
        self.assertRegex(w.cmd(b"AUTH PLAIN " + plain(*user)), MAILDROP_RE)

    def test_auth_login_empty_initial_response_and_cancel(self):
        user = new_user()
        r = self.raw()
        self.assertEqual(r.cmd("AUTH LOGIN"), b"+ " + b64("Username:"))
        self.assertErr(r.cmd("*"), msg="'*' cancels")
        # "=" is an empty initial response (RFC 5034 4): the (empty) user name is the first
        # response, so the server asks for the password next.
        self.assertEqual(r.cmd("AUTH LOGIN ="), b"+ " + b64("Password:"))
        self.assertErr(r.cmd("*"), msg="'*' cancels")
        self.assertErr(r.cmd("STAT"), msg="still not logged in")
        self.assertEqual(r.cmd("AUTH LOGIN"), b"+ " + b64("Username:"))
        self.assertEqual(r.cmd(b64(user[0])), b"+ " + b64("Password:"))
        self.assertRegex(r.cmd(b64(user[1])), MAILDROP_RE)
        self.assertOk(r.cmd("QUIT"))
        # With the user name as initial response.
        r2 = self.raw(label="login-ir")
        self.assertEqual(r2.cmd(b"AUTH LOGIN " + b64(user[0])), b"+ " + b64("Password:"))
        self.assertRegex(r2.cmd(b64(user[1])), MAILDROP_RE)

    def _scram(self, r, user, password, initial):
        s = Scram(user, password)
        if initial:
            line = r.cmd(b"AUTH SCRAM-SHA-256 " + b64(s.client_first()))
        else:
            self.assertEqual(r.cmd("AUTH SCRAM-SHA-256"), b"+ ")
            line = r.cmd(b64(s.client_first()))
        self.assertTrue(line.startswith(b"+ "), f"server-first expected, got {line!r}")
        line = r.cmd(b64(s.client_final(base64.b64decode(line[2:]))))
        return s, line

    def test_scram_sha_256(self):
        user = new_user()
        for initial in (False, True):
            r = self.raw(label="scram-ir" if initial else "scram")
            s, line = self._scram(r, user[0], user[1], initial)
            # The server-final message comes as a challenge; the server's signature proves
            # it knows the password (RFC 5802 mutual authentication).
            self.assertTrue(line.startswith(b"+ "), f"server-final expected, got {line!r}")
            self.assertEqual(base64.b64decode(line[2:]).decode(), s.verifier,
                             "server signature")
            self.assertRegex(r.cmd(b""), MAILDROP_RE)
            self.assertEqual(r.cmd("STAT"), b"+OK 0 0")
            self.assertOk(r.cmd("QUIT"))
        # A wrong password: -ERR [AUTH] (after an "e=" server-final, if one is sent).
        w = self.raw(label="scram-wrong")
        s, line = self._scram(w, user[0], "not the password", False)
        if line.startswith(b"+ "):
            final = base64.b64decode(line[2:]).decode()
            self.assertTrue(final.startswith("e="), f"server-final for a wrong proof: {final!r}")
            line = w.cmd(b"")
        self.assertErr(line, "AUTH")
        self.assertErr(w.cmd("STAT"))

    def test_plaintext_refused_without_tls_from_non_loopback(self):
        addr = external_address()
        if addr is None:
            self.fail("no non-loopback address on this machine to test from")
        user = new_user()
        r = self.raw(label="remote", host=addr)
        caps = caps_dict(r.capa())
        self.assertNotIn("USER", caps, "no USER where plaintext passwords are refused")
        self.assertIn("STLS", caps)
        for m in ("PLAIN", "LOGIN"):
            self.assertNotIn(m, caps.get("SASL", "").split())
        self.assertErr(r.cmd("USER " + user[0]), "AUTH")
        self.assertErr(r.cmd("PASS " + user[1]))
        self.assertErr(r.cmd(b"AUTH PLAIN " + plain(*user)), "AUTH")
        self.assertErr(r.cmd("STAT"), msg="not logged in")
        # After STLS the same connection may log in with USER/PASS.
        r.stls(tls_context(check_hostname=False))
        caps = caps_dict(r.capa())
        self.assertIn("USER", caps)
        self.assertNotIn("STLS", caps)
        self.assertIn("PLAIN", caps.get("SASL", "").split())
        self.assertRegex(r.login(*user), MAILDROP_RE)
        self.assertOk(r.cmd("QUIT"))
        # POP3S from that address too.
        s = self.raw(label="remote-pop3s", host=addr, tls=True,
                     context=tls_context(check_hostname=False))
        self.assertIn("USER", caps_dict(s.capa()))
        self.assertRegex(s.login(*user), MAILDROP_RE)
        self.assertOk(s.cmd("QUIT"))


class A3_Tls(POP3TestCase):
    def test_stls_then_login_and_stls_again_refused(self):
        user = new_user()
        p = self.pop(label="stls")
        self.assertTrue(p.stls(context=tls_context()).startswith(b"+OK"))
        self.assertIn(p.sock.version(), ("TLSv1.2", "TLSv1.3"))
        # RFC 2595 4: STLS once TLS is active is refused (sent by hand: poplib would not).
        self.assertPoplibErr(lambda: p._shortcmd("STLS"))
        p.user(user[0])
        self.assertRegex(p.pass_(user[1]), MAILDROP_RE)
        self.assertEqual(p.stat(), (0, 0))
        # STLS in TRANSACTION: -ERR as well.
        self.assertPoplibErr(lambda: p._shortcmd("STLS"))
        self.assertTrue(p.quit().startswith(b"+OK"))

    def test_stls_discards_pipelined_plaintext(self):
        # RFC 2595 4 / RFC 7817: what the client sent after STLS in the clear must not be
        # taken as a command inside TLS.
        user = new_user()
        r = self.raw(label="stls-inject")
        r.send(b"STLS\r\nCAPA\r\n")
        self.assertOk(r.line())
        self.assertEqual(r.buf, b"")
        r.sock = tls_context().wrap_socket(r.sock, server_hostname="localhost")
        self.assertErr(r.cmd("XYZW"), msg="the first answer in TLS is XYZW's, not CAPA's")
        self.assertOk(r.cmd("USER " + user[0]))
        self.assertRegex(r.cmd("PASS " + user[1]), MAILDROP_RE)
        self.assertEqual(r.cmd("STAT"), b"+OK 0 0")

    def test_pop3s_tls12_and_tls13(self):
        user = new_user()
        for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                              (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            p = TPOP3_SSL(label="pop3s-" + name, context=tls_context(version=version))
            self._closers.append(p.close)
            self.assertEqual(p.sock.version(), name)
            self.assertEqual(p.getwelcome(), GREETING)
            self.assertPoplibErr(lambda: p._shortcmd("STLS"))
            p.user(user[0])
            self.assertRegex(p.pass_(user[1]), MAILDROP_RE)
            self.assertEqual(p.stat(), (0, 0))
            self.assertTrue(p.quit().startswith(b"+OK"))


class B1_Maildrop(POP3TestCase):
    def test_listing_sizes_and_unique_ids(self):
        user = new_user()
        msgs = [make_message("one", ["hello"]),
                make_message("two", ["line %d" % i for i in range(30)]),
                make_message("three", ["x" * 70] * 5)]
        imap_append(user, *msgs)
        validity, uids = imap_inbox(user)
        self.assertEqual(len(uids), 3, "precondition: three messages in INBOX")
        sizes = [len(m) for m in msgs]
        total = sum(sizes)
        r = self.raw()
        self.assertOk(r.cmd("USER " + user[0]))
        self.assertEqual(r.cmd("PASS " + user[1]),
                         b"+OK Maildrop has 3 messages (%d octets)" % total)
        self.assertEqual(r.cmd("STAT"), b"+OK 3 %d" % total)
        status, body = r.multi("LIST")
        self.assertOk(status)
        self.assertEqual(body, b"".join(b"%d %d\r\n" % (i + 1, s) for i, s in enumerate(sizes)))
        self.assertEqual(r.cmd("LIST 2"), b"+OK 2 %d" % sizes[1])
        status, body = r.multi("UIDL")
        self.assertOk(status)
        self.assertEqual(body, b"".join(b"%d %d.%d\r\n" % (i + 1, validity, u)
                                        for i, u in enumerate(uids)))
        self.assertEqual(r.cmd("UIDL 3"), b"+OK 3 %d.%d" % (validity, uids[2]))
        for bad in ("LIST 4", "LIST 0", "LIST x", "LIST -1", "LIST 99999999999", "UIDL 4",
                    "UIDL 0", "RETR 4", "RETR 0", "TOP 4 0", "DELE 4", "DELE 0"):
            self.assertErr(r.cmd(bad), msg=f"{bad}: no such message")
        self.assertEqual(r.cmd("STAT"), b"+OK 3 %d" % total, "nothing changed")
        self.assertOk(r.cmd("QUIT"))
        # poplib agrees.
        p = self.pop(label="poplib", user=user)
        self.assertEqual(p.stat(), (3, total))
        resp, listing, _ = p.list()
        self.assertEqual(listing, [b"%d %d" % (i + 1, s) for i, s in enumerate(sizes)])
        resp, ids, _ = p.uidl()
        self.assertEqual(ids, [b"%d %d.%d" % (i + 1, validity, u) for i, u in enumerate(uids)])

    def test_retr_is_byte_exact_and_dot_stuffed(self):
        user = new_user()
        lines = [".", ".hidden", "..two dots", "normal", ". space", "", "end.", "..", "x.y"]
        msg = make_message("dots", lines, extra_headers=[".X-Odd: header with a dot"])
        imap_append(user, msg)
        r = self.raw(user=user)
        status, body = r.multi("RETR 1")
        self.assertEqual(status, b"+OK %d octets" % len(msg))
        self.assertEqual(body, dot_stuff(msg))
        # The exact bytes on the wire, terminator included.
        self.assertTrue(bytes(r.wire).endswith(b"+OK %d octets\r\n" % len(msg) + dot_stuff(msg)
                                               + b".\r\n"),
                        f"wire: {bytes(r.wire)[-400:]!r}")
        self.assertIn(b"\r\n..hidden\r\n...two dots\r\n", bytes(r.wire))
        self.assertOk(r.cmd("QUIT"))
        # poplib undoes the stuffing: the original lines.
        p = self.pop(label="poplib", user=user)
        resp, got, octets = p.retr(1)
        self.assertEqual(resp, b"+OK %d octets" % len(msg))
        self.assertEqual(got, msg.split(b"\r\n")[:-1])

    def test_bare_lf_message_sent_with_crlf_and_sized_as_crlf(self):
        user = new_user()
        lf = (b"From: lf@example.test\nTo: rcpt@example.test\nSubject: bare LF\n\n"
              b"first line\n.dot line\n\n..two\nlast line\n")
        crlf_msg = make_message("crlf neighbour", ["plain"])
        imap_append_raw(user, lf)
        imap_append(user, crlf_msg)
        want = lf.replace(b"\n", b"\r\n")
        total = len(want) + len(crlf_msg)
        r = self.raw()
        self.assertOk(r.cmd("USER " + user[0]))
        self.assertEqual(r.cmd("PASS " + user[1]),
                         b"+OK Maildrop has 2 messages (%d octets)" % total)
        self.assertEqual(r.cmd("STAT"), b"+OK 2 %d" % total)
        self.assertEqual(r.cmd("LIST 1"), b"+OK 1 %d" % len(want),
                         "RFC 1939 11: the size counts CRLF line endings")
        status, body = r.multi("RETR 1")
        self.assertEqual(status, b"+OK %d octets" % len(want))
        self.assertTrue(bytes(r.wire).endswith(b"+OK %d octets\r\n" % len(want) + dot_stuff(want)
                                               + b".\r\n"),
                        f"wire: {bytes(r.wire)[-300:]!r}")
        status, body = r.multi("TOP 1 1")
        self.assertOk(status)
        head = want[: want.index(b"\r\n\r\n") + 4]
        self.assertEqual(body, dot_stuff(head + b"first line\r\n"))
        self.assertOk(r.cmd("QUIT"))
        p = self.pop(label="poplib", user=user)
        resp, got, _ = p.retr(1)
        self.assertEqual(got, lf.split(b"\n")[:-1])

    def test_chunk_boundaries_in_large_messages(self):
        # Messages are read from blobd 1 MiB at a time: a CRLF split across the boundary and
        # a "." line starting right at it must come out like anywhere else.
        user = new_user()
        boundary = 1 << 20

        def build(subject, cr_at):
            out = bytearray(make_message(subject, []))
            while cr_at - len(out) > 200:
                out += b"y" * 78 + b"\r\n"
            out += b"z" * (cr_at - len(out)) + b"\r\n"
            assert out[cr_at:cr_at + 2] == b"\r\n"
            out += b".dot after the boundary\r\n" + b"w" * 78 + b"\r\n" * 1 + b".\r\nend\r\n"
            return bytes(out)

        split_crlf = build("split crlf", boundary - 1)  # CR last of chunk 1, LF first of chunk 2
        dot_first = build("dot first", boundary - 2)  # chunk 2 starts with "."
        imap_append(user, split_crlf, dot_first)
        r = self.raw(user=user)
        for n, msg in ((1, split_crlf), (2, dot_first)):
            status, body = r.multi("RETR %d" % n)
            self.assertEqual(status, b"+OK %d octets" % len(msg))
            self.assertEqual(len(body), len(dot_stuff(msg)), f"message {n}: stuffed length")
            self.assertTrue(body == dot_stuff(msg), f"message {n} differs around "
                            f"{next((i for i, (a, b) in enumerate(zip(body, dot_stuff(msg))) if a != b), None)}")
        self.assertOk(r.cmd("QUIT"))

    def test_top(self):
        user = new_user()
        msg = make_message("top", ["first", ".second", "third", "", "fifth"])
        head = msg[: msg.index(b"\r\n\r\n") + 4]
        imap_append(user, msg)
        r = self.raw(user=user)
        cases = {0: head, 1: head + b"first\r\n", 2: head + b"first\r\n.second\r\n",
                 4: head + b"first\r\n.second\r\nthird\r\n\r\n", 5: msg, 100: msg}
        for n, want in cases.items():
            status, body = r.multi("TOP 1 %d" % n)
            self.assertOk(status)
            self.assertEqual(body, dot_stuff(want), f"TOP 1 {n}")
        for bad in ("TOP 1 x", "TOP 1 -1", "TOP 1", "TOP 1 1 1", "TOP 2 0", "TOP x 0"):
            self.assertErr(r.cmd(bad), msg=bad)
        self.assertOk(r.cmd("DELE 1"))
        self.assertErr(r.cmd("TOP 1 0"), msg="TOP of a deleted message")
        self.assertOk(r.cmd("RSET"))
        self.assertOk(r.cmd("QUIT"))
        p = self.pop(label="poplib", user=user)
        resp, got, _ = p.top(1, 2)
        self.assertEqual(got, head.split(b"\r\n")[:-1] + [b"first", b".second"])

    def test_dele_rset_and_update(self):
        user = new_user()
        msgs = [make_message("m%d" % i, ["body %d" % i]) for i in (1, 2, 3)]
        imap_append(user, *msgs)
        validity, uids = imap_inbox(user)
        self.assertEqual(len(uids), 3)
        sizes = [len(m) for m in msgs]
        watcher = raw_imap(user, "imap-watch")
        self._closers.append(watcher.close)
        watcher.cmd("SELECT INBOX")

        p = self.pop(label="poplib", user=user)
        self.assertTrue(p.dele(2).startswith(b"+OK"))
        self.assertPoplibErr(lambda: p.dele(2))
        self.assertPoplibErr(lambda: p.retr(2))
        self.assertPoplibErr(lambda: p.list(2))
        self.assertPoplibErr(lambda: p.uidl(2))
        self.assertPoplibErr(lambda: p.top(2, 0))
        self.assertEqual(p.stat(), (2, sizes[0] + sizes[2]))
        self.assertEqual(p.list()[1], [b"1 %d" % sizes[0], b"3 %d" % sizes[2]])
        self.assertEqual(p.uidl()[1], [b"1 %d.%d" % (validity, uids[0]),
                                       b"3 %d.%d" % (validity, uids[2])])
        self.assertTrue(p.rset().startswith(b"+OK"))
        self.assertEqual(p.stat(), (3, sum(sizes)), "RSET unmarks")
        self.assertEqual(p.retr(2)[1], msgs[1].split(b"\r\n")[:-1])
        self.assertTrue(p.dele(1).startswith(b"+OK"))
        self.assertTrue(p.dele(3).startswith(b"+OK"))
        self.assertTrue(p.noop().startswith(b"+OK"))
        self.assertEqual(imap_status(user)[0], 3, "DELE takes effect only at QUIT")
        self.assertTrue(p.quit().startswith(b"+OK"))

        self.assertEqual(imap_status(user)[0], 1)
        self.assertEqual(imap_inbox(user)[1], [uids[1]])
        # The IMAP session that had INBOX selected hears of it (RFC 3501 7.4.1).
        left = list(uids)
        expunges = []
        deadline = time.monotonic() + 5
        while len(expunges) < 2 and time.monotonic() < deadline:
            for l in watcher.cmd("NOOP"):
                m = re.match(rb"\* (\d+) EXPUNGE$", l)
                if m:
                    expunges.append(int(m.group(1)))
                    del left[int(m.group(1)) - 1]
            if len(expunges) < 2:
                time.sleep(0.2)
        self.assertEqual(len(expunges), 2, f"EXPUNGE responses {expunges!r}")
        self.assertEqual(left, [uids[1]], f"EXPUNGE responses {expunges!r}")

        # The next session: the one message left, with the same unique id.
        p2 = self.pop(label="poplib2", user=user)
        self.assertEqual(p2.stat(), (1, sizes[1]))
        self.assertEqual(p2.uidl()[1], [b"1 %d.%d" % (validity, uids[1])])
        self.assertEqual(p2.retr(1)[1], msgs[1].split(b"\r\n")[:-1])
        self.assertTrue(p2.quit().startswith(b"+OK"))

    def test_connection_closed_without_quit_deletes_nothing(self):
        user = new_user()
        msgs = [make_message("keep%d" % i, ["body"]) for i in (1, 2)]
        imap_append(user, *msgs)
        r = self.raw(label="dropped", user=user)
        self.assertOk(r.cmd("DELE 1"))
        self.assertOk(r.cmd("DELE 2"))
        self.assertEqual(r.cmd("STAT"), b"+OK 0 0")
        r.close()
        again, _ = login_when_free(self, user)
        self.assertEqual(again.cmd("STAT"), b"+OK 2 %d" % sum(len(m) for m in msgs))
        self.assertEqual(imap_status(user)[0], 2)
        # QUIT with nothing deleted removes nothing either.
        self.assertOk(again.cmd("QUIT"))
        self.assertEqual(imap_status(user)[0], 2)

    def test_maildrop_fixed_at_login(self):
        user = new_user()
        first = make_message("first", ["one"])
        later = make_message("later", ["two"])
        imap_append(user, first)
        p = self.pop(label="poplib", user=user)
        uid_later = imap_append(user, later)[0]
        self.assertEqual(imap_status(user)[0], 2, "precondition: IMAP sees the new message")
        self.assertEqual(p.stat(), (1, len(first)))
        self.assertEqual(p.list()[1], [b"1 %d" % len(first)])
        self.assertEqual(len(p.uidl()[1]), 1)
        self.assertPoplibErr(lambda: p.retr(2))
        self.assertPoplibErr(lambda: p.list(2))
        self.assertTrue(p.rset().startswith(b"+OK"))
        self.assertEqual(p.stat(), (1, len(first)), "RSET does not reload the maildrop")
        self.assertTrue(p.quit().startswith(b"+OK"))
        p2 = self.pop(label="poplib2", user=user)
        self.assertEqual(p2.stat(), (2, len(first) + len(later)))
        validity, uids = imap_inbox(user)
        if uid_later is not None:
            self.assertEqual(uids[1], uid_later)
        self.assertEqual(p2.uidl(2), b"+OK 2 %d.%d" % (validity, uids[1]))
        self.assertEqual(p2.retr(2)[1], later.split(b"\r\n")[:-1])


class B2_MaildropLock(POP3TestCase):
    def test_second_login_in_use_until_quit(self):
        user = new_user()
        a = self.raw(label="a", user=user)
        b = self.raw(label="b")
        self.assertOk(b.cmd("USER " + user[0]))
        self.assertErr(b.cmd("PASS " + user[1]), "IN-USE")
        # b stays in AUTHORIZATION.
        self.assertErr(b.cmd("STAT"))
        self.assertIn("USER", caps_dict(b.capa()))
        self.assertErr(b.cmd(b"AUTH PLAIN " + plain(*user)), "IN-USE")
        c = self.pop(label="poplib")
        c.user(user[0])
        self.assertPoplibErr(lambda: c.pass_(user[1]), "IN-USE")
        self.assertTrue(c.quit().startswith(b"+OK"))
        # The holder is unaffected; once it QUITs the maildrop is free at once.
        self.assertEqual(a.cmd("STAT"), b"+OK 0 0")
        self.assertOk(a.cmd("QUIT"))
        self.assertRegex(b.login(*user), MAILDROP_RE)
        self.assertEqual(b.cmd("STAT"), b"+OK 0 0")

    def test_lock_released_when_connection_drops(self):
        user = new_user()
        a = self.raw(label="a", user=user)
        b = self.raw(label="b")
        self.assertOk(b.cmd("USER " + user[0]))
        self.assertErr(b.cmd("PASS " + user[1]), "IN-USE")
        a.sock.shutdown(socket.SHUT_RDWR)
        a.close()
        _, waited = login_when_free(self, user, within=3.0)
        TRANSCRIPT.note(f"login worked {waited:.2f} s after the drop")


class C1_SecondFrontEnd(POP3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.other = Pop3d("pop3-second")

    @classmethod
    def tearDownClass(cls):
        cls.other.stop()

    def test_lock_across_front_ends(self):
        user = new_user()
        a = self.raw(label="main", user=user)
        b = self.raw(label="second", port=self.other.port)
        self.assertOk(b.cmd("USER " + user[0]))
        self.assertErr(b.cmd("PASS " + user[1]), "IN-USE")
        self.assertErr(b.cmd("STAT"))
        self.assertOk(a.cmd("QUIT"))
        self.assertRegex(b.login(*user), MAILDROP_RE)
        # And the other way round.
        m = self.raw(label="main2")
        self.assertOk(m.cmd("USER " + user[0]))
        self.assertErr(m.cmd("PASS " + user[1]), "IN-USE")
        self.assertOk(b.cmd("QUIT"))
        self.assertRegex(m.login(*user), MAILDROP_RE)

    def test_partial_line_does_not_spin(self):
        # A command line that arrives in pieces is waited for on the socket: the process
        # uses (almost) no CPU while the rest is outstanding, in plaintext and over TLS, before
        # and after login.
        def cpu_seconds():
            with open(f"/proc/{self.other.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        user = new_user()
        plain_conn = self.raw(label="partial", port=self.other.port)
        tls_conn = self.raw(label="partial-tls", port=self.other.tls_port, tls=True)
        logged_in = self.raw(label="partial-user", port=self.other.port, user=user)
        for c in (plain_conn, tls_conn, logged_in):
            c.send(b"CA")
        before = cpu_seconds()
        time.sleep(2.0)
        used = cpu_seconds() - before
        TRANSCRIPT.note(f"tern-pop3d used {used:.2f} s CPU in 2 s with 3 partial lines")
        self.assertLess(used, 0.3, "a partial line must not make the front-end spin")
        for c in (plain_conn, tls_conn, logged_in):
            c.send(b"PA\r\n")
            self.assertOk(c.line())
            c.body()
        self.assertOk(logged_in.cmd("QUIT"))

    def test_unique_ids_stable_across_sessions_and_front_ends(self):
        user = new_user()
        msgs = [make_message("u%d" % i, ["body %d" % i]) for i in (1, 2, 3)]
        imap_append(user, *msgs)
        validity, uids = imap_inbox(user)
        want = b"".join(b"%d %d.%d\r\n" % (i + 1, validity, u) for i, u in enumerate(uids))
        for label, port in (("main", POP3_PORT), ("main-again", POP3_PORT),
                            ("second", self.other.port)):
            r = self.raw(label=label, port=port, user=user)
            status, body = r.multi("UIDL")
            self.assertEqual(body, want, label)
            self.assertOk(r.cmd("QUIT"))
        # POP3S on the second front-end; delete the first message there.
        p = self.pop(label="second-pop3s", port=self.other.tls_port, tls=True, user=user)
        self.assertEqual(p.uidl()[1], want.split(b"\r\n")[:-1])
        self.assertTrue(p.dele(1).startswith(b"+OK"))
        self.assertTrue(p.quit().startswith(b"+OK"))
        # The ids follow the messages, not the numbers.
        r = self.raw(label="main-after", user=user)
        self.assertEqual(r.multi("UIDL")[1], b"1 %d.%d\r\n2 %d.%d\r\n"
                         % (validity, uids[1], validity, uids[2]))

    def test_zz_sigterm_while_logged_in(self):
        user = new_user()
        msgs = [make_message("s%d" % i, ["body"]) for i in (1, 2)]
        imap_append(user, *msgs)
        b = self.raw(label="second", port=self.other.port, user=user)
        self.assertOk(b.cmd("DELE 1"))
        self.assertOk(b.cmd("DELE 2"))
        pre = self.raw(label="second-prelogin", port=self.other.port)
        self.other.proc.send_signal(15)
        got = b.read_until_closed(20)
        self.assertRegex(got, rb"\A-ERR \[SYS/TEMP\][^\r\n]*\r\n\Z",
                         "one -ERR [SYS/TEMP] line, then the connection closes")
        got = pre.read_until_closed(20)
        self.assertRegex(got, rb"\A(-ERR \[SYS/TEMP\][^\r\n]*\r\n)?\Z")
        self.assertEqual(self.other.proc.wait(timeout=30), 0, "exit status after SIGTERM")
        self.assertEqual(imap_status(user)[0], 2, "nothing DELE'd was deleted")
        # The lock went with the session.
        r, waited = login_when_free(self, user, within=3.0)
        self.assertEqual(r.cmd("STAT"), b"+OK 2 %d" % sum(len(m) for m in msgs))


class C2_RedisUnreachable(POP3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Pop3d("pop3-noredis", redis_addr="127.0.0.1:%d" % free_port())

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_locks_kept_in_postgresql(self):
        user = new_user()
        msg = make_message("pg lock", ["body"])
        imap_append(user, msg)
        a = self.raw(label="a", port=self.d.port, user=user)
        b = self.raw(label="b", port=self.d.port)
        self.assertOk(b.cmd("USER " + user[0]))
        self.assertErr(b.cmd("PASS " + user[1]), "IN-USE")
        self.assertErr(b.cmd(b"AUTH PLAIN " + plain(*user)), "IN-USE")
        self.assertEqual(a.cmd("STAT"), b"+OK 1 %d" % len(msg))
        status, body = a.multi("RETR 1")
        self.assertEqual(body, dot_stuff(msg))
        self.assertOk(a.cmd("DELE 1"))
        self.assertOk(a.cmd("QUIT"))
        self.assertEqual(imap_status(user)[0], 0, "UPDATE applied with the PostgreSQL lock")
        self.assertEqual(b.login(*user), b"+OK Maildrop has 0 messages (0 octets)")
        deadline = time.monotonic() + 5
        while True:
            records = self.d.log_records()
            hits = [r for r in records if "PostgreSQL" in json.dumps(r)]
            if hits or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertTrue(records, "the log has JSON lines")
        self.assertTrue(hits, "the log mentions PostgreSQL:\n" + self.d.log_text()[-2000:])


class C3_LoginDelay(POP3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Pop3d("pop3-delay", "--login-delay=5s")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_login_delay(self):
        user = new_user()
        r = self.raw(label="first", port=self.d.port)
        caps = caps_dict(r.capa())
        self.assertEqual(caps.get("LOGIN-DELAY"), "5", f"CAPA {caps!r}")
        started = time.monotonic()
        self.assertRegex(r.login(*user), MAILDROP_RE)
        self.assertEqual(caps_dict(r.capa()).get("LOGIN-DELAY"), "5", "in TRANSACTION too")
        self.assertOk(r.cmd("QUIT"))
        s = self.raw(label="second", port=self.d.port)
        self.assertOk(s.cmd("USER " + user[0]))
        self.assertErr(s.cmd("PASS " + user[1]), "LOGIN-DELAY")
        self.assertErr(s.cmd("STAT"), msg="still in AUTHORIZATION")
        self.assertOk(s.cmd("QUIT"))
        # Once the delay has passed, the login works (on a new connection: the pre-login
        # timeout is 5 s as well).
        time.sleep(max(0.0, started + 5.5 - time.monotonic()))
        t = self.raw(label="third", port=self.d.port)
        self.assertRegex(t.login(*user), MAILDROP_RE)


class D1_Protocol(POP3TestCase):
    def test_pipelining(self):
        user = new_user()
        msgs = [make_message("p1", [".dot", "a"]), make_message("p2", ["b"] * 3)]
        imap_append(user, *msgs)
        validity, uids = imap_inbox(user)
        sizes = [len(m) for m in msgs]
        total = sum(sizes)
        r = self.raw()
        # USER and PASS pipelined with CAPA and STAT.
        r.send("CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\n" % user)
        self.assertOk(r.line())
        r.body()
        self.assertOk(r.line())
        self.assertRegex(r.line(), MAILDROP_RE)
        self.assertEqual(r.line(), b"+OK 2 %d" % total)
        # (command, expected status: bytes for exact, "+"/"-" for the kind, multi-line?, body)
        script = [
            ("STAT", b"+OK 2 %d" % total, False, None),
            ("LIST", "+", True, b"1 %d\r\n2 %d\r\n" % tuple(sizes)),
            ("UIDL 2", b"+OK 2 %d.%d" % (validity, uids[1]), False, None),
            ("RETR 1", b"+OK %d octets" % sizes[0], True, dot_stuff(msgs[0])),
            ("TOP 2 0", "+", True, dot_stuff(msgs[1][: msgs[1].index(b"\r\n\r\n") + 4])),
            ("NOOP", "+", False, None),
            ("XYZZY", "-", False, None),
            ("LIST 9", "-", False, None),
            ("DELE 1", "+", False, None),
            ("RETR 1", "-", True, None),
            ("STAT", b"+OK 1 %d" % sizes[1], False, None),
            ("UIDL", "+", True, b"2 %d.%d\r\n" % (validity, uids[1])),
            ("RSET", "+", False, None),
            ("STAT", b"+OK 2 %d" % total, False, None),
            ("RETR 2", b"+OK %d octets" % sizes[1], True, dot_stuff(msgs[1])),
        ] + [("NOOP", "+", False, None)] * 100 + [
            ("LIST 2", b"+OK 2 %d" % sizes[1], False, None),
        ]
        r.send("".join(c + "\r\n" for c, _, _, _ in script))
        for i, (c, want, multi, body) in enumerate(script):
            line = r.line()
            where = f"response {i + 1} ({c})"
            if isinstance(want, bytes):
                self.assertEqual(line, want, where)
            elif want == "+":
                self.assertOk(line, where + f": {line!r}")
            else:
                self.assertErr(line, msg=where + f": {line!r}")
            if multi and line.startswith(b"+OK"):
                got = r.body()
                if body is not None:
                    self.assertEqual(got, body, where)
        self.assertEqual(r.cmd("STAT"), b"+OK 2 %d" % total)

    def test_malformed_input(self):
        user = new_user()
        msg = make_message("malformed", ["x"])
        imap_append(user, msg)
        r = self.raw()
        for c in ("STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL",
                  "UIDL 1"):
            self.assertErr(r.cmd(c), msg=f"{c} before login")
        for c in ("XYZZY", "HELLO WORLD", "", "   ", "US", "USERS x", "\x01\x02\x03"):
            self.assertErr(r.cmd(c), msg=f"{c!r}: not a command")
        for c in ("USER", "USER a b", "CAPA x", "AUTH", "STLS x", "APOP x", "QUIT x",
                  "AUTH PLAIN a b"):
            self.assertErr(r.cmd(c), msg=f"{c}: wrong number of arguments")
        # RFC 2449 4: 255 octets with the CRLF are allowed; longer lines get -ERR and the
        # session goes on (one answer per line, so pipelining stays in step).
        ok_line = b"USER " + b"a" * (255 - 2 - 5)
        self.assertEqual(len(ok_line) + 2, 255)
        self.assertOk(r.cmd(ok_line), "a 255-octet line")
        self.assertErr(r.cmd(b"USER " + b"a" * (256 - 2 - 5)), msg="a 256-octet line")
        r.send(b"USER " + b"b" * 300 + b"\r\nCAPA\r\n")
        self.assertErr(r.line(), msg="a 307-octet line")
        self.assertOk(r.line(), "the next command's answer comes next")
        r.body()
        r.send(b"Z" * 100000 + b"\r\nCAPA\r\n")
        self.assertErr(r.line(), msg="a 100 kB line")
        self.assertOk(r.line(), "one -ERR for a long line, then the next command")
        r.body()
        # Logged in.
        self.assertRegex(r.login(*user), MAILDROP_RE)
        for c in ("RETR", "RETR 1 2", "TOP 1", "TOP 1 2 3", "DELE", "DELE 1 2", "LIST 1 2",
                  "UIDL 1 2", "STAT 1", "NOOP 1", "RSET 1", "QUIT 1", "CAPA 1"):
            self.assertErr(r.cmd(c), msg=f"{c}: wrong number of arguments")
        for c in ("USER x", "PASS x", "AUTH PLAIN", "STLS", "APOP a b"):
            self.assertErr(r.cmd(c), msg=f"{c}: not in TRANSACTION")
        self.assertErr(r.cmd(b"RETR " + b"1" * 300), msg="long line in TRANSACTION")
        self.assertEqual(r.cmd("stat"), b"+OK 1 %d" % len(msg), "keywords are case-insensitive")
        self.assertEqual(r.cmd("List 1"), b"+OK 1 %d" % len(msg))
        status, body = r.multi("RETR 1")
        self.assertEqual(body, dot_stuff(msg))
        self.assertOk(r.cmd("QUIT"))
        self.assertEqual(imap_status(user)[0], 1)

    def test_autologout_before_login(self):
        user = new_user()
        busy = self.raw(label="logged-in", user=user)
        start = time.monotonic()
        idle = self.raw(label="idle")
        got = idle.read_until_closed(20)
        elapsed = time.monotonic() - start
        self.assertEqual(got, b"", "RFC 1939 3: no response on autologout")
        self.assertGreater(elapsed, 4.0, "TERN_POP3_LOGIN_TIMEOUT=5s")
        self.assertLess(elapsed, 9.0, "TERN_POP3_LOGIN_TIMEOUT=5s")
        # The pre-login limit does not apply once logged in.
        time.sleep(max(0.0, start + 6 - time.monotonic()))
        self.assertEqual(busy.cmd("STAT"), b"+OK 0 0")
        self.assertOk(busy.cmd("QUIT"))


class Z9_LongSession(POP3TestCase):
    def test_session_outlives_its_first_token(self):
        # Session tokens live 20 s and are accepted for 30 s more (clock skew): after 55 s,
        # only a token renewed by the front-end works for RETR and the UPDATE state.
        r = LONG["conn"]
        user, msg = LONG["user"], LONG["msg"]
        wait = LONG["since"] + 55 - time.monotonic()
        if wait > 0:
            TRANSCRIPT.note(f"waiting {wait:.0f} s")
            time.sleep(wait)
        self.assertEqual(r.cmd("STAT"), b"+OK 1 %d" % len(msg))
        status, body = r.multi("RETR 1")
        self.assertEqual(status, b"+OK %d octets" % len(msg))
        self.assertEqual(body, dot_stuff(msg))
        self.assertOk(r.cmd("DELE 1"))
        self.assertOk(r.cmd("QUIT"))
        self.assertEqual(imap_status(user)[0], 0, "the UPDATE state worked with a renewed token")


if __name__ == "__main__":
    main()
