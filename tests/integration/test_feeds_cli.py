"""`monitor feeds`: health states, OPML import into config.yaml, export, and `- opml:` entries."""

from __future__ import annotations

from pathlib import Path

import yaml

from monitor.cli import main
from monitor.fetch.opml import read_opml

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Desk</title></head><body>
  <outline text="Mexico">
    <outline text="Seguridad">
      <outline type="rss" text="El Diario" xmlUrl="https://diario.example/rss.xml"/>
      <outline type="rss" text="Already there" xmlUrl="https://A.example/rss"/>
    </outline>
    <outline type="rss" text="La Gaceta" xmlUrl="https://gaceta.example/feed"/>
  </outline>
  <outline text="Evil" xmlUrl="file:///etc/passwd"/>
  <outline text="El Diario again" xmlUrl="https://diario.example/rss.xml"/>
</body></opml>
"""

CONFIG = """# my desk's config — this comment must survive an import
database: {db}
feeds:
  - name: A
    url: https://a.example/rss   # the first feed
    tags: [mexico]
watchlists:
  - {{name: cartels, keywords: [cartel]}}
"""


def test_import_adds_feeds_to_config_keeping_comments(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(db=f"sqlite:///{tmp_path}/m.db"), encoding="utf-8")
    opml = tmp_path / "desk.opml"
    opml.write_text(OPML, encoding="utf-8")
    assert main(["feeds", "import", str(opml), "--dry-run", "--config", str(config)]) == 0
    assert "2 feeds would be added" in capsys.readouterr().out
    assert "El Diario" not in config.read_text()
    assert main(["feeds", "import", str(opml), "--tag", "imported", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "added 2 feeds" in out and "skipped 3" in out
    assert "Already there: duplicate of A" in out
    assert "not an http(s) URL: file:///etc/passwd" in out
    assert "duplicate of El Diario" in out
    text = config.read_text(encoding="utf-8")
    assert "this comment must survive an import" in text and "# the first feed" in text
    feeds = yaml.safe_load(text)["feeds"]
    assert [f["name"] for f in feeds] == ["A", "El Diario", "La Gaceta"]
    assert feeds[1]["tags"] == ["Mexico", "Seguridad", "imported"]
    assert feeds[2]["tags"] == ["Mexico", "imported"]
    # Importing again adds nothing.
    assert main(["feeds", "import", str(opml), "--config", str(config)]) == 0
    assert "added 0 feeds" in capsys.readouterr().out


def test_export_round_trips(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(db=f"sqlite:///{tmp_path}/m.db"), encoding="utf-8")
    assert main(["feeds", "export", "--config", str(config)]) == 0
    result = read_opml(capsys.readouterr().out.encode())
    assert [(f.name, f.url, f.tags) for f in result.feeds] == [("A", "https://a.example/rss", ("mexico",))]


def test_config_can_name_an_opml_file(tmp_path: Path, capsys) -> None:
    (tmp_path / "desk.opml").write_text(OPML, encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(db=f"sqlite:///{tmp_path}/m.db"), encoding="utf-8")
    data = yaml.safe_load(config.read_text())
    data["feeds"].append({"opml": "desk.opml", "tags": ["opml"], "interval": "30m"})
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "feeds (3):" in out
    assert "El Diario — https://diario.example/rss.xml (every 30m)  [Mexico, Seguridad, opml]" in out
    data["feeds"].append({"opml": "nowhere.opml"})
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 2
    assert f"feeds[2].opml: cannot read {tmp_path / 'nowhere.opml'}" in capsys.readouterr().err
