"""The reference pages say what the code does: config keys and CLI commands.

docs/configuration.md must list every key of the settings models (walked
from `Settings` down, nested models included) and no key the code lacks;
docs/cli.md must list every `monitor` command with each of its long
options, as `monitor.cli.main.build_parser` registers them, and no command
or option the parser lacks. A failure names what is missing or stale.
"""

from __future__ import annotations

import argparse
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from monitor.cli.main import build_parser
from monitor.config import Settings, parse_config

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPML_DIR = Path(__file__).resolve().parents[1] / "data" / "opml"

# Keys the loader reads before the models see the file (replaced by the
# feeds they name); `test_loader_keys_are_real` proves each one works.
LOADER_KEYS = {"feeds[].opml"}


# --- config keys ---------------------------------------------------------------


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _model_in(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The settings model a field holds, with the path suffix to reach one
    element ('' for a model, '[]' for a list of them, '.NAME' for a mapping)."""
    annotation = _strip(annotation)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        found = [m for arg in get_args(annotation) if (m := _model_in(arg))]
        return found[0] if found else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    args = [_strip(a) for a in get_args(annotation)]
    if origin in (tuple, list) and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], "[]"
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return args[1], ".NAME"
    return None


def config_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(key path, is a leaf) for every field reachable from `model`."""
    for name, info in model.model_fields.items():
        if info.exclude:  # internal (Settings.source), never written in a file
            continue
        path = f"{prefix}{name}"
        inner = _model_in(info.annotation)
        if inner is None:
            yield path, True
        else:
            sub, suffix = inner
            yield path, False
            yield from config_keys(sub, f"{path}{suffix}.")


def _table_rows(markdown: str, first_header: str) -> Iterator[str]:
    """The first cell of each row of the tables whose first header is `first_header`."""
    in_table = False
    for line in markdown.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if not cells:
            continue
        if not in_table:
            in_table = cells[0] == first_header
            continue
        if set(cells[0]) <= set("-: "):
            continue
        yield cells[0]


def documented_keys() -> set[str]:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    keys = set()
    for cell in _table_rows(text, "key"):
        keys.update(re.findall(r"`([a-z_][A-Za-z_.\[\]]*)`", cell))
    return keys


def test_every_config_key_is_documented() -> None:
    leaves = {path for path, leaf in config_keys() if leaf}
    missing = sorted(leaves - documented_keys())
    assert not missing, f"docs/configuration.md has no row for these config keys: {', '.join(missing)}"


def test_every_documented_config_key_exists() -> None:
    known = {path for path, _ in config_keys()} | LOADER_KEYS
    stale = sorted(documented_keys() - known)
    assert not stale, f"docs/configuration.md documents keys the settings models lack: {', '.join(stale)}"


def test_loader_keys_are_real() -> None:
    settings = parse_config("feeds:\n  - opml: latin1.opml\n", source=str(OPML_DIR / "config.yaml"))
    assert settings.feeds, "feeds[].opml read no feeds"


def test_the_key_walk_sees_nested_models() -> None:
    keys = dict(config_keys())
    for path in ("poll.interval", "web.allowed_hosts", "cluster.node_name", "feeds[].url",
                 "channels.NAME.urls", "entities.NAME.aliases", "watchlists[].query", "database"):
        assert keys.get(path) is True, path
    assert keys["feeds"] is False and "source" not in keys


# --- CLI commands ----------------------------------------------------------------


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def cli_commands() -> dict[str, tuple[set[str], set[str]]]:
    """Command (words after `monitor`) → (the long options its rows must show,
    those they may show). A positional with choices (`feeds import`) is a
    command of its own that may show the options of the command it belongs
    to; that command's rows and its actions' rows together must show them."""
    root = build_parser()
    commands: dict[str, tuple[set[str], set[str]]] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        options = _long_options(parser)
        if not any(group.required for group in groups):
            commands[path] = (options, options)
        for group in groups:
            for name, sub in group.choices.items():
                walk(sub, f"{path} {name}".strip())
        for action in parser._actions:
            if not action.option_strings and action.choices and not isinstance(action, argparse._SubParsersAction):
                for choice in action.choices:
                    commands[f"{path} {choice}"] = (set(), options)

    for group in (a for a in root._actions if isinstance(a, argparse._SubParsersAction)):
        for name, sub in group.choices.items():
            walk(sub, name)
    return commands


GLOBAL_OPTIONS = _long_options(build_parser())


def documented_commands() -> dict[str, set[str]]:
    """Command → the options its rows in docs/cli.md show."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    documented: dict[str, set[str]] = {}
    for cell in _table_rows(text, "command"):
        m = re.match(r"`monitor((?: [a-z][a-z0-9-]*)+)(.*?)`", cell)
        assert m, f"docs/cli.md: a command row that does not start with `monitor COMMAND`: {cell}"
        documented.setdefault(m.group(1).strip(), set()).update(re.findall(r"--[a-z][a-z0-9-]*", m.group(2)))
    return documented


def _family(commands: dict[str, set[str]], command: str) -> set[str]:
    """Options shown on a command's rows and on its action rows (`feeds import`)."""
    return set().union(*(opts for name, opts in commands.items() if name == command or name.startswith(command + " ")))


def test_every_command_and_option_is_documented() -> None:
    documented = documented_commands()
    problems = []
    for command, (options, _) in sorted(cli_commands().items()):
        if command not in documented:
            problems.append(f"monitor {command} (no row)")
            continue
        for option in sorted(options - GLOBAL_OPTIONS - _family(documented, command)):
            problems.append(f"monitor {command} {option}")
    assert not problems, "docs/cli.md does not document: " + "; ".join(problems)


def test_every_documented_command_and_option_exists() -> None:
    commands = cli_commands()
    problems = []
    for command, options in sorted(documented_commands().items()):
        if command not in commands:
            problems.append(f"monitor {command} (no such command)")
            continue
        for option in sorted(options - commands[command][1] - GLOBAL_OPTIONS):
            problems.append(f"monitor {command} {option} (no such option)")
    assert not problems, "docs/cli.md documents what the parser lacks: " + "; ".join(problems)


def test_global_options_are_documented() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = sorted(option for option in GLOBAL_OPTIONS if not re.search(rf"(?<![\w-]){option}(?![\w-])", text))
    assert not missing, f"docs/cli.md does not mention the options every command takes: {', '.join(missing)}"


@pytest.mark.parametrize("command", ["check", "hits", "feeds import", "deliveries retry", "db stats", "status"])
def test_the_command_walk_sees_nested_commands(command: str) -> None:
    assert command in cli_commands()
    assert "db" not in cli_commands()  # a group whose action is required is no command by itself
