"""The static HTML report: segmenting overlapping spans, escaping, index order, files on disk.

The ``browser`` test renders a report in headless Chromium (skipped where ``chromium``
is not installed) to check that highlights reach the DOM and that markup inside an
article stays text.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import pytest

from framescope.inference.report import (
    assign_lanes,
    load_results,
    render_report,
    segment_text,
    write_report,
)
from framescope.model.scorer import ArticleResult, ScoredSpan, TechniqueScore
from framescope.labels.taxonomy import load_taxonomy

TAX = load_taxonomy("semeval2023")
SCRIPT = "<script>document.title='pwned';document.body.setAttribute('data-pwned','1')</script>"
IMG = "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">"


def make_result(
    id_: str, text: str, spans: list[tuple[str, int, int, float]], lang: str | None = "en"
) -> ArticleResult:
    scored = [ScoredSpan(t, TAX.category_of(t), a, b, text[a:b], c) for t, a, b, c in spans]
    techniques: dict[str, TechniqueScore] = {}
    for name in TAX.names:
        mine = [s for s in scored if s.technique == name]
        techniques[name] = TechniqueScore(max((s.confidence for s in mine), default=0.0), len(mine), 0.0)
    categories: dict[str, float] = {}
    for name, ts in techniques.items():
        cat = TAX.category_of(name)
        categories[cat] = max(categories.get(cat, 0.0), ts.score)
    overall = max((ts.score for ts in techniques.values()), default=0.0)
    return ArticleResult(id_, lang, text, scored, techniques, categories, overall, "test-model", "0.0")


def _at(text: str, needle: str) -> tuple[int, int]:
    i = text.index(needle)
    return i, i + len(needle)


def sample_results() -> list[ArticleResult]:
    t1 = "These traitors want to destroy our nation.\nOnly a fool would trust them."
    a, b = _at(t1, "traitors")
    c, d = _at(t1, "destroy our nation")
    e, f = _at(t1, "our nation")
    g, h = _at(t1, "Only a fool would trust them")
    r1 = make_result(
        "calm-1",
        t1,
        [
            ("Name_Calling-Labeling", a, b, 0.91),
            ("Loaded_Language", a, d, 0.62),  # spans "traitors ... nation", overlaps three others
            ("Appeal_to_Fear-Prejudice", c, d, 0.55),
            ("Flag_Waving", e, f, 0.40),
            ("Conversation_Killer", g, h, 0.83),
        ],
    )
    t2 = f"Breaking: {SCRIPT} and {IMG} — the corrupt elite lies again.\n\n  Indented line & ampersand."
    i, j = _at(t2, "corrupt elite")
    k, m = _at(t2, SCRIPT)
    r2 = make_result(
        f"evil-{IMG}",
        t2,
        [("Loaded_Language", i, j, 0.97), ("Doubt", k, m, 0.30), ("Whataboutism", i, j, 0.51)],
        lang="de",
    )
    r3 = make_result("quiet/../../etc", "Nothing to see here.\u2028Really.", [], lang=None)
    return [r1, r2, r3]


class _TextOf(HTMLParser):
    """Collect the text content of the element with a given id."""

    def __init__(self, element_id: str):
        super().__init__(convert_charrefs=True)
        self.element_id = element_id
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.element_id:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)

    @classmethod
    def get(cls, markup: str, element_id: str) -> str:
        p = cls(element_id)
        p.feed(markup)
        return "".join(p.parts)


def _article_page(files: dict[str, str], article_id: str) -> str:
    for rel, markup in files.items():
        if rel.startswith("articles/") and re.search(r'<h1 id="article-id">(.*?)</h1>', markup).group(1) == _esc(
            article_id
        ):
            return markup
    raise AssertionError(f"no page for {article_id!r}")


def _esc(s: str) -> str:
    from markupsafe import escape

    return str(escape(s))


# --------------------------------------------------------------------------------------
# segments
# --------------------------------------------------------------------------------------
def test_segments_split_at_every_boundary():
    text = "abcdefghij"
    spans = [
        ScoredSpan("A", "x", 0, 5, "abcde", 0.9),
        ScoredSpan("B", "x", 3, 8, "defgh", 0.8),
        ScoredSpan("C", "x", 3, 4, "d", 0.7),
    ]
    segs = segment_text(text, spans)
    assert [(s.start, s.end, s.active) for s in segs] == [
        (0, 3, [0]),
        (3, 4, [0, 1, 2]),  # outermost first: earliest start, then longest
        (4, 5, [0, 1]),
        (5, 8, [1]),
        (8, 10, []),
    ]
    assert "".join(s.text for s in segs) == text
    assert max(s.depth for s in segs) == 3


def test_segments_identical_and_adjacent_spans_and_bad_offsets():
    text = "one two three"
    spans = [
        ScoredSpan("A", "x", 4, 7, "two", 0.9),
        ScoredSpan("B", "y", 4, 7, "two", 0.5),  # same extent, different technique
        ScoredSpan("C", "x", 0, 4, "one ", 0.5),  # touches A without overlapping
        ScoredSpan("D", "x", 5, 99, "", 0.5),  # beyond the text: listed, not highlighted
        ScoredSpan("E", "x", 6, 6, "", 0.5),  # empty
    ]
    segs = segment_text(text, spans)
    assert [(s.start, s.end, s.active) for s in segs] == [(0, 4, [2]), (4, 7, [0, 1]), (7, 13, [])]
    lanes = assign_lanes(spans, text)
    assert lanes == {2: 0, 0: 0, 1: 1}  # C frees lane 0 before A starts


def test_segments_of_empty_text():
    assert segment_text("", []) == []
    assert segment_text("", [ScoredSpan("A", "x", 0, 3, "abc", 0.5)]) == []


def test_lanes_keep_a_span_on_one_lane():
    text = "x" * 20
    spans = [
        ScoredSpan("A", "x", 0, 10, "", 0.9),
        ScoredSpan("B", "x", 2, 4, "", 0.9),
        ScoredSpan("C", "x", 5, 15, "", 0.9),
        ScoredSpan("D", "x", 11, 12, "", 0.9),
    ]
    assert assign_lanes(spans, text) == {0: 0, 1: 1, 2: 1, 3: 0}  # C reuses B's lane once B ends


# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------
def test_markup_in_articles_is_escaped():
    files = render_report(sample_results())
    everything = "\n".join(files.values())
    assert "<script" not in everything.lower()
    assert "<img" not in everything.lower()
    assert 'onerror="' not in everything
    page = _article_page(files, f"evil-{IMG}")
    assert "&lt;script&gt;document.title=" in page
    assert "&lt;img src=x onerror=" in page
    # the id goes into the title, the heading and the index, escaped in each
    assert f"<title>{_esc('evil-' + IMG)} · framescope report</title>" in page
    assert _esc(f"evil-{IMG}") in files["index.html"]
    # no scripts whatever the content: the pages forbid them
    for markup in files.values():
        assert "default-src 'none'" in markup


def test_text_survives_highlighting_exactly():
    results = sample_results()
    files = render_report(results)
    for r in results:
        page = _article_page(files, r.id)
        if r.text:
            assert _TextOf.get(page, "article-text") == r.text
    page = _article_page(files, results[1].id)
    assert "\n\n  Indented line &amp; ampersand." in page  # newlines and indentation kept as-is
    assert "white-space: pre-wrap" in page


def test_overlapping_spans_are_nested_markers():
    r = sample_results()[0]
    page = _article_page(render_report([r]), r.id)
    markers = re.findall(r'<span class="hl (cat-[a-z_-]+) l(\d)[^"]*" data-span="(\d+)"', page)
    segs = segment_text(r.text, r.spans)
    assert len(markers) == sum(s.depth for s in segs)
    assert {int(m[2]) for m in markers} == set(range(len(r.spans)))
    # "traitors" carries two spans, "our nation" three: stacked markers with distinct lanes
    assert re.search(
        r'class="seg hit d2"[^>]*title="Name Calling-Labeling[^"]*\n[^"]*Loaded Language', page
    ) or re.search(r'class="seg hit d2"[^>]*title="Loaded Language[^"]*\nName Calling-Labeling', page)
    # the stretch "destroy our nation" opens with a badge for its deepest overlap (3)
    assert re.search(r'<span class="seg hit d2"[^>]*data-badge="3">(?:<span [^>]*>){2}destroy </span>', page)
    assert page.count("data-badge=") == 1
    deep = re.search(r'<span class="seg hit d3"[^>]*>((?:<span [^>]*>){3})our nation', page)
    assert deep, "a three-deep overlap"
    assert re.findall(r" l(\d)", deep.group(1)) == ["0", "1", "2"]  # three stripes, one lane each
    # confidence and technique on hover
    assert re.search(r'title="[^"]*Flag Waving · Justification · 0\.40', page)
    assert 'class="hl cat-justification l2 low"' in page  # Flag_Waving at 0.40 is dashed
    for cat in ("cat-attack_on_reputation", "cat-manipulative_wording", "cat-justification", "cat-call"):
        assert f'class="hl {cat}' in page


def test_technique_bar_chart():
    r = sample_results()[0]
    page = _article_page(render_report([r]), r.id)
    bars = re.findall(r'<span class="fill bar" data-technique="([^"]+)" style="width: ([\d.]+)%"', page)
    assert bars[0] == ("Name_Calling-Labeling", "91.0")
    assert dict(bars) == {
        "Name_Calling-Labeling": "91.0",
        "Conversation_Killer": "83.0",
        "Loaded_Language": "62.0",
        "Appeal_to_Fear-Prejudice": "55.0",
        "Flag_Waving": "40.0",
    }
    assert "18 techniques not detected" in page


def test_index_sorted_by_overall_score_and_links_hashed_pages():
    results = sample_results()
    files = render_report(results)
    index = files["index.html"]
    ids = re.findall(r'<tr class="article-row" data-id="([^"]*)" data-score="([\d.]+)"', index)
    scores = [float(s) for _, s in ids]
    assert scores == sorted(scores, reverse=True)
    assert [i for i, _ in ids] == [_esc(f"evil-{IMG}"), "calm-1", "quiet/../../etc"]
    hrefs = re.findall(r'<td class="id"><a href="([^"]+)">', index)
    assert len(hrefs) == 3 and all(re.fullmatch(r"articles/[0-9a-f]{20}\.html", h) for h in hrefs)
    assert set(hrefs) == {k for k in files if k != "index.html"}
    assert "1 / 3" in files[hrefs[0]] and 'href="../index.html"' in files[hrefs[0]]


def test_duplicate_ids_get_their_own_pages():
    r = sample_results()[0]
    files = render_report([r, r])
    assert len([k for k in files if k.startswith("articles/")]) == 2


# --------------------------------------------------------------------------------------
# loading and writing
# --------------------------------------------------------------------------------------
def _export_line(r: ArticleResult) -> dict:
    return {
        "schema_version": "1.0",
        "id": r.id,
        "lang": r.lang,
        "text": r.text,
        "model": r.model,
        "model_version": r.model_version,
        "scored_at": r.scored_at,
        "overall_score": r.overall,
        "n_spans": len(r.spans),
        "spans": [s.to_dict() for s in r.spans],
        "techniques": {
            k: {"score": v.score, "spans": v.spans, "coverage": v.coverage} for k, v in r.techniques.items()
        },
        "categories": r.categories,
    }


def test_jsonl_round_trip_and_missing_fields(tmp_path):
    results = sample_results()
    path = tmp_path / "results.jsonl"
    lines = [json.dumps(_export_line(r), ensure_ascii=False) for r in results]
    lines.append(json.dumps({"id": "bare", "spans": [{"technique": "Doubt", "start": 0, "end": 4, "confidence": 0.7}]}))
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    loaded = load_results(tmp_path)  # a folder holding results.jsonl
    assert [r.id for r in loaded] == [r.id for r in results] + ["bare"]
    assert loaded[0].spans == results[0].spans and loaded[0].text == results[0].text
    bare = loaded[-1]
    assert bare.text == "" and bare.overall == 0.7 and bare.techniques["Doubt"].score == 0.7
    files = render_report(path)
    page = _article_page(files, "bare")
    assert "carry no article text" in page and "Attack on reputation" in page


def _without_text(r: ArticleResult) -> dict:
    """The record of ``r`` as `framescope score` writes it: the text left out, its hash and length kept."""
    import hashlib

    rec = _export_line(r)
    del rec["text"]
    rec["text_sha256"] = hashlib.sha256(r.text.encode("utf-8")).hexdigest()
    rec["n_chars"] = len(r.text)
    return rec


def _journal(folder, entries: list[tuple[dict, str]]) -> None:
    """The journal a scoring run leaves in its output folder: one line per article, with its text."""
    journal = folder / ".framescope-journal"
    journal.mkdir(parents=True, exist_ok=True)
    with open(journal / "chunk-000001.jsonl", "a", encoding="utf-8") as fh:
        for k, (rec, text) in enumerate(entries):
            fh.write(json.dumps({"key": f"k{k}", "record": rec, "text": text}, ensure_ascii=False) + "\n")


def test_text_left_out_of_jsonl_comes_from_texts_or_the_run_journal(tmp_path):
    results = sample_results()[:2]
    records = [_without_text(r) for r in results]
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(json.dumps(rec, ensure_ascii=False) for rec in records) + "\n", encoding="utf-8")
    assert [r.text for r in load_results(path)] == ["", ""]
    # explicit texts; a text that does not match the record's hash is not used
    got = load_results(path, texts={results[0].id: results[0].text, results[1].id: results[1].text + "x"})
    assert [r.text for r in got] == [results[0].text, ""]
    # the Label Studio export beside results.jsonl is an export, not the run: its texts are not used
    tasks = [{"data": {"id": r.id, "text": r.text, "lang": r.lang}, "predictions": []} for r in results]
    (tmp_path / "labelstudio.json").write_text(json.dumps(tasks), encoding="utf-8")
    assert [r.text for r in load_results(tmp_path)] == ["", ""]
    # the run's journal holds them; an earlier, edited version of an article (another hash) is passed over
    _journal(tmp_path, [(records[1], results[1].text + " edited"), *zip(records, [r.text for r in results])])
    assert [r.text for r in load_results(tmp_path)] == [r.text for r in results]
    page = _article_page(render_report(path), results[0].id)
    assert _TextOf.get(page, "article-text") == results[0].text
    # a results file inside an export set (generations/<N>/, or the staging folder of a
    # run that is writing its report) finds the journal of its run two levels up
    for name in ("000003", "000004.staging"):
        inner = tmp_path / "generations" / name
        inner.mkdir(parents=True)
        (inner / "results.jsonl").write_bytes(path.read_bytes())
        assert [r.text for r in load_results(inner / "results.jsonl")] == [r.text for r in results]


def test_crlf_lines_blank_lines_and_the_line_of_a_bad_record(tmp_path):
    results = sample_results()
    path = tmp_path / "results.jsonl"
    body = "\r\n".join(json.dumps(_export_line(r)) for r in results) + "\r\n\r\n"
    path.write_bytes(body.encode("utf-8"))
    files = render_report(path)
    assert len([k for k in files if k.startswith("articles/")]) == 3
    assert _TextOf.get(_article_page(files, results[0].id), "article-text") == results[0].text
    path.write_bytes((body + '{"id": "x", "spans": [}\r\n').encode("utf-8"))
    with pytest.raises(ValueError, match=r"results\.jsonl:5: not valid JSON"):
        write_report(path, tmp_path / "never")
    assert not (tmp_path / "never").exists()


def _big_run(folder, n: int) -> None:
    """A scoring run's output folder of ``n`` articles of about 4,000 characters, texts in the journal only."""
    folder.mkdir(parents=True)
    entries = []
    for k in range(n):
        text = f"Article {k}. " + "These traitors want to destroy our nation, again and again. " * 70
        r = make_result(f"a{k}", text, [("Name_Calling-Labeling", *_at(text, "traitors"), 0.5 + k / (4 * n))])
        entries.append((_without_text(r), text))
    lines = [json.dumps(rec, ensure_ascii=False) for rec, _ in entries]
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _journal(folder, entries)


