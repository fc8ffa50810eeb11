"""The feed server of the polling benchmark (`bench/poll.py`), in a process of its own.

Serves N distinct, deterministic RSS 2.0 feeds of 50 items (~70 KB each) on
127.0.0.1 with aiohttp (falls back to `http.server.ThreadingHTTPServer` when
aiohttp is not installed or with `--threaded`):

    GET  /feeds/<i>.xml        the feed; ETag "<i>-<generation>", 304 on If-None-Match
    POST /change?n=K&seed=S    K feeds (picked by seed S) get `NEW_PER_CHANGE` new items
    POST /reset                every feed back to generation 0 (bodies cached)
    GET  /stats                JSON: requests, 200s, 304s, bytes sent

Run alone: `python bench/poll_server.py --feeds 1000 --port 8765`; `bench/poll.py`
starts it itself and reads "PORT <n>" from its first line of output.

Feed i at generation g holds items g*NEW_PER_CHANGE .. g*NEW_PER_CHANGE+49,
newest first; an item's text depends only on (i, item number), so both the
monitor and the peer see exactly the same bytes for the same state.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

ITEMS = 50
NEW_PER_CHANGE = 5
BASE_TIME = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

WORDS = """the of and to in a is that for on was with as by at from said it his
be has have are an were not which this but their they its after been had
who will would more also or one two new first last year years people government
president police security officials country state city minister told week
over than about into against could when three killed group military forces
border between united states american mexican federal national report attack
market oil prices trade talks deal court judge law case news agency army
officers troops election vote party leaders economic investigation arrested
weapons shipment authorities governor mayor congress senate lawmakers budget
migrants asylum customs tariffs exports factory workers union strike protest
de la que el en y los del se las por un para con una su al lo como más pero
sus le ya o fue este ha si porque esta son entre cuando muy sin sobre también
gobierno país seguridad presidente policía ciudad estado años según autoridades
violencia crimen droga drogas armas frontera acuerdo informe ministro""".split()
# Rare phrases the benchmark's watchlists look for; a few items carry one.
SIGNALS = [
    "the Sinaloa Cartel", "CJNG gunmen", "organized crime groups", "el crimen organizado",
    "a new security agreement", "border security funding", "the Jalisco New Generation Cartel",
    "cárteles del narcotráfico", "Los Chapitos", "a foreign terrorist organization",
    "fentanyl seizures", "the OPEC oil cartel", "cooperación en seguridad", "Sebastian Gorka",
]
NAMES = "Sheinbaum García López Martínez Hernández Rodríguez Pérez Sánchez Ramírez Torres Flores Rivera Gómez Díaz Reyes Morales Cruz Ortiz Gutiérrez Chávez".split()
PLACES = "Culiacán Tijuana Monterrey Guadalajara Juárez Mazatlán Acapulco Morelia Chihuahua Hermosillo Reynosa Matamoros Oaxaca Puebla Veracruz Mérida".split()


def _sentence(rng: random.Random) -> str:
    n = rng.randint(9, 22)
    words = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.5:
        words[rng.randrange(n)] = rng.choice(NAMES)
    if rng.random() < 0.4:
        words[rng.randrange(n)] = "in " + rng.choice(PLACES)
    if rng.random() < 0.006:
        words[rng.randrange(n)] = rng.choice(SIGNALS)
    if rng.random() < 0.3:
        words[rng.randrange(n)] = f"{rng.randint(2, 9_999):,}"
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".....?!")


def make_item(feed: int, number: int) -> str:
    """One <item>, ~1.4 KB, a pure function of (feed, number)."""
    rng = random.Random(feed * 1_000_003 + number)
    title = _sentence(rng).rstrip(".?!")[:110]
    slug = "-".join(title.lower().split()[:6])
    link = f"https://news{feed}.example.com/{2024 + number // 5000}/{number % 997:03d}/{slug}-{number}"
    when = BASE_TIME - timedelta(hours=6) + timedelta(minutes=7 * number) - timedelta(days=30)
    description = " ".join(_sentence(rng) for _ in range(rng.randint(3, 4)))
    paragraphs = []
    for _ in range(rng.randint(2, 4)):
        sentences = [_sentence(rng) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.4:
            sentences[0] = f'<a href="https://news{feed}.example.com/tag/{rng.choice(PLACES).lower()}">{sentences[0]}</a>'
        if rng.random() < 0.3:
            sentences[-1] = f"<strong>{sentences[-1]}</strong>"
        paragraphs.append("<p>" + " ".join(sentences) + "</p>")
    if rng.random() < 0.3:
        paragraphs.insert(1, f'<figure><img src="https://cdn{feed}.example.com/img/{number}.jpg" alt="{escape(title)}"/>'
                             f"<figcaption>{escape(rng.choice(PLACES))}</figcaption></figure>")
    content = "".join(paragraphs)
    category = rng.choice(["Nacional", "World", "Seguridad", "Economía", "Politics", "Border"])
    return (
        "<item>"
        f"<title>{escape(title)}</title>"
        f"<link>{escape(link)}</link>"
        f'<guid isPermaLink="false">news{feed}-{number}</guid>'
        f"<pubDate>{format_datetime(when)}</pubDate>"
        f"<dc:creator>{rng.choice(NAMES)} {rng.choice(NAMES)}</dc:creator>"
        f"<category>{category}</category>"
        f"<description>{escape(description)}</description>"
        f"<content:encoded><![CDATA[{content}]]></content:encoded>"
        "</item>\n"
    )


def make_feed(feed: int, generation: int) -> bytes:
    first = generation * NEW_PER_CHANGE
    items = "".join(make_item(feed, n) for n in range(first + ITEMS - 1, first - 1, -1))
    built = BASE_TIME - timedelta(days=30) + timedelta(minutes=7 * (first + ITEMS))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n'
        "<channel>"
        f"<title>News {feed} – Noticias</title>"
        f"<link>https://news{feed}.example.com/</link>"
        f"<description>Latest stories from outlet {feed}</description>"
        "<language>es-mx</language>"
        f"<lastBuildDate>{format_datetime(built)}</lastBuildDate>"
        "<ttl>15</ttl>\n"
        f"{items}"
        "</channel></rss>\n"
    ).encode()


class Feeds:
    """The feeds' current bodies and ETags; generation-0 bodies stay cached for /reset."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.initial = [make_feed(i, 0) for i in range(count)]
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "ok": 0, "not_modified": 0, "bytes": 0}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.generation = [0] * self.count
            self.bodies = list(self.initial)
            self.etags = [f'"{i}-0"' for i in range(self.count)]

    def change(self, n: int, seed: int) -> list[int]:
        picked = sorted(random.Random(seed).sample(range(self.count), min(n, self.count)))
        for i in picked:
            body = make_feed(i, self.generation[i] + 1)
            with self.lock:
                self.generation[i] += 1
                self.bodies[i], self.etags[i] = body, f'"{i}-{self.generation[i]}"'
        return picked

    def get(self, index: int, if_none_match: str | None) -> tuple[int, bytes, str]:
        with self.lock:
            body, etag = self.bodies[index], self.etags[index]
            self.stats["requests"] += 1
            if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
                self.stats["not_modified"] += 1
                return 304, b"", etag
            self.stats["ok"] += 1
            self.stats["bytes"] += len(body)
            return 200, body, etag


