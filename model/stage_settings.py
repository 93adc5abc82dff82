"""The article stage's settings: its hyper-parameters, what it learned besides arrays, its file names.

Everything here is plain data. ``StageSettings`` is written to ``article_stage.json`` as it
is, so a field's name is a key of that file; the arrays go to ``article_stage.safetensors``
(``model/stage_folder.py`` reads and checks both).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

STAGE_WEIGHTS = "article_stage.safetensors"
STAGE_SETTINGS = "article_stage.json"
#: the stage's folder format. Format 3 stores only the kept hashed columns of the lexical
#: models (``columns``); format 2 stored all ``n_features`` and is still read. Other formats
#: are refused (retrain them).
STAGE_FORMAT = 3
READABLE_FORMATS = (2, 3)
#: the largest hashing space and n-gram length a folder may ask for: scoring allocates a
#: vector of ``n_features``, so an untrusted folder must not name 2^40
MAX_FEATURES = 2**24
MAX_NGRAM = 10
LEVELS = ("article", "paragraph")
#: the stacker's inputs per (unit, technique), before the token aggregates
BASE_INPUTS = ("lexical_logit",)
#: the unit's size, log(1 + characters): longer articles and paragraphs use more techniques
LENGTH_INPUTS = ("log_chars",)
#: article level only: the paragraph-level lexical logits of the article's paragraphs
#: (max, mean, top-k mean); the paragraph models learn from ten times more units
PARAGRAPH_INPUTS = ("paragraph_lexical_max", "paragraph_lexical_mean", "paragraph_lexical_top_k_mean")
TOKEN_INPUTS = ("token_max", "token_mean", "token_top_k_mean", "token_share")
POOLED = "*"


@dataclass(frozen=True)
class StageOptions:
    """The stage's hyper-parameters and their one set of defaults (a training config's
    ``article_stage`` section extends this class): hashed character n-grams (2-5-grams in
    2^20 buckets), the lexical models' inverse L2 strength ``C`` and cross-validation
    ``folds``, the length and paragraph-evidence stacker inputs, and the refit on training
    plus stacking articles."""

    n_features: int = 2**20
    ngram_range: tuple[int, int] = (2, 5)
    C: float = 10.0
    folds: int = 5
    length_feature: bool = True
    paragraph_evidence: bool = True
    refit: bool = True


@dataclass
class StageSettings:
    techniques: list[str]
    format: int = STAGE_FORMAT
    n_features: int = StageOptions.n_features
    ngram_range: tuple[int, int] = StageOptions.ngram_range
    C: float = StageOptions.C
    stacker_C: float = 1.0
    top_k: int = 5
    share_threshold: float = 0.5
    token_features: bool = True
    # the unit's length as a stacker input
    length_feature: bool = StageOptions.length_feature
    # the article's paragraph-level lexical logits as article-level stacker inputs
    paragraph_evidence: bool = StageOptions.paragraph_evidence
    paragraph_top_k: int = 3
    # with stacking articles: refit the lexical models on training + stacking articles once
    # the stacker is learned (fit time only; False in folders from before it existed)
    refit: bool = StageOptions.refit
    folds: int = StageOptions.folds
    # a technique with fewer positive units than this gets its smoothed base rate: a
    # classifier learned from 2-4 examples ranks noise and would be trusted
    min_positives: int = 5
    # pseudo-units of the pooled share in each language's prior (a language may have only
    # a hundred or so articles)
    prior_strength: float = 10.0
    # per level: language -> per-technique prior share; POOLED for languages not seen
    priors: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # per level: language -> per-technique mean stacker inputs on the stacking units ([K][n_inputs])
    centers: dict[str, dict[str, list[list[float]]]] = field(default_factory=dict)
    # decision thresholds on the calibrated probabilities (best micro-F1 out of fold)
    thresholds: dict[str, float] = field(default_factory=lambda: {"article": 0.5, "paragraph": 0.5})
    fit_info: dict = field(default_factory=dict)

    @classmethod
    def from_options(cls, techniques: list[str], options: StageOptions, token_features: bool = True) -> "StageSettings":
        """New, unfitted settings with ``options`` (a config's ``article_stage`` section)."""
        chosen = {f.name: getattr(options, f.name) for f in fields(StageOptions)}
        chosen["ngram_range"] = tuple(options.ngram_range)
        return cls(techniques=list(techniques), token_features=token_features, **chosen)

    def inputs(self, level: str) -> tuple[str, ...]:
        """The names of the stacker's inputs at ``level``, in order."""
        return (
            *BASE_INPUTS,
            *(LENGTH_INPUTS if self.length_feature else ()),
            *(PARAGRAPH_INPUTS if self.paragraph_evidence and level == "article" else ()),
            *(TOKEN_INPUTS if self.token_features else ()),
        )

    def n_inputs(self, level: str) -> int:
        return len(self.inputs(level))


@dataclass
class StagePrediction:
    """One article: ``article[T]`` and, per paragraph, ``(index, start, end, {T: p})``."""

    article: dict[str, float]
    paragraphs: list[tuple[int, int, int, dict[str, float]]]


def check_vectorizer(n_features, ngram_range) -> None:
    """The hashing settings of a folder's ``article_stage.json`` (``ValueError`` otherwise)."""

    def whole(v, top: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= top

    if not whole(n_features, MAX_FEATURES):
        raise ValueError(f"n_features must be a whole number from 1 to {MAX_FEATURES}, not {n_features!r}")
    if not (
        isinstance(ngram_range, (list, tuple))
        and len(ngram_range) == 2
        and all(whole(v, MAX_NGRAM) for v in ngram_range)
        and ngram_range[0] <= ngram_range[1]
    ):
        raise ValueError(f"ngram_range must be [min, max] with 1 <= min <= max <= {MAX_NGRAM}, not {ngram_range!r}")
