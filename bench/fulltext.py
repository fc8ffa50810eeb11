"""Full text: extraction quality and speed on the labelled pages, and how often `auto` fetches.

Quality: every page of tests/data/articles/ is extracted by

- trafilatura as monitor uses it (`monitor.fetch.extract.extract_article`:
  comments off, balanced mode, the page's headline line dropped, repeated
  paragraphs once, bounded input),
- trafilatura with its default options (`trafilatura.extract(html)`),
- readability-lxml (`Document(html).summary()`, its HTML turned into text by
  `monitor.fetch.parse.html_to_text`, as feed HTML is);

and compared with the hand-marked NAME.txt: word-level precision, recall and
F1 over multisets of matching's words (`monitor.core.text.words`), per page
and over the whole set (micro: summed overlaps). "leaks" counts the
boilerplate-only terms of the set's README (menu, related links, comments,
cookie banner, newsletter box, footer) that an extractor let through.

Speed: milliseconds per page, measured in-process with time.perf_counter,
each page extracted `--repeats` times per extractor (interleaved); the
median over pages of each page's median, then the median of `--runs` runs.

`auto`: the share of the real-world corpus entries (the snapshots listed in
REAL_WORLD_TITLE_LINK.txt of ../shared/corpus, parsed with
`monitor.fetch.parse.parse_feed`) whose feed text `wants_page("auto", text,
150)` would fetch, split by reason (short, or a teaser that is long enough),
and at other thresholds. Skipped with a message when the corpus is missing.

Hostile pages: one extraction each of the pathological pages the unit tests
use (deep nesting, a 5 MB paragraph, 100,000 elements, …), with outcome,
milliseconds and peak Python memory (tracemalloc; lxml's C allocations are
not counted).

    pip install -r bench/requirements-fulltext.txt
    python bench/fulltext.py [--corpus PATH] [--runs 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402 - after the sys.path line above

from monitor.core.fulltext import is_teaser, wants_page  # noqa: E402
from monitor.core.text import words  # noqa: E402
from monitor.errors import FetchError  # noqa: E402
from monitor.fetch.extract import ExtractError, extract_article  # noqa: E402
from monitor.fetch.parse import html_to_text, parse_feed  # noqa: E402
from monitor.models import body_text  # noqa: E402

try:
    from readability import Document  # readability-lxml: a bench dependency only
except ImportError:  # pragma: no cover - reported in the output
    Document = None

ARTICLES = ROOT / "tests" / "data" / "articles"
HEADERS = {"content-type": "text/html; charset=utf-8"}
URL = "https://news.example.test/2026/article"
MIN_WORDS = 150
# The boilerplate-only terms of tests/data/articles/README.md.
LEAKS = [
    ("en_news_menu_term", "calderwood"),
    ("es_related_term", "tlacoyunga"),
    ("en_comments_term", "brokenshire"),
    ("es_cookie_term", "nubeloop"),
    ("es_newsletter_footer", "huizachal"),
    ("es_newsletter_footer", "ravensmoor"),
]
CORPUS_TYPES = {".rss": "application/rss+xml", ".atom": "application/atom+xml", ".rdf": "application/rdf+xml"}


def _ours(body: bytes) -> str:
    try:
        return extract_article(body, HEADERS, URL)
    except ExtractError:
        return ""


def _trafilatura_defaults(body: bytes) -> str:
    return trafilatura.extract(body.decode("utf-8"), url=URL) or ""


def _readability(body: bytes) -> str:
    assert Document is not None
    return html_to_text(Document(body.decode("utf-8")).summary(html_partial=True))


def extractors() -> dict[str, Callable[[bytes], str]]:
    found: dict[str, Callable[[bytes], str]] = {
        "trafilatura (monitor's options)": _ours,
        "trafilatura (defaults)": _trafilatura_defaults,
    }
    if Document is not None:
        found["readability-lxml"] = _readability
    else:
        print("readability-lxml is not installed (pip install -r bench/requirements-fulltext.txt): skipped\n")
    return found


def overlap(got: str, want: str) -> tuple[int, int, int]:
    """(common words, extracted words, labelled words), as multisets."""
    g, w = Counter(words(got)), Counter(words(want))
    return sum((g & w).values()), sum(g.values()), sum(w.values())


def prf(common: int, got: int, want: int) -> tuple[float, float, float]:
    precision = common / got if got else 0.0
    recall = common / want if want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def quality(pages: dict[str, tuple[bytes, str]], names: list[str], fns: dict[str, Callable[[bytes], str]]) -> None:
    totals = {name: [0, 0, 0] for name in names}
    leaks = Counter[str]()
    print("| page | " + " | ".join(f"{name} P / R / F1" for name in names) + " |")
    print("|---|" + "---:|" * len(names))
    for page, (body, label) in pages.items():
        cells = []
        for name in names:
            text = fns[name](body)
            counts = overlap(text, label)
            for i, n in enumerate(counts):
                totals[name][i] += n
            p, r, f = prf(*counts)
            cells.append(f"{p:.2f} / {r:.2f} / {f:.2f}")
            folded = set(words(text))
            leaks[name] += sum(1 for where, term in LEAKS if where == page and term in folded)
        print(f"| {page} | " + " | ".join(cells) + " |")
    print("| **all pages** | " + " | ".join(
        "**{:.3f} / {:.3f} / {:.3f}**".format(*prf(*totals[name])) for name in names) + " |")
    print("| boilerplate-only terms leaked | " + " | ".join(f"{leaks[name]} of {len(LEAKS)}" for name in names) + " |")
    print()


def speed(pages: dict[str, tuple[bytes, str]], names: list[str], fns: dict[str, Callable[[bytes], str]],
          runs: int, repeats: int) -> None:
    per_run: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(runs):
        samples: dict[str, dict[str, list[float]]] = {name: {page: [] for page in pages} for name in names}
        for _ in range(repeats):
            for page, (body, _label) in pages.items():
                for name in names:  # interleaved: machine noise falls on every extractor alike
                    start = time.perf_counter()
                    fns[name](body)
                    samples[name][page].append((time.perf_counter() - start) * 1000)
        for name in names:
            per_run[name].append(statistics.median(statistics.median(v) for v in samples[name].values()))
    print(f"| extractor | ms per page, median of {runs} runs | the runs |")
    print("|---|---:|---|")
    for name in names:
        print(f"| {name} | {statistics.median(per_run[name]):.1f} | "
              + ", ".join(f"{v:.1f}" for v in per_run[name]) + " |")
    print()


def _hostile_pages() -> dict[str, bytes]:
    para = "<p>" + "cartel border security talks " * 12 + "</p>"

    def doc(body: str) -> bytes:
        return f"<!DOCTYPE html><html><head><title>T</title></head><body>{body}</body></html>".encode()

    return {
        "50,000 nested divs": doc("<div>" * 50_000 + para + "</div>" * 50_000),
        "5 MB of one paragraph": doc("<article><p>" + "lorem ipsum dolor sit amet " * 200_000 + "</p></article>"),
        "100,000 tiny elements": doc("<span>a</span>" * 100_000),
        "14,900 div+p pairs (just under the element limit)": doc(
            "<article>" + "<div><p>ab cd</p></div>" * 14_900 + "</article>"),
        "20,000 unclosed inline tags": doc("<p><b><i>" * 20_000 + "text"),
        "20 MB of scripts around an article": doc(
            "<script>var a = '<div>';</script>" * 600_000 + "<article>" + para * 5 + "</article>"),
        "a PDF served as text/html": b"%PDF-1.7\n" + b"\x00" * 1_000_000,
    }


def hostile() -> None:
    """One extraction of each hostile page by monitor's extractor: its outcome, time and peak memory."""
    import tracemalloc

    print("| hostile page | outcome | ms | peak MB (Python allocations) |")
    print("|---|---|---:|---:|")
    for name, body in _hostile_pages().items():
        start = time.perf_counter()
        try:
            outcome = f"{len(extract_article(body, HEADERS, URL)):,} characters of text"
        except ExtractError as exc:
            outcome = f"ExtractError: {exc.reason}"
        elapsed = (time.perf_counter() - start) * 1000
        # Memory in a second pass: tracemalloc slows allocation-heavy code several times over.
        tracemalloc.start()
        try:
            extract_article(body, HEADERS, URL)
        except ExtractError:
            pass
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        print(f"| {name} | {outcome} | {elapsed:,.0f} | {peak:,.0f} |")
    print()


