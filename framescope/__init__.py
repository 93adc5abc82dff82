"""framescope: find propaganda and framing techniques in news text.

The package reads top-down: ``framescope.labels`` (taxonomy, annotation data model,
formats) feeds ``framescope.training`` (token targets, models, metrics, MLflow), whose
model folders feed ``framescope.inference`` (scoring, exports, reports).
"""

__version__ = "0.1.0"
