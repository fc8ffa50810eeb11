"""Config validation: every kind of problem is one line naming its place."""

from __future__ import annotations

import pytest

from monitor.config import format_duration, load_config, parse_config, parse_duration
from monitor.errors import ConfigError

GOOD = """
database: sqlite:///data/monitor.db
poll:
  interval: 15m
feeds:
  - name: Example World News
    url: https://example.org/world/rss.xml
    tags: [mexico, en]
    interval: 5m
channels:
  team-email:
    urls: ["mailtos://${SMTP_USER}:${SMTP_PASS}@smtp.example.org?to=desk@example.org"]
  team-slack:
    urls: ["${SLACK_WEBHOOK_URL}"]
watchlists:
  - name: cartels
    keywords: [cartel, cartels, cártel, cárteles, CJNG, "crimen organizado"]
    tags: [mexico]
    channels: [team-email, team-slack]
"""
ENV = {
    "SMTP_USER": "desk",
    "SMTP_PASS": "hunter2",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7",
}


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ=ENV if env is None else env)
    return info.value.problems


def test_the_documented_example_is_valid() -> None:
    settings = parse_config(GOOD, environ=ENV)
    assert settings.poll.interval == 900
    feed = settings.feeds[0]
    assert (feed.name, feed.tags, feed.interval) == ("Example World News", ("mexico", "en"), 300)
    assert settings.feed_interval(feed) == 300
    assert settings.watchlists[0].channels == ("team-email", "team-slack")
    url = settings.channels["team-email"].urls[0]
    assert str(url) == "mailtos://desk:hunter2@smtp.example.org?to=desk@example.org"
    assert "hunter2" not in repr(settings)


def test_missing_environment_variable_is_named() -> None:
    env = dict(ENV)
    del env["SLACK_WEBHOOK_URL"]
    assert problems(GOOD, env) == [
        "channels.team-slack.urls[0]: environment variable SLACK_WEBHOOK_URL is not set"
    ]


def test_environment_default_is_used() -> None:
    settings = parse_config("database: ${DB_URL:-sqlite:///x.db}\n", environ={})
    assert settings.database == "sqlite:///x.db"


def test_unknown_channel() -> None:
    bad = GOOD.replace("channels: [team-email, team-slack]", "channels: [team-email, team-slak]")
    assert problems(bad) == [
        "watchlists[0].channels[1]: unknown channel 'team-slak' (known: team-email, team-slack)"
    ]


def test_url_that_is_not_http() -> None:
    bad = GOOD.replace("https://example.org/world/rss.xml", "file:///etc/passwd")
    assert problems(bad) == ["feeds[0].url: 'file:///etc/passwd' is not an http(s) URL"]


def test_duration_that_does_not_parse() -> None:
    bad = GOOD.replace("interval: 15m", "interval: 15 minutes")
    assert problems(bad) == [
        "poll.interval: '15 minutes' is not a duration (use e.g. 90s, 15m, 2h, 1d)"
    ]


def test_unknown_key_missing_key_and_wrong_type() -> None:
    text = """
feeds:
  - name: A
    url: https://a.example/rss
    intervl: 5m
  - url: https://b.example/rss
poll:
  concurrency: many
watchlists:
  - name: w
"""
    assert problems(text) == [
        "poll.concurrency: expected a whole number (got 'many')",
        "feeds[0].intervl: unknown key",
        "feeds[1].name: required key is missing",
        "watchlists[0]: needs keywords, a query or entities to match",
    ]


def test_duplicates_and_unmatchable_keywords_reported_together() -> None:
    text = """
feeds:
  - {name: A, url: "https://a.example/rss", tags: [mexico]}
  - {name: A, url: "https://a.example/rss"}
watchlists:
  - {name: w, keywords: ["--"], tags: [nowhere]}
  - {name: w, keywords: []}
"""
    assert problems(text) == [
        "watchlists[0].keywords[0]: '--' has no letters or digits to match",
        "watchlists[1]: needs keywords, a query or entities to match",
        "feeds[1].name: duplicate feed name 'A' (also feeds[0])",
        "feeds[1].url: duplicate URL 'https://a.example/rss' (also feeds[0])",
        "watchlists[1].name: duplicate watchlist name 'w' (also watchlists[0])",
        "watchlists[0].tags[0]: no feed carries the tag 'nowhere'",
    ]


def test_yaml_syntax_error_names_line_and_column() -> None:
    (line,) = problems("feeds:\n  - name: a\n   url: b\n")
    assert line.startswith("config.yaml: line 3, column 4: invalid YAML:")


def test_top_level_must_be_a_mapping() -> None:
    assert problems("- a\n- b\n") == ["config.yaml: the top level must be a mapping of keys"]


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.problems == [f"{tmp_path / 'nope.yaml'}: config file not found"]


def test_config_path_from_environment(tmp_path, monkeypatch) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text("poll: {interval: 2h}\n")
    monkeypatch.setenv("MONITOR_CONFIG", str(path))
    assert load_config(None).poll.interval == 7200


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1.5h", 5400), (45, 45), ("30", 30)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15 minutes", "m", "-5m", "0s", True, ""])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (900, 90, 7200, 86400, 1.5)] == ["15m", "90s", "2h", "1d", "1.5s"]


