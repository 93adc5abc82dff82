"""MLflow tracking: one run per training, with everything needed to compare and reproduce it.

Vocabulary is MLflow's: a *run* holds params, metrics, tags and artifacts; the model
folder is logged as an MLflow *model* and registered in the *registry* under a name
with an *alias* (``framescope@candidate``). The tracking URI is MLflow's own default
unless ``MLFLOW_TRACKING_URI`` says otherwise.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from framescope.training.config import Config, flatten
from framescope.training.distributed import is_main_process

_BAD_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_key(*parts: str) -> str:
    return _BAD_KEY.sub("_", ".".join(p for p in parts if p))


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def git_tags() -> dict[str, str]:
    """``git_commit`` (with ``-dirty`` for uncommitted changes) and MLflow's standard
    ``mlflow.source.git.commit`` (the bare hash, which the MLflow UI links); none outside a checkout."""
    commit = git_commit()
    if not commit:
        return {}
    return {"git_commit": commit, "mlflow.source.git.commit": commit.removesuffix("-dirty")}


def dataset_frame(docs: list) -> "Any":
    """One row per article (id, lang, text, spans as JSON): what MLflow profiles as a dataset."""
    import pandas as pd

    return pd.DataFrame(
        {
            "id": [d.id for d in docs],
            "lang": [d.lang for d in docs],
            "text": [d.text for d in docs],
            "spans": [json.dumps([s.to_dict() for s in d.spans]) for d in docs],
        }
    )


def version_description(model_dir: str | Path) -> str:
    """A registered version's description, from the folder itself: kind, taxonomy, data, dev scores."""
    from framescope.model.settings import TaggerSettings

    settings = TaggerSettings.load(model_dir)
    tax = settings.taxonomy
    parts = [
        f"framescope {settings.model_type} tagger ({settings.name}), {len(settings.techniques)} techniques of"
        f" taxonomy {tax.get('name')}@{tax.get('version')}, written by framescope {settings.framescope_version}"
    ]
    extra = settings.extra
    if extra.get("config_name"):
        parts.append(f"config {extra['config_name']}")
    if extra.get("train_fingerprint"):
        parts.append(f"training data fingerprint {str(extra['train_fingerprint'])[:12]}")
    report_path = Path(model_dir) / "dev_report.json"
    if report_path.is_file():
        try:
            dev = json.loads(report_path.read_text(encoding="utf-8")).get("all", {})
            parts.append(f"dev span F1 {float(dev['span_f1']):.3f} on {int(dev['articles'])} articles")
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # a description without scores beats no registration
    return "; ".join(parts) + "."


def register_version(info: Any, name: str | None, alias: str | None, description: str) -> str | None:
    """Describe the version MLflow just registered under ``name`` and point ``alias`` at it."""
    version = getattr(info, "registered_model_version", None)
    if not name or version is None:
        return None
    from mlflow import MlflowClient

    client = MlflowClient()
    client.update_model_version(name, str(version), description=description)
    if alias:
        client.set_registered_model_alias(name, alias, str(version))
    return str(version)


def log_metrics_report(mlflow, report: dict, prefix: str, step: int | None = None) -> None:
    """Flatten an evaluation report (``all``/per-language, per-technique) into metric keys."""
    metrics: dict[str, float] = {}
    for group, m in report.items():
        for k, v in m.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                metrics[metric_key(prefix, group, k)] = float(v)
        if group == "all":
            for tech, tm in m.get("per_technique", {}).items():
                for k in ("precision", "recall", "f1"):
                    metrics[metric_key(prefix, "technique", tech, k)] = float(tm[k])
    mlflow.log_metrics(metrics, step=step)


def technique_table(report: dict, calibration: dict | None = None) -> list[dict[str, Any]]:
    rows = []
    per = report.get("all", {}).get("per_technique", {})
    for tech in sorted(set(per) | set(calibration or {})):
        m = per.get(tech, {})
        c = (calibration or {}).get(tech, {})
        rows.append(
            {
                "technique": tech,
                "precision": round(m.get("precision", 0.0), 4),
                "recall": round(m.get("recall", 0.0), 4),
                "f1": round(m.get("f1", 0.0), 4),
                "n_pred": m.get("n_pred", 0),
                "n_gold": m.get("n_gold", 0),
                "threshold": c.get("threshold"),
                "threshold_source": c.get("source"),
            }
        )
    return rows


