"""Benchmark: 1, 2 and 3 `monitor run` daemons sharing one PostgreSQL (issue 14).

Run `python bench/cluster.py` (2,000 feeds) or `--quick` (400 feeds, shorter
windows). Needs a PostgreSQL the benchmark may create databases in:
`--database URL`, else $MONITOR_BENCH_DATABASE_URL, else
$MONITOR_TEST_DATABASE_URL. Needs aiohttp and psutil
(`pip install -r bench/requirements-poll.txt`).

What it does, in one run:

1. Starts a feed server in its own process (aiohttp, asyncio): N small,
   distinct RSS feeds of `--items` items (bench/poll_server.py's seeded news
   items, ~1.4 KB each) on 127.0.0.1, every response held `--latency`
   seconds (300 ms) by `asyncio.sleep`, so the daemons' work is waiting on
   the network, not burning the server's CPU. ETag → 304 once a feed is
   fetched.
2. For 1, 2 and 3 daemons, each in a fresh database (CREATE DATABASE, dropped
   after): the schema and feed rows are made first, not due; the daemons
   (`python -m monitor run`, real subprocesses, default settings but
   `per_host` = `concurrency` and no host delay since every feed is on one
   loopback host) start together and register; then every feed is made due.
   - **cold**: every feed's first poll, all its items new (parse in the
     daemons' pools, stories, matching, one transaction per feed under the
     story lock). Seconds from the first article stored to the last feed
     stored, from the database's own timestamps.
   - **warm**: every feed has a fixed 1 s interval, so the daemons are
     saturated with 304s once the cold pass is done; feeds/s is the server's
     count of 304s over a `--window`, after a settling pause.
   In both phases: CPU seconds of the daemons (with their parse workers) and
   of their PostgreSQL backends (psutil; same machine), the database's
   committed transactions and rows written (pg_stat_database of the bench's
   own database), the machine's CPU use (every process on it), and
   pg_stat_activity sampled every 0.1 s: how many of the daemons'
   connections on average wait for the story lock (an advisory lock), run a
   statement, or sit in a transaction while the daemon (Python) works.
3. Prints the tables, the scaling ratios against one daemon (targets ≥ 1.8×
   at two, ≥ 2.5× at three) and a sizing estimate for 100,000 feeds polled
   every 15 minutes from the measured per-feed costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP = "monitor-bench"
# Story-lock waits show as this in pg_stat_activity.
ADVISORY = ("Lock", "advisory")


# --- the feed server (its own process) ---------------------------------------------------------------


def make_feed(index: int, items: int) -> bytes:
    from poll_server import BASE_TIME, make_item  # bench/poll_server.py: seeded news items

    body = "".join(make_item(index, n) for n in range(items - 1, -1, -1))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        f"<channel><title>Outlet {index}</title><link>https://news{index}.example.com/</link>"
        f"<description>Outlet {index}</description><lastBuildDate>{format_datetime(BASE_TIME)}</lastBuildDate>\n"
        f"{body}</channel></rss>\n"
    ).encode()


def serve(feeds: int, items: int, latency: float) -> None:
    from aiohttp import web

    bodies = [make_feed(i, items) for i in range(feeds)]
    stats = {"ok": 0, "not_modified": 0, "not_found": 0}

    async def feed(request: web.Request) -> web.Response:
        await asyncio.sleep(latency)
        name = request.match_info["name"].removesuffix(".xml")
        index = int(name) if name.isdigit() else -1
        if not 0 <= index < feeds:
            stats["not_found"] += 1
            return web.Response(status=404)
        etag = f'"{index}"'
        if request.headers.get("If-None-Match") == etag:
            stats["not_modified"] += 1
            return web.Response(status=304, headers={"ETag": etag})
        stats["ok"] += 1
        return web.Response(body=bodies[index], headers={"ETag": etag}, content_type="application/rss+xml")

    async def get_stats(_request: web.Request) -> web.Response:
        return web.json_response(stats)

    app = web.Application()
    app.router.add_get("/f/{name}", feed)
    app.router.add_get("/stats", get_stats)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        print(f"PORT {runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Server:
    def __init__(self, feeds: int, items: int, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--feeds", str(feeds), "--items", str(items),
             "--latency", str(latency)],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit(f"feed server did not start: {line!r}")
        self.port = int(line.split()[1])

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/f/{i}.xml"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as response:
            return dict(json.load(response))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --- the database ------------------------------------------------------------------------------------


class Database:
    """A fresh database for one run, and the statistics read from the server."""

    def __init__(self, base: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.name = f"monitor_bench_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(base, isolation_level="AUTOCOMMIT", pool_size=2)
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = make_url(base).set(database=self.name).render_as_string(hide_password=False)
        self.daemon_url = (
            make_url(self.url).update_query_dict({"application_name": APP}).render_as_string(hide_password=False)
        )
        self.engine = create_engine(self.url, pool_size=2)

    def scalar(self, sql: str) -> Any:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text(sql)).scalar()

    def execute(self, sql: str) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text(sql))

    def counters(self) -> dict[str, int]:
        """This database's committed transactions and rows written (pg_stat_database)."""
        from sqlalchemy import text

        with self.admin.connect() as conn:
            row = conn.execute(
                text("SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database "
                     "WHERE datname = :db"), {"db": self.name}
            ).one()
        return {"xacts": int(row[0]), "rows": int(row[1] + row[2] + row[3])}

    def backends(self) -> list[tuple[int, str | None, str | None, str | None]]:
        """(pid, state, wait_event_type, wait_event) of the daemons' connections."""
        from sqlalchemy import text

        with self.admin.connect() as conn:
            return [
                (int(r[0]), r[1], r[2], r[3])
                for r in conn.execute(
                    text("SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
                         "WHERE datname = :db AND application_name = :app"), {"db": self.name, "app": APP}
                )
            ]

    def drop(self) -> None:
        self.engine.dispose()
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