def test_shipped_default_config_is_valid() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    settings = load_config(root / "config.yaml", environ={})
    assert len(settings.feeds) >= 6
    assert {w.name for w in settings.watchlists} >= {"cartels"}
    tags = {t for f in settings.feeds for t in f.tags}
    assert {"es", "en"} <= tags


QUERY_CONFIG = """
entities:
  gorka:
    names: ["Sebastian Gorka"]
    aliases: ["Gorka"]
    context: [counterterrorism, "White House", "Casa Blanca"]
  cjng:
    names: [CJNG, "Cártel de Jalisco Nueva Generación"]
watchlists:
  - name: cartels
    query: 'cartel* NOT (OPEC OR oil)'
  - name: people
    entities: [gorka, cjng]
  - name: security
    query: '"security agreement" AND (Mexico OR México'
  - name: unknown
    query: '@nobody NEAR/5 cartel'
  - name: misspelt
    entities: [gorka, cjgn]
"""


def test_query_and_entity_errors_name_watchlist_and_column() -> None:
    assert problems(QUERY_CONFIG) == [
        "watchlists[2].query: column 43: expected ')' after \"México\"",
        "watchlists[3].query: column 1: unknown entity @nobody (known: @cjng, @gorka)",
        "watchlists[4].entities[1]: unknown entity 'cjgn' (known: cjng, gorka)",
    ]


def test_entities_need_names_and_aliases_need_context() -> None:
    text = """
entities:
  a: {aliases: [x]}
  b: {}
watchlists:
  - {name: w, entities: [a]}
"""
    assert problems(text) == [
        "entities.a: aliases count only with context phrases; add context or move them to names",
        "entities.b: needs names or aliases",
    ]


def test_valid_queries_and_entities() -> None:
    text = QUERY_CONFIG.split("  - name: security")[0]
    settings = parse_config(text, environ={})
    assert settings.entities["gorka"].aliases == ("Gorka",)
    assert settings.watchlists[1].entities == ("gorka", "cjng")
    assert settings.watchlists[0].query == "cartel* NOT (OPEC OR oil)"


def test_poll_interval_outside_the_adaptive_bounds_is_an_error() -> None:
    assert problems("poll: {interval: 20s}\n") == [
        "poll.interval: 20s is outside min_interval 5m .. max_interval 1d; "
        "change the bounds, or give the feeds that need it their own interval"
    ]
    assert parse_config("poll: {interval: 20s, min_interval: 10s}\n", environ={}).poll.interval == 20


def alias_bomb(levels: int = 7) -> str:
    """Billion laughs: each level lists the previous one nine times (9**8 leaves at 7)."""
    names = "abcdefghij"
    lines = [f"{names[0]}: &{names[0]} [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"{names[i]}: &{names[i]} [" + ", ".join([f"*{names[i - 1]}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_its_line_quickly_and_in_little_memory() -> None:
    import time
    import tracemalloc

    bomb = alias_bomb()
    assert len(bomb) < 500
    tracemalloc.start()
    cpu = time.process_time()
    try:
        lines = problems(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The 10,000th copied node is reached at the first alias of line 5.
    assert lines == [
        (
            "config.yaml: line 5, column 8: too many alias expansions "
            "(aliases would copy more than 10,000 nodes; an alias bomb?)"
        )
    ]
    assert time.process_time() - cpu < 2  # expanded, it takes tens of seconds
    assert peak < 5_000_000  # and hundreds of MB


def test_aliases_that_share_a_channel_list_still_load() -> None:
    watchlists = "".join(f"  - {{name: w{i}, keywords: [k{i}], channels: *desk}}\n" for i in range(200))
    text = f"""
channels:
  email: {{urls: ["mailto://u:p@example.org"]}}
  slack: {{urls: ["https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"]}}
watchlists:
  - name: first
    keywords: &words [cartel, cártel, CJNG]
    channels: &desk [email, slack]
  - {{name: second, keywords: *words, channels: *desk}}
{watchlists}"""
    settings = parse_config(text, environ={})
    assert settings.watchlists[1].keywords == settings.watchlists[0].keywords
    assert all(w.channels == ("email", "slack") for w in settings.watchlists)


def test_alias_inside_the_node_it_names_is_refused() -> None:
    assert problems("feeds: &f [*f]\n") == ["config.yaml: line 1, column 12: alias *f inside the node it names"]


def test_yaml_nested_deeper_than_50_levels_is_refused() -> None:
    assert problems("poll: " + "[" * 1000 + "]" * 1000 + "\n") == [
        "config.yaml: line 1, column 56: nested too deeply (more than 50 levels)"
    ]


def test_a_config_file_over_2_mb_is_not_read(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# padding\n" * 210_000)  # 2.1 MB
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: larger than 2 MB: not read (the limit for a config file)"]
    assert problems("x: " + "a" * 2_200_000) == ["config.yaml: larger than 2 MB: not read (the limit for a config file)"]


def test_query_nested_too_deeply_is_a_located_problem() -> None:
    text = "watchlists:\n  - name: w\n    query: '" + "(" * 200 + "a" + ")" * 200 + "'\n"
    assert problems(text) == ["watchlists[0].query: column 51: nested too deeply (more than 50 levels)"]
