"""`fst serve`: the HTTP server as a user starts it, and the page in a real headless Chromium."""

from __future__ import annotations

import base64
import fnmatch
import http.client
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from PIL import Image

from fst.serve.server import WEB_DIR

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from headless_chromium import MODEL_READY_JS, find_chromium, launch, wait_until  # noqa: E402

FST = [sys.executable, "-m", "fst.cli"]


# ---- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> dict[str, Path]:
    """A small TransformerNet (width 8, 1 res block, seeded) as safetensors and exported ONNX."""
    import torch

    from fst.infer.export import export_onnx
    from fst.infer.model_file import save_model_file
    from fst.models.transformer import TransformerConfig, TransformerNet

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(9)
    save_model_file(
        TransformerNet(TransformerConfig(width=8, num_res_blocks=1)), folder / "tiny.safetensors", "tiny", {}
    )
    export_onnx(folder / "tiny.safetensors", folder / "tiny.onnx")
    return {"safetensors": folder / "tiny.safetensors", "onnx": folder / "tiny.onnx"}


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory) -> Path:
    """The tiny two-style model (styles "ink", "fire": tests/inference_models.py), exported."""
    from fst.infer.export import export_onnx
    from tests.inference_models import save_tiny_multi_model

    folder = tmp_path_factory.mktemp("pair")
    export_onnx(save_tiny_multi_model(folder / "pair.safetensors"), folder / "pair.onnx")
    return folder / "pair.onnx"


