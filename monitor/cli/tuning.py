"""`monitor test` and `monitor replay`: trying a query or watchlist before trusting it.

`test` runs a query, or a configured watchlist, over given text, a file, a
URL, or the last stored articles, and prints what matched with highlights or
why it did not. With `--jsonl FILE --format json` it is the machine form other
tools rely on: one JSON line per input article with every matching
watchlist. `replay` runs today's watchlists over stored articles and stores
the new hits (alerting only with --notify).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from monitor.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    repository,
    settings_of,
    since_of,
)
from monitor.config import Settings, find_config, parse_config
from monitor.core.matcher import ArticleText, Matcher, WatchlistSpec, watchlist_parts
from monitor.core.query import QueryError
from monitor.core.query.explain import explain_nodes, snippet_lines
from monitor.errors import ConfigError, FetchError
from monitor.records import highlight_fields
from monitor.times import utcnow
from monitor.wiring import entity_specs, feed_tags, fetch_settings, watchlist_specs


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "test",
        parents=[common],
        help="try a query or watchlist on text, a file, a URL or stored articles",
        description="Show what a query (or a configured watchlist) matches, with highlights, or why it does not.",
    )
    p.add_argument("query", nargs="?", help="a query in the watchlist query language")
    p.add_argument("--watchlist", "-w", help="test this configured watchlist instead of a query")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--text", help="the article text to test")
    source.add_argument("--file", type=Path, help="a text file, or a feed file (each entry is tested)")
    source.add_argument("--url", help="a feed or web page to fetch and test")
    source.add_argument("--recent", type=int, metavar="N", help="the last N stored articles")
    source.add_argument(
        "--jsonl", type=Path, metavar="FILE", help='one article per line: {"id", "title", "summary", "content"}'
    )
    p.add_argument("--title", default="", help="a title to go with --text")
    p.add_argument("--feed", default="", help="treat the input as coming from this configured feed (for feed:/tag:)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--all", action="store_true", help="also explain the articles that did not match")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser(
        "replay",
        parents=[common],
        help="run today's watchlists over stored articles and store new hits",
        description="Check a new or changed watchlist against what is already stored. Alerts only with --notify.",
    )
    p.add_argument("--since", default="30d", help="articles first seen within this long (default 30d)")
    p.add_argument("--watchlist", "-w", help="only this watchlist")
    p.add_argument("--notify", action="store_true", help="also send alerts for the new hits")
    p.set_defaults(func=cmd_replay)


@dataclass(frozen=True)
class Sample:
    """One article to test: an id for the output and its searchable fields."""

    id: Any
    article: ArticleText
    label: str


# --- test ------------------------------------------------------------------------


def cmd_test(args: argparse.Namespace) -> int:
    if args.query and args.watchlist:
        print("error: give a QUERY or --watchlist NAME, not both", file=sys.stderr)
        return EXIT_CONFIG
    if not args.query and not args.watchlist and args.jsonl is None:
        print("error: give a QUERY or --watchlist NAME (with --jsonl, neither means every watchlist)", file=sys.stderr)
        return EXIT_CONFIG
    settings = _settings_for_test(args)
    try:
        specs = _specs(args, settings)
        matcher = Matcher(specs, _entities(settings))
    except QueryError as exc:
        print(f"error: query: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        samples = list(_samples(args, settings))
    except (OSError, ValueError, FetchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.format == "json":
        _write_json(samples, matcher, sys.stdout)
        return EXIT_OK
    _write_text(samples, specs, settings, args.all, sys.stdout)
    return EXIT_OK


def _settings_for_test(args: argparse.Namespace) -> Settings:
    """The config; a bare query may be tried without one."""
    if args.query and not args.config and not find_config(None).exists():
        return parse_config("{}", source="(no config)")
    return settings_of(args)


def _entities(settings: Settings) -> dict[str, Any]:
    return entity_specs(settings)


def _specs(args: argparse.Namespace, settings: Settings) -> list[WatchlistSpec]:
    if args.query:
        return [WatchlistSpec(name="query", query=args.query)]
    specs = watchlist_specs(settings)
    if args.watchlist:
        chosen = [s for s in specs if s.name == args.watchlist]
        if not chosen:
            known = ", ".join(s.name for s in specs) or "none"
            raise ConfigError([f"--watchlist: no watchlist named {args.watchlist!r} (known: {known})"])
        return chosen
    return specs


def _samples(args: argparse.Namespace, settings: Settings) -> Iterator[Sample]:
    feed = args.feed
    tags = frozenset(next((f.tags for f in settings.feeds if f.name == feed), ()))
    if args.text is not None:
        yield Sample(1, ArticleText(args.title, args.text, feed, tags), args.title or "--text")
    elif args.file is not None:
        yield from _file_samples(args.file, feed, tags)
    elif args.url is not None:
        yield from _url_samples(args.url, feed, tags, settings)
    elif args.recent is not None:
        tag_map = feed_tags(settings)
        for stored in repository(settings).recent_articles(args.recent):
            article = ArticleText(stored.title, stored.text, stored.feed, tag_map.get(stored.feed, frozenset()))
            yield Sample(stored.id, article, f"{stored.title} ({stored.feed})")
    elif args.jsonl is not None:
        yield from _jsonl_samples(args.jsonl, feed, tags)
    else:
        raise ValueError("give the input: --text, --file, --url, --recent N or --jsonl FILE")


def _file_samples(path: Path, feed: str, tags: frozenset[str]) -> Iterator[Sample]:
    from monitor.fetch.parse import parse_feed

    body = path.read_bytes()
    try:
        parsed = parse_feed(body, {"content-type": "application/xml"}, path.resolve().as_uri())
    except FetchError:
        text = body.decode("utf-8", errors="replace")
        yield Sample(str(path), ArticleText("", text, feed, tags), str(path))
        return
    for entry in parsed.articles:
        yield Sample(entry.guid, ArticleText(entry.title, entry.text, feed or parsed.title, tags), entry.title)


def _url_samples(url: str, feed: str, tags: frozenset[str], settings: Settings) -> Iterator[Sample]:
    from monitor.fetch.http import Fetcher, run_fetches
    from monitor.fetch.parse import SourceSpec, html_to_text, page_title, parse_feed
    from monitor.models import FeedRequest, FetchResult

    results: list[FetchResult] = []
    fetcher = Fetcher(fetch_settings(settings))
    run_fetches(fetcher, [FeedRequest(0, "test", url)], results.append)
    (result,) = results
    if not result.ok:
        raise FetchError(url, result.error or "failed")
    # Read as the configured feed (--feed, else one with this URL) reads it: its type and selectors.
    configured = next((f for f in settings.feeds if f.name == feed), None)
    configured = configured or next((f for f in settings.feeds if str(f.url) == url), None)
    source = SourceSpec.of(configured) if configured is not None else None
    try:
        parsed = parse_feed(result.body, result.headers, result.final_url, source=source)
    except FetchError as exc:
        print(f"{url}: not a source ({exc.reason}); testing the page's text", file=sys.stderr)
        page = result.body.decode("utf-8", errors="replace")
        yield Sample(url, ArticleText(page_title(page), html_to_text(page), feed, tags), url)
        return
    print(f"{url}: {parsed.kind}, {len(parsed.articles)} entries", file=sys.stderr)
    for entry in parsed.articles:
        yield Sample(entry.guid, ArticleText(entry.title, entry.text, feed or parsed.title, tags), entry.title)


def _jsonl_samples(path: Path, feed: str, tags: frozenset[str]) -> Iterator[Sample]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a JSON object: {exc}") from None
            if not isinstance(item, dict):
                raise ValueError(f"{path}:{number}: not a JSON object")
            summary, content = str(item.get("summary") or ""), str(item.get("content") or "")
            text = "\n\n".join(part for part in (summary, content) if part)
            title = str(item.get("title") or "")
            yield Sample(item.get("id"), ArticleText(title, text, feed, tags), title)


def _write_json(samples: Iterable[Sample], matcher: Matcher, out: TextIO) -> None:
    for sample in samples:
        matches = [
            {"watchlist": m.watchlist, "terms": list(m.terms), "score": m.score} | highlight_fields(m.snippets)
            for m in matcher.match(sample.article)
        ]
        out.write(json.dumps({"id": sample.id, "matches": matches}, ensure_ascii=False) + "\n")


def _write_text(
    samples: list[Sample], specs: list[WatchlistSpec], settings: Settings, show_all: bool, out: TextIO
) -> None:
    entities = _entities(settings)
    parts = {spec.name: watchlist_parts(spec, entities) for spec in specs}
    single = len(samples) == 1
    matched_count = 0
    for sample in samples:
        for spec in specs:
            explanation = explain_nodes(parts[spec.name], sample.article, entities)
            matched_count += explanation.matched
            if not (explanation.matched or single or show_all):
                continue
            verdict = "MATCH" if explanation.matched else "no match"
            name = "" if spec.name == "query" else f" [{spec.name}]"
            out.write(f"{verdict}{name}: {sample.label}\n")
            out.writelines(f"  {line}\n" for line in explanation.lines)
            out.writelines(line + "\n" for snippet in explanation.snippets for line in snippet_lines(snippet, "  > "))
            out.write("\n")
    if not single:
        tests = len(samples) * len(specs)
        hidden = "" if show_all else " (--all explains the others)"
        out.write(f"{matched_count} of {tests} matched{hidden}\n")


# --- replay ------------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from monitor.service import Service

    settings = settings_of(args)
    if args.watchlist and args.watchlist not in {w.name for w in settings.watchlists}:
        known = ", ".join(w.name for w in settings.watchlists) or "none"
        print(f"error: --watchlist: no watchlist named {args.watchlist!r} (known: {known})", file=sys.stderr)
        return EXIT_CONFIG
    try:
        since = since_of(args.since, utcnow())
    except ValueError as exc:
        print(f"error: --since: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    service = Service(settings)
    total = service.repo.count_articles(since)
    with tqdm(total=total, unit="article", file=sys.stderr, disable=None, desc="replay") as bar:
        done = 0

        def progress(count: int) -> None:
            nonlocal done
            bar.update(count - done)
            done = count

        summary = service.replay(since, watchlist=args.watchlist, notify=args.notify, progress=progress)
    names = [args.watchlist] if args.watchlist else [w.name for w in settings.watchlists]
    out = sys.stdout
    out.write(f"replayed {summary.articles} articles since {args.since}\n")
    for name in names:
        count = summary.new_hits.get(name, 0)
        out.write(f"  {name}: {count} new hit{'s' if count != 1 else ''}\n")
    if args.notify and summary.hits:
        sent = service.dispatch()
        out.write(f"alerts sent: {sent.sent}, failed: {sent.failed}\n")
    return EXIT_OK
