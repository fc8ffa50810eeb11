"""Benchmark: watchlist matching at 100, 10,000 and 100,000 terms.

Run `python bench/match.py` (or `--quick` for a < 1 minute smoke run). It
generates news-like articles of about 3 KB (common English/Spanish words,
capitalised rare "names", punctuation, accents) and watchlists mixing
keyword lists (words, phrases, prefixes) and queries (NEAR, ONEAR, AND/OR/NOT,
title:), then prints a markdown table comparing, in the same run:

- engine: `Matcher.match` per article (normalising, presearch, evaluation,
  spans, snippets), articles per second;
- baseline: the naive way giving the same answers — every watchlist is
  evaluated for every article, each term being a compiled regex run over
  the article's folded text (run over fewer articles at large sizes);
- floor: one bare Aho-Corasick pass (`automaton.iter`) over the same folded
  article stream with the same automaton (all keys and their spellings), no
  evaluation, no folding;
- fold+floor: the same pass including folding each article into that stream;
- compile time and memory (RSS growth while compiling).

Figures are medians of several repeats; engine, floor and fold+floor take
turns within each repeat. Everything is seeded: same output shape every run.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.core.matcher import ArticleText, Matcher, WatchlistSpec
from monitor.core.query import parse
from monitor.core.query.ast import And, Near, Node, Not, Or, Term
from monitor.core.query.fields import ArticleFields

COMMON = """the of and to in a is that for on was with as by at from said it his
be has have are an were not which this but their they its after been had
who will would more also or one two new first last year years people government
president police security officials country state city minister told week
over than about into against could when two three killed group military
forces border between united states american mexican federal national
de la que el en y los del se las por un para con una su al lo como más
pero sus le ya o fue este ha si porque esta son entre está cuando muy sin
sobre también me hasta hay donde quien desde todo nos durante todos uno
les ni contra otros ese eso ante ellos e esto mí antes algunos qué unos
gobierno país seguridad presidente policía ciudad estado años según autoridades
violencia crimen droga drogas armas frontera acuerdo informe ministro
report attack market oil prices trade talks deal court judge law case
news agency army officers troops election vote party leaders economic""".split()
ACCENTED = ["México", "cárteles", "narcotráfico", "Michoacán", "Culiacán", "políticas",
            "extradición", "investigación", "además", "también", "según", "Mexico’s"]
SYLLABLES = ("ka ra mo li ze to pa ne su vi lo ga de ri ma no be ta ko fe "
             "chi lan tor mex sal ver gon bar tes dor quin zal ran pel").split()
PUNCT = [" ", " ", " ", " ", " ", " ", ", ", ". ", " — ", " (", ") ", ": ", "; ", "\n\n", "-"]


def make_names(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    names: list[str] = []
    while len(names) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen and len(word) >= 5:
            seen.add(word)
            names.append(word)
    return names


def zipf_index(rng: random.Random, size: int, s: float = 1.1) -> int:
    # Inverse-CDF of a continuous power law: cheap, heavy head, long tail.
    u = rng.random()
    return min(size - 1, int((size ** (1 - s) * u + (1 - u)) ** (1 / (1 - s))) - 1) if s != 1 else int(size**u) - 1


def make_article(rng: random.Random, names: list[str], size: int = 3000) -> ArticleText:
    def word() -> str:
        r = rng.random()
        if r < 0.85:
            return COMMON[zipf_index(rng, len(COMMON), 1.05)]
        if r < 0.88:
            return rng.choice(ACCENTED)
        name = names[zipf_index(rng, len(names), 1.05)]
        return name.capitalize() if rng.random() < 0.7 else name

    title = " ".join(word() for _ in range(rng.randint(6, 12))).capitalize()
    parts: list[str] = []
    length = 0
    while length < size:
        w = word()
        sep = rng.choice(PUNCT)
        parts.append(w + sep)
        length += len(w) + len(sep)
    return ArticleText(title, "".join(parts).strip())


def make_watchlists(rng: random.Random, names: list[str], terms: int) -> list[WatchlistSpec]:
    """Watchlists totalling about `terms` terms: half keyword lists, half queries."""

    def name() -> str:
        # Any name but the 1,000 that nearly every article mentions.
        return names[rng.randrange(1000, len(names))]

    def term() -> str:
        r = rng.random()
        if r < 0.7:
            return name()
        if r < 0.9:
            return f"{name()} {rng.choice(COMMON[40:])}" if rng.random() < 0.5 else f"{name()} {name()}"
        word = name()
        return (word[:-2] if len(word) >= 7 else word) + "*"

    def q(t: str) -> str:
        return f'"{t}"' if " " in t else t

    specs: list[WatchlistSpec] = []
    count = 0
    while count < terms:
        index = len(specs)
        if rng.random() < 0.5:
            keywords = tuple(term().rstrip("*") for _ in range(rng.randint(3, 8)))
            specs.append(WatchlistSpec(f"k{index}", keywords))
            count += len(keywords)
            continue
        kind = rng.randrange(5)
        a, b, c, d, e = (q(term()) for _ in range(5))
        if kind == 0:
            query, n = f"{a} NEAR/{rng.randint(2, 10)} {b}", 2
        elif kind == 1:
            query, n = f"({a} OR {b} OR {c}) AND {d} NOT {e}", 5
        elif kind == 2:
            query, n = f"title:{a} OR ({b} AND {c})", 3
        elif kind == 3:
            query, n = f"{a} ONEAR/{rng.randint(1, 5)} ({b} OR {c})", 3
        else:
            query, n = f"{a} OR {b} OR ({c} {d} -{e})", 5
        specs.append(WatchlistSpec(f"q{index}", query=query))
        count += n
    return specs


# --- the naive baseline ------------------------------------------------------

class Baseline:
    """Every watchlist, every term a regex over the folded field streams."""

    def __init__(self, specs: list[WatchlistSpec]) -> None:
        self.cache: dict[tuple[tuple[str, ...], bool], re.Pattern[str]] = {}
        self.trees: list[tuple[str, Node]] = []
        for spec in specs:
            parts: list[Node] = []
            if spec.keywords:
                parts.append(Or(tuple(Term(tuple(ArticleFields(k, "").title.words), k) for k in spec.keywords)))
            if spec.query:
                parts.append(parse(spec.query))
            self.trees.append((spec.name, parts[0] if len(parts) == 1 else Or(tuple(parts))))
            for leaf in _leaves(self.trees[-1][1]):
                key = (leaf.words, leaf.prefix)
                if key not in self.cache:
                    body = re.escape(" ".join(leaf.words))
                    self.cache[key] = re.compile(rf"\b{body}\w*" if leaf.prefix else rf"\b{body}\b")

    def match(self, article: ArticleText) -> list[str]:
        # Folded words joined by single spaces: what the regexes and the
        # word counting below expect.
        fields = ArticleFields(article.title, article.text)
        streams = (" ".join(fields.title.words), " ".join(fields.text.words))
        return [name for name, node in self.trees if self.eval(node, streams)]

    def eval(self, node: Node, streams: tuple[str, str]) -> list[tuple[int, int, int]]:
        if isinstance(node, Term):
            pattern = self.cache[node.words, node.prefix]
            out = []
            for f, stream in enumerate(streams):
                if node.field is not None and node.field != ("title", "text")[f]:
                    continue
                for m in pattern.finditer(stream):
                    w = stream.count(" ", 0, m.start())
                    out.append((f, w, w + len(node.words)))
            return out
        if isinstance(node, Not):
            return [] if self.eval(node.child, streams) else [(-1, 0, 0)]
        if isinstance(node, And):
            out = []
            for child in node.children:
                found = self.eval(child, streams)
                if not found:
                    return []
                out += found
            return out
        if isinstance(node, Or):
            return [occ for child in node.children for occ in self.eval(child, streams)]
        assert isinstance(node, Near)
        out = []
        for a in self.eval(node.left, streams):
            for b in self.eval(node.right, streams):
                if a[0] != b[0] or a[0] < 0:
                    continue
                if a[2] <= b[1]:
                    gap = b[1] - a[2]
                elif not node.ordered and b[2] <= a[1]:
                    gap = a[1] - b[2]
                else:
                    continue
                if gap <= node.distance:
                    out.append((a[0], min(a[1], b[1]), max(a[2], b[2])))
        return out


def _leaves(node: Node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return _leaves(node.child)
    if isinstance(node, Near):
        return _leaves(node.left) + _leaves(node.right)
    assert isinstance(node, (And, Or))
    return [leaf for child in node.children for leaf in _leaves(child)]


# --- measuring ----------------------------------------------------------------

def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def rate(fn: Callable[[], object], items: int, repeats: int) -> float:
    """Median items per second over `repeats` runs of `fn`."""
    return rates([fn], items, repeats)[0]


def rates(fns: list[Callable[[], object]], items: int, repeats: int) -> list[float]:
    """Median items per second of each of `fns`, run in turn `repeats` times.

    Taking turns means a slow spell of the (shared) machine hits all of them
    alike instead of one, so their ratios stay meaningful.
    """
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, spent in zip(fns, times, strict=True):
            gc.collect()
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [items / statistics.median(spent) for spent in times]


def run(size: int, articles: list[ArticleText], names: list[str], baseline_articles: int, repeats: int) -> dict[str, object]:
    rng = random.Random(size)
    specs = make_watchlists(rng, names, size)
    gc.collect()
    before = rss_kb()
    start = time.perf_counter()
    matcher = Matcher(specs)
    compile_s = time.perf_counter() - start
    memory_mb = (rss_kb() - before) / 1024

    results = [matcher.match(a) for a in articles]
    matches = statistics.mean(len(r) for r in results)

    program = matcher._program  # the same automaton, for the floor
    streams = [ArticleFields(a.title, a.text).stream for a in articles]
    automaton = program.automaton
    assert automaton is not None

    def floor() -> None:
        for stream in streams:
            for _ in automaton.iter(stream):
                pass

    def fold_and_floor() -> None:
        for article in articles:
            for _ in automaton.iter(ArticleFields(article.title, article.text).stream):
                pass

    def engine() -> None:
        [matcher.match(a) for a in articles]

    engine_rate, floor_rate, fold_floor_rate = rates([engine, floor, fold_and_floor], len(articles), repeats)
    candidates = statistics.mean(len(program.presearch(ArticleFields(a.title, a.text))[0]) for a in articles)

    baseline = Baseline(specs)
    sample = articles[:baseline_articles]
    for article, result in zip(sample, results, strict=False):  # results cover every article
        assert baseline.match(article) == [r.watchlist for r in result], "baseline disagrees with engine"
    baseline_rate = rate(lambda: [baseline.match(a) for a in sample], len(sample), max(1, min(repeats, 3)))
    return {
        "terms": size,
        "keys": matcher.term_count,
        "watchlists": len(specs),
        "engine": engine_rate,
        "baseline": baseline_rate,
        "baseline_n": len(sample),
        "floor": floor_rate,
        "fold_floor": fold_floor_rate,
        "compile": compile_s,
        "memory": memory_mb,
        "candidates": candidates,
        "matches": matches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer articles and repeats (< 1 minute)")
    parser.add_argument("--articles", type=int, default=None, help="articles per engine run")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (median)")
    parser.add_argument("--sizes", default="100,10000,100000", help="comma-separated term counts")
    args = parser.parse_args()
    n_articles = args.articles or (300 if args.quick else 2000)
    repeats = args.repeats or (3 if args.quick else 5)
    rng = random.Random(42)
    names = make_names(rng, 400_000)
    articles = [make_article(rng, names) for _ in range(n_articles)]
    avg_kb = statistics.mean(len(a.title) + len(a.text) for a in articles) / 1024
    baseline_n = {100: 100 if args.quick else 200, 10_000: 5 if args.quick else 20, 100_000: 1 if args.quick else 3}
    sizes = [(int(n), baseline_n.get(int(n), 3)) for n in args.sizes.split(",")]
    rows = []
    for size, baseline_n in sizes:
        rows.append(run(size, articles, names, baseline_n, repeats))
        print(f"done {size} terms", file=sys.stderr)
    print(f"\n{n_articles} articles of {avg_kb:.1f} KB on average; medians of {repeats} repeats "
          f"(baseline: 1-3 repeats over the first N articles shown). Python {sys.version.split()[0]}.\n")
    print("| terms | keys | watchlists | engine art/s | baseline art/s (N) | engine/baseline | floor art/s | floor/engine | fold+floor art/s | compile s | memory MB | candidates/art | matches/art |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['terms']:,} | {r['keys']:,} | {r['watchlists']:,} | {r['engine']:,.0f} | "
            f"{r['baseline']:,.2f} ({r['baseline_n']}) | {r['engine'] / r['baseline']:,.0f}× | "
            f"{r['floor']:,.0f} | {r['floor'] / r['engine']:.1f}× | {r['fold_floor']:,.0f} | {r['compile']:.2f} | {r['memory']:.0f} | "
            f"{r['candidates']:.1f} | {r['matches']:.1f} |"
        )


if __name__ == "__main__":
    main()
