"""Turn the MODEL arguments of ``fst serve`` into ONNX files the browser can run.

A MODEL is one of:

- an exported ``.onnx`` file: served as it is, after fst.infer.runners.OnnxRuntimeRunner
  has opened it (the fst.infer.export contract: input ``image``, output ``stylized``,
  checked metadata);
- a Lightning checkpoint (``.ckpt``) or safetensors inference file: exported once with
  fst.infer.export into ``<cache>/onnx/<digest>/<name>.onnx`` (cache from fst.loss.weights.cache_dir;
  the digest covers the file's bytes and the fst version) and served from there;
- the name of a shipped style (fst.infer.shipped): its ONNX file.

Only the checkpoint path imports torch (through fst.infer.export), and only when it runs.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fst import __version__
from fst.errors import FstError
from fst.infer.metadata import ModelInfo
from fst.infer.runners import ONNX_SUFFIXES, TORCH_SUFFIXES, OnnxRuntimeRunner
from fst.infer.shipped import path_like, resolve_model, shipped_styles
from fst.loss.weights import cache_dir
from fst.serve.server import ServedModel


def resolve_models(specs: list[str]) -> list[ServedModel]:
    """MODEL arguments (or, when empty, every shipped style) -> models with unique names."""
    specs = specs or [style.name for style in shipped_styles()]
    if not specs:
        raise FstError("no models to serve: pass -m MODEL (an .onnx, .ckpt or .safetensors file)")
    models: list[ServedModel] = []
    for spec in specs:
        path, styles = resolve_onnx(spec)
        name = unique_name(url_safe_name(Path(spec).stem if path_like(spec) else spec), models)
        models.append(ServedModel(name, path, styles))
    return models


def resolve_onnx(spec: str) -> tuple[Path, tuple[str, ...]]:
    """One MODEL argument -> (a checked ONNX file, the styles of a multi-style model); FstError
    (one line) when it is none of the kinds."""
    path = resolve_model(spec)
    if not path.is_file():
        raise FstError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix in TORCH_SUFFIXES:
        path = export_cached(path)
    elif suffix not in ONNX_SUFFIXES:
        raise FstError(f"{path}: unknown model file type (expected .onnx, .ckpt or .safetensors)")
    return path, check_onnx(path).styles


def check_onnx(path: Path) -> ModelInfo:
    """Open ``path`` as every ONNX model is opened (OnnxRuntimeRunner) -> its ModelInfo;
    FstError unless it has the fst export contract. A format-1 file (no border margin in its
    graph) gets a note: the page runs the graph as it is."""
    info = OnnxRuntimeRunner(path, device="cpu").info
    if not info.adds_margin:
        print(
            f"fst serve: note: {path} was exported by an older fst: the page runs it without the "
            "border margin of fst stylize (export its .safetensors or .ckpt again with fst export)"
        )
    return info


def export_cached(path: Path) -> Path:
    """Export a checkpoint or inference file to ONNX once; later calls reuse the file."""
    digest = hashlib.sha256(__version__.encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    target = cache_dir() / "onnx" / digest.hexdigest()[:16] / f"{path.stem}.onnx"
    if not target.is_file():
        from fst.infer.export import export_onnx

        print(f"fst serve: exporting {path} to {target}")
        target.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(path, target)
    return target


def url_safe_name(name: str) -> str:
    """Letters, digits, '-', '_' and '.' only: names appear in URLs and file names."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "model"


def unique_name(name: str, taken: list[ServedModel]) -> str:
    """``name``, or ``name-2``, ``name-3``, ... when an earlier model has it."""
    names = {m.name for m in taken}
    candidate, n = name, 1
    while candidate in names:
        n += 1
        candidate = f"{name}-{n}"
    return candidate
