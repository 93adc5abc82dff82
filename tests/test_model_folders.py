"""Model folders load exactly or not at all.

Every inconsistency between the weights, ``config.json``, ``framescope.json`` and
``taxonomy.yaml`` is a :class:`~framescope.errors.ModelError` naming the folder and what does
not match; ``framescope score`` then exits 2 without a traceback and writes no exports.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from framescope.errors import ModelError
from framescope.model.tagger import SpanTagger

ARTICLE = "Die feigen Verräter haben uns verkauft. Nur ein Narr glaubt noch den Lügen der Regierung."


@pytest.fixture(scope="module")
def tagger_folder(random_tagger_folder) -> Path:
    return random_tagger_folder("exact-loading", 1.0)


@pytest.fixture
def copy_of(tmp_path):
    def make(folder: Path) -> Path:
        out = tmp_path / "model"
        shutil.copytree(folder, out)
        return out

    return make


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _edit_tensors(path: Path, change) -> None:
    """Rewrite a safetensors file through numpy (torch tensors saved by transformers load as arrays)."""
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


def _relabel(config: dict, labels: list[str]) -> None:
    config["id2label"] = {str(i): lab for i, lab in enumerate(labels)}
    config["label2id"] = {lab: i for i, lab in enumerate(labels)}


# -- transformer folders -------------------------------------------------------------------


def test_a_consistent_transformer_folder_loads(tagger_folder):
    tagger = SpanTagger.from_pretrained(tagger_folder)
    assert tagger.techniques and tagger.predict([ARTICLE]) is not None


def test_weights_of_another_model_are_refused(tagger_folder, tiny_bert, copy_of, capfd):
    """The issue's case: a valid BERT config.json, weights that do not fit (the bare encoder's)."""
    folder = copy_of(tagger_folder)
    shutil.copy(tiny_bert / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(ModelError) as info:
        SpanTagger.from_pretrained(folder)
    msg = str(info.value)
    assert msg.startswith(f"model folder {folder}: the weights do not fit the model:")
    assert "missing from the safetensors file (would be random): classifier.bias, classifier.weight" in msg
    assert "weights the model does not use: pooler.dense.bias, pooler.dense.weight" in msg
    assert "MISSING" not in capfd.readouterr().err  # transformers' load report no longer leaks to stderr


def test_a_left_over_tensor_is_refused(tagger_folder, copy_of):
    folder = copy_of(tagger_folder)
    _edit_tensors(folder / "model.safetensors", lambda t: t.update({"extra_head.weight": np.zeros((2, 2), np.float32)}))
    with pytest.raises(ModelError, match="weights the model does not use: extra_head.weight"):
        SpanTagger.from_pretrained(folder)


def test_a_classifier_of_the_wrong_shape_is_refused(tagger_folder, copy_of):
    folder = copy_of(tagger_folder)

    def shrink(t):
        t["classifier.weight"] = t["classifier.weight"][:, :16].copy()

    _edit_tensors(folder / "model.safetensors", shrink)
    with pytest.raises(ModelError, match=r"weights of the wrong shape: classifier.weight \(47, 16\) in the file"):
        SpanTagger.from_pretrained(folder)


def test_config_with_fewer_labels_than_the_techniques_is_refused(tagger_folder, copy_of):
    folder = copy_of(tagger_folder)
    _edit_json(folder / "config.json", lambda c: _relabel(c, list(c["id2label"].values())[:-2]))
    with pytest.raises(
        ModelError,
        match=r"config.json has 45 labels but framescope.json \(23 techniques, scheme "
        r"multilabel-softmax\) needs 47",
    ):
        SpanTagger.from_pretrained(folder)


def test_config_labels_in_another_order_are_refused(tagger_folder, copy_of):
    folder = copy_of(tagger_folder)

    def swap(c):
        labels = list(c["id2label"].values())
        labels[1], labels[2] = labels[2], labels[1]
        _relabel(c, labels)

    _edit_json(folder / "config.json", swap)
    with pytest.raises(ModelError, match=r"id2label\[1\] is 'B-Appeal_to_Fear-Prejudice' where framescope.json"):
        SpanTagger.from_pretrained(folder)


def test_a_technique_the_taxonomy_does_not_define_is_refused(tagger_folder, copy_of):
    folder = copy_of(tagger_folder)
    _edit_json(folder / "framescope.json", lambda s: s["techniques"].__setitem__(0, "Appeal_to_Nonsense"))
    with pytest.raises(ModelError) as info:
        SpanTagger.from_pretrained(folder)
    assert "framescope.json lists techniques that taxonomy.yaml does not define: Appeal_to_Nonsense" in str(info.value)
    assert "taxonomy.yaml techniques missing from framescope.json: Appeal_to_Authority" in str(info.value)


def test_thresholds_for_unknown_techniques_are_refused(tagger_folder, copy_of):
    folder = copy_of(tagger_folder)
    _edit_json(folder / "framescope.json", lambda s: s["thresholds"].update({"Nonsense": 0.4}))
    with pytest.raises(ModelError, match="thresholds for techniques the model does not have: Nonsense"):
        SpanTagger.from_pretrained(folder)


def test_an_unknown_scheme_is_refused(tagger_folder, copy_of):
    folder = copy_of(tagger_folder)
    _edit_json(folder / "framescope.json", lambda s: s["extra"].update({"scheme": "crf"}))
    with pytest.raises(ModelError, match="extra.scheme must be one of"):
        SpanTagger.from_pretrained(folder)


def test_score_cli_refuses_a_broken_folder_with_exit_2_and_writes_nothing(tagger_folder, tiny_bert, copy_of, tmp_path):
    from framescope.cli import _register, app

    _register()
    folder = copy_of(tagger_folder)
    shutil.copy(tiny_bert / "model.safetensors", folder / "model.safetensors")
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["score", str(article), "--model", str(folder), "--out", str(out), "-q", "--lang", "de"]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert "the weights do not fit the model" in " ".join(result.output.split())  # rich wraps lines
    assert not out.exists() or not any(out.glob("*.parquet")) and not (out / "results.jsonl").exists()


# -- the linear baseline ---------------------------------------------------------------------


def _linear_case(name: str):
    def more_coef(t):
        t["coef"] = np.concatenate([t["coef"], t["coef"][:2]])
        t["intercept"] = np.concatenate([t["intercept"], t["intercept"][:2]])

    return {
        "extra array": (lambda t: t.update({"pickle_me": np.zeros(1, np.float32)}), "unexpected pickle_me"),
        "no intercept": (lambda t: t.pop("intercept"), "missing intercept"),
        "more channels": (more_coef, r"coef \(48, 65536\) and intercept \(48,\)"),
        "nan": (lambda t: t["coef"].__setitem__((0, 0), np.nan), "coef holds NaN or infinite values"),
    }[name]


@pytest.mark.parametrize("case", ["extra array", "no intercept", "more channels", "nan"])
def test_linear_weights_must_fit_exactly(model_dir, copy_of, case):
    change, message = _linear_case(case)
    folder = copy_of(model_dir)
    _edit_tensors(folder / "model.safetensors", change)
    with pytest.raises(ModelError, match=message):
        SpanTagger.from_pretrained(folder)


def test_linear_technique_list_must_match_the_taxonomy(model_dir, copy_of, tmp_path):
    """The issue's ``KeyError`` traceback (exit 1): techniques renamed in framescope.json."""
    from framescope.cli import _register, app

    _register()
    folder = copy_of(model_dir)
    _edit_json(folder / "framescope.json", lambda s: s["techniques"].__setitem__(-1, "Whataboutery"))
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["score", str(article), "--model", str(folder), "--out", str(tmp_path / "o"), "-q"]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "does not define: Whataboutery" in " ".join(result.output.split())


