"""The scoring service: ``mlflow models serve -m models:/framescope@candidate`` on 127.0.0.1.

Answers equal ``framescope score`` on the same texts exactly (spans, scores, language,
hashes) and name the registry version served; bad requests get a clear 4xx, never a 500.
See docs/service.md.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import resources

import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app

pytestmark = pytest.mark.slow  # an MLflow scoring server in a subprocess

EXAMPLES = resources.files("framescope.inference") / "examples"
DE = (EXAMPLES / "de_article.txt").read_text(encoding="utf-8")
EN = (EXAMPLES / "en_article.txt").read_text(encoding="utf-8")
MAX_ARTICLES, MAX_CHARS = 4, 20_000

_register()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service(tracked_quickstart, tmp_path_factory):
    """``mlflow models serve`` of the registered quickstart model; yields its URL."""
    tmp = tmp_path_factory.mktemp("service")
    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=f"sqlite:///{tracked_quickstart / 'mlflow.db'}",
        FRAMESCOPE_SERVE_MAX_ARTICLES=str(MAX_ARTICLES),
        FRAMESCOPE_SERVE_MAX_CHARS=str(MAX_CHARS),
    )
    # mlflow starts `uvicorn` from PATH: make it this interpreter's (the framescope under test), also in a
    # venv that shares another's packages and has no uvicorn script of its own
    shim = tmp / "bin"
    shim.mkdir()
    (shim / "uvicorn").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m uvicorn "$@"\n')
    (shim / "uvicorn").chmod(0o755)
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        "models:/framescope@candidate",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
    ]
    log = open(tmp / "serve.log", "wb")
    proc = subprocess.Popen(
        cmd, cwd=tracked_quickstart, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("mlflow models serve exited:\n" + (tmp / "serve.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(
                    "mlflow models serve did not answer in 120 s:\n" + (tmp / "serve.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def post(url: str, body: bytes | str | dict, content_type: str = "application/json") -> tuple[int, dict | str]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body if isinstance(body, bytes) else body.encode()
    req = urllib.request.Request(f"{url}/invocations", data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            status, raw = r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read().decode()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


ARTICLES = [
    {"id": "de-1", "text": DE, "lang": "de"},
    {"id": "en-1", "text": EN},  # language detected, as the CLI does
    {"id": "short", "text": "Sie lügen. Immer. Diese Verräter!", "lang": "DE"},
]


def test_answers_equal_the_cli_and_name_the_registry_version(service, tracked_quickstart, tmp_path, monkeypatch):
    status, body = post(service, {"dataframe_records": ARTICLES})
    assert status == 200, body
    served = {p["id"]: p for p in body["predictions"]}

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tracked_quickstart / 'mlflow.db'}")
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    res = CliRunner().invoke(
        app,
        [
            "score",
            "-q",
            str(feed),
            "--model",
            "models:/framescope@candidate",
            "--out",
            str(tmp_path / "out"),
            "--format",
            "jsonl",
        ],
    )
    assert res.exit_code == 0, res.output
    cli = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in cli] == [a["id"] for a in ARTICLES] == list(served)
    assert sum(len(r["spans"]) for r in cli) > 0
    for rec in cli:
        got = served[rec["id"]]
        assert got["spans"] == rec["spans"]
        assert {t: got[f"score_{t}"] for t in rec["techniques"]} == {
            t: v["score"] for t, v in rec["techniques"].items()
        }
        assert {c: got[f"category_{c}"] for c in rec["categories"]} == rec["categories"]
        for key in ("lang", "n_chars", "text_sha256", "model", "model_version"):
            assert got[key] == rec[key], key
        assert got["overall_score"] == rec["overall"] and got["n_spans"] == len(rec["spans"])
        # the registry's name and version, not the framescope version
        assert (got["model"], got["model_version"]) == ("framescope", "1")


@pytest.mark.parametrize(
    "body, says",
    [
        ({"dataframe_records": [ARTICLES[0], {"id": "blank", "text": "  \n"}]}, "record 1 (id 'blank'): empty article"),
        ({"dataframe_records": [{"id": "n", "text": None}]}, "record 0 (id 'n'): no 'text' field"),
        ({"dataframe_records": [{"id": "i", "text": 5}]}, "'text' is not a string"),
        ({"dataframe_records": [{"id": "x"}]}, "missing inputs ['text']"),
        ({"dataframe_records": [{"text": "kurz"}] * (MAX_ARTICLES + 1)}, f"the limit is {MAX_ARTICLES}"),
        ({"dataframe_records": [{"id": "big", "text": "Wort " * (MAX_CHARS // 5 + 1)}]}, f"the limit is {MAX_CHARS}"),
        ("{not json", "valid JSON"),
        ({"dataframe_records": []}, "the request holds no articles"),
    ],
)
def test_bad_requests_get_a_clear_4xx(service, body, says):
    status, answer = post(service, body)
    assert 400 <= status < 500, (status, answer)
    assert says in json.dumps(answer), answer


def test_wrong_content_type_is_415_and_the_server_keeps_serving(service):
    status, _ = post(service, "text=hallo", content_type="application/x-www-form-urlencoded")
    assert status == 415
    status, body = post(service, {"dataframe_split": {"columns": ["text"], "data": [["Ein Text."]]}})
    assert status == 200 and body["predictions"][0]["id"] == "0"
