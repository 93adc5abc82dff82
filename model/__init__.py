"""The model layer: what a trained framescope tagger *is*, between the data and the two stages.

``framescope.labels`` (taxonomy, documents, formats) is below it; ``framescope.training``
and ``framescope.inference`` are above it and never import each other. Everything
that both stages need to use a model lives here: the model folder's settings, the
taggers' scoring halves (linear and transformer), window planning and merging, the
shared decoder, the forward-pass backends (PyTorch, bf16, ONNX) and the MLflow pyfunc.
The layering is enforced by import-linter contracts (``[tool.importlinter]`` in
pyproject.toml, run by ``tests/test_layers.py``).
"""

from framescope.model.result import ArticleResult  # noqa: E402
from framescope.model.tagger import BACKENDS, SpanTagger, TokenScores  # noqa: E402

__all__ = ["BACKENDS", "ArticleResult", "SpanTagger", "TokenScores"]
