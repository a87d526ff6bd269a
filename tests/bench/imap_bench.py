#!/usr/bin/env python3
"""tern-imapd benchmark (figures, not a test). Run through `make bench`, which starts a local
cluster with tests/integration/imap/with_cluster.sh and cheap argon2 settings (10,000 logins
would otherwise measure argon2, not IMAP).

  1. FETCH 1:* (UID FLAGS ENVELOPE) on a 10,000-message mailbox: median of 5 runs.
  2. 10,000 concurrent authenticated IDLE connections on one tern-imapd (plaintext): the
     resident memory it gains per connection, and the time to set them up.
Environment: IMAP_PORT, NEW_USER (see with_cluster.sh); BENCH_MESSAGES, BENCH_CONNECTIONS.
"""
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time

PORT = int(os.environ["IMAP_PORT"])
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "10000"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "10000"))


def new_user():
    out = subprocess.run([os.environ["NEW_USER"]], check=True, capture_output=True, text=True)
    return out.stdout.split()


def imapd_pid():
    out = subprocess.run(["pgrep", "-f", f"tern-imapd.*--imap-listen=[^ ]*:{PORT} "],
                         capture_output=True, text=True)
    return int(out.stdout.split()[0])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Conn:
    def __init__(self, reader, writer):
        self.r, self.w, self.n = reader, writer, 0

    @classmethod
    async def open(cls):
        r, w = await asyncio.open_connection("127.0.0.1", PORT, limit=1 << 24)
        c = cls(r, w)
        greeting = await r.readline()
        assert greeting.startswith(b"* OK"), greeting
        return c

    async def cmd(self, text, literal=None):
        self.n += 1
        tag = b"b%d" % self.n
        if literal is None:
            self.w.write(tag + b" " + text + b"\r\n")
        else:  # LITERAL+: no round trip for the continuation
            self.w.write(tag + b" " + text + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        await self.w.drain()
        lines = []
        while True:
            line = await self.r.readline()
            if not line:
                raise RuntimeError("connection closed")
            if line.endswith(b"}\r\n") and b"{" in line:
                size = int(line[line.rindex(b"{") + 1:-3])
                line += await self.r.readexactly(size)
            lines.append(line)
            if line.startswith(tag + b" "):
                assert line.startswith(tag + b" OK"), line
                return lines


def message(i):
    return (b"From: Sender %d <sender%d@example.test>\r\nTo: reader@example.test\r\n"
            b"Subject: benchmark message number %d\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
            b"Message-ID: <bench%d@example.test>\r\n\r\nbody %d\r\n" % (i, i % 97, i, i, i))


async def fill(user, password, count):
    c = await Conn.open()
    await c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
    start = time.monotonic()
    batch = 50
    for base in range(0, count, batch):
        # Pipelined APPENDs with non-synchronizing literals.
        tags = []
        for i in range(base, min(count, base + batch)):
            c.n += 1
            tag = b"f%d" % c.n
            tags.append(tag)
            m = message(i)
            c.w.write(tag + b" APPEND INBOX {%d+}\r\n" % len(m) + m + b"\r\n")
        await c.w.drain()
        pending = set(tags)
        while pending:
            line = await c.r.readline()
            t = line.split(b" ", 1)[0]
            if t in pending:
                assert b" OK" in line, line
                pending.discard(t)
    elapsed = time.monotonic() - start
    c.w.close()
    return elapsed


async def fetch_bench(user, password):
    c = await Conn.open()
    await c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
    await c.cmd(b"SELECT INBOX")
    times = []
    for _ in range(5):
        start = time.monotonic()
        lines = await c.cmd(b"FETCH 1:* (UID FLAGS ENVELOPE)")
        times.append(time.monotonic() - start)
        assert len(lines) == MESSAGES + 1, len(lines)
    c.w.close()
    return statistics.median(times), sum(len(x) for x in lines)


async def idle_one(user, password, ready, hold):
    c = await Conn.open()
    await c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
    await c.cmd(b"SELECT INBOX")
    c.n += 1
    c.w.write(b"i IDLE\r\n")
    await c.w.drain()
    line = await c.r.readline()
    assert line.startswith(b"+"), line
    ready.append(c)
    await hold.wait()
    c.w.write(b"DONE\r\n")
    await c.w.drain()
    while not (await c.r.readline()).startswith(b"i OK"):
        pass
    c.w.close()


async def idle_bench(users):
    pid = imapd_pid()
    before = rss_kib(pid)
    ready, hold = [], asyncio.Event()
    start = time.monotonic()
    sem = asyncio.Semaphore(8)  # logins in flight (authd's thread pool is bounded)

    async def one(i):
        async with sem:
            u, p = users[i % len(users)]
            task = asyncio.ensure_future(idle_one(u, p, ready, hold))
            while len(ready) <= i and not task.done():
                await asyncio.sleep(0.005)
            if task.done():
                task.result()
        return task

    tasks = await asyncio.gather(*(one(i) for i in range(CONNECTIONS)))
    setup = time.monotonic() - start
    await asyncio.sleep(2)
    during = rss_kib(pid)
    hold.set()
    await asyncio.gather(*tasks)
    return before, during, setup


async def main():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < CONNECTIONS + 100:
        raise SystemExit(f"open-file limit {hard} is too low for {CONNECTIONS} connections")
    print(f"cores: {os.cpu_count()}")
    user, password = new_user()
    elapsed = await fill(user, password, MESSAGES)
    print(f"APPEND (pipelined, LITERAL+): {MESSAGES} messages in {elapsed:.1f} s "
          f"({MESSAGES / elapsed:.0f}/s)")
    median, size = await fetch_bench(user, password)
    print(f"FETCH 1:* (UID FLAGS ENVELOPE) on {MESSAGES} messages: median {median * 1000:.0f} ms "
          f"over 5 runs ({size / 1e6:.1f} MB of responses)")
    # The IDLE connections use small mailboxes of their own (10 users, 10 messages each).
    users = [new_user() for _ in range(10)]
    for u, p in users:
        await fill(u, p, 10)
    before, during, setup = await idle_bench(users)
    per = (during - before) * 1024 / CONNECTIONS
    print(f"IDLE: {CONNECTIONS} authenticated connections set up in {setup:.1f} s; tern-imapd RSS "
          f"{before / 1024:.1f} MiB -> {during / 1024:.1f} MiB = {per / 1024:.1f} KiB per connection "
          f"(target <= 32 KiB)")


if __name__ == "__main__":
    asyncio.run(main())
