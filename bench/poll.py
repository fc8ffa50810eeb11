"""Benchmark: polling 1,000 feeds — monitor against the `reader` library.

Run `python bench/poll.py` (full run) or `--quick` (a smoke run of 200 feeds,
10 cycles). Needs `pip install -r bench/requirements-poll.txt` (reader,
aiohttp, psutil); none of them is a dependency of the project.

What it does, in one run:

1. Starts `bench/poll_server.py` in its own process: N distinct, seeded RSS
   2.0 feeds of 50 items (~74 KB each) on 127.0.0.1 with ETag and
   If-None-Match → 304, and `/change` to give K feeds 5 new items.
2. Measures the server's raw throughput with a bare httpx loop
   (concurrency 20): every feed as a 200, then every feed as a 304.
3. Per repeat (medians over `--repeats`, each side in a fresh process, the
   server reset to the same state before each side):
   - monitor: `Service(settings).poll(all_feeds=True)` into a fresh SQLite
     database in a temp dir, with realistic watchlists (the cartels /
     security queries and entities of config.yaml plus keyword lists):
     cycle 1 is cold (fetch, parse in the process pool, store, match all
     N×50 articles), cycle 2 answers 304 for every feed. In the first
     repeat, cycles 3..M follow, each after `/change` gave 2 % of the feeds
     5 new items (the rest answer 304), for the RSS after cycle 5 vs M.
   - reader: `make_reader(db)`, `add_feed` for each URL (not timed), then
     `update_feeds(workers=W, scheduled=False)` twice: cold, then all 304.
4. Peak memory: the main process's `ru_maxrss`; the parse pool workers'
   (grandchildren, via the forkserver) peak `VmHWM` from /proc, sampled
   every 0.1 s (VmHWM is the kernel's own high-water mark, so no peak is
   missed between samples).

Prints a markdown table: measure | monitor | reader | ratio/target.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONCURRENCY = 20
WATCHLISTS: list[dict[str, Any]] = [
    {
        "name": "cartels",
        "query": '(cartel OR cartels OR cártel OR cárteles OR CJNG OR "crimen organizado" '
        'OR "organized crime" OR narcotráfico OR narcotraficantes) NOT (OPEC OR "oil cartel" OR cartelera)',
    },
    {
        "name": "us-mexico-security",
        "query": '("security agreement" OR "security partnership" OR "security cooperation" '
        'OR "security dialogue" OR "border security" OR "foreign terrorist organization*" '
        'OR "acuerdo de seguridad" OR "cooperación en seguridad" OR "seguridad fronteriza" '
        'OR "organización terrorista extranjera")',
        "tags": ["mexico", "latam"],
    },
    {"name": "people", "entities": ["gorka", "cjng", "sinaloa"]},
    {"name": "fentanyl", "keywords": ["fentanyl", "fentanilo", "precursor chemicals"]},
    {"name": "extradition", "keywords": ["extradition", "extradición", "extradited"]},
    {"name": "culiacan-violence", "query": "Culiacán NEAR/4 (killed OR violencia)"},
    {"name": "trade", "query": "(tariffs OR aranceles) NEAR/3 (exports OR trade)", "tags": ["mexico"]},
]
ENTITIES = {
    "gorka": {"names": ["Sebastian Gorka"], "aliases": ["Gorka"],
              "context": ["counterterrorism", "White House", "Casa Blanca", "contraterrorismo"]},
    "cjng": {"names": ["CJNG", "Cártel de Jalisco Nueva Generación", "Jalisco New Generation Cartel"]},
    "sinaloa": {"names": ["Cártel de Sinaloa", "Sinaloa Cartel", "Sinaloa cartel"],
                "aliases": ["Chapitos", "Los Chapitos", "Mayo Zambada"],
                "context": ["cartel", "cártel", "narco", "fentanyl", "fentanilo"]},
}
TAGS = [["mexico", "es"], ["mexico", "en"], ["latam", "en"], ["latam", "es"], ["world", "en"]]


# --- small helpers -------------------------------------------------------------------


def feed_url(port: int, i: int) -> str:
    return f"http://127.0.0.1:{port}/feeds/{i}.xml"


def http_post(port: int, path: str) -> Any:
    import httpx

    return httpx.post(f"http://127.0.0.1:{port}{path}", timeout=120).json()


def server_stats(port: int) -> dict[str, int]:
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=30).json()


def proc_status(pid: int | str, key: str) -> int:
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM) in bytes; 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_now() -> int:
    return proc_status("self", "VmRSS")


def max_rss_self() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


class ChildSampler:
    """Peak memory of a process's children and grandchildren (the parse pool).

    Runs in the benchmark's driver, not in the measured process (whose GIL it
    would take). Direct children of the measured process are helpers
    (forkserver, resource tracker); the pool workers are the forkserver's
    children. Each sample reads every process's VmHWM (its own peak RSS), so
    the figure is exact even between samples, up to the last sample before
    the process exits (the peak is in cycle 1, long before).
    """

    def __init__(self, pid: int, every: float = 0.25) -> None:
        import psutil

        self.me = psutil.Process(pid)
        self.every = every
        self.hwm: dict[int, int] = {}  # pid → peak
        self.kind: dict[int, str] = {}
        self.sum_pss_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ChildSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        import psutil

        total = 0
        try:
            children = self.me.children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                parent = child.ppid()
            except psutil.Error:
                continue
            hwm = proc_status(child.pid, "VmHWM")
            if not hwm:
                continue
            self.kind[child.pid] = "helper" if parent == self.me.pid else "worker"
            self.hwm[child.pid] = max(self.hwm.get(child.pid, 0), hwm)
            if self.kind[child.pid] == "worker":
                try:  # PSS: shared pages (the forkserver's imports) counted once overall
                    total += child.memory_full_info().pss
                except (psutil.Error, AttributeError):
                    total += proc_status(child.pid, "VmRSS")
        self.sum_pss_peak = max(self.sum_pss_peak, total)

    def workers(self) -> list[int]:
        return [peak for pid, peak in self.hwm.items() if self.kind[pid] == "worker"]


def cpu_seconds(pid: int) -> float:
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


# --- the monitor side (a fresh process) ------------------------------------------------


def generated_watchlists(terms: int) -> list[dict[str, Any]]:
    """About `terms` more terms in seeded watchlists (bench/match.py's: made-up
    names, keyword lists and five query shapes), as config entries."""
    import random

    from match import make_names, make_watchlists

    rng = random.Random(13)
    specs = make_watchlists(rng, make_names(rng, 400_000), terms)
    return [
        {"name": f"generated-{s.name}", **({"keywords": list(s.keywords)} if s.keywords else {"query": s.query})}
        for s in specs
    ]


def monitor_config(port: int, feeds: int, db: str, terms: int = 0) -> str:
    """`db`: an SQLite file path, or a database URL (PostgreSQL); `terms`:
    generated watchlists added to the seven (see `generated_watchlists`)."""
    import yaml

    raw = {
        "database": db if "://" in db else f"sqlite:///{db}",
        "poll": {
            "interval": "15m",
            "concurrency": CONCURRENCY,
            "per_host": CONCURRENCY,
            "host_delay": 0,
            "max_entries": 500,
            # Like for like with reader, which reads feeds only (bench/fulltext.py measures pages).
            "fulltext": "never",
        },
        "feeds": [
            {"name": f"news {i}", "url": feed_url(port, i), "tags": TAGS[i % len(TAGS)]} for i in range(feeds)
        ],
        "channels": {},
        "entities": ENTITIES,
        "watchlists": WATCHLISTS + (generated_watchlists(terms) if terms else []),
    }
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


def fresh_schema(base: str) -> str:
    """A new, empty schema in the PostgreSQL database `base`; its URL."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    schema = f"bench_poll_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    url = make_url(base)
    # Options already in the URL stay (bench/pg_statements.py's statement log).
    options = " ".join(filter(None, [url.query.get("options"), f"-csearch_path={schema}"]))
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