def corpus_share(corpus: Path) -> None:
    listing = corpus / "REAL_WORLD_TITLE_LINK.txt"
    if not listing.is_file():
        print(f"corpus not found at {corpus} (no REAL_WORLD_TITLE_LINK.txt): the `auto` share is skipped")
        return
    counts = Counter[str]()
    lengths: list[int] = []
    files = 0
    for line in listing.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = corpus / line
        ctype = CORPUS_TYPES.get(path.suffix.lower(), "application/xml")
        try:
            parsed = parse_feed(path.read_bytes(), {"content-type": ctype}, f"http://corpus.test/{line}")
        except (FetchError, OSError) as exc:
            print(f"  {line}: not parsed ({exc})")
            continue
        files += 1
        for article in parsed.articles:
            text = body_text(article.summary, article.content)
            n = len(words(text))
            lengths.append(n)
            counts["entries"] += 1
            if wants_page("auto", text, MIN_WORDS):
                counts["fetched"] += 1
                counts["short" if n < MIN_WORDS else "teaser"] += 1
            elif is_teaser(text):  # cannot happen: a teaser is always fetched
                counts["missed"] += 1
            for threshold in (50, 100, 150, 200, 300):
                if n < threshold or is_teaser(text):
                    counts[f"at {threshold}"] += 1
    total = counts["entries"]
    if not total:
        print("no entries in the corpus")
        return
    print(f"Corpus: {files} snapshots, {total:,} entries, median {statistics.median(lengths):.0f} words of feed text.")
    print()
    print("| `auto` would fetch | entries | share |")
    print("|---|---:|---:|")
    print(f"| all (threshold {MIN_WORDS} words) | {counts['fetched']:,} | {counts['fetched'] / total:.1%} |")
    print(f"| … of which shorter than {MIN_WORDS} words | {counts['short']:,} | {counts['short'] / total:.1%} |")
    print(f"| … of which long enough but a teaser | {counts['teaser']:,} | {counts['teaser'] / total:.1%} |")
    for threshold in (50, 100, 200, 300):
        key = f"at {threshold}"
        print(f"| with a threshold of {threshold} words | {counts[key]:,} | {counts[key] / total:.1%} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus",
                        help="the real-world corpus folder (default: ../shared/corpus)")
    parser.add_argument("--runs", type=int, default=3, help="timing runs; the median is reported (default 3)")
    parser.add_argument("--repeats", type=int, default=5, help="extractions per page per run (default 5)")
    args = parser.parse_args()

    pages = {
        path.stem: (path.read_bytes(), path.with_suffix(".txt").read_text(encoding="utf-8"))
        for path in sorted(ARTICLES.glob("*.html"))
    }
    fns = extractors()
    names = list(fns)
    print(f"Labelled pages: {len(pages)} (tests/data/articles), "
          f"{sum(len(words(label)) for _, label in pages.values()):,} labelled words.\n")
    quality(pages, names, fns)
    speed(pages, names, fns, args.runs, args.repeats)
    hostile()
    corpus_share(args.corpus.resolve())


if __name__ == "__main__":
    main()
