"""The article/paragraph stage and the precise profile."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framescope.model.article_stage import STAGE_SETTINGS, STAGE_WEIGHTS, ArticleStage, StageSettings
from framescope.model.stage_features import unit_rows
from framescope.model.tagger import TokenScores
from framescope.model.targets import word_offsets

TECHS = ["Name_Calling", "Doubt"]


def corpus(n: int = 60, seed: int = 0, doubt: str = "The minister allegedly knew nothing about it."):
    """Articles of three lines; Name_Calling lines say "traitors", Doubt lines "allegedly"
    (or ``doubt``, whose second word is the Doubt span)."""
    rng = np.random.default_rng(seed)
    texts, gold = [], []
    for _ in range(n):
        lines, spans, pos = [], [], 0
        for _ in range(3):
            kind = rng.choice(["calm", "name", "doubt"], p=[0.6, 0.25, 0.15])
            line = {
                "calm": "The council met on Tuesday to discuss the budget.",
                "name": "These traitors in the council sold us out.",
                "doubt": doubt,
            }[kind]
            if kind == "name":
                a = pos + line.index("traitors")
                spans.append((a, a + 8, "Name_Calling"))
            if kind == "doubt":
                cue = line.split()[1]
                a = pos + line.index(cue)
                spans.append((a, a + len(cue), "Doubt"))
            lines.append(line)
            pos += len(line) + 1
        texts.append("\n".join(lines))
        gold.append(spans)
    return texts, gold


def fake_scores(texts, gold):
    """Token scores that light up inside gold spans (noisy), like a decent tagger's."""
    rng = np.random.default_rng(1)
    out = []
    for text, spans in zip(texts, gold):
        off = word_offsets(text)
        probs = rng.uniform(0, 0.2, size=(len(off), 2 * len(TECHS))).astype(np.float32)
        for s, e, t in spans:
            j = TECHS.index(t)
            hit = (off[:, 0] < e) & (off[:, 1] > s)
            probs[hit, j] = rng.uniform(0.6, 1.0, size=hit.sum())
        out.append(TokenScores(off, probs, text))
    return out


def test_stage_learns_articles_and_paragraphs_and_round_trips(tmp_path):
    texts, gold = corpus()
    scores = fake_scores(texts, gold)
    stage = ArticleStage(StageSettings(techniques=TECHS, n_features=2**12, folds=3)).fit(texts, gold, scores)
    test_texts, test_gold = corpus(20, seed=5)
    test_scores = fake_scores(test_texts, test_gold)
    preds = stage.predict(test_texts, test_scores)
    for pred, text, spans in zip(preds, test_texts, test_gold):
        has = {t for *_, t in spans}
        for t in TECHS:
            assert (pred.article[t] >= 0.5) == (t in has), (text, t, pred.article[t])
        for _, a, b, probs in pred.paragraphs:
            para_has = {t for s, e, t in spans if s < b and e > a}
            for t in TECHS:
                assert (probs[t] >= 0.5) == (t in para_has)
    stage.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([STAGE_SETTINGS, STAGE_WEIGHTS])
    json.loads((tmp_path / STAGE_SETTINGS).read_text())  # plain JSON, nothing pickled
    again = ArticleStage.from_pretrained(tmp_path).predict(test_texts, test_scores)
    assert [p.article for p in again] == [p.article for p in preds]
    assert [p.paragraphs for p in again] == [p.paragraphs for p in preds]


@pytest.mark.slow
def test_probabilities_are_calibrated_on_held_out_articles():
    """The stacker learns on out-of-fold lexical logits: among new paragraphs, the mean
    probability of a technique is close to its observed frequency (it would not be for the
    raw scores of a regularised classifier)."""
    texts, gold = corpus(120)
    stage = ArticleStage(StageSettings(techniques=TECHS, n_features=2**12, folds=3, token_features=False)).fit(
        texts, gold
    )
    test_texts, test_gold = corpus(200, seed=7)
    prob, _ = stage.predict_level(test_texts, None, "paragraph")
    y = ArticleStage.labels(test_texts, test_gold, TECHS, "paragraph")
    for j in range(len(TECHS)):
        assert abs(prob[:, j].mean() - y[:, j].mean()) < 0.05