# -- the ONNX backend ------------------------------------------------------------------------


def test_onnx_graph_of_another_head_is_refused(tagger_folder, random_tagger_folder, copy_of, tmp_path):
    pytest.importorskip("onnxruntime")
    import torch

    from framescope.model.onnx_backend import export_onnx
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.model.transformer import TransformerTagger

    folder = copy_of(tagger_folder)
    export_onnx(folder)
    assert SpanTagger.from_pretrained(folder, backend="onnx-fp32").backend == "onnx-fp32"
    # a sigmoid-scheme head (46 logits) exported, its graph copied over the softmax folder's (47)
    torch.manual_seed(0)
    other = TransformerTagger.from_base(
        str(json.loads((folder / "framescope.json").read_text())["extra"]["base_model"]),
        load_taxonomy(),
        max_length=48,
        stride=12,
        scheme="multilabel",
    )
    other.save_pretrained(tmp_path / "other")
    export_onnx(tmp_path / "other")
    shutil.copy(tmp_path / "other" / "model.onnx", folder / "model.onnx")
    with pytest.raises(ModelError, match="model.onnx gives 46 logits per token but framescope.json"):
        SpanTagger.from_pretrained(folder, backend="onnx-fp32")


# -- MLflow URIs -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_failed_registry_lookup_creates_no_mlflow_db(tmp_path, monkeypatch):
    """``models:/nope@x`` with no store: a clear exit-2 error, and no ./mlflow.db left behind."""
    from framescope.cli import _register, app

    _register()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["score", "a.txt", "--model", "models:/nope@x", "--out", "o", "-q", "--lang", "de"]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "there is no MLflow store at" in " ".join(result.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


@pytest.mark.slow
def test_a_lookup_in_an_existing_store_names_the_missing_model(tmp_path, monkeypatch):
    import mlflow

    from framescope.errors import ModelError

    db = tmp_path / "store.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").search_registered_models()  # creates the store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    with pytest.raises(ModelError, match="models:/nope@x: Registered Model with name=nope not found"):
        SpanTagger.from_pretrained("models:/nope@x")


