"""Model folders behind MLflow URIs: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` and ``runs:/``.

:meth:`~framescope.model.tagger.SpanTagger.from_pretrained` opens a model folder; this module
turns an MLflow URI into that folder (downloaded from the tracking store) and names the
registry version it came from, so that exports say which version scored them. Every failure
is a :class:`~framescope.errors.ModelError` naming the URI.
"""

from __future__ import annotations

from pathlib import Path

from framescope.errors import ModelError
from framescope.model.settings import SETTINGS_FILE


def is_mlflow_uri(text: str) -> bool:
    return text.startswith(("models:/", "runs:/"))


def registry_name_version(uri: str) -> tuple[str, str] | None:
    """``(name, version)`` of ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` (the alias asked of the
    registry), so that exports name the registry version scored with; None for other URIs."""
    rest = uri.removeprefix("models:/")
    if rest == uri:
        return None
    name, _, version = rest.partition("/")
    if "@" in name:
        import mlflow

        name, _, alias = name.partition("@")
        try:
            version = str(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
        except Exception:  # the artifacts were downloaded, so this is rare: keep the URI as the name
            return None
    return (name, version) if version.isdigit() else None


def require_existing_store(uri: str) -> None:
    """Refuse to look ``uri`` (``models:/...``, ``runs:/...``) up in a store that does not exist.

    MLflow's default store is ``sqlite:///mlflow.db`` in the working directory, and merely
    asking a missing SQLite store for a model creates the database file: a typo in a cron
    job's working directory would leave an empty ``mlflow.db`` behind and report "model
    not found". Only SQLite stores are checked; a server or a file store is asked as is.
    """
    from urllib.parse import unquote

    import mlflow

    store = mlflow.get_registry_uri() if uri.startswith("models:/") else mlflow.get_tracking_uri()
    if not store.startswith("sqlite:///"):
        return
    # sqlite:///relative.db or sqlite:////absolute/path.db (SQLAlchemy's spelling)
    name = unquote(store[len("sqlite:///") :].split("?", 1)[0])
    if name in ("", ":memory:"):
        return
    path = Path(name)
    if not path.is_file():
        raise ModelError(
            f"{uri}: there is no MLflow store at {path} (MLflow's default: mlflow.db in the working directory); "
            "set MLFLOW_TRACKING_URI to the store the model was registered in"
        )


def resolve_model_folder(path_or_uri: str | Path) -> Path:
    """A local model folder: the path itself, or the folder inside a downloaded MLflow model."""
    text = str(path_or_uri)
    if not is_mlflow_uri(text):
        return Path(text)
    import mlflow

    require_existing_store(text)  # a lookup would otherwise create ./mlflow.db
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=text)
    except mlflow.exceptions.MlflowException as err:
        raise ModelError(f"{text}: {err.message}") from None
    except Exception as err:  # the store's transport (HTTP, S3, a full disk): still this URI's failure
        raise ModelError(" ".join(f"{text}: cannot download the model: {err}".split())) from None
    folder = Path(local) / "artifacts" / "model_dir"
    if not folder.exists():
        candidates = list(Path(local).rglob(SETTINGS_FILE))
        if not candidates:
            raise ModelError(f"{text}: no framescope model folder inside the MLflow model")
        folder = candidates[0].parent
    return folder