def pr_chart(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    for r in rows:
        if r["n_gold"] or r["n_pred"]:
            ax.scatter(r["recall"], r["precision"], s=12 + 3 * (r["n_gold"] ** 0.5))
            ax.annotate(r["technique"], (r["recall"], r["precision"]), fontsize=6)
    ax.set_xlabel("span recall (partial overlap)")
    ax.set_ylabel("span precision (partial overlap)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Per-technique precision/recall on dev")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


class Tracker:
    """A thin wrapper so that training code reads the same with tracking on or off."""

    def __init__(self, config: Config):
        self.config = config
        self.enabled = config.mlflow.enabled
        self.run_id: str | None = None
        self.model_uri: str | None = None
        self.registered_version: str | None = None
        self._mlflow = None

    def __enter__(self) -> "Tracker":
        if not self.enabled:
            return self
        import mlflow

        self._mlflow = mlflow
        if not is_main_process():
            self.enabled = False  # only the main process of a distributed run logs
            return self
        mlflow.set_experiment(self.config.mlflow.experiment)
        run = mlflow.start_run(run_name=self.config.name)
        self.run_id = run.info.run_id
        data = self.config.to_dict()  # dataclasses.asdict, with lists for tuples
        params = flatten({k: v for k, v in data.items() if k != "mlflow"})
        mlflow.log_params(params)
        with tempfile.TemporaryDirectory() as tmp:
            import yaml

            p = Path(tmp) / "config.yaml"
            p.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
            mlflow.log_artifact(str(p))
        mlflow.set_tags(git_tags())
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.enabled and self._mlflow is not None:
            self._mlflow.end_run(status="FAILED" if exc_type else "FINISHED")

    def set_tags(self, tags: dict[str, str]) -> None:
        if self.enabled:
            self._mlflow.set_tags(tags)

    def log_params(self, params: dict[str, Any]) -> None:
        if self.enabled:
            self._mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_report(self, report: dict, prefix: str, step: int | None = None) -> None:
        if self.enabled:
            log_metrics_report(self._mlflow, report, prefix, step)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if self.enabled:
            self._mlflow.log_metrics(metrics, step=step)

    def log_results(self, report: dict, calibration: dict, extra: dict | None = None) -> None:
        if not self.enabled:
            return
        rows = technique_table(report, calibration)
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            (t / "dev_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
            (t / "calibration.json").write_text(json.dumps(calibration, indent=2), encoding="utf-8")
            if extra:
                (t / "references.json").write_text(json.dumps(extra, indent=2), encoding="utf-8")
            import pandas as pd

            pd.DataFrame(rows).to_csv(t / "per_technique.csv", index=False)
            pr_chart(rows, t / "precision_recall.png")
            self._mlflow.log_artifacts(str(t), artifact_path="results")

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Log one file (e.g. the model card) as a run artifact."""
        if self.enabled:
            self._mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_datasets(self, train_docs: list, dev_docs: list) -> None:
        """The training and dev articles as MLflow datasets (contexts ``training`` and ``dev``),
        each with its framescope fingerprint as the digest, so runs on the same data line up."""
        if not self.enabled:
            return
        from framescope.labels.dataset import fingerprint

        for docs, context in ((train_docs, "training"), (dev_docs, "dev")):
            digest = fingerprint(docs)
            dataset = self._mlflow.data.from_pandas(
                dataset_frame(docs), name=f"{self.config.name}-{context}", digest=digest[:32]
            )
            self._mlflow.log_input(dataset, context=context, tags={"fingerprint": digest})

    def log_model(self, model_dir: str | Path) -> None:
        """Log the model folder as an MLflow model and register it under ``name@alias``, described."""
        if not self.enabled:
            return
        from framescope.model.mlflow_model import log_model

        cfg = self.config.mlflow
        info = log_model(model_dir, registered_model_name=cfg.registered_model)
        self.model_uri = info.model_uri
        description = version_description(model_dir) + f" MLflow run {self.run_id}."
        self.registered_version = register_version(info, cfg.registered_model, cfg.alias, description)


def register_folder(
    model_dir: str | Path, name: str, alias: str | None = None, experiment: str = "framescope-register"
) -> tuple[str, str, str | None]:
    """Log an existing model folder as a pyfunc model in a run of its own and register it.

    For a folder trained without MLflow, copied from elsewhere, or recalibrated: the
    folder is opened first (a folder that does not load is refused before anything is
    logged). Returns (run id, model URI, registered version).
    """
    import mlflow

    from framescope.model.mlflow_model import log_model
    from framescope.model.tagger import SpanTagger

    tagger = SpanTagger.from_pretrained(model_dir)  # refuses a folder that does not check out
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"register {Path(model_dir).resolve().name}") as run:
        mlflow.set_tags(
            {
                **git_tags(),
                "taxonomy": str(tagger.taxonomy.identity),
                "taxonomy_sha256": tagger.taxonomy.identity.sha256,
                "model_type": tagger.settings.model_type,
                "registered_from_folder": str(Path(model_dir).resolve()),
                **(
                    {"train_fingerprint": str(tagger.settings.extra["train_fingerprint"])}
                    if tagger.settings.extra.get("train_fingerprint")
                    else {}
                ),
            }
        )
        info = log_model(model_dir, registered_model_name=name)
        description = version_description(model_dir) + f" Registered from a model folder by run {run.info.run_id}."
        version = register_version(info, name, alias, description)
    return run.info.run_id, info.model_uri, version
