"""Benchmark: the hits API at 10,000 and 1,000,000 stored articles (SQLite).

Seeds each database with plain executemany (100 feeds, 3 KB-free short
articles, a hit for one article in 20, a story for a few), then times,
through the real ASGI app (Starlette's TestClient, no network):

- the first page of /api/hits (50 hits),
- a deep page: the cursor of a hit 90 % of the way down the list,
- a search (/api/hits?q=WORD) for a word in one article of 1,000,
- the first page of one watchlist.

Medians of --repeat runs; every figure is also given as a ratio to the
first page at 10,000 articles. Speed is never asserted by the tests.

    python bench/web.py [--sizes 10000,1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.testclient import TestClient  # needs httpx (installed with monitor)

from monitor.config import Settings
from monitor.store.engine import make_engine
from monitor.store.paging import Cursor
from monitor.web import make_app

WORDS = ("cartel violence security agreement border migration election court police market energy "
         "water health school army governor senate trade tariff drought storm").split()
WATCHLISTS = ("cartels", "security", "migration", "energy")
BATCH = 50_000


def seed(path: Path, articles: int, rng: random.Random) -> None:
    engine = make_engine(f"sqlite:///{path}")
    engine.dispose()
    now = datetime(2026, 3, 1, tzinfo=UTC)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.executemany(
        "INSERT INTO feeds (id, name, url, config_url, active, consecutive_failures, admin_alerted, unchanged_polls, created_at)"
        " VALUES (?, ?, ?, ?, 1, 0, 0, 0, ?)",
        [(i, f"Feed {i}", f"https://f{i}.example/rss", f"https://f{i}.example/rss", "2025-01-01 00:00:00.000000") for i in range(1, 101)],
    )
    # Index the hit articles once at the end instead of row by row through the trigger.
    trigger = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'articles_fts_hit'").fetchone()
    conn.execute("DROP TRIGGER IF EXISTS articles_fts_hit")
    hit_id = 0
    for start in range(0, articles, BATCH):
        rows, hits = [], []
        for n in range(start, min(start + BATCH, articles)):
            seen = now - timedelta(seconds=(articles - n) * 30)
            stamp = seen.strftime("%Y-%m-%d %H:%M:%S.%f")
            words = rng.choices(WORDS, k=24)
            if n % 1000 == 0:
                words.append("zanzibar")
            title = " ".join(words[:8]).capitalize()
            rows.append((n + 1, n % 100 + 1, f"g{n}", f"https://f{n % 100 + 1}.example/a/{n}", title,
                         " ".join(words[8:]), "", stamp, stamp))
            if n % 20 == 0:
                hit_id += 1
                watchlist = WATCHLISTS[hit_id % len(WATCHLISTS)]
                snippet = {"text": f"the {words[0]} story", "marks": [[4, 4 + len(words[0])]]}
                hits.append((hit_id, n + 1, watchlist, '["cartel"]', snippet["text"], 2.0,
                             "[]", json.dumps([snippet]), stamp))
        conn.executemany(
            "INSERT INTO articles (id, feed_id, guid, link, title, summary, content, published_at, first_seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO hits (id, article_id, watchlist, terms, snippet, score, spans, snippets, found_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            hits,
        )
        conn.commit()
    if trigger:
        conn.execute(
            "INSERT INTO articles_fts(rowid, title, summary, content) "
            "SELECT id, title, summary, content FROM articles WHERE id IN (SELECT article_id FROM hits)"
        )
        conn.execute(trigger[0])
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def timed(client: TestClient, url: str, params: dict[str, str], repeat: int) -> tuple[float, int]:
    times = []
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url, params=params)
        times.append(time.perf_counter() - start)
        response.raise_for_status()
        count = len(response.json()["items"])
    return statistics.median(times) * 1000, count


def deep_cursor(path: Path) -> str:
    conn = sqlite3.connect(path)
    total = conn.execute("SELECT count(*) FROM hits").fetchone()[0]
    found, ident = conn.execute(
        "SELECT found_at, id FROM hits ORDER BY found_at DESC, id DESC LIMIT 1 OFFSET ?", (int(total * 0.9),)
    ).fetchone()
    conn.close()
    return Cursor(datetime.fromisoformat(found).replace(tzinfo=UTC), ident).encode()


def run(size: int, repeat: int, workdir: Path) -> dict[str, tuple[float, int]]:
    path = workdir / f"web-{size}.db"
    start = time.perf_counter()
    seed(path, size, random.Random(size))
    print(f"seeded {size:,} articles in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    settings = Settings(database=f"sqlite:///{path}")
    client = TestClient(make_app(settings), base_url="http://localhost")  # a Host the app answers to
    for _ in range(3):
        client.get("/api/hits")  # warm the page cache
    return {
        "first page": timed(client, "/api/hits", {"limit": "50"}, repeat),
        "deep page (90 %)": timed(client, "/api/hits", {"limit": "50", "cursor": deep_cursor(path)}, repeat),
        "search (1 in 1,000 articles)": timed(client, "/api/hits", {"limit": "50", "q": "zanzibar"}, repeat),
        "one watchlist, first page": timed(client, "/api/hits", {"limit": "50", "watchlist": "security"}, repeat),
        "search, common word": timed(client, "/api/hits", {"limit": "50", "q": "cartel"}, repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        results = {size: run(size, args.repeat, Path(tmp)) for size in sizes}
    base = results[sizes[0]]["first page"][0]
    print("| request | " + " | ".join(f"{s:,} articles ms" for s in sizes) + f" | ratio to first page at {sizes[0]:,} |")
    print("|---|" + "---:|" * len(sizes) + "---:|")
    for name in results[sizes[0]]:
        cells = [f"{results[s][name][0]:.1f} ({results[s][name][1]} items)" for s in sizes]
        ratio = results[sizes[-1]][name][0] / base
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio:.1f}× |")


if __name__ == "__main__":
    main()
