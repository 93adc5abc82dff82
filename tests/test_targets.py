"""Token targets, windows and decoding: offsets must survive the trip to tokens and back."""

from __future__ import annotations

import numpy as np
import pytest

from framescope.labels.document import Span
from framescope.labels.sample import load_sample
from framescope.model.decoding import decode_spans
from framescope.training.metrics.spans import span_prf
from framescope.model.targets import (
    IGNORE,
    merge_window_scores,
    plan_windows,
    token_targets,
    trim_offsets,
    word_offsets,
)

TECHS = ["Loaded_Language", "Name_Calling-Labeling", "Doubt"]


def roundtrip(text, offsets, spans, techniques):
    y = token_targets(offsets, spans, techniques)
    y = np.where(y == IGNORE, 0.0, y)
    return [p.as_tuple() for p in decode_spans(y, offsets, techniques, 0.5)]


def test_trim_offsets_drops_whitespace_and_empties():
    text = "a  ▁b\r\nc"
    out = trim_offsets(text, [(0, 2), (1, 3), (3, 5), (5, 7), (7, 8)])
    assert out.tolist() == [[0, 1], [3, 3], [3, 5], [7, 7], [7, 8]]


@pytest.mark.parametrize(
    "n,size,stride", [(0, 10, 2), (5, 10, 2), (10, 10, 2), (11, 10, 2), (97, 10, 3), (1000, 30, 8)]
)
def test_plan_windows_cover_every_token_and_end_flush(n, size, stride):
    wins = plan_windows(n, size, stride)
    covered = np.zeros(n, dtype=int)
    for a, b in wins:
        assert 0 <= a <= b <= n and b - a <= size
        covered[a:b] += 1
    assert (covered >= 1).all()
    assert wins[-1][1] == n
    if n > size:
        assert all(b - a == size for a, b in wins)  # full context at both edges
        assert all(wins[i][1] - wins[i + 1][0] >= stride for i in range(len(wins) - 1))


def test_article_longer_than_twenty_windows():
    wins = plan_windows(1000, 30, 8)
    assert len(wins) > 20


def test_merge_averages_where_windows_overlap_and_keeps_edges():
    wins = plan_windows(25, 10, 4)  # (0,10) (6,16) (12,22) (15,25)
    scores = [np.full((b - a, 2), float(i)) for i, (a, b) in enumerate(wins)]
    merged = merge_window_scores(25, wins, scores, 2)
    assert merged[0, 0] == 0.0  # left edge: first window only
    assert merged[-1, 0] == 3.0  # right edge: last window only
    assert merged[7, 0] == pytest.approx(0.5)  # windows 0 and 1
    assert merged[15, 0] == pytest.approx((1 + 2 + 3) / 3)


def test_two_techniques_on_the_same_tokens():
    text = "Die neonazistische Besatzer kommen."
    spans = [Span(4, 27, "Loaded_Language"), Span(4, 27, "Name_Calling-Labeling")]
    off = word_offsets(text)
    y = token_targets(off, spans, TECHS)
    assert y[1, 0] == y[1, 1] == 1 and y[2, 0] == y[2, 1] == 1
    assert sorted(roundtrip(text, off, spans, TECHS)) == sorted(
        s[:3] for s in [(4, 27, "Loaded_Language"), (4, 27, "Name_Calling-Labeling")]
    )


def test_adjacent_spans_of_one_technique_stay_apart():
    text = "Heuchler Lügner Versager"
    spans = [
        Span(0, 8, "Name_Calling-Labeling"),
        Span(9, 15, "Name_Calling-Labeling"),
        Span(16, 24, "Name_Calling-Labeling"),
    ]
    out = roundtrip(text, word_offsets(text), spans, TECHS)
    assert out == [(0, 8, "Name_Calling-Labeling"), (9, 15, "Name_Calling-Labeling"), (16, 24, "Name_Calling-Labeling")]


def test_crlf_offsets_and_span_ending_one_character_early():
    text = "Erste Zeile.\r\nDas ist lächerlich.\r\n"
    # SemEval style: the span ends one character before the end of the word
    spans = [Span(22, 31, "Loaded_Language")]
    out = roundtrip(text, word_offsets(text), spans, TECHS)
    assert out == [(22, 32, "Loaded_Language")]
    assert text[22:32] == "lächerlich"


def test_empty_article():
    off = word_offsets("")
    assert off.shape == (0, 2)
    assert roundtrip("", off, [], TECHS) == []


def test_sample_corpus_roundtrip_with_words():
    docs = load_sample()
    techs = sorted({s.technique for d in docs for s in d.spans})
    pred = [roundtrip(d.text, word_offsets(d.text), d.spans, techs) for d in docs]
    gold = [[(s.start, s.end, s.technique) for s in d.spans] for d in docs]
    assert span_prf(pred, gold)["f1"] >= 0.98


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_xlmr"])
def test_roundtrip_with_wordpiece_and_sentencepiece_offsets(fixture, request):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(request.getfixturevalue(fixture))
    docs = load_sample()
    techs = sorted({s.technique for d in docs for s in d.spans})
    pred, gold = [], []
    for d in docs:
        enc = tok(d.text, add_special_tokens=False, return_offsets_mapping=True)
        off = trim_offsets(d.text, enc["offset_mapping"])
        real = off[off[:, 1] > off[:, 0]]
        # no token may start or end on whitespace once trimmed (the XLM-R "▁" trap)
        assert all(not d.text[a].isspace() and not d.text[b - 1].isspace() for a, b in real)
        pred.append(roundtrip(d.text, off, d.spans, techs))
        gold.append([(s.start, s.end, s.technique) for s in d.spans])
    assert span_prf(pred, gold)["f1"] >= 0.98