@pytest.mark.slow
def test_a_technique_without_examples_gets_its_base_rate():
    texts, gold = corpus(30)
    stage = ArticleStage(
        StageSettings(techniques=[*TECHS, "Slogans"], n_features=2**10, folds=3, token_features=False)
    ).fit(texts, gold)
    art, _ = stage.predict_level(texts, None, "article")
    assert np.allclose(art[:, 2], art[0, 2]) and art[0, 2] < 0.05


def test_folder_without_stage_loads_as_none(tmp_path):
    assert ArticleStage.from_pretrained(tmp_path) is None


def test_precise_thresholds_reach_the_target_or_switch_off():
    from framescope.training.calibration import Calibration, precise_thresholds
    from framescope.training.metrics.spans import span_prf

    # technique A: confident tokens are right, hesitant ones wrong; B: always wrong
    text = " ".join(f"w{i}" for i in range(40))
    off = word_offsets(text)
    probs = np.zeros((len(off), 4), np.float32)
    gold = []
    for i in range(0, 40, 4):
        probs[i, 0] = 0.9  # A, right
        gold.append((int(off[i, 0]), int(off[i, 1]), "A"))
        probs[i + 2, 0] = 0.4  # A, wrong
        probs[i + 1, 1] = 0.8  # B, wrong
    scores = [TokenScores(off, probs, text)]
    cal = Calibration(thresholds={"A": 0.3, "B": 0.3}, global_threshold=0.3)
    chosen, report = precise_thresholds(scores, [gold], ["A", "B"], cal, begin_threshold=0.5, min_precision=0.9)
    assert set(chosen) == {"A"} and 0.4 < chosen["A"] <= 0.9
    assert report["B"]["switched_off"]
    from framescope.model.decoding import decode_spans

    spans = [p.as_tuple() for p in decode_spans(probs, off, ["A", "B"], {"A": chosen["A"], "B": 2.0}, 0.5, 1, text)]
    assert span_prf([spans], [gold])["precision"] == 1.0


def test_trained_folder_has_stage_and_profiles_and_scores_with_both(model_dir, tmp_path):
    """The quickstart model ships with a stage and both profiles; --profile precise exports say so
    and its spans lie inside the balanced profile's (same runs, a higher bar)."""
    from typer.testing import CliRunner

    from framescope.cli import _register, app
    from framescope.model.settings import TaggerSettings
    from framescope.model.tagger import SpanTagger

    settings = TaggerSettings.load(model_dir)
    assert settings.precise_thresholds is not None
    for tech, thr in settings.precise_thresholds.items():
        assert thr >= settings.threshold(tech)
    assert (model_dir / STAGE_WEIGHTS).exists() and not list(model_dir.glob("*.pkl"))
    text = "Diese feigen Verräter und Lügner zerstören unser Land.\nDas ist eine Schande für alle."
    tagger = SpanTagger.from_pretrained(model_dir)
    balanced = tagger.score([text])[0]
    precise = tagger.score([text], profile="precise")[0]
    assert precise.profile == "precise"
    for s in precise.spans:
        assert any(b.technique == s.technique and b.start <= s.start and s.end <= b.end for b in balanced.spans)
    assert [t.probability for t in precise.techniques.values()] == [t.probability for t in balanced.techniques.values()]

    _register()
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "score",
            "-q",
            str(tmp_path / "a.txt"),
            "--model",
            str(model_dir),
            "--out",
            str(tmp_path / "o"),
            "--profile",
            "precise",
            "-f",
            "parquet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["profile"] == "precise"
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "o" / "articles.parquet").column("profile").to_pylist() == ["precise"]
    res = runner.invoke(
        app,
        [
            "score",
            "-q",
            str(tmp_path / "a.txt"),
            "--model",
            str(model_dir),
            "--out",
            str(tmp_path / "p"),
            "--profile",
            "bogus",
        ],
    )
    assert res.exit_code == 2 and "--profile" in res.output


def test_precise_profile_refused_for_folders_without_one(model_dir, tmp_path):
    import shutil

    from framescope.inference.batch import load_model

    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    data = json.loads((old / "framescope.json").read_text())
    data.pop("precise_thresholds")
    (old / "framescope.json").write_text(json.dumps(data))
    assert load_model(str(old)).settings.precise_thresholds is None
    from framescope.errors import UsageError

    with pytest.raises(UsageError, match="no precise profile"):
        load_model(str(old), profile="precise")


