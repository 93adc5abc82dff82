"""Decoded spans are whole words, whatever the tokenizer cut the words into."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framescope.model.decoding import decode_spans, drop_wordless, snap_to_words, word_bounds
from framescope.model.targets import trim_offsets

GERMAN = (
    "Die neonazistische Besatzer-Regierung verweigert Bundeswehrsoldaten jede Unterstützung.\n"
    "Heldenmut und Tapferkeit der Kämpfer: Durch militärische Unterstützungsleistungen wächst die Gefahr."
)


def _is_word_char(ch: str) -> bool:
    return len(word_bounds(ch)) == 1


def cuts_a_word(text: str, pos: int) -> bool:
    """True when ``pos`` lies strictly inside a word (word characters on both sides)."""
    return 0 < pos < len(text) and _is_word_char(text[pos - 1]) and _is_word_char(text[pos])


def inside_word_share(text: str, spans) -> float:
    bad = sum(cuts_a_word(text, s.start) or cuts_a_word(text, s.end) for s in spans)
    return bad / len(spans) if spans else 0.0


_ALPHABET = st.sampled_from(list("abcxyzäöüßÄKé") + ["e\u0301", "\u0915\u093f"] + list("  \n.,-'!") + ["12"])


@st.composite
def tokenized_articles(draw):
    """A text, an arbitrary cut into tokens (as any tokenizer might make) and probabilities."""
    text = "".join(draw(st.lists(_ALPHABET, min_size=1, max_size=40)))
    cuts = sorted(set(draw(st.lists(st.integers(1, max(len(text) - 1, 1)), max_size=30))) - {len(text)})
    bounds = [0, *cuts, len(text)]
    offsets = trim_offsets(text, list(zip(bounds[:-1], bounds[1:])))
    k = 2
    probs = np.array(
        draw(
            st.lists(
                st.lists(st.floats(0, 1), min_size=2 * k, max_size=2 * k), min_size=len(offsets), max_size=len(offsets)
            )
        ),
        dtype=np.float32,
    ).reshape(len(offsets), 2 * k)
    threshold = draw(st.floats(0.05, 0.95))
    smoothing = draw(st.sampled_from([1, 3]))
    return text, offsets, probs, threshold, smoothing


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(tokenized_articles())
def test_no_decoded_span_starts_or_ends_inside_a_word(article):
    text, offsets, probs, threshold, smoothing = article
    techniques = ["A", "B"]
    raw = decode_spans(probs, offsets, techniques, threshold, 0.5, smoothing)
    snapped = decode_spans(probs, offsets, techniques, threshold, 0.5, smoothing, text=text)
    for span in snapped:
        assert 0 <= span.start < span.end <= len(text)
        assert not cuts_a_word(text, span.start), (text, span)
        assert not cuts_a_word(text, span.end), (text, span)
    # snapping only widens: every raw span with a word in it stays covered by its technique
    for r in (r for r in raw if len(word_bounds(text[r.start : r.end]))):
        assert any(s.technique == r.technique and s.start <= r.start and r.end <= s.end for s in snapped)
    # and one technique's spans never overlap after snapping
    for tech in techniques:
        mine = sorted((s.start, s.end) for s in snapped if s.technique == tech)
        assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:]))


def test_snap_merges_pieces_of_one_compound_and_keeps_the_higher_confidence():
    text = "die Bundeswehrsoldaten kommen"
    words = word_bounds(text)
    # "Bundes" and "soldaten" as two fragments of one word
    got = snap_to_words([(4, 10, 0.6), (14, 22, 0.9)], words)
    assert got == [(4, 22, 0.9)]
    assert text[4:22] == "Bundeswehrsoldaten"


def test_word_bounds_keep_combining_marks_and_compounds_whole():
    assert [tuple(w) for w in word_bounds("Tapferkeit, cafe\u0301 \u0915\u093f")] == [(0, 10), (12, 17), (18, 20)]


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_xlmr"])
def test_transformer_spans_are_whole_german_words(fixture, request):
    """A random tiny tagger with a stretched head fires on arbitrary pieces of German compounds;
    its decoded spans still start and end at word boundaries, while the same scores decoded
    without the text (the old behaviour) do cut words, so the check has teeth."""
    import torch

    from framescope.labels.taxonomy import load_taxonomy
    from framescope.model.tagger import TokenScores
    from framescope.model.transformer import TransformerTagger

    torch.manual_seed(0)
    tagger = TransformerTagger.from_base(
        str(request.getfixturevalue(fixture)), load_taxonomy(), max_length=48, stride=12
    )
    with torch.no_grad():
        tagger.model.classifier.weight.mul_(40.0)
    scores = tagger.token_scores([GERMAN])[0]
    assert scores.text == GERMAN
    pieces = [GERMAN[a:b] for a, b in scores.offsets if b > a]
    assert len(pieces) > len(word_bounds(GERMAN)) + 10, (
        "the tokenizer must split the compounds for this test to mean anything"
    )
    thresholds = {t: 0.5 for t in tagger.techniques}
    spans = tagger.decode(scores, thresholds, begin_thresholds=0.5, smoothing=1)
    old = tagger.decode(TokenScores(scores.offsets, scores.probs), thresholds, begin_thresholds=0.5, smoothing=1)
    assert len(spans) >= 5
    assert inside_word_share(GERMAN, old) > 0.05
    assert inside_word_share(GERMAN, spans) == 0.0


def test_no_span_without_a_letter_or_digit():
    text = "Sie lügen !!! – 42 … wieder"
    words = word_bounds(text)
    at = {
        piece: (text.index(piece), text.index(piece) + len(piece))
        for piece in ("lügen", "!!!", "–", "42", "…", "!!! –")
    }
    spans = [(*at[p], 0.9) for p in ("lügen", "!!!", "–", "42", "…", "!!! –")]
    kept = drop_wordless(spans, words)
    assert [text[a:b] for a, b, _ in kept] == ["lügen", "42"]
    # decoding applies it: a confident run over "!!!" alone gives no span, one over "lügen !!!" does
    offsets = np.array([at["lügen"], at["!!!"], at["42"]])
    probs = np.array([[0.1, 0.0], [0.9, 0.0], [0.1, 0.0]], dtype=np.float32)
    assert decode_spans(probs, offsets, ["A"], 0.5, text=text) == []
    assert len(decode_spans(probs, offsets, ["A"], 0.5)) == 1  # without the text nothing is known of words
    probs[0, 0] = 0.9
    assert [(s.start, s.end) for s in decode_spans(probs, offsets, ["A"], 0.5, text=text)] == [
        (at["lügen"][0], at["!!!"][1])
    ]
