"""Training the transformer tagger through the Hugging Face ``Trainer``.

The Trainer brings seeding, gradient accumulation, schedules, checkpoints and
``accelerate``/``torchrun`` support for free; framescope adds the scheme's masked loss
(``compute_loss``, :mod:`framescope.model.schemes`) and evaluates on *articles*, not
windows: each evaluation scores the dev articles whole, calibrates thresholds and
reports span F1, which drives early stopping and the choice of the best checkpoint.
"""

from __future__ import annotations

import inspect
import math
import os
import shutil
import tempfile
import time
from typing import Callable, Sequence

import numpy as np
import torch
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

from framescope.labels.document import Document
from framescope.training.calibration import calibrate_on_dev
from framescope.training.class_weights import positive_weight
from framescope.training.config import CalibrationConfig, Config, TrainingConfig
from framescope.training.distributed import has_accelerator, rank, world_size
from framescope.training.evaluation import gold_tuples
from framescope.training.metrics.spans import span_prf
from framescope.training.schedules import HEAD_GROUP, head_first_scheduler
from framescope.model.targets import IGNORE, token_targets


class WindowCollator:
    """Pads to the longest window of the batch; padded label rows are ignored by the loss."""

    def __init__(self, pad_id: int, float_targets: bool):
        self.pad_id = pad_id
        self.float_targets = float_targets

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        n = len(rows)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        first = rows[0]["labels"]
        if self.float_targets:
            labels = torch.full((n, width, first.shape[1]), IGNORE, dtype=torch.float32)
        else:
            labels = torch.full((n, width), -100, dtype=torch.long)
        for i, r in enumerate(rows):
            m = len(r["input_ids"])
            ids[i, :m] = torch.as_tensor(r["input_ids"])
            mask[i, :m] = 1
            labels[i, :m] = torch.as_tensor(r["labels"])
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def training_windows(tagger, docs: Sequence[Document], max_windows: int | None = None, seed: int = 0) -> list[dict]:
    """The tagger's training rows: every window of every article with its scheme's targets.

    Special tokens get the scheme's ignored rows; ``max_windows`` keeps a seeded random
    subset (in order) so that a quick run sees all of the corpus's variety.
    """
    scheme = tagger.scheme
    rows = []
    for doc in docs:
        enc = tagger.encode(doc.text)
        spans = tagger.taxonomy.resolve_spans(doc.spans)
        y = scheme.targets(token_targets(enc.offsets, spans, tagger.techniques))
        for a, b in enc.windows:
            if b == a:
                continue
            input_ids = tagger._inputs(enc.ids[a:b])
            labels = scheme.ignored(len(input_ids), y.shape[1] if y.ndim == 2 else 0)
            labels[tagger._prefix : tagger._prefix + (b - a)] = y[a:b]
            rows.append({"input_ids": input_ids, "labels": labels})
    if max_windows is not None and len(rows) > max_windows:
        rng = np.random.default_rng(seed)
        keep = sorted(rng.choice(len(rows), size=max_windows, replace=False))
        rows = [rows[i] for i in keep]
    return rows