def test_quickstart_retrains_a_folder_without_stage(model_dir, tmp_path):
    """`framescope quickstart` reuses a current model folder, but not one from before the stage."""
    import shutil

    from framescope.cli.quickstart import _quickstart_current
    from framescope.training.config import load_config

    cfg = load_config("quickstart")
    folder = tmp_path / "qs"
    shutil.copytree(model_dir, folder)
    assert _quickstart_current(folder, cfg)
    data = json.loads((folder / STAGE_SETTINGS).read_text())
    data["format"] = 1
    (folder / STAGE_SETTINGS).write_text(json.dumps(data))
    assert not _quickstart_current(folder, cfg)  # an older stage format
    (folder / STAGE_SETTINGS).unlink()
    assert not _quickstart_current(folder, cfg)


@pytest.mark.slow
def test_stacked_on_dev_the_stage_trusts_token_scores_as_much_as_held_out_articles_deserve():
    """A tagger's scores on its own training articles are perfect, on unseen ones noise.
    Stacked on the dev articles, the stage learns that and stays calibrated on new articles;
    stacked on the training articles' in-sample scores it trusts the noise (the stage before
    this design shipped that for transformers)."""
    from framescope.model.article_stage import Units

    texts, gold = corpus(300)
    # no lexical evidence: every line is the same sentence, only the gold differs
    texts = ["\n".join(["The council met on Tuesday to discuss the budget."] * 3) for _ in texts]
    perfect = fake_scores(texts, gold)
    rng = np.random.default_rng(3)

    def noise(ts):
        return [TokenScores(t.offsets, rng.uniform(0, 1, size=t.probs.shape).astype(np.float32), t.text) for t in ts]

    dev_texts, dev_gold = texts[:100], gold[:100]
    settings = dict(techniques=TECHS, n_features=2**10, folds=3)
    on_dev = ArticleStage(StageSettings(**settings)).fit(
        texts[100:],
        gold[100:],
        langs=["en"] * 200,
        stack=Units(dev_texts, dev_gold, ["en"] * 100, noise(perfect[:100])),
    )
    in_sample = ArticleStage(StageSettings(**settings)).fit(texts[100:], gold[100:], perfect[100:], langs=["en"] * 200)
    test_texts, test_gold = corpus(600, seed=9)
    test_texts = ["\n".join(["The council met on Tuesday to discuss the budget."] * 3) for _ in test_texts]
    test_scores = noise(fake_scores(test_texts, test_gold))
    y = ArticleStage.labels(test_texts, test_gold, TECHS, "paragraph")

    def calibration_error(stage):
        prob, _ = stage.predict_level(test_texts, test_scores, "paragraph", ["en"] * 600)
        return max(abs(prob[:, j].mean() - y[:, j].mean()) for j in range(len(TECHS)))

    assert calibration_error(on_dev) < 0.05
    assert calibration_error(in_sample) > 0.15
    assert on_dev.settings.fit_info["stacked_on"] == "held-out articles"


def test_priors_are_per_language():
    """Without lexical or token evidence, a unit's probability is its language's share."""
    texts, gold, langs = [], [], []
    for i in range(200):
        de = i % 2 == 0
        texts.append("Ein Satz ohne Befund." if de else "A sentence without evidence.")
        uses = (i % 4 == 0) if de else (i % 20 == 1)  # de 50%, en 10%
        gold.append([(0, 3, "Doubt")] if uses else [])
        langs.append("de" if de else "en")
    stage = ArticleStage(StageSettings(techniques=TECHS, n_features=2**10, folds=3, token_features=False)).fit(
        texts, gold, langs=langs
    )
    prob, _ = stage.predict_level(
        ["Ein Satz ohne Befund.", "A sentence without evidence.", "x"], None, "article", ["de", "en", "fr"]
    )
    doubt = TECHS.index("Doubt")
    assert abs(prob[0, doubt] - 0.5) < 0.06 and abs(prob[1, doubt] - 0.1) < 0.06
    assert abs(prob[2, doubt] - 0.3) < 0.06  # an unseen language gets the pooled share


