"""Which language an article is in, when its source does not say.

Shared by the scoring inputs (:mod:`framescope.inference.inputs`) and the MLflow pyfunc
(:mod:`framescope.model.mlflow_model`), so that ``framescope score`` and a served model
detect the same language for the same text. `lingua` (deterministic, low accuracy mode
over all languages, on the first 4,096 characters) answers ``None`` when no language is
clearly recognised, as for very short texts.
"""

from __future__ import annotations

DETECT_CHARS = 4096
MIN_RELATIVE_DISTANCE = 0.1  # lingua answers None (unknown) when the top languages are closer

_DETECTOR = None


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language (lower case), or None when unsure."""
    global _DETECTOR
    if _DETECTOR is None:
        from lingua import LanguageDetectorBuilder

        _DETECTOR = (
            LanguageDetectorBuilder.from_all_languages()
            .with_low_accuracy_mode()
            .with_minimum_relative_distance(MIN_RELATIVE_DISTANCE)
            .build()
        )
    found = _DETECTOR.detect_language_of(text[:DETECT_CHARS])
    if found is None:
        return None
    return found.iso_code_639_1.name.lower()
