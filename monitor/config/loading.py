"""Reading config.yaml: where it is, `${VAR}` substitution, OPML entries,
validation, and every problem as one line naming its place
(`feeds[3].url: not an http(s) URL`). Nothing else reads the file or the
environment for settings.

The YAML is read within bounds, so that a bad file is an error and not a
stall: at most MAX_CONFIG_BYTES, at most MAX_YAML_DEPTH levels of nesting,
and aliases copying at most MAX_ALIAS_NODES nodes in all (an "alias bomb"
of a few hundred bytes would otherwise expand to millions of nodes).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.config.model import CONFIG_ENV, DEFAULT_CONFIG, MIN_TOKEN_LENGTH, Settings
from monitor.core.query import QueryError, check_query
from monitor.errors import ConfigError

# --- loading -------------------------------------------------------------------

MAX_CONFIG_BYTES = 2 * 1024 * 1024
MAX_YAML_DEPTH = 50  # nested mappings and lists
MAX_ALIAS_NODES = 10_000  # nodes that aliases (*name) copy, all uses together

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def find_config(path: str | os.PathLike[str] | None) -> Path:
    """The config file to use: --config, then $MONITOR_CONFIG, then ./config.yaml."""
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return Path(DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, substitute, validate. Raises ConfigError with one line per problem."""
    file = find_config(path)
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError([f"{file}: {_too_big()}"])
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: cannot read: {exc}"]) from None
    return parse_config(text, source=str(file), environ=environ)