class ActivitySampler:
    """pg_stat_activity every 0.1 s: the average number of the daemons' connections
    waiting for the story lock, running a statement, or idle in a transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.samples: list[tuple[int, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ActivitySampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(timeout=10)
        if not self.samples:
            return {"lock_wait": 0.0, "statement": 0.0, "in_transaction": 0.0}
        return {
            "lock_wait": statistics.fmean(s[0] for s in self.samples),
            "statement": statistics.fmean(s[1] for s in self.samples),
            "in_transaction": statistics.fmean(s[2] for s in self.samples),
        }

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            lock = statement = idle_tx = 0
            for _pid, state, kind, event in self.db.backends():
                if state == "active" and (kind, event) == ADVISORY:
                    lock += 1
                elif state == "active":
                    statement += 1
                elif state and state.startswith("idle in transaction"):
                    idle_tx += 1
            self.samples.append((lock, statement, idle_tx))


# --- CPU ---------------------------------------------------------------------------------------------


def cpu_of(pids: list[int], children: bool) -> dict[int, float]:
    """CPU seconds (user + system) per process, with their descendants if `children`."""
    import psutil

    seen: dict[int, float] = {}
    for pid in pids:
        try:
            process = psutil.Process(pid)
            procs = [process, *(process.children(recursive=True) if children else [])]
        except psutil.Error:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            seen[proc.pid] = times.user + times.system
    return seen


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass
class Snapshot:
    at: float
    daemons: dict[int, float]
    backends: dict[int, float]
    counters: dict[str, int]
    served: dict[str, int]

    @classmethod
    def take(cls, daemons: list[subprocess.Popen[bytes]], db: Database, server: Server) -> Snapshot:
        backend_pids = [pid for pid, *_ in db.backends()]
        return cls(time.monotonic(), cpu_of([d.pid for d in daemons], children=True),
                   cpu_of(backend_pids, children=False), db.counters(), server.stats())


@dataclass
class Phase:
    feeds: int
    seconds: float
    daemon_cpu: float
    pg_cpu: float
    xacts: int
    rows: int
    machine_cpu: float  # percent of all cores, every process on the machine
    activity: dict[str, float] = field(default_factory=dict)
    articles: int = 0

    @property
    def rate(self) -> float:
        return self.feeds / self.seconds if self.seconds else 0.0

    @classmethod
    def between(cls, a: Snapshot, b: Snapshot, feeds: int, seconds: float, machine_cpu: float,
                activity: dict[str, float]) -> Phase:
        return cls(
            feeds=feeds, seconds=seconds,
            daemon_cpu=cpu_delta(a.daemons, b.daemons), pg_cpu=cpu_delta(a.backends, b.backends),
            xacts=b.counters["xacts"] - a.counters["xacts"], rows=b.counters["rows"] - a.counters["rows"],
            machine_cpu=machine_cpu, activity=activity,
        )


# --- one run: N daemons --------------------------------------------------------------------------------


def write_config(path: Path, db: Database, server: Server, feeds: int, concurrency: int) -> None:
    import yaml

    config = {
        "database": db.daemon_url,
        "poll": {
            "interval": "15m", "jitter": 0, "concurrency": concurrency,
            "per_host": concurrency, "host_delay": 0,  # every feed is on one loopback host
            "timeout": "10s", "connect_timeout": "2s",
            "fulltext": "never",  # feeds only: the items link to made-up sites
        },
        "cluster": {"heartbeat": "2s"},
        # A fixed 1 s interval: once polled, a feed is due again at once, so the
        # daemons stay saturated and the warm rate is their capacity.
        "feeds": [{"name": f"outlet {i}", "url": server.url(i), "interval": "1s"} for i in range(feeds)],
        "watchlists": [
            {"name": "cartels", "query": '("Sinaloa Cartel" OR CJNG OR "organized crime" OR "crimen organizado") '
                                         'NOT "oil cartel"'},
            {"name": "security", "keywords": ["security agreement", "border security", "fentanyl"]},
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def prepare(db: Database, server: Server, feeds: int) -> None:
    """The schema and the feed rows, not due: the daemons start idle and together."""
    from monitor.store.engine import make_engine
    from monitor.store.feeds import FeedSpec
    from monitor.store.repository import Repository

    engine = make_engine(db.url)
    Repository(engine).sync_feeds([FeedSpec(f"outlet {i}", server.url(i)) for i in range(feeds)], datetime.now(UTC))
    engine.dispose()
    db.execute("UPDATE feeds SET next_poll_at = now() + interval '1 day'")


def wait(predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def run(n: int, server: Server, base: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import psutil

    db = Database(base)
    daemons: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        prepare(db, server, args.feeds)
        config = tmp / f"config-{n}.yaml"
        write_config(config, db, server, args.feeds, args.concurrency)
        env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
        for i in range(n):
            logs.append(tmp / f"daemon-{n}-{i}.log")
            with logs[-1].open("w") as err:
                daemons.append(subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                                                stdout=subprocess.DEVNULL, stderr=err, cwd=tmp, env=env))
        wait(lambda: db.scalar("SELECT count(*) FROM nodes WHERE stopped_at IS NULL") == n, 120, f"{n} daemons")
        if any(daemon.poll() is not None for daemon in daemons):
            raise SystemExit(f"a daemon exited: {[d.returncode for d in daemons]}")

        # Cold: every feed due, every item new.
        psutil.cpu_percent(None)
        before = Snapshot.take(daemons, db, server)
        sampler = ActivitySampler(db).start()
        db.execute("UPDATE feeds SET next_poll_at = NULL")
        wait(lambda: db.scalar("SELECT count(DISTINCT feed_id) FROM articles") == args.feeds,
             args.feeds * 2, "the cold pass", every=0.5)
        activity = sampler.stop()
        machine = psutil.cpu_percent(None)
        after = Snapshot.take(daemons, db, server)
        first = db.scalar("SELECT min(first_seen_at) FROM articles")
        last = db.scalar("SELECT max(first) FROM (SELECT min(first_seen_at) AS first FROM articles GROUP BY feed_id) f")
        cold = Phase.between(before, after, args.feeds, (last - first).total_seconds(), machine, activity)
        cold.articles = int(db.scalar("SELECT count(*) FROM articles"))

        # Warm: 304s at full speed; settle, then count over the window.
        time.sleep(args.settle)
        psutil.cpu_percent(None)
        before = Snapshot.take(daemons, db, server)
        sampler = ActivitySampler(db).start()
        time.sleep(args.window)
        activity = sampler.stop()
        machine = psutil.cpu_percent(None)
        after = Snapshot.take(daemons, db, server)
        polled = after.served["not_modified"] - before.served["not_modified"]
        warm = Phase.between(before, after, polled, after.at - before.at, machine, activity)

        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        codes = [daemon.wait(timeout=60) for daemon in daemons]
        errors = sum(log.read_text(errors="replace").count(" ERROR ") for log in logs)
        return {"daemons": n, "cold": cold, "warm": warm, "exit_codes": codes, "errors": errors,
                "warm_200s": after.served["ok"] - before.served["ok"]}
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
        db.drop()


# --- the report ----------------------------------------------------------------------------------------


def per(value: float, count: int) -> float:
    return value / count if count else 0.0


def lock_busy(phase: Phase) -> float:
    """The share of time some daemon holds the story lock, estimated: every feed
    transaction takes it first, so the daemons' connections inside a
    transaction (running a statement, or idle in it while the daemon works)
    are at most one lock holder at a time; claims and heartbeats add a little."""
    return min(phase.activity["statement"] + phase.activity["in_transaction"], 1.0)


def report(args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    one = runs[0]
    print(f"\n{args.feeds:,} feeds of {args.items} items (~1.4 KB each), {args.latency * 1000:.0f} ms per response, "
          f"poll.concurrency {args.concurrency} per daemon, {os.cpu_count()} cores; warm window {args.window:g} s\n")
    print("**Warm (304s, the daemons saturated)**\n")
    print("| daemons | feeds/s | × one daemon | daemon CPU ms/feed | PostgreSQL CPU ms/feed | transactions/feed "
          "| rows written/feed | machine CPU % (all processes) | story-lock waiters | statements running |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        w: Phase = r["warm"]
        ratio = w.rate / one["warm"].rate if one["warm"].rate else 0.0
        print(f"| {r['daemons']} | {w.rate:,.1f} | {ratio:.2f}× | {per(w.daemon_cpu, w.feeds) * 1000:.2f} | "
              f"{per(w.pg_cpu, w.feeds) * 1000:.2f} | {per(w.xacts, w.feeds):.3f} | {per(w.rows, w.feeds):.2f} | "
              f"{w.machine_cpu:.0f} | {w.activity['lock_wait']:.2f} | {w.activity['statement']:.2f} |")
    print("\n**Cold (every item new: parse, stories, matching, one transaction per feed under the story lock)**\n")
    print("| daemons | seconds | feeds/s | articles/s | × one daemon | daemon CPU ms/article | "
          "PostgreSQL CPU ms/article | transactions/feed | rows written/article | machine CPU % (all processes) | "
          "story-lock waiters | statements running | in transaction, daemon working | story lock busy (est.) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        c: Phase = r["cold"]
        ratio = c.rate / one["cold"].rate if one["cold"].rate else 0.0
        print(f"| {r['daemons']} | {c.seconds:.1f} | {c.rate:,.1f} | {per(c.articles, 1) / c.seconds if c.seconds else 0:,.0f} | "
              f"{ratio:.2f}× | {per(c.daemon_cpu, c.articles) * 1000:.2f} | {per(c.pg_cpu, c.articles) * 1000:.2f} | "
              f"{per(c.xacts, c.feeds):.2f} | {per(c.rows, c.articles):.1f} | {c.machine_cpu:.0f} | "
              f"{c.activity['lock_wait']:.2f} | {c.activity['statement']:.2f} | {c.activity['in_transaction']:.2f} | "
              f"{lock_busy(c):.0%} |")
    for r in runs:
        if any(r["exit_codes"]) or r["errors"]:
            print(f"\nwarning: {r['daemons']} daemon(s): exit codes {r['exit_codes']}, {r['errors']} ERROR log lines")
    targets = {2: 1.8, 3: 2.5}
    lines = []
    for r in runs:
        if r["daemons"] in targets and one["daemons"] == 1:
            ratio = r["warm"].rate / one["warm"].rate
            lines.append(f"{r['daemons']} daemons {ratio:.2f}× (target ≥ {targets[r['daemons']]}×: "
                         f"{'met' if ratio >= targets[r['daemons']] else 'NOT met'})")
    if lines:
        print("\nScaling, warm: " + "; ".join(lines))
    sizing(args, runs)


def sizing(args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    """100,000 feeds every 15 minutes, from the measured per-feed costs."""
    need = 100_000 / 900
    articles = 100_000 * args.new_per_day / 86_400
    per_daemon = runs[0]["warm"].rate / runs[0]["daemons"]
    cpu = statistics.fmean(per(r["warm"].daemon_cpu, r["warm"].feeds) for r in runs)
    pg_cpu = statistics.fmean(per(r["warm"].pg_cpu, r["warm"].feeds) for r in runs)
    xacts = statistics.fmean(per(r["warm"].xacts, r["warm"].feeds) for r in runs)
    rows = statistics.fmean(per(r["warm"].rows, r["warm"].feeds) for r in runs)
    cold: Phase = runs[0]["cold"]
    art_cpu, art_pg, art_rows = (per(cold.daemon_cpu, cold.articles), per(cold.pg_cpu, cold.articles),
                                 per(cold.rows, cold.articles))
    busiest: Phase = max((r["cold"] for r in runs), key=lock_busy)
    busy = lock_busy(busiest)
    print(f"\n**Sizing: 100,000 feeds every 15 minutes = {need:.0f} feeds/s**, "
          f"with {args.new_per_day} new articles per feed a day = {articles:.0f} articles/s\n")
    print(f"- polling is waiting: one daemon at poll.concurrency {args.concurrency} and {args.latency * 1000:.0f} ms "
          f"per response polls {per_daemon:.0f} feeds/s (concurrency / latency = {args.concurrency / args.latency:.0f}), "
          f"so {need / per_daemon:.1f} daemons' worth at that concurrency, or fewer with a higher one; "
          f"a 304 costs {cpu * 1000:.2f} ms of daemon CPU ({need * cpu:.2f} cores in all)")
    print(f"- new articles: {art_cpu * 1000:.1f} ms of daemon CPU each (parse, stories, matching): "
          f"{articles * art_cpu:.2f} cores")
    print(f"- the database: {need * xacts + articles / args.items:.0f} transactions/s "
          f"({need * xacts:.0f} for the 304s, {articles / args.items:.0f} feed transactions at {args.items} new "
          f"articles each), {need * rows + articles * art_rows:,.0f} rows written/s "
          f"({need * rows:.0f} for the 304s, {articles * art_rows:.0f} for articles at {art_rows:.0f} rows each, "
          f"mostly story-index keys), {need * pg_cpu + articles * art_pg:.2f} cores of backend CPU")
    if busy:
        capacity = busiest.articles / busiest.seconds / busy
        print(f"- the story lock serialises feed transactions with new articles: busy {busy:.0%} at "
              f"{busiest.articles / busiest.seconds:.0f} articles/s here, so it saturates near "
              f"{capacity:.0f} articles/s on this machine ({capacity / articles:.1f}× the load above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--items", type=int, default=5, help="items per feed (all new in the cold pass)")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds the server holds each response")
    parser.add_argument("--daemons", default="1,2,3", help="daemon counts to run, comma-separated (first: the baseline)")
    parser.add_argument("--concurrency", type=int, default=10, help="poll.concurrency of each daemon")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of the warm measurement")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between the cold pass and the warm window")
    parser.add_argument("--new-per-day", type=int, default=30, help="new articles per feed per day, for the sizing")
    parser.add_argument("--quick", action="store_true", help="400 feeds, an 8 s window")
    parser.add_argument("--database", help="PostgreSQL URL (default $MONITOR_BENCH_DATABASE_URL, $MONITOR_TEST_DATABASE_URL)")
    parser.add_argument("--json", action="store_true", help="also dump the measurements as JSON to stderr")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.feeds, args.items, args.latency)
        return
    if args.quick:
        args.feeds, args.window, args.settle = 400, 8.0, 3.0
    base = args.database or os.environ.get("MONITOR_BENCH_DATABASE_URL") or os.environ.get("MONITOR_TEST_DATABASE_URL")
    if not base or not base.startswith("postgresql"):
        raise SystemExit("needs PostgreSQL: --database URL, $MONITOR_BENCH_DATABASE_URL or $MONITOR_TEST_DATABASE_URL")
    counts = [int(n) for n in args.daemons.split(",")]
    server = Server(args.feeds, args.items, args.latency)
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
            for n in counts:
                started = time.monotonic()
                runs.append(run(n, server, base, args, Path(tmp)))
                print(f"{n} daemon(s) done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        server.stop()
    report(args, runs)
    if args.json:
        json.dump([{**r, "cold": vars(r["cold"]), "warm": vars(r["warm"])} for r in runs], sys.stderr, indent=1)


if __name__ == "__main__":
    main()