def drop_schema(base: str, url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    options = str(make_url(url).query["options"]).split()
    schema = next(o for o in options if o.startswith("-csearch_path=")).split("=", 1)[1]
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def run_monitor(args: argparse.Namespace) -> dict[str, Any]:
    from monitor.config import parse_config
    from monitor.service import Service

    logging.basicConfig(level=logging.WARNING)
    port, n = args.port, args.feeds
    out: dict[str, Any] = {"cycles": []}
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
        database = fresh_schema(args.database) if args.database else f"{tmp}/monitor.db"
        settings = parse_config(monitor_config(port, n, database, args.terms), source="bench", environ={})
        started = time.perf_counter()
        service = Service(settings, echo=lambda _: None)
        out["setup_s"] = time.perf_counter() - started
        out["parse_workers"] = service.poller.workers
        for cycle in range(1, args.cycles + 1):
            changed = 0
            if cycle >= 3 and args.change:
                changed = len(http_post(port, f"/change?n={args.change}&seed={cycle}")["changed"])
            before, server_cpu = server_stats(port), cpu_seconds(args.server_pid)
            cpu = time.process_time()
            started = time.perf_counter()
            summary = service.poll(all_feeds=True)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            server_cpu = cpu_seconds(args.server_pid) - server_cpu
            after = server_stats(port)
            row = {
                "cycle": cycle,
                "seconds": seconds,
                "main_cpu_s": cpu,
                "server_cpu_s": server_cpu,
                "changed": changed,
                "ok": summary.feeds_ok,
                "not_modified": summary.not_modified,
                "failed": summary.feeds_failed,
                "new_articles": summary.new_articles,
                "hits": summary.hits,
                "served_200": after["ok"] - before["ok"],
                "served_304": after["not_modified"] - before["not_modified"],
                "rss": rss_now(),
            }
            summary.new_hits.clear()
            del summary
            out["cycles"].append(row)
            if args.verbose:
                print(json.dumps(row), file=sys.stderr, flush=True)
        service.close()
        out["articles"] = service.repo.article_count()
        out["db_bytes"] = sum(p.stat().st_size for p in Path(tmp).glob("monitor.db*"))
        service.repo.engine.dispose()
        if args.database:
            drop_schema(args.database, database)
    out["max_rss_main"] = max_rss_self()
    return out


# --- the reader side (a fresh process) --------------------------------------------------


def run_reader(args: argparse.Namespace) -> dict[str, Any]:
    import reader

    logging.basicConfig(level=logging.WARNING)
    # reader logs a "bozo feed ... NonXMLContentType" warning for every feed here
    # (its vendored feedparser does not see the Content-Type it is handed); harmless.
    logging.getLogger("reader").setLevel(logging.ERROR)
    port, n = args.port, args.feeds
    out: dict[str, Any] = {"cycles": [], "version": reader.__version__, "workers": args.reader_workers}
    with tempfile.TemporaryDirectory(prefix="bench-poll-reader-") as tmp:
        r = reader.make_reader(f"{tmp}/reader.sqlite")
        started = time.perf_counter()
        for i in range(n):
            r.add_feed(feed_url(port, i))
        out["setup_s"] = time.perf_counter() - started
        for cycle in (1, 2):
            before, server_cpu = server_stats(port), cpu_seconds(args.server_pid)
            cpu = time.process_time()
            started = time.perf_counter()
            r.update_feeds(workers=args.reader_workers, scheduled=False)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            server_cpu = cpu_seconds(args.server_pid) - server_cpu
            after = server_stats(port)
            counts = r.get_entry_counts()
            row = {
                "cycle": cycle,
                "seconds": seconds,
                "main_cpu_s": cpu,
                "server_cpu_s": server_cpu,
                "entries": counts.total,
                "broken_feeds": r.get_feed_counts().broken,
                "served_200": after["ok"] - before["ok"],
                "served_304": after["not_modified"] - before["not_modified"],
                "rss": rss_now(),
            }
            out["cycles"].append(row)
            if args.verbose:
                print(json.dumps(row), file=sys.stderr, flush=True)
        r.close()
    out["max_rss_main"] = max_rss_self()
    return out


# --- the server ---------------------------------------------------------------------


class Server:
    def __init__(self, feeds: int, threaded: bool) -> None:
        command = [sys.executable, str(ROOT / "bench" / "poll_server.py"), "--feeds", str(feeds)]
        if threaded:
            command.append("--threaded")
        started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if not line or line[0] != "PORT":
            self.process.kill()
            raise SystemExit("the feed server did not start")
        self.port, self.kind = int(line[1]), line[2]
        self.startup_s = time.perf_counter() - started

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def raw_throughput(port: int, feeds: int) -> dict[str, float]:
    """Feeds per second through a bare httpx loop: all 200s, then all 304s."""
    import asyncio

    import httpx

    async def run() -> dict[str, float]:
        etags: dict[int, str] = {}
        result: dict[str, float] = {}
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            semaphore = asyncio.Semaphore(CONCURRENCY)

            async def get(i: int, conditional: bool) -> int:
                headers = {"If-None-Match": etags[i]} if conditional else {}
                async with semaphore:
                    response = await client.get(feed_url(port, i), headers=headers)
                    etags[i] = response.headers["etag"]
                    return len(response.content)

            for name, conditional in (("200", False), ("304", True)):
                started = time.perf_counter()
                sizes = await asyncio.gather(*(get(i, conditional) for i in range(feeds)))
                seconds = time.perf_counter() - started
                result[f"{name}_per_s"] = feeds / seconds
                result[f"{name}_mb_per_s"] = sum(sizes) / seconds / 1e6
                if not conditional:
                    result["feed_kb"] = sum(sizes) / len(sizes) / 1024
        try:
            import aiohttp
        except ImportError:
            return result
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as session:
            semaphore = asyncio.Semaphore(CONCURRENCY)

            async def fetch(i: int) -> int:
                async with semaphore, session.get(feed_url(port, i)) as response:
                    return len(await response.read())

            started = time.perf_counter()
            await asyncio.gather(*(fetch(i) for i in range(feeds)))
            result["aiohttp_200_per_s"] = feeds / (time.perf_counter() - started)
        return result

    return asyncio.run(run())


def side(kind: str, args: argparse.Namespace, server: Server, cycles: int) -> dict[str, Any]:
    http_post(server.port, "/reset")
    gc.collect()
    command = [
        sys.executable, str(Path(__file__).resolve()), "--side", kind,
        "--port", str(server.port), "--server-pid", str(server.process.pid),
        "--feeds", str(args.feeds), "--cycles", str(cycles), "--change", str(args.change),
        "--reader-workers", str(args.reader_workers), "--terms", str(args.terms),
    ]
    if args.database:
        command += ["--database", args.database]
    if args.verbose:
        command.append("--verbose")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    sampler = ChildSampler(process.pid).start()
    stdout, _ = process.communicate()
    sampler.stop()
    if process.returncode:
        raise SystemExit(f"the {kind} side failed (exit status {process.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["pool_worker_peaks"] = sampler.workers()
    result["pool_sum_pss_peak"] = sampler.sum_pss_peak
    result["helper_peaks"] = [peak for pid, peak in sampler.hwm.items() if sampler.kind[pid] == "helper"]
    return result


# --- the report ---------------------------------------------------------------------


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def report(args: argparse.Namespace, server: Server, raw: dict[str, float],
           mon: list[dict[str, Any]], rdr: list[dict[str, Any]]) -> str:
    n = args.feeds

    def med(runs: list[dict[str, Any]], cycle: int, key: str) -> float:
        if not runs:
            return float("nan")
        return statistics.median(run["cycles"][cycle - 1][key] for run in runs)

    m1 = n / med(mon, 1, "seconds")
    m2 = n / med(mon, 2, "seconds")
    r1 = n / med(rdr, 1, "seconds")
    r2 = n / med(rdr, 2, "seconds")
    long = mon[0]
    cycles = long["cycles"]
    main_peak = statistics.median(run["max_rss_main"] for run in mon)
    worker_peak = max(max(run["pool_worker_peaks"] or [0]) for run in mon)
    pool_sum = max(run["pool_sum_pss_peak"] for run in mon)
    reader_peak = statistics.median(run["max_rss_main"] for run in rdr) if rdr else float("nan")
    last = len(cycles)
    rss5 = cycles[4]["rss"] if last >= 5 else float("nan")
    rss_last = cycles[-1]["rss"]
    drift = (rss_last - rss5) / rss5 * 100 if last >= 5 else float("nan")
    workers = long["parse_workers"]

    def ok(good: bool) -> str:
        return "met" if good else "**missed**"

    lines = [
        f"{n} feeds × 50 items, {raw['feed_kb']:.0f} KB each on average; "
        f"monitor: concurrency {CONCURRENCY}, per_host {CONCURRENCY}, host_delay 0, {workers} parse workers; "
        f"reader {rdr[0]['version'] if rdr else '-'} with update_feeds(workers={args.reader_workers}); "
        f"medians of {len(mon)} runs (cycles 3..{last}: first run only, {args.change} feeds changed per cycle). "
        f"Server: {server.kind}. Python {sys.version.split()[0]}. "
        f"monitor's database: {'PostgreSQL (local server)' if args.database else 'SQLite'}."
        + (f" Watchlists: the seven and ≈ {args.terms:,} generated terms." if args.terms else ""),
        "",
        "| measure | monitor | reader | ratio/target |",
        "|---|---:|---:|---|",
        f"| first cycle, feeds/s | {fmt(m1)} | {fmt(r1)} | {m1 / r1:.1f}× (target ≥ 3×: {ok(m1 >= 3 * r1)}) |",
        f"| 304 cycle, feeds/s | {fmt(m2)} | {fmt(r2)} | {m2 / r2:.1f}× |",
        f"| 304 cycle vs first | {m2 / m1:.1f}× | {r2 / r1:.1f}× | target ≥ 10×: {ok(m2 >= 10 * m1)} |",
        f"| first cycle, s (main CPU s) | {med(mon, 1, 'seconds'):.1f} ({med(mon, 1, 'main_cpu_s'):.1f}) "
        f"| {med(rdr, 1, 'seconds'):.1f} ({med(rdr, 1, 'main_cpu_s'):.1f}) | |",
        f"| 304 cycle, s (main CPU s) | {med(mon, 2, 'seconds'):.2f} ({med(mon, 2, 'main_cpu_s'):.2f}) "
        f"| {med(rdr, 2, 'seconds'):.2f} ({med(rdr, 2, 'main_cpu_s'):.2f}) | |",
        f"| peak RSS main process | {mb(main_peak)} | {mb(reader_peak)} | target < 300 MB: {ok(main_peak < 300 * 2**20)} |",
        f"| peak RSS per pool worker (sampled peak PSS of all {workers}) | {mb(worker_peak)} ({mb(pool_sum)}) | – | "
        f"main + pool PSS ≈ {mb(main_peak + pool_sum)} |",
        (
            f"| RSS main after cycle 5 / {last} | {mb(rss5)} / {mb(rss_last)} | – | "
            f"{drift:+.1f} % (target within 10 %: {ok(abs(drift) <= 10)}) |"
            if last >= 5
            else f"| RSS main after cycle {last} | {mb(rss_last)} | – | drift: not measured (needs --cycles ≥ 5) |"
        ),
        f"| server raw, feeds/s 200 / 304 (bare httpx loop, {CONCURRENCY} conns) | {fmt(raw['200_per_s'])} / "
        f"{fmt(raw['304_per_s'])} | | {raw['200_mb_per_s']:.0f} MB/s; aiohttp client: "
        f"{fmt(raw.get('aiohttp_200_per_s', float('nan')))} feeds/s |",
        f"| server CPU during first / 304 cycle | {med(mon, 1, 'server_cpu_s'):.1f} s / {med(mon, 2, 'server_cpu_s'):.2f} s "
        f"| {med(rdr, 1, 'server_cpu_s'):.1f} s / {med(rdr, 2, 'server_cpu_s'):.2f} s | |",
    ]
    per_cycle = [c["seconds"] for c in cycles[2:]]
    if per_cycle:
        lines += [
            "",
            f"Cycles 3..{last} (2 % changed): median {statistics.median(per_cycle):.2f} s, "
            f"new articles per cycle {statistics.median(c['new_articles'] for c in cycles[2:]):.0f}; "
            "RSS main after cycles "
            + ", ".join(f"{i}: {mb(cycles[i - 1]['rss'])}" for i in sorted({1, 2, 5, 10, 25, last}) if i <= last)
            + ".",
        ]
    lines.append(
        f"Checks: monitor cycle 1 ok={cycles[0]['ok']} new_articles={cycles[0]['new_articles']} "
        f"hits={cycles[0]['hits']}; cycle 2 not_modified={cycles[1]['not_modified']} (server: "
        f"{cycles[1]['served_304']} × 304); reader entries={rdr[0]['cycles'][0]['entries'] if rdr else '-'}, "
        f"its cycle 2 got {rdr[0]['cycles'][1]['served_304'] if rdr else '-'} × 304."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=50, help="monitor cycles in the first repeat (≥ 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--change", type=int, default=None, help="feeds changed per cycle from cycle 3 (default 2 %%)")
    parser.add_argument("--reader-workers", type=int, default=8, help="update_feeds(workers=); 1, 4, 8 and 20 measured alike (parsing runs in its main thread)")
    parser.add_argument("--quick", action="store_true", help="200 feeds, 10 cycles, 1 repeat")
    parser.add_argument("--terms", type=int, default=0, help="add generated watchlists of about this many terms (bench/match.py's)")
    parser.add_argument("--no-reader", action="store_true")
    parser.add_argument("--threaded-server", action="store_true", help="http.server instead of aiohttp")
    parser.add_argument("--json", action="store_true", help="also dump every measurement as JSON to stderr")
    parser.add_argument(
        "--database",
        help="monitor's database: a PostgreSQL URL (each run gets a fresh schema in it); default SQLite in a temp dir",
    )
    parser.add_argument("--verbose", action="store_true", help="one JSON line per cycle on stderr")
    parser.add_argument("--side", choices=["monitor", "reader"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.feeds, args.cycles, args.repeats = 200, 10, 1
    if args.change is None:
        args.change = max(1, round(args.feeds * 0.02))
    args.cycles = max(args.cycles, 2)

    if args.side:
        result = run_monitor(args) if args.side == "monitor" else run_reader(args)
        print(json.dumps(result))
        return

    server = Server(args.feeds, args.threaded_server)
    try:
        print(f"server ({server.kind}) up in {server.startup_s:.1f} s on port {server.port}", file=sys.stderr)
        raw = raw_throughput(server.port, args.feeds)
        mon: list[dict[str, Any]] = []
        rdr: list[dict[str, Any]] = []
        for repeat in range(args.repeats):
            mon.append(side("monitor", args, server, args.cycles if repeat == 0 else 2))
            print(f"run {repeat + 1}: monitor {[round(c['seconds'], 2) for c in mon[-1]['cycles'][:2]]} s",
                  file=sys.stderr, flush=True)
            if not args.no_reader:
                rdr.append(side("reader", args, server, 2))
                print(f"run {repeat + 1}: reader {[round(c['seconds'], 2) for c in rdr[-1]['cycles']]} s",
                      file=sys.stderr, flush=True)
        if args.json:
            print(json.dumps({"raw": raw, "monitor": mon, "reader": rdr}), file=sys.stderr)
        print(report(args, server, raw, mon, rdr))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
