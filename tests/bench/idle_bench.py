#!/usr/bin/env python3
"""IDLE notification latency across a cluster (figures, not a test). Run through `make bench`,
which starts a local cluster of REPLICAS=3 front-ends behind HAProxy with
tests/integration/imap/with_cluster.sh and cheap argon2 settings.

BENCH_IDLE_USERS users (default 250) each hold BENCH_IDLE_PER_USER IDLE sessions (default
20, tern-imapd's cluster-wide limit per user), all through HAProxy, which spreads them over
the tern-imapd replicas (leastconn). Once every session idles and BENCH_IDLE_SETTLE seconds
have passed, BENCH_IDLE_DELIVERIES messages (default 500) are delivered over LMTP through
HAProxy, each to one user (round-robin over the users), started at BENCH_IDLE_RATE per
second (default 20) on BENCH_IDLE_LMTP_CONNECTIONS connections (default 4). A delivery's
clock starts when its LMTP 250 reply for the recipient is read; each of the user's sessions
stops it when it reads the matching "* n EXISTS". Printed: the percentiles of every
session's latency, and of each delivery's latency until all the user's sessions were
notified; and the fan-out counters of the tern-imapd replicas and metad over the
measurement.

`make bench` runs it with TERN_SESSION_TTL=15m (authd's default) rather than
with_cluster.sh's 20 s, under which 5,000 IDLE sessions would renew their tokens 250 times a
second and the figures would measure authd.

A session that does not see a delivery within BENCH_IDLE_MISS_AFTER seconds (default 30) of
its 250, or that the server drops, is a correctness failure: the script then exits non-zero.
Timestamps are taken by one Python event loop on the same (small) machine as the cluster, so
they include the client's own scheduling delay.
Environment: IMAP_PORT, LMTP_PORT, NEW_USER, REPLICAS, IMAPD_<i>_HTTP, HAPROXY_HTTP,
TEST_METAD_ADDR, TERN_VAR (see with_cluster.sh).
"""
import asyncio
import concurrent.futures
import os
import re
import resource
import subprocess
import sys
import time
import urllib.request

IMAP_PORT = int(os.environ["IMAP_PORT"])
LMTP_PORT = int(os.environ["LMTP_PORT"])
REPLICAS = int(os.environ.get("REPLICAS", "1"))
USERS = int(os.environ.get("BENCH_IDLE_USERS", "250"))
PER_USER = int(os.environ.get("BENCH_IDLE_PER_USER", "20"))
DELIVERIES = int(os.environ.get("BENCH_IDLE_DELIVERIES", "500"))
RATE = float(os.environ.get("BENCH_IDLE_RATE", "20"))
LMTP_CONNECTIONS = int(os.environ.get("BENCH_IDLE_LMTP_CONNECTIONS", "4"))
SETTLE = float(os.environ.get("BENCH_IDLE_SETTLE", "5"))
MISS_AFTER = float(os.environ.get("BENCH_IDLE_MISS_AFTER", "30"))
SESSIONS = USERS * PER_USER
# authd turns away bursts above about 30 concurrent logins (its gRPC thread pool).
LOGINS_AT_ONCE = 16
USER_THREADS = 4  # concurrent NEW_USER scripts (each runs ternctl)

EXISTS = re.compile(rb"^\* (\d+) EXISTS\r?\n$")


def new_user(_):
    out = subprocess.run([os.environ["NEW_USER"]], check=True, capture_output=True, text=True)
    return out.stdout.split()


