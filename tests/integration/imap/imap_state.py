#!/usr/bin/env python3
"""Small imaplib helper for the shell client tests.

  imap_state.py USER PASS append MAILBOX FILE [FLAGS]   append a message
  imap_state.py USER PASS state MAILBOX                 print "uid flags sha256" lines
  imap_state.py USER PASS store MAILBOX UID FLAGS        +FLAGS on one UID
Talks IMAPS to 127.0.0.1:$IMAPS_PORT, trusting $TERN_CA.
"""
import hashlib
import imaplib
import os
import re
import ssl
import sys


def connect(user, password):
    ctx = ssl.create_default_context(cafile=os.environ["TERN_CA"])
    m = imaplib.IMAP4_SSL("127.0.0.1", int(os.environ["IMAPS_PORT"]), ssl_context=ctx)
    m.login(user, password)
    return m


def main():
    user, password, op = sys.argv[1:4]
    m = connect(user, password)
    if op == "append":
        mailbox, path = sys.argv[4:6]
        flags = sys.argv[6] if len(sys.argv) > 6 else None
        with open(path, "rb") as f:
            data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        typ, resp = m.append(mailbox, flags, None, data)
        assert typ == "OK", resp
    elif op == "state":
        typ, _ = m.select(sys.argv[4], readonly=True)
        assert typ == "OK"
        typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        assert typ == "OK", data
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, body = item
            uid = re.search(rb"UID (\d+)", head).group(1).decode()
            flags = re.search(rb"FLAGS \(([^)]*)\)", head).group(1).decode()
            flags = " ".join(sorted(f for f in flags.split() if f != "\\Recent"))
            print(uid, "[" + flags + "]", hashlib.sha256(body).hexdigest())
    elif op == "store":
        m.select(sys.argv[4])
        typ, data = m.uid("STORE", sys.argv[5], "+FLAGS", sys.argv[6])
        assert typ == "OK", data
    else:
        raise SystemExit("unknown op " + op)
    m.logout()


if __name__ == "__main__":
    main()
