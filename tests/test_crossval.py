"""k-fold cross-validation over articles and the article-level metrics it reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from framescope.training.metrics.articles import constant_guess, mean_roc_auc, presence_micro_f1, technique_shares


def test_presence_f1_auc_and_constant_guess_by_hand():
    gold = [{"A", "B"}, {"A"}, set(), {"B"}]
    shares = technique_shares(gold)
    assert shares == {"A": 0.5, "B": 0.5}
    assert constant_guess({"A": 0.5, "B": 0.25}, 0.3) == {"A"}
    m = presence_micro_f1([{"A"}, {"A", "B"}, set(), set()], gold)
    assert (m["precision"], m["recall"]) == (2 / 3, 2 / 4)
    scores = [{"A": 0.9, "B": 0.2}, {"A": 0.8, "B": 0.1}, {"A": 0.1, "B": 0.3}, {"A": 0.85}]
    auc = mean_roc_auc(scores, gold, ["A", "B", "C"])
    # A ranks perfectly except article 3 (no A, 0.85) above article 1 (A, 0.8): 3 of 4 pairs
    assert auc["per_technique"]["A"] == 0.75
    assert auc["per_technique"]["B"] == 0.25  # B: 0.2 and 0.0 (missing) vs 0.1 and 0.3: 1 of 4 pairs
    assert auc["n_techniques"] == 2 and math.isclose(auc["mean"], 0.5)


def test_folds_cover_every_article_once_and_spread_languages():
    from framescope.labels.sample import load_sample
    from framescope.training.crossval import article_folds

    docs = load_sample()
    folds = article_folds(docs, 3)
    allidx = np.concatenate(folds)
    assert sorted(allidx.tolist()) == list(range(len(docs)))
    for lang in {d.lang for d in docs}:
        counts = [sum(docs[i].lang == lang for i in f) for f in folds]
        assert max(counts) - min(counts) <= 1


def test_a_config_cross_validated_on_fewer_languages_still_trains_on_all_of_its_own():
    """The default trains on six languages; cross-validated on de+en, each fold's tagger must
    still see fr/it/pl/ru (benchmarks/crossval.py's default --extra-lang), or the figures
    describe another recipe."""
    from pathlib import Path

    from framescope.training.config import load_config
    from framescope.training.crossval import training_only_langs

    assert training_only_langs(load_config("minilm-semeval"), ["de", "en"]) == ["fr", "it", "pl", "ru"]
    de_en = Path(__file__).parent.parent / "benchmarks" / "configs" / "minilm-de-en-semeval.yaml"
    assert training_only_langs(load_config(de_en), ["de", "en"]) == []
    assert training_only_langs(load_config("minilm-semeval"), ["de", "en", "fr", "it", "pl", "ru"]) == []


@pytest.mark.slow
def test_cross_validate_scores_every_variant_out_of_fold():
    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.training.config import load_config
    from framescope.training.crossval import cross_validate

    cfg = load_config(
        "quickstart",
        ["article_stage.folds=2", "article_stage.crossfit_folds=2", "calibration.min_support=2", "linear.epochs=3"],
    )
    docs = load_sample()[::2]  # half the sample keeps the suite fast; the metrics need not be good
    result = cross_validate(cfg, docs, load_taxonomy(cfg.taxonomy), folds=2, resamples=50)
    assert set(result["reports"]) == {"tagger", "char-ngrams", "stacked", "stacked-crossfit"}
    assert len(result["fold_seconds"]) == 2
    for name, report in result["reports"].items():
        m = report["all"]
        assert m["articles"] == len(docs)
        assert m["article_source"] == ("spans" if name == "tagger" else "stage")
        for key in (
            "article_mean_auc",
            "article_presence_f1",
            "constant_guess_presence_f1",
            "paragraph_micro_f1",
            "span_f1",
        ):
            assert 0.0 <= m[key] <= 1.0, (name, key, m[key])
    # the variants share the tagger: identical spans, different article scores
    spans = {r["all"]["span_f1"] for r in result["reports"].values()}
    assert len(spans) == 1
    # the pooled article tables are what the reports scored, and carry their intervals
    langs = np.array(result["articles"]["langs"])
    assert sorted(result["articles"]["ids"]) == sorted(d.id for d in docs)
    for name, report in result["reports"].items():
        for lang in sorted(set(langs.tolist())):
            m = report[lang]
            point = result["articles"]["tables"][name].subset(np.flatnonzero(langs == lang)).metrics()
            expected = [
                m["article_mean_auc"],
                m["article_presence_f1"],
                m["article_presence_f1"] - m["constant_guess_presence_f1"],
            ]
            assert np.allclose(point, expected, equal_nan=True), (name, lang)
            for metric, (lo, hi) in m["intervals"].items():
                assert lo <= hi, (name, lang, metric)
        assert "intervals" not in report["all"]


def test_cross_validate_character_stage_without_tagger_and_partial_folds():
    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.training.config import load_config
    from framescope.training.crossval import VARIANTS, cross_validate

    cfg = load_config("quickstart", ["article_stage.folds=2"])
    docs = load_sample()[::2]
    seen = []
    result = cross_validate(
        cfg,
        docs,
        load_taxonomy(cfg.taxonomy),
        folds=3,
        resamples=0,
        variants={"char-ngrams": VARIANTS["char-ngrams"]},
        on_fold=seen.append,
        max_folds=2,
        fit_tagger=False,
    )
    assert [r["folds_done"] for r in seen] == [1, 2] and result["folds_done"] == 2
    m = result["reports"]["char-ngrams"]["all"]
    assert m["article_source"] == "stage" and m["articles"] < len(docs)  # two of three folds scored
    assert m["n_pred"] == 0
    with pytest.raises(ValueError, match="token_scores none"):
        cross_validate(
            cfg, docs, load_taxonomy(cfg.taxonomy), folds=2, variants={"stacked": VARIANTS["stacked"]}, fit_tagger=False
        )


@pytest.mark.slow
def test_cross_validate_cache_resumes_with_the_same_taggers(tmp_path, monkeypatch):
    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.training import fit as fit_module
    from framescope.training.config import load_config
    from framescope.training.crossval import VARIANTS, cross_validate

    cfg = load_config("quickstart", ["article_stage.folds=2", "calibration.min_support=2", "linear.epochs=3"])
    docs = load_sample()[::2]
    tax = load_taxonomy(cfg.taxonomy)
    variants = {"tagger": VARIANTS["tagger"]}
    first = cross_validate(cfg, docs, tax, folds=2, resamples=0, variants=variants, cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold-1-of-2", "fold-2-of-2"]

    def no_training(*args, **kwargs):
        raise AssertionError("a cached fold was trained again")

    monkeypatch.setattr(fit_module, "fit_tagger", no_training)
    again = cross_validate(cfg, docs, tax, folds=2, resamples=0, variants=variants, cache_dir=tmp_path)
    assert again["reports"] == first["reports"]
    # a cache of another config is refused, never mixed in
    other = load_config("quickstart", ["article_stage.folds=2", "calibration.min_support=2", "linear.epochs=4"])
    with pytest.raises(ValueError, match="another config"):
        cross_validate(other, docs, tax, folds=2, variants=variants, cache_dir=tmp_path)


@pytest.mark.slow
def test_cross_validate_reads_the_stage_extra_articles_once(tmp_path, monkeypatch):
    """``article_stage.extra_train`` corpora were read again in every fold (15 s a fold for
    fr/it/pl/ru); now once per run, and every fold's stage still learns from them."""
    import dataclasses

    import framescope.training.train as train_module
    from framescope.labels.io import write_documents
    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.training.config import load_config
    from framescope.training.crossval import VARIANTS, cross_validate

    docs = load_sample()[::2]
    write_documents([dataclasses.replace(d, id=f"x{d.id}", lang="fr") for d in docs[:8]], tmp_path / "extra.jsonl")
    cfg = load_config("quickstart", ["article_stage.folds=2"])
    cfg = cfg.with_values({"article_stage.extra_train": [{"path": str(tmp_path / "extra.jsonl"), "format": "jsonl"}]})
    reads, fitted = [], []
    real_read, real_fit = train_module.stage_extra_articles, train_module.fit_article_stage
    monkeypatch.setattr(train_module, "stage_extra_articles", lambda *a, **k: reads.append(1) or real_read(*a, **k))

    def counting_fit(*a, **k):
        stage = real_fit(*a, **k)
        fitted.append(stage.settings.fit_info["extra_articles"])
        return stage

    monkeypatch.setattr(train_module, "fit_article_stage", counting_fit)
    cross_validate(
        cfg,
        docs,
        load_taxonomy(cfg.taxonomy),
        folds=3,
        resamples=0,
        variants={"char-ngrams": VARIANTS["char-ngrams"]},
        fit_tagger=False,
    )
    assert len(reads) == 1 and fitted == [8, 8, 8]


@pytest.mark.slow
def test_fold_seed_keeps_the_folds_while_the_training_seed_changes(tmp_path):
    """A seed ensemble or a seed-variance run trains other draws of the taggers on the same
    folds; the folds were dealt by the config's seed, so changing it changed the folds too."""
    import json

    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.training.config import load_config
    from framescope.training.crossval import VARIANTS, cross_validate

    docs = load_sample()[::2]

    def held_out(seed: int, fold_seed: int | None, cache: str) -> list[list[str]]:
        cfg = load_config(
            "quickstart", ["article_stage.folds=2", "calibration.min_support=2", "linear.epochs=2", f"seed={seed}"]
        )
        cross_validate(
            cfg,
            docs,
            load_taxonomy(cfg.taxonomy),
            folds=2,
            resamples=0,
            variants={"tagger": VARIANTS["tagger"]},
            cache_dir=tmp_path / cache,
            fold_seed=fold_seed,
        )
        return [json.loads((tmp_path / cache / f"fold-{k}-of-2" / "fold.json").read_text())["test"] for k in (1, 2)]

    first = held_out(0, None, "seed0")
    assert held_out(1, 0, "seed1-folds0") == first
    assert held_out(1, None, "seed1") != first  # without it the training seed deals the folds


@pytest.mark.slow
def test_seed_ensemble_averages_the_cached_token_scores(tmp_path):
    """``ensemble_caches`` scores the mean of several cached taggers' token scores: an
    ensemble of a cache with itself is that cache's run; with another seed it is a third result."""
    import framescope.training.crossval as crossval
    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.training.config import load_config

    docs = load_sample()[::2]
    tax = load_taxonomy("semeval2023")
    variants = {"tagger": crossval.VARIANTS["tagger"], "stacked": crossval.VARIANTS["stacked"]}

    def run(seed: int, cache: str, ensemble=()):
        cfg = load_config(
            "quickstart", ["article_stage.folds=2", "calibration.min_support=2", "linear.epochs=2", f"seed={seed}"]
        )
        return crossval.cross_validate(
            cfg,
            docs,
            tax,
            folds=2,
            resamples=0,
            variants=variants,
            cache_dir=tmp_path / cache,
            fold_seed=0,
            ensemble_caches=[tmp_path / c for c in ensemble],
        )["reports"]

    single0, single1 = run(0, "s0"), run(1, "s1")
    assert single0["tagger"]["all"]["span_f1"] != single1["tagger"]["all"]["span_f1"]  # two draws differ
    assert run(0, "s0", ["s0"]) == single0
    both = run(0, "s0", ["s1"])
    assert both["tagger"]["all"]["span_f1"] not in (
        single0["tagger"]["all"]["span_f1"],
        single1["tagger"]["all"]["span_f1"],
    )
    with pytest.raises(ValueError, match="no finished fold"):
        run(0, "s0", ["missing"])


def _table(scores, decided, gold, guess):
    from framescope.training.metrics.intervals import ArticleTable

    return ArticleTable(
        np.asarray(scores, float), np.asarray(decided, bool), np.asarray(gold, bool), np.asarray(guess, bool)
    )


@pytest.mark.slow
def test_article_table_metrics_by_hand_and_bootstrap_intervals():
    from framescope.training.metrics.intervals import ArticleTable, article_intervals

    gold = [{"A", "B"}, {"A"}, set(), {"B"}]
    scores = [{"A": 0.9, "B": 0.2}, {"A": 0.8, "B": 0.1}, {"A": 0.1, "B": 0.3}, {"A": 0.85}]
    decided = [{"A"}, {"A", "B"}, set(), set()]
    table = ArticleTable.build(scores, decided, gold, [{"A"}] * 4, ["A", "B", "C"])
    auc, f1, over_guess = table.metrics()
    # the same definitions as test_presence_f1_auc_and_constant_guess_by_hand
    assert math.isclose(auc, 0.5) and math.isclose(f1, presence_micro_f1(decided, gold)["f1"])
    assert math.isclose(over_guess, f1 - presence_micro_f1([{"A"}] * 4, gold)["f1"])
    # repeated rows count twice: article 3 (no A, 0.85) twice against article 1 (A, 0.8)
    assert math.isclose(
        table.metrics(np.array([0, 1, 3, 3]))[0],
        mean_roc_auc([scores[i] for i in (0, 1, 3, 3)], [gold[i] for i in (0, 1, 3, 3)], ["A", "B"])["mean"],
    )
    rng = np.random.default_rng(0)
    y = rng.random((200, 3)) < 0.4
    informative = _table(y + rng.normal(0, 0.8, y.shape), y, y, np.ones_like(y))
    iv = article_intervals(informative, n_resamples=300)
    point = informative.metrics()
    lo, hi = iv["article_mean_auc"]
    assert 0.7 < lo < point[0] < hi < 1.0  # a real spread around the point figure
    assert iv["article_presence_f1"] == [1.0, 1.0]  # decisions equal to gold: no spread at all


@pytest.mark.slow
def test_paired_differences_see_a_better_recipe_and_refuse_other_articles(tmp_path):
    from framescope.training.metrics.intervals import load_article_tables, paired_differences, save_article_tables

    rng = np.random.default_rng(1)
    y = rng.random((150, 4)) < 0.4
    guess = np.zeros_like(y)
    noise = rng.normal(0, 1, y.shape)
    weak = _table(y + 2.0 * noise, (y + 2.0 * noise) > 0.5, y, guess)
    strong = _table(y + 0.5 * noise, (y + 0.5 * noise) > 0.5, y, guess)
    d = paired_differences(weak, strong, n_resamples=300)
    assert d["article_mean_auc"]["difference"] > 0 and d["article_mean_auc"]["low"] > 0
    assert d["article_mean_auc"]["share_not_better"] < 0.05
    same = paired_differences(weak, weak, n_resamples=100)
    assert all(v["difference"] == v["low"] == v["high"] == 0.0 for v in same.values())
    with pytest.raises(ValueError, match="same articles"):
        paired_differences(weak, _table(weak.scores[1:], weak.decided[1:], weak.gold[1:], weak.guess[1:]))
    # the --predictions file round-trips without pickles
    path = tmp_path / "cv.npz"
    save_article_tables(
        path,
        {
            "ids": [str(i) for i in range(150)],
            "langs": ["de"] * 150,
            "techniques": list("ABCD"),
            "tables": {"stacked+extra": strong},
        },
        {"name": "strong"},
    )
    back = load_article_tables(path)
    assert back["meta"] == {"name": "strong"} and back["techniques"] == list("ABCD") and back["ids"][3] == "3"
    assert np.array_equal(back["tables"]["stacked+extra"].scores, strong.scores)
    assert np.array_equal(back["tables"]["stacked+extra"].decided, strong.decided)


@pytest.mark.slow
def test_compare_cv_script_pairs_two_prediction_files_and_refuses_other_folds(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from framescope.training.metrics.intervals import save_article_tables

    rng = np.random.default_rng(2)
    y = rng.random((60, 3)) < 0.5
    noise = rng.normal(0, 1, y.shape)
    ids = [str(i) for i in range(60)]
    for name, sd, rows in (("a", 2.0, slice(None)), ("b", 0.5, slice(None)), ("c", 0.5, slice(1, None))):
        t = _table(y + sd * noise, (y + sd * noise) > 0.5, y, np.zeros_like(y))
        save_article_tables(
            tmp_path / f"{name}.npz",
            {
                "ids": ids[rows],
                "langs": (["de", "en"] * 30)[rows],
                "techniques": list("ABC"),
                "tables": {"stacked+extra": t.subset(np.arange(60)[rows])},
            },
            {"name": name},
        )
    script = Path(__file__).parent.parent / "benchmarks" / "compare_cv.py"
    run = lambda *a: subprocess.run([sys.executable, str(script), *map(str, a)], capture_output=True, text=True)  # noqa: E731
    ok = run(tmp_path / "a.npz", tmp_path / "b.npz", "--resamples", "100", "--out", tmp_path / "d.json")
    assert ok.returncode == 0, ok.stderr
    out = json.loads((tmp_path / "d.json").read_text())
    assert set(out["languages"]) == {"de", "en"} and out["languages"]["de"]["articles"] == 30
    assert out["languages"]["de"]["article_mean_auc"]["difference"] > 0
    other = run(tmp_path / "a.npz", tmp_path / "c.npz")
    assert other.returncode != 0 and "pool different articles" in other.stderr
    missing = run(tmp_path / "a.npz", tmp_path / "b.npz", "--variant", "stacked")
    assert missing.returncode != 0 and "no variant 'stacked'" in missing.stderr
    absent = run(tmp_path / "a.npz", tmp_path / "nothing.npz")
    assert absent.returncode != 0 and "nothing.npz: no such file" in absent.stderr


@pytest.mark.slow
def test_evaluate_reports_bootstrap_intervals_of_the_article_figures(model_dir):
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from framescope.cli import _register, app

    _register()  # the commands are registered lazily, by the console script
    sample = Path(__file__).parent.parent / "labels" / "sample" / "sample.jsonl"
    res = CliRunner().invoke(app, ["evaluate", str(model_dir), str(sample), "--json", "--resamples", "200"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    for group, m in report.items():
        iv = m["intervals"]
        assert set(iv) == {"article_mean_auc", "article_presence_f1", "presence_f1_over_guess"}
        lo, hi = iv["article_presence_f1"]
        assert lo <= m["article_presence_f1"] <= hi and lo < hi, group  # a real spread over the sample's articles
    table = CliRunner().invoke(app, ["evaluate", str(model_dir), str(sample), "--resamples", "50"])
    assert table.exit_code == 0 and "[" in table.output  # the printed table shows the interval beside the figure
    bare = CliRunner().invoke(app, ["evaluate", str(model_dir), str(sample), "--json", "--resamples", "0"])
    assert all("intervals" not in m for m in json.loads(bare.output).values())


def test_evaluate_on_one_article_or_without_an_auc_gives_valid_json(model_dir, tmp_path):
    """A bootstrap needs two articles, and an AUC needs a technique both used and unused:
    evaluate must neither crash on a one-article file nor print NaN (not JSON) for them."""
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from framescope.cli import _register, app
    from framescope.training.metrics.intervals import ArticleTable, article_intervals

    _register()
    sample = Path(__file__).parent.parent / "labels" / "sample" / "sample.jsonl"
    one = tmp_path / "one.jsonl"
    one.write_text(sample.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["evaluate", str(model_dir), str(one), "--json", "--resamples", "50"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert all(v is None for m in report.values() for v in m["intervals"].values())
    every = ArticleTable(
        np.random.default_rng(0).random((5, 2)), np.ones((5, 2), bool), np.ones((5, 2), bool), np.zeros((5, 2), bool)
    )
    iv = article_intervals(every, n_resamples=50)
    assert iv["article_mean_auc"] is None and iv["article_presence_f1"] == [1.0, 1.0]
