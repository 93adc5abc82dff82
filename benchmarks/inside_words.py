"""Share of predicted spans that start or end inside a word, without and with word snapping.

    python benchmarks/inside_words.py --model runs/x/model --data ../shared/data/semeval2023/de/train-articles-subtask-3 \
        --format semeval2023
    python benchmarks/inside_words.py --random-base minilm --data ... --lang de   # untrained head

Both numbers come from the same token scores: "before" decodes them without the article
text (the decoder before whole-word snapping, commit 3a79ce4 of 2026-11-29), "after" with it (spans snapped to whole words). With
``--random-base`` the tagger is the base encoder with a random, stretched classification
head: it fires on arbitrary word pieces, the worst case for fragments.
"""

from __future__ import annotations

import argparse
import json
import time

from framescope.labels.io import read_documents
from framescope.model.decoding import word_bounds
from framescope.model.tagger import SpanTagger, TokenScores


def cuts_a_word(text: str, pos: int, words) -> bool:
    import numpy as np

    i = int(np.searchsorted(words[:, 1], pos, side="right"))
    return i < len(words) and words[i, 0] < pos < words[i, 1]


def inside_share(texts, spans_per_text) -> dict:
    n = bad_start = bad_end = bad_any = 0
    for text, spans in zip(texts, spans_per_text):
        words = word_bounds(text)
        for s in spans:
            a, b = cuts_a_word(text, s.start, words), cuts_a_word(text, s.end, words)
            n += 1
            bad_start += a
            bad_end += b
            bad_any += a or b

    def share(x: int) -> float:
        return round(x / n, 4) if n else 0.0

    return {
        "spans": n,
        "start_inside": share(bad_start),
        "end_inside": share(bad_end),
        "start_or_end_inside": share(bad_any),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a framescope model folder")
    ap.add_argument("--random-base", help="instead: a base encoder (minilm, a folder) with a random head")
    ap.add_argument("--scale", type=float, default=40.0, help="stretch of the random head")
    ap.add_argument("--threshold", type=float, default=0.5, help="random head: one threshold for every technique")
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--format", default=None)
    ap.add_argument("--lang", action="append")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    t0 = time.time()
    if args.random_base:
        import torch

        from framescope.labels.taxonomy import load_taxonomy
        from framescope.model.transformer import TransformerTagger

        torch.manual_seed(0)
        tagger = TransformerTagger.from_base(args.random_base, load_taxonomy())
        with torch.no_grad():
            tagger.model.classifier.weight.mul_(args.scale)
        thresholds = {t: args.threshold for t in tagger.techniques}
    else:
        tagger = SpanTagger.from_pretrained(args.model)
        thresholds = None
    docs = read_documents(args.data, args.format, taxonomy=tagger.taxonomy, langs=args.lang)[: args.limit]
    texts = [d.text for d in docs]
    scores = tagger.token_scores(texts)
    before = [tagger.decode(TokenScores(s.offsets, s.probs), thresholds) for s in scores]
    after = [tagger.decode(s, thresholds) for s in scores]
    gold = [[s for s in d.spans] for d in docs]
    print(
        json.dumps(
            {
                "articles": len(docs),
                "before": inside_share(texts, before),
                "after": inside_share(texts, after),
                "gold": inside_share(texts, gold),
                "seconds": round(time.time() - t0, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
