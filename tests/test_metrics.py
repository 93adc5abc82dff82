"""Tests for framescope.training.metrics: hand-computed cases, properties, evaluate modules."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time

import pytest

from framescope.training.metrics import (
    METRIC_NAMES,
    METRICS_DIR,
    load_metric,
    merge_intervals,
    paragraph_micro_f1,
    paragraph_offsets,
    span_identification_prf,
    span_lengths,
    span_prf,
    token_seqeval,
)

approx = pytest.approx


# ----------------------------------------------------------------------------- helpers


def brute_force_prf(preds, golds):
    """Literal O(n*m) implementation of the capped formula, as the reference."""
    p_credit = g_credit = 0.0
    n_pred = n_gold = 0
    for pdoc, gdoc in zip(preds, golds):
        n_pred += len(pdoc)
        n_gold += len(gdoc)
        for s0, s1, st in pdoc:
            c = sum(max(0, min(s1, t1) - max(s0, t0)) / (s1 - s0) for t0, t1, tt in gdoc if tt == st)
            p_credit += min(1.0, c)
        for t0, t1, tt in gdoc:
            c = sum(max(0, min(s1, t1) - max(s0, t0)) / (t1 - t0) for s0, s1, st in pdoc if tt == st)
            g_credit += min(1.0, c)
    p = p_credit / n_pred if n_pred else 0.0
    r = g_credit / n_gold if n_gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def random_corpus(rng: random.Random, n_docs=4, max_spans=8, length=200, techs=("A", "B", "C")):
    docs = []
    for _ in range(n_docs):
        spans = []
        for _ in range(rng.randint(0, max_spans)):
            s = rng.randrange(0, length - 1)
            e = rng.randint(s + 1, min(length, s + 40))
            spans.append((s, e, rng.choice(techs)))
        docs.append(spans)
    return docs


def as_records(docs):
    return [[{"start": s, "end": e, "technique": t} for s, e, t in d] for d in docs]


# ----------------------------------------------------------------------------- span_prf


def test_exact_match_is_one():
    docs = [[(0, 10, "A"), (20, 30, "B")], [(5, 9, "A")]]
    r = span_prf(docs, docs)
    assert (r["precision"], r["recall"], r["f1"]) == (1.0, 1.0, 1.0)
    assert (r["n_pred"], r["n_gold"]) == (3, 3)
    assert r["per_technique"]["A"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n_pred": 2, "n_gold": 2}


def test_half_overlap():
    # |s ∩ t| = 5, |s| = 10, |t| = 5: P = 0.5, R = 1, F1 = 2/3
    r = span_prf([[(0, 10, "A")]], [[(5, 10, "A")]])
    assert r["precision"] == approx(0.5)
    assert r["recall"] == approx(1.0)
    assert r["f1"] == approx(2 / 3)
    # shifted by half on both sides: P = R = F1 = 0.5
    r = span_prf([[(0, 10, "A")]], [[(5, 15, "A")]])
    assert (r["precision"], r["recall"], r["f1"]) == (approx(0.5), approx(0.5), approx(0.5))


def test_different_technique_scores_zero():
    r = span_prf([[(0, 10, "A")]], [[(0, 10, "B")]])
    assert (r["precision"], r["recall"], r["f1"]) == (0.0, 0.0, 0.0)
    assert set(r["per_technique"]) == {"A", "B"}
    assert r["per_technique"]["A"]["n_pred"] == 1 and r["per_technique"]["A"]["n_gold"] == 0
    assert r["per_technique"]["B"]["n_pred"] == 0 and r["per_technique"]["B"]["n_gold"] == 1


def test_same_offsets_other_document_scores_zero():
    r = span_prf([[(0, 10, "A")], []], [[], [(0, 10, "A")]])
    assert r["f1"] == 0.0


def test_cap_on_predicted_span():
    # pred [0,10) overlaps two overlapping gold spans [0,6) and [4,10):
    # uncapped credit (official SemEval-2020 sum) = 6/10 + 6/10 = 1.2, capped to 1.
    r = span_prf([[(0, 10, "A")]], [[(0, 6, "A"), (4, 10, "A")]])
    assert r["precision"] == approx(1.0)
    assert r["recall"] == approx(1.0)  # each gold fully covered: 6/6
    # duplicated gold: uncapped precision would be 2.0
    r = span_prf([[(0, 10, "A")]], [[(0, 10, "A"), (0, 10, "A")]])
    assert r["precision"] == approx(1.0) and r["recall"] == approx(1.0)


def test_cap_on_gold_span():
    # gold [0,10) covered by two overlapping predictions: 8/10 + 8/10 = 1.6 -> 1
    r = span_prf([[(0, 8, "A"), (2, 10, "A")]], [[(0, 10, "A")]])
    assert r["recall"] == approx(1.0)
    assert r["precision"] == approx(1.0)


def test_cap_does_not_bind_for_disjoint_spans():
    # one long prediction over two disjoint gold spans: 3/10 + 2/10 = 0.5 (same as official)
    r = span_prf([[(0, 10, "A")]], [[(0, 3, "A"), (8, 10, "A")]])
    assert r["precision"] == approx(0.5)
    assert r["recall"] == approx(1.0)


def test_empty_predictions_and_empty_gold():
    r = span_prf([[], []], [[(0, 5, "A")], []])
    assert r["precision"] == 0.0 and r["recall"] == 0.0 and r["f1"] == 0.0
    assert r["n_pred"] == 0 and r["n_gold"] == 1
    r = span_prf([[(0, 5, "A")]], [[]])
    assert r["precision"] == 0.0 and r["recall"] == 0.0 and r["n_gold"] == 0
    r = span_prf([], [])
    assert r["f1"] == 0.0 and r["per_technique"] == {}


def test_micro_average_pools_techniques():
    preds = [[(0, 10, "A"), (20, 30, "B")]]
    golds = [[(0, 10, "A"), (40, 50, "B")]]
    r = span_prf(preds, golds)
    assert r["precision"] == approx(0.5) and r["recall"] == approx(0.5)
    assert r["per_technique"]["A"]["f1"] == 1.0 and r["per_technique"]["B"]["f1"] == 0.0


def test_accepts_record_and_column_layouts():
    tuples = [[(0, 10, "A"), (12, 15, "B")]]
    golds = [[(5, 10, "A")]]
    expected = span_prf(tuples, golds)
    assert span_prf(as_records(tuples), golds) == expected
    columns = [{"start": [0, 12], "end": [10, 15], "technique": ["A", "B"]}]
    assert span_prf(columns, golds) == expected


@pytest.mark.parametrize("bad", [(5, 5, "A"), (6, 5, "A"), (-1, 3, "A"), (0, 2.5, "A")])
def test_invalid_spans_raise(bad):
    with pytest.raises(ValueError):
        span_prf([[bad]], [[]])


def test_misaligned_documents_raise():
    with pytest.raises(ValueError, match="aligned"):
        span_prf([[]], [[], []])
    with pytest.raises(ValueError, match="aligned"):
        paragraph_micro_f1(["a"], [[]], [[], []])


def test_sweep_matches_brute_force():
    rng = random.Random(0)
    for _ in range(150):
        preds = random_corpus(rng)
        golds = random_corpus(rng)
        r = span_prf(preds, golds)
        p, rec, f = brute_force_prf(preds, golds)
        assert r["precision"] == approx(p) and r["recall"] == approx(rec) and r["f1"] == approx(f)


def test_f1_symmetric_under_swap():
    rng = random.Random(1)
    for _ in range(150):
        a = random_corpus(rng)
        b = random_corpus(rng)
        ab, ba = span_prf(a, b), span_prf(b, a)
        assert ab["f1"] == approx(ba["f1"])
        assert ab["precision"] == approx(ba["recall"]) and ab["recall"] == approx(ba["precision"])
        for tech in ab["per_technique"]:
            assert ab["per_technique"][tech]["f1"] == approx(ba["per_technique"][tech]["f1"])
        assert span_identification_prf(a, b)["f1"] == approx(span_identification_prf(b, a)["f1"])
        texts = ["x" * 50 + "\n" + "y" * 60 + "\r\n" + "z" * 86] * len(a)
        pab, pba = paragraph_micro_f1(texts, a, b), paragraph_micro_f1(texts, b, a)
        assert pab["f1"] == approx(pba["f1"]) and pab["macro_f1"] == approx(pba["macro_f1"])


def test_ten_thousand_spans_per_document_is_fast():
    rng = random.Random(2)
    length = 2_000_000

    def doc():
        out = []
        for _ in range(10_000):
            s = rng.randrange(0, length - 200)
            out.append((s, s + rng.randint(1, 200), rng.choice("AB")))
        return out

    preds, golds = [doc()], [doc()]
    t0 = time.perf_counter()
    r = span_prf(preds, golds)
    span_identification_prf(preds, golds)
    assert time.perf_counter() - t0 < 3.0
    assert 0.0 <= r["f1"] <= 1.0 and r["n_pred"] == 10_000


# ----------------------------------------------------------------------------- identification


def test_merge_intervals():
    assert merge_intervals([(5, 8), (0, 3), (3, 4), (7, 10), (12, 13)]) == [(0, 4), (5, 10), (12, 13)]
    assert merge_intervals([]) == []


def test_identification_merges_unions_across_techniques():
    # predictions A [0,5) and B [3,8) merge to [0,8); gold C [0,8): perfect, technique ignored
    r = span_identification_prf([[(0, 5, "A"), (3, 8, "B")]], [[(0, 8, "C")]])
    assert (r["precision"], r["recall"], r["f1"]) == (1.0, 1.0, 1.0)
    assert (r["n_pred"], r["n_gold"]) == (1, 1)
    assert "per_technique" not in r
    # touching spans merge too; gold side merged as well: [0,10) vs [0,4)+[6,10)
    r = span_identification_prf([[(0, 5, "A"), (5, 10, "B")]], [[(0, 4, "A"), (6, 10, "A")]])
    assert r["n_pred"] == 1 and r["n_gold"] == 2
    assert r["precision"] == approx(0.8) and r["recall"] == approx(1.0)
    # the technique-aware scorer sees the same case differently
    assert span_prf([[(0, 5, "A"), (5, 10, "B")]], [[(0, 4, "A"), (6, 10, "A")]])["f1"] < 1.0


# ----------------------------------------------------------------------------- paragraphs


# "Alpha beta." = [0, 11), "\r" 11, "\n" 12, "\r" 13, "\n" 14,
# "Gamma delta." = [15, 27), "\r" 27, "\n" 28, "Epsilon." = [29, 37)
CRLF_TEXT = "Alpha beta.\r\n\r\nGamma delta.\r\nEpsilon."


def test_paragraph_offsets_crlf():
    # CRLF is one line boundary, outside the paragraph; the blank line between is dropped
    assert paragraph_offsets(CRLF_TEXT) == [(0, 11), (15, 27), (29, 37)]
    assert CRLF_TEXT[0:11] == "Alpha beta."
    assert CRLF_TEXT[15:27] == "Gamma delta."
    assert CRLF_TEXT[29:37] == "Epsilon."
    assert paragraph_offsets("") == []
    assert paragraph_offsets("a\n\n  \nb\n") == [(0, 1), (6, 7)]


def test_paragraph_f1_crlf_and_span_crossing_two_lines():
    gold = [[(6, 20, "T1"), (30, 37, "T2")]]  # T1 crosses line 0 -> line 2 (over the blank line)
    pred = [
        [
            (16, 20, "T1"),  # line 2 only
            (0, 5, "T2"),  # line 0: wrong technique there
            (12, 13, "T3"),  # only the "\n" of line 0: overlaps no paragraph
            (13, 14, "T3"),  # only the "\r" of the blank line: overlaps no paragraph
        ]
    ]
    r = paragraph_micro_f1([CRLF_TEXT], pred, gold)
    # gold pairs {(0,T1),(1,T1),(2,T2)}, predicted {(1,T1),(0,T2)}, TP = 1
    assert (r["n_gold"], r["n_pred"], r["n_paragraphs"]) == (3, 2, 3)
    assert r["precision"] == approx(0.5)
    assert r["recall"] == approx(1 / 3)
    assert r["f1"] == approx(0.4)
    assert r["per_technique"]["T1"]["f1"] == approx(2 / 3)
    assert r["per_technique"]["T2"]["f1"] == 0.0
    assert set(r["per_technique"]) == {"T1", "T2"}  # T3 produced no paragraph label
    assert r["macro_f1"] == approx(1 / 3)


def test_paragraph_carriage_return_is_part_of_the_line_boundary():
    # a span on the "\r" alone (index 11) overlaps no paragraph, like one on the "\n"
    r = paragraph_micro_f1([CRLF_TEXT], [[(11, 12, "T1")]], [[(0, 3, "T1")]])
    assert r["n_pred"] == 0 and r["f1"] == 0.0


def test_paragraph_techniques_label_set():
    gold = [[(0, 3, "A"), (16, 20, "B")]]
    pred = [[(0, 3, "A"), (16, 20, "B")]]
    r = paragraph_micro_f1([CRLF_TEXT], pred, gold, techniques=["A", "Z"])
    assert r["f1"] == 1.0 and r["n_gold"] == 1  # B ignored
    assert set(r["per_technique"]) == {"A", "Z"}
    assert r["macro_f1"] == approx(0.5)  # Z has no support: counts as 0


def test_paragraph_empty_predictions():
    r = paragraph_micro_f1([CRLF_TEXT], [[]], [[(0, 3, "A")]])
    assert r["precision"] == 0.0 and r["recall"] == 0.0 and r["f1"] == 0.0
    r = paragraph_micro_f1([CRLF_TEXT], [[]], [[]])
    assert r["f1"] == 0.0 and r["macro_f1"] == 0.0


# ----------------------------------------------------------------------------- seqeval, lengths


def test_token_seqeval_toy():
    gold = [["B-X", "I-X", "O", "B-Y"], ["O", "B-X"]]
    pred = [["B-X", "I-X", "O", "O"], ["O", "B-X"]]
    r = token_seqeval(pred, gold)
    # gold chunks: X(0-1), Y(3), X(doc2) = 3; predicted X, X = 2, both correct
    assert r["precision"] == approx(1.0)
    assert r["recall"] == approx(2 / 3)
    assert r["f1"] == approx(0.8)
    assert r["accuracy"] == approx(5 / 6)


def test_token_seqeval_per_technique_sequences_and_strict():
    # multi-label layout: one plain-BIO sequence per (document, technique)
    gold = [["B", "I", "O"], ["O", "O", "B"]]
    pred = [["B", "I", "O"], ["O", "O", "O"]]
    assert token_seqeval(pred, gold)["f1"] == approx(2 / 3)
    # lenient mode accepts an I- start as a chunk, strict IOB2 does not
    lenient = token_seqeval([["I-X", "I-X"]], [["B-X", "I-X"]])
    strict = token_seqeval([["I-X", "I-X"]], [["B-X", "I-X"]], mode="strict", scheme="IOB2")
    assert lenient["f1"] == 1.0 and strict["f1"] == 0.0
    with pytest.raises(ValueError):
        token_seqeval([["O"]], [["O", "O"]])


def test_span_lengths():
    assert span_lengths([[(0, 10, "A"), (5, 7, "B")], [(0, 3, "A")]]) == approx(5.0)
    assert span_lengths([[], []]) == 0.0


# ----------------------------------------------------------------------------- evaluate modules


def test_module_folders_exist():
    for name in METRIC_NAMES:
        assert (METRICS_DIR / name / f"{name}.py").is_file()
        assert (METRICS_DIR / name / "README.md").is_file()
    with pytest.raises(ValueError):
        load_metric("no_such_metric")


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(3)
    preds, golds = random_corpus(rng, n_docs=6), random_corpus(rng, n_docs=6)
    preds[0] = []  # an empty document on one side
    texts = ["x" * 50 + "\n" + "y" * 60 + "\r\n\r\n" + "z" * 84] * 6
    return texts, preds, golds


def test_evaluate_span_f1_matches_function(corpus):
    _texts, preds, golds = corpus
    metric = load_metric("framescope_span_f1")
    assert metric.compute(predictions=as_records(preds), references=as_records(golds)) == (span_prf(preds, golds))
    # add_batch path, documents streamed in two batches
    metric.add_batch(predictions=as_records(preds[:3]), references=as_records(golds[:3]))
    metric.add_batch(predictions=as_records(preds[3:]), references=as_records(golds[3:]))
    assert metric.compute() == (span_prf(preds, golds))


def test_evaluate_span_identification_matches_function(corpus):
    _texts, preds, golds = corpus
    metric = load_metric("span_identification")
    out = metric.compute(predictions=as_records(preds), references=as_records(golds))
    assert out == (span_identification_prf(preds, golds))


def test_evaluate_paragraph_f1_matches_function(corpus):
    texts, preds, golds = corpus
    metric = load_metric("framescope_paragraph_f1")
    out = metric.compute(texts=texts, predictions=as_records(preds), references=as_records(golds))
    expected = paragraph_micro_f1(texts, preds, golds)
    assert out == (expected)
    out = metric.compute(
        texts=[CRLF_TEXT],
        predictions=as_records([[(16, 20, "T1")]]),
        references=as_records([[(6, 20, "T1")]]),
        techniques=["T1", "T2"],
    )
    assert out == (paragraph_micro_f1([CRLF_TEXT], [[(16, 20, "T1")]], [[(6, 20, "T1")]], ["T1", "T2"]))


def test_evaluate_seqeval_matches_function():
    gold = [["B-X", "I-X", "O", "B-Y"], ["O", "B-X"]]
    pred = [["B-X", "I-X", "O", "O"], ["O", "B-X"]]
    metric = load_metric("framescope_seqeval")
    assert metric.compute(predictions=pred, references=gold) == (token_seqeval(pred, gold))
    assert metric.compute(predictions=pred, references=gold, mode="strict", scheme="IOB2") == (
        token_seqeval(pred, gold, mode="strict", scheme="IOB2")
    )


@pytest.mark.slow
def test_evaluate_load_offline_in_fresh_process(tmp_path):
    """evaluate.load(<local dir>) in a new interpreter, Hub and datasets offline."""
    code = (
        "import json, evaluate\n"
        "from framescope.training.metrics import METRICS_DIR, METRIC_NAMES\n"
        "span = [[{'start': 0, 'end': 10, 'technique': 'A'}]]\n"
        "half = [[{'start': 5, 'end': 10, 'technique': 'A'}]]\n"
        "out = {}\n"
        "for name in METRIC_NAMES:\n"
        "    m = evaluate.load(str(METRICS_DIR / name))\n"
        "    if name == 'framescope_seqeval':\n"
        "        out[name] = m.compute(predictions=[['B-A', 'O']], references=[['B-A', 'O']])['f1']\n"
        "    elif name == 'framescope_paragraph_f1':\n"
        "        out[name] = m.compute(texts=['a' * 12], predictions=span, references=half)['f1']\n"
        "    else:\n"
        "        out[name] = m.compute(predictions=span, references=half)['f1']\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_EVALUATE_OFFLINE="1",
        HF_MODULES_CACHE=str(tmp_path / "modules"),  # cold module cache: nothing pre-copied
        HF_HOME=str(tmp_path / "hf_home"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["framescope_seqeval"] == 1.0
    assert out["framescope_paragraph_f1"] == 1.0
    assert math.isclose(out["framescope_span_f1"], 2 / 3)
    assert math.isclose(out["framescope_span_identification"], 2 / 3)
