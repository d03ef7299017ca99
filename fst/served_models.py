"""Turn the MODEL arguments of ``fst serve`` into ONNX files the browser can run.

A MODEL is one of:

- an exported ``.onnx`` file: served as it is, after onnxruntime has opened it and
  found the input ``image`` and output ``stylized`` (the fst.export contract);
- a Lightning checkpoint (``.ckpt``) or safetensors inference file: exported once with
  fst.export into ``<cache>/onnx/<digest>/<name>.onnx`` (cache from fst.weights.cache_dir;
  the digest covers the file's bytes and the fst version) and served from there;
- the name of a shipped style (fst.shipped): its ONNX file.

Only the checkpoint path imports torch (through fst.export), and only when it runs.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fst import __version__
from fst.errors import FstError
from fst.runners import INPUT_NAME, ONNX_SUFFIXES, OUTPUT_NAME, TORCH_SUFFIXES
from fst.server import ServedModel
from fst.shipped import path_like, resolve_model, shipped_styles
from fst.weights import cache_dir


def resolve_models(specs: list[str]) -> list[ServedModel]:
    """MODEL arguments (or, when empty, every shipped style) -> models with unique names."""
    specs = specs or [style.name for style in shipped_styles()]
    if not specs:
        raise FstError("no models to serve: pass -m MODEL (an .onnx, .ckpt or .safetensors file)")
    models: list[ServedModel] = []
    for spec in specs:
        path = resolve_onnx(spec)
        name = unique_name(url_safe_name(Path(spec).stem if path_like(spec) else spec), models)
        models.append(ServedModel(name, path))
    return models


def resolve_onnx(spec: str) -> Path:
    """One MODEL argument -> a checked ONNX file; FstError (one line) when it is none of the kinds."""
    path = resolve_model(spec)
    if not path.is_file():
        raise FstError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix in TORCH_SUFFIXES:
        path = export_cached(path)
    elif suffix not in ONNX_SUFFIXES:
        raise FstError(f"{path}: unknown model file type (expected .onnx, .ckpt or .safetensors)")
    check_onnx(path)
    return path


def check_onnx(path: Path) -> None:
    """Open ``path`` with onnxruntime and check the fst input/output names."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
        reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise FstError(f"{path}: not a loadable ONNX model ({reason})") from None
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise FstError(
            f"{path}: expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r}, found {inputs} -> {outputs} "
            "(export it with `fst export`)"
        )


def export_cached(path: Path) -> Path:
    """Export a checkpoint or inference file to ONNX once; later calls reuse the file."""
    digest = hashlib.sha256(__version__.encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    target = cache_dir() / "onnx" / digest.hexdigest()[:16] / f"{path.stem}.onnx"
    if not target.is_file():
        from fst.export import export_onnx

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
