"""Span F1 of a cached cross-validation fold, decoded with and without the letter-or-digit rule.

    python benchmarks/wordless_spans.py runs/cv-cache/minilm-de-en/fold-1-of-5

The fold folder is one that benchmarks/crossval.py --cache wrote for the de+en benchmark config
(fold.json, test.npz, model/). docs/results.md, "No span without a letter or digit".
"""

import json
import sys
from pathlib import Path
import numpy as np
from framescope.labels.taxonomy import load_taxonomy
from framescope.model import decoding
from framescope.model.tagger import SpanTagger, TokenScores
from framescope.training.config import load_config
from framescope.training.evaluation import gold_tuples
from framescope.training.metrics.spans import span_prf
from framescope.training.train import load_corpora

fold = Path(sys.argv[1])
cfg = load_config("benchmarks/configs/minilm-de-en-semeval.yaml")
tax = load_taxonomy(cfg.taxonomy)
docs = {d.id: d for d in load_corpora(cfg.data.train, tax, ["de", "en"])}
test = [docs[i] for i in json.loads((fold / "fold.json").read_text())["test"]]
tagger = SpanTagger.from_pretrained(fold / "model")
with np.load(fold / "test.npz", allow_pickle=False) as z:
    scores = [TokenScores(z[f"offsets_{n}"], z[f"probs_{n}"], text=d.text) for n, d in enumerate(test)]
out = {}
for name, rule in (("with the rule", decoding.drop_wordless), ("without", lambda spans, *a, **k: spans)):
    decoding.drop_wordless = rule
    for lang in ("de", "en"):
        idx = [i for i, d in enumerate(test) if d.lang == lang]
        preds = [[p.as_tuple() for p in tagger.decode(scores[i])] for i in idx]
        m = span_prf(preds, [gold_tuples(test[i], tax) for i in idx])
        out[f"{name} {lang}"] = {k: round(float(m[k]), 4) for k in ("f1", "precision", "recall", "n_pred")}
print(json.dumps(out, indent=1))
