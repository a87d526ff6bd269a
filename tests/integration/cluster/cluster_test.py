#!/usr/bin/env python3
"""Several replicas of each front-end behind HAProxy (PROXY protocol v2 to the replicas), the
session registry in Redis and the IDLE fan-out of tern-imapd:

- an IDLE client on one front-end hears, within a second, an LMTP delivery and a flag set
  through another front-end (RFC 2177), also across a Redis restart, with nothing lost;
- a front-end killed under an IDLE client: the client reconnects through HAProxy and finds
  the same UIDVALIDITY and every message (RFC 3501 2.3.1.1);
- the per-user session limit holds across front-ends (IMAP NO [LIMIT], RFC 5530; POP3
  -ERR [IN-USE], RFC 2449 8.1.2); `ternctl sessions kick` ends one user's sessions everywhere;
- PROXY protocol v1 and v2 on every listener of a replica, no header or a malformed one, and
  a peer that is not a trusted proxy;
- one GetChanges per process and change for all its IDLE sessions of a mailbox, one Redis
  subscription per process and selected mailbox.

Run by tests/integration/imap/with_cluster.sh with REPLICAS=3:
    REPLICAS=3 tests/integration/imap/with_cluster.sh BUILD_DIR \\
        tests/integration/cluster/cluster_test.py
"""
import os
import re
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster_testlib import (  # noqa: E402
    IMAPD, LMTPD, POP3D, REPLICAS, TERN_VAR, TRANSCRIPT, ClusterTestCase, Imap, Imapd, Pop3,
    Pop3d, RawSMTP, alive, by_client, client_address, deliver, flag_set, imapd_metrics, kick,
    kill, mailbox_id, main, message, metric, new_user, numsub, pid_of, prefetch_users,
    proxy_v1, proxy_v2, redis_up, seen_state, sessions)

# Users are made ahead of time: authd hashes each new password with argon2id.
prefetch_users(12)

MAILDROP_RE = re.compile(rb"^\+OK Maildrop has \d+ messages \(\d+ octets\)$")
KICKED_BYE = "Session ended by an administrator"


