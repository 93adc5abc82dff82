"""One offset convention for a leading byte-order mark.

The SemEval organisers' gold offsets count a leading BOM, and so do framescope's readers.
``framescope score`` therefore scores the text exactly as stored, BOM included: its spans
line up with the gold labels of the same file, and with what ``framescope evaluate``
predicts from the reader's documents.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.labels import read_documents
from framescope.model.tagger import SpanTagger

_register()
BOM = "\ufeff"
ARTICLE = (resources.files("framescope.inference") / "examples" / "de_article.txt").read_text(encoding="utf-8")


def _score_spans(model_dir: Path, article: Path, out: Path) -> list[dict]:
    result = CliRunner().invoke(
        app, ["score", str(article), "--model", str(model_dir), "--out", str(out), "-q", "--lang", "de", "-f", "jsonl"]
    )
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return record["spans"]


def _semeval_folder(root: Path, text: str, gold: list[tuple[str, int, int]]) -> Path:
    lang = root / "de"
    (lang / "train-articles-subtask-3").mkdir(parents=True)
    (lang / "train-labels-subtask-3-spans").mkdir()
    article = lang / "train-articles-subtask-3" / "article1.txt"
    article.write_bytes(text.encode("utf-8"))
    lines = "".join(f"1\t{t}\t{a}\t{b}\n" for t, a, b in gold)
    (lang / "train-labels-subtask-3-spans" / "article1-labels-subtask-3.txt").write_text(lines, encoding="utf-8")
    return article


def test_score_offsets_of_a_bom_article_match_its_semeval_gold(model_dir, tmp_path):
    text = BOM + ARTICLE
    phrase = "beispiellosem Heldenmut und unerschütterlicher Tapferkeit"
    start = text.index(phrase)
    gold = [("Loaded_Language", start, start + len(phrase))]
    article = _semeval_folder(tmp_path / "sem", text, gold)

    (doc,) = read_documents(tmp_path / "sem" / "de", "semeval2023")
    assert doc.text.startswith(BOM)  # the reader counts the BOM, as the organisers do
    assert doc.text[doc.spans[0].start : doc.spans[0].end] == phrase

    spans = _score_spans(model_dir, article, tmp_path / "out")
    assert spans, "the quickstart model should find spans in the example article"
    # every span's offsets index the same text the gold offsets index
    for s in spans:
        assert doc.text[s["start"] : s["end"]] == s["text"], s
    # and are exactly what evaluation predicts from the reader's document
    predicted = {(p.start, p.end, p.technique) for p in SpanTagger.from_pretrained(model_dir).predict([doc])[0]}
    assert {(s["start"], s["end"], s["technique"]) for s in spans} == predicted


def test_score_offsets_of_a_real_bom_semeval_article(model_dir, shared_data, tmp_path):
    """A BOM article of the SemEval-2023 release, scored and compared with its gold offsets."""
    folder = shared_data / "semeval2023" / "en" / "train-articles-subtask-3"
    bom_files = sorted(p for p in folder.glob("article*.txt") if p.read_bytes().startswith(b"\xef\xbb\xbf"))
    if not bom_files:
        pytest.skip("no BOM article in the shared SemEval data")
    article = bom_files[0]
    docs = read_documents(shared_data / "semeval2023" / "en", "semeval2023")
    (doc,) = [d for d in docs if d.source is not None and Path(d.source.path) == article]
    assert doc.text.startswith(BOM) and doc.spans
    for g in doc.spans:  # gold offsets index the text with its BOM
        assert doc.text[g.start : g.end].strip(), g

    spans = _score_spans(model_dir, article, tmp_path / "out")
    assert spans, f"the quickstart model should find spans in {article.name}"
    for s in spans:
        assert doc.text[s["start"] : s["end"]] == s["text"], s
    predicted = {(p.start, p.end, p.technique) for p in SpanTagger.from_pretrained(model_dir).predict([doc])[0]}
    assert {(s["start"], s["end"], s["technique"]) for s in spans} == predicted