def test_a_damaged_article_stage_is_refused_not_loaded(model_dir, tmp_path):
    """The stage is part of the untrusted model folder: unknown settings, missing arrays or
    arrays of another shape are a ModelError (exit 2), never a stage scoring with zeros."""
    import shutil

    from safetensors.numpy import load_file, save_file

    from framescope.errors import ModelError
    from framescope.model.tagger import SpanTagger

    def copy(name):
        folder = tmp_path / name
        shutil.copytree(model_dir, folder)
        return folder

    extra = copy("extra-key")
    data = json.loads((extra / STAGE_SETTINGS).read_text())
    data["trust_me"] = True
    (extra / STAGE_SETTINGS).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="unknown keys trust_me"):
        SpanTagger.from_pretrained(extra)

    missing = copy("missing-array")
    arrays = load_file(str(missing / STAGE_WEIGHTS))
    arrays.pop("paragraph.stacker")
    save_file(arrays, str(missing / STAGE_WEIGHTS))
    with pytest.raises(ModelError, match="paragraph.stacker"):
        SpanTagger.from_pretrained(missing)

    old_format = copy("format-1")
    data = json.loads((old_format / STAGE_SETTINGS).read_text())
    data.pop("format")
    (old_format / STAGE_SETTINGS).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="stage format 1.*train the model again"):
        SpanTagger.from_pretrained(old_format)

    bad_priors = copy("bad-priors")
    data = json.loads((bad_priors / STAGE_SETTINGS).read_text())
    data["priors"]["article"]["*"] = data["priors"]["article"]["*"][:-1]
    (bad_priors / STAGE_SETTINGS).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="priors.article"):
        SpanTagger.from_pretrained(bad_priors)

    resized = copy("resized")
    arrays = load_file(str(resized / STAGE_WEIGHTS))
    arrays["article.coef"] = arrays["article.coef"][:, :10].copy()
    save_file(arrays, str(resized / STAGE_WEIGHTS))
    with pytest.raises(ModelError, match="article.coef has shape"):
        SpanTagger.from_pretrained(resized)

    huge = copy("huge-hashing-space")  # scoring would allocate a vector of n_features
    data = json.loads((huge / STAGE_SETTINGS).read_text())
    data["n_features"] = 2**40
    (huge / STAGE_SETTINGS).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="n_features must be a whole number from 1 to"):
        SpanTagger.from_pretrained(huge)

    for name, columns in {
        "unsorted": lambda c: c[::-1].copy(),
        "out-of-range": lambda c: c + np.int32(1 << 30),
        "float": lambda c: c.astype(np.float32),
    }.items():
        bad_columns = copy(f"columns-{name}")
        arrays = load_file(str(bad_columns / STAGE_WEIGHTS))
        arrays["paragraph.columns"] = columns(arrays["paragraph.columns"])
        save_file(arrays, str(bad_columns / STAGE_WEIGHTS))
        with pytest.raises(ModelError, match="paragraph.columns must be increasing int32"):
            SpanTagger.from_pretrained(bad_columns)


@pytest.mark.slow
def test_extra_train_articles_teach_the_stage_never_the_tagger_nor_own_languages(tmp_path):
    """article_stage.extra_train: other languages join the stage's lexical models and priors;
    articles of the tagger's languages are left out (they could be dev or test articles)."""
    import dataclasses

    from framescope.labels.io import write_documents
    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.training.config import ConfigError, load_config
    from framescope.training.train import fit_article_stage, prepare_data

    docs = load_sample()
    langs = sorted({d.lang for d in docs})
    foreign = [dataclasses.replace(d, id=f"x{d.id}", lang="fr") for d in docs[:12]]
    own = [dataclasses.replace(d, id=f"y{d.id}") for d in docs[:5]]  # a tagger language: left out
    write_documents([*foreign, *own], tmp_path / "extra.jsonl")
    cfg = load_config("quickstart", ["article_stage.folds=2", "article_stage.token_scores=none"])
    cfg = cfg.with_values({"article_stage.extra_train": [{"path": str(tmp_path / "extra.jsonl"), "format": "jsonl"}]})
    tax = load_taxonomy(cfg.taxonomy)
    train_docs, dev_docs = prepare_data(cfg, tax)

    class NoTagger:
        techniques = tax.names

    stage = fit_article_stage(cfg, tax, train_docs, NoTagger(), dev_docs)
    assert stage.settings.fit_info["extra_articles"] == 12
    assert stage.settings.fit_info["articles"] == len(train_docs) + 12
    assert set(stage.settings.priors["article"]) == {"*", "fr", *langs}
    cfg = cfg.with_values({"article_stage.token_scores": "crossfit"})
    with pytest.raises(ConfigError, match="extra_train"):
        fit_article_stage(cfg, tax, train_docs, NoTagger(), dev_docs)


