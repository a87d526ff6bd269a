#!/usr/bin/env python3
"""tern-lmtpd against a local cluster, with Python's smtplib (smtplib.LMTP and smtplib.SMTP), a
raw socket client for wire-level and malformed input, and IMAP (SCRAM-SHA-256) to read what
was stored:

- LMTP (RFC 2033): LHLO and its extensions, HELO/EHLO refused, one reply per accepted
  recipient after the content in RCPT order (unknown 550 5.1.1, disabled 550 5.2.1 refused at
  RCPT), 503 for DATA without an accepted recipient, the message stored byte for byte below
  Return-Path and Received, stored once in blobd for several recipients, sub-addressing into
  an existing folder, RSET/NOOP/VRFY/QUIT, dot-stuffing, bare LF stored as CRLF and never an
  end of data, BDAT (RFC 3030) chunks, pipelined and with an end-of-data sequence inside,
  BDAT 0 LAST, DATA after BDAT, the error limit after a transaction;
- inbound SMTP (RFC 5321): EHLO/HELO, STARTTLS (RFC 3207) and plaintext injection before the
  handshake, relaying refused, unknown users, SIZE (RFC 1870) at MAIL and after DATA, line
  length, bare LF refused, recipient limit, error limit, idle timeout, unknown commands and
  parameters, SMTPUTF8 (RFC 6531), pipelining (RFC 2920);
- content split into single bytes, a multi-megabyte message, concurrent deliveries to one
  mailbox, the per-address connection limit, SIGTERM (421 4.3.2, a message being received is
  finished first);
- quotas (452 4.2.2, or 552 5.2.2 with --over-quota-permanent), a retried delivery stored
  once, DELIVER tokens renewed at the end of a long DATA phase (a private tern-authd with a
  short token lifetime): "<Postmaster>", a recipient disabled meanwhile; the metrics.

Run by tests/integration/imap/with_cluster.sh BUILD_DIR tests/integration/lmtp/smtplib_test.py
"""
import datetime
import os
import re
import signal
import smtplib
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lmtp_testlib import (  # noqa: E402
    DOMAIN, HOSTNAME, LMTP_PORT, LMTPD_HTTP, MAX_MESSAGE_SIZE, SMTP_PORT, TLMTP, TRANSCRIPT,
    Authd, LMTPTestCase, Lmtpd, RawSMTP, blob_count, blob_path, create_mailbox, crlf,
    disable_user, dot_stuff, fetch_messages, http_get, imap_login, lmtp_transaction,
    mailbox_counts, main,
    make_message, metric, new_user, prefetch_users, received_date, set_quota, split_trace,
    ternctl, testdata, tls_context, unknown_address)

LHLO_EXTENSIONS = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", f"SIZE {MAX_MESSAGE_SIZE}",
                   "SMTPUTF8", "CHUNKING"]
SENDER = "sender@example.org"


def setUpModule():
    # About as many users as the tests take; made while the first tests run.
    prefetch_users(50)


def lhlo_client(label):
    """An smtplib.LMTP client after LHLO (for threads: outside a test's cleanup list)."""
    c = TLMTP(label=label)
    code, msg = c.ehlo()
    if code != 250:
        raise AssertionError(f"LHLO: {code} {msg!r}")
    return c


def check_stored(test, stored, sent, sender, with_, recipient=None, helo="client.test"):
    """The stored message is Return-Path + Received + exactly the bytes sent."""
    return_path, received, _, rest = split_trace(stored)
    test.assertEqual(rest, sent, "the message after the trace fields is the message as sent")
    test.assertEqual(return_path, f"<{sender}>")
    test.assertTrue(received.startswith(f"Received: from {helo} ([127.0.0.1]) by {HOSTNAME} "
                                        f"(Tern) with {with_} id "), received)
    if recipient is None:
        test.assertNotIn(" for <", received, "no recipient named when there are several")
    else:
        test.assertIn(f" for <{recipient}>;", received)
    when = received_date(received)
    now = datetime.datetime.now(datetime.timezone.utc)
    test.assertLess(abs((now - when).total_seconds()), 300, received)
    return received


class A1_LmtpGreeting(LMTPTestCase):
    def test_lhlo_capabilities(self):
        r = self.raw(LMTP_PORT)
        self.assertEqual(r.greeting.lines, [f"{HOSTNAME} LMTP Tern ready"])
        lhlo = r.cmd("LHLO client.test")
        self.assertEqual(lhlo.code, 250, lhlo)
        self.assertEqual(lhlo.lines[0], f"{HOSTNAME} greets client.test")
        self.assertEqual(sorted(lhlo.lines[1:]), sorted(LHLO_EXTENSIONS), lhlo)
        self.assertNotIn("STARTTLS", lhlo.lines)
        self.assertReply(r.cmd("STARTTLS"), 502, "5.5.1")
        # smtplib.LMTP sees the same.
        c = self.lmtp()
        for k in ("pipelining", "8bitmime", "enhancedstatuscodes", "smtputf8", "chunking"):
            self.assertTrue(c.has_extn(k), f"{k}: {c.esmtp_features!r}")
        self.assertEqual(c.esmtp_features["size"], str(MAX_MESSAGE_SIZE))
        self.assertFalse(c.has_extn("starttls"))

    def test_helo_and_ehlo_refused_in_lmtp(self):
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 500, "5.5.1")
        self.assertReply(r.cmd("HELO client.test"), 500, "5.5.1")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 503, "5.5.1")  # no LHLO yet
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250, "2.1.0")
        self.assertReply(r.cmd("QUIT"), 221, "2.0.0")
        self.assertEqual(r.read_until_closed(5), b"")
        # smtplib.SMTP against the LMTP port: its EHLO fails, and so does its HELO fallback.
        c = self.smtp(label="smtp-on-lmtp", port=LMTP_PORT, ehlo=False)
        self.assertEqual(c.ehlo()[0], 500)
        self.assertEqual(c.helo()[0], 500)


