#!/usr/bin/env python3
"""tern-pop3d benchmark (figures, not a test). Run through `make bench`, which starts a local
cluster with tests/integration/imap/with_cluster.sh.

RETR throughput for 100 concurrent POP3 clients: each client is its own user (a maildrop
admits one session at a time, RFC 1939 8) with BENCH_POP3_MESSAGES messages of
BENCH_POP3_SIZE bytes, filled through IMAP APPEND. Every client logs in, RETRs all its
messages one command at a time and QUITs; the figure is messages and MB per second over the
whole run (logins included, at most 8 at once), best of BENCH_POP3_ROUNDS rounds.
Environment: POP3_PORT, IMAP_PORT, NEW_USER (see with_cluster.sh).
"""
import asyncio
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imap_bench import Conn  # noqa: E402  (the IMAP client that fills the maildrops)

POP3_PORT = int(os.environ["POP3_PORT"])
CLIENTS = int(os.environ.get("BENCH_POP3_CLIENTS", "100"))
MESSAGES = int(os.environ.get("BENCH_POP3_MESSAGES", "20"))
SIZE = int(os.environ.get("BENCH_POP3_SIZE", str(50 * 1024)))
ROUNDS = int(os.environ.get("BENCH_POP3_ROUNDS", "3"))
# authd answers about 30 concurrent logins at most (its gRPC thread pool): logins are
# spread out, the downloads run all at once.
LOGINS_AT_ONCE = 8


def new_user():
    out = subprocess.run([os.environ["NEW_USER"]], check=True, capture_output=True, text=True)
    return out.stdout.split()


def message(i):
    head = (b"From: Sender <sender@example.test>\r\nTo: reader@example.test\r\n"
            b"Subject: pop3 benchmark %d\r\nMessage-ID: <pop3bench%d@example.test>\r\n\r\n" % (i, i))
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    body = line * max(1, (SIZE - len(head)) // len(line))
    return head + body


async def fill(user, password, logins):
    async with logins:  # filling is not measured: eight maildrops at a time
        c = await Conn.open()
        await c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
        for i in range(MESSAGES):
            await c.cmd(b"APPEND INBOX", literal=message(i))
        c.w.close()


async def read_ok(r):
    line = await r.readline()
    if not line.startswith(b"+OK"):
        raise RuntimeError(f"POP3 error: {line!r}")
    return line


async def download(user, password, logins):
    async with logins:
        r, w = await asyncio.open_connection("127.0.0.1", POP3_PORT, limit=1 << 22)
        await read_ok(r)
        w.write(b"USER %s\r\nPASS %s\r\n" % (user.encode(), password.encode()))
        await read_ok(r)
        await read_ok(r)
    octets = 0
    for n in range(1, MESSAGES + 1):
        w.write(b"RETR %d\r\n" % n)
        await read_ok(r)
        while True:
            line = await r.readline()
            if line == b".\r\n":
                break
            if not line:
                raise RuntimeError("connection closed during RETR")
            octets += len(line)
    w.write(b"QUIT\r\n")
    await read_ok(r)
    w.close()
    return octets


async def main():
    users = [new_user() for _ in range(CLIENTS)]
    logins = asyncio.Semaphore(LOGINS_AT_ONCE)
    start = time.monotonic()
    await asyncio.gather(*(fill(u, p, logins) for u, p in users))
    print(f"filled {CLIENTS} maildrops x {MESSAGES} messages of {SIZE} bytes in "
          f"{time.monotonic() - start:.1f} s")
    best = None
    for round_no in range(1, ROUNDS + 1):
        start = time.monotonic()
        octets = await asyncio.gather(*(download(u, p, logins) for u, p in users))
        elapsed = time.monotonic() - start
        msgs = CLIENTS * MESSAGES / elapsed
        mb = sum(octets) / elapsed / 1e6
        print(f"round {round_no}: {CLIENTS * MESSAGES} RETRs, {sum(octets) / 1e6:.1f} MB in "
              f"{elapsed:.2f} s: {msgs:.0f} messages/s, {mb:.1f} MB/s")
        if best is None or msgs > best[0]:
            best = (msgs, mb)
    print(f"pop3 RETR, {CLIENTS} concurrent clients ({os.cpu_count()} cores, client and cluster "
          f"on the same machine): {best[0]:.0f} messages/s, {best[1]:.1f} MB/s")


if __name__ == "__main__":
    asyncio.run(main())
