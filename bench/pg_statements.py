"""Where PostgreSQL's time goes: the server's own time per statement, from its log.

A benchmark run against PostgreSQL can ask the server to log the duration of
every statement of its own connections, with no change to the server's
configuration, by a connection option in the database URL:

    python bench/poll.py --feeds 1000 --cycles 2 --repeats 1 --no-reader \\
        --database 'postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-clog_min_duration_statement%3D0'

(`bench/poll.py` keeps the option when it adds its fresh schema's search
path.) Then, with the time the run started:

    python bench/pg_statements.py /var/log/postgresql/postgresql-15-main.log --since '2026-12-06 05:05:40'

prints the server's time per statement shape (literal values, placeholder
lists and casts folded away), summed over the parse, bind and execute steps
that the extended protocol logs one by one, largest first. Logging every
statement costs the server some time of its own, so the totals run a little
high; the shares are what to read.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_DURATION = re.compile(r"duration: ([\d.]+) ms\s+(?:statement|(?:parse|bind|execute) [^:]*): (.*)")
_PLACEHOLDER = re.compile(r"\$\d+(?:::(?:TIMESTAMP WITH(?:OUT)? TIME ZONE|\w+)(?:\[\])?)?")
_LIST = re.compile(r"\(\?(?:, \?)+\)")
_LITERAL = re.compile(r"'[^']*'")


def shape(sql: str) -> str:
    """A statement with its values folded away, so repeats of it add up."""
    sql = _PLACEHOLDER.sub("?", sql)
    sql = _LIST.sub("(?…)", sql)
    return _LITERAL.sub("'…'", sql).strip()


def tally(lines: list[str], since: str) -> tuple[Counter[str], Counter[str]]:
    """Milliseconds and log entries per statement shape, for lines at or after `since`."""
    spent: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    for line in lines:
        if line[: len(since)] < since:
            continue
        found = _DURATION.search(line)
        if found is None:
            continue
        key = shape(found.group(2))
        spent[key] += float(found.group(1))
        entries[key] += 1
    return spent, entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path, help="the PostgreSQL server's log file")
    parser.add_argument("--since", default="", help="only log lines from this timestamp on ('YYYY-MM-DD HH:MM:SS')")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--width", type=int, default=110, help="characters of each statement shown")
    args = parser.parse_args()
    spent, entries = tally(args.log.read_text(errors="replace").splitlines(), args.since)
    total = sum(spent.values())
    print(f"server time {total / 1000:.2f} s in {sum(entries.values())} logged steps\n")
    print("| server s | share | logged steps | statement |\n|---:|---:|---:|---|")
    for sql, ms in spent.most_common(args.top):
        text = sql[: args.width].replace("|", "\\|")
        print(f"| {ms / 1000:.2f} | {ms / total:.0%} | {entries[sql]:,} | `{text}` |")


if __name__ == "__main__":
    main()