class A2_LmtpDelivery(LMTPTestCase):
    def test_idle_client_sees_the_delivery(self):
        # The delivery path of DESIGN.md: metad's commit -> Redis notice -> the IMAP
        # front-end -> "* N EXISTS" to a client in IDLE (RFC 2177).
        user = new_user()
        m = imap_login(user, label="idle")
        self.addCleanup(m.shutdown)
        self.assertEqual(m.select("INBOX")[0], "OK")
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        self.assertTrue(m.readline().startswith(b"+"), "IDLE continuation")
        start = time.monotonic()
        c = self.lmtp()
        _, data = lmtp_transaction(c, SENDER, [user[0]], make_message("seen while idling"))
        self.assertReply(data[0], 250, "2.0.0")
        m.sock.settimeout(5)
        line = m.readline()
        elapsed = time.monotonic() - start
        TRANSCRIPT.note(f"EXISTS {elapsed:.3f} s after the delivery began")
        self.assertEqual(line, b"* 1 EXISTS\r\n")
        self.assertLess(elapsed, 2.5)
        m.send(b"DONE\r\n")
        while True:
            line = m.readline()
            if line.startswith(tag):
                self.assertIn(b"OK", line)
                break

    def test_one_reply_per_accepted_recipient_in_rcpt_order(self):
        first, second, disabled = new_user(), new_user(), new_user()
        disable_user(disabled[0])
        unknown = unknown_address()
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250, "2.1.0")
        self.assertReply(r.cmd(f"RCPT TO:<{second[0]}>"), 250, "2.1.5")
        self.assertReply(r.cmd(f"RCPT TO:<{unknown}>"), 550, "5.1.1")
        self.assertReply(r.cmd(f"RCPT TO:<{disabled[0]}>"), 550, "5.2.1")
        self.assertReply(r.cmd(f"RCPT TO:<{first[0]}>"), 250, "2.1.5")
        self.assertReply(r.cmd("DATA"), 354)
        msg = make_message("per recipient")
        r.send(dot_stuff(msg))
        # RFC 2033 4.2: exactly one reply per accepted RCPT, in RCPT order; nothing for the
        # refused ones.
        replies = r.replies(2)
        for reply, user in zip(replies, (second, first)):
            self.assertReply(reply, 250, "2.0.0")
            self.assertIn(f"<{user[0]}>", reply.text)
        self.assertReply(r.cmd("NOOP"), 250, "2.0.0")  # no further reply was queued
        self.assertEqual(r.cmd("NOOP").text, "2.0.0 OK")
        for user in (first, second):
            stored = fetch_messages(user)
            self.assertEqual(len(stored), 1, user)
            check_stored(self, stored[0], msg, SENDER, "LMTP")
        self.assertEqual(mailbox_counts(disabled[0]).get("INBOX", 0), 0)

    def test_smtplib_lmtp_replies(self):
        known, disabled = new_user(), new_user()
        disable_user(disabled[0])
        unknown = unknown_address()
        c = self.lmtp()
        msg = make_message("smtplib lmtp")
        rcpt, data = lmtp_transaction(c, SENDER, [unknown, known[0], disabled[0]], msg)
        self.assertReply(rcpt[0], 550, "5.1.1")
        self.assertReply(rcpt[1], 250, "2.1.5")
        self.assertReply(rcpt[2], 550, "5.2.1")
        self.assertEqual(len(data), 1)
        self.assertReply(data[0], 250, "2.0.0")
        self.assertRegex(data[0][1].decode(), rf"<{re.escape(known[0])}> delivered to INBOX")
        self.assertEqual(c.noop(), (250, b"2.0.0 OK"))

    def test_data_without_accepted_recipient_is_503(self):
        # RFC 2033 4.2: "when there have been no successful RCPT commands in the mail
        # transaction, the DATA command MUST fail with a 503 reply code".
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{unknown_address()}>"), 550, "5.1.1")
        reply = r.cmd("DATA")
        self.assertEqual(reply.code, 503, reply)
        self.assertReply(r.cmd("NOOP"), 250)

    def test_message_reads_back_byte_for_byte_below_the_trace_fields(self):
        user = new_user()
        msg = crlf(testdata("msg_07.txt"))  # multipart/mixed with an image attachment
        c = self.lmtp()
        _, data = lmtp_transaction(c, SENDER, [user[0]], msg)
        self.assertReply(data[0], 250, "2.0.0")
        stored = fetch_messages(user)
        self.assertEqual(len(stored), 1)
        received = check_stored(self, stored[0], msg, SENDER, "LMTP", recipient=user[0])
        # RFC 5321 4.4: ID = Atom / msg-id (RFC 5322 3.2.3 atext, no dots).
        self.assertRegex(received, r" id [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+ for <")
        _, _, trace, _ = split_trace(stored[0])
        for line in trace.split(b"\r\n"):
            self.assertLessEqual(len(line), 78, f"trace line over 78 characters: {line!r}")
        # The null reverse-path (bounces) is kept as "<>".
        msg2 = make_message("bounce")
        _, data = lmtp_transaction(c, "", [user[0]], msg2)
        self.assertReply(data[0], 250)
        stored = fetch_messages(user)
        self.assertEqual(len(stored), 2)
        self.assertEqual(split_trace(stored[1])[0], "<>")
        self.assertEqual(split_trace(stored[1])[3], msg2)

    def test_several_recipients_share_one_blob(self):
        a, b = new_user(), new_user()
        msg = crlf(testdata("msg_02.txt"))  # a digest
        before = blob_count()
        c = self.lmtp()
        _, data = lmtp_transaction(c, SENDER, [a[0], b[0]], msg)
        self.assertEqual([code for code, _ in data], [250, 250], data)
        self.assertEqual(blob_count(), before + 1, "one blob for both recipients")
        copy_a, copy_b = fetch_messages(a), fetch_messages(b)
        self.assertEqual(len(copy_a), 1)
        self.assertEqual(copy_a, copy_b, "both users read the same stored bytes")
        self.assertTrue(os.path.exists(blob_path(copy_a[0])),
                        "the stored message is the blob named by its SHA-256")
        check_stored(self, copy_a[0], msg, SENDER, "LMTP")  # no "for <...>" (RFC 5321 7.2)

    def test_duplicate_rcpt_gets_two_replies_and_one_copy(self):
        user = new_user()
        c = self.lmtp()
        msg = make_message("twice in the envelope")
        rcpt, data = lmtp_transaction(c, SENDER, [user[0], user[0]], msg)
        self.assertEqual([code for code, _ in rcpt], [250, 250])
        self.assertEqual([code for code, _ in data], [250, 250], data)
        self.assertEqual(len(fetch_messages(user)), 1)

    def test_subaddress_goes_to_the_folder_when_it_exists(self):
        user = new_user()
        local, _, domain = user[0].partition("@")
        create_mailbox(user, "tag")
        c = self.lmtp()
        tagged = make_message("for the tag folder")
        _, data = lmtp_transaction(c, SENDER, [f"{local}+tag@{domain}"], tagged)
        self.assertReply(data[0], 250, "2.0.0")
        self.assertIn("delivered to tag", data[0][1].decode())
        other = make_message("no such folder")
        _, data = lmtp_transaction(c, SENDER, [f"{local}+nosuch@{domain}"], other)
        self.assertReply(data[0], 250, "2.0.0")
        self.assertIn("delivered to INBOX", data[0][1].decode())
        in_tag = fetch_messages(user, "tag")
        self.assertEqual(len(in_tag), 1)
        check_stored(self, in_tag[0], tagged, SENDER, "LMTP", recipient=f"{local}+tag@{domain}")
        inbox = fetch_messages(user)
        self.assertEqual(len(inbox), 1)
        check_stored(self, inbox[0], other, SENDER, "LMTP", recipient=f"{local}+nosuch@{domain}")

    def test_rset_noop_vrfy_help_expn_quit(self):
        dropped, kept = new_user(), new_user()
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{dropped[0]}>"), 250)
        self.assertReply(r.cmd("RSET"), 250, "2.0.0")
        self.assertReply(r.cmd("DATA"), 503, "5.5.1")  # the transaction is gone
        self.assertReply(r.cmd("NOOP"), 250, "2.0.0")
        self.assertReply(r.cmd("NOOP anything"), 250, "2.0.0")
        self.assertReply(r.cmd(f"VRFY {kept[0]}"), 252, "2.5.0")
        self.assertReply(r.cmd("VRFY"), 501, "5.5.4")
        self.assertReply(r.cmd("EXPN list"), 502, "5.5.1")
        self.assertReply(r.cmd("HELP"), 214)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{kept[0]}>"), 250)
        self.assertReply(r.cmd("DATA"), 354)
        r.send(dot_stuff(make_message("after rset")))
        reply = r.reply()
        self.assertReply(reply, 250)
        self.assertIn(kept[0], reply.text)
        quit_ = r.cmd("QUIT")
        self.assertReply(quit_, 221, "2.0.0")
        self.assertEqual(r.read_until_closed(5), b"", "nothing after 221, then the close")
        self.assertEqual(len(fetch_messages(kept)), 1)
        self.assertEqual(len(fetch_messages(dropped)), 0)
        # smtplib's view.
        c = self.lmtp(label="smtplib")
        self.assertEqual(c.rset()[0], 250)
        self.assertEqual(c.noop()[0], 250)
        self.assertEqual(c.verify(kept[0])[0], 252)
        self.assertEqual(c.quit()[0], 221)

    def test_lines_starting_with_a_dot_round_trip(self):
        user = new_user()
        body = [".", "..", "...", ".leading dot", ". space", "middle . dot", ".\t", "end"]
        msg = make_message("dots", body)
        c = self.lmtp()
        _, data = lmtp_transaction(c, SENDER, [user[0]], msg)
        self.assertReply(data[0], 250)
        stored = fetch_messages(user)
        check_stored(self, stored[0], msg, SENDER, "LMTP", recipient=user[0])

    def test_bare_lf_is_stored_as_crlf_and_never_ends_the_data(self):
        user = new_user()
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
        self.assertReply(r.cmd("DATA"), 354)
        # A bare LF, a bare CR, and the "SMTP smuggling" shapes: LF "." LF and LF "." CRLF do
        # not end the content, so the MAIL after them is text.
        r.send(b"Subject: bare line ends\nX-Test: 1\n\nline one\nline two\rline three\r\n"
               b"smuggle 1\n.\nMAIL FROM:<evil@example.org>\r\n"
               b"smuggle 2\n.\r\nRCPT TO:<evil@example.org>\r\nend\r\n.\r\n")
        self.assertReply(r.reply(), 250)
        self.assertReply(r.cmd("NOOP"), 250)  # exactly one reply: one message
        stored = fetch_messages(user)
        self.assertEqual(len(stored), 1)
        want = (b"Subject: bare line ends\r\nX-Test: 1\r\n\r\nline one\r\nline two\r\n"
                b"line three\r\nsmuggle 1\r\n.\r\nMAIL FROM:<evil@example.org>\r\n"
                b"smuggle 2\r\n.\r\nRCPT TO:<evil@example.org>\r\nend\r\n")
        self.assertEqual(split_trace(stored[0])[3], want)

    def test_content_split_into_single_bytes(self):
        user = new_user()
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        r.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{user[0]}>\r\nDATA\r\n")
        self.assertEqual([x.code for x in r.replies(3)], [250, 250, 354])
        msg = make_message("one byte at a time", [".", "..x", "a.", ".\tb", "end"])
        r.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        wire = dot_stuff(msg)
        for i in range(len(wire)):  # every split, the end sequence "\r\n.\r\n" included
            r.sock.sendall(wire[i:i + 1])
            time.sleep(0.002)
        TRANSCRIPT.add("raw", "C:", wire)
        self.assertReply(r.reply(), 250)
        self.assertReply(r.cmd("NOOP"), 250)
        stored = fetch_messages(user)
        self.assertEqual(len(stored), 1)
        self.assertEqual(split_trace(stored[0])[3], msg)

    def test_large_message_round_trip(self):
        user = new_user()
        # ~3.6 MB: several 1 MiB pieces on the way to blobd.
        msg = make_message("large", [f"{i:07d} " + "x" * 70 for i in range(45000)])
        c = self.lmtp()
        _, data = lmtp_transaction(c, SENDER, [user[0]], msg)
        self.assertReply(data[0], 250)
        stored = fetch_messages(user)
        self.assertEqual(len(stored), 1)
        self.assertTrue(split_trace(stored[0])[3] == msg, "the large message differs")

    def test_concurrent_deliveries_to_one_mailbox(self):
        user = new_user()
        results = {}

        def deliver(i):
            try:
                c = lhlo_client(f"lmtp-{i}")
                _, data = lmtp_transaction(c, SENDER, [user[0]], make_message(f"parallel {i}"))
                results[i] = data[0]
                c.quit()
            except Exception as e:  # reported below
                results[i] = e

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(sorted(results), list(range(10)))
        uids = set()
        for i, reply in results.items():
            self.assertIsInstance(reply, tuple, f"delivery {i}: {reply!r}")
            self.assertReply(reply, 250)
            uids.add(int(re.search(rb"as UID (\d+)", reply[1]).group(1)))
        self.assertEqual(len(uids), 10, f"distinct UIDs: {sorted(uids)}")
        subjects = sorted(re.search(rb"Subject: (parallel \d+)", m).group(1)
                          for m in fetch_messages(user))
        self.assertEqual(subjects, sorted(b"parallel %d" % i for i in range(10)))


