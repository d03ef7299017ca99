"""Drive the system's headless Chromium (Debian package ``chromium``) with Playwright.

Shared by the browser tests and benchmarks/serve_fps.py. Playwright's own browser
downloads are never used: ``executable_path`` points at the system Chromium, which
gets a fake camera (a moving test pattern, or ``video_file`` as .y4m/.mjpeg) and the
flags that keep it from reaching for the network. Playwright starts each browser
with a fresh temporary profile (its own ``--user-data-dir``).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser")
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
FAKE_CAMERA_FLAGS = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


def find_chromium() -> str | None:
    """Path of the system Chromium ($FST_CHROMIUM overrides), or None."""
    if os.environ.get("FST_CHROMIUM"):
        return os.environ["FST_CHROMIUM"]
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def launch(playwright, camera: str = "fake", video_file: Path | None = None):
    """Start headless Chromium. camera: "fake" (allowed), "fake-ask" (prompt, so a
    context without the permission is denied) or "none" (no capture device at all)."""
    args = list(FLAGS)
    if camera in ("fake", "fake-ask"):
        args.append(FAKE_CAMERA_FLAGS[0])
    if camera == "fake":
        args.append(FAKE_CAMERA_FLAGS[1])
    if video_file is not None:
        args.append(f"--use-file-for-fake-video-capture={video_file}")
    return playwright.chromium.launch(executable_path=find_chromium(), headless=True, args=args)


def wait_until(page, predicate_js: str, timeout_s: float = 60.0):
    """Poll ``predicate_js`` (a JS arrow function) until it returns something truthy.

    Polls from Python with page.evaluate because the page's Content-Security-Policy
    forbids the string evaluation that Playwright's wait_for_function uses.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(predicate_js)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"page never satisfied {predicate_js}; message: {page.text_content('#message')!r}"
            )
        time.sleep(0.1)


MODEL_READY_JS = (
    "() => !document.getElementById('model').disabled && document.getElementById('backend').textContent "
    "!== 'loading…' && !document.getElementById('message').textContent"
)