def _index(path: str, count: int) -> int | None:
    if not (path.startswith("/feeds/") and path.endswith(".xml")):
        return None
    try:
        index = int(path[len("/feeds/") : -len(".xml")])
    except ValueError:
        return None
    return index if 0 <= index < count else None


def serve_aiohttp(feeds: Feeds, port: int) -> None:
    import asyncio

    from aiohttp import web

    async def feed(request: web.Request) -> web.Response:
        index = _index(request.path, feeds.count)
        if index is None:
            return web.Response(status=404, text="no such feed")
        status, body, etag = feeds.get(index, request.headers.get("If-None-Match"))
        headers = {"ETag": etag, "Cache-Control": "max-age=0"}
        if status == 304:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers, content_type="application/rss+xml", charset="utf-8")

    async def change(request: web.Request) -> web.Response:
        n, seed = int(request.query.get("n", "0")), int(request.query.get("seed", "0"))
        picked = await asyncio.get_running_loop().run_in_executor(None, feeds.change, n, seed)
        return web.json_response({"changed": picked})

    async def reset(_request: web.Request) -> web.Response:
        feeds.reset()
        return web.json_response({"ok": True})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(feeds.stats)

    app = web.Application()
    app.router.add_get("/feeds/{name}", feed)
    app.router.add_post("/change", change)
    app.router.add_post("/reset", reset)
    app.router.add_get("/stats", stats)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        bound = runner.addresses[0][1]
        print(f"PORT {bound} aiohttp", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_threaded(feeds: Feeds, port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._send(200, json.dumps(feeds.stats).encode(), {"Content-Type": "application/json"})
                return
            index = _index(self.path, feeds.count)
            if index is None:
                self._send(404, b"no such feed", {})
                return
            status, body, etag = feeds.get(index, self.headers.get("If-None-Match"))
            self._send(status, body, {"ETag": etag, "Content-Type": "application/rss+xml; charset=utf-8"})

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/change":
                picked = feeds.change(int(query.get("n", "0")), int(query.get("seed", "0")))
                self._send(200, json.dumps({"changed": picked}).encode(), {"Content-Type": "application/json"})
            elif parts.path == "/reset":
                feeds.reset()
                self._send(200, b'{"ok": true}', {"Content-Type": "application/json"})
            else:
                self._send(404, b"", {})

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]} threaded", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--port", type=int, default=0, help="0: let the kernel choose")
    parser.add_argument("--threaded", action="store_true", help="use http.server instead of aiohttp")
    args = parser.parse_args(argv)
    feeds = Feeds(args.feeds)
    if not args.threaded:
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            args.threaded = True
    try:
        (serve_threaded if args.threaded else serve_aiohttp)(feeds, args.port)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
