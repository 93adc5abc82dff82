"""Domain adaptation: continued masked-language-model pretraining of a tagger's encoder.

Why: the encoders framescope fine-tunes (MiniLM, XLM-R, ...) were pretrained on web text
and, for MiniLM, tuned for sentence similarity. News articles of one country, outlet family
or period have their own vocabulary, names and style. A few epochs of the encoder's own
pretraining task, masked-language modelling (MLM), on the researchers' articles, labelled
or not, adapt it to that text before it learns the techniques from the (few) annotated
spans ("domain-adaptive pretraining"). ``framescope adapt`` does this and writes an
ordinary Hugging Face model folder; ``framescope train`` then starts from it through the
config key ``model.base``::

    framescope adapt articles/ --base minilm --out runs/adapted
    framescope train minilm-semeval --set model.base=runs/adapted

The texts are tokenized per article without special tokens and the token ids of each
article are cut into consecutive windows of ``max_length`` tokens (special tokens
included), so no window is padded except the last one of each article. Training uses the
``transformers`` :class:`~transformers.Trainer` with
:class:`~transformers.DataCollatorForLanguageModeling` (``mlm_probability`` of the tokens
masked, 80/10/10 mask/random/keep) and a linear learning-rate decay after a 6% warm-up;
nothing is reported to or pushed to any hub.

The base loads with ``trust_remote_code=False``. The packaged MiniLM (``minilm``) is a
sentence-transformers ``BertModel`` without MLM head weights: ``AutoModelForMaskedLM``
then initialises the head freshly (its decoder is tied to the word embeddings, so only
the small transform layer and the bias start from scratch). That is expected and fine:
the head only serves the adaptation. The whole MLM model is saved, head included, so a
folder can be adapted again; ``AutoModelForTokenClassification.from_pretrained`` (what
``framescope train`` does with ``model.base``) takes the encoder and ignores the head.

The folder is written atomically: into a hidden sibling folder that is renamed to ``out``
once complete. An existing non-empty ``out`` is refused unless ``overwrite=True``.
Beside the weights (``model.safetensors``), ``config.json`` and the tokenizer files,
``adapt.json`` records the base, the articles, windows and tokens seen, the epochs, the
final MLM loss and the seconds taken.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from framescope.errors import InputError, ModelError, UsageError
from framescope.training.adapt_texts import PLAIN_TEXT, read_texts

ADAPT_JSON = "adapt.json"
# the texts are read in adapt_texts.py; callers import read_texts from here
__all__ = ["ADAPT_JSON", "PLAIN_TEXT", "adapt", "make_windows", "read_texts"]


# -- windows -------------------------------------------------------------------------------


def make_windows(tokenizer, texts: Sequence[str], max_length: int) -> tuple[list[dict], int]:
    """Cut each article's token ids into windows of at most ``max_length`` tokens.

    Each window is the tokenizer's special tokens ([CLS] ... [SEP], <s> ... </s>) around up to
    ``max_length - n_special`` consecutive content tokens of one article. Returns the rows
    (``input_ids`` and ``special_tokens_mask``) and the number of content tokens.
    """
    from framescope.model.transformer import _special_tokens

    head, tail = _special_tokens(tokenizer)
    content = max_length - len(head) - len(tail)
    if content < 1:
        raise UsageError(f"max_length {max_length} leaves no room beside the {len(head) + len(tail)} special tokens")
    rows: list[dict] = []
    tokens = 0
    for start in range(0, len(texts), 256):  # batches: the fast tokenizer works in parallel
        batch = list(texts[start : start + 256])
        ids = tokenizer(batch, add_special_tokens=False, verbose=False)["input_ids"]
        for article in ids:
            tokens += len(article)
            for a in range(0, len(article), content):
                chunk = article[a : a + content]
                rows.append(
                    {
                        "input_ids": [*head, *chunk, *tail],
                        "special_tokens_mask": [1] * len(head) + [0] * len(chunk) + [1] * len(tail),
                    }
                )
    return rows, tokens


# -- the output folder ---------------------------------------------------------------------


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"{out}: folder exists and is not empty (pass --overwrite to replace it)")


def _commit(staging: Path, out: Path) -> None:
    """Put the complete ``staging`` folder in place of ``out`` (renames only)."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.adapt-old-{os.getpid()}"
        os.replace(out, old)
    try:
        os.replace(staging, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)  # put the previous folder back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- adaptation ----------------------------------------------------------------------------


