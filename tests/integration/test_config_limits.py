"""Config files that would blow up the loader, through the real entry point:
an alias bomb and a deeply nested query exit 2 with a located problem, fast;
aliases used as intended still load."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `python -m monitor ARGS`; the result and the CPU seconds it used."""
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, cpu


def alias_bomb() -> str:
    """Billion laughs: each line lists the previous anchor nine times (4.8 million nodes at h)."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_exits_2_with_its_line_quickly(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(alias_bomb())
    for command in ("check", "run"):
        result, cpu = run_cli(command, "--config", str(config))
        assert result.returncode == 2, result.stderr
        assert (
            f"  {config}: line 5, column 8: too many alias expansions "
            "(aliases would copy more than 10,000 nodes; an alias bomb?)\n"
        ) in result.stderr
        assert "Traceback" not in result.stderr
        # Starting Python and importing monitor is about a second; expanding
        # the bomb took tens of seconds and hundreds of MB.
        assert cpu < 10, cpu


def test_deeply_nested_query_exits_2_with_its_column(tmp_path: Path) -> None:
    query = "(" * 200 + "cartel" + ")" * 200
    config = tmp_path / "config.yaml"
    config.write_text(f"database: sqlite:///{tmp_path}/m.db\nwatchlists:\n  - name: w\n    query: '{query}'\n")
    result, _ = run_cli("check", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert "  watchlists[0].query: column 51: nested too deeply (more than 50 levels)\n" in result.stderr
    assert "Traceback" not in result.stderr

    result, _ = run_cli("test", query, "--text", "cartel")
    assert result.returncode == 2, result.stderr
    assert result.stderr == "error: query: column 51: nested too deeply (more than 50 levels)\n"


def test_aliases_for_channel_lists_still_load(tmp_path: Path) -> None:
    watchlists = "".join(f"  - {{name: w{i}, keywords: [k{i}], channels: *desk}}\n" for i in range(50))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""database: sqlite:///{tmp_path}/m.db
channels:
  a: {{urls: ["json://localhost:9/a"]}}
  b: {{urls: ["json://localhost:9/b"]}}
watchlists:
  - {{name: first, keywords: [cartel], channels: &desk [a, b]}}
{watchlists}"""
    )
    result, _ = run_cli("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "w49: 1 keywords → a, b" in result.stdout