def test_report_memory_does_not_grow_with_the_number_of_articles(tmp_path):
    """Pages are rendered and written one at a time: ten times the articles, about the same peak."""
    import tracemalloc

    peaks = {}
    for n in (20, 120):
        _big_run(tmp_path / f"run{n}", n)
        tracemalloc.start()
        try:
            index = write_report(tmp_path / f"run{n}", tmp_path / f"report{n}")
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert len(list((tmp_path / f"report{n}" / "articles").iterdir())) == n
        assert index.read_text(encoding="utf-8").count('class="article-row"') == n
    # the first pass keeps well under 1 KB per article; holding the pages took over 20 KB each
    assert peaks[120] - peaks[20] < 100 * 1_000, peaks
    page = (tmp_path / "report120" / "articles").iterdir().__next__().read_text(encoding="utf-8")
    assert "These traitors want to destroy our nation" in page  # the texts came from the journal


def test_write_report_new_and_existing_folder(tmp_path):
    out = tmp_path / "nested" / "report"
    index = write_report(sample_results(), out)
    assert index == out / "index.html" and index.is_file()
    assert len(list((out / "articles").glob("*.html"))) == 3
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp folder left
    (out / "keep.txt").write_text("mine")
    index2 = write_report(sample_results()[:1], out)  # into an existing folder: per-file
    assert index2.read_text(encoding="utf-8").count('class="article-row"') == 1
    assert (out / "keep.txt").read_text() == "mine"
    assert not [p for p in out.rglob(".*")]


