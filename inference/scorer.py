"""Score articles with a trained model folder: spans with confidences and article scores.

Article-level score of a technique (documented in docs/schema.md): the highest
confidence of any span of that technique in the article, 0.0 when there is none. It
answers "how sure is the model that this article uses the technique at least once",
which is what monitoring dashboards sort and alert on; the span count and the share of
characters covered stand beside it to tell one phrase from a saturated article.
Category and overall scores are the maximum over their techniques.

Article and paragraph *probabilities* (schema 1.1) come from the model folder's second
stage (:mod:`framescope.training.article_stage`) when it has one: calibrated, learned per
technique from the tagger's token scores and the text, and the numbers a dashboard should
rank and alert on. A folder without the stage gives ``None`` (null in the exports).

The *profile* chooses the span thresholds: ``balanced`` (best F1 on dev) or ``precise``
(per-technique thresholds for high dev span precision; see
:func:`framescope.training.calibration.precise_thresholds`). Probabilities do not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from framescope.training.article_stage import ArticleStage
from framescope.training.settings import PROFILES
from framescope.training.tagger import SpanTagger, load_tagger


@dataclass
class ScoredSpan:
    technique: str
    category: str
    start: int
    end: int
    text: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "technique": self.technique,
            "category": self.category,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "confidence": round(self.confidence, 6),
        }


@dataclass
class TechniqueScore:
    score: float
    spans: int
    coverage: float
    probability: float | None = None  # the article stage's calibrated probability


@dataclass
class ParagraphResult:
    index: int  # among the article's non-empty lines, from 0
    start: int
    end: int
    probabilities: dict[str, float]


@dataclass
class ArticleResult:
    id: str
    lang: str | None
    text: str
    spans: list[ScoredSpan]
    techniques: dict[str, TechniqueScore]
    categories: dict[str, float]
    overall: float
    model: str = ""
    model_version: str = ""
    profile: str = "balanced"
    paragraphs: list[ParagraphResult] = field(default_factory=list)
    scored_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_flat_row(self) -> dict[str, Any]:
        import json

        row: dict[str, Any] = {"id": self.id, "lang": self.lang, "overall_score": self.overall, "n_spans": len(self.spans)}
        for tech, ts in self.techniques.items():
            row[f"score_{tech}"] = ts.score
        for tech, ts in self.techniques.items():
            row[f"prob_{tech}"] = ts.probability
        row["profile"] = self.profile
        row["spans"] = json.dumps([s.to_dict() for s in self.spans], ensure_ascii=False)
        return row


class Scorer:
    """Hugging Face conventions: ``Scorer.from_pretrained(folder_or_mlflow_uri)``."""

    def __init__(
        self, tagger: SpanTagger, name: str = "framescope", version: str = "",
        stage: ArticleStage | None = None, profile: str = "balanced",
    ):
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
        if profile == "precise" and tagger.settings.precise_thresholds is None:
            raise ValueError("the model has no precise profile (calibrated before profiles existed; run framescope calibrate)")
        self.tagger = tagger
        self.taxonomy = tagger.taxonomy
        self.name = name
        self.version = version or tagger.settings.framescope_version
        self.stage = stage
        self.profile = profile

    @classmethod
    def from_pretrained(
        cls, path_or_uri: str | Path, expected_taxonomy: str | None = None, backend: str = "torch",
        profile: str = "balanced",
    ) -> "Scorer":
        """``backend``: ``torch`` (default), ``torch-bf16``, ``onnx-fp32`` or ``onnx-int8`` (see ``load_tagger``);
        ``profile``: ``balanced`` (default) or ``precise``."""
        text = str(path_or_uri)
        name = "framescope"
        version = ""
        if text.startswith(("models:/", "runs:/")):
            import mlflow

            local = mlflow.artifacts.download_artifacts(artifact_uri=text)
            folder = Path(local) / "artifacts" / "model_dir"
            if not folder.exists():
                candidates = list(Path(local).rglob("framescope.json"))
                if not candidates:
                    raise FileNotFoundError(f"{text}: no framescope model folder inside the MLflow model")
                folder = candidates[0].parent
            name, version = text, ""
        else:
            folder = Path(text)
        tagger = load_tagger(folder, backend=backend)
        if expected_taxonomy is not None:
            from framescope.labels.taxonomy import load_taxonomy

            want = load_taxonomy(expected_taxonomy).identity
            have = tagger.taxonomy.identity
            if want.sha256 != have.sha256:
                raise ValueError(f"{folder}: model taxonomy {have} is not the expected {want}")
        settings = tagger.settings
        return cls(
            tagger, name=settings.name if name == "framescope" else name,
            version=version or str(settings.extra.get("model_version", settings.framescope_version)),
            stage=ArticleStage.from_pretrained(folder), profile=profile,
        )

    def score_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        langs: Sequence[str | None] | None = None,
    ) -> list[ArticleResult]:
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        langs = list(langs) if langs is not None else [None] * len(texts)
        token_scores = self.tagger.token_scores(list(texts))
        staged = self.stage.predict(list(texts), token_scores) if self.stage is not None else [None] * len(texts)
        out = []
        for text, id_, lang, ts, st in zip(texts, ids, langs, token_scores, staged):
            spans = self.tagger.decode(ts, profile=self.profile)
            out.append(self._result(id_, lang, text, spans, st))
        return out

    def score(self, text: str, id: str = "0", lang: str | None = None) -> ArticleResult:
        return self.score_texts([text], [id], [lang])[0]

    def _result(self, id_: str, lang: str | None, text: str, spans, staged=None) -> ArticleResult:
        scored = [
            ScoredSpan(s.technique, self.taxonomy.category_of(s.technique), s.start, s.end, text[s.start : s.end], s.confidence)
            for s in spans
        ]
        n = max(len(text), 1)
        techniques: dict[str, TechniqueScore] = {}
        for tech in self.tagger.techniques:
            mine = [s for s in scored if s.technique == tech]
            covered = _covered([(s.start, s.end) for s in mine])
            techniques[tech] = TechniqueScore(
                score=max((s.confidence for s in mine), default=0.0), spans=len(mine), coverage=covered / n,
                probability=staged.article[tech] if staged is not None else None,
            )
        categories: dict[str, float] = {}
        for tech, ts in techniques.items():
            cat = self.taxonomy.category_of(tech)
            categories[cat] = max(categories.get(cat, 0.0), ts.score)
        overall = max((ts.score for ts in techniques.values()), default=0.0)
        paragraphs = [ParagraphResult(*p) for p in staged.paragraphs] if staged is not None else []
        return ArticleResult(
            id_, lang, text, scored, techniques, categories, overall, self.name, self.version, self.profile, paragraphs
        )


def _covered(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, -1
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total
