#!/usr/bin/env python3
"""tern-lmtpd benchmark (figures, not a test). Run through `make bench`, which starts a local
cluster with tests/integration/imap/with_cluster.sh.

LMTP deliveries per second through the whole stack (tern-lmtpd -> authd recipient lookups ->
blobd Put with fsync -> metad AppendMessages committed in PostgreSQL with fsync on), for
1 KiB and 100 KiB messages to 1 and 10 recipients. BENCH_LMTP_CONNECTIONS connections (as an
MTA's LMTP connection cache would hold) each send messages one transaction after another,
MAIL, RCPTs and DATA pipelined (RFC 2920). Every message is distinct (a delivery of the
same bytes from the same sender to the same recipient is stored once). The figures are
messages/s and recipient deliveries/s, each over BENCH_LMTP_SECONDS per case.
Environment: LMTP_PORT, NEW_USER (see with_cluster.sh).
"""
import asyncio
import os
import subprocess
import time

LMTP_PORT = int(os.environ["LMTP_PORT"])
CONNECTIONS = int(os.environ.get("BENCH_LMTP_CONNECTIONS", "16"))
SECONDS = float(os.environ.get("BENCH_LMTP_SECONDS", "10"))
CASES = [(1024, 1), (1024, 10), (100 * 1024, 1), (100 * 1024, 10)]


def new_user():
    out = subprocess.run([os.environ["NEW_USER"]], check=True, capture_output=True, text=True)
    return out.stdout.split()[0]


def message(size, n):
    head = (b"From: Sender <sender@example.org>\r\nTo: list@example.test\r\n"
            b"Subject: lmtp benchmark %d\r\nMessage-ID: <lmtpbench%d.%d@example.org>\r\n\r\n"
            % (n, n, time.monotonic_ns()))
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


async def expect(r, code):
    while True:
        line = await r.readline()
        if not line:
            raise RuntimeError("connection closed")
        if not line.startswith(code):
            raise RuntimeError(f"expected {code!r}, got {line!r}")
        if line[3:4] == b" ":
            return


async def sender(recipients, size, deadline, counter):
    r, w = await asyncio.open_connection("127.0.0.1", LMTP_PORT)
    await expect(r, b"220")
    w.write(b"LHLO bench.example.org\r\n")
    await expect(r, b"250")
    sent = 0
    while time.monotonic() < deadline:
        counter[0] += 1
        body = message(size, counter[0])
        w.write(b"MAIL FROM:<sender@example.org> SIZE=%d\r\n" % len(body) +
                b"".join(b"RCPT TO:<%s>\r\n" % a.encode() for a in recipients) + b"DATA\r\n")
        await expect(r, b"250")
        for _ in recipients:
            await expect(r, b"250")
        await expect(r, b"354")
        w.write(body + b".\r\n")  # no line starts with "."
        for _ in recipients:  # RFC 2033 4.2: one reply per recipient
            await expect(r, b"250")
        sent += 1
    w.write(b"QUIT\r\n")
    await expect(r, b"221")
    w.close()
    return sent


async def main():
    users = [new_user() for _ in range(10)]
    print(f"lmtp deliveries, {CONNECTIONS} connections, fsync on ({os.cpu_count()} cores, "
          f"client and cluster on the same machine):")
    for size, rcpts in CASES:
        counter = [0]
        start = time.monotonic()
        deadline = start + SECONDS
        sent = await asyncio.gather(*(
            sender([users[(i + k) % len(users)] for k in range(rcpts)], size, deadline, counter)
            for i in range(CONNECTIONS)))
        elapsed = time.monotonic() - start
        messages = sum(sent)
        print(f"  {size // 1024:>3} KiB x {rcpts:>2} recipients: {messages / elapsed:7.1f} "
              f"messages/s, {messages * rcpts / elapsed:7.1f} deliveries/s, "
              f"{messages * size / elapsed / 1e6:5.1f} MB/s in")


if __name__ == "__main__":
    asyncio.run(main())
