"""Run a folder of real-world feeds through the real fetcher and parser.

    python bench/corpus.py /work/shared/corpus          # markdown table + summary
    python bench/corpus.py /work/shared/corpus --json   # machine-readable

The folder is served on 127.0.0.1 (a port the kernel picks) with a content
type guessed from each file's extension; every feed file (OPML, .txt, .md,
.csv and LICENSE files are skipped) is fetched with `monitor.fetch.http` and
parsed with `monitor.fetch.parse.parse_feed`. Per file: parsed or rejected
(with the reason), entries, entries without a title, entries without a link,
parse time. The summary counts rejections by reason and crashes (any
exception other than FetchError: must be zero), and checks that every file
listed in the folder's REAL_WORLD_TITLE_LINK.txt, if there is one, gave
entries that all have a title and a link.

Exit status: 0 when there are no crashes and every listed file passes.
This is a script, not a test: the project does not depend on the corpus.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.errors import FetchError
from monitor.fetch.http import Fetcher, FetchSettings, run_fetches
from monitor.fetch.parse import parse_feed
from monitor.models import FeedRequest, FetchResult

SKIP_SUFFIXES = {".opml", ".txt", ".md", ".csv"}
TITLE_LINK_LIST = "REAL_WORLD_TITLE_LINK.txt"
CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
}


@dataclasses.dataclass
class FileReport:
    """What happened to one file."""

    path: str
    status: str = "pending"  # parsed | rejected | fetch failed | crashed
    reason: str | None = None
    entries: int = 0
    missing_title: int = 0
    missing_link: int = 0
    ms: float = 0.0
    warning: str | None = None


class _Handler(SimpleHTTPRequestHandler):
    """Static files with feed content types; quiet."""

    def guess_type(self, path: Any) -> str:
        suffix = Path(str(path)).suffix.lower()
        return CONTENT_TYPES.get(suffix) or "application/octet-stream"

    def log_message(self, format: str, *args: Any) -> None:
        pass


def feed_files(root: Path) -> list[Path]:
    """Every file under `root` that should be a feed, in a stable order."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.suffix.lower() in SKIP_SUFFIXES or path.name.upper().startswith("LICENSE"):
            continue
        found.append(path)
    return found


