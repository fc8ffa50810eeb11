"""A query whose evaluation used to explode, through the real entry point.

`monitor test` with a chain of 9 NEARs over 60 `a`s took minutes (matching
alone 38 s, and the explanation evaluates the tree again). It runs under a
generous timeout; the assertions are about the answer, not the time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHAIN = " NEAR/1 ".join(["a"] * 9)


def monitor_test(query: str, text: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "monitor", "test", query, "--text", text],
        capture_output=True, text=True, timeout=300, env=env, cwd=cwd, check=False,
    )


def test_a_chain_of_nears_over_a_run_of_one_word_matches(tmp_path: Path) -> None:
    result = monitor_test(CHAIN, " ".join(["a"] * 60), tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "MATCH: --text"
    assert lines[1] == "  ✓ NEAR/1 — closest pair 0 words apart"
    # The snippet, and a caret under each of the 60 a's: all are in a chain.
    snippet = next(i for i, line in enumerate(lines) if line.startswith("  > "))
    assert lines[snippet] == "  > " + " ".join(["a"] * 60)
    assert lines[snippet + 1] == "    " + " ".join(["^"] * 60)


def test_the_same_chain_needs_a_word_per_term(tmp_path: Path) -> None:
    result = monitor_test(CHAIN, " ".join(["a"] * 8), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "no match: --text"
