"""Property-based tests (hypothesis) for every reader and for the scoring input path.

For each annotation format (``labels.formats``) and each kind of scoring input
(``inference.inputs``: ``.txt``, JSONL, CSV, stdin):

* **round trip**: documents (or records) written by the format's writer, or by a standard
  CSV/JSON writer with any quoting, read back exactly, offsets and BOMs included;
* **arbitrary bytes** never raise: a reader answers with documents and/or problems, and every
  non-blank line of a line-based file is accounted for (a document, a span or a problem
  naming that line), so nothing is skipped silently.

The number of examples per test is kept small so that the file runs in well under a minute;
``pytest tests/test_properties.py --hypothesis-show-statistics`` prints how many ran, and
``FRAMESCOPE_HYPOTHESIS_EXAMPLES=2000`` runs more.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framescope.inference.inputs import Article, Fields, InputError, iter_inputs
from framescope.labels.document import Document, Problem, Span
from framescope.labels.formats import brat, jsonl, labelstudio, ptc2020, semeval2023
from framescope.labels.io import read_with_problems
from framescope.labels.taxonomy import load_taxonomy

#: Examples per test: few by default (the suite stays fast), more with FRAMESCOPE_HYPOTHESIS_EXAMPLES=2000.
EXAMPLES = int(os.environ.get("FRAMESCOPE_HYPOTHESIS_EXAMPLES", "60"))
fast = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TECHNIQUES = load_taxonomy().names
BOM = "\ufeff"

# -- strategies ------------------------------------------------------------------------------

# Any Unicode text that UTF-8 can carry (hypothesis leaves out lone surrogates), with the
# characters that break naive readers made likely: BOM, CR, LF, tabs, quotes, NUL-free.
_tricky = st.sampled_from([BOM, "\r\n", "\r", "\n", "\t", '"', ",", "  ", "\u2028", "é", "😀"])
texts = st.lists(
    st.one_of(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12), _tricky), max_size=12
).map("".join)
nonblank_texts = texts.filter(lambda t: t.lstrip(BOM).strip() != "")
doc_ids = st.text(
    st.characters(categories=["L", "N"], max_codepoint=0x2FF) | st.sampled_from("-_ "), min_size=1, max_size=10
).filter(lambda s: s.strip() == s and s not in (".", ".."))
numeric_ids = st.integers(min_value=1, max_value=10**9).map(str)
langs = st.sampled_from([None, "de", "en", "pl"])


@st.composite
def spans_in(draw, text: str, max_spans: int = 6) -> list[Span]:
    if len(text) == 0:
        return []
    out = []
    for _ in range(draw(st.integers(0, max_spans))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        out.append(Span(start, end, draw(st.sampled_from(TECHNIQUES))))
    return out


@st.composite
def documents(draw, ids=doc_ids, text_strategy=nonblank_texts, with_lang: bool = True, max_docs: int = 4):
    n = draw(st.integers(1, max_docs))
    chosen = draw(st.lists(ids, min_size=n, max_size=n, unique_by=lambda s: s.casefold()))
    docs = []
    for doc_id in chosen:
        text = draw(text_strategy)
        docs.append(Document(doc_id, text, draw(langs) if with_lang else None, draw(spans_in(text))))
    return docs


def _key(docs, lang: bool = True):
    """What must survive a round trip: ids, exact texts, spans (as a multiset), and the language."""
    return sorted(
        (d.id, d.text, d.lang if lang else None, sorted((s.start, s.end, s.technique) for s in d.spans)) for d in docs
    )


_BASE: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _examples_folder(tmp_path_factory):
    """One folder for all examples of this module, under pytest's (self-cleaning) temp root."""
    _BASE.append(tmp_path_factory.mktemp("properties"))
    yield
    _BASE.pop()


def _tmp() -> Path:
    """A fresh folder per example (hypothesis runs a test body many times per pytest test)."""
    return Path(tempfile.mkdtemp(dir=_BASE[-1]))