def test_articles_without_paragraphs_and_empty_batches_are_scored():
    """A blank article has no paragraph; a batch of only such articles (or no articles) used
    to stop the stage with StopIteration from the hashing vectorizer."""
    texts, gold = corpus(40)
    stage = ArticleStage(StageSettings(techniques=TECHS, n_features=2**10, folds=3, token_features=False)).fit(
        texts, gold
    )
    assert stage.predict([]) == []
    (pred,) = stage.predict(["   "], None, ["en"])
    assert pred.paragraphs == [] and set(pred.article) == set(TECHS)
    prob, groups = stage.predict_level([], None, "paragraph")
    assert prob.shape == (0, len(TECHS)) and len(groups) == 0


@pytest.mark.slow
def test_the_same_data_fits_the_same_stage():
    """Reproducible experiments: liblinear's dual solver shuffles its coordinates at random
    unless seeded, so two fits on the same articles gave different weights (in the 5th
    digit of the centres, enough to move a decision at a threshold)."""
    from framescope.model.article_stage import Units

    texts, gold = corpus(80)
    scores = fake_scores(texts, gold)
    langs = ["de" if i % 3 else "en" for i in range(80)]

    def fit():
        stack = Units(texts[:20], gold[:20], langs[:20], scores[:20])
        return ArticleStage(StageSettings(techniques=TECHS, n_features=2**10, folds=3)).fit(
            texts[20:], gold[20:], langs=langs[20:], stack=stack
        )

    a, b = fit(), fit()
    assert a.settings.centers == b.settings.centers
    for level in a.weights:
        for name in a.weights[level]:
            assert np.array_equal(a.weights[level][name], b.weights[level][name]), (level, name)


@pytest.mark.slow
def test_article_inputs_include_the_length_and_the_paragraph_models_evidence():
    """Longer articles use more techniques, and the paragraph models learn from ten times
    more units than the article ones (5-fold CV: German article AUC 0.681 -> 0.694): the
    article stacker weighs log(characters) and the max / mean / top-k mean of the article's
    paragraph logits. A blank article's paragraph evidence is the paragraph intercept."""
    texts, gold = corpus(60)
    stage = ArticleStage(StageSettings(techniques=TECHS, n_features=2**10, folds=3, token_features=False)).fit(
        texts, gold
    )
    s = stage.settings
    assert s.inputs("paragraph") == ("lexical_logit", "log_chars")
    assert s.inputs("article") == (
        "lexical_logit",
        "log_chars",
        "paragraph_lexical_max",
        "paragraph_lexical_mean",
        "paragraph_lexical_top_k_mean",
    )
    assert len(stage.weights["article"]["stacker"]) == 6 and set(s.fit_info["article"]["stacker"]) == {
        *s.inputs("article"),
        "bias",
    }

    lexical = np.array([[1.0, -2.0], [3.0, 0.0], [-1.0, 5.0]])
    ev = stage._paragraph_evidence(lexical, np.array([0, 0, 2]), 3)
    assert ev.shape == (3, 2, 3)
    assert np.allclose(ev[0, :, 0], [3.0, 0.0]) and np.allclose(ev[0, :, 1], [2.0, -1.0])
    assert np.allclose(ev[1], stage.weights["paragraph"]["intercept"][:, None])  # no paragraph
    assert np.allclose(ev[2, 1], [5.0, 5.0, 5.0])
    raw = stage._features().transform("article", np.zeros((1, 2)), None, ["x" * 99], ev[:1])
    assert np.allclose(raw[0, :, 1], np.log(100.0))


def as_format_2(folder) -> None:
    """Rewrite a stage folder as format 2 wrote it: every hashed column stored (dense ``coef``
    and ``idf``; a column no training unit had: coefficient 0, the idf of an unseen n-gram)."""
    from safetensors.numpy import load_file, save_file

    settings = json.loads((folder / STAGE_SETTINGS).read_text())
    arrays = load_file(str(folder / STAGE_WEIGHTS))
    d = settings["n_features"]
    for level in ("article", "paragraph"):
        columns = arrays.pop(f"{level}.columns")
        coef = np.zeros((arrays[f"{level}.coef"].shape[0], d), np.float32)
        coef[:, columns] = arrays[f"{level}.coef"]
        idf = np.full(d, arrays.pop(f"{level}.idf_unseen")[0], np.float32)
        idf[columns] = arrays[f"{level}.idf"]
        arrays[f"{level}.coef"], arrays[f"{level}.idf"] = coef, idf
    save_file(arrays, str(folder / STAGE_WEIGHTS))
    settings["format"] = 2
    (folder / STAGE_SETTINGS).write_text(json.dumps(settings))