class A3_LmtpChunking(LMTPTestCase):
    def test_bdat_pipelined_chunks_one_reply_per_recipient_after_last(self):
        a, b = new_user(), new_user()
        unknown = unknown_address()
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        r.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{a[0]}>\r\nRCPT TO:<{unknown}>\r\n"
               f"RCPT TO:<{b[0]}>\r\n")
        self.assertEqual([x.code for x in r.replies(4)], [250, 250, 550, 250])
        # Chunk 1 holds CRLF "." CRLF (content, not an end) and a dot line that BDAT does
        # not unstuff; chunks 2 and 3 follow in the same write as chunk 1.
        c1 = b"Subject: chunked\r\n\r\nbefore\r\n.\r\n..not unstuffed\r\n"
        c2 = b"second chunk\r\n"
        c3 = b"QUIT\r\nlast\r\n"
        r.send(b"BDAT %d\r\n%sBDAT %d\r\n%sBDAT %d LAST\r\n%s"
               % (len(c1), c1, len(c2), c2, len(c3), c3))
        self.assertReply(r.reply(), 250, "2.0.0")
        self.assertReply(r.reply(), 250, "2.0.0")
        after = r.replies(2)
        for reply, user in zip(after, (a, b)):
            self.assertReply(reply, 250, "2.0.0")
            self.assertIn(f"<{user[0]}>", reply.text)
        self.assertReply(r.cmd("NOOP"), 250)
        for user in (a, b):
            stored = fetch_messages(user)
            self.assertEqual(len(stored), 1)
            self.assertEqual(split_trace(stored[0])[3], c1 + c2 + c3)

    def test_bdat_zero_last(self):
        user = new_user()
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
        msg = make_message("bdat zero last")
        r.send(b"BDAT %d\r\n%s" % (len(msg), msg))
        self.assertReply(r.reply(), 250, "2.0.0")
        self.assertReply(r.cmd("BDAT 0 LAST"), 250, "2.0.0")
        self.assertReply(r.cmd("BDAT 0 LAST"), 503, "5.5.1")  # no transaction any more
        stored = fetch_messages(user)
        self.assertEqual(len(stored), 1)
        check_stored(self, stored[0], msg, SENDER, "LMTP", recipient=user[0])

    def test_data_after_bdat_and_rcpt_after_bdat_refused(self):
        user = new_user()
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
        part = b"Subject: mixed\r\n\r\n"
        r.send(b"BDAT %d\r\n%s" % (len(part), part))
        self.assertReply(r.reply(), 250)
        self.assertReply(r.cmd("DATA"), 503, "5.5.1")  # RFC 3030 2
        self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 503, "5.5.1")
        self.assertReply(r.cmd("RSET"), 250)
        self.assertReply(r.cmd("DATA"), 503, "5.5.1")
        self.assertEqual(fetch_messages(user), [])

    def test_refused_bdat_chunk_is_discarded_not_executed(self):
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        chunk = b"NOOP\r\nQUIT\r\n"
        r.send(b"BDAT %d\r\n%s" % (len(chunk), chunk))
        self.assertReply(r.reply(), 503, "5.5.1")  # no MAIL
        r.send(b"BDAT %d junk\r\n%s" % (len(chunk), chunk))
        self.assertReply(r.reply(), 501, "5.5.4")  # bad line, chunk still skipped
        self.assertReply(r.cmd("NOOP"), 250)
        r.silence(0.3)


