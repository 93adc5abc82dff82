"""`framescope train` unchanged under ``torchrun`` (two CPU processes, gloo): one MLflow run, one model.

A tiny random BERT (the ``tiny_bert`` fixture) trains for a few steps in two processes
against a temporary sqlite MLflow store; only the main process calibrates, writes the
model folder and logs, so the store holds exactly one run and one registered version.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # two processes under torchrun: ~30-40 s on 2 cores


def _launcher() -> list[str]:
    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun is not installed")
    return [torchrun, "--standalone", "--nproc_per_node", "2"]


def test_two_process_training_logs_one_run(tiny_bert, tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sets = {
        "model.type": "transformer",
        "model.base": str(tiny_bert),
        "model.max_length": 64,
        "model.stride": 16,
        "training.max_steps": 4,
        "training.batch_size": 8,
        "training.eval_every_epochs": 0.01,  # evaluate (and broadcast the metrics) at every step
        "training.early_stopping_patience": 1,
        "training.threads": 1,
        "mlflow.experiment": "ddp-test",
        "mlflow.registered_model": "fs-ddp",
        "mlflow.alias": "candidate",
    }
    cmd = [*_launcher(), "-m", "framescope", "train", "quickstart", "-o", str(tmp_path / "model")]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "OMP_NUM_THREADS": "1",
        "FRAMESCOPE_TQDM": "0",
        "TOKENIZERS_PARALLELISM": "false",
    }
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    # both ranks trained together (DDP over gloo: each step sees 2 x batch_size windows of
    # the epoch); only rank 0 went on to save, report and log
    assert proc.stdout.count("training windows") == 2
    epoch = float(re.search(r"step 1 \(epoch ([0-9.]+)\)", proc.stdout).group(1))
    windows = int(re.search(r"(\d+) training windows", proc.stdout).group(1))
    assert epoch >= 1.5 * 8 / windows, "the two processes did not share the epoch (no DDP)"
    assert proc.stdout.count("model folder") == 1

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name("ddp-test")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    versions = client.search_model_versions("name='fs-ddp'")
    assert len(versions) == 1 and versions[0].run_id == runs[0].info.run_id
    assert client.get_model_version_by_alias("fs-ddp", "candidate").version == versions[0].version
    # one complete model folder, loadable
    from framescope.model.tagger import SpanTagger

    tagger = SpanTagger.from_pretrained(tmp_path / "model")
    assert tagger.score(["Diese feigen Verräter lügen uns an."])[0].id == "0"
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "eval_span_f1")]
    assert steps and steps == sorted(set(steps)), "each evaluation logged once, by the main process"