def metrics(url):
    """Prometheus text -> {name{labels}: value}."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                pass
    return out


def imapd_urls():
    return [f"http://127.0.0.1:{os.environ[f'IMAPD_{i}_HTTP']}/metrics" for i in range(REPLICAS)]


def metad_url():
    # deploy/local/run.sh: metad's gRPC port is 7002 + offset, its HTTP port 9102 + offset.
    grpc_port = int(os.environ["TEST_METAD_ADDR"].rsplit(":", 1)[1])
    return f"http://127.0.0.1:{grpc_port - 7002 + 9102}/metrics"


def metad_get_changes(m):
    return sum(v for k, v in m.items()
               if k.startswith("tern_grpc_server_handled_total{") and "/GetChanges\"" in k)


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def spread(values):
    v = sorted(values)
    return (f"p50 {percentile(v, 50) * 1000:6.1f} ms, p90 {percentile(v, 90) * 1000:6.1f} ms, "
            f"p99 {percentile(v, 99) * 1000:6.1f} ms, max {v[-1] * 1000:6.1f} ms")


class Session:
    """One IDLE client. `seen[k]` is when it read the EXISTS of its user's k-th delivery."""

    def __init__(self, user, password, index):
        self.user, self.password, self.index = user, password, index
        self.base = 0  # EXISTS at SELECT
        self.last = 0  # last EXISTS read
        self.seen = {}
        self.port = None  # client port (HAProxy's log names the replica it chose)
        self.error = None
        self.r = self.w = None

    async def tagged(self, tag):
        while True:
            line = await self.r.readline()
            if not line:
                raise RuntimeError("connection closed")
            m = EXISTS.match(line)
            if m:
                self.base = self.last = int(m.group(1))
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode(errors="replace").strip())
                return

    async def start(self):
        self.r, self.w = await asyncio.open_connection("127.0.0.1", IMAP_PORT)
        self.port = self.w.get_extra_info("sockname")[1]
        greeting = await self.r.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"greeting {greeting!r}")
        self.w.write(b"a LOGIN %s %s\r\n" % (self.user.encode(), self.password.encode()))
        await self.tagged(b"a")
        self.w.write(b"b SELECT INBOX\r\n")
        await self.tagged(b"b")
        self.w.write(b"c IDLE\r\n")
        line = await self.r.readline()
        if not line.startswith(b"+"):
            raise RuntimeError(f"IDLE answered {line!r}")

    async def listen(self):
        """Reads lines for as long as the session lasts."""
        try:
            while True:
                line = await self.r.readline()
                now = time.monotonic()
                if not line:
                    self.error = "connection closed by the server"
                    return
                m = EXISTS.match(line)
                if m:
                    n = int(m.group(1))
                    # Two deliveries may show as one EXISTS: both were seen now.
                    for k in range(self.last + 1, n + 1):
                        self.seen.setdefault(k - self.base, now)
                    self.last = max(self.last, n)
                elif line.startswith(b"* BYE") or line.startswith(b"c "):
                    self.error = line.decode(errors="replace").strip()
                    return
        except (OSError, asyncio.IncompleteReadError) as e:
            self.error = f"read failed: {e!r}"
        except asyncio.CancelledError:
            pass


async def open_sessions(users):
    sessions = [Session(*users[i % USERS], i) for i in range(SESSIONS)]
    gate = asyncio.Semaphore(LOGINS_AT_ONCE)

    async def one(s):
        async with gate:
            await s.start()

    # Consecutive connections belong to different users, so leastconn spreads each user's
    # sessions over the replicas.
    results = await asyncio.gather(*(one(s) for s in sessions), return_exceptions=True)
    failed = [(s, e) for s, e in zip(sessions, results) if isinstance(e, BaseException)]
    if failed:
        for s, e in failed[:10]:
            print(f"  session {s.index} ({s.user}): {e!r}")
        raise SystemExit(f"{len(failed)} of {SESSIONS} sessions failed to start IDLE")
    return sessions


async def expect(r, code):
    while True:
        line = await r.readline()
        if not line:
            raise RuntimeError("LMTP connection closed")
        if not line.startswith(code):
            raise RuntimeError(f"LMTP: expected {code!r}, got {line!r}")
        if line[3:4] == b" ":
            return