def wait_until(what, predicate, timeout, step=0.05):
    """Polls predicate() until it is true; returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - start


def flagged(r):
    return r.kind == "FETCH" and "\\Flagged" in flag_set(r.fetch().get("FLAGS", []))


def fetch_flags(seq, flag):
    return lambda r: (r.kind == "FETCH" and r.num == seq
                      and flag in flag_set(r.fetch().get("FLAGS", [])))


def subjects(client):
    """The Subject of each message of the selected mailbox, in order."""
    r = client.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = {}
    for u in r.untagged:
        if u.kind == "FETCH":
            header = u.fetch()["BODY[HEADER.FIELDS (SUBJECT)]"].decode()
            out[u.num] = header.strip().split(":", 1)[1].strip()
    return [out[n] for n in sorted(out)]


def note(text):
    TRANSCRIPT.note(text)
    print(f"\n  {text}", file=sys.stderr)


class A_IdleAcrossFrontends(ClusterTestCase):
    def test_delivery_and_flag_from_another_frontend_within_a_second(self):
        user = new_user()
        a = self.replica_imap(0, user, label="A")
        b = self.replica_imap(1, user, label="B")
        listed = sessions(user[0])
        self.assertEqual(by_client(listed, a.client).instance, "imapd-0", listed)
        self.assertEqual(by_client(listed, b.client).instance, "imapd-1", listed)
        a.select()
        b.select()
        a.idle()
        # The LMTP transaction (through HAProxy) is ready up to DATA; the clock starts there.
        sent = deliver(user, "first")
        _, exists_s = a.wait_exists(1, 5, since=sent)
        # B may name the message once it has been told it exists (RFC 3501 7.4.1).
        self.assertIn("EXISTS", [u.kind for u in b.ok("NOOP").untagged])
        start = time.monotonic()
        b.ok("STORE 1 +FLAGS (\\Flagged)")
        _, flag_s = a.wait_for(flagged, 5, since=start)
        note(f"IDLE on imapd-0: * 1 EXISTS {exists_s * 1000:.0f} ms after DATA, "
             f"* 1 FETCH (FLAGS) {flag_s * 1000:.0f} ms after STORE on imapd-1")
        self.assertLess(exists_s, 1.0)
        self.assertLess(flag_s, 1.0)
        a.done()


class B_RedisRestart(ClusterTestCase):
    def test_nothing_lost_while_redis_restarts(self):
        user = new_user()
        a = self.replica_imap(0, user, label="A")
        b = self.replica_imap(1, user, label="B")
        a.select()
        b.select()
        channel = f"tern:mailbox:{mailbox_id(user)}"
        a.idle()
        deliver(user, "redis up 1")
        deliver(user, "redis up 2")
        a.wait_exists(2, 5)

        # Redis down, and kept down until the hold file is gone (run.sh then starts it).
        hold = os.path.join(TERN_VAR, "run", "redis.hold")
        open(hold, "w").close()
        self._closers.append(lambda: os.path.exists(hold) and os.unlink(hold))
        pid = kill("redis")
        wait_until("redis-server gone", lambda: not alive(pid) and not redis_up(), 5)
        down = time.monotonic()
        deliver(user, "redis down 1")
        deliver(user, "redis down 2")
        self.assertIn(b"* 4 EXISTS\r\n", [u.raw for u in b.ok("NOOP").untagged])
        # Flags of messages A knows: A must be told of them (RFC 3501 7.4.2).
        b.ok("STORE 1 +FLAGS (\\Flagged)")
        b.ok("STORE 2 +FLAGS (\\Seen)")
        # Redis stays away for a few of the subscriber's reconnect attempts.
        heard_while_down = a.collect(down + 3 - time.monotonic())
        os.unlink(hold)
        back_s = wait_until("redis-server started again", redis_up, 10)
        back = time.monotonic()
        # Everything of the outage reaches A: the catch-up fetch once SUBSCRIBE is confirmed
        # again, or A's poll, whichever comes first.
        a.wait_exists(4, 10)
        for seq, flag in ((1, "\\Flagged"), (2, "\\Seen")):
            if flag not in seen_state(a)[1].get(seq, set()):
                a.wait_for(fetch_flags(seq, flag), 10)
        caught_up_s = time.monotonic() - back
        resubscribed_s = wait_until("both imapd subscribed again", lambda: numsub(channel) == 2,
                                    10)
        # Then notices flow again.
        sent = deliver(user, "redis back")
        _, exists_s = a.wait_exists(5, 5, since=sent)
        self.assertIn(b"* 5 EXISTS\r\n", [u.raw for u in b.ok("NOOP").untagged])
        start = time.monotonic()
        b.ok("STORE 3 +FLAGS (\\Flagged)")
        _, flag_s = a.wait_for(fetch_flags(3, "\\Flagged"), 5, since=start)
        note(f"redis down {back - down:.1f} s (answering {back_s:.1f} s after the hold ended); "
             f"A heard {[r.raw for r in heard_while_down]} while it was down, caught up "
             f"{caught_up_s:.2f} s after it was back; both imapd subscribed again "
             f"{resubscribed_s:.2f} s later; then EXISTS {exists_s * 1000:.0f} ms, "
             f"FETCH {flag_s * 1000:.0f} ms")
        self.assertLess(exists_s, 1.0)
        self.assertLess(flag_s, 1.0)
        a.done()

        # In order and nothing lost: EXISTS only grows, a FETCH names only announced
        # messages, and what A was told is the mailbox as a fresh session sees it.
        exists, told = [], {}
        for _, r in a.seen:
            if r.kind == "EXISTS":
                exists.append(r.num)
            elif r.kind == "FETCH":
                self.assertTrue(exists and r.num <= exists[-1], f"FETCH before EXISTS: {r.raw!r}")
                told[r.num] = flag_set(r.fetch()["FLAGS"])
            elif r.kind == "EXPUNGE":
                self.fail(f"unexpected EXPUNGE: {r.raw!r}")
        self.assertEqual(exists, sorted(set(exists)), "EXISTS went back or repeated")
        self.assertEqual(exists[-1], 5)
        fresh = self.haproxy_imap(user, label="fresh")
        self.assertEqual(fresh.select()["exists"], 5)
        real = fresh.flags()
        self.assertEqual(real, {1: {"\\Flagged"}, 2: {"\\Seen"}, 3: {"\\Flagged"}, 4: set(),
                                5: set()})
        self.assertLessEqual({1, 2, 3}, set(told))
        for seq, flags in told.items():
            self.assertEqual(flags, real[seq], f"A was told {flags} for {seq}; it has {real}")
        self.assertEqual(a.flags(), real)
        self.assertEqual(subjects(fresh), ["redis up 1", "redis up 2", "redis down 1",
                                           "redis down 2", "redis back"])


class C_FrontendKilled(ClusterTestCase):
    def test_idle_client_reconnects_and_loses_nothing(self):
        user = new_user()
        deliver(user, "before the crash")
        a = self.haproxy_imap(user, label="A")
        # The registry shows the client's own address (HAProxy's PROXY header), so it tells
        # which replica serves this connection.
        entry = by_client(sessions(user[0]), a.local_port)
        self.assertIsNotNone(entry, f"no session with CLIENT 127.0.0.1:{a.local_port}")
        victim = entry.instance
        other = (int(victim.rsplit("-", 1)[1]) + 1) % REPLICAS
        watcher = self.replica_imap(other, user, label="W")
        watcher.select()
        watcher.idle()
        selected = a.select()
        self.assertEqual(selected["exists"], 1)
        a.idle()

        pid = kill(victim)
        a.wait_closed(5)
        # Delivered while the replica is dead (run.sh starts it again a second or two later).
        sent = deliver(user, "while the front-end is dead")
        self.assertFalse(alive(pid))
        self.assertEqual(pid_of(victim), pid, "the replica was started again before the delivery")
        watcher.wait_exists(2, 5, since=sent)

        start = time.monotonic()
        a2 = self.reconnect(user)
        entry2 = by_client(sessions(user[0]), a2.local_port)
        self.assertIsNotNone(entry2)
        if entry2.instance == victim:
            self.assertNotEqual(pid_of(victim), pid)
        note(f"killed {victim} (pid {pid}); reconnected through HAProxy in "
             f"{time.monotonic() - start:.2f} s, to {entry2.instance}")
        again = a2.select()
        self.assertEqual(again["uidvalidity"], selected["uidvalidity"])
        self.assertEqual(again["exists"], 2)
        self.assertEqual(subjects(a2), ["before the crash", "while the front-end is dead"])
        a2.idle()
        sent = deliver(user, "after the reconnect")
        a2.wait_exists(3, 5, since=sent)
        watcher.wait_exists(3, 5, since=sent)
        a2.done()
        watcher.done()

    def reconnect(self, user, timeout=15):
        """A new session through HAProxy, retried while HAProxy cannot reach a replica."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                c = self.haproxy_imap(label="A2")
                if c.greeting.status == "OK":
                    return c.login_scram(user)
            except (EOFError, ConnectionError, socket.timeout) as e:
                TRANSCRIPT.note(f"reconnect: {e!r}")
            if time.monotonic() > deadline:
                self.fail(f"no IMAP session through HAProxy within {timeout} s")
            time.sleep(0.2)


