"""`monitor test` and `monitor replay` through the real entry point."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from monitor.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE_PATH = DATA / "us-mexico-security.xml"
FIXTURE = FIXTURE_PATH.read_bytes()
ARTICLE = "Trump Administration Torn Over Strategy to Combat Mexican Cartels"
SPANISH = "Delegación mexicana llega a Washington para negociar acuerdo de seguridad"
OPEC = "OPEC+ keeps output steady as oil prices slide"

ENTITIES = {
    "gorka": {
        "names": ["Sebastian Gorka"],
        "aliases": ["Gorka"],
        "context": ["counterterrorism", "White House", "Casa Blanca"],
    }
}


def config(feed_url: str = "http://127.0.0.1:9/none.xml") -> dict:
    return {
        "feeds": [{"name": "Fixture", "url": feed_url, "tags": ["mexico"]}],
        "entities": ENTITIES,
        "watchlists": [
            {"name": "cartels", "query": "(cartel OR cartels OR cárteles) NOT (OPEC OR oil)"},
            {"name": "gorka", "entities": ["gorka"]},
            {"name": "security", "query": '"security partnership" OR "acuerdo de seguridad"'},
        ],
    }


def test_query_over_text_explains_why_not(capsys) -> None:
    code = main(["test", '"security partnership" NEAR/2 Mexico', "--text", "Mexico wants a lasting security partnership"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("no match: --text")
    assert "NEAR/2 failed: closest pair 3 words apart" in out


def test_query_over_a_feed_file_highlights_matches(capsys) -> None:
    assert main(["test", "cartel* NOT (OPEC OR oil)", "--file", str(FIXTURE_PATH)]) == 0
    out = capsys.readouterr().out
    assert f"MATCH: {ARTICLE}" in out
    assert "cartels" in underlined(out)
    assert OPEC not in out  # not shown without --all
    assert "3 of 4 matched" in out


def underlined(out: str) -> list[str]:
    """The words `monitor test` marks with ^ under a "  > snippet" line."""
    lines = out.splitlines()
    found = []
    for line, below in itertools.pairwise(lines):
        if line.startswith("  > ") and below.strip() and set(below.strip()) == {"^"}:
            found += [line[m.start() : m.end()] for m in re.finditer(r"\^+", below)]
    return found


def test_bad_query_is_a_clear_error(capsys) -> None:
    assert main(["test", '"security agreement" AND (Mexico', "--text", "x"]) == 2
    assert capsys.readouterr().err.strip() == "error: query: column 33: expected ')' after \"Mexico\""


def test_watchlist_with_entity_alias_needs_context(write_config, capsys) -> None:
    path = write_config(config())
    assert main(["test", "--config", str(path), "--watchlist", "gorka", "--text", "Gorka spoke to reporters"]) == 0
    assert capsys.readouterr().out.startswith("no match")
    assert main(["test", "--config", str(path), "-w", "gorka", "--text", "Gorka, the counterterrorism director"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MATCH [gorka]") and underlined(out) == ["Gorka"]


def test_jsonl_machine_form(write_config, tmp_path, capsys) -> None:
    path = write_config(config())
    lines = [
        {"id": "a", "title": ARTICLE, "summary": "Sebastian Gorka wants strikes"},
        {"id": 2, "content": "La Casa Blanca y el acuerdo de seguridad; Gorka habló."},
        {"id": "opec", "title": OPEC, "summary": "The oil cartel agreed"},
        {"id": "empty"},
    ]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    assert main(["test", "--config", str(path), "--jsonl", str(jsonl), "--format", "json"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["id"] for o in out] == ["a", 2, "opec", "empty"]
    assert [m["watchlist"] for m in out[0]["matches"]] == ["cartels", "gorka"]
    assert out[0]["matches"][1]["terms"] == ["@gorka"]
    assert [m["watchlist"] for m in out[1]["matches"]] == ["gorka", "security"]
    assert out[2]["matches"] == [] and out[3]["matches"] == []
    assert all(isinstance(m["score"], float) for o in out for m in o["matches"])


def test_replay_finds_hits_for_a_new_watchlist(feed_server, write_config, capsys) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    first = config(url)
    first["watchlists"] = first["watchlists"][:1]
    path = write_config(first)
    assert main(["poll", "--once", "--config", str(path)]) == 0
    capsys.readouterr()
    # A new watchlist is added; replay finds its hits in what is stored.
    path = write_config(config(url))
    assert main(["replay", "--since", "30d", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "replayed 4 articles since 30d" in out
    assert "  cartels: 0 new hits" in out  # already stored by the poll
    assert "  gorka: 2 new hits" in out
    assert "  security: 2 new hits" in out
    assert main(["replay", "--config", str(path)]) == 0
    assert "  gorka: 0 new hits" in capsys.readouterr().out
    assert main(["hits", "--format", "json", "--watchlist", "gorka", "--config", str(path)]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert {h["title"] for h in hits} == {ARTICLE, SPANISH}
    for hit in hits:  # highlights are plain text; the parts say which words matched
        assert [["".join(p["text"] for p in parts) for parts in hit["highlight_parts"]]] == [hit["highlights"]]
        assert any({"text": "Sebastian Gorka", "match": True} in parts for parts in hit["highlight_parts"])
        assert not any("**" in s for s in hit["highlights"])
    for hit in hits:
        span = hit["spans"][0]
        assert span["field"] in ("title", "text") and span["end"] > span["start"]


def test_replay_alerts_only_with_notify(feed_server, webhook_server, write_config, capsys) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    data = config(url)
    data["channels"] = {"hook": {"urls": [f"json://127.0.0.1:{webhook_server.port}/hook"]}}
    first = dict(data, watchlists=data["watchlists"][:1])
    assert main(["poll", "--once", "--config", str(write_config(first))]) == 0
    data["watchlists"][1]["channels"] = ["hook"]
    data["watchlists"][2]["channels"] = ["hook"]
    path = write_config(data)
    assert main(["replay", "--watchlist", "gorka", "--config", str(path)]) == 0
    assert webhook_server.posts == []
    capsys.readouterr()
    assert main(["replay", "--watchlist", "security", "--notify", "--config", str(path)]) == 0
    assert "alerts sent: 2, failed: 0" in capsys.readouterr().out
    titles = sorted(p.json["title"] for p in webhook_server.posts_to("/hook"))
    assert titles == sorted(f"[security] {t}" for t in (ARTICLE, SPANISH))
    # Hits stored by a replay are never alerted later, with or without --notify.
    assert main(["replay", "--notify", "--config", str(path)]) == 0
    assert len(webhook_server.posts) == 2
