"""framescope seqeval: entity-level micro P/R/F1 on BIO tag sequences.

A thin ``evaluate`` wrapper around
``framescope.training.metrics.spans.token_seqeval`` (itself a wrapper around the
``seqeval`` package), shipped locally because ``evaluate.load("seqeval")`` needs the
Hub. Load it offline with ``framescope.training.metrics.load_metric("framescope_seqeval")``.
"""

import datasets
import evaluate

from framescope.training.metrics.spans import token_seqeval

_CITATION = """\
@misc{seqeval,
  title={{seqeval}: A Python framework for sequence labeling evaluation},
  url={https://github.com/chakki-works/seqeval},
  author={Hiroki Nakayama},
  year={2018},
}
"""

_DESCRIPTION = """\
Entity (chunk) level micro precision, recall and F1 with seqeval, plus token accuracy.
For multi-label tagging pass one tag sequence per technique per document, in the same
order for predictions and references.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predicted tag sequences (list of list of str).
    references: list of gold tag sequences, pairwise equally long.
    mode (optional): "strict" for seqeval's strict mode (then give `scheme`).
    scheme (optional): seqeval scheme name, e.g. "IOB2".
Returns:
    precision, recall, f1, accuracy.
Examples:
    >>> from framescope.training.metrics import load_metric
    >>> metric = load_metric("framescope_seqeval")
    >>> metric.compute(predictions=[["B-X", "I-X", "O"]], references=[["B-X", "I-X", "O"]])["f1"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class FramescopeSeqeval(evaluate.Metric):
    """seqeval micro P/R/F1 on BIO sequences (one per technique per document)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string", id="label"), id="sequence"),
                    "references": datasets.Sequence(datasets.Value("string", id="label"), id="sequence"),
                }
            ),
            homepage="https://github.com/chakki-works/seqeval",
            reference_urls=["https://github.com/chakki-works/seqeval"],
        )

    def _compute(self, predictions, references, mode=None, scheme=None):
        return token_seqeval(predictions, references, mode=mode, scheme=scheme)