class D_SessionLimit(ClusterTestCase):
    LIMIT = 20  # TERN_IMAP_MAX_SESSIONS_PER_USER's default

    def test_imap_limit_holds_across_frontends(self):
        user = new_user()
        admitted = [self.replica_imap(k % REPLICAS, user, ip="192.0.2.40", label=f"s{k}")
                    for k in range(self.LIMIT)]
        listed = sessions(user[0])
        self.assertEqual(len(listed), self.LIMIT)
        self.assertGreaterEqual(len({s.instance for s in listed}), 2, listed)
        # The next login is refused on every replica and through HAProxy; the connection
        # stays usable, not authenticated.
        refused = [self.replica_imap(i, ip="192.0.2.41", label=f"over{i}")
                   for i in range(REPLICAS)]
        refused.append(self.haproxy_imap(label="over-haproxy"))
        for c in refused:
            r = c.authenticate(user)
            self.assertEqual((r.status, r.code_name()), ("NO", "LIMIT"), r.raw)
            self.assertIn("Too many sessions for this user", r.text)
            self.assertEqual(c.command("SELECT INBOX").status, "BAD")
        self.assertEqual(len(sessions(user[0])), self.LIMIT)
        # A LOGOUT frees its slot before its OK is sent: a refused connection logs in on
        # another replica at once.
        bye = admitted[0].ok("LOGOUT")
        self.assertEqual(bye.untagged[0].status, "BYE")
        after_logout = self.login_when_free(refused[1], user, within=0)
        r = refused[2].authenticate(user)
        self.assertEqual((r.status, r.code_name()), ("NO", "LIMIT"), r.raw)
        # So does a disconnect (the front-end notices the close, then unregisters).
        admitted[1].close()
        after_close = self.login_when_free(refused[2], user)
        note(f"a slot was free again {after_logout * 1000:.0f} ms after LOGOUT, "
             f"{after_close * 1000:.0f} ms after a disconnect")
        self.assertEqual(len(sessions(user[0])), self.LIMIT)

    def login_when_free(self, client, user, within=1.0):
        """Logs in, repeating AUTHENTICATE while the answer is NO [LIMIT]; the seconds it
        took."""
        start = time.monotonic()
        while True:
            r = client.authenticate(user)
            if r.status == "OK":
                return time.monotonic() - start
            self.assertEqual(r.code_name(), "LIMIT", r.raw)
            self.assertLessEqual(time.monotonic() - start, within, "the slot was not freed")
            time.sleep(0.02)

    def test_pop3_limit_holds_across_frontends(self):
        # The maildrop lock (RFC 1939 8) admits one POP3 session per user, so the cluster's
        # limit (10) cannot be reached; a private tern-pop3d with a limit of 1 counts the
        # session of a cluster replica.
        d = Pop3d("pop3d-limit1", "--max-sessions-per-user=1")
        self._closers.append(d.stop)
        user = new_user()
        first = self.closing(Pop3(POP3D[0]["pop3"], proxy_v1(client_address("192.0.2.42"), 110),
                                  label="pop3d-0"))
        self.assertRegex(first.login_scram(user), MAILDROP_RE)
        second = self.closing(Pop3(d.port, label="private"))
        r = second.login_scram(user)
        self.assertTrue(r.startswith(b"-ERR [IN-USE] Too many sessions for this user"), r)
        self.assertTrue(first.cmd("QUIT").startswith(b"+OK"))
        first.read_until_closed(5)
        self.assertRegex(second.login_scram(user), MAILDROP_RE)


