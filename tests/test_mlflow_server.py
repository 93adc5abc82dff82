"""Integration: a real ``mlflow server`` on 127.0.0.1, a tiny transformer trained against it over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from framescope.training.config import load_config
from framescope.training.train import train

pytestmark = pytest.mark.slow  # an MLflow tracking server in a subprocess


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def mlflow_server(tmp_path):
    port = _free_port()
    exe = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    cmd = [
        exe,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination",
        str(tmp_path / "artifacts"),
    ]
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("mlflow server exited:\n" + (tmp_path / "server.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("mlflow server did not start in 90 s")
    try:
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def test_train_tiny_model_against_http_server(mlflow_server, tiny_bert, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    cfg = load_config("quickstart").with_values(
        {
            "output_dir": str(tmp_path / "model"),
            "model.type": "transformer",
            "model.base": str(tiny_bert),
            "model.max_length": 32,
            "model.stride": 8,
            "training.max_steps": 3,
            "training.batch_size": 8,
            "training.eval_every_epochs": 1.0,
            "mlflow.experiment": "http-test",
            "mlflow.registered_model": "framescope-http",
            "mlflow.alias": "candidate",
        }
    )
    result = train(cfg)
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.type"] == "transformer"
    assert "dev.all.span_f1" in run.data.metrics
    history = client.get_metric_history(result.run_id, "eval_span_f1")
    assert history, "per-evaluation metrics are logged during training"
    version = client.get_model_version_by_alias("framescope-http", "candidate")
    assert str(version.version) == result.registered_version
    # the artifacts went through the server, not to a local folder
    assert (tmp_path / "artifacts").exists() and any((tmp_path / "artifacts").rglob("framescope.json"))
    assert not (tmp_path / "mlruns").exists()