def start_cli_server(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str, list[str]]:
    """`fst serve ARGS --port 0` in a subprocess -> (process, URL, lines printed before it)."""
    proc = subprocess.Popen(
        [*FST, "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if " open http://" in line:
            return proc, line.split(" open ")[1].split()[0], lines
    proc.wait(timeout=30)
    raise AssertionError(f"fst serve exited {proc.returncode}: {lines} {proc.stderr.read()}")


def stop_cli_server(proc: subprocess.Popen) -> str:
    """Ctrl+C the server as a user would; returns what it printed after the URL."""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out


@pytest.fixture(scope="module")
def cli_server(tiny_model, tmp_path_factory):
    """`fst serve -m tiny.onnx -m "my style.onnx"` running; yields (url, {name: file})."""
    second = tmp_path_factory.mktemp("more") / "my style.onnx"
    shutil.copy(tiny_model["onnx"], second)
    proc, url, lines = start_cli_server("-m", str(tiny_model["onnx"]), "-m", str(second))
    assert lines[0] == "fst serve: 2 model(s): tiny, my-style"
    yield url, {"tiny": tiny_model["onnx"], "my-style": second}
    assert "fst serve: stopped" in stop_cli_server(proc)


def get(url: str, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    """Send ``path`` exactly as given (no client-side normalisation) -> (status, headers, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def run_fst(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*FST, *args], capture_output=True, text=True, timeout=120, env=env)


def ort_stylize(onnx_path: Path, rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, 3) float in [0, 255], by onnxruntime in Python: the graph
    holds the whole contract of fst stylize, border margin included (tests/infer/test_shipped.py)."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (y,) = session.run(["stylized"], {"image": (rgb.astype(np.float32) / 255).transpose(2, 0, 1)[None]})
    return np.clip(y[0].transpose(1, 2, 0), 0, 1) * 255


# ---- the server ----------------------------------------------------------------------


def test_page_and_vendored_files_served_with_their_content_types(cli_server):
    url, _ = cli_server
    expected = {
        "/": ("text/html; charset=utf-8", WEB_DIR / "index.html"),
        "/app.js": ("text/javascript; charset=utf-8", WEB_DIR / "app.js"),
        "/style.css": ("text/css; charset=utf-8", WEB_DIR / "style.css"),
        "/vendor/ort.webgpu.min.mjs": (
            "text/javascript; charset=utf-8",
            WEB_DIR / "vendor/ort.webgpu.min.mjs",
        ),
        "/vendor/ort-wasm-simd-threaded.asyncify.wasm": (
            "application/wasm",
            WEB_DIR / "vendor/ort-wasm-simd-threaded.asyncify.wasm",
        ),
        "/vendor/LICENSE": ("text/plain; charset=utf-8", WEB_DIR / "vendor/LICENSE"),
    }
    for path, (content_type, file) in expected.items():
        status, headers, body = get(url, path)
        assert status == 200, path
        assert headers["content-type"] == content_type, path
        assert body == file.read_bytes(), path
        assert int(headers["content-length"]) == len(body)
        # cross-origin isolation (WASM threads) and no network beyond this server
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert headers["cross-origin-embedder-policy"] == "require-corp"
        assert headers["content-security-policy"].startswith("default-src 'self';")
    status, headers, body = get(url, "/app.js?v=2")  # a query string does not change the route
    assert status == 200 and body == (WEB_DIR / "app.js").read_bytes()
    status, headers, body = get(url, "/vendor/ort.webgpu.min.mjs", method="HEAD")
    assert status == 200 and body == b""
    assert int(headers["content-length"]) == (WEB_DIR / "vendor/ort.webgpu.min.mjs").stat().st_size


def test_model_list_and_model_files(cli_server):
    url, files = cli_server
    status, headers, body = get(url, "/models.json")
    assert status == 200 and headers["content-type"] == "application/json"
    listing = json.loads(body)["models"]
    assert [m["name"] for m in listing] == ["tiny", "my-style"]
    for entry in listing:
        assert entry["url"] == f"/models/{entry['name']}.onnx"
        assert entry["bytes"] == files[entry["name"]].stat().st_size
        status, headers, body = get(url, entry["url"])
        assert status == 200 and headers["content-type"] == "application/octet-stream"
        assert body == files[entry["name"]].read_bytes()


def test_model_list_names_the_styles_of_a_multi_style_model(tiny_model, pair_model):
    from fst.serve.models import resolve_models
    from fst.serve.server import build_routes

    listing = json.loads(
        build_routes(resolve_models([str(pair_model), str(tiny_model["onnx"])]))["/models.json"].body
    )
    assert [(m["name"], m["styles"]) for m in listing["models"]] == [("pair", ["ink", "fire"]), ("tiny", [])]


@pytest.mark.parametrize(
    "path", ["/nope", "/models/other.onnx", "/vendor/", "/vendor/missing.wasm", "/models", "/index.htm"]
)
def test_unknown_routes_are_404(cli_server, path):
    status, headers, body = get(cli_server[0], path)
    assert status == 404
    assert body == b"404 not found\n"


def test_only_get_and_head_are_answered(cli_server):
    status, _, _ = get(cli_server[0], "/", method="POST")
    assert status == 501


@pytest.mark.parametrize(
    "path",
    [
        "/../fst/serve/server.py",
        "/vendor/../../server.py",
        "/vendor/../app.js",
        "/%2e%2e/%2e%2e/pyproject.toml",
        "/vendor/..%2f..%2fserver.py",
        "/models/../../../../../../etc/passwd",
        "//etc/passwd",
        "/fst/serve/web/app.js",
    ],
)
def test_directory_traversal_refused(cli_server, path):
    status, _, body = get(cli_server[0], path)
    assert status == 404
    assert body == b"404 not found\n"


def test_serving_onnx_imports_no_torch(tiny_model):
    code = (
        "import sys; import fst.cli; fst.cli.build_parser(); "
        "from fst.serve.models import resolve_models; from fst.serve.server import make_server; "
        f"server = make_server(resolve_models([{str(tiny_model['onnx'])!r}]), port=0); "
        "server.server_close(); "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_format_1_onnx_is_served_with_a_note(tiny_model, tmp_path, capsys):
    """An ONNX file of an older fst has no border margin in its graph, and the page adds none."""
    from fst.serve.models import resolve_models
    from tests.inference_models import export_format_1

    legacy = export_format_1(tiny_model["safetensors"], tmp_path / "old.onnx")
    models = resolve_models([str(legacy), str(tiny_model["onnx"])])
    assert [model.path for model in models] == [legacy, tiny_model["onnx"]]
    assert capsys.readouterr().out == (
        f"fst serve: note: {legacy} was exported by an older fst: the page runs it without the border "
        "margin of fst stylize (export its .safetensors or .ckpt again with fst export)\n"
    )


def test_safetensors_is_exported_once_into_the_cache(tiny_model, tmp_path):
    env = {**os.environ, "FST_CACHE_DIR": str(tmp_path / "cache")}
    proc, url, lines = start_cli_server("-m", str(tiny_model["safetensors"]), env=env)
    stop_cli_server(proc)
    (cached,) = (tmp_path / "cache" / "onnx").glob("*/tiny.onnx")
    assert any(line.startswith("fst serve: exporting") for line in lines)
    # the cached export computes what the directly exported model computes
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_allclose(ort_stylize(cached, rgb), ort_stylize(tiny_model["onnx"], rgb), atol=1e-3)
    proc, url, lines = start_cli_server("-m", str(tiny_model["safetensors"]), env=env)
    status, _, body = get(url, "/models/tiny.onnx")
    stop_cli_server(proc)
    assert status == 200 and body == cached.read_bytes()
    assert not any("exporting" in line for line in lines), "the second start must reuse the cache"


def wrong_io_names_model(path: Path) -> Path:
    """A valid ONNX graph (Identity) whose input is not called 'image'."""
    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [value], [out])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))
    return path


def test_bad_models_are_one_line_errors(tmp_path):
    (tmp_path / "garbage.onnx").write_bytes(b"this is not protobuf" * 10)
    (tmp_path / "notes.txt").write_text("hello")
    wrong_io_names_model(tmp_path / "identity.onnx")
    reasons = {
        "missing.onnx": "model file not found",
        "garbage.onnx": "onnxruntime cannot load this model (",
        "notes.txt": "unknown model file type",
        "identity.onnx": "expected input 'image' and output 'stylized', found ['x']",
    }
    cases = [
        (("-m", str(tmp_path / name)), f"fst: error: {tmp_path / name}: {why}")
        for name, why in reasons.items()
    ]
    cases += [(("-m", "no_such_style"), "fst: error: no_such_style: no such model file or shipped style")]
    for args, expected in cases:
        result = run_fst("serve", *args, "--port", "0")
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.startswith(expected), (args, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
        assert result.stdout == ""


def test_port_in_use_is_one_line_error(cli_server, tiny_model):
    port = str(urlsplit(cli_server[0]).port)
    result = run_fst("serve", "-m", str(tiny_model["onnx"]), "--port", port)
    assert result.returncode == 1
    assert (
        result.stderr == f"fst: error: port {port} on 127.0.0.1 is already in use; pick another with --port\n"
    )


def test_vendored_files_match_recorded_checksums():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/vendor_onnxruntime_web.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "onnxruntime-web 1.30.0: 3 files verified" in result.stdout
    assert "MIT License" in (WEB_DIR / "vendor/LICENSE").read_text()


def test_web_files_are_package_data():
    section = (ROOT / "pyproject.toml").read_text().split("[tool.setuptools.package-data]")[1]
    patterns = json.loads(re.search(r"^fst = (\[.*\])$", section, re.M).group(1))
    package = ROOT / "fst"
    web_files = [p.relative_to(package).as_posix() for p in (package / "serve/web").rglob("*") if p.is_file()]
    assert len(web_files) >= 8
    for name in web_files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), f"{name} would not be installed"


# ---- the page in headless Chromium -------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="Chromium not installed (apt-get install chromium); browser tests need it"
)


@pytest.fixture(scope="module")
def playwright_driver():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip install playwright)"
    )
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def page_server(tiny_model, tmp_path_factory):
    """An in-process server over a copy of the tiny model (tests may damage the copy)."""
    from fst.serve.models import resolve_models
    from fst.serve.server import make_server, server_url

    folder = tmp_path_factory.mktemp("served")
    shutil.copy(tiny_model["onnx"], folder / "tiny.onnx")
    shutil.copy(tiny_model["onnx"], folder / "breakable.onnx")
    server = make_server(resolve_models([str(folder / "tiny.onnx"), str(folder / "breakable.onnx")]), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server_url(server), folder
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def page(playwright_driver, page_server):
    """The page, model loaded, in headless Chromium with a fake camera."""
    browser = launch(playwright_driver, camera="fake")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(page_server[0])
    wait_until(page, MODEL_READY_JS)
    yield page
    browser.close()
    assert errors == []


def canvas_pixels(page, *canvas_ids: str) -> np.ndarray | list[np.ndarray]:
    """The canvases as (H, W, 3) uint8, read in one go (one JS task, so a consistent
    set) through PNG data URLs (lossless)."""
    urls = page.evaluate(
        "(ids) => ids.map(id => document.getElementById(id).toDataURL('image/png'))", canvas_ids
    )
    pixels = [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
        for url in urls
    ]
    return pixels[0] if len(pixels) == 1 else pixels


def set_strength(page, percent: int) -> None:
    page.evaluate(
        "(v) => { const s = document.getElementById('strength'); s.value = v;"
        " s.dispatchEvent(new Event('input')); }",
        percent,
    )


@needs_chromium
def test_page_reports_wasm_backend_and_lists_models(page):
    threads = page.evaluate("() => Math.min(4, navigator.hardwareConcurrency)")  # isolated: threads allowed
    assert page.text_content("#backend") == f"WASM ({threads} thread{'' if threads == 1 else 's'})"
    assert page.evaluate("() => [...document.getElementById('model').options].map(o => o.value)") == [
        "tiny",
        "breakable",
    ]
    assert page.evaluate("() => crossOriginIsolated") is True


@needs_chromium
def test_webcam_frames_are_stylized(page, tiny_model):
    page.click("#camera-toggle")
    wait_until(page, "() => Number(document.getElementById('camera-output').dataset.frames) >= 3")
    assert page.text_content("#camera-toggle") == "Stop camera"
    assert float(page.text_content("#fps")) > 0
    original, stylized = canvas_pixels(page, "camera-input", "camera-output")
    assert original.shape == stylized.shape == (256, 341, 3)  # 256 lines of the 640×480 fake camera
    assert original.std() > 5, "camera frame is blank"
    assert stylized.std() > 5, "stylized frame is blank"
    assert np.abs(stylized.astype(float) - original).mean() > 10, "stylized frame equals the camera frame"
    # the page shows a frame next to its own stylized version
    assert np.abs(stylized - np.round(ort_stylize(tiny_model["onnx"], original))).max() <= 1

    page.select_option("#resolution", "480")
    wait_until(page, "() => document.getElementById('camera-output').height === 480")
    assert canvas_pixels(page, "camera-output").shape == (480, 640, 3)
    page.select_option("#resolution", "256")
    page.click("#camera-toggle")
    assert page.text_content("#camera-toggle") == "Start camera"


@needs_chromium
def test_photo_matches_fst_stylize_and_downloads(page, tiny_model, tmp_path):
    from fst.infer.runners import open_runner
    from fst.infer.stylize import stylize_frames

    yy, xx = np.mgrid[0:61, 0:97]  # odd size, smooth gradients plus noise
    noise = np.random.default_rng(1).integers(0, 40, (61, 97, 3))
    rgb = np.clip(np.stack([xx * 2.5, yy * 4, 255 - xx * 2], axis=-1) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    set_strength(page, 100)
    page.set_input_files("#photo-file", str(tmp_path / "photo.png"))
    wait_until(page, "() => document.getElementById('download').hasAttribute('href')")
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "photo-tiny.png"
    download.value.save_as(tmp_path / "downloaded.png")
    in_browser = np.asarray(Image.open(tmp_path / "downloaded.png").convert("RGB")).astype(float)
    expected = stylize_frames(open_runner(tiny_model["onnx"]), rgb[None])[0]  # what fst stylize writes
    assert in_browser.shape == expected.shape == (61, 97, 3)
    diff = np.abs(in_browser - expected)  # WASM and native float maths differ by ~1e-6
    assert diff.max() <= 1 and diff.mean() < 0.01, (diff.max(), diff.mean())

    set_strength(page, 50)  # blends stylized and original, without running the model again
    half = canvas_pixels(page, "photo-output").astype(float)
    assert np.abs(half - np.round(0.5 * expected + 0.5 * rgb)).max() <= 1
    set_strength(page, 0)
    np.testing.assert_array_equal(canvas_pixels(page, "photo-output"), rgb)
    set_strength(page, 100)


@needs_chromium
def test_unreadable_photo_gets_a_message(page, tmp_path):
    (tmp_path / "fake.png").write_text("not really a picture")
    page.set_input_files("#photo-file", str(tmp_path / "fake.png"))
    wait_until(page, "() => document.getElementById('message').textContent")
    assert page.text_content("#message") == "fake.png: not an image this browser can read."
    assert page.get_attribute("#message", "class") == "error"


@needs_chromium
def test_model_that_fails_to_load_gets_a_message(page, page_server):
    (page_server[1] / "breakable.onnx").write_bytes(b"\x08\x07garbage" * 100)  # damaged after start-up
    page.select_option("#model", "breakable")
    wait_until(page, "() => document.getElementById('message').textContent.includes('failed')")
    assert page.text_content("#message").startswith('Model "breakable" failed to load: ')
    page.select_option("#model", "tiny")
    wait_until(page, MODEL_READY_JS)


@needs_chromium
@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ("fake-ask", "Camera access was denied."),  # a camera exists, but permission is refused
        ("none", "No camera found."),  # no capture device at all
    ],
)
def test_camera_problems_get_a_message(playwright_driver, page_server, camera, message):
    browser = launch(playwright_driver, camera=camera)
    try:
        page = browser.new_page()
        page.goto(page_server[0])
        wait_until(page, MODEL_READY_JS)
        page.click("#camera-toggle")
        wait_until(page, "() => document.getElementById('message').textContent")
        assert page.text_content("#message").startswith(message)
        assert page.text_content("#camera-toggle") == "Start camera"
    finally:
        browser.close()


@needs_chromium
def test_style_picker_and_blend_slider_mix_a_multi_style_model(playwright_driver, pair_model, tmp_path):
    """The page feeds the mix of its pickers to the graph's style input: its pixels are
    fst stylize's for the same weights."""
    from fst.infer.runners import open_runner
    from fst.infer.stylize import StylizeOptions, stylize_frames
    from fst.serve.models import resolve_models
    from fst.serve.server import make_server, server_url

    server = make_server(resolve_models([str(pair_model)]), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = launch(playwright_driver, camera="fake")
    try:
        page = browser.new_page()
        page.goto(server_url(server))
        wait_until(page, MODEL_READY_JS)
        assert page.is_visible("#mix")
        assert page.evaluate("() => [...document.getElementById('style-a').options].map(o => o.value)") == [
            "ink",
            "fire",
        ]
        rgb = np.asarray(random_rgb(tmp_path / "photo.png"))
        page.set_input_files("#photo-file", str(tmp_path / "photo.png"))
        runner = open_runner(pair_model)
        for weights in ((1.0, 0.0), (0.25, 0.75)):
            if weights[1]:  # blend 75% towards the second picker's style ("fire")
                page.evaluate(
                    "() => { const s = document.getElementById('blend'); s.value = 75;"
                    " s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); }"
                )
                assert page.text_content("#blend-value") == "75%"
            wait_until(page, "() => document.getElementById('download').hasAttribute('href')")
            shown = canvas_pixels(page, "photo-output").astype(float)
            expected = stylize_frames(runner, rgb[None], StylizeOptions(style=weights))[0]
            assert np.abs(shown - expected).max() <= 1, weights
    finally:
        browser.close()
        server.shutdown()
        server.server_close()


def random_rgb(path: Path) -> Image.Image:
    """A 48x40 noisy gradient saved to ``path`` (PNG)."""
    yy, xx = np.mgrid[0:40, 0:48]
    noise = np.random.default_rng(2).integers(0, 40, (40, 48, 3))
    image = Image.fromarray(
        np.clip(np.stack([xx * 5, yy * 6, 255 - xx * 4], -1) + noise, 0, 255).astype(np.uint8)
    )
    image.save(path)
    return image