def _load_base(base: str):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from framescope.model.transformer import _no_loading_bar, resolve_base

    path = resolve_base(base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, trust_remote_code=False)
        with _no_loading_bar():  # the fresh MLM head of an encoder-only base is expected
            model, info = AutoModelForMaskedLM.from_pretrained(
                path, trust_remote_code=False, use_safetensors=True, output_loading_info=True
            )
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"{base}: cannot load the base encoder for masked-language modelling: {err}") from None
    if tokenizer.mask_token is None:
        raise ModelError(f"{base}: the tokenizer has no mask token, so it cannot be trained as a masked language model")
    return path, tokenizer, model, sorted(info.get("missing_keys") or [])


def _max_length_limit(tokenizer, model) -> int:
    limits = [int(getattr(model.config, "max_position_embeddings", 0) or 0)]
    if 0 < int(getattr(tokenizer, "model_max_length", 0) or 0) < 100_000:
        limits.append(int(tokenizer.model_max_length))  # XLM-R: 514 positions, 512 usable
    return min(x for x in limits if x > 0) if any(limits) else 10**9


def adapt(
    base: str,
    texts: Sequence[str],
    out: str | Path,
    *,
    epochs: float = 1,
    max_length: int = 256,
    mlm_probability: float = 0.15,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    seed: int = 0,
    max_steps: int | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Continue the MLM pretraining of ``base`` on ``texts``; write the adapted model to ``out``.

    ``base`` is a model folder, a Hugging Face model name, or ``minilm`` (the packaged
    MiniLM, see :func:`~framescope.model.transformer.resolve_base`). ``max_steps`` (when
    given) stops training after that many optimizer steps, whatever ``epochs`` says.
    The folder holds ``config.json``, ``model.safetensors``, the tokenizer files and
    ``adapt.json``; it loads with ``AutoModelForTokenClassification.from_pretrained`` and so
    serves as ``model.base`` of a training config.

    Returns the figures written to ``adapt.json``: ``base``, ``articles``, ``windows``,
    ``tokens``, ``epochs``, ``steps``, ``final_loss`` (the last logged MLM loss),
    ``mean_loss`` (over all steps) and ``seconds``, among others.
    """
    say = progress or (lambda _m: None)
    out = Path(out)
    recipe = _Recipe(epochs, max_length, mlm_probability, batch_size, learning_rate, seed, max_steps)
    recipe.check()
    texts = _with_text(texts)
    _check_out(out, overwrite)
    started = time.monotonic()
    path, tokenizer, model, rows, tokens = _prepare(base, texts, recipe, say)

    staging = _staging_folder(out)
    try:
        trainer, result, losses = _train_mlm(model, tokenizer, rows, staging, recipe, say)
        trainer.model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        summary = {
            "base": base,
            "base_path": str(path),
            "articles": len(texts),
            "windows": len(rows),
            "tokens": int(tokens),
            **_run_figures(recipe, trainer, result, losses),
            "seconds": round(time.monotonic() - started, 2),
        }
        (staging / ADAPT_JSON).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        _check_out(out, overwrite)  # another process may have filled it meanwhile
        _commit(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say(f"adapted encoder written to {out}")
    return summary


def _with_text(texts: Sequence[str]) -> list[str]:
    """The articles that hold text; none at all is an input error (exit 2)."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise InputError("no article text to adapt on")
    return texts


def _prepare(base: str, texts: list[str], recipe: _Recipe, say: Callable[[str], None]):
    """The base (seeded first, so a fresh MLM head starts alike) and the articles' windows:
    ``(path, tokenizer, model, rows, tokens)``."""
    from transformers import set_seed

    set_seed(recipe.seed)
    path, tokenizer, model, fresh = _load_base(base)
    if fresh:
        say(
            f"{base}: no weights for {len(fresh)} MLM head tensor(s), initialised fresh (expected for an encoder-only base)"
        )
    limit = _max_length_limit(tokenizer, model)
    if recipe.max_length > limit:
        raise UsageError(f"max_length {recipe.max_length} exceeds the {limit} positions of {base}")
    rows, tokens = make_windows(tokenizer, texts, recipe.max_length)
    say(f"{len(texts)} article(s), {tokens} tokens, {len(rows)} window(s) of at most {recipe.max_length} tokens")
    return path, tokenizer, model, rows, tokens


@dataclass(frozen=True)
class _Recipe:
    """The adaptation's hyper-parameters, as :func:`adapt` takes them."""

    epochs: float
    max_length: int
    mlm_probability: float
    batch_size: int
    learning_rate: float
    seed: int
    max_steps: int | None

    def check(self) -> None:
        """Refuse values that cannot train (exit 2), before anything loads."""
        if (
            self.epochs <= 0
            or self.batch_size < 1
            or self.max_length < 2
            or not 0 < self.mlm_probability < 1
            or self.learning_rate <= 0
        ):
            raise UsageError(
                "adapt needs epochs > 0, batch_size >= 1, max_length >= 2, 0 < mlm_probability < 1 and learning_rate > 0"
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise UsageError(f"max_steps must be at least 1, not {self.max_steps}")


def _staging_folder(out: Path) -> Path:
    """An empty hidden sibling of ``out`` to write the folder into (renamed to ``out`` when complete)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.adapt-tmp-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def _train_mlm(model, tokenizer, rows: list[dict], staging: Path, recipe: _Recipe, say: Callable[[str], None]):
    """Masked-language-model training of ``model`` on the windows ``rows``; returns the
    trainer, its result and the logged losses. The trainer's scratch folder is removed."""
    import torch
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainerCallback

    steps_per_epoch = math.ceil(len(rows) / recipe.batch_size)
    total = int(recipe.max_steps) if recipe.max_steps else math.ceil(steps_per_epoch * float(recipe.epochs))
    losses: list[float] = []

    class _Losses(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    args = _training_arguments(recipe, staging / "_trainer", total, torch.cuda.is_available())
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=float(recipe.mlm_probability))
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator, callbacks=[_Losses()])
    say(f"masked-language-model training: {total} step(s) on {args.device}")
    result = trainer.train()
    shutil.rmtree(staging / "_trainer", ignore_errors=True)
    return trainer, result, losses


def _training_arguments(recipe: _Recipe, scratch: Path, total: int, cuda: bool):
    """The Trainer's arguments: nothing saved, reported or pushed anywhere."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(scratch),
        per_device_train_batch_size=int(recipe.batch_size),
        learning_rate=float(recipe.learning_rate),
        num_train_epochs=float(recipe.epochs),
        max_steps=int(recipe.max_steps) if recipe.max_steps else -1,
        # a fresh MLM head sends large gradients into the encoder at first: warm up over 6%
        warmup_steps=int(0.06 * total),
        logging_steps=max(1, min(50, total // 10)),
        save_strategy="no",
        report_to=[],
        push_to_hub=False,
        seed=int(recipe.seed),
        data_seed=int(recipe.seed),
        remove_unused_columns=False,
        dataloader_pin_memory=cuda,
        disable_tqdm=os.environ.get("FRAMESCOPE_TQDM", "1") != "1",
    )


def _run_figures(recipe: _Recipe, trainer, result, losses: list[float]) -> dict:
    """The settings and figures of the training run, as ``adapt.json`` records them."""
    import torch

    from framescope import __version__

    return {
        "epochs": float(recipe.epochs),
        "max_steps": int(recipe.max_steps) if recipe.max_steps else None,
        "steps": int(trainer.state.global_step),
        "max_length": int(recipe.max_length),
        "mlm_probability": float(recipe.mlm_probability),
        "batch_size": int(recipe.batch_size),
        "learning_rate": float(recipe.learning_rate),
        "seed": int(recipe.seed),
        "final_loss": losses[-1] if losses else float(result.training_loss),
        "mean_loss": float(result.training_loss),
        "device": str(trainer.args.device),
        "torch": torch.__version__,
        "framescope_version": __version__,
    }