async def deliver_all(users, accepted):
    """Delivery i goes to user i % USERS and starts at t0 + i / RATE (or as soon as a
    connection is free). accepted[(user, k)] = when the 250 of the user's k-th was read."""
    queue = asyncio.Queue()
    for i in range(DELIVERIES):
        queue.put_nowait(i)
    t0 = time.monotonic()
    counts = {}  # deliveries started per user
    # One user's deliveries never overlap (with round-robin over the users the previous one is
    # long done anyway), so that EXISTS n names the user's n-th delivery.
    locks = {u: asyncio.Lock() for u, _ in users}

    async def connection():
        r, w = await asyncio.open_connection("127.0.0.1", LMTP_PORT)
        await expect(r, b"220")
        w.write(b"LHLO bench.example.org\r\n")
        await expect(r, b"250")
        while not queue.empty():
            i = queue.get_nowait()
            delay = t0 + i / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            user = users[i % USERS][0]
            async with locks[user]:
                k = counts[user] = counts.get(user, 0) + 1
                await one(r, w, user, i, k)
        w.write(b"QUIT\r\n")
        await expect(r, b"221")
        w.close()

    async def one(r, w, user, i, k):
        body = (b"From: Sender <sender@example.org>\r\nTo: %s\r\nSubject: idle bench %d\r\n"
                b"Message-ID: <idlebench%d.%d@example.org>\r\n\r\nhello %d\r\n"
                % (user.encode(), i, i, time.monotonic_ns(), i))
        w.write(b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % user.encode())
        await expect(r, b"250")
        await expect(r, b"250")
        await expect(r, b"354")
        w.write(body + b".\r\n")
        await expect(r, b"250")  # RFC 2033 4.2: the recipient's reply
        accepted[(user, k)] = time.monotonic()

    await asyncio.gather(*(connection() for _ in range(LMTP_CONNECTIONS)))
    return time.monotonic() - t0


def replica_of_ports(ports):
    """HAProxy's tcplog lines ("127.0.0.1:PORT [...] imap imapd-imap/imapd-1 ...", written
    when a connection ends) name the replica behind each client port."""
    found = {}
    log = os.path.join(os.environ["TERN_VAR"], "log", "haproxy.log")
    try:
        with open(log, errors="replace") as f:
            for line in f:
                m = re.match(r"127\.0\.0\.1:(\d+) \[[^]]*\] imap \S+/(\S+)", line)
                if m and int(m.group(1)) in ports:
                    found[int(m.group(1))] = m.group(2)
    except OSError:
        pass
    return found