def serve(root: Path) -> tuple[ThreadingHTTPServer, str]:
    """The folder served on loopback in a daemon thread; returns (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = server.server_address[1]
    return server, f"http://127.0.0.1:{port}"


def _settings() -> FetchSettings:
    # One local host: no politeness delay, full concurrency on it.
    wanted: dict[str, Any] = {"concurrency": 8, "per_host": 8, "host_delay": 0.0, "timeout": 30.0}
    known = {f.name for f in dataclasses.fields(FetchSettings)}
    return FetchSettings(**{k: v for k, v in wanted.items() if k in known})


def run(root: Path) -> list[FileReport]:
    """Fetch and parse every feed file of `root`; one report per file."""
    files = feed_files(root)
    reports = {i: FileReport(path.relative_to(root).as_posix()) for i, path in enumerate(files)}
    server, base = serve(root)
    fetcher = Fetcher(_settings())
    requests = [
        FeedRequest(feed_id=i, name=report.path, url=f"{base}/{quote(report.path)}")
        for i, report in reports.items()
    ]
    try:
        run_fetches(fetcher, requests, partial(_handle, reports))
    finally:
        close = getattr(fetcher, "close", None)
        if callable(close):
            close()
        server.shutdown()
        server.server_close()
    return list(reports.values())


def _handle(reports: dict[int, FileReport], result: FetchResult) -> None:
    report = reports[result.request.feed_id]
    if not result.ok:
        report.status, report.reason = "fetch failed", result.error
        return
    started = time.perf_counter()
    try:
        parsed = parse_feed(result.body, result.headers, result.final_url)
    except FetchError as exc:
        report.status, report.reason = "rejected", exc.reason
    except Exception as exc:  # noqa: BLE001 - exactly what this script looks for
        report.status = "crashed"
        report.reason = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    else:
        report.status = "parsed"
        report.entries = len(parsed.articles)
        report.missing_title = sum(1 for a in parsed.articles if not a.title)
        report.missing_link = sum(1 for a in parsed.articles if not a.link)
        report.warning = parsed.warning
    finally:
        report.ms = (time.perf_counter() - started) * 1000


def title_link_check(root: Path, reports: Sequence[FileReport]) -> dict[str, str]:
    """For each file in REAL_WORLD_TITLE_LINK.txt: "ok" or what is wrong."""
    listing = root / TITLE_LINK_LIST
    if not listing.is_file():
        return {}
    by_path = {r.path: r for r in reports}
    outcome = {}
    for line in listing.read_text(encoding="utf-8").splitlines():
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        report = by_path.get(name)
        if report is None:
            outcome[name] = "not found"
        elif report.status != "parsed":
            outcome[name] = f"{report.status}: {report.reason}"
        elif report.entries == 0:
            outcome[name] = "no entries"
        elif report.missing_title or report.missing_link:
            outcome[name] = f"{report.missing_title} without title, {report.missing_link} without link"
        else:
            outcome[name] = "ok"
    return outcome


def summarise(reports: Sequence[FileReport], checks: dict[str, str]) -> dict[str, Any]:
    """The summary figures printed after the table."""
    statuses = Counter(r.status for r in reports)
    return {
        "files": len(reports),
        "parsed": statuses["parsed"],
        "rejected": statuses["rejected"],
        "rejected_by_reason": dict(Counter(r.reason for r in reports if r.status == "rejected").most_common()),
        "fetch_failed": statuses["fetch failed"],
        "crashes": statuses["crashed"],
        "entries": sum(r.entries for r in reports),
        "entries_missing_title": sum(r.missing_title for r in reports),
        "entries_missing_link": sum(r.missing_link for r in reports),
        "parse_ms_total": round(sum(r.ms for r in reports), 1),
        "parse_ms_max": round(max((r.ms for r in reports), default=0.0), 1),
        "title_link_files": len(checks),
        "title_link_ok": sum(1 for v in checks.values() if v == "ok"),
        "title_link_failures": {k: v for k, v in checks.items() if v != "ok"},
    }


def markdown(reports: Sequence[FileReport], summary: dict[str, Any]) -> Iterator[str]:
    """The per-file table, then the summary, as markdown lines."""
    yield "| file | result | entries | no title | no link | ms |"
    yield "|---|---|---:|---:|---:|---:|"
    for r in reports:
        result = r.status if r.status == "parsed" else f"{r.status}: {r.reason}"
        result = result.replace("|", "\\|")
        yield f"| {r.path} | {result} | {r.entries} | {r.missing_title} | {r.missing_link} | {r.ms:.1f} |"
    yield ""
    yield (
        f"files {summary['files']}, parsed {summary['parsed']}, rejected {summary['rejected']}, "
        f"fetch failed {summary['fetch_failed']}, crashes {summary['crashes']}; "
        f"{summary['entries']} entries ({summary['entries_missing_title']} without title, "
        f"{summary['entries_missing_link']} without link); parse time "
        f"{summary['parse_ms_total']:.0f} ms in all, {summary['parse_ms_max']:.0f} ms at most"
    )
    for reason, count in summary["rejected_by_reason"].items():
        yield f"- rejected {count}× {reason}"
    if summary["title_link_files"]:
        yield (
            f"{TITLE_LINK_LIST}: {summary['title_link_ok']} of {summary['title_link_files']} files "
            "have a title and a link on every entry"
        )
        for name, problem in summary["title_link_failures"].items():
            yield f"- {name}: {problem}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path, help="folder of feed files (searched recursively)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args(argv)
    root = args.path.resolve()
    if not root.is_dir():
        parser.error(f"{root} is not a folder")
    reports = run(root)
    checks = title_link_check(root, reports)
    summary = summarise(reports, checks)
    if args.json:
        print(json.dumps({"files": [dataclasses.asdict(r) for r in reports], "summary": summary}, indent=2))
    else:
        print("\n".join(markdown(reports, summary)))
    return 0 if summary["crashes"] == 0 and not summary["title_link_failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