def test_sentencepiece_lone_metaspace_and_leading_spaces(tiny_xlmr):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_xlmr)
    text = "   «Heldenmut»  und   Tapferkeit !"
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    off = trim_offsets(text, enc["offset_mapping"])
    spans = [Span(4, 13, "Loaded_Language"), Span(21, 31, "Loaded_Language")]
    out = roundtrip(text, off, spans, TECHS)
    assert [text[a:b] for a, b, _ in out] == ["Heldenmut", "Tapferkeit"]


@pytest.mark.shared
def test_gold_targets_roundtrip_on_shared_corpora_with_minilm(shared_data):
    """Decoding the gold token targets reproduces the gold spans (span F1 >= 0.98)."""
    from transformers import AutoTokenizer

    from framescope.labels.io import read_documents
    from framescope.model.transformer import resolve_base

    tok = AutoTokenizer.from_pretrained(resolve_base("minilm"))
    corpora = [(shared_data / "semeval2023", "semeval2023"), (shared_data / "ptc2020", "ptc2020")]
    figures = {}
    for path, fmt in corpora:
        docs = [d for d in read_documents(path, fmt, check=False) if d.spans]
        by_lang: dict = {}
        for d in docs:
            techs = sorted({s.technique for s in d.spans})
            enc = tok(d.text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
            off = trim_offsets(d.text, enc["offset_mapping"])
            p, g = by_lang.setdefault(f"{fmt}/{d.lang}", ([], []))
            p.append(roundtrip(d.text, off, d.spans, techs))
            g.append([(s.start, s.end, s.technique) for s in d.spans])
        for key, (p, g) in by_lang.items():
            figures[key] = span_prf(p, g)["f1"]
    print("gold-target round-trip span F1 (MiniLM tokenizer):", {k: round(v, 4) for k, v in figures.items()})
    assert figures and min(figures.values()) >= 0.98


def test_smoothing_keeps_a_flickering_span_whole():
    from framescope.model.decoding import decode_technique

    text = " ".join(["w"] * 12)
    off = word_offsets(text)
    inside = np.array([0.0, 0.0, 0.7, 0.4, 0.7, 0.45, 0.8, 0.4, 0.7, 0.0, 0.0, 0.0])
    begin = np.zeros(12)
    assert len(decode_technique(inside, begin, off, 0.5)) == 4  # shattered
    whole = decode_technique(inside, begin, off, 0.5, smoothing=3)
    assert len(whole) == 1 and off[2][0] <= whole[0][0] and whole[0][1] <= off[8][1]


def test_calibration_prefers_whole_spans_and_respects_the_length_guard():
    from framescope.training.calibration import calibrate
    from framescope.model.tagger import TokenScores

    text = " ".join(f"w{i}" for i in range(40))
    off = word_offsets(text)
    techs = ["Doubt"]
    probs = np.full((len(off), 2), 0.3)  # background noise outside the span
    probs[:, 1] = 0.0
    probs[10:20, 0] = [0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.9]  # flickering inside
    gold = [[(int(off[10][0]), int(off[19][1]), "Doubt")]]
    cal = calibrate([TokenScores(off, probs)], gold, techs, min_support=1, texts=[text])
    unsmoothed = calibrate([TokenScores(off, probs)], gold, techs, min_support=1, texts=[text], smoothing_grid=(1,))
    assert cal.smoothing["Doubt"] > 1
    assert cal.report["Doubt"]["f1"] > unsmoothed.report["Doubt"]["f1"] + 0.1
    # a model that paints everything never gets a threshold that produces paragraph-long spans
    flat = np.full((len(off), 2), 0.6)
    flat[:, 1] = 0.0
    cal = calibrate([TokenScores(off, flat)], gold, techs, min_support=1, texts=[text])
    assert cal.report["Doubt"]["source"] == "global"


def test_calibration_optimises_the_reported_paragraph_f1():
    """One paragraph rule: a span across a blank line flags the two text lines, not the blank one."""
    from framescope.training.calibration import _paragraph_f1
    from framescope.training.metrics.spans import paragraph_micro_f1, paragraph_offsets

    texts = ["One bad line.\n\nTwo good lines.\nThree.", "Solo."]
    pred = [[(0, 20, "T")], [(0, 4, "T")]]
    gold = [[(0, 12, "T"), (31, 37, "T")], []]
    reported = paragraph_micro_f1(texts, pred, gold, techniques=["T"])["f1"]
    assert _paragraph_f1([paragraph_offsets(t) for t in texts], pred, gold) == pytest.approx(reported)
    assert reported == pytest.approx(2 * 1 / (2 * 1 + 2 + 1))  # tp: line 1; fp: line 2 and "Solo."; fn: line 3
