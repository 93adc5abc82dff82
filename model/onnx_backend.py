"""ONNX Runtime backend for the transformer tagger: export, dynamic int8 quantization, scoring.

Only the forward pass changes: a :class:`~framescope.model.transformer.TransformerTagger`
loaded with an ONNX backend gets an :class:`OnnxForward` (an ``onnxruntime``
``InferenceSession``) instead of the PyTorch module, and keeps the same tokenizer, window
plan, length-sorted batching, window merging, decoding and thresholds, so spans map to
exactly the same character offsets as with the ``torch`` backend.

Files, next to the safetensors weights of a model folder (or in ``--out``, which then gets
a copy of the folder's tokenizer, taxonomy and ``framescope.json`` so that it loads alone):

* ``model.onnx`` — fp32 graph exported with ``torch.onnx.export`` (TorchScript exporter,
  opset 17, eager attention), inputs ``input_ids`` / ``attention_mask`` ``[batch, sequence]``
  int64 with both axes dynamic, output ``logits`` ``[batch, sequence, 2K]``. A folder that
  keeps its frozen word-embedding table in the base (model/base_embeddings.py) exports a graph
  without the table: it takes ``inputs_embeds`` ``[batch, sequence, hidden]`` float32 instead
  of ``input_ids``, and :class:`OnnxForward` looks the rows up in the base's checked table.
  (multilingual-e5-small's table is 384 MB: inside the graph it would make ``model.onnx``
  470 MB instead of 86 MB.)
* ``model.int8.onnx`` — ``onnxruntime.quantization.quantize_dynamic`` of the fp32 graph:
  int8 (QInt8, per-channel) weights of every MatMul, activations quantized per batch at run time.

Load with ``SpanTagger.from_pretrained(folder, backend="onnx-fp32" | "onnx-int8")``; export with ``framescope export-onnx MODEL
[--int8]`` or :func:`export_onnx`. Needs the ``onnx`` extra (``pip install framescope[onnx]``).
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from framescope.model import folder_checks as checks
from framescope.model.base_embeddings import restore_if_referenced, verified_table
from framescope.model.settings import TaggerSettings, folder_error, load_folder_taxonomy

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
OPSET = 17
#: Files a model folder needs besides its weights (copied when exporting to another folder).
_WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".bin", ".pt")


def _need_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the ONNX backend needs onnx and onnxruntime: pip install 'framescope[onnx]'") from err


IDS_INPUT = "input_ids"
EMBEDS_INPUT = "inputs_embeds"


class _Logits(torch.nn.Module):
    """``(input_ids | inputs_embeds, attention_mask) -> logits``: the one graph that is exported."""

    def __init__(self, model: torch.nn.Module, input_name: str = IDS_INPUT):
        super().__init__()
        self.model = model
        self.input_name = input_name

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(**{self.input_name: inputs}, attention_mask=attention_mask).logits

    def inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """What the graph takes for these token ids: the ids, or their rows of the table."""
        if self.input_name == IDS_INPUT:
            return ids
        with torch.no_grad():
            return self.model.get_input_embeddings()(ids)


def export_onnx(
    model_folder: str | Path,
    out_folder: str | Path | None = None,
    quantize: bool = False,
    opset: int = OPSET,
) -> Path:
    """Write ``model.onnx`` (and with ``quantize`` also ``model.int8.onnx``); return the last written.

    The fp32 export is checked against the PyTorch model on a padded two-row batch of a
    different shape than the one traced (max |logit difference| <= 1e-3), so a graph that
    baked in a shape or dropped the attention mask is never written silently.
    """
    _need_onnx()
    model_folder = Path(model_folder)
    model, settings = _load_for_export(model_folder)
    out = Path(out_folder) if out_folder is not None else model_folder
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != model_folder.resolve():
        for f in model_folder.iterdir():
            if f.is_file() and not f.name.endswith(_WEIGHT_SUFFIXES):
                shutil.copy2(f, out / f.name)
    wrapped = _Logits(model, IDS_INPUT if settings.embeddings_reference is None else EMBEDS_INPUT).eval()
    vocab = int(model.config.vocab_size)
    fp32 = _trace(wrapped, vocab, out / FP32_FILE, opset)
    _check_export(wrapped, fp32, vocab)
    return quantize_onnx(fp32, out / INT8_FILE) if quantize else fp32


def _load_for_export(model_folder: Path) -> tuple[torch.nn.Module, TaggerSettings]:
    """The folder's transformer and settings, checked as loading checks them, with eager attention
    (the plain MatMul/Softmax pattern that ONNX Runtime's fusions know)."""
    from transformers import AutoModelForTokenClassification

    settings = TaggerSettings.load(model_folder)
    if settings.model_type != "transformer":
        raise folder_error(model_folder, f"only transformer taggers export to ONNX, not {settings.model_type!r}")
    if not any(model_folder.glob("*.safetensors")):
        raise folder_error(model_folder, "no safetensors weights (framescope never loads pickled weights)")
    checks.check_settings(model_folder, settings, load_folder_taxonomy(model_folder, settings))
    checks.check_transformer_config(model_folder, settings)
    model, info = AutoModelForTokenClassification.from_pretrained(
        model_folder,
        trust_remote_code=False,
        use_safetensors=True,
        attn_implementation="eager",
        output_loading_info=True,
        ignore_mismatched_sizes=True,
    )
    restore_if_referenced(model, model_folder, settings, info)  # a frozen table kept in the base
    checks.check_loading_info(model_folder, info)  # never export freshly initialised layers
    return model, settings


def _trace(wrapped: "_Logits", vocab: int, fp32: Path, opset: int) -> Path:
    """Trace ``wrapped`` into ``fp32`` with dynamic batch and sequence axes; check the graph."""
    import onnx

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (2, 16), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 11:] = 0  # trace with padding so the mask path is in the graph
    names = [wrapped.input_name, "attention_mask"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about python-side shape checks
        torch.onnx.export(
            wrapped,
            (wrapped.inputs(ids), mask),
            str(fp32),
            dynamo=False,
            opset_version=opset,
            input_names=names,
            output_names=["logits"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in (*names, "logits")},
            do_constant_folding=True,
        )
    wrapped.eval()  # the exporter restores the wrapper's training flag
    onnx.checker.check_model(str(fp32))
    graph_inputs = {i.name for i in onnx.load(str(fp32), load_external_data=False).graph.input}
    if graph_inputs != set(names):
        raise RuntimeError(f"unexpected ONNX inputs {sorted(graph_inputs)}")
    return fp32


def quantize_onnx(fp32: str | Path, int8: str | Path) -> Path:
    """Dynamic int8 quantization: QInt8 weights (per output channel) for every MatMul.

    Per-channel scales halve the probability error of per-tensor ones on MiniLM at the same
    speed (docs/benchmarks.md); activations are quantized per batch at run time (uint8).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing" advice logged on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    return Path(int8)


def _check_export(wrapped: torch.nn.Module, path: Path, vocab: int) -> None:
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab, (3, 23), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 17:] = 0
    mask[2, 4:] = 0
    inputs = wrapped.inputs(ids)
    with torch.inference_mode():
        ref = wrapped(inputs, mask).numpy()
    feed = {wrapped.input_name: inputs.numpy(), "attention_mask": mask.numpy()}
    got = _session(path, threads=1).run(["logits"], feed)[0]
    keep = mask.numpy().astype(bool)
    diff = float(np.abs(got - ref)[keep].max())
    if diff > 1e-3:
        raise RuntimeError(f"{path}: ONNX logits differ from PyTorch by {diff:.2e}; not using this export")


def _session(path: str | Path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class OnnxForward:
    """The transformer tagger's forward pass as an ONNX Runtime session (``onnx-fp32``, ``onnx-int8``)."""

    def __init__(self, onnx_path: str | Path, threads: int | None = None, table: np.ndarray | None = None):
        _need_onnx()
        self.onnx_path = Path(onnx_path)
        self.threads = threads
        self.session = _session(self.onnx_path, threads)
        #: the word-embedding table a graph exported without it is fed from (else ``None``)
        self.table = table

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        quantized: bool = False,
        threads: int | None = None,
        settings: TaggerSettings | None = None,
    ) -> "OnnxForward":
        """The folder's graph (``model.onnx``, or ``model.int8.onnx`` when ``quantized``); a missing
        or unreadable one, or a missing ``onnx`` extra, is a ModelError. ``settings``: the folder's,
        when the caller has read them already."""
        path = Path(folder) / (INT8_FILE if quantized else FP32_FILE)
        if not path.is_file():
            flag = " --int8" if quantized else ""
            raise folder_error(folder, f"{path.name} not found: run `framescope export-onnx {folder}{flag}` first")
        try:
            forward = cls(path, threads)
        except ImportError as err:
            raise folder_error(folder, f"{path.name} needs the onnx extra ({err})") from None
        except Exception as err:  # ONNX Runtime's own error types for a graph it cannot load
            raise folder_error(folder, f"{path.name} cannot be loaded ({type(err).__name__}: {err})") from None
        if EMBEDS_INPUT in {i.name for i in forward.session.get_inputs()}:
            ref = (settings or TaggerSettings.load(Path(folder))).embeddings_reference
            if ref is None:
                raise folder_error(
                    folder, f"{path.name} takes {EMBEDS_INPUT} but framescope.json references no embedding table"
                )
            forward.table = verified_table(Path(folder), ref).numpy()
        return forward

    @property
    def name(self) -> str:
        return "onnx-int8" if self.onnx_path.name == INT8_FILE else "onnx-fp32"

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        if self.table is None:
            feed = {IDS_INPUT: ids, "attention_mask": mask}
        else:
            feed = {EMBEDS_INPUT: np.take(self.table, ids, axis=0), "attention_mask": mask}
        return torch.from_numpy(self.session.run(["logits"], feed)[0])

    def set_threads(self, threads: int | None) -> None:
        """Rebuild the session with ``intra_op_num_threads=threads`` (``None``: ORT's default)."""
        self.threads = threads
        self.session = _session(self.onnx_path, threads)

    def digest(self, h) -> None:
        with open(self.onnx_path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