async def main():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < SESSIONS + 100:
        raise SystemExit(f"open-file limit {hard} is too low for {SESSIONS} sessions")
    if os.environ.get("HAPROXY_HTTP"):
        hap = metrics(f"http://127.0.0.1:{os.environ['HAPROXY_HTTP']}/metrics")
        if hap.get("haproxy_process_max_connections", 0) < SESSIONS + LMTP_CONNECTIONS + 10:
            raise SystemExit(f"HAProxy's maxconn {hap.get('haproxy_process_max_connections')} is "
                             f"too low for {SESSIONS} sessions (raise the open-file limit)")

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(USER_THREADS) as pool:
        users = list(pool.map(new_user, range(USERS)))
    created = time.monotonic() - start

    start = time.monotonic()
    sessions = await open_sessions(users)
    setup = time.monotonic() - start
    listeners = [asyncio.ensure_future(s.listen()) for s in sessions]
    await asyncio.sleep(SETTLE)

    urls = imapd_urls()
    before = [metrics(u) for u in urls]
    metad_before = metrics(metad_url())
    accepted = {}
    elapsed = await deliver_all(users, accepted)

    # Wait until every session has seen its user's deliveries, or MISS_AFTER past the last 250.
    wanted = {}  # user -> deliveries made to it
    for (user, k) in accepted:
        wanted[user] = max(wanted.get(user, 0), k)
    last_accepted = max(accepted.values())
    while time.monotonic() < last_accepted + MISS_AFTER:
        if all(len(s.seen) >= wanted.get(s.user, 0) or s.error for s in sessions):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)  # let the counters catch up with the last fetches
    after = [metrics(u) for u in urls]
    metad_after = metrics(metad_url())

    by_user = {}
    for s in sessions:
        by_user.setdefault(s.user, []).append(s)
    per_session, per_delivery, misses = [], [], []
    for (user, k), t in accepted.items():
        latencies = []
        for s in by_user[user]:
            seen = s.seen.get(k)
            if seen is None or seen - t > MISS_AFTER:
                misses.append((s, user, k))
            else:
                latencies.append(seen - t)
        per_session += latencies
        if len(latencies) == PER_USER:
            per_delivery.append(max(latencies))
    dropped = [s for s in sessions if s.error]

    def delta(name):
        return sum(a.get(name, 0) - b.get(name, 0) for a, b in zip(after, before))

    fetches = delta("tern_imap_fanout_fetches_total")
    applied = delta("tern_imap_fanout_applied_total")
    notices = delta("tern_imap_change_notices_total")
    watched = [int(a.get("tern_imap_watched_mailboxes", 0)) for a in after]
    conns = [int(a.get("tern_imap_connections", 0)) for a in after]
    get_changes = metad_get_changes(metad_after) - metad_get_changes(metad_before)

    print(f"IDLE notification latency, {SESSIONS} sessions ({USERS} users x {PER_USER}) on "
          f"{REPLICAS} tern-imapd behind HAProxy ({os.cpu_count()} cores, client and cluster on "
          f"the same machine):")
    print(f"  session token TTL {os.environ.get('TERN_SESSION_TTL', '?')}; "
          f"{USERS} users created in {created:.1f} s; sessions logged in, selected and idling "
          f"in {setup:.1f} s ({LOGINS_AT_ONCE} logins at a time); then {SETTLE:.0f} s settle")
    print(f"  connections per tern-imapd: {', '.join(map(str, conns))}; watched mailboxes per "
          f"tern-imapd: {', '.join(map(str, watched))}")
    print(f"  {len(accepted)} LMTP deliveries (1 recipient each, round-robin over the users), "
          f"paced at {RATE:g}/s on {LMTP_CONNECTIONS} connections: {len(accepted) / elapsed:.1f}/s "
          f"achieved")
    if per_session:
        print(f"  250 read -> each session's EXISTS ({len(per_session)} notifications): "
              f"{spread(per_session)}")
        print(f"  250 read -> all {PER_USER} sessions notified ({len(per_delivery)} deliveries): "
              f"{spread(per_delivery)}")
    print(f"  fan-out over the measurement: change notices +{notices:.0f}, fan-out fetches "
          f"+{fetches:.0f} ({fetches / max(1, len(accepted)):.2f} per delivery), applied from "
          f"memory +{applied:.0f}; metad GetChanges calls +{get_changes:.0f} "
          f"({get_changes / max(1, len(accepted)):.2f} per delivery)")

    failed = False
    if misses:
        failed = True
        print(f"FAILED: {len(misses)} notifications missing or later than {MISS_AFTER:g} s "
              f"({len({(u, k) for _, u, k in misses})} deliveries)")
    if dropped:
        failed = True
        print(f"FAILED: {len(dropped)} sessions ended during the measurement")
    for s in sessions:
        s.w.close()
    for t in listeners:
        t.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    if failed:
        await asyncio.sleep(2)  # HAProxy logs a connection when it ends
        bad = {s.port: s for s in dropped} | {s.port: s for s, _, _ in misses}
        where = replica_of_ports(set(bad))
        for s, user, k in misses[:20]:
            print(f"  missed: session {s.index} ({user}, {where.get(s.port, '?')}) delivery {k} "
                  f"(EXISTS seen: {sorted(s.seen)}; last EXISTS {s.last}, at SELECT {s.base})")
        for s in dropped[:20]:
            print(f"  ended: session {s.index} ({s.user}, {where.get(s.port, '?')}): {s.error}")
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
