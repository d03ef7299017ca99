"""Frames per second of the `fst serve` page in headless Chromium (WASM backend).

    python benchmarks/serve_fps.py [--model model.onnx] [--seconds 10] [--screenshot docs/images/serve.png]

Serves the model (default: a freshly initialised full-size TransformerNet, width 32 and
5 residual blocks, exported to ONNX; speed does not depend on the weights), opens the
page in the system's headless Chromium with its fake camera, and for each resolution
counts stylized frames over ``--seconds`` after a warm-up. Prints a markdown table.
``--photo`` turns a photo into a slowly panning fake camera (a .y4m file), ``--video``
feeds a .y4m/.mjpeg file as the camera; ``--screenshot`` saves the page.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from headless_chromium import MODEL_READY_JS, launch, wait_until  # noqa: E402

RESOLUTIONS = (256, 360, 480)


def default_model(folder: Path) -> Path:
    """A full-size TransformerNet (random weights) exported with fst.infer.export."""
    import torch

    from fst.infer.export import export_onnx
    from fst.infer.model_file import save_model_file
    from fst.models.transformer import TransformerConfig, TransformerNet

    torch.manual_seed(0)
    save_model_file(TransformerNet(TransformerConfig()), folder / "johnson.safetensors", "random", {})
    export_onnx(folder / "johnson.safetensors", folder / "johnson.onnx")
    return folder / "johnson.onnx"


def panning_y4m(photo: Path, out: Path, frames: int = 90, zoom: float = 1.15) -> Path:
    """A YUV4MPEG2 (4:2:0) clip that pans across ``photo``: Chromium's fake-camera file format."""
    import numpy as np
    from PIL import Image

    image = Image.open(photo).convert("RGB")
    width, height = (image.width // 2) * 2, (image.height // 2) * 2
    big = image.resize((round(width * zoom), round(height * zoom)), Image.LANCZOS)
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            x = round((big.width - width) * (0.5 - 0.5 * np.cos(2 * np.pi * i / frames)))
            ycbcr = np.asarray(big.crop((x, 0, x + width, height)).convert("YCbCr"), dtype=np.float32)
            chroma = ycbcr[:, :, 1:].reshape(height // 2, 2, width // 2, 2, 2).mean(axis=(1, 3))
            luma = 16 + ycbcr[:, :, 0] * (219 / 255)  # full-range (JPEG) to video range, as I420 expects
            chroma = 128 + (chroma - 128) * (224 / 255)
            f.write(b"FRAME\n" + np.round(luma).astype(np.uint8).tobytes())
            f.write(np.round(chroma).astype(np.uint8).transpose(2, 0, 1).tobytes())
    return out


def save_screenshot(png: bytes, path: Path) -> None:
    """Save a page screenshot as a 256-colour PNG (a third of the size, for the docs)."""
    import io

    from PIL import Image

    from fst.imageio import save_image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    save_image(image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG), path)


def frames_shown(page) -> int:
    return int(page.get_attribute("#camera-output", "data-frames"))


def wait_for_frame(page, after: int) -> tuple[int, float]:
    """Poll until more than ``after`` frames were shown; (count, time it was seen)."""
    while (count := frames_shown(page)) <= after:
        time.sleep(0.02)
    return count, time.monotonic()


def measure(page, lines: int, seconds: float, min_frames: int = 4) -> dict:
    """Switch to ``lines``, skip 2 warm-up frames, then time frames for at least
    ``seconds`` and ``min_frames`` frames, from one frame's arrival to another's."""
    page.select_option("#resolution", str(lines))
    first, t0 = wait_for_frame(page, frames_shown(page) + 1)
    count, t1 = first, t0
    while t1 - t0 < seconds or count - first < min_frames:
        count, t1 = wait_for_frame(page, count)
    fps = (count - first) / (t1 - t0)
    width, height = page.eval_on_selector("#camera-output", "canvas => [canvas.width, canvas.height]")
    return {"lines": lines, "width": width, "height": height, "fps": fps, "ms": 1000 / fps}


def native_ms(onnx_path: Path, width: int, height: int, runs: int = 3) -> float:
    """Median ms of one (1, 3, height, width) run of onnxruntime in Python (all cores), for reference."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    session.run(None, {"image": x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {"image": x})
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="MODEL as for fst serve (default: random full-size net)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--photo", type=Path, help="camera input: a slow pan across this photo")
    parser.add_argument(
        "--video", type=Path, help="camera input file (.y4m or .mjpeg) instead of the test pattern"
    )
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the page (PNG) after measuring")
    parser.add_argument(
        "--screenshot-lines", type=int, default=360, help="resolution shown in the screenshot"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()  # 1, 5, 15 minutes: other work on the machine skews FPS

    from playwright.sync_api import sync_playwright

    from fst.serve.models import resolve_models
    from fst.serve.server import make_server, server_url

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or default_model(Path(tmp))
        video = panning_y4m(args.photo, Path(tmp) / "camera.y4m") if args.photo else args.video
        served = resolve_models([str(model)])
        server = make_server(served, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with sync_playwright() as playwright:
            browser = launch(playwright, video_file=video)
            page = browser.new_page(viewport={"width": 1000, "height": 580})
            page.goto(server_url(server) + "?backend=wasm")
            wait_until(page, MODEL_READY_JS)
            backend = page.text_content("#backend")
            page.click("#camera-toggle")
            rows = [measure(page, lines, args.seconds) for lines in RESOLUTIONS]
            for row in rows:  # right after the browser, under the same machine load
                row["native_ms"] = native_ms(served[0].path, row["width"], row["height"])
            if args.screenshot:
                measure(page, args.screenshot_lines, 2)
                save_screenshot(page.screenshot(type="png"), args.screenshot)
            version = browser.version
            browser.close()
        server.shutdown()

    print(f"model: {model.name if args.model else 'TransformerNet width 32, 5 res blocks (random weights)'}")
    load = " / ".join(f"{x:.1f}" for x in load_before)
    print(f"browser: headless Chromium {version}, backend {backend}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average before the run {load}")
    print("\n| lines | frame size | FPS in the page | ms per frame | onnxruntime in Python, ms |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        size = f"{r['width']}×{r['height']}"
        print(f"| {r['lines']} | {size} | {r['fps']:.2f} | {r['ms']:.0f} | {r['native_ms']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