def test_export_onnx_refuses_weights_that_do_not_fit(tagger_folder, tiny_bert, copy_of, tmp_path):
    pytest.importorskip("onnxruntime")
    from framescope.model.onnx_backend import export_onnx

    folder = copy_of(tagger_folder)
    shutil.copy(tiny_bert / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(ModelError, match="the weights do not fit the model"):
        export_onnx(folder, tmp_path / "onnx-out")
    assert not (tmp_path / "onnx-out").exists()


# -- loading raises ModelError alone -----------------------------------------------------------


def _broken_folders(model_dir: Path, tmp: Path) -> dict[str, tuple[Path, dict, str]]:
    """``name -> (folder, from_pretrained keywords, what the message names)``."""

    def copy(name: str, change=None) -> Path:
        folder = tmp / name
        shutil.copytree(model_dir, folder)
        if change is not None:
            change(folder)
        return folder

    return {
        "no settings": (copy("no-settings", lambda f: (f / "framescope.json").unlink()), {}, "framescope.json"),
        "settings not json": (copy("bad-json", lambda f: (f / "framescope.json").write_text("{")), {}, "invalid JSON"),
        "unknown model type": (
            copy("model-type", lambda f: _edit_json(f / "framescope.json", lambda s: s.update({"model_type": "crf"}))),
            {},
            "model_type",
        ),
        "no weights": (copy("no-weights", lambda f: (f / "model.safetensors").unlink()), {}, "model.safetensors"),
        "damaged taxonomy": (
            copy("taxonomy", lambda f: (f / "taxonomy.yaml").write_text("[: not yaml")),
            {},
            "taxonomy.yaml",
        ),
        "no taxonomy": (copy("no-taxonomy", lambda f: (f / "taxonomy.yaml").unlink()), {}, "taxonomy.yaml"),
        "unknown backend": (model_dir, {"backend": "cuda-fp8"}, "backend must be one of"),
        "backend the model lacks": (model_dir, {"backend": "onnx-int8"}, "no onnx-int8 backend"),
        "another taxonomy": (model_dir, {"expected_taxonomy": "ptc2020"}, "is not the expected"),
        "not a folder": (tmp / "nowhere", {}, "framescope.json"),
    }


CASES = [
    "no settings",
    "settings not json",
    "unknown model type",
    "no weights",
    "damaged taxonomy",
    "no taxonomy",
    "unknown backend",
    "backend the model lacks",
    "another taxonomy",
    "not a folder",
]


@pytest.mark.parametrize("case", CASES)
def test_loading_raises_model_error_alone(model_dir, tmp_path, case):
    from framescope.model.tagger import SpanTagger

    folder, kwargs, named = _broken_folders(model_dir, tmp_path)[case]
    with pytest.raises(ModelError) as info:
        SpanTagger.from_pretrained(folder, **kwargs)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_a_folder_of_another_kind_is_a_model_error(model_dir):
    from framescope.model.transformer import TransformerTagger

    with pytest.raises(ModelError, match="a linear model, not a TransformerTagger"):
        TransformerTagger.from_pretrained(model_dir)


def test_a_missing_onnx_graph_is_a_model_error(tagger_folder):
    pytest.importorskip("onnxruntime")
    with pytest.raises(ModelError, match="export-onnx"):
        SpanTagger.from_pretrained(tagger_folder, backend="onnx-int8")


def test_transformer_folder_without_safetensors_is_a_model_error(tagger_folder, copy_of):
    folder = copy_of(tagger_folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="no safetensors weights"):
        SpanTagger.from_pretrained(folder)


# -- the base class owns persistence; the folder appears whole or not at all -------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_subclasses_save_and_load_only_their_weights():
    from framescope.model.linear import LinearTagger
    from framescope.model.tagger import SpanTagger
    from framescope.model.transformer import TransformerTagger

    for cls in (LinearTagger, TransformerTagger):
        assert "save_pretrained" not in vars(cls) and "from_pretrained" not in vars(cls)
        assert "_save_weights" in vars(cls) and "_load_weights" in vars(cls)
    assert "save_stage" not in vars(SpanTagger)


@pytest.mark.parametrize("fixture", ["model_dir", "tagger_folder"])
def test_a_saved_folder_loads_back_identical(request, tmp_path, fixture):
    """Settings, taxonomy, stage and weights written by the base class read back to the same model."""
    from framescope.model.tagger import SpanTagger

    source = request.getfixturevalue(fixture)
    tagger = SpanTagger.from_pretrained(source)
    tagger.save_pretrained(tmp_path / "again")
    again = SpanTagger.from_pretrained(tmp_path / "again")
    assert again.fingerprint() == tagger.fingerprint()
    assert (again.stage is None) == (tagger.stage is None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no staging folder left behind
    kept = {"README.md", "dev_report.json"}  # written beside the model by `train`
    assert set(_files(tmp_path / "again")) == set(_files(source)) - kept


def _fail_halfway(monkeypatch, where: str) -> None:
    """Make a save raise after the weights (``stage``) or while writing them (``weights``)."""
    from framescope.model.article_stage import ArticleStage
    from framescope.model.linear import LinearTagger

    real = LinearTagger._save_weights

    def broken_weights(self, folder):
        real(self, folder)
        raise OSError(28, "No space left on device")

    def broken_stage(self, folder):
        (Path(folder) / "article_stage.json").write_text("{", encoding="utf-8")
        raise OSError(28, "No space left on device")

    if where == "weights":
        monkeypatch.setattr(LinearTagger, "_save_weights", broken_weights)
    else:
        monkeypatch.setattr(ArticleStage, "save_pretrained", broken_stage)


@pytest.mark.parametrize("where", ["weights", "stage"])
def test_a_save_that_fails_halfway_leaves_no_folder(model_dir, tmp_path, monkeypatch, where):
    from framescope.model.tagger import SpanTagger

    tagger = SpanTagger.from_pretrained(model_dir)
    _fail_halfway(monkeypatch, where)
    with pytest.raises(OSError, match="No space left"):
        tagger.save_pretrained(tmp_path / "runs" / "model")
    assert not (tmp_path / "runs" / "model").exists()
    assert list((tmp_path / "runs").iterdir()) == []  # the staging folder is gone too


@pytest.mark.parametrize("where", ["weights", "stage"])
def test_a_save_that_fails_keeps_the_old_folder(model_dir, tmp_path, monkeypatch, where):
    from framescope.model.tagger import SpanTagger

    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    before = _files(target)
    tagger = SpanTagger.from_pretrained(model_dir)
    tagger.settings.name = "the new one"
    _fail_halfway(monkeypatch, where)
    with pytest.raises(OSError, match="No space left"):
        tagger.save_pretrained(target)
    assert _files(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert SpanTagger.from_pretrained(target).settings.name != "the new one"


def test_saving_over_a_model_folder_replaces_it_whole(model_dir, tmp_path):
    """Files of the old model (a stage the new one lacks, an ONNX graph of old weights) go with it."""
    from framescope.model.tagger import SpanTagger

    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    (target / "model.onnx").write_bytes(b"an export of the old weights")
    tagger = SpanTagger.from_pretrained(model_dir)
    tagger.stage = None
    tagger.settings.name = "the new one"
    tagger.save_pretrained(target)
    assert not (target / "model.onnx").exists() and not (target / "article_stage.json").exists()
    assert not (target / "article_stage.safetensors").exists()
    assert SpanTagger.from_pretrained(target).settings.name == "the new one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_saving_over_a_folder_that_is_not_a_model_is_refused(model_dir, tmp_path):
    """Replacing the folder whole must never delete a user's files (``train -o ~/Documents``)."""
    from framescope.errors import UsageError
    from framescope.model.tagger import SpanTagger

    target = tmp_path / "notes"
    target.mkdir()
    (target / "todo.txt").write_text("keep me", encoding="utf-8")
    tagger = SpanTagger.from_pretrained(model_dir)
    with pytest.raises(UsageError, match="not a framescope model folder"):
        tagger.save_pretrained(target)
    assert _files(target) == {"todo.txt": b"keep me"}
    (tmp_path / "empty").mkdir()
    tagger.save_pretrained(tmp_path / "empty")  # an empty folder (a fresh mktemp) is fine
    assert SpanTagger.from_pretrained(tmp_path / "empty").techniques == tagger.techniques