def test_report_command(tmp_path):
    from typer.testing import CliRunner

    from framescope.cli import _register, app

    _register()
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(json.dumps(_export_line(r)) for r in sample_results()), encoding="utf-8")
    res = CliRunner().invoke(app, ["report", str(path), "--out", str(tmp_path / "html")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "html" / "index.html").is_file()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    res = CliRunner().invoke(app, ["report", str(bad), "--out", str(tmp_path / "html2")])
    assert res.exit_code == 2 and "not valid JSON" in res.output


# --------------------------------------------------------------------------------------
# headless browser
# --------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path, chromium):
    results = sample_results()
    index = write_report(results, tmp_path / "report")
    files = render_report(results)
    evil = results[1]
    rel = next(k for k in files if k.startswith("articles/") and files[k] == _article_page(files, evil.id))
    page = index.parent / rel
    dom = chromium(page.as_uri(), "--dump-dom").stdout
    shot = tmp_path / "article.png"
    chromium(page.as_uri(), f"--screenshot={shot}", "--window-size=1280,1000")
    index_dom = chromium(index.as_uri(), "--dump-dom").stdout
    assert 'id="article-text"' in dom, dom[:2000]
    # the script neither ran nor became an element: title and body untouched, text escaped
    title = re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert html.unescape(title) == f"{evil.id} · framescope report"
    assert not re.search(r"<body[^>]*data-pwned", dom)
    assert "<script" not in dom.lower() and "<img" not in dom.lower()
    assert "&lt;script&gt;document.title='pwned'" in dom
    # highlights: one marker per (segment, covering span), every valid span present
    segs = segment_text(evil.text, evil.spans)
    markers = re.findall(r'<span class="hl (cat-[a-z_-]+)[^"]*" data-span="(\d+)"', dom)
    assert len(markers) == sum(s.depth for s in segs) > 0
    assert {int(i) for _, i in markers} == set(range(len(evil.spans)))
    assert {c for c, _ in markers} == {"cat-manipulative_wording", "cat-attack_on_reputation", "cat-distraction"}
    assert _TextOf.get(dom, "article-text") == evil.text
    # the index lists all articles, highest score first
    assert len(re.findall(r'class="article-row"', index_dom)) == 3
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_probabilities_paragraphs_and_profile_are_shown_escaped(tmp_path):
    """Schema 1.1 records: the page shows the stage's probabilities, the paragraphs' likely
    techniques (with markup in a paragraph kept as text) and the profile that made the spans."""
    from framescope.model.scorer import ParagraphResult

    text = f"Calm first line.\nSecond line {SCRIPT} with traitors."
    r = make_result("probable", text, [("Name_Calling-Labeling", *_at(text, "traitors"), 0.9)])
    r.profile = "precise"
    for name, ts in r.techniques.items():
        ts.probability = 0.87 if name == "Name_Calling-Labeling" else 0.02
    r.paragraphs = [
        ParagraphResult(0, 0, 16, {t: 0.01 for t in TAX.names}),
        ParagraphResult(1, 17, len(text), {t: (0.93 if t == "Name_Calling-Labeling" else 0.01) for t in TAX.names}),
    ]
    path = tmp_path / "results.jsonl"
    r.text_sha256 = "0" * 64
    path.write_text(json.dumps({**r.to_dict(), "text": text}) + "\n", encoding="utf-8")
    files = render_report(path)
    page = _article_page(files, "probable")
    assert 'id="probability-chart"' in page and "0.87" in page
    assert 'id="paragraph-list"' in page and "Name Calling-Labeling 0.93" in page
    assert "&lt;script&gt;" in page and "<script" not in page.lower()
    assert "profile <b>precise</b>" in page and "profile <b>precise</b>" in files["index.html"]
    # an old (1.0) record without probabilities renders without those sections
    old = make_result("old", "Plain text.", [])
    page = _article_page(render_report([old]), "old")
    assert 'id="probability-chart"' not in page and 'id="paragraph-list"' not in page