# -- annotation formats: round trips ---------------------------------------------------------


@pytest.mark.slow
@fast
@given(documents())
def test_jsonl_round_trip(docs):
    path = _tmp() / "docs.jsonl"
    jsonl.write(docs, path)
    problems: list[Problem] = []
    assert _key(jsonl.read(path, problems)) == _key(docs) and problems == []


@pytest.mark.slow
@fast
@given(documents())
def test_labelstudio_round_trip(docs):
    path = _tmp() / "export.json"
    labelstudio.write(docs, path)
    problems: list[Problem] = []
    assert _key(labelstudio.read(path, problems)) == _key(docs) and problems == []


@pytest.mark.slow
@fast
@given(documents(ids=numeric_ids, with_lang=False))
def test_semeval2023_round_trip(docs):
    root = _tmp() / "xx"
    semeval2023.write(docs, root)
    problems: list[Problem] = []
    back = semeval2023.read(root, problems)
    assert problems == [] and _key(back, lang=False) == _key(docs, lang=False)


@pytest.mark.slow
@fast
@given(documents(ids=numeric_ids, with_lang=False))
def test_ptc2020_round_trip(docs):
    root = _tmp() / "ptc"
    ptc2020.write(docs, root)
    problems: list[Problem] = []
    back = ptc2020.read(root, problems)
    assert problems == [] and _key(back, lang=False) == _key(docs, lang=False)


@pytest.mark.slow
@fast
@given(documents(ids=doc_ids.map(lambda s: s.replace(" ", "_"))))
def test_brat_round_trip(docs):
    root = _tmp() / "brat"
    brat.write(docs, root)
    problems: list[Problem] = []
    assert _key(brat.read(root, problems)) == _key(docs) and problems == []


# -- annotation formats: arbitrary bytes -----------------------------------------------------

line_bytes = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\r", b"\t", b"true", b"-1", b"1.5", b'"', b"{", b"[]", b"\xff"]),
    st.builds(
        lambda i, t, a, b: f"{i}\t{t}\t{a}\t{b}".encode(),
        st.sampled_from(["1", "2", "x", ""]),
        st.sampled_from([*TECHNIQUES[:3], "Nonsense", ""]),
        st.integers(-3, 40),
        st.integers(-3, 40),
    ),
)
files_of_lines = st.lists(line_bytes, max_size=8).map(lambda ls: b"\n".join(ls))


