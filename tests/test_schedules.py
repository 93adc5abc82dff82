"""Head-only epochs: the classifier head trains alone first, then the encoder joins it."""

from __future__ import annotations

import math

import pytest
import torch

from framescope.training.config import ConfigError, load_config
from framescope.training.schedules import HEAD_GROUP, head_first_scheduler


def _rates(head_only_steps: int, total: int = 20, warmup_ratio: float = 0.1) -> list[tuple[float, float]]:
    encoder, head = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([{"params": [encoder], "lr": 1.0}, {"params": [head], "lr": 2.0, HEAD_GROUP: True}])
    scheduler = head_first_scheduler(optimizer, total, warmup_ratio, head_only_steps)
    rates = []
    for _ in range(total):
        rates.append(tuple(g["lr"] for g in optimizer.param_groups))
        optimizer.step()
        scheduler.step()
    return rates


def test_the_encoders_rate_is_zero_for_the_head_only_steps_then_warms_up_and_decays():
    rates = _rates(head_only_steps=8)
    encoder, head = [r[0] for r in rates], [r[1] for r in rates]
    assert encoder[:9] == [0.0] * 9  # 8 head-only steps, then the first step of its warm-up (as transformers')
    assert encoder[9] == pytest.approx(0.5)  # warm-up: ceil(0.1 * 12) = 2 steps
    assert encoder[10] == pytest.approx(1.0) and encoder[-1] == pytest.approx(1.0 / 10)
    assert all(a >= b for a, b in zip(encoder[10:], encoder[11:]))
    # the head keeps the usual schedule over the whole run: warm-up over 2 steps, decay to 0
    assert head[0] == 0.0 and head[1] == pytest.approx(1.0) and head[2] == pytest.approx(2.0)
    assert head[-1] == pytest.approx(2.0 / 18)


def test_without_head_only_steps_both_groups_follow_the_linear_schedule():
    from transformers import get_linear_schedule_with_warmup

    param = torch.nn.Parameter(torch.zeros(1))
    reference = torch.optim.AdamW([param], lr=1.0)
    linear = get_linear_schedule_with_warmup(reference, math.ceil(0.1 * 20), 20)
    expected = []
    for _ in range(20):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        linear.step()
    rates = _rates(head_only_steps=0)
    assert [r[0] for r in rates] == pytest.approx(expected)
    assert [r[1] for r in rates] == pytest.approx([2 * e for e in expected])


def test_head_only_steps_must_leave_the_encoder_some_steps():
    with pytest.raises(ValueError, match="leave none"):
        _rates(head_only_steps=20)


@pytest.mark.parametrize("value", ["2", "3", "-0.5"])
def test_head_only_epochs_outside_the_run_are_refused_when_the_config_is_read(value):
    with pytest.raises(ConfigError, match=r"--set: training\.head_only_epochs: .* below training\.epochs \(2\)"):
        load_config("minilm-semeval", [f"training.head_only_epochs={value}"])
    assert load_config("minilm-semeval", ["training.head_only_epochs=1"]).training.head_only_epochs == 1


def test_the_encoder_stays_as_pretrained_while_the_head_trains_alone(tiny_bert, monkeypatch):
    """Through the real Trainer: the head moves from its first steps on, the encoder not
    before its own schedule starts."""
    from transformers import TrainerCallback

    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.model.transformer import TransformerTagger
    from framescope.training import hf_trainer

    tagger = TransformerTagger.from_base(str(tiny_bert), load_taxonomy(), max_length=32, stride=8)
    docs = load_sample()
    batch = 4
    steps_per_epoch = math.ceil(len(hf_trainer.training_windows(tagger, docs[:4])) / batch)
    snapshots: list[tuple[torch.Tensor, torch.Tensor]] = []

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kw):
            layer = model.base_model.encoder.layer[0].attention.self.query.weight
            snapshots.append((layer.detach().clone(), model.classifier.weight.detach().clone()))

    real_callbacks = hf_trainer._callbacks
    monkeypatch.setattr(hf_trainer, "_callbacks", lambda *a: [*real_callbacks(*a), Snapshot()])
    start = tagger.model.base_model.encoder.layer[0].attention.self.query.weight.detach().clone()
    cfg = load_config(
        "minilm-semeval",
        [
            "training.max_steps=5",
            f"training.batch_size={batch}",
            "training.learning_rate=1e-2",
            f"training.head_only_epochs={3 / steps_per_epoch}",  # three head-only steps
        ],
    )
    hf_trainer.run_trainer(tagger, docs[:4], [], cfg, say=lambda m: None)
    encoder = [s[0] for s in snapshots]
    assert all(torch.equal(e, start) for e in encoder[:4])  # 3 head-only steps and the warm-up's first
    assert not torch.equal(encoder[4], start)
    assert not torch.equal(snapshots[1][1], snapshots[0][1])  # the head trains meanwhile
