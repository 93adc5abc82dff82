"""framescope span identification: technique-agnostic partial-overlap span F1.

A thin ``evaluate`` wrapper around
``framescope.training.metrics.spans.span_identification_prf``. Load it offline with
``framescope.training.metrics.load_metric("framescope_span_identification")``.
"""

import datasets
import evaluate

from framescope.training.metrics.spans import span_identification_prf, span_record_feature

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
Span identification score: within each document, the spans of all techniques are
merged into their union intervals (separately for predictions and references), and the
merged intervals are scored with the partial-overlap span scorer under a single label.
Measures whether the model finds the propagandistic text regardless of the technique.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one entry per document, each a list of spans
        {"start": int, "end": int, "technique": str} (character offsets, end exclusive;
        the technique is ignored).
    references: gold spans, same layout, aligned with predictions by document.
Returns:
    precision, recall, f1, n_pred, n_gold (n_* count merged intervals).
Examples:
    >>> from framescope.training.metrics import load_metric
    >>> metric = load_metric("framescope_span_identification")
    >>> metric.compute(
    ...     predictions=[[{"start": 0, "end": 5, "technique": "A"}, {"start": 5, "end": 10, "technique": "B"}]],
    ...     references=[[{"start": 0, "end": 10, "technique": "C"}]],
    ... )["f1"]
    1.0
"""


def _span_features():
    return datasets.Features({"predictions": span_record_feature(), "references": span_record_feature()})


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class FramescopeSpanIdentification(evaluate.Metric):
    """Technique-agnostic partial-overlap span F1 on merged span unions."""

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
        return span_identification_prf(predictions, references)
