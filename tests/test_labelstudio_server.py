"""Integration: docs/labelstudio.md against a real Label Studio server on 127.0.0.1.

Label Studio is large and pins its own Django stack, so it lives in a separate virtual
environment (docs/labelstudio.md); point ``FRAMESCOPE_LABEL_STUDIO`` at its ``label-studio``
executable, or have one on PATH. Skipped cleanly where neither exists.

The loop: the printed labeling config makes a project; framescope's pre-annotations
(``labelstudio.json`` of ``framescope score``) are imported; one task is annotated twice
(two annotators), one is skipped, one stays prediction-only; the JSON export reads back
with the documented count of each.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.labels.document import Document, Span
from framescope.labels.formats import labelstudio

_register()
TOKEN = "0123456789abcdef0123456789abcdef01234567"
TEXT = "They are traitors. Act now or lose everything!"


def _executable() -> str | None:
    return os.environ.get("FRAMESCOPE_LABEL_STUDIO") or shutil.which("label-studio")


pytestmark = pytest.mark.skipif(_executable() is None, reason="label-studio not installed (FRAMESCOPE_LABEL_STUDIO)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, method: str = "GET", body=None):
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


@pytest.fixture()
def label_studio(tmp_path):
    """A fresh Label Studio (its own data dir and user) on 127.0.0.1; yields its base URL."""
    port = _free_port()
    cmd = [
        _executable(),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--host",
        f"http://127.0.0.1:{port}",
        "--data-dir",
        str(tmp_path / "ls-data"),
        "--username",
        "annotator@example.com",
        "--password",
        "framescope-test-1",
        "--user-token",
        TOKEN,
        "--enable-legacy-api-token",
    ]
    env = dict(os.environ, SENTRY_DSN="", FRONTEND_SENTRY_DSN="", LABEL_STUDIO_BASE_DATA_DIR=str(tmp_path / "ls-data"))
    log = open(tmp_path / "ls.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    # the first start migrates a new database: minutes, and half an hour on a machine shared by many jobs
    deadline = time.time() + float(os.environ.get("FRAMESCOPE_LABEL_STUDIO_START_S", "900"))
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("label-studio exited:\n" + (tmp_path / "ls.log").read_text()[-3000:])
            try:
                _api(f"{url}/api/projects")
                break
            except (OSError, urllib.error.HTTPError):
                if time.time() > deadline:
                    raise RuntimeError("label-studio did not answer in time (FRAMESCOPE_LABEL_STUDIO_START_S)")
                time.sleep(2)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def _pre_annotations(tmp_path: Path) -> Path:
    """What ``framescope score --format labelstudio`` writes: one task per article, predictions with scores."""
    docs = [
        Document(f"a{i}", TEXT, "en", [Span(9, 17, "Name_Calling-Labeling")], {"span_scores": [0.9]}) for i in range(3)
    ]
    path = tmp_path / "labelstudio.json"
    labelstudio.write_predictions(docs, path, model_version="framescope@1")
    return path


def test_config_import_review_export_read_back(label_studio, tmp_path):
    config = CliRunner().invoke(app, ["labelstudio", "config", "--taxonomy", "semeval2023"])
    assert config.exit_code == 0, config.output
    project = _api(f"{label_studio}/api/projects", "POST", {"title": "framescope", "label_config": config.output})
    tasks = json.loads(_pre_annotations(tmp_path).read_text(encoding="utf-8"))
    imported = _api(f"{label_studio}/api/projects/{project['id']}/import", "POST", tasks)
    assert imported["task_count"] == 3 and imported["prediction_count"] == 3, imported
    listed = _api(f"{label_studio}/api/tasks?project={project['id']}")
    listed = listed["tasks"] if isinstance(listed, dict) else listed
    by_doc = {t["data"]["id"]: t["id"] for t in listed}
    accepted = tasks[0]["predictions"][0]["result"]  # the reviewer accepts the pre-annotation...
    _api(f"{label_studio}/api/tasks/{by_doc['a0']}/annotations", "POST", {"result": accepted})
    second = [{**accepted[0], "id": "r2", "value": {**accepted[0]["value"], "labels": ["Doubt"]}}]
    time.sleep(1.1)  # ...a second annotator disagrees, later
    _api(f"{label_studio}/api/tasks/{by_doc['a0']}/annotations", "POST", {"result": second})
    _api(f"{label_studio}/api/tasks/{by_doc['a1']}/annotations", "POST", {"result": [], "was_cancelled": True})
    default = _api(f"{label_studio}/api/projects/{project['id']}/export?exportType=JSON")
    assert sorted(t["data"]["id"] for t in default) == ["a0", "a1"], "by default tasks without annotations are left out"
    exported = _api(f"{label_studio}/api/projects/{project['id']}/export?exportType=JSON&download_all_tasks=true")
    export = tmp_path / "export.json"
    export.write_text(json.dumps(exported), encoding="utf-8")

    docs, counts = labelstudio.read_counted(export, problems := [])
    assert problems == []
    by_id = {d.id: d for d in docs}
    assert [s.technique for s in by_id["a0"].spans] == ["Doubt"], "the most recent annotation is read"
    assert (counts.tasks, counts.annotated, counts.several, counts.skipped, counts.prediction_only) == (3, 1, 1, 1, 1)
    validate = CliRunner().invoke(app, ["data", "validate", str(export)])
    assert validate.exit_code == 0, validate.output
    out = " ".join(validate.output.split())
    assert "ok 1 article(s), 1 span(s), no errors; 2 unlabeled document(s), not counted as articles" in out
    assert "1 skipped task(s)" in out and "1 prediction-only task(s)" in out
