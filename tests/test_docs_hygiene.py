"""Docs, benchmarks, package code and tests speak of the project, not of the work's history or one machine.

A reader has no use for "stop 22", "issue 12" or "this session" (cite a version, a commit or
a date instead), nor for an absolute path of the machine a figure was measured on (use
``../shared/data``, ``$FRAMESCOPE_SHARED_DATA`` or a relative folder such as ``runs/cv-cache``).
Generic examples under ``/tmp`` are fine.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: what is checked: the README, the docs, the benchmarks, the notebooks, the package code and the tests
CHECKED = [
    "README.md",
    "docs",
    "benchmarks",
    "notebooks",
    "framescope",
    "labels",
    "model",
    "training",
    "inference",
    "tests",
]
THIS_FILE = Path(__file__).resolve()
SUFFIXES = {".md", ".py", ".yaml", ".yml", ".json", ".ipynb", ".j2", ".txt", ".toml"}

HISTORY = re.compile(
    r"\bstops? \d+"  # work milestones: "stop 22", "stops 18-20"
    r"|\bthis stop\b"
    r"|\b(?:this|previous|next|last|earlier|later|same) session\b"
    r"|\bissues? #?\d+"  # "issue 12", "issue #14"
    r"|\bmilestones?\b",
    re.IGNORECASE,
)
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|Users)/")


def _checked_files() -> list[Path]:
    files: list[Path] = []
    for name in CHECKED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix in SUFFIXES
                and p != THIS_FILE
                and "__pycache__" not in p.parts
                and ".ipynb_checkpoints" not in p.parts
            ]
    return files


def _findings(pattern: re.Pattern) -> list[str]:
    found = []
    for path in _checked_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), start=1):
            m = pattern.search(line)
            if m:
                found.append(f"{path.relative_to(ROOT)}:{n}: {m.group(0)!r}")
    return found


def test_the_checked_folders_exist():
    assert len(_checked_files()) > 50  # a moved folder must not make the checks below vacuous


@pytest.mark.parametrize("pattern", [HISTORY, MACHINE_PATH], ids=["history-words", "machine-paths"])
def test_no_history_words_or_machine_paths(pattern):
    found = _findings(pattern)
    assert not found, "\n".join(found[:40])


@pytest.mark.parametrize(
    "line",
    [
        "since stop 22, the default",
        "the issue 12 targets",
        "measured in the previous session",
        "FRAMESCOPE_SHARED_DATA=/work/shared/data",
        "cd /root/runs",
    ],
)
def test_the_patterns_catch_what_they_are_meant_to(line):
    assert HISTORY.search(line) or MACHINE_PATH.search(line)


@pytest.mark.parametrize(
    "line",
    [
        "SparkSession.builder",
        "ORT session options",
        "--out /tmp/o-int8",
        "../shared/data/semeval2023",
        "runs/cv-cache/minilm",
        'stop words such as "the"',
    ],
)
def test_the_patterns_leave_ordinary_text_alone(line):
    assert not HISTORY.search(line) and not MACHINE_PATH.search(line)