def _lines_accounted(data: bytes, path: Path, docs: list[Document], problems: list[Problem], per_line) -> None:
    """Every non-blank line of ``path`` produced something: ``per_line(docs)`` or a problem at it."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    want = {n for n, line in enumerate(body.split(b"\n"), start=1) if line.strip()}
    got = set(per_line(docs)) | {
        p.location.line for p in problems if p.location is not None and p.location.path == str(path)
    }
    # "N span line(s) for an article missing from ...": one problem names all lines of that id
    for p in problems:
        if "span line(s) for an article missing" in p.message:
            got |= {n for n, line in enumerate(body.split(b"\n"), start=1) if line.split(b"\t")[0] == p.doc_id.encode()}
    file_level = any(
        p.location is not None and p.location.line is None and p.location.path == str(path) for p in problems
    )
    assert file_level or want <= got, (want - got, problems)


@fast
@given(files_of_lines)
def test_jsonl_arbitrary_bytes(data):
    path = _tmp() / "x.jsonl"
    path.write_bytes(data)
    problems: list[Problem] = []
    docs = jsonl.read(path, problems)
    assert all(isinstance(d.text, str) and all(type(s.start) is int for s in d.spans) for d in docs)
    _lines_accounted(data, path, docs, problems, lambda ds: [d.source.line for d in ds])


@fast
@given(st.one_of(st.binary(max_size=80), st.lists(line_bytes, max_size=5).map(lambda ls: b"[" + b",".join(ls) + b"]")))
def test_labelstudio_arbitrary_bytes(data):
    path = _tmp() / "x.json"
    path.write_bytes(data)
    docs, problems = read_with_problems(path, "labelstudio")  # what `data validate` runs
    assert docs or problems


@fast
@given(st.binary(max_size=60), files_of_lines)
def test_semeval2023_arbitrary_bytes(article, labels):
    root = _tmp() / "de"
    (root / "train-articles-subtask-3").mkdir(parents=True)
    (root / "train-labels-subtask-3-spans").mkdir()
    (root / "train-articles-subtask-3" / "article1.txt").write_bytes(article)
    lpath = root / "train-labels-subtask-3-spans" / "article1-labels-subtask-3.txt"
    lpath.write_bytes(labels)
    docs, problems = read_with_problems(root, "semeval2023")  # read and validate, as `data validate`
    assert docs or problems
    for d in docs:
        bad = [s for s in d.spans if not 0 <= s.start < s.end <= len(d.text)]
        assert all(any(p.span == (s.start, s.end) for p in problems) for s in bad), (bad, problems)
    if docs:  # the article was readable: every label line became a span or a problem
        _lines_accounted(
            labels, lpath, docs, problems, lambda ds: [s.source.line for d in ds for s in d.spans if s.source]
        )


@fast
@given(st.binary(max_size=60), files_of_lines)
def test_ptc2020_arbitrary_bytes(article, labels):
    root = _tmp() / "ptc"
    (root / "train-articles").mkdir(parents=True)
    (root / "train-articles" / "article1.txt").write_bytes(article)
    lpath = root / "train-task-flc-tc.labels"
    lpath.write_bytes(labels)
    docs, problems = read_with_problems(root, "ptc2020")
    assert docs or problems
    if docs:
        _lines_accounted(
            labels, lpath, docs, problems, lambda ds: [s.source.line for d in ds for s in d.spans if s.source]
        )


ann_lines = st.one_of(
    line_bytes,
    st.builds(
        lambda n, t, a, b, txt: f"T{n}\t{t} {a} {b}\t{txt}".encode(),
        st.integers(1, 3),
        st.sampled_from([*TECHNIQUES[:2], "Nonsense"]),
        st.integers(-1, 12),
        st.integers(-1, 12),
        st.text(max_size=6),
    ),
)


@fast
@given(st.binary(max_size=40), st.lists(ann_lines, max_size=6).map(lambda ls: b"\n".join(ls)))
def test_brat_arbitrary_bytes(text, ann):
    root = _tmp() / "brat"
    root.mkdir()
    (root / "d.txt").write_bytes(text)
    apath = root / "d.ann"
    apath.write_bytes(ann)
    docs, problems = read_with_problems(root, "brat")
    assert docs or problems
    if docs:  # text-bound lines (T...) became spans or problems; other kinds are documented as ignored
        body = ann[3:] if ann.startswith(b"\xef\xbb\xbf") else ann
        t_lines = {n for n, line in enumerate(body.split(b"\n"), start=1) if line.startswith(b"T") and line.strip()}
        got = {s.source.line for d in docs for s in d.spans if s.source} | {
            p.location.line for p in problems if p.location
        }
        assert t_lines <= got, (t_lines - got, problems)


# -- scoring inputs ---------------------------------------------------------------------------


def _items(path_or_dash: str, stdin: bytes | None = None, fields: Fields | None = None):
    items = list(
        iter_inputs([path_or_dash], detect=False, fields=fields, stdin=io.BytesIO(stdin) if stdin is not None else None)
    )
    assert all(isinstance(i, (Article, InputError)) for i in items)
    return items


@fast
@given(st.binary(max_size=200) | texts.map(lambda t: t.encode("utf-8")))
def test_txt_input_is_the_file_exactly_or_one_error(data):
    path = _tmp() / "a.txt"
    path.write_bytes(data)
    (item,) = _items(str(path))
    if isinstance(item, Article):
        assert item.text == data.decode("utf-8") and item.id == "a.txt"  # BOM and CR kept
    else:
        assert item.reason


records = st.lists(st.tuples(nonblank_texts, langs), min_size=1, max_size=6).map(
    lambda rows: [(f"id{i}", text, lang) for i, (text, lang) in enumerate(rows)]
)


@fast
@given(records)
def test_jsonl_input_round_trip(rows):
    path = _tmp() / "feed.jsonl"
    path.write_text(
        "".join(json.dumps({"id": i, "text": t, "lang": lang}) + "\n" for i, t, lang in rows), encoding="utf-8"
    )
    items = _items(str(path))
    assert [(a.id, a.text, a.lang) for a in items if isinstance(a, Article)] == rows


@fast
@given(files_of_lines)
def test_jsonl_input_arbitrary_bytes_every_line_answers(data):
    path = _tmp() / "feed.jsonl"
    path.write_bytes(data)
    items = _items(str(path))
    lines = [int(i.source.rsplit(":", 1)[1]) for i in items]
    want = [n for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]
    assert lines == want  # one article or one error per non-blank line, in order


quotings = st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])


@fast
@given(records, quotings, st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_csv_input_round_trip_any_quoting(rows, quoting, terminator, bom):
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=quoting, lineterminator=terminator)
    writer.writerow(["id", "text", "lang"])
    writer.writerows([(i, t, lang or "") for i, t, lang in rows])
    path = _tmp() / "feed.csv"
    path.write_bytes((BOM if bom else "").encode() + buf.getvalue().encode("utf-8"))
    items = _items(str(path))
    articles = [(a.id, a.text, a.lang) for a in items if isinstance(a, Article)]
    bare_cr = quoting == csv.QUOTE_MINIMAL and terminator == "\n" and any("\r" in t for _, t, _ in rows)
    if not bare_cr:
        assert articles == rows, items
    else:  # csv.writer leaves a CR unquoted when the terminator is LF: ambiguous, so refused with the line
        if articles != rows:
            assert articles == rows[: len(articles)] and isinstance(items[-1], InputError), items
            assert items[-1].reason.startswith("not valid CSV at line")


csv_cells = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
    st.sampled_from(['"', '""', '"a', 'a"', 'a"b', '"a"b', ",", "\n", "\r\n", "\r", " "]),
)


@fast
@given(st.lists(st.lists(csv_cells, min_size=1, max_size=4), min_size=1, max_size=6))
def test_csv_input_arbitrary_quoting_is_read_like_strict_csv_or_refused(rows):
    data = "\n".join(",".join(r) for r in [["id", "text"], *rows]) + "\n"
    path = _tmp() / "feed.csv"
    path.write_bytes(data.encode("utf-8"))
    items = _items(str(path))
    try:  # lines end at LF only (a CR alone is not a record separator), as the reader splits them
        reference = list(csv.reader([line + "\n" for line in data.split("\n")][:-1], strict=True))
    except csv.Error:
        reference = None
    if reference is None:  # malformed: one error naming where, as the last answer; never a merged article
        assert items and isinstance(items[-1], InputError) and items[-1].reason.startswith("not valid CSV"), items
    else:  # well-formed: one answer per non-blank record, articles exactly as strict csv reads them
        records = [r for r in reference[1:] if r and not (len(r) == 1 and not r[0].strip())]
        assert len(items) == len(records), (items, records)
        for item, rec in zip(items, records):
            if isinstance(item, Article):
                assert len(rec) == 2 and item.text == rec[1]


@fast
@given(st.binary(max_size=200) | files_of_lines)
def test_stdin_arbitrary_bytes(data):
    items = _items("-", stdin=data)
    assert items
    if len(items) == 1 and items[0].source == "stdin" and isinstance(items[0], Article):
        assert items[0].text == data.decode("utf-8")