class E_Kick(ClusterTestCase):
    def test_kick_ends_every_session_of_one_user(self):
        user, other = new_user(), new_user()
        idler = self.replica_imap(0, user, label="U-idle")
        idler.select()
        idler.idle()
        busy = self.replica_imap(1, user, label="U-selected")
        busy.select()
        authed = self.haproxy_imap(user, label="U-haproxy")
        last = REPLICAS - 1
        pop = self.closing(Pop3(POP3D[last]["pop3"], proxy_v1(client_address("192.0.2.50"), 110),
                                label="U-pop"))
        self.assertRegex(pop.login_scram(user), MAILDROP_RE)
        o_imap = self.replica_imap(0, other, label="V-imap")
        o_imap.select()
        o_pop = self.closing(Pop3(POP3D[1]["pop3"], proxy_v2(client_address("192.0.2.51"), 110),
                                  label="V-pop"))
        self.assertRegex(o_pop.login_scram(other), MAILDROP_RE)
        before = sessions(user[0])
        others = sessions(other[0])
        self.assertEqual(len(before), 4, before)
        self.assertEqual(len(others), 2, others)

        kicked, n = kick(user[0])
        self.assertEqual(n, 4)
        self.assertEqual(sorted(s.id for s in kicked), sorted(s.id for s in before))
        for c in (idler, busy, authed):
            got = c.wait_closed(5)
            self.assertEqual([r.raw for r in got],
                             [f"* BYE [UNAVAILABLE] {KICKED_BYE}\r\n".encode()], c.label)
        self.assertEqual(pop.line(5), f"-ERR [SYS/TEMP] {KICKED_BYE}".encode())
        self.assertEqual(pop.read_until_closed(5), b"")

        # The other user's sessions go on.
        o_imap.ok("NOOP")
        self.assertTrue(o_pop.cmd("STAT").startswith(b"+OK"))
        self.assertEqual(sorted(sessions(other[0])), sorted(others))
        wait_until("the kicked sessions leave the registry", lambda: not sessions(user[0]), 3)
        # The kicked user may log in again, POP3 too (the kicked session left the maildrop).
        again = self.haproxy_imap(user, label="U-again")
        again.select()
        pop2 = self.closing(Pop3(label="U-pop-again"))
        self.assertRegex(pop2.login_scram(user), MAILDROP_RE)
        self.assertEqual(sorted(s.protocol for s in sessions(user[0])), ["imap", "pop3"])


