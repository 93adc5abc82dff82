"""MLflow as its users expect: datasets, git tag, input example, described versions, ``framescope register``.

One quickstart training (the linear baseline, seconds of fitting) against a local SQLite
tracking store, run by the CLI as a user would; never a network.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from framescope import __version__

TRACKED = "framescope-test"


def _run(args: list[str], cwd: Path, uri: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, COLUMNS="80")
    return subprocess.run(
        [sys.executable, "-m", "framescope", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1500
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(folder, tracking URI, the train command's output): a quickstart run, tracked and registered."""
    tmp = tmp_path_factory.mktemp("register")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    proc = _run(
        [
            "train",
            "quickstart",
            "-o",
            str(tmp / "model"),
            "--set",
            f"mlflow.registered_model={TRACKED}",
            "--set",
            "mlflow.alias=candidate",
        ],
        tmp,
        uri,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp, uri, proc


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _requirements(client, version) -> str:
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{version.name}/{version.version}", tracking_uri=client._tracking_client.tracking_uri
    )
    return (Path(local) / "requirements.txt").read_text(encoding="utf-8")


def test_training_logs_datasets_git_commit_and_a_described_version(trained, monkeypatch):
    tmp, uri, proc = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = _client(uri)
    version = client.get_model_version_by_alias(TRACKED, "candidate")
    run = client.get_run(version.run_id)
    contexts = {}
    for inp in run.inputs.dataset_inputs:
        tags = {t.key: t.value for t in inp.tags}
        contexts[tags["mlflow.data.context"]] = (inp.dataset, tags)
    assert set(contexts) == {"training", "dev"}
    train_ds, train_tags = contexts["training"]
    assert train_tags["fingerprint"] == run.data.tags["train_fingerprint"]
    assert train_ds.digest == run.data.tags["train_fingerprint"][:32]
    assert '"num_rows": 79' in train_ds.profile and '"num_rows": 20' in contexts["dev"][0].profile
    from framescope.training.tracking import git_commit

    if git_commit() is not None:  # a checkout (not an installed wheel)
        assert run.data.tags["mlflow.source.git.commit"] == git_commit().removesuffix("-dirty")
    assert "dev span F1 0." in version.description and "on 20 articles" in version.description
    assert f"MLflow run {run.info.run_id}" in version.description
    assert f"framescope=={__version__}" in _requirements(client, version).split()


def test_training_prints_no_mlflow_warning_and_a_whole_table(trained):
    _, _, proc = trained
    output = proc.stdout + proc.stderr
    assert "An input example was not provided" not in output, output[-3000:]
    assert "Failed to validate serving input example" not in output, output[-3000:]
    assert [line for line in output.splitlines() if "WARNING mlflow" in line] == []
    assert "0.…" not in proc.stdout and "…" not in proc.stdout, proc.stdout
    assert "span F1" in proc.stdout


def test_print_report_does_not_truncate_when_not_a_terminal(capsys):
    from framescope.cli.train import print_report

    m = {
        "articles": 20,
        "article_mean_auc": 0.812345,
        "article_presence_f1": 0.61234,
        "constant_guess_presence_f1": 0.4,
        "paragraph_micro_f1": 0.3,
        "span_precision": 0.25,
        "span_recall": 0.125,
        "span_f1": 0.16789,
        "span_identification_f1": 0.2,
        "mean_pred_span_length": 40.0,
        "mean_gold_span_length": 55.0,
        "intervals": {"article_mean_auc": [0.7, 0.9]},
        "per_technique": {"Loaded_Language": {"precision": 0.5, "recall": 0.25, "f1": 0.333, "n_pred": 4, "n_gold": 8}},
    }
    print_report({"all": m, "de": m}, title="dev results")
    out = capsys.readouterr().out
    assert "…" not in out
    assert "0.812 [0.700, 0.900]" in out and "0.168" in out and "Loaded_Language" in out


def test_register_an_existing_folder(trained, tmp_path, monkeypatch):
    tmp, uri, _ = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # models:/ URIs resolve through the registry URI
    proc = _run(["register", str(tmp / "model"), "--name", "framescope-folder", "--alias", "prod"], tmp_path, uri)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "registered: models:/framescope-folder/1 (alias @prod)" in proc.stdout
    client = _client(uri)
    version = client.get_model_version_by_alias("framescope-folder", "prod")
    assert str(version.version) == "1" and "Registered from a model folder" in version.description
    assert "dev span F1" in version.description
    assert f"framescope=={__version__}" in _requirements(client, version).split()
    run = client.get_run(version.run_id)
    assert run.data.tags["registered_from_folder"] == str((tmp / "model").resolve())


def test_register_refuses_a_folder_that_is_not_a_model(trained, tmp_path):
    _, uri, _ = trained
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    proc = _run(["register", str(folder), "--name", "framescope-bad"], tmp_path, uri)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        _client(uri).get_registered_model("framescope-bad")