@pytest.mark.slow
def test_the_folder_stores_only_the_hashed_columns_the_training_units_have(tmp_path):
    """A large hashing space (few collisions between six languages' n-grams) must not make the
    folder large: only the columns that training units have are weighed and stored."""
    from safetensors.numpy import load_file
    from sklearn.feature_extraction.text import HashingVectorizer

    texts, gold = corpus()
    settings = StageSettings(techniques=TECHS, n_features=2**20, ngram_range=(2, 4), folds=3)
    stage = ArticleStage(settings).fit(texts, gold, fake_scores(texts, gold))
    stage.save_pretrained(tmp_path)
    arrays = load_file(str(tmp_path / STAGE_WEIGHTS))
    vec = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=2**20, alternate_sign=False, norm=None)
    seen = np.flatnonzero(np.diff(vec.transform(texts).tocsc().indptr))
    assert arrays["article.columns"].tolist() == seen.tolist() and len(seen) < 2**12
    assert arrays["article.coef"].shape == (2, len(seen)) and arrays["article.idf"].shape == (len(seen),)
    test_texts = [t + " Zyxwvq Quxblorf" for t in corpus(10, seed=5)[0]]  # with n-grams no training unit had
    again = ArticleStage.from_pretrained(tmp_path).predict(test_texts)
    assert [p.article for p in again] == [p.article for p in stage.predict(test_texts)]


def test_a_format_2_folder_with_every_hashed_column_scores_as_before(tmp_path):
    """Format 2 stored dense models over every hashed column. Read by this version, such a
    folder scores exactly as the format-3 folder of the same fit, also on texts with n-grams
    no training unit had (they lengthen the row and so weaken the evidence in both)."""
    texts, gold = corpus(40)
    scores = fake_scores(texts, gold)
    stage = ArticleStage(StageSettings(techniques=TECHS, n_features=2**16, folds=3)).fit(texts, gold, scores)
    stage.save_pretrained(tmp_path)
    as_format_2(tmp_path)
    loaded = ArticleStage.from_pretrained(tmp_path)
    assert loaded.settings.format == 2 and len(loaded.weights["article"]["columns"]) == 2**16
    new, new_gold = corpus(8, seed=7)
    new = [t + " Zyxwvq Quxblorf" for t in new]
    new_scores = fake_scores(new, new_gold)
    for got, want in zip(loaded.predict(new, new_scores), stage.predict(new, new_scores)):
        assert got.article == pytest.approx(want.article, abs=1e-6)
        assert [p[3] for p in got.paragraphs] == [pytest.approx(p[3], abs=1e-6) for p in want.paragraphs]


def test_a_stage_folder_from_before_the_length_and_paragraph_inputs_loads_as_fitted(tmp_path):
    """Format-2 folders written before ``length_feature``/``paragraph_evidence`` existed have
    neither key and a 6-weight article stacker: they load with both off and score as before."""
    texts, gold = corpus(40)
    scores = fake_scores(texts, gold)
    old = ArticleStage(
        StageSettings(techniques=TECHS, n_features=2**10, folds=3, length_feature=False, paragraph_evidence=False)
    )
    old.fit(texts, gold, scores)
    old.save_pretrained(tmp_path)
    as_format_2(tmp_path)
    settings = json.loads((tmp_path / STAGE_SETTINGS).read_text())
    del settings["length_feature"], settings["paragraph_evidence"], settings["paragraph_top_k"]
    (tmp_path / STAGE_SETTINGS).write_text(json.dumps(settings))
    loaded = ArticleStage.from_pretrained(tmp_path)
    assert loaded.settings.inputs("article") == (
        "lexical_logit",
        *("token_max", "token_mean", "token_top_k_mean", "token_share"),
    )
    assert [p.article for p in loaded.predict(texts[:5], scores[:5])] == [
        p.article for p in old.predict(texts[:5], scores[:5])
    ]