class A4_LmtpErrorLimit(LMTPTestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Lmtpd("lmtp-errors", "--max-errors=3")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_error_limit_reply_comes_after_every_recipient_reply(self):
        user = new_user()
        r = self.raw(self.d.lmtp_port)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        for _ in range(5):
            self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
        self.assertReply(r.cmd("DATA"), 354)
        r.send(b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n.\r\n")
        # Five 500 5.5.2 (one per recipient, RFC 2033 4.2), then the 421 for too many errors.
        replies = r.replies(5)
        self.assertEqual([(x.code, x.enhanced) for x in replies], [(500, "5.5.2")] * 5, replies)
        self.assertReply(r.reply(), 421, "4.7.0")
        self.assertEqual(r.read_until_closed(5), b"")
        self.assertEqual(fetch_messages(user), [])


class B1_SmtpSession(LMTPTestCase):
    def test_ehlo_capabilities_and_starttls(self):
        user = new_user()
        c = self.smtp()
        for k in ("pipelining", "8bitmime", "enhancedstatuscodes", "smtputf8", "chunking",
                  "starttls"):
            self.assertTrue(c.has_extn(k), f"{k}: {c.esmtp_features!r}")
        self.assertEqual(c.esmtp_features["size"], str(MAX_MESSAGE_SIZE))
        self.assertEqual(c.starttls(context=tls_context())[0], 220)
        self.assertEqual(c.sock.version()[:4], "TLSv")
        # RFC 3207 4.2: the EHLO state is forgotten: MAIL needs a new EHLO.
        code, msg = c.mail(SENDER)
        self.assertEqual((code, msg[:5]), (503, b"5.5.1"))
        self.assertEqual(c.ehlo()[0], 250)
        self.assertFalse(c.has_extn("starttls"), "no STARTTLS once TLS is on")
        self.assertTrue(c.has_extn("pipelining"))
        self.assertEqual(c.docmd("STARTTLS")[0], 503)
        msg = make_message("over tls")
        self.assertEqual(c.sendmail(SENDER, [user[0]], msg), {})
        stored = fetch_messages(user)
        check_stored(self, stored[0], msg, SENDER, "ESMTPS", recipient=user[0])

    def test_starttls_raw_and_ehlo_without_starttls_after(self):
        r = self.raw(SMTP_PORT)
        self.assertEqual(r.greeting.lines, [f"{HOSTNAME} ESMTP Tern ready"])
        ehlo = r.cmd("EHLO client.test")
        self.assertEqual(sorted(ehlo.lines[1:]), sorted(LHLO_EXTENSIONS + ["STARTTLS"]))
        self.assertReply(r.cmd("STARTTLS now"), 501, "5.5.4")
        r.starttls()
        ehlo = r.cmd("EHLO client.test")
        self.assertEqual(sorted(ehlo.lines[1:]), sorted(LHLO_EXTENSIONS))
        self.assertReply(r.cmd("STARTTLS"), 503, "5.5.1")

    def test_starttls_discards_pipelined_plaintext(self):
        # RFC 3207 4.2: commands sent before the handshake completes must be discarded: the
        # NOOP is neither answered in plaintext nor run after the handshake.
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        r.send(b"STARTTLS\r\nNOOP\r\n")
        self.assertReply(r.reply(), 220, "2.0.0")
        self.assertEqual(r.buf, b"", "nothing in plaintext after the 220")
        r.sock = tls_context().wrap_socket(r.sock, server_hostname="localhost")
        TRANSCRIPT.note(f"TLS {r.sock.version()}")
        r.silence(1.0)
        self.assertEqual(r.cmd("NOOP").text, "2.0.0 OK")
        r.silence(0.3)
        self.assertReply(r.cmd("MAIL FROM:<a@example.org>"), 503, "5.5.1")  # EHLO forgotten

    def test_helo_has_no_extensions(self):
        user = new_user()
        r = self.raw(SMTP_PORT)
        helo = r.cmd("HELO client.test")
        self.assertEqual((helo.code, helo.lines), (250, [HOSTNAME]))
        self.assertReply(r.cmd("STARTTLS"), 503, "5.5.1")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}> SIZE=100"), 555, "5.5.4")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}> BODY=8BITMIME"), 555, "5.5.4")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
        self.assertReply(r.cmd("DATA"), 354)
        msg = make_message("helo")
        r.send(dot_stuff(msg))
        self.assertReply(r.reply(), 250, "2.0.0")
        stored = fetch_messages(user)
        check_stored(self, stored[0], msg, SENDER, "SMTP", recipient=user[0])

    def test_commands_out_of_sequence(self):
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 503, "5.5.1")  # before EHLO
        self.assertReply(r.cmd("LHLO client.test"), 500, "5.5.1")  # LHLO is LMTP only
        self.assertReply(r.cmd("EHLO client.test"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<x@{DOMAIN}>"), 503, "5.5.1")
        self.assertReply(r.cmd("DATA"), 503, "5.5.1")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 503, "5.5.1")  # nested
        self.assertReply(r.cmd("DATA"), 554, "5.5.1")  # no recipients (RFC 5321 3.3)
        # smtplib: MAIL before EHLO.
        c = self.smtp(label="smtplib", ehlo=False)
        code, msg = c.mail(SENDER)
        self.assertEqual((code, msg[:5]), (503, b"5.5.1"))

    def test_recipients_relaying_unknown_disabled(self):
        user, disabled = new_user(), new_user()
        disable_user(disabled[0])
        local, _, _ = user[0].partition("@")
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd("RCPT TO:<someone@example.org>"), 550, "5.7.1")
        self.assertReply(r.cmd(f"RCPT TO:<{local}@{DOMAIN}.evil.org>"), 550, "5.7.1")
        self.assertReply(r.cmd(f"RCPT TO:<{local}@[127.0.0.1]>"), 550, "5.7.1")
        self.assertReply(r.cmd(f"RCPT TO:<@{DOMAIN}:someone@example.org>"), 550, "5.7.1")
        self.assertReply(r.cmd(f"RCPT TO:<{unknown_address()}>"), 550, "5.1.1")
        self.assertReply(r.cmd(f"RCPT TO:<{disabled[0]}>"), 550, "5.2.1")
        self.assertReply(r.cmd(f"RCPT TO:<{local}@EXAMPLE.TEST>"), 250, "2.1.5")
        self.assertReply(r.cmd("DATA"), 354)
        msg = make_message("domain case")
        r.send(dot_stuff(msg))
        self.assertReply(r.reply(), 250)
        self.assertEqual(len(fetch_messages(user)), 1)
        # smtplib reports refused recipients.
        c = self.smtp(label="smtplib")
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            c.sendmail(SENDER, ["a@example.org"], make_message("relay"))
        self.assertEqual(cm.exception.recipients["a@example.org"][0], 550)

    def test_size_parameter_over_the_limit(self):
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}> SIZE={MAX_MESSAGE_SIZE + 1}"), 552, "5.3.4")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}> SIZE={MAX_MESSAGE_SIZE}"), 250)
        self.assertReply(r.cmd("RSET"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}> SIZE=12x"), 501, "5.5.4")

    def test_long_lines(self):
        user = new_user()
        c = self.smtp()
        # RFC 5321 4.5.3.1.6: 1000 octets with the CRLF is the limit.
        ok = make_message("998", ["a" * 998])
        self.assertEqual(c.sendmail(SENDER, [user[0]], ok), {})
        self.assertEqual(c.mail(SENDER)[0], 250)
        self.assertEqual(c.rcpt(user[0])[0], 250)
        reply = c.data(make_message("999", ["b" * 999]))
        self.assertEqual((reply[0], reply[1][:5]), (500, b"5.5.2"), reply)
        self.assertEqual(c.noop()[0], 250)
        stored = fetch_messages(user)
        self.assertEqual(len(stored), 1, "only the message with the 998-octet line")
        self.assertEqual(split_trace(stored[0])[3], ok)
        # A command line far over the limit: 500 5.5.2, and the session goes on.
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        self.assertReply(r.cmd("NOOP " + "x" * 5000), 500, "5.5.2")
        self.assertReply(r.cmd("NOOP"), 250)

    def test_bare_lf_and_cr_in_smtp_data_refused(self):
        user = new_user()
        before = blob_count()
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        for content in (b"Subject: lf\r\n\r\nbare\nlf\r\n.\r\n",
                        b"Subject: cr\r\n\r\nbare\rcr\r\n.\r\n"):
            self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
            self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
            self.assertReply(r.cmd("DATA"), 354)
            r.send(content)
            self.assertReply(r.reply(), 550, "5.6.0")
        self.assertReply(r.cmd("NOOP"), 250)
        self.assertEqual(fetch_messages(user), [])
        self.assertEqual(blob_count(), before)

    def test_bdat_in_smtp_with_crlf_split_between_chunks(self):
        user = new_user()
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
        chunks = [b"Subject: split CRLF\r", b"\n\r\n.body\r", b"\n"]
        r.send(b"".join(b"BDAT %d%s\r\n%s" % (len(c), b" LAST" if i == 2 else b"", c)
                        for i, c in enumerate(chunks)))
        self.assertEqual([x.code for x in r.replies(3)], [250, 250, 250])
        stored = fetch_messages(user)
        self.assertEqual(split_trace(stored[0])[3], b"".join(chunks))
        # A bare LF in a chunk is refused in SMTP as in DATA; the transaction ends there.
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
        bad = b"Subject: bare\n\nx\r\n"
        r.send(b"BDAT %d\r\n%s" % (len(bad), bad))
        self.assertReply(r.reply(), 550, "5.6.0")
        self.assertReply(r.cmd("BDAT 0 LAST"), 503, "5.5.1")
        self.assertEqual(len(fetch_messages(user)), 1)

    def test_unknown_command_and_parameters(self):
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        self.assertReply(r.cmd("XYZZY"), 500, "5.5.2")
        self.assertReply(r.cmd("AUTH PLAIN AGFiYwBkZWY="), 500, "5.5.2")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}> FOO=bar"), 555, "5.5.4")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}> BODY=BINARYMIME"), 555, "5.5.4")
        self.assertReply(r.cmd(f"MAIL FROM:{SENDER}"), 501, "5.1.7")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}> BODY=8BITMIME"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<x@{DOMAIN}> NOTIFY=NEVER"), 555, "5.5.4")
        self.assertReply(r.cmd("RCPT TO:<not an address>"), 501, "5.1.3")
        self.assertReply(r.cmd("DATA now"), 501, "5.5.4")
        self.assertReply(r.cmd("NOOP"), 250)

    def test_postmaster_and_unusable_addresses(self):
        # RFC 5321 4.5.1: postmaster at a local domain is always accepted; make run sends it
        # to demo@example.test (--postmaster). A quoted local part that is valid SMTP but can
        # name no user is unknown (550 5.1.1), not a syntax error.
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<PostMaster@{DOMAIN}>"), 250, "2.1.5")
        self.assertReply(r.cmd("RCPT TO:<Postmaster>"), 250, "2.1.5")
        self.assertReply(r.cmd(f'RCPT TO:<"john doe"@{DOMAIN}>'), 550, "5.1.1")
        self.assertReply(r.cmd("RSET"), 250)

    def test_smtputf8(self):
        user, unknown_utf8 = self._utf8_user(), f"ünknown{time.time_ns()}@{DOMAIN}"
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        # RFC 6531 3.4: a non-ASCII address needs SMTPUTF8 on MAIL.
        self.assertReply(r.cmd("MAIL FROM:<sénder@example.org>"), 553, "5.6.7")
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{user}>"), 553, "5.6.7")
        self.assertReply(r.cmd("RSET"), 250)
        self.assertReply(r.cmd(b"MAIL FROM:<s\xc3@example.org> SMTPUTF8"), 501, "5.1.7")
        self.assertReply(r.cmd("MAIL FROM:<sénder@example.org> SMTPUTF8"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{unknown_utf8}>"), 550, "5.1.1")
        self.assertReply(r.cmd(f"RCPT TO:<{user}>"), 250, "2.1.5")
        self.assertReply(r.cmd("DATA"), 354)
        utf8_msg = "Subject: ünïcödé\r\n\r\nGrüße\r\n".encode()
        r.send(dot_stuff(utf8_msg))
        self.assertReply(r.reply(), 250, "2.0.0")
        stored = fetch_messages((user, "pw-utf8"))
        self.assertEqual(len(stored), 1)
        check_stored(self, stored[0], utf8_msg, "sénder@example.org", "UTF8SMTP", recipient=user)
        # smtplib with SMTPUTF8, over SMTP and over LMTP.
        c = self.smtp(label="smtplib")
        msg = make_message("zwei")
        self.assertEqual(c.sendmail("sénder@example.org", [user], msg,
                                    mail_options=["SMTPUTF8"]), {})
        lc = self.lmtp(label="smtplib-lmtp")
        lc.command_encoding = "utf-8"
        msg3 = make_message("drei")
        _, data = lmtp_transaction(lc, "sénder@example.org", [user], msg3,
                                   mail_options=["SMTPUTF8"])
        self.assertReply(data[0], 250)
        stored = fetch_messages((user, "pw-utf8"))
        self.assertEqual(len(stored), 3)
        check_stored(self, stored[2], msg3, "sénder@example.org", "UTF8LMTP", recipient=user)

    def _utf8_user(self):
        # authd takes a UTF-8 local part (RFC 6531 3.3).
        address = f"ünï{time.time_ns()}@{DOMAIN}"
        ternctl("user", "add", address, "--password-stdin", stdin="pw-utf8\n")
        return address

    def test_pipelining(self):
        a, b = new_user(), new_user()
        r = self.raw(SMTP_PORT)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        msg = make_message("pipelined")
        r.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{a[0]}>\r\nRCPT TO:<{unknown_address()}>\r\n"
               f"RCPT TO:<{b[0]}>\r\nDATA\r\n")
        replies = r.replies(5)
        self.assertEqual([(x.code, x.enhanced) for x in replies],
                         [(250, "2.1.0"), (250, "2.1.5"), (550, "5.1.1"), (250, "2.1.5"),
                          (354, None)], replies)
        r.send(dot_stuff(msg) + b"RSET\r\nNOOP\r\nQUIT\r\n")
        self.assertReply(r.reply(), 250, "2.0.0")  # one reply in SMTP
        self.assertEqual([x.code for x in r.replies(3)], [250, 250, 221])
        self.assertEqual(r.read_until_closed(5), b"")
        for user in (a, b):
            stored = fetch_messages(user)
            self.assertEqual(len(stored), 1)
            check_stored(self, stored[0], msg, SENDER, "ESMTP")


class B2_SmtpLimits(LMTPTestCase):
    """A private tern-lmtpd with small limits."""

    @classmethod
    def setUpClass(cls):
        cls.d = Lmtpd("limits", "--max-message-size=100000", "--max-recipients=3")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_message_over_the_limit_refused_after_data(self):
        user = new_user()
        before = blob_count()
        c = self.smtp(port=self.d.smtp_port)
        self.assertEqual(c.esmtp_features["size"], "100000")
        self.assertEqual(c.mail(SENDER)[0], 250)  # no SIZE=: the server finds out at the end
        self.assertEqual(c.rcpt(user[0])[0], 250)
        big = make_message("too big", ["y" * 70] * 1500)  # ~108 kB
        reply = c.data(big)
        self.assertEqual((reply[0], reply[1][:5]), (552, b"5.3.4"), reply)
        self.assertEqual(blob_count(), before, "nothing stored")
        self.assertEqual(fetch_messages(user), [])
        # The connection is still usable, and smtplib's own SIZE= is refused at MAIL.
        small = make_message("small enough", ["z" * 70] * 1000)
        self.assertEqual(c.sendmail(SENDER, [user[0]], small), {})
        with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
            c.sendmail(SENDER, [user[0]], big)
        self.assertEqual((cm.exception.smtp_code, cm.exception.smtp_error[:5]), (552, b"5.3.4"))
        self.assertEqual(len(fetch_messages(user)), 1)
        # LMTP: one 552 per recipient.
        lc = self.lmtp(port=self.d.lmtp_port)
        _, data = lmtp_transaction(lc, SENDER, [user[0], user[0]], big)
        self.assertEqual([(code, msg[:5]) for code, msg in data], [(552, b"5.3.4")] * 2)

    def test_too_many_recipients(self):
        users = [new_user() for _ in range(3)]
        r = self.raw(self.d.smtp_port)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        for u in users:
            self.assertReply(r.cmd(f"RCPT TO:<{u[0]}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{unknown_address()}>"), 452, "4.5.3")
        self.assertReply(r.cmd("DATA"), 354)
        r.send(dot_stuff(make_message("three recipients")))
        self.assertReply(r.reply(), 250)
        for u in users:
            self.assertEqual(len(fetch_messages(u)), 1)


class B3_SmtpErrorsAndTimeout(LMTPTestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Lmtpd("errors", "--max-errors=5", "--timeout=2s")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_error_limit_closes_with_421(self):
        r = self.raw(self.d.smtp_port)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        for _ in range(4):
            self.assertReply(r.cmd("BOGUS"), 500, "5.5.2")
        self.assertReply(r.cmd("NOOP"), 250)  # 4xx/2xx do not count
        r.send(b"BOGUS\r\n")
        self.assertReply(r.reply(), 500, "5.5.2")
        self.assertReply(r.reply(), 421, "4.7.0")
        self.assertEqual(r.read_until_closed(5), b"")

    def test_idle_timeout(self):
        r = self.raw(self.d.smtp_port)
        self.assertReply(r.cmd("EHLO client.test"), 250)
        start = time.monotonic()
        rest = r.read_until_closed(6)
        waited = time.monotonic() - start
        self.assertEqual(rest, f"421 4.4.2 {HOSTNAME} Timeout, closing connection\r\n".encode())
        self.assertGreater(waited, 1.5)
        self.assertLess(waited, 5)

    def test_timeout_in_the_middle_of_data(self):
        user = new_user()
        r = self.raw(self.d.lmtp_port)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
        self.assertReply(r.cmd("DATA"), 354)
        r.send(b"Subject: never finished\r\n\r\nhalf")
        rest = r.read_until_closed(6)
        self.assertTrue(rest.startswith(b"421 4.4.2 "), rest)
        self.assertEqual(fetch_messages(user), [])


class B4_ConnectionsAndShutdown(LMTPTestCase):
    def test_connections_per_address_limit(self):
        d = Lmtpd("conn-limit", "--max-connections-per-address=2")
        self.addCleanup(d.stop)
        first, second = self.raw(d.smtp_port, "smtp-1"), self.raw(d.smtp_port, "smtp-2")
        third = self.raw(d.smtp_port, "smtp-3", greet=False)
        self.assertEqual(third.read_until_closed(5),
                         b"421 4.7.0 Too many connections from your address\r\n")
        self.assertReply(first.cmd("QUIT"), 221)
        first.read_until_closed(5)
        self.assertReply(second.cmd("NOOP"), 250)
        deadline = time.monotonic() + 5
        while True:  # the server notices the QUIT's close a moment later
            fourth = RawSMTP(port=d.smtp_port, label="smtp-4", greet=False)
            self._closers.append(fourth.close)
            greeting = fourth.reply(greeting=True)
            if greeting.code == 220 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(greeting.code, 220, greeting)
        _, text = http_get(d.http, "/metrics")
        self.assertGreaterEqual(metric(text, "tern_smtp_connections_refused_total"), 1)

    def test_client_gone_during_shutdown_ends_at_once(self):
        # A client that hangs up in the middle of DATA after SIGTERM: its session ends then
        # (nothing is stored), and the process exits well within --shutdown-grace (10 s).
        user = new_user()
        d = Lmtpd("sigterm-gone")
        self.addCleanup(d.stop)
        busy = self.raw(d.lmtp_port, "busy")
        self.assertReply(busy.cmd("LHLO client.test"), 250)
        busy.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{user[0]}>\r\nDATA\r\n")
        self.assertEqual([x.code for x in busy.replies(3)], [250, 250, 354])
        busy.send(b"Subject: never finished\r\n\r\nhalf\r\n")
        time.sleep(0.2)
        start = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        busy.close()
        self.assertEqual(d.proc.wait(15), 0)
        elapsed = time.monotonic() - start
        TRANSCRIPT.note(f"exited {elapsed:.2f} s after SIGTERM")
        self.assertLess(elapsed, 5.0)
        self.assertEqual(mailbox_counts(user[0]).get("INBOX", 0), 0)

    def test_sigterm_finishes_the_message_being_received(self):
        user = new_user()
        d = Lmtpd("sigterm")
        self.addCleanup(d.stop)
        idle = self.raw(d.smtp_port, "idle")
        busy = self.raw(d.lmtp_port, "busy")
        self.assertReply(busy.cmd("LHLO client.test"), 250)
        busy.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{user[0]}>\r\nDATA\r\n")
        self.assertEqual([x.code for x in busy.replies(3)], [250, 250, 354])
        busy.send(b"Subject: across a shutdown\r\n\r\nfirst half\r\n")
        time.sleep(0.2)
        d.proc.send_signal(signal.SIGTERM)
        TRANSCRIPT.note("SIGTERM sent")
        # RFC 3463 4.3.2 for a connection waiting for its next command.
        self.assertEqual(idle.read_until_closed(5),
                         f"421 4.3.2 {HOSTNAME} Service shutting down\r\n".encode())
        busy.send(b"second half\r\n.\r\n")
        self.assertReply(busy.reply(), 250, "2.0.0")
        self.assertReply(busy.reply(), 421, "4.3.2")
        self.assertEqual(busy.read_until_closed(5), b"")
        self.assertEqual(d.proc.wait(15), 0)
        stored = fetch_messages(user)
        self.assertEqual(len(stored), 1)
        self.assertTrue(stored[0].endswith(b"first half\r\nsecond half\r\n"), stored[0][-100:])


class C1_Quota(LMTPTestCase):
    def test_over_quota_is_temporary_for_that_recipient_only(self):
        full, other = new_user(), new_user()
        set_quota(full[0], messages=1)
        c = self.lmtp()
        _, data = lmtp_transaction(c, SENDER, [full[0]], make_message("fills the quota"))
        self.assertReply(data[0], 250)
        msg = make_message("one too many")
        _, data = lmtp_transaction(c, SENDER, [full[0], other[0]], msg)
        self.assertReply(data[0], 452, "4.2.2")
        self.assertReply(data[1], 250, "2.0.0")
        self.assertEqual(len(fetch_messages(full)), 1)
        self.assertEqual(len(fetch_messages(other)), 1)
        # SMTP has one reply for the message: 452 for the full mailbox alone, 451 when some
        # recipients got it (the retry stores nothing twice).
        s = self.smtp()
        s.mail(SENDER)
        s.rcpt(full[0])
        reply = s.data(msg)
        self.assertEqual((reply[0], reply[1][:5]), (452, b"4.2.2"), reply)
        s.mail(SENDER)
        s.rcpt(full[0])
        s.rcpt(other[0])
        reply = s.data(msg)
        self.assertEqual((reply[0], reply[1][:5]), (451, b"4.3.0"), reply)
        self.assertEqual(len(fetch_messages(other)), 1, "the SMTP retry was not stored twice")
        # Room again: the MTA's retry of the same message is stored (the first refusal did
        # not mark it as delivered).
        set_quota(full[0], messages=-1)
        _, data = lmtp_transaction(c, SENDER, [full[0]], msg)
        self.assertReply(data[0], 250)
        self.assertIn("delivered to INBOX", data[0][1].decode())
        self.assertEqual(len(fetch_messages(full)), 2)

    def test_over_quota_permanent(self):
        full, other = new_user(), new_user()
        set_quota(full[0], messages=0)
        d = Lmtpd("quota", "--over-quota-permanent=true")
        self.addCleanup(d.stop)
        c = self.lmtp(port=d.lmtp_port)
        _, data = lmtp_transaction(c, SENDER, [full[0], other[0]], make_message("bounce me"))
        self.assertReply(data[0], 552, "5.2.2")
        self.assertReply(data[1], 250, "2.0.0")
        self.assertEqual(fetch_messages(full), [])


class C2_Redelivery(LMTPTestCase):
    def test_same_message_again_is_accepted_and_stored_once(self):
        user, other = new_user(), new_user()
        msg = make_message("retried by the MTA")
        c = self.lmtp()
        _, first = lmtp_transaction(c, SENDER, [user[0]], msg)
        self.assertReply(first[0], 250)
        # The MTA never saw the 250 (a lost connection) and sends the same message again.
        c2 = self.lmtp(label="lmtp-retry")
        _, again = lmtp_transaction(c2, SENDER, [user[0], other[0]], msg)
        self.assertReply(again[0], 250, "2.0.0")
        self.assertReply(again[1], 250, "2.0.0")
        self.assertEqual(len(fetch_messages(user)), 1, "stored once")
        self.assertEqual(len(fetch_messages(other)), 1)
        # Over SMTP too.
        s = self.smtp()
        self.assertEqual(s.sendmail(SENDER, [user[0]], msg), {})
        self.assertEqual(len(fetch_messages(user)), 1)
        # Another sender, or other content: a different message.
        _, data = lmtp_transaction(c, "other@example.org", [user[0]], msg)
        self.assertReply(data[0], 250)
        _, data = lmtp_transaction(c, SENDER, [user[0]], msg + b"p.s.\r\n")
        self.assertReply(data[0], 250)
        self.assertEqual(len(fetch_messages(user)), 3)


class C3_TokenRenewal(LMTPTestCase):
    """A private tern-authd whose DELIVER tokens live 10 s: shorter than tern-lmtpd's 30 s
    renewal margin, so every delivery renews its recipients' tokens at the end of the content,
    as after a DATA phase of several minutes in production."""

    @classmethod
    def setUpClass(cls):
        cls.authd = Authd("authd-short", "--deliver-ttl=10s")
        try:
            cls.d = Lmtpd("renewing", authd_addr=cls.authd.addr)
        except Exception:
            cls.authd.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.authd.stop()

    def test_postmaster_without_domain(self):
        # RFC 5321 4.1.1.3: "<Postmaster>" without a domain; tern-lmtpd takes the first local
        # domain's postmaster. The renewal must look that user up again, not "Postmaster".
        pm = f"postmaster@{DOMAIN}"
        ternctl("user", "add", pm, "--password-stdin", "--if-not-exists", stdin="pm-pass\n")
        before = mailbox_counts(pm).get("INBOX", 0)
        for port, hello, with_ in ((self.d.smtp_port, "EHLO", "ESMTP"),
                                   (self.d.lmtp_port, "LHLO", "LMTP")):
            r = self.raw(port, label=hello)
            self.assertReply(r.cmd(f"{hello} client.test"), 250)
            self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
            self.assertReply(r.cmd("RCPT TO:<Postmaster>"), 250, "2.1.5")
            self.assertReply(r.cmd("DATA"), 354)
            r.send(dot_stuff(make_message(f"to the postmaster over {with_}")))
            self.assertReply(r.reply(), 250, "2.0.0")
        self.assertEqual(mailbox_counts(pm).get("INBOX", 0), before + 2)

    def test_recipient_disabled_during_data(self):
        gone, stays = new_user(), new_user()
        c = self.lmtp(port=self.d.lmtp_port)
        self.assertEqual(c.mail(SENDER)[0], 250)
        self.assertEqual(c.rcpt(gone[0])[0], 250)
        self.assertEqual(c.rcpt(stays[0])[0], 250)
        disable_user(gone[0])  # before the content ends: the renewal finds it disabled
        msg = make_message("one of two")
        first = c.data(msg)
        second = c.getreply()
        self.assertReply(first, 550, "5.2.1")
        self.assertReply(second, 250, "2.0.0")
        self.assertEqual(mailbox_counts(gone[0]).get("INBOX", 0), 0)
        stored = fetch_messages(stays)
        self.assertEqual(len(stored), 1)
        check_stored(self, stored[0], msg, SENDER, "LMTP")


class D1_Metrics(LMTPTestCase):
    def test_delivery_and_command_metrics(self):
        user = new_user()
        status, before = http_get(LMTPD_HTTP, "/metrics")
        self.assertEqual(status, 200)
        c = self.lmtp()
        msg = make_message("counted")
        _, data = lmtp_transaction(c, SENDER, [user[0], unknown_address()], msg)
        self.assertReply(data[0], 250)
        _, data = lmtp_transaction(c, SENDER, [user[0]], msg)  # a duplicate
        self.assertReply(data[0], 250)
        r = self.raw(LMTP_PORT)
        self.assertReply(r.cmd("LHLO client.test"), 250)
        self.assertReply(r.cmd(f"MAIL FROM:<{SENDER}>"), 250)
        self.assertReply(r.cmd(f"RCPT TO:<{user[0]}>"), 250)
        chunk = make_message("counted bdat")
        r.send(b"BDAT %d LAST\r\n%s" % (len(chunk), chunk))
        self.assertReply(r.reply(), 250)
        s = self.smtp()
        self.assertEqual(s.starttls(context=tls_context())[0], 220)
        s.ehlo()
        self.assertEqual(s.sendmail(SENDER, [user[0]], make_message("smtp counted")), {})
        s.quit()
        _, after = http_get(LMTPD_HTTP, "/metrics")

        def delta(name, **labels):
            return metric(after, name, **labels) - metric(before, name, **labels)

        for name in ("tern_lmtpd_deliveries_total", "tern_lmtp_commands_total",
                     "tern_smtp_commands_total", "tern_lmtpd_delivered_bytes_total",
                     "tern_lmtpd_delivery_duration_seconds_count", "tern_lmtp_connections"):
            self.assertIn(name, after, name)
        deliveries = "tern_lmtpd_deliveries_total"
        self.assertEqual(delta(deliveries, protocol="lmtp", result="delivered"), 2)
        self.assertEqual(delta(deliveries, protocol="lmtp", result="duplicate"), 1)
        self.assertEqual(delta(deliveries, protocol="smtp", result="delivered"), 1)
        cmds = "tern_lmtp_commands_total"
        self.assertEqual(delta(cmds, verb="LHLO", result="ok"), 2)
        self.assertEqual(delta(cmds, verb="MAIL", result="ok"), 3)
        self.assertEqual(delta(cmds, verb="RCPT", result="ok"), 3)
        self.assertEqual(delta(cmds, verb="RCPT", result="error"), 1)
        self.assertEqual(delta(cmds, verb="DATA", result="ok"), 2)
        self.assertEqual(delta(cmds, verb="BDAT", result="ok"), 1, "a BDAT answered 250")
        self.assertEqual(delta(cmds, verb="BDAT", result="error"), 0, "a BDAT answered 250")
        smtp_cmds = "tern_smtp_commands_total"
        self.assertEqual(delta(smtp_cmds, verb="STARTTLS", result="ok"), 1, "a STARTTLS that "
                         "was answered 220 and completed")
        self.assertEqual(delta(smtp_cmds, verb="EHLO", result="ok"), 2)


if __name__ == "__main__":
    main()