class SpanTrainer(Trainer):
    def __init__(
        self,
        *args,
        tagger=None,
        dev_docs=None,
        calibration: CalibrationConfig | None = None,
        head_learning_rate: float | None = None,
        head_only_steps: int = 0,
        eval_batch_size: int | None = None,
        pos_weight=None,
        gamma=0.0,
        on_eval=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.tagger = tagger
        self.dev_docs = dev_docs or []
        self.calibration = calibration or CalibrationConfig()
        self.head_learning_rate = head_learning_rate
        self.head_only_steps = head_only_steps
        self.eval_batch_size = eval_batch_size
        self.pos_weight = pos_weight
        self.gamma = gamma
        self.on_eval = on_eval
        self.tokens_seen = 0

    def create_optimizer(self, model=None):
        """AdamW with its own learning rate for the freshly initialised classifier head.

        A new head (over ``O``/``B-t``/``I-t``, or ``2K`` sigmoid channels) starts far from
        useful while the encoder is already good: one shared rate is either too slow for the
        head or, raised to suit it, destabilises the encoder (at 1e-4 MiniLM's token states collapsed to a constant).
        """
        head_lr = self.head_learning_rate or (self.args.learning_rate if self.head_only_steps else None)
        if not head_lr or self.optimizer is not None:
            return super().create_optimizer(model)
        model = model if model is not None else self.model
        groups = []
        for is_head in (False, True):
            for decays in (True, False):
                params = [
                    p
                    for n, p in model.named_parameters()
                    if p.requires_grad
                    and ("classifier" in n) == is_head
                    and (not (n.endswith("bias") or "norm" in n.lower())) == decays
                ]
                if params:
                    groups.append(
                        {
                            "params": params,
                            "lr": float(head_lr) if is_head else self.args.learning_rate,
                            "weight_decay": self.args.weight_decay if decays else 0.0,
                            HEAD_GROUP: is_head,
                        }
                    )
        self.optimizer = torch.optim.AdamW(groups, lr=self.args.learning_rate)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """The Trainer's schedule, or with head-only steps first the schedule of
        :mod:`framescope.training.schedules`."""
        if not self.head_only_steps or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        warmup_ratio = self.args.get_warmup_steps(num_training_steps) / num_training_steps
        self.lr_scheduler = head_first_scheduler(
            optimizer or self.optimizer, num_training_steps, warmup_ratio, self.head_only_steps
        )
        return self.lr_scheduler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        self.tokens_seen += int(inputs["attention_mask"].sum())
        outputs = model(**inputs)
        logits = outputs.logits
        pw = self.pos_weight.to(logits.device) if self.pos_weight is not None else None
        loss = self.tagger.scheme.loss(logits, labels, pw, self.gamma)
        return (loss, outputs) if return_outputs else loss

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        """Article-level dev evaluation: whole articles, calibrated thresholds, span F1."""
        metrics = self._dev_metrics(metric_key_prefix) if rank() == 0 else None
        if world_size() > 1:
            # DDP keeps the weights equal on every rank, but only the main process scores
            # the dev articles; its metrics go to all ranks, so best-checkpoint and early
            # stopping decisions agree (every rank evaluates at the same steps: no deadlock)
            box = [metrics]
            torch.distributed.broadcast_object_list(box, src=0)
            metrics = box[0]
        self.log(metrics)
        if self.on_eval is not None:
            self.on_eval(metrics, self.state)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        self.model.train()
        return metrics

    def _dev_metrics(self, metric_key_prefix: str) -> dict:
        t0 = time.time()
        scores = self.tagger.token_scores([d.text for d in self.dev_docs], batch_size=self.eval_batch_size)
        gold = [gold_tuples(d, self.tagger.taxonomy) for d in self.dev_docs]
        if self.tagger.scheme.calibrated:
            _, preds = calibrate_on_dev(self.tagger, self.dev_docs, self.calibration, scores=scores, apply=False)
        else:  # the textbook reference decodes at 0.5
            half = {t: 0.5 for t in self.tagger.techniques}
            preds = [[p.as_tuple() for p in self.tagger.decode(s, half, half, {})] for s in scores]
        m = span_prf(preds, gold)
        metrics = {
            f"{metric_key_prefix}_span_f1": m["f1"],
            f"{metric_key_prefix}_span_precision": m["precision"],
            f"{metric_key_prefix}_span_recall": m["recall"],
            f"{metric_key_prefix}_n_pred": float(m["n_pred"]),
            f"{metric_key_prefix}_seconds": time.time() - t0,
        }
        return metrics


def _precision_args(tc: TrainingConfig) -> dict:
    """``training.precision`` as TrainingArguments flags; fp16 without CUDA is a config error."""
    from framescope.training.config import ConfigError

    precision = str(tc.precision or "fp32")
    if precision == "fp32":
        return {}
    if precision == "bf16":
        return {"bf16": True}
    if precision == "fp16":
        if not torch.cuda.is_available():
            raise ConfigError("training.precision=fp16 needs a CUDA GPU (use bf16 or fp32 on a CPU)")
        return {"fp16": True}
    raise ConfigError(f"training.precision must be fp32, bf16 or fp16, not {precision!r}")


def _pos_weight(rows: Sequence[dict], cap: float) -> torch.Tensor:
    pos = np.zeros(rows[0]["labels"].shape[1], dtype=np.float64)
    neg = np.zeros_like(pos)
    for r in rows:
        y = r["labels"]
        y = y[y[:, 0] != IGNORE]
        pos += y.sum(0)
        neg += len(y) - y.sum(0)
    return torch.tensor(positive_weight(pos, neg, cap, floor=1.0), dtype=torch.float32)


def run_trainer(
    tagger,
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    config: Config,
    tracker=None,
    say: Callable[[str], None] = print,
) -> dict:
    """Fit ``tagger``'s transformer on the training windows; dev articles drive best-checkpoint
    choice and early stopping. Returns training statistics (windows, tokens, throughput)."""
    tc = config.training
    seed = int(config.seed)
    _prepare_run(tagger, config)
    rows = training_windows(tagger, train_docs, max_windows=tc.max_train_windows, seed=seed)
    if not rows:
        raise ValueError("no training windows: the training articles are empty")
    n_tokens = sum(len(r["input_ids"]) for r in rows)
    say(f"{len(rows)} training windows, {n_tokens:,} tokens; {len(dev_docs)} dev articles")
    out_dir = tempfile.mkdtemp(prefix="framescope-trainer-")
    epoch_log: list[dict] = []
    trainer = SpanTrainer(
        model=tagger.model,
        args=_training_arguments(tc, seed, len(rows), bool(dev_docs), out_dir),
        train_dataset=rows,
        eval_dataset=rows[:1] if dev_docs else None,  # placeholder: evaluate() scores whole dev articles
        data_collator=WindowCollator(tagger.tokenizer.pad_token_id or 0, tagger.scheme.float_targets),
        callbacks=_callbacks(tc, bool(dev_docs), tracker),
        tagger=tagger,
        dev_docs=list(dev_docs),
        calibration=config.calibration,
        head_learning_rate=tc.head_learning_rate,
        head_only_steps=round(_steps_per_epoch(tc, len(rows)) * float(tc.head_only_epochs)),
        eval_batch_size=tc.eval_batch_size,
        pos_weight=_pos_weight(rows, float(tc.pos_weight_max)) if tagger.scheme.weighted else None,
        gamma=float(tc.focal_gamma) if tc.loss == "focal" else 0.0,
        on_eval=_eval_logger(epoch_log, tracker, say) if dev_docs else None,
    )
    t0 = time.time()
    trainer.train()
    train_seconds = time.time() - t0
    eval_seconds = sum(e.get("eval_seconds", 0.0) for e in epoch_log)
    tagger.model = trainer.model
    tagger.model.eval()
    shutil.rmtree(out_dir, ignore_errors=True)
    fit_seconds = max(train_seconds - eval_seconds, 1e-9)
    stats = {
        "train_windows": len(rows),
        "train_tokens_seen": trainer.tokens_seen,
        "train_loop_seconds": train_seconds,
        "train_tokens_per_second": trainer.tokens_seen / fit_seconds,
        "global_steps": trainer.state.global_step,
        "best_dev_span_f1": float(trainer.state.best_metric or 0.0),
    }
    say(f"training throughput {stats['train_tokens_per_second']:.0f} tokens/s (evaluation time excluded)")
    return stats


def _prepare_run(tagger, config: Config) -> None:
    """Seed, matmul precision and threads for the run; the embedding table frozen when the
    config says so."""
    tc = config.training
    set_seed(int(config.seed))
    if tc.tf32 and torch.cuda.is_available():
        # TF32 tensor cores for fp32 matmuls (Ampere+): ~2x faster, 10-bit mantissa products
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.set_num_threads(int(tc.threads or os.cpu_count() or 1))
    if config.model.freeze_embeddings:
        tagger.model.get_input_embeddings().weight.requires_grad_(False)
        tagger.reference_base_embeddings()  # the folder then names the base's table instead of storing it


def _steps_per_epoch(tc: TrainingConfig, n_rows: int) -> int:
    return math.ceil(n_rows / (tc.batch_size * tc.gradient_accumulation_steps))


def _training_arguments(tc: TrainingConfig, seed: int, n_rows: int, has_dev: bool, out_dir: str) -> TrainingArguments:
    """The Trainer's arguments: evaluation (and checkpoints) every ``eval_every_epochs``."""
    eval_steps = max(1, int(_steps_per_epoch(tc, n_rows) * float(tc.eval_every_epochs)))
    max_steps = int(tc.max_steps)
    if max_steps > 0:
        eval_steps = min(eval_steps, max_steps)
    kwargs = dict(
        output_dir=out_dir,
        per_device_train_batch_size=int(tc.batch_size),
        gradient_accumulation_steps=int(tc.gradient_accumulation_steps),
        learning_rate=float(tc.learning_rate),
        weight_decay=float(tc.weight_decay),
        warmup_ratio=float(tc.warmup_ratio),
        num_train_epochs=float(tc.epochs),
        max_steps=max_steps,
        eval_strategy="steps" if has_dev else "no",
        eval_steps=eval_steps,
        save_strategy="steps" if has_dev else "no",
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=has_dev,
        metric_for_best_model="span_f1",
        greater_is_better=True,
        logging_steps=max(1, min(50, eval_steps // 2 or 1)),
        report_to="none",
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=int(tc.dataloader_workers or 0),
        # pinned host memory only speeds copies to a GPU; on a CPU it warns on every run
        dataloader_pin_memory=has_accelerator(),
        per_device_eval_batch_size=int(tc.eval_batch_size),
        **_precision_args(tc),
        remove_unused_columns=False,
        disable_tqdm=not bool(os.environ.get("FRAMESCOPE_TQDM", "1") == "1"),
    )
    # transformers 5 folds warmup_ratio into a fractional warmup_steps; accept both majors
    params = inspect.signature(TrainingArguments.__init__).parameters
    if "warmup_ratio" not in params:
        kwargs["warmup_steps"] = kwargs.pop("warmup_ratio")
    if "save_safetensors" in params:
        kwargs["save_safetensors"] = True
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not has_accelerator():
        # torchrun on a CPU-only machine: without use_cpu, accelerate sees LOCAL_RANK but no
        # GPU and silently trains each process alone; with it, DDP over gloo
        kwargs["use_cpu"] = True
    return TrainingArguments(**kwargs)


def _callbacks(tc: TrainingConfig, has_dev: bool, tracker) -> list[TrainerCallback]:
    """Early stopping on dev span F1 (when there is dev data) and the training loss to MLflow."""
    callbacks: list[TrainerCallback] = []
    if has_dev and int(tc.early_stopping_patience) > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=int(tc.early_stopping_patience)))

    class LossLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if tracker is not None and logs and "loss" in logs:
                tracker.log_metrics({"train_loss": float(logs["loss"])}, step=state.global_step)

    callbacks.append(LossLogger())
    return callbacks


def _eval_logger(epoch_log: list[dict], tracker, say: Callable[[str], None]) -> Callable[[dict, object], None]:
    """What each dev evaluation reports: the progress line, MLflow metrics, the epoch log."""

    def on_eval(metrics: dict, state) -> None:
        epoch_log.append({"step": state.global_step, "epoch": state.epoch, **metrics})
        say(f"step {state.global_step} (epoch {state.epoch:.2f}): dev span F1 {metrics['eval_span_f1']:.4f}")
        if tracker is not None:
            tracker.log_metrics({k: float(v) for k, v in metrics.items()}, step=state.global_step)

    return on_eval