class F_ProxyProtocol(ClusterTestCase):
    def test_imap_headers_give_the_client_address(self):
        user = new_user()
        cases = [(0, "v1", "192.0.2.61"), (1, "v2", "198.51.100.62"),
                 (REPLICAS - 1, "v2", "2001:db8::63"), (0, "v1", "2001:db8::64")]
        clients = []
        for i, version, ip in cases:
            src = client_address(ip)
            header = (proxy_v2 if version == "v2" else proxy_v1)(src)
            c = self.closing(Imap(IMAPD[i]["imap"], header, label=f"imapd{i}-{version}"))
            self.assertEqual(c.greeting.status, "OK", c.greeting.raw)
            c.login_scram(user)
            clients.append((IMAPD[i]["name"], f"[{ip}]:{src[1]}" if ":" in ip
                            else f"{ip}:{src[1]}"))
        # IMAPS: the TLS handshake follows the header.
        src = client_address("203.0.113.65")
        tls = self.closing(Imap(IMAPD[1]["imaps"], proxy_v2(src, 993), label="imapd1-tls",
                                tls=True))
        self.assertIsInstance(tls.sock, ssl.SSLSocket)
        tls.login_scram(user)
        clients.append(("imapd-1", f"203.0.113.65:{src[1]}"))
        listed = sessions(user[0])
        self.assertEqual(sorted((s.instance, s.client) for s in listed), sorted(clients))
        self.assertEqual({s.protocol for s in listed}, {"imap"})

    def test_pop3_and_lmtp_headers(self):
        user = new_user()
        for i, make, ip in ((0, proxy_v1, "192.0.2.71"), (1, proxy_v2, "198.51.100.72")):
            src = client_address(ip)
            c = self.closing(Pop3(POP3D[i]["pop3"], make(src, 110), label=f"pop3d{i}"))
            self.assertEqual(c.greeting, b"+OK Tern POP3 server ready")
            self.assertRegex(c.login_scram(user), MAILDROP_RE)
            # The previous session unregisters after its QUIT, on a worker of its front-end.
            want = [("pop3", POP3D[i]["name"], f"{ip}:{src[1]}")]

            def listed():
                return [(s.protocol, s.instance, s.client) for s in sessions(user[0])]
            try:
                wait_until("the registry shows this session alone", lambda: listed() == want, 2)
            except AssertionError:
                self.assertEqual(listed(), want)
            self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))
            c.read_until_closed(5)
        # LMTP: the greeting, and the address from the header in the Received field.
        for i, make, ip in ((0, proxy_v1, "192.0.2.73"), (1, proxy_v2, "198.51.100.74")):
            c = self.closing(RawSMTP(port=LMTPD[i]["lmtp"], label=f"lmtpd{i}", greet=False))
            c.send(make(client_address(ip), 24))
            greeting = c.reply(greeting=True)
            self.assertEqual(greeting.code, 220, greeting)
            self.assertEqual(c.cmd("LHLO client.test").code, 250)
            self.assertEqual(c.cmd("MAIL FROM:<sender@example.org>").code, 250)
            self.assertEqual(c.cmd(f"RCPT TO:<{user[0]}>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(message(f"via lmtpd-{i}", user[0]) + b".\r\n")
            self.assertEqual(c.reply().code, 250)
        reader = self.haproxy_imap(user, label="reader")
        self.assertEqual(reader.select()["exists"], 2)
        r = reader.ok("FETCH 1:2 (BODY.PEEK[HEADER.FIELDS (RECEIVED)])")
        received = [u.fetch()["BODY[HEADER.FIELDS (RECEIVED)]"].decode() for u in r.untagged
                    if u.kind == "FETCH"]
        self.assertIn("([192.0.2.73])", received[0])
        self.assertIn("([198.51.100.74])", received[1])

    def test_no_header_or_a_malformed_one_closes_the_connection(self):
        last = REPLICAS - 1
        listeners = [(IMAPD[0]["name"], IMAPD[0]["imap"]), (POP3D[1]["name"], POP3D[1]["pop3"]),
                     (LMTPD[last]["name"], LMTPD[last]["lmtp"])]
        silent = [(name, socket.create_connection(("127.0.0.1", port), timeout=10))
                  for name, port in listeners]
        opened = time.monotonic()
        # A malformed header, or the protocol without one: closed at once, nothing said.
        bad = [b"PROXY TCP4 192.0.2.1 127.0.0.1 40000\r\n",  # a port missing
               b"PROXY TCP4 300.0.2.1 127.0.0.1 40000 143\r\n",
               b"a1 LOGIN user password\r\n",
               b"\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x0c" + bytes(12)]  # v2 version 1
        for name, port in listeners:
            for data in bad:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    TRANSCRIPT.add(name, "C:", data)
                    s.sendall(data)
                    start = time.monotonic()
                    self.assertEqual(self.read_to_close(s, name), b"", f"{name}: {data!r}")
                    self.assertLess(time.monotonic() - start, 2, f"{name}: {data!r}")
        # No header at all: closed after the header timeout (5 s), without a greeting.
        for name, s in silent:
            self.assertEqual(self.read_to_close(s, name), b"", name)
            s.close()
        waited = time.monotonic() - opened
        self.assertGreater(waited, 4)
        self.assertLess(waited, 8)

    @staticmethod
    def read_to_close(s, name):
        data = b""
        s.settimeout(10)
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                chunk = b""
            TRANSCRIPT.add(name, "S:", chunk)
            if not chunk:
                TRANSCRIPT.note(f"[{name}] closed")
                return data
            data += chunk

    def test_through_haproxy_the_registry_shows_the_real_client(self):
        user = new_user()
        imap = self.haproxy_imap(user, label="imap")
        pop = self.closing(Pop3(label="pop"))
        self.assertRegex(pop.login_scram(user), MAILDROP_RE)
        listed = sessions(user[0])
        self.assertEqual(by_client(listed, imap.local_port).protocol, "imap", listed)
        self.assertEqual(by_client(listed, pop.local_port).protocol, "pop3", listed)

    def test_untrusted_peer_proxy_line_is_protocol_input(self):
        d = Imapd("imapd-untrusted", "--proxy-trusted-networks=10.255.0.0/16")
        self._closers.append(d.stop)
        user = new_user()
        c = self.closing(Imap(d.port, label="untrusted"))
        self.assertEqual(c.greeting.status, "OK")
        # Its greeting came first; a PROXY line is a command (tag PROXY), and not a known one.
        c.send(proxy_v1(("192.0.2.99", 40000)))
        r = c.read_response()
        self.assertEqual((r.tag, r.status), ("PROXY", "BAD"), r.raw)
        c.login_scram(user)
        listed = sessions(user[0])
        self.assertEqual([(s.instance, s.client) for s in listed],
                         [("imapd-untrusted", f"127.0.0.1:{c.local_port}")])


class G_Fanout(ClusterTestCase):
    def test_one_fetch_per_process_for_its_idle_sessions(self):
        user = new_user()
        idlers = [self.replica_imap(0, user, label=f"S{k}") for k in range(5)]
        for c in idlers:
            c.select()
        channel = f"tern:mailbox:{mailbox_id(user)}"
        wait_until("imapd-0 subscribed", lambda: numsub(channel) == 1, 5)
        for c in idlers:
            c.idle()
        # Selecting subscribed, and a confirmed SUBSCRIBE forces one catch-up fetch: count
        # from when the counters stand still.
        before = self.stable_metrics(0)
        sent = deliver(user, "fan-out")
        times = [c.wait_exists(1, 5, since=sent)[1] for c in idlers]
        after = self.stable_metrics(0)
        delta = {k: after[k] - before[k] for k in before}
        note(f"5 IDLE sessions on imapd-0: EXISTS after "
             f"{', '.join(f'{t * 1000:.0f}' for t in times)} ms; counters {delta}")
        self.assertLess(max(times), 1.0)
        self.assertEqual(delta["notices"], 1)
        # One session asks metad; the four others apply its batch from memory.
        self.assertEqual(delta["fetches"], 1)
        self.assertEqual(delta["applied"], 4)
        self.assertEqual(after["watched"], before["watched"])

        # A second process selecting the mailbox subscribes too; leaving, it unsubscribes.
        second = self.replica_imap(1, user, label="imapd1")
        self.assertEqual(second.select()["exists"], 1)
        wait_until("imapd-1 subscribed", lambda: numsub(channel) == 2, 5)
        second.ok("LOGOUT")
        wait_until("imapd-1 unsubscribed", lambda: numsub(channel) == 1, 5)
        for c in idlers[:4]:
            c.done()
            c.ok("LOGOUT")
        self.assertEqual(numsub(channel), 1)  # one session of imapd-0 still has it selected
        idlers[4].close()
        wait_until("imapd-0 unsubscribed", lambda: numsub(channel) == 0, 5)
        wait_until("imapd-0 watches one mailbox less",
                   lambda: self.metrics(0)["watched"] == before["watched"] - 1, 5)

    @staticmethod
    def metrics(i):
        text = imapd_metrics(i)
        return {"fetches": metric(text, "tern_imap_fanout_fetches_total"),
                "applied": metric(text, "tern_imap_fanout_applied_total"),
                "notices": metric(text, "tern_imap_change_notices_total"),
                "watched": metric(text, "tern_imap_watched_mailboxes")}

    def stable_metrics(self, i, quiet=0.3, timeout=5):
        deadline = time.monotonic() + timeout
        last = self.metrics(i)
        while True:
            time.sleep(quiet)
            now = self.metrics(i)
            if now == last:
                return now
            self.assertLess(time.monotonic(), deadline, "imapd metrics keep changing")
            last = now


class Z_NoProcessDied(unittest.TestCase):
    """Runs last: no process of the cluster died except those the tests killed (SIGKILL),
    and no front-end log shows a crash (a crash late in a test could go unnoticed)."""

    def test_only_killed_processes_exited(self):
        run_log = os.path.join(os.path.dirname(TERN_VAR), "run.log")
        with open(run_log, errors="replace") as f:
            exits = re.findall(r"(\S+) exited \(pid \d+, status (\d+)\)", f.read())
        unexpected = [(name, status) for name, status in exits if status != "137"]
        self.assertEqual(unexpected, [], f"see {run_log}")
        crash = re.compile(r"corrupted|double free|terminate called|Segmentation|Sanitizer")
        log_dir = os.path.join(TERN_VAR, "log")
        for name in os.listdir(log_dir):
            if name.startswith("tern-"):
                with open(os.path.join(log_dir, name), errors="replace") as f:
                    found = [line for line in f if crash.search(line)]
                self.assertEqual(found, [], name)


if __name__ == "__main__":
    main()
