"""Frozen word embeddings stored once, in the base, and referenced by checksum.

multilingual-e5-small's word-embedding table is 96M of its 118M parameters (250,037
pieces x 384). Trained with ``model.freeze_embeddings``, the table never changes, so a
model folder need not carry its own 384 MB copy: it names the base and the table's
SHA-256 (as a PEFT adapter names its base model), and loading takes the table from the
installed base after checking that checksum. A folder whose base is missing, or whose base
holds another table, is refused: it loads exactly or not at all.

The reference lives in ``framescope.json`` under ``extra.base_embeddings``:
``{"base": NAME, "tensor": KEY, "sha256": HEX, "shape": [V, H]}``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from framescope.errors import ModelError
from framescope.model.settings import BASE_EMBEDDINGS_KEY as EXTRA_KEY


def tensor_digest(weight: torch.Tensor) -> str:
    """SHA-256 of the table's float32 bytes (row-major)."""
    data = weight.detach().to(torch.float32).cpu().contiguous().reshape(-1)
    return hashlib.sha256(data.view(torch.uint8).numpy().tobytes()).hexdigest()


def _key(model) -> str:
    """The state-dict name of the input embedding table (``bert.embeddings.word_embeddings.weight``)."""
    table = model.get_input_embeddings().weight
    return next(name for name, p in model.state_dict(keep_vars=True).items() if p is table)


def reference(model, base: str) -> dict:
    """The reference a folder stores instead of the table."""
    weight = model.get_input_embeddings().weight
    return {"base": base, "tensor": _key(model), "sha256": tensor_digest(weight), "shape": list(weight.shape)}


def state_dict_without_table(model, ref: dict) -> dict:
    """The weights to save: everything but the referenced table."""
    return {k: v for k, v in model.state_dict().items() if k != ref["tensor"]}


def restore_if_referenced(model, folder: Path, settings, info: dict) -> None:
    """After ``from_pretrained(..., output_loading_info=True)``: put a referenced table back
    (every loader of a folder's torch weights calls this before checking ``info``)."""
    ref = settings.embeddings_reference
    if ref is not None:
        restore(model, folder, ref, info)


def restore(model, folder: Path, ref: dict, info: dict) -> None:
    """Put the base's table into ``model`` after checking it is the referenced one, and
    drop its name from ``info["missing_keys"]`` (the only key allowed to be missing)."""
    where = f"{folder}/framescope.json: extra.{EXTRA_KEY}"
    table = verified_table(folder, ref)
    missing = list(info.get("missing_keys") or [])
    if ref["tensor"] not in missing:
        raise ModelError(f"{where}: the weights file holds {ref['tensor']} although the folder references it")
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(table)
    info["missing_keys"] = [k for k in missing if k != ref["tensor"]]


def verified_table(folder: Path, ref: dict) -> torch.Tensor:
    """The referenced table, read from the installed base after checking its shape and SHA-256
    (also what an ONNX graph exported without its table is fed from: onnx_backend.py)."""
    from framescope.model.transformer import resolve_base

    where = f"{folder}/framescope.json: extra.{EXTRA_KEY}"
    if not isinstance(ref, dict) or set(ref) != {"base", "tensor", "sha256", "shape"}:
        raise ModelError(f"{where}: expected base, tensor, sha256 and shape")
    try:
        base_path = resolve_base(str(ref["base"]))
    except ModelError:
        raise
    except Exception as err:  # an EncoderError: the base is not installed
        raise ModelError(f"{where}: the base {ref['base']!r} is needed for its embeddings: {err}") from None
    table = _base_table(base_path, where)
    if list(table.shape) != list(ref["shape"]) or tensor_digest(table) != ref["sha256"]:
        raise ModelError(
            f"{where}: the installed base {ref['base']!r} holds another embedding table "
            f"(sha256 differs): reinstall the base the model was trained on"
        )
    return table


def _base_table(base_path: str, where: str) -> torch.Tensor:
    """The base's word-embedding table, read from its safetensors file (no model built)."""
    from safetensors import safe_open

    if not Path(base_path).is_dir():  # a hub name: its checkpoint, through from_pretrained
        from transformers import AutoModel

        try:
            model = AutoModel.from_pretrained(base_path, trust_remote_code=False)
        except Exception as err:  # not a folder, not reachable on a hub
            raise ModelError(f"{where}: the base {base_path!r} is neither a folder nor loadable ({err})") from None
        return model.get_input_embeddings().weight.detach()
    files = sorted(Path(base_path).glob("*.safetensors"))
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():
                if name.endswith("embeddings.word_embeddings.weight"):
                    return f.get_tensor(name)
    raise ModelError(f"{where}: no word-embedding table in the base folder {base_path}")
