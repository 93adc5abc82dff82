"""The article stage's estimators, each on its own: features, the hashed TF-IDF logit, the
priors and centres per language, the offset stacker and the folder round trip."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import numpy as np
import pytest

from framescope.errors import ModelError
from framescope.model.article_stage import (
    POOLED,
    STAGE_SETTINGS,
    ArticleStage,
    HashedTfidfLogit,
    LanguageCentres,
    LanguagePrior,
    OffsetStacker,
    StackFeatures,
    StageSettings,
    Units,
    load_stage,
    save_stage,
)
from framescope.model.numeric import sigmoid
from framescope.model.stage_features import token_aggregates
from framescope.model.tagger import TokenScores
from framescope.model.targets import word_offsets


def test_stack_features_aggregate_each_units_tokens_in_the_settings_order():
    text = "alpha beta\ngamma delta"
    off = word_offsets(text)  # four words, two per line
    probs = np.array([[0.9, 0.1], [0.3, 0.2], [0.6, 0.0], [0.2, 0.8]], np.float32)  # inside channels of 1 technique
    features = StackFeatures(length_feature=True, paragraph_evidence=False, top_k=1, share_threshold=0.5)
    tokens = features.fit().token_inputs(Units([text], scores=[TokenScores(off, probs, text)]), "paragraph", 1)
    assert tokens.shape == (2, 1, 4)
    assert np.allclose(tokens[0, 0], [0.9, 0.6, 0.9, 0.5]) and np.allclose(tokens[1, 0], [0.6, 0.4, 0.6, 0.5])
    raw = features.transform("paragraph", np.array([[30.0], [-1.0]]), tokens, ["alpha beta", "gamma delta"])
    assert raw.shape == (2, 1, 6)
    assert raw[0, 0, 0] == 20.0  # logits clipped
    assert np.allclose(raw[:, 0, 1], np.log1p([10, 11]))
    assert np.array_equal(raw[:, :, 2:], tokens)


def test_the_hashed_tfidf_logit_learns_a_cue_and_keeps_only_seen_columns():
    rows = [f"the council met on day {i}" for i in range(20)] + [f"these traitors sold us {i}" for i in range(20)]
    y = np.zeros((40, 2), np.int8)
    y[20:, 0] = 1
    model = HashedTfidfLogit(n_features=2**14, ngram_range=(2, 4), C=10.0).fit(rows, y, np.array([True, False]))
    z = model.decision_function(["traitors again", "the council again"])
    assert z[0, 0] > 0 > z[1, 0]
    assert not model.coef_[1].any() and model.intercept_[1] == 0  # not active: no weights
    assert len(model.columns_) < 2**14 and np.all(np.diff(model.columns_) > 0)
    assert model.coef_.shape == (2, len(model.columns_)) == (2, len(model.idf_))
    again = HashedTfidfLogit.from_arrays(model.arrays(), 2**14, (2, 4), 10.0)
    assert np.array_equal(again.decision_function(rows), model.decision_function(rows))
    # out of fold, a unit's logit comes from models that did not see its article: less sure
    groups = np.arange(40)
    oof = model.out_of_fold(rows, y, groups, 5, np.array([True, False]))
    in_sample = model.decision_function(rows)
    assert np.mean(np.abs(oof[:, 0])) < np.mean(np.abs(in_sample[:, 0]))


def test_language_priors_pull_each_language_towards_the_pooled_share():
    y = np.array([[1]] * 10 + [[0]] * 10 + [[0]] * 20, np.int8)
    langs = ["de"] * 20 + ["en"] * 20
    shares = LanguagePrior(strength=10.0).fit(y, langs).shares_
    pooled = (10 + 0.5) / 41
    assert shares[POOLED] == [round(pooled, 6)]
    assert shares["de"][0] == pytest.approx((10 + 10 * pooled) / 30, abs=1e-6)
    assert shares["en"][0] == pytest.approx(10 * pooled / 30, abs=1e-6)
    logits = LanguagePrior.logits(shares, ["de", "en", "fr"])
    assert logits[0, 0] > logits[2, 0] > logits[1, 0]  # fr: not seen, the pooled prior


def test_language_centres_centre_each_language_on_its_own_mean():
    raw = np.array([[[1.0]], [[3.0]], [[10.0]], [[14.0]]])
    langs = ["de", "de", "en", "en"]
    centres = LanguageCentres(strength=0.0).fit(raw, langs).centres_
    assert centres == {POOLED: [[7.0]], "de": [[2.0]], "en": [[12.0]]}
    assert np.allclose((raw - LanguageCentres.rows(centres, langs))[:, 0, 0], [-1, 1, -2, 2])


def test_the_offset_stacker_learns_shared_weights_and_keeps_the_prior():
    rng = np.random.default_rng(0)
    n, k = 400, 3
    evidence = rng.normal(size=(n, k, 1))
    prior = np.tile(np.log([0.2 / 0.8, 0.5 / 0.5, 0.1 / 0.9]), (n, 1))
    y = (rng.uniform(size=(n, k)) < sigmoid(prior + 2.0 * evidence[..., 0])).astype(np.int8)
    active = np.array([True, True, False])
    stacker = OffsetStacker(C=10.0).fit(evidence, prior, y, active)
    assert 1.5 < stacker.weights_[0] < 2.5 and abs(stacker.weights_[1]) < 0.3
    prob = stacker.predict_proba(np.zeros((1, k, 1)), prior[:1], active)
    assert np.allclose(prob, sigmoid(prior[:1]), atol=0.08)  # average evidence: the prior
    prob = stacker.predict_proba(np.full((1, k, 1), 3.0), prior[:1], active)
    assert prob[0, 0] > 0.9 and prob[0, 2] == pytest.approx(0.1)  # not active: the prior alone
    oof = stacker.out_of_fold(evidence, prior, y, np.arange(n) // 4, active, 5)
    assert oof.shape == (n, k) and not np.allclose(oof[:, 0], stacker.predict_proba(evidence, prior, active)[:, 0])


def _small_stage() -> ArticleStage:
    texts, gold = [], []
    for i in range(24):
        texts.append(f"The council met.\nThese traitors {i}." if i % 2 else f"The council met.\nCalm day {i}.")
        a = texts[-1].find("traitors")
        gold.append([(a, a + 8, "Name_Calling")] if a >= 0 else [])
    settings = StageSettings(techniques=["Name_Calling"], n_features=2**10, folds=2, token_features=False)
    return ArticleStage(settings).fit(texts, gold)


def test_the_stage_folder_round_trips_and_refuses_a_damaged_centre(tmp_path):
    stage = _small_stage()
    save_stage(tmp_path, stage.settings, stage.weights)
    settings, weights = load_stage(tmp_path)
    assert json.dumps(asdict(settings), sort_keys=True) == json.dumps(asdict(stage.settings), sort_keys=True)
    for level in stage.weights:
        for name, arr in stage.weights[level].items():
            assert np.array_equal(weights[level][name], arr), (level, name)
    data = json.loads((tmp_path / STAGE_SETTINGS).read_text())
    data["centers"]["article"]["*"][0] = data["centers"]["article"]["*"][0][:-1]
    (tmp_path / STAGE_SETTINGS).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="centers.article"):
        load_stage(tmp_path)
    assert load_stage(tmp_path / "nothing-here") is None


def _brute_aggregates(scores, spans, k, top_k, share_thr):
    """The definition, written as plainly as possible: every real token starting inside the unit."""
    out = np.zeros((len(spans), k, 4))
    for r, (a, b) in enumerate(spans):
        rows = [i for i, (s, e) in enumerate(scores.offsets) if e > s and a <= s < b]
        if rows:
            x = scores.probs[rows, :k]
            top = np.sort(x, axis=0)[-top_k:]
            out[r] = np.stack([x.max(0), x.mean(0), top.mean(0), (x >= share_thr).mean(0)], axis=1)
    return out


def test_token_aggregates_follow_their_definition_for_unsorted_and_empty_tokens():
    rng = np.random.default_rng(3)
    starts = rng.integers(0, 500, size=300)
    ends = starts + rng.integers(0, 4, size=300)  # some zero-width tokens, which never count
    scores = TokenScores(np.stack([starts, ends], axis=1), rng.random((300, 6)).astype(np.float32))
    spans = [(0, 50), (50, 51), (120, 400), (450, 1000), (700, 800)]
    got = token_aggregates(scores, spans, k=3, top_k=2, share_thr=0.5)
    np.testing.assert_array_equal(got, _brute_aggregates(scores, spans, 3, 2, 0.5))


def test_token_aggregates_take_time_linear_in_the_article():
    """A 16 MB article has about 66,000 paragraphs and 4 million tokens: scanning every token
    once per paragraph (paragraphs x tokens) did not finish in 20 minutes."""
    n_par, per_par = 20_000, 10
    starts = np.arange(n_par * per_par) * 5
    scores = TokenScores(np.stack([starts, starts + 4], axis=1), np.full((len(starts), 46), 0.25, np.float32))
    spans = [(p * per_par * 5, (p + 1) * per_par * 5) for p in range(n_par)]
    t0 = time.perf_counter()
    got = token_aggregates(scores, spans, k=23, top_k=5, share_thr=0.5)
    assert time.perf_counter() - t0 < 20.0  # the scan per paragraph took over 100 s here
    assert np.all(got[:, :, 0] == np.float32(0.25)) and np.all(got[:, :, 3] == 0.0)
