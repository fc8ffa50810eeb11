"""Log formats for the CLI's stderr handler: `text` (one readable line) or
`json` (one JSON object per line, for log shippers).

A JSON line has `ts` (UTC, ISO 8601), `level`, `logger`, `message`, then
context: any `extra={...}` fields the call gave, and the `key=value` pairs
the message starts with — the code logs `feed=%r status=ok new=3 ...`,
`channel=%r watchlist=%r ...` — so every line about a feed, a watchlist or
a channel carries that field. Only the leading pairs are read: what follows
them may be untrusted feed text (a title) and is never parsed into fields.
A traceback, if any, is in `exc`.

Neither format adds anything the message did not say: secrets are kept out
of messages where they are written (channel URLs only in their privacy form).
"""

from __future__ import annotations

import ast
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# The attributes every LogRecord has; anything else came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
# One leading `key=value`: value is a Python repr in quotes, or a bare token.
_PAIR = re.compile(r"""([a-z_][a-z0-9_]*)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"]+)(?:\s+|$)""")
_RESERVED = frozenset({"ts", "level", "logger", "message", "exc"})


def make_formatter(fmt: str) -> logging.Formatter:
    """The formatter for `--log-format` (`text` or `json`)."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"unknown log format {fmt!r}")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for key, value in leading_pairs(message).items():
            if key not in _RESERVED:
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def leading_pairs(message: str) -> dict[str, Any]:
    """The `key=value` pairs at the start of a log message.

    Quoted values are read as the Python literals they are (`feed=%r`);
    integers as numbers; anything else stays text.
    """
    pairs: dict[str, Any] = {}
    pos = 0
    while True:
        match = _PAIR.match(message, pos)
        if match is None:
            return pairs
        key, raw = match.group(1), match.group(2)
        pairs[key] = _value(raw)
        pos = match.end()


def _value(raw: str) -> Any:
    if raw[0] in "'\"":
        try:
            return ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return raw[1:-1]
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    return raw
