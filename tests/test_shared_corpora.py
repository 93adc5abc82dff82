"""The readers against the real research corpora in ../shared/data (skipped where absent).

The corpora are research-licensed: these tests read them in place and write copies only into
pytest's tmp_path. Override the location with FRAMESCOPE_SHARED_DATA.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from framescope.labels.document import Document, Problem
from framescope.labels.formats import jsonl, ptc2020, semeval2023
from framescope.labels.io import read_with_problems

pytestmark = pytest.mark.shared

DATA = Path(os.environ.get("FRAMESCOPE_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
SEMEVAL = DATA / "semeval2023"
PTC = DATA / "ptc2020"

if not (SEMEVAL.is_dir() or PTC.is_dir()):
    pytest.skip(f"shared corpora not found at {DATA}", allow_module_level=True)

needs_semeval = pytest.mark.skipif(not SEMEVAL.is_dir(), reason=f"no {SEMEVAL}")
needs_ptc = pytest.mark.skipif(not PTC.is_dir(), reason=f"no {PTC}")

SEMEVAL_COUNTS = {
    "de": (132, 4501),
    "en": (446, 7201),
    "fr": (158, 5595),
    "it": (227, 6027),
    "pl": (145, 2839),
    "ru": (143, 3399),
}


def assert_within_text(docs: list[Document]) -> None:
    bad = [(d.id, s.start, s.end) for d in docs for s in d.spans if not 0 <= s.start < s.end <= len(d.text)]
    assert bad == []


def files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def via_jsonl(docs: list[Document], tmp_path: Path) -> list[Document]:
    path = tmp_path / "corpus.jsonl"
    jsonl.write(docs, path)
    problems: list[Problem] = []
    back = jsonl.read(path, problems)
    assert problems == []
    assert back == docs
    return back


def assert_reproduced(original: Path, written: Path, names: list[str]) -> None:
    """Each original file exists in the copy: label files line for line, articles byte for byte."""
    for name in names:
        src, dst = original / name, written / name
        assert dst.is_file(), f"{name} was not written"
        a, b = src.read_bytes(), dst.read_bytes()
        if a != b:
            # Show the first differing line rather than two blobs.
            for i, (x, y) in enumerate(zip(a.split(b"\n"), b.split(b"\n")), start=1):
                assert x == y, f"{name}:{i} differs"
            assert a == b, f"{name}: different length or final newline"


@needs_semeval
@pytest.mark.parametrize("lang", sorted(SEMEVAL_COUNTS))
def test_semeval_language_counts(lang: str):
    folder = SEMEVAL / lang
    if not folder.is_dir():
        pytest.skip(f"no {folder}")
    docs, problems = read_with_problems(folder, "semeval2023", check=False)
    assert [str(p) for p in problems] == []
    n_articles, n_spans = SEMEVAL_COUNTS[lang]
    assert len(docs) == n_articles
    assert sum(len(d.spans) for d in docs) == n_spans
    assert {d.lang for d in docs} == {lang}
    assert_within_text(docs)


@needs_ptc
def test_ptc_counts():
    docs, problems = read_with_problems(PTC, "ptc2020", check=False)
    assert [str(p) for p in problems] == []
    assert len(docs) == 371 and sum(len(d.spans) for d in docs) == 6129
    assert_within_text(docs)
    problems = []
    dev = ptc2020.read(PTC / "dev-task-flc-tc.labels", problems)
    assert problems == [] and len(dev) == 75
    assert_within_text(dev)
    # Merged PTC classes stay whole.
    assert any("," in s.technique for d in docs for s in d.spans)


@pytest.mark.slow
@needs_semeval
def test_semeval_roundtrip_line_for_line(tmp_path: Path):
    problems: list[Problem] = []
    docs = semeval2023.read(SEMEVAL, problems, splits="all")  # labeled and unlabeled splits
    assert problems == []
    out = tmp_path / "semeval2023"
    semeval2023.write(via_jsonl(docs, tmp_path), out)
    original = files(SEMEVAL)
    relevant = [n for n in original if n.endswith(".txt")]
    assert_reproduced(SEMEVAL, out, relevant)
    assert sorted(files(out)) == sorted(relevant)


@pytest.mark.slow
@needs_ptc
def test_ptc_roundtrip_line_for_line(tmp_path: Path):
    problems: list[Problem] = []
    docs = ptc2020.read(PTC, problems, splits="all")
    assert problems == []
    assert {d.meta["split"] for d in docs} == {"train", "dev"}
    out = tmp_path / "ptc2020"
    ptc2020.write(via_jsonl(docs, tmp_path), out)
    original = files(PTC)
    relevant = [n for n in original if n.endswith((".txt", ".labels"))]
    assert_reproduced(PTC, out, relevant)
    assert sorted(files(out)) == sorted(relevant)
