"""Label Studio: read JSON exports, write exports and pre-annotations (predictions).

The labeling configuration that matches what this module reads and writes
(:func:`labeling_config`; ``framescope labelstudio config`` prints it for a taxonomy or a
model, grouped by category and in the report's category colours)::

    <View>
      <Labels name="label" toName="text" showInline="false">
        <Header value="Attack on reputation" size="6"/>
        <Label value="Doubt" background="#cc3311"/>
        <!-- one <Label> per technique, under its category's header -->
      </Labels>
      <Text name="text" value="$text"/>
      <Header value="Techniques in the article as a whole"/>
      <Choices name="article" toName="text" choice="multiple" showInline="true">
        <Header value="Attack on reputation" size="6"/>
        <Choice value="Doubt"/>
        <!-- one <Choice> per technique -->
      </Choices>
    </View>

Reading an export (``Export -> JSON``): a JSON list of tasks::

    [{"id": 7, "data": {"text": "..."},
      "annotations": [{"was_cancelled": false, "result": [
          {"type": "labels", "from_name": "label", "to_name": "text",
           "value": {"start": 10, "end": 25, "text": "...", "labels": ["Loaded_Language"]}}]}]}]

* The text is ``data.text``; otherwise ``data[text_key]`` when ``text_key`` is given, otherwise
  the only string field of ``data`` (``id`` and ``lang`` aside).
* The document id is ``data.id`` when present (what :func:`write` and
  :func:`write_predictions` put there), else the task ``id``; ``lang`` is ``data.lang``;
  ``meta`` is ``data.meta`` (a JSON object) when present.
* Offsets are code-point offsets into the text, i.e. Python string indices.
* **One annotation per task, by these rules** (each counted in :class:`TaskCounts`, which
  ``framescope data validate``, ``data stats`` and ``train`` print, so nothing is set aside
  silently):

  - *several submitted annotations* (two annotators, or a reviewer's redo): the most recent
    is read, by ``updated_at``, else ``created_at`` (an annotation without either counts as
    older; among equals the first listed wins); merging or adjudicating several is a
    decision for the project, not for a reader, so the others are counted as not used;
  - *skipped* (every annotation ``was_cancelled``): read with no spans and
    ``meta["labeled"] = False``: not an article, never trained on, even if it has predictions;
  - *unlabeled* (no annotation, no prediction): read the same way;
  - *prediction-only* (predictions, no submitted annotation): model output nobody reviewed,
    so read unlabeled as well; with ``use_predictions=True`` its most recent prediction is
    read as if it were an annotation (counted apart). Label Studio's own export lists
    predictions by id only (``"predictions": [6]``, or ``total_predictions``): such a task
    counts as prediction-only, and there are no spans to read from it.
* Only results of ``type: "labels"`` become spans; the ``article`` ``<Choices>`` (techniques
  of the article as a whole) go to ``meta["article_techniques"]``.
* A ``labels`` result carrying several labels gives one Span per label, in order. A result
  whose ``value.text`` differs from the text at its offsets is a Problem (task index, task id
  and offsets in the message) and is skipped.
* JSON carries no line per result: every Span and Problem points at the line where its task
  starts in the file (``Location(path, line)``; ``line`` is None if that cannot be worked
  out), with the document id and offsets.

:func:`write` writes an export-shaped file that reads back to the same documents;
:func:`write_predictions` writes pre-annotations to import into a project with the config above.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.document import Document, Problem, Span

# the labeling config and the task reader live in their own modules; callers import them from here
from framescope.labels.formats.labelstudio_config import ARTICLE_NAME, FROM_NAME, TO_NAME, labeling_config  # noqa: F401
from framescope.labels.formats.labelstudio_tasks import TaskCounts, read_counted

NAME = "labelstudio"

ScoreKey = tuple[str, int, int, str]  # (document id, start, end, technique)


def read(
    path: Path,
    problems: list[Problem],
    *,
    text_key: str | None = None,
    use_predictions: bool = False,
) -> list[Document]:
    """The documents of an export (rules in the module docstring); problems go to ``problems``."""
    return read_counted(path, problems, text_key=text_key, use_predictions=use_predictions)[0]


def count_tasks(path: Path, *, text_key: str | None = None, use_predictions: bool = False) -> TaskCounts:
    """What :func:`read` makes of each task of an export, counted (its problems are not kept)."""
    return read_counted(path, [], text_key=text_key, use_predictions=use_predictions)[1]


def counts_of_inputs(paths: Iterable[str | Path], fmt: str | None = None) -> list[TaskCounts]:
    """The :class:`TaskCounts` of each Label Studio export among these inputs (``fmt`` or detected)."""
    from framescope.labels.formats import detect_format

    out = []
    for path in map(Path, paths):
        if not path.is_file():
            continue  # Label Studio exports are files; a folder is another format
        try:
            kind = fmt or detect_format(path)
        except ValueError:
            continue  # the read itself reports an undetectable format
        if kind == NAME:
            out.append(count_tasks(path))
    return out


def _result(rid: str, doc: Document, span: Span) -> dict[str, Any]:
    return {
        "id": rid,
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "labels",
        "value": {
            "start": span.start,
            "end": span.end,
            "text": doc.text[span.start : span.end],
            "labels": [span.technique],
        },
    }


def _dump(tasks: list[dict], path: Path) -> None:
    atomic_write_bytes(Path(path), (json.dumps(tasks, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def write(docs: Iterable[Document], path: Path) -> None:
    """An export-shaped JSON file (one annotation per labeled document) that reads back equal."""
    tasks = []
    for n, doc in enumerate(docs, start=1):
        meta = dict(doc.meta)
        labeled = bool(doc.spans) or meta.get("labeled", True) is not False
        if not labeled:
            meta.pop("labeled")
        data: dict[str, Any] = {"text": doc.text, "id": doc.id}
        if doc.lang is not None:
            data["lang"] = doc.lang
        if meta:
            data["meta"] = meta
        task: dict[str, Any] = {"id": n, "data": data, "annotations": [], "predictions": []}
        if labeled:
            result = [_result(f"fs{n}-{k}", doc, s) for k, s in enumerate(doc.spans, start=1)]
            task["annotations"] = [{"id": n, "was_cancelled": False, "result": result}]
        tasks.append(task)
    _dump(tasks, path)


def write_predictions(
    docs: Iterable[Document],
    path: Path,
    model_version: str = "framescope",
    scores: Mapping[ScoreKey, float] | None = None,
) -> None:
    """Label Studio pre-annotations: import the file into a project with :func:`labeling_config`.

    A span's confidence is ``scores[(doc.id, start, end, technique)]`` when given, else
    ``doc.meta["span_scores"][i]`` (a list parallel to ``doc.spans``; None for unknown);
    the prediction's overall ``score`` is the mean of the known span scores.
    """
    tasks = []
    for n, doc in enumerate(docs, start=1):
        listed = doc.meta.get("span_scores")
        listed = listed if isinstance(listed, list) and len(listed) == len(doc.spans) else None
        result, known = [], []
        for k, span in enumerate(doc.spans):
            item = _result(f"fs{n}-{k + 1}", doc, span)
            score = None
            if scores is not None:
                score = scores.get((doc.id, span.start, span.end, span.technique))
            if score is None and listed is not None:
                score = listed[k]
            if score is not None:
                item["score"] = float(score)
                known.append(float(score))
            result.append(item)
        prediction: dict[str, Any] = {"model_version": model_version, "result": result}
        if known:
            prediction["score"] = sum(known) / len(known)
        tasks.append({"data": {"text": doc.text, "id": doc.id, "lang": doc.lang}, "predictions": [prediction]})
    _dump(tasks, path)
