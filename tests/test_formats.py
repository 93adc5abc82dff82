"""Readers and writers of the annotation formats, on small synthetic fixtures.

Every fixture is made in tmp_path; nothing here comes from the research corpora.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from framescope.labels.document import Document, Location, Problem, Span
from framescope.labels.formats import detect_format, read_format, write_format
from framescope.labels.formats import brat, jsonl, labelstudio, ptc2020, semeval2023

BOM = "\ufeff"
# A BOM, CRLF line ends and non-ASCII: every one of them shifts offsets if mishandled.
TEXT_DE = BOM + "Heldenmut und Tapferkeit für die Ävölker!\r\nDie Lügenpresse schweigt.\r\nNie wieder Krieg.\r\n"
TEXT_PLAIN = "A plain article without any technique.\n"
TEXT_EN = "They will destroy us all. Only we can save the nation.\n"


def at(text: str, sub: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(sub, start + 1)
    return start, start + len(sub)


def de_spans() -> list[Span]:
    # Overlapping spans across techniques, in an order that is not sorted.
    s1 = at(TEXT_DE, "Heldenmut und Tapferkeit für die Ävölker")
    s2 = at(TEXT_DE, "Tapferkeit für die Ävölker")
    s3 = at(TEXT_DE, "Lügenpresse")
    s4 = at(TEXT_DE, "Die Lügenpresse schweigt")
    return [
        Span(*s3, "Name_Calling-Labeling"),
        Span(*s1, "Flag_Waving"),
        Span(*s2, "Loaded_Language"),
        Span(*s4, "Doubt"),
        Span(*s3, "Loaded_Language"),
    ]


def tsv(doc_id: str, spans: list[Span], nl: str = "\n", final: bool = True) -> bytes:
    lines = [f"{doc_id}\t{s.technique}\t{s.start}\t{s.end}" for s in spans]
    body = nl.join(lines) + (nl if lines and final else "")
    return body.encode("utf-8")


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def read_ok(mod, path: Path, **kw) -> list[Document]:
    problems: list[Problem] = []
    docs = mod.read(path, problems, **kw)
    assert problems == [], [str(p) for p in problems]
    return docs


def jsonl_roundtrip(docs: list[Document], tmp_path: Path) -> list[Document]:
    out = tmp_path / "roundtrip.jsonl"
    jsonl.write(docs, out)
    return read_ok(jsonl, out)


def messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


# --------------------------------------------------------------------------- SemEval-2023


@pytest.fixture
def semeval_root(tmp_path: Path) -> Path:
    root = tmp_path / "semeval2023"
    de = root / "de"
    write_bytes(de / "train-articles-subtask-3" / "article201.txt", TEXT_DE.encode("utf-8"))
    write_bytes(de / "train-labels-subtask-3-spans" / "article201-labels-subtask-3.txt", tsv("201", de_spans()))
    write_bytes(de / "train-articles-subtask-3" / "article202.txt", TEXT_PLAIN.encode("utf-8"))
    write_bytes(de / "train-labels-subtask-3-spans" / "article202-labels-subtask-3.txt", b"")
    write_bytes(de / "test-articles-subtask-3" / "article209.txt", TEXT_PLAIN.encode("utf-8"))
    en = root / "en"
    en_span = Span(*at(TEXT_EN, "destroy us all"), "Appeal_to_Fear-Prejudice")
    write_bytes(en / "train-articles-subtask-3" / "article101.txt", TEXT_EN.encode("utf-8"))
    # CRLF label lines and no final newline: reproduced as found.
    write_bytes(
        en / "train-labels-subtask-3-spans" / "article101-labels-subtask-3.txt",
        tsv("101", [en_span, Span(*at(TEXT_EN, "save the nation"), "Flag_Waving")], nl="\r\n", final=False),
    )
    write_bytes(root / "el" / "test-articles-subtask-3" / "article301.txt", "Καλημέρα κόσμε.\n".encode())
    return root


def test_semeval_reads_offsets_exactly(semeval_root: Path):
    docs = read_ok(semeval2023, semeval_root / "de")
    assert [d.id for d in docs] == ["201", "202"]
    doc = docs[0]
    assert doc.lang == "de" and doc.meta == {"split": "train"}
    assert doc.text == TEXT_DE and doc.text.startswith(BOM) and "\r\n" in doc.text
    assert doc.spans == de_spans()  # file order kept, overlaps kept
    assert [doc.span_text(s) for s in doc.spans[:3]] == [
        "Lügenpresse",
        "Heldenmut und Tapferkeit für die Ävölker",
        "Tapferkeit für die Ävölker",
    ]
    lfile = semeval_root / "de" / "train-labels-subtask-3-spans" / "article201-labels-subtask-3.txt"
    assert doc.spans[2].source == Location(str(lfile), 3)
    assert doc.source == Location(str(semeval_root / "de" / "train-articles-subtask-3" / "article201.txt"))
    assert docs[1].spans == [] and "labeled" not in docs[1].meta


def test_semeval_roundtrip_byte_for_byte(semeval_root: Path, tmp_path: Path):
    for lang in ("de", "en"):
        docs = read_ok(semeval2023, semeval_root / lang)
        again = jsonl_roundtrip(docs, tmp_path)
        assert again == docs
        out = tmp_path / "out" / lang
        semeval2023.write(again, out)
        assert tree(out) == {k: v for k, v in tree(semeval_root / lang).items() if k.startswith("train-")}
        assert read_ok(semeval2023, out) == docs


def test_semeval_root_and_splits(semeval_root: Path, tmp_path: Path):
    docs = read_ok(semeval2023, semeval_root)
    assert [(d.lang, d.id) for d in docs] == [("de", "201"), ("de", "202"), ("en", "101")]
    everything = read_ok(semeval2023, semeval_root, splits="all")
    assert {(d.lang, d.id, d.meta["split"]) for d in everything} == {
        ("de", "201", "train"),
        ("de", "202", "train"),
        ("de", "209", "test"),
        ("en", "101", "train"),
        ("el", "301", "test"),
    }
    unlabeled = [d for d in everything if d.meta["split"] == "test"]
    assert all(d.meta.get("labeled") is False and not d.spans for d in unlabeled)
    # A language folder with only unlabeled articles gives them when read on its own.
    el = read_ok(semeval2023, semeval_root / "el")
    assert [(d.id, d.lang, d.meta) for d in el] == [("301", "el", {"split": "test", "labeled": False})]
    # Several languages written to a root come back the same, and byte for byte.
    out = tmp_path / "root-out"
    semeval2023.write(jsonl_roundtrip(everything, tmp_path), out)
    assert tree(out) == tree(semeval_root)
    assert read_ok(semeval2023, out, splits="all") == everything


def test_semeval_articles_folder_only(semeval_root: Path, tmp_path: Path):
    docs = read_ok(semeval2023, semeval_root / "de" / "test-articles-subtask-3")
    assert [(d.id, d.spans, d.meta) for d in docs] == [("209", [], {"split": "test", "labeled": False})]
    out = tmp_path / "de"
    semeval2023.write(docs, out)
    assert tree(out) == {"test-articles-subtask-3/article209.txt": TEXT_PLAIN.encode("utf-8")}
    # An articles folder whose labels sit next to it reads them.
    train = read_ok(semeval2023, semeval_root / "de" / "train-articles-subtask-3")
    assert train == read_ok(semeval2023, semeval_root / "de")


def test_semeval_aggregated_labels(semeval_root: Path, tmp_path: Path):
    docs = read_ok(semeval2023, semeval_root / "de")
    folder = tmp_path / "agg" / "de"
    semeval2023.write(docs, folder)
    agg = folder / "train-labels-subtask-3.txt"
    semeval2023.write_aggregated_labels(docs, agg)
    assert agg.read_bytes() == tsv("201", de_spans())
    back = read_ok(semeval2023, agg)
    assert [(d.id, d.lang, d.text, d.spans) for d in back] == [(d.id, d.lang, d.text, d.spans) for d in docs]
    assert back[0].spans[0].source == Location(str(agg), 1)
    again = tmp_path / "agg2.txt"
    semeval2023.write_aggregated_labels(jsonl_roundtrip(back, tmp_path), again)
    assert again.read_bytes() == agg.read_bytes()


def test_semeval_problems_are_all_reported(tmp_path: Path):
    de = tmp_path / "de"
    arts, labs = de / "train-articles-subtask-3", de / "train-labels-subtask-3-spans"
    write_bytes(arts / "article1.txt", TEXT_DE.encode("utf-8"))
    write_bytes(
        labs / "article1-labels-subtask-3.txt",
        b"1\tLoaded_Language\t1\t10\n"  # fine
        b"1\tDoubt\tten\t20\n"  # non-integer offset
        b"1\tDoubt\t5\n"  # wrong column count
        b"2\tSlogans\t0\t4\n"  # ID mismatch
        b"1\tWhataboutism,Straw_Men,Red_Herring\t0\t4\n",  # commas kept
    )
    write_bytes(arts / "article2.txt", "good line\nbad \xff byte\n".encode("latin-1"))
    write_bytes(labs / "article2-labels-subtask-3.txt", b"2\tDoubt\t0\t4\n")
    write_bytes(labs / "article3-labels-subtask-3.txt", b"3\tDoubt\t0\t4\n")  # no article
    write_bytes(arts / "article4.txt", b"no label file\n")
    problems: list[Problem] = []
    docs = semeval2023.read(de, problems)
    lfile = labs / "article1-labels-subtask-3.txt"
    text = "\n".join(messages(problems))
    assert f"{lfile}:2, article 1: offsets must be integers" in text
    assert f"{lfile}:3, article 1: expected 4 tab-separated columns" in text
    assert f"{lfile}:4, article 1, offsets 0-4: ID column '2' does not match" in text
    assert f"{arts / 'article2.txt'}:2, article 2: not valid UTF-8" in text
    assert f"{labs / 'article3-labels-subtask-3.txt'}, article 3: label file without an article" in text
    assert f"{arts / 'article4.txt'}, article 4: no label file" in text
    assert len(problems) == 6
    assert [d.id for d in docs] == ["1", "4"]
    assert [s.technique for s in docs[0].spans] == ["Loaded_Language", "Whataboutism,Straw_Men,Red_Herring"]


def test_semeval_writer_is_atomic_and_refuses_bad_ids(tmp_path: Path):
    with pytest.raises(ValueError):
        semeval2023.write([Document("a/b", "x", "de")], tmp_path / "de")
    assert not (tmp_path / "de").exists() or not any((tmp_path / "de").rglob("*"))
    docs = [Document("1", "x", "de", meta={"split": "train"}), Document("1", "y", "de", meta={"split": "train"})]
    with pytest.raises(ValueError):
        semeval2023.write(docs, tmp_path / "de")


# --------------------------------------------------------------------------- PTC 2020


@pytest.fixture
def ptc_root(tmp_path: Path) -> Path:
    root = tmp_path / "ptc2020"
    write_bytes(root / "train-articles" / "article111.txt", (BOM + TEXT_EN).encode("utf-8"))
    write_bytes(root / "train-articles" / "article112.txt", TEXT_DE.encode("utf-8"))
    write_bytes(root / "train-articles" / "article113.txt", TEXT_PLAIN.encode("utf-8"))  # no spans
    en = BOM + TEXT_EN
    lines = tsv("112", de_spans()[:2]) + tsv(
        "111",
        [
            Span(*at(en, "destroy us all"), "Appeal_to_fear-prejudice"),
            Span(*at(en, "Only we"), "Whataboutism,Straw_Men,Red_Herring"),
            Span(*at(en, "destroy"), "Loaded_Language"),
        ],
    )
    write_bytes(root / "train-task-flc-tc.labels", lines)
    write_bytes(root / "dev-articles" / "article211.txt", TEXT_EN.encode("utf-8"))
    write_bytes(root / "dev-task-flc-tc.labels", tsv("211", [Span(*at(TEXT_EN, "nation"), "Flag-Waving")]))
    return root


def test_ptc_reads_train_by_default(ptc_root: Path):
    docs = read_ok(ptc2020, ptc_root)
    assert [d.id for d in docs] == ["112", "111", "113"]  # labels-file order, then unlabeled
    assert all(d.lang == "en" and d.meta == {"split": "train"} for d in docs)
    doc = docs[1]
    assert [doc.span_text(s) for s in doc.spans] == ["destroy us all", "Only we", "destroy"]
    assert doc.spans[1].technique == "Whataboutism,Straw_Men,Red_Herring"
    assert doc.spans[1].source == Location(str(ptc_root / "train-task-flc-tc.labels"), 4)
    both = read_ok(ptc2020, ptc_root, splits="all")
    assert [(d.id, d.meta["split"]) for d in both][-1] == ("211", "dev")
    dev = read_ok(ptc2020, ptc_root / "dev-task-flc-tc.labels")
    assert [(d.id, d.meta["split"], len(d.spans)) for d in dev] == [("211", "dev", 1)]


def test_ptc_roundtrip_line_for_line(ptc_root: Path, tmp_path: Path):
    docs = read_ok(ptc2020, ptc_root, splits=("train", "dev"))
    again = jsonl_roundtrip(docs, tmp_path)
    assert again == docs
    out = tmp_path / "out"
    ptc2020.write(again, out)
    assert tree(out) == tree(ptc_root)
    assert read_ok(ptc2020, out, splits="all") == docs
    # Writing to a .labels path writes that file and the inferred articles folder.
    single = tmp_path / "single" / "dev-task-flc-tc.labels"
    ptc2020.write([d for d in docs if d.meta["split"] == "dev"], single)
    assert single.read_bytes() == (ptc_root / "dev-task-flc-tc.labels").read_bytes()
    assert (single.parent / "dev-articles" / "article211.txt").read_bytes() == TEXT_EN.encode("utf-8")


def test_ptc_problems(tmp_path: Path):
    root = tmp_path / "ptc2020"
    write_bytes(root / "train-articles" / "article1.txt", TEXT_EN.encode("utf-8"))
    labels = write_bytes(
        root / "train-task-flc-tc.labels",
        b"1\tDoubt\t0\t4\n1\tDoubt\t0\tfour\n1\tDoubt\t0\t4\textra\n9\tDoubt\t0\t4\n9\tSlogans\t1\t2\n",
    )
    problems: list[Problem] = []
    docs = ptc2020.read(root, problems)
    text = "\n".join(messages(problems))
    assert f"{labels}:2, article 1: offsets must be integers" in text
    assert f"{labels}:3, article 1: expected 4 tab-separated columns" in text
    assert f"{labels}:4, article 9: 2 span line(s) for an article missing" in text
    assert len(problems) == 3 and len(docs) == 1 and len(docs[0].spans) == 1


# --------------------------------------------------------------------------- brat


@pytest.fixture
def brat_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "brat"
    write_bytes(folder / "doc1.txt", TEXT_DE.encode("utf-8"))
    a, b = at(TEXT_DE, "Heldenmut"), at(TEXT_DE, "Ävölker")
    c = at(TEXT_DE, "Lügenpresse")
    ann = (
        f"T1\tFlag_Waving {a[0]} {a[1]};{b[0]} {b[1]}\tHeldenmut Ävölker\n"
        f"T2\tName_Calling-Labeling {c[0]} {c[1]}\tLügenpresse\n"
        f"T3\tLoaded_Language {c[0]} {c[1]}\tLügenpresse\n"
        "R1\tSupports Arg1:T1 Arg2:T2\n"
        "A1\tNegated T2\n"
        "#1\tAnnotatorNotes T1\tcheck this\n"
        "E1\tEvent:T2\n"
    )
    write_bytes(folder / "doc1.ann", ann.encode("utf-8"))
    write_bytes(folder / "sub" / "doc2.txt", TEXT_PLAIN.encode("utf-8"))
    write_bytes(folder / "sub" / "doc2.ann", b"")
    write_bytes(folder / "sub" / "doc2.meta.json", b'{"lang": "en", "meta": {"source": "x"}}')
    return folder


def test_brat_read_discontinuous_and_roundtrip(brat_dir: Path, tmp_path: Path):
    docs = read_ok(brat, brat_dir)
    assert [d.id for d in docs] == ["doc1", "sub/doc2"]
    doc = docs[0]
    assert doc.text == TEXT_DE and doc.lang is None
    assert [(s.technique, doc.span_text(s)) for s in doc.spans] == [
        ("Flag_Waving", "Heldenmut"),
        ("Flag_Waving", "Ävölker"),  # one Span per fragment
        ("Name_Calling-Labeling", "Lügenpresse"),
        ("Loaded_Language", "Lügenpresse"),
    ]
    assert doc.spans[2].source == Location(str(brat_dir / "doc1.ann"), 2)
    assert (docs[1].lang, docs[1].meta) == ("en", {"source": "x"})
    out = tmp_path / "out"
    brat.write(jsonl_roundtrip(docs, tmp_path), out)
    assert (out / "doc1.txt").read_bytes() == TEXT_DE.encode("utf-8")
    assert read_ok(brat, out) == docs
    assert read_ok(brat, out / "doc1.txt") == docs[:1]
    assert read_ok(brat, brat_dir, lang="de")[0].lang == "de"


def test_brat_problems(tmp_path: Path):
    folder = tmp_path / "brat"
    write_bytes(folder / "a.txt", TEXT_EN.encode("utf-8"))
    ann = write_bytes(
        folder / "a.ann",
        b"T1\tDoubt 0 4\tThey\n"
        b"T2\tDoubt 0 4\tThem\n"  # text mismatch
        b"T3\tDoubt 0 x\tThey\n"  # bad offset
        b"T4\tDoubt 0 4\n"  # missing text column
        b"T5\tDoubt 0 999\tThey\n",  # past the end
    )
    write_bytes(folder / "b.ann", b"T1\tDoubt 0 1\tx\n")  # no .txt
    write_bytes(folder / "c.txt", b"\xff\xfe")
    write_bytes(folder / "c.ann", b"")
    problems: list[Problem] = []
    docs = brat.read(folder, problems)
    text = "\n".join(messages(problems))
    assert f"{ann}:2, article a, offsets 0-4: T2: text column 'Them' differs" in text
    assert f"{ann}:3, article a: T3: offsets must be" in text
    assert f"{ann}:4, article a: a text-bound annotation needs 3" in text
    assert f"{ann}:5, article a, offsets 0-999: T5: offsets outside the text" in text
    assert f"{folder / 'b.ann'}, article b: no text file" in text
    assert f"{folder / 'c.txt'}:1, article c: not valid UTF-8" in text
    assert len(problems) == 6
    assert [(d.id, len(d.spans)) for d in docs] == [("a", 1)]


# --------------------------------------------------------------------------- Label Studio


def ls_export() -> list[dict]:
    t = TEXT_DE
    a, b = at(t, "Heldenmut und Tapferkeit"), at(t, "Lügenpresse")
    return [
        {
            "id": 41,
            "data": {"text": t},
            "annotations": [
                {
                    "id": 1,
                    "was_cancelled": True,
                    "result": [{"type": "labels", "value": {"start": 0, "end": 3, "text": t[:3], "labels": ["Doubt"]}}],
                },
                {
                    "id": 2,
                    "was_cancelled": False,
                    "result": [
                        {
                            "id": "r1",
                            "type": "labels",
                            "from_name": "label",
                            "to_name": "text",
                            "value": {
                                "start": a[0],
                                "end": a[1],
                                "text": t[a[0] : a[1]],
                                "labels": ["Flag_Waving", "Loaded_Language"],
                            },
                        },
                        {"id": "r2", "type": "choices", "value": {"choices": ["ok"]}},
                        {
                            "id": "r3",
                            "type": "labels",
                            "value": {"start": b[0], "end": b[1], "text": "Luegenpresse", "labels": ["Doubt"]},
                        },
                        {
                            "id": "r4",
                            "type": "labels",
                            "value": {
                                "start": b[0],
                                "end": b[1],
                                "text": t[b[0] : b[1]],
                                "labels": ["Name_Calling-Labeling"],
                            },
                        },
                    ],
                },
                {"id": 3, "result": [{"type": "labels", "value": {"start": 0, "end": 1, "labels": ["Slogans"]}}]},
            ],
        },
        {"id": 42, "data": {"article": TEXT_PLAIN}, "annotations": [{"was_cancelled": True, "result": []}]},
    ]


def test_labelstudio_read(tmp_path: Path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(ls_export(), ensure_ascii=False, indent=2), encoding="utf-8")
    problems: list[Problem] = []
    docs = labelstudio.read(path, problems)
    assert [d.id for d in docs] == ["41", "42"]
    d = docs[0]
    a, b = at(TEXT_DE, "Heldenmut und Tapferkeit"), at(TEXT_DE, "Lügenpresse")
    assert d.text == TEXT_DE
    assert d.spans == [Span(*a, "Flag_Waving"), Span(*a, "Loaded_Language"), Span(*b, "Name_Calling-Labeling")]
    assert d.spans[0].source == Location(str(path), 2)
    assert docs[1].text == TEXT_PLAIN and docs[1].meta == {"labeled": False}
    assert messages(problems) == [
        f"{path}:2, article 41, offsets {b[0]}-{b[1]}: task #0 (id 41), result #2: value.text "
        f"'Luegenpresse' differs from the text at these offsets 'Lügenpresse'"
    ]


def test_labelstudio_roundtrip_and_predictions(tmp_path: Path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(ls_export()), encoding="utf-8")
    docs = labelstudio.read(path, [])
    docs[0].lang = "de"
    docs[0].meta["split"] = "train"
    out = tmp_path / "out.json"
    labelstudio.write(jsonl_roundtrip(docs, tmp_path), out)
    assert read_ok(labelstudio, out) == docs
    pred = tmp_path / "pred.json"
    scores = {("41", docs[0].spans[0].start, docs[0].spans[0].end, "Flag_Waving"): 0.9}
    labelstudio.write_predictions(docs, pred, model_version="m1", scores=scores)
    tasks = json.loads(pred.read_text(encoding="utf-8"))
    assert tasks[0]["data"] == {"text": TEXT_DE, "id": "41", "lang": "de"}
    p = tasks[0]["predictions"][0]
    assert p["model_version"] == "m1" and p["score"] == pytest.approx(0.9)
    r = p["result"][0]
    assert (r["from_name"], r["to_name"], r["type"]) == ("label", "text", "labels")
    assert r["value"]["labels"] == ["Flag_Waving"] and r["score"] == 0.9 and "score" not in p["result"][1]
    assert r["value"]["text"] == TEXT_DE[r["value"]["start"] : r["value"]["end"]]
    assert len({x["id"] for t in tasks for x in t["predictions"][0]["result"]}) == 3
    # Pre-annotations read back as spans when asked to.
    assert [s for s in labelstudio.read(pred, [], use_predictions=True)[0].spans] == docs[0].spans
    write_format(docs, tmp_path / "via-registry.json", "labelstudio-predictions")
    assert json.loads((tmp_path / "via-registry.json").read_text(encoding="utf-8"))[0]["predictions"]


def test_labelstudio_config():
    xml = labelstudio.labeling_config(["Doubt", "Whataboutism,Straw_Men,Red_Herring", 'A"B'])
    root = ET.fromstring(xml)
    labels = root.find("Labels")
    assert labels.get("name") == "label" and labels.get("toName") == "text"
    assert [e.get("value") for e in labels] == ["Doubt", "Whataboutism,Straw_Men,Red_Herring", 'A"B']
    assert root.find("Text").get("value") == "$text"
    assert "<View>" in labelstudio.__doc__ and '<Text name="text" value="$text"/>' in labelstudio.__doc__


def test_labelstudio_problems(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": 1, "data": {"text": "x"}},\n {"id": 2}\n', encoding="utf-8")
    problems: list[Problem] = []
    assert labelstudio.read(bad, problems) == []
    assert messages(problems)[0].startswith(f"{bad}:3: not valid JSON")
    tasks = tmp_path / "tasks.json"
    tasks.write_text(
        json.dumps(
            [
                {"id": 1, "data": {"a": "x", "b": "y"}},
                {"id": 2},
                {
                    "id": 3,
                    "data": {"text": "abc"},
                    "annotations": [
                        {
                            "result": [
                                {"type": "labels", "value": {"start": "0", "end": 1, "labels": ["Doubt"]}},
                                {"type": "labels", "value": {"start": 0, "end": 9, "labels": ["Doubt"]}},
                            ]
                        }
                    ],
                },
            ],
            indent=1,
        ),
        encoding="utf-8",
    )
    problems = []
    docs = labelstudio.read(tasks, problems)
    text = "\n".join(messages(problems))
    assert "task #0 (id 1): data has several string fields (a, b); pass text_key" in text
    assert "task #1 (id 2): a task must be an object with a 'data' object" in text
    assert "task #2 (id 3), result #0: value.start and value.end must be integers" in text
    assert "offsets 0-9: task #2 (id 3), result #1: offsets outside the text" in text
    assert [d.id for d in docs] == ["3"]
    assert labelstudio.read(tasks, [], text_key="b")[0].text == "y"
    bin_path = write_bytes(tmp_path / "bin.json", b'[{"data": {"text": "\xff"}}]')
    problems = []
    labelstudio.read(bin_path, problems)
    assert messages(problems)[0].startswith(f"{bin_path}:1: not valid UTF-8")


# --------------------------------------------------------------------------- registry


def test_detect_format_on_each_layout(semeval_root, ptc_root, brat_dir, tmp_path: Path):
    assert detect_format(semeval_root / "de") == "semeval2023"
    assert detect_format(ptc_root) == "ptc2020"
    assert detect_format(ptc_root / "train-task-flc-tc.labels") == "ptc2020"
    assert detect_format(brat_dir) == "brat"
    assert detect_format(brat_dir / "doc1.txt") == "brat"
    ls = tmp_path / "export.json"
    ls.write_text("[]", encoding="utf-8")
    assert detect_format(ls) == "labelstudio"


@pytest.mark.parametrize("fmt", ["semeval2023", "ptc2020", "brat", "labelstudio"])
def test_registry_roundtrip(fmt, semeval_root, ptc_root, brat_dir, tmp_path: Path):
    source = {
        "semeval2023": semeval_root / "de",
        "ptc2020": ptc_root,
        "brat": brat_dir,
    }.get(fmt)
    if source is None:
        source = tmp_path / "export.json"
        source.write_text(json.dumps(ls_export()[:1]), encoding="utf-8")
    problems: list[Problem] = []
    docs = read_format(source, None, problems)
    # The Label Studio fixture carries one deliberate text mismatch.
    assert len(problems) == (1 if fmt == "labelstudio" else 0)
    target = tmp_path / ("written.json" if fmt == "labelstudio" else "written")
    write_format(docs, target, fmt)
    assert read_format(target, fmt, []) == docs
