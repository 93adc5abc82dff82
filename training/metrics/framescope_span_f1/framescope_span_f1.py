"""framescope span F1: SemEval-2020 Task 11 partial-overlap span scorer (per-span capped).

A thin ``evaluate`` wrapper: the scoring is done by
``framescope.training.metrics.spans.span_prf`` so that the plain function and this
module can never disagree. Load it offline with
``framescope.training.metrics.load_metric("framescope_span_f1")``.
"""

import datasets
import evaluate

from framescope.training.metrics.spans import span_prf, span_record_feature

_CITATION = """\
@inproceedings{da-san-martino-etal-2020-semeval,
    title = "{S}em{E}val-2020 Task 11: Detection of Propaganda Techniques in News Articles",
    author = "Da San Martino, Giovanni and Barr{\\'o}n-Cede{\\~n}o, Alberto and Wachsmuth, Henning and Petrov, Rostislav and Nakov, Preslav",
    booktitle = "Proceedings of the Fourteenth Workshop on Semantic Evaluation",
    year = "2020",
    pages = "1377--1414",
}
"""

_DESCRIPTION = """\
Character-span precision/recall/F1 with partial-overlap credit, computed per
technique within each document: a predicted span earns |s & t| / |s| from each gold
span t of the same technique it overlaps, a gold span earns |s & t| / |t|; each span's
total credit is capped at 1 (the official SemEval-2020 scorer does not cap). Micro
averages plus a per-technique breakdown.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one entry per document, each a list of spans
        {"start": int, "end": int, "technique": str} (character offsets, end exclusive).
    references: gold spans, same layout, aligned with predictions by document.
Returns:
    precision, recall, f1 (micro), n_pred, n_gold, and
    per_technique: {technique: {precision, recall, f1, n_pred, n_gold}}.
    No predictions gives precision 0; no gold spans gives recall 0.
Examples:
    >>> from framescope.training.metrics import load_metric
    >>> metric = load_metric("framescope_span_f1")
    >>> metric.compute(
    ...     predictions=[[{"start": 0, "end": 10, "technique": "Loaded_Language"}]],
    ...     references=[[{"start": 5, "end": 10, "technique": "Loaded_Language"}]],
    ... )["f1"]
    0.6666666666666666
"""


def _span_features():
    return datasets.Features({"predictions": span_record_feature(), "references": span_record_feature()})


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class FramescopeSpanF1(evaluate.Metric):
    """Partial-overlap span F1 per technique (SemEval-2020 Task 11 TC/SI style, capped)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=_span_features(),
            homepage="https://propaganda.qcri.org/semeval2020-task11/",
            reference_urls=["https://aclanthology.org/2020.semeval-1.186/"],
        )

    def _compute(self, predictions, references):
        return span_prf(predictions, references)
