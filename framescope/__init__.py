"""framescope: find propaganda and framing techniques in news text.

The package reads bottom-up in layers: ``framescope.labels`` (taxonomy, annotation data
model, formats) is used by ``framescope.model`` (the tagger: settings, scoring, decoding,
backends, the MLflow pyfunc), which is used by the two stages ``framescope.training``
(fitting, calibration, metrics, MLflow tracking) and ``framescope.inference`` (batch
scoring, exports, reports). The stages never import each other; only the root package
(the CLI and ``quickstart``) drives both. import-linter checks this (pyproject.toml).
"""

__version__ = "0.1.0"