@pytest.mark.slow
def test_after_stacking_the_lexical_models_also_learn_from_the_stacking_articles():
    """The stacker, centres and thresholds come from the honest dev logits; then the lexical
    models are refitted on training + dev articles, so a cue only the dev articles show
    ("reportedly" for Doubt) is learned. ``refit: false`` keeps the training-only models."""
    from framescope.model.article_stage import Units

    texts, gold = corpus(60)
    dev_texts, dev_gold = corpus(40, seed=3, doubt="Sources reportedly saw shredded files.")

    def fit(refit: bool) -> ArticleStage:
        settings = StageSettings(techniques=TECHS, n_features=2**12, folds=3, token_features=False, refit=refit)
        return ArticleStage(settings).fit(texts, gold, stack=Units(dev_texts, dev_gold))

    plain, refitted = fit(False), fit(True)
    assert (
        plain.settings.centers == refitted.settings.centers
        and plain.settings.thresholds == refitted.settings.thresholds
    )
    assert np.array_equal(plain.weights["article"]["stacker"], refitted.weights["article"]["stacker"])
    assert refitted.settings.fit_info["lexical_models_trained_on"] == "training and stacking articles"
    new = ["Sources reportedly saw shredded files."]
    doubt = TECHS.index("Doubt")
    before, _ = plain.predict_level(new, None, "paragraph")
    after, _ = refitted.predict_level(new, None, "paragraph")
    assert after[0, doubt] > before[0, doubt]
    # exactly the models one level's fit would learn from both sets of articles
    both = Units([*texts, *dev_texts], [*gold, *dev_gold])
    for level in ("article", "paragraph"):
        rows, _, _ = unit_rows(both, level)
        y = ArticleStage.labels(both.texts, both.gold, TECHS, level)
        want = refitted._fit_lexical(rows, y, refitted.weights[level]["active"].astype(bool))
        for name, arr in want.items():
            assert np.array_equal(refitted.weights[level][name], arr), (level, name)
            assert not np.array_equal(plain.weights[level][name], arr), (level, name)


@pytest.mark.slow
def test_dev_report_scores_the_stage_out_of_fold_not_on_articles_it_learned_from(model_dir, tmp_path):
    """The stage's stacker learns on dev and its lexical models are refitted with dev, so its
    own predictions of the dev articles are in-sample (the MiniLM dev report said article AUC
    0.9996). ``train`` reports the stacker's out-of-fold dev predictions instead, made with
    the lexical models from before the refit; ``recalibrate``, which only has the folder,
    labels its figures optimistic."""
    import shutil

    from framescope.training.config import load_config
    from framescope.training.train import recalibrate

    report = json.loads((model_dir / "dev_report.json").read_text())
    assert {m["article_source"] for m in report.values()} == {"stage, out of fold on dev"}
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    cfg = load_config("quickstart", ["mlflow.enabled=false"])
    again, _ = recalibrate(copy, cfg)
    assert again["all"]["article_source"] == "stage, fitted on these dev articles (optimistic)"
    assert again["all"]["article_mean_auc"] > report["all"]["article_mean_auc"]


@pytest.mark.slow
def test_stack_predictions_are_out_of_fold_and_cover_every_stacking_unit():
    from framescope.model.article_stage import Units

    texts, gold = corpus(60)
    dev_texts, dev_gold = corpus(30, seed=3)
    stage = ArticleStage(StageSettings(techniques=TECHS, n_features=2**10, folds=3, token_features=False))
    stage.fit(texts, gold, stack=Units(dev_texts, dev_gold))
    oof = stage.stack_predictions
    assert len(oof) == len(dev_texts)
    insample = stage.predict(dev_texts)
    for a, b in zip(oof, insample):
        assert [p[:3] for p in a.paragraphs] == [p[:3] for p in b.paragraphs]
    # the in-sample predictions fit the dev articles better than the out-of-fold ones
    y = ArticleStage.labels(dev_texts, dev_gold, TECHS, "paragraph")

    def loss(preds):
        p = np.array([[probs[t] for t in TECHS] for pred in preds for *_, probs in pred.paragraphs])
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    assert loss(insample) < loss(oof)
    assert (
        ArticleStage(StageSettings(techniques=TECHS, n_features=2**10, folds=3, token_features=False))
        .fit(texts, gold)
        .stack_predictions
        is None
    )