def parse_config(text: str, source: str = DEFAULT_CONFIG, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate config text; see `load_config`."""
    if len(text) > MAX_CONFIG_BYTES or len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{source}: {_too_big()}"])
    loader = _BoundedLoader(text)
    try:
        raw = loader.get_single_data()
    except _Refused as exc:
        where = f"line {exc.mark.line + 1}, column {exc.mark.column + 1}"
        raise ConfigError([f"{source}: {where}: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{source}: {where}invalid YAML: {problem}"]) from None
    finally:
        loader.dispose()
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys"])
    problems: list[str] = []
    raw = _substitute(raw, (), environ if environ is not None else os.environ, problems)
    raw = _expand_opml(raw, source, problems)
    settings = None
    try:
        settings = Settings.model_validate({**raw, "source": source})
    except ValidationError as exc:
        # A value whose variable is missing was already reported; don't
        # report it again as whatever the empty value fails.
        reported = {line.split(": ", 1)[0] for line in problems}
        problems.extend(e for e in _format_errors(exc) if e.split(": ", 1)[0] not in reported)
    problems.extend(_cross_check(raw))
    if settings is not None and not problems:
        problems.extend(_check_templates(settings))
    if problems or settings is None:
        raise ConfigError(problems)
    return settings


def _too_big() -> str:
    return f"larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MB: not read (the limit for a config file)"


class _Refused(Exception):
    """A YAML document refused for its shape, at `mark`."""

    def __init__(self, mark: Any, problem: str) -> None:
        super().__init__(problem)
        self.mark = mark
        self.problem = problem


class _BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that counts while composing: nesting depth, and the
    nodes each alias copies (its anchor's node with everything inside,
    aliases in it counted expanded). Refuses past the limits, and an alias
    inside the node it names (a structure that contains itself).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.open_counts: list[int] = []  # nodes so far inside each open collection
        self.anchor_sizes: dict[str, int] = {}  # nodes an anchored node stands for
        self.copied = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # unannotated in types-PyYAML
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)  # an unknown alias raises here
            size = self.anchor_sizes.get(str(event.anchor))
            if size is None:
                raise _Refused(event.start_mark, f"alias *{event.anchor} inside the node it names")
            self.copied += size
            if self.copied > MAX_ALIAS_NODES:
                raise _Refused(
                    event.start_mark,
                    f"too many alias expansions (aliases would copy more than {MAX_ALIAS_NODES:,} "
                    "nodes; an alias bomb?)",
                )
        else:
            collection = isinstance(event, yaml.CollectionStartEvent)
            if collection:
                if len(self.open_counts) >= MAX_YAML_DEPTH:
                    raise _Refused(event.start_mark, f"nested too deeply (more than {MAX_YAML_DEPTH} levels)")
                self.open_counts.append(0)
            node = super().compose_node(parent, index)
            size = 1 + (self.open_counts.pop() if collection else 0)
            if event.anchor is not None:
                self.anchor_sizes[str(event.anchor)] = size
        if self.open_counts:
            self.open_counts[-1] += size
        return node


def template_path(settings: Settings, template: str) -> Path:
    """A channel template's path: relative ones are relative to the config file."""
    path = Path(template).expanduser()
    if path.is_absolute() or not settings.source:
        return path
    return Path(settings.source).parent / path


def _check_templates(settings: Settings) -> Iterator[str]:
    """Render each user template with sample data; report problems with their line."""
    from monitor.notify.render import check_template  # late: notify is an edge

    for name, channel in settings.channels.items():
        if channel.template:
            for problem in check_template(template_path(settings, channel.template)):
                yield f"channels.{name}.template: {problem}"


def _expand_opml(raw: dict[str, Any], source: str, problems: list[str]) -> dict[str, Any]:
    """Replace each `- opml: FILE` entry of `feeds:` by the feeds that file lists.

    The file is relative to the config file. `tags:` and `interval:` on the
    entry apply to every feed from it. A feed whose URL the list already has
    is skipped; a name already taken gets a suffix.
    """
    feeds = raw.get("feeds")
    if not isinstance(feeds, list) or not any(isinstance(f, dict) and "opml" in f for f in feeds):
        return raw
    from monitor.fetch.opml import OpmlError, merge_feeds, read_opml  # late: fetch is an edge

    expanded: list[Any] = []
    known = [(str(f.get("name", "")), str(f.get("url", ""))) for f in feeds if isinstance(f, dict) and "url" in f]
    for i, item in enumerate(feeds):
        if not (isinstance(item, dict) and "opml" in item):
            expanded.append(item)
            continue
        extra = set(item) - {"opml", "tags", "interval", "quiet_after"}
        if extra:
            problems.extend(f"feeds[{i}].{key}: unknown key for an OPML entry" for key in sorted(extra))
        path = Path(str(item["opml"])).expanduser()
        if not path.is_absolute():
            path = Path(source).parent / path
        try:
            result = read_opml(path.read_bytes(), str(path))
        except OSError as exc:
            problems.append(f"feeds[{i}].opml: cannot read {path}: {exc.strerror or exc}")
            continue
        except OpmlError as exc:
            problems.append(f"feeds[{i}].opml: {exc.reason}")
            continue
        added, _skipped = merge_feeds(known, result.feeds)
        tags = _strings(item.get("tags"))
        for feed in added:
            entry: dict[str, Any] = {
                "name": feed.name,
                "url": feed.url,
                "tags": list(dict.fromkeys([*feed.tags, *tags])),
            }
            for key in ("interval", "quiet_after"):
                if key in item:
                    entry[key] = item[key]
            expanded.append(entry)
            known.append((feed.name, feed.url))
    return {**raw, "feeds": expanded}


def _substitute(node: Any, loc: tuple[str | int, ...], env: Mapping[str, str], problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, (*loc, str(k)), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, (*loc, i), env, problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def replace(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        problems.append(f"{format_loc(loc)}: environment variable {name} is not set")
        return ""

    return _ENV_RE.sub(replace, node)


def format_loc(loc: tuple[str | int, ...]) -> str:
    """('watchlists', 1, 'channels', 0) → 'watchlists[1].channels[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_MESSAGES = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping of keys",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
}


def _format_errors(exc: ValidationError) -> Iterator[str]:
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = err["type"]
        if kind == "value_error":
            message = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        elif kind in _MESSAGES:
            message = _MESSAGES[kind]
        elif kind == "too_short":
            message = "must not be empty"
        else:
            message = err["msg"][0].lower() + err["msg"][1:]
        if (
            kind not in ("missing", "extra_forbidden")
            and "input" in err
            and _showable(err["input"])
            and repr(err["input"]) not in message
            and str(err["input"]) not in message
        ):
            message = f"{message} (got {err['input']!r})"
        yield f"{format_loc(loc)}: {message}"


def _showable(value: object) -> bool:
    return isinstance(value, int | float | bool) or (isinstance(value, str) and len(value) < 60)


def _cross_check(raw: Mapping[str, Any]) -> Iterator[str]:
    """Problems that span keys: duplicate names and URLs, unknown channels, unused tags.

    Runs on the raw data so that these are reported together with field errors.
    """
    feeds = _dicts(raw.get("feeds"))
    watchlists = _dicts(raw.get("watchlists"))
    raw_channels = raw.get("channels")
    channels: dict[Any, Any] = raw_channels if isinstance(raw_channels, dict) else {}
    yield from _duplicates("feeds", "name", feeds, "feed name")
    yield from _duplicates("feeds", "url", feeds, "URL")
    yield from _duplicates("watchlists", "name", watchlists, "watchlist name")
    admin = raw.get("admin_channel")
    if isinstance(admin, str) and admin not in channels:
        known = ", ".join(sorted(map(str, channels))) or "none defined"
        yield f"admin_channel: unknown channel {admin!r} (known: {known})"
    web = raw.get("web")
    if isinstance(web, dict) and not web.get("token"):
        listen = web.get("listen", "127.0.0.1:8080")
        if isinstance(listen, str) and ":" in listen and not is_loopback_host(listen.rpartition(":")[0]):
            yield "web.token: required when web.listen is not a loopback address"
    token = str(web.get("token") or "").strip() if isinstance(web, dict) else ""
    if token and len(token) < MIN_TOKEN_LENGTH:
        # Here, not in the model: a field error would show the value, and this one is a secret.
        yield f"web.token: must be at least {MIN_TOKEN_LENGTH} characters"
    feed_tags = {t for f in feeds.values() for t in _strings(f.get("tags"))}
    raw_entities = raw.get("entities")
    entity_names = set(map(str, raw_entities)) if isinstance(raw_entities, dict) else set()
    for i, watchlist in watchlists.items():
        query = watchlist.get("query")
        if isinstance(query, str) and query.strip():
            try:
                check_query(query, entity_names)
            except QueryError as exc:
                yield f"watchlists[{i}].query: {exc}"
        for j, entity in enumerate(_strings(watchlist.get("entities"))):
            if entity not in entity_names:
                known = ", ".join(sorted(entity_names)) or "none defined"
                yield f"watchlists[{i}].entities[{j}]: unknown entity {entity!r} (known: {known})"
        for j, channel in enumerate(_strings(watchlist.get("channels"))):
            if channel not in channels:
                known = ", ".join(sorted(map(str, channels))) or "none defined"
                yield f"watchlists[{i}].channels[{j}]: unknown channel {channel!r} (known: {known})"
        for j, tag in enumerate(_strings(watchlist.get("tags"))):
            if feeds and tag not in feed_tags:
                yield f"watchlists[{i}].tags[{j}]: no feed carries the tag {tag!r}"
        yield from _spike_channels(f"watchlists[{i}].spike", watchlist.get("spike"), channels)
    yield from _spike_channels("spikes", raw.get("spikes"), channels)
    if isinstance(raw_entities, dict):
        for name, entity in raw_entities.items():
            if isinstance(entity, dict):
                yield from _spike_channels(f"entities.{name}.spike", entity.get("spike"), channels)


def _spike_channels(where: str, block: object, channels: Mapping[Any, Any]) -> Iterator[str]:
    if not isinstance(block, dict):
        return
    for j, channel in enumerate(_strings(block.get("channels"))):
        if channel not in channels:
            known = ", ".join(sorted(map(str, channels))) or "none defined"
            yield f"{where}.channels[{j}]: unknown channel {channel!r} (known: {known})"


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1): no token needed there."""
    import ipaddress

    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _dicts(value: object) -> dict[int, dict[str, Any]]:
    if not isinstance(value, list):
        return {}
    return {i: item for i, item in enumerate(value) if isinstance(item, dict)}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v if isinstance(v, str) else "" for v in value]
    return []


def _duplicates(section: str, key: str, items: dict[int, dict[str, Any]], what: str) -> Iterator[str]:
    seen: dict[str, int] = {}
    for i, item in items.items():
        value = item.get(key)
        if not isinstance(value, str):
            continue
        if value in seen:
            yield f"{section}[{i}].{key}: duplicate {what} {value!r} (also {section}[{seen[value]}])"
        seen.setdefault(value, i)
