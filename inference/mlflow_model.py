"""framescope as an MLflow pyfunc model, logged as "model from code" (nothing pickled).

``mlflow.pyfunc.load_model("models:/framescope@candidate").predict(df)`` takes a
DataFrame with a ``text`` column (optional ``id``, ``lang``) and returns one row per
input with the spans as JSON and the article-level score per technique.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class FramescopeModel(PythonModel):
    def load_context(self, context) -> None:
        from framescope.inference.scorer import Scorer

        self.scorer = Scorer.from_pretrained(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if isinstance(model_input, pd.DataFrame):
            frame = model_input
        else:
            frame = pd.DataFrame(model_input)
        if "text" not in frame.columns:
            raise ValueError("framescope expects a 'text' column")
        ids = frame["id"].astype(str).tolist() if "id" in frame.columns else [str(i) for i in range(len(frame))]
        langs = frame["lang"].tolist() if "lang" in frame.columns else [None] * len(frame)
        results = self.scorer.score_texts(frame["text"].fillna("").astype(str).tolist(), ids=ids, langs=langs)
        return pd.DataFrame([r.to_flat_row() for r in results])


def signature(techniques: list[str]):
    """Declared input/output schema: ``text`` required, ``id`` and ``lang`` optional."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    inputs = Schema([
        ColSpec("string", "id", required=False),
        ColSpec("string", "lang", required=False),
        ColSpec("string", "text"),
    ])
    outputs = Schema(
        [ColSpec("string", "id"), ColSpec("string", "lang", required=False), ColSpec("double", "overall_score"), ColSpec("long", "n_spans")]
        + [ColSpec("double", f"score_{t}") for t in techniques]
        + [ColSpec("string", "spans")]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def log_model(model_dir: str | Path, registered_model_name: str | None = None, name: str = "model"):
    """Log ``model_dir`` with this file as the model's code; returns MLflow's ModelInfo."""
    from framescope.training.settings import TaggerSettings

    code = str(Path(__file__).resolve())
    settings = TaggerSettings.load(model_dir)
    kwargs = dict(
        python_model=code,
        artifacts={"model_dir": str(model_dir)},
        registered_model_name=registered_model_name,
        pip_requirements=["framescope"],
        signature=signature(list(settings.techniques)),
    )
    try:
        return mlflow.pyfunc.log_model(name=name, **kwargs)
    except TypeError:  # MLflow 2.x names it artifact_path
        return mlflow.pyfunc.log_model(artifact_path=name, **kwargs)


set_model(FramescopeModel())
