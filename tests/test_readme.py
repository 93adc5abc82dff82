"""CI must install exactly as the README says: its two commands appear verbatim in .ci/run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)[:2]


def test_readme_starts_with_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head = text.split("\n## ")[0]
    assert head.count("```bash") >= 2
    setup, tests = readme_commands()
    assert "pip install torch==2.13.0" in setup and "framescope quickstart" in setup
    assert "pytest" in tests


def test_ci_runs_the_readme_commands_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in readme_commands():
        assert command in ci.splitlines(), f"{command!r} is not a line of .ci/run"
