"""The local web server behind ``fst serve``: the page, onnxruntime-web, and the models.

Routes (everything else, traversal attempts included, is 404; only GET and HEAD):

    /                      the page (fst/serve/web/index.html)
    /<file>                the page's own files in fst/serve/web/ (app.js, style.css)
    /vendor/<file>         onnxruntime-web, vendored by scripts/vendor_onnxruntime_web.py
    /models.json           {"models": [{"name": str, "url": str, "bytes": int, "styles": [str]}, ...]}
                           (styles: the names of a multi-style model's styles, in the order
                           of its "style" input; [] for a single-style model)
    /models/<name>.onnx    each served ONNX model

Requests are matched against a fixed table built at start-up, never mapped onto the
file system, so no request can reach a file outside the table. Responses carry
cross-origin isolation headers (so the browser allows WebAssembly threads) and a
Content-Security-Policy that keeps the page from contacting anything but this server.

Imports only the standard library: serving .onnx files never loads torch.
"""

from __future__ import annotations

import errno
import json
import shutil
import sys
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from fst.errors import FstError

WEB_DIR = Path(__file__).resolve().parent / "web"
VENDOR_DIR = WEB_DIR / "vendor"
PAGE_FILES = ("index.html", "app.js", "style.css")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
}
TEXT_PLAIN = "text/plain; charset=utf-8"
SECURITY_HEADERS = {
    # Cross-origin isolation: lets onnxruntime-web use SharedArrayBuffer (WASM threads).
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Nothing but this server: scripts, WASM, models and workers all come from 'self'.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
        "img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self' blob: data:; "
        "object-src 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class ServedModel:
    """One ONNX model offered on the page under ``name`` (unique, URL-safe); ``styles``: the
    styles of a multi-style model (ModelInfo.styles), () for a single-style one."""

    name: str
    path: Path
    styles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """What one URL path answers: a file on disk or bytes made at start-up."""

    content_type: str
    path: Path | None = None
    body: bytes = b""


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), TEXT_PLAIN)


def build_routes(models: list[ServedModel], web_dir: Path = WEB_DIR) -> dict[str, Route]:
    """The complete URL table: page files, vendored files, model list and models."""
    vendor_dir = web_dir / "vendor"
    if not (vendor_dir / "CHECKSUMS").is_file():
        raise FstError(
            f"{vendor_dir}: onnxruntime-web is missing from this installation "
            "(run scripts/vendor_onnxruntime_web.py in a source checkout)"
        )
    routes = {"/": Route(content_type(web_dir / "index.html"), web_dir / "index.html")}
    for name in PAGE_FILES:
        routes[f"/{name}"] = Route(content_type(web_dir / name), web_dir / name)
    for path in sorted(vendor_dir.iterdir()):
        if path.is_file():
            routes[f"/vendor/{path.name}"] = Route(content_type(path), path)
    listing = []
    for model in models:
        url = f"/models/{model.name}.onnx"
        routes[url] = Route(content_type(model.path), model.path)
        size = model.path.stat().st_size
        listing.append({"name": model.name, "url": url, "bytes": size, "styles": list(model.styles)})
    routes["/models.json"] = Route(CONTENT_TYPES[".json"], body=json.dumps({"models": listing}).encode())
    return routes


class PageRequestHandler(BaseHTTPRequestHandler):
    """Answers GET/HEAD from the class attribute ``routes`` (set by make_server)."""

    routes: dict[str, Route] = {}

    def version_string(self) -> str:
        return "fst-serve"

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        self.respond(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self.respond(send_body=False)

    def respond(self, send_body: bool) -> None:
        route = self.routes.get(urlsplit(self.path).path)
        if route is None:
            self.send_text(HTTPStatus.NOT_FOUND, "404 not found\n", send_body)
            return
        try:
            source = route.path.open("rb") if route.path else None
        except OSError:  # a served model deleted while the server runs
            self.send_text(HTTPStatus.NOT_FOUND, "404 not found (file gone)\n", send_body)
            return
        size = route.path.stat().st_size if route.path else len(route.body)
        self.send_response(HTTPStatus.OK)
        self.send_common_headers(route.content_type, size)
        try:
            if send_body and source:
                shutil.copyfileobj(source, self.wfile)
            elif send_body:
                self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away mid-download (page reloaded)
        finally:
            if source:
                source.close()

    def send_text(self, status: HTTPStatus, text: str, send_body: bool) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_common_headers(TEXT_PLAIN, len(body))
        if send_body:
            self.wfile.write(body)

    def send_common_headers(self, content_type: str, length: int) -> None:
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the http.server signature)
        """Log only failures (status >= 400); a page load is dozens of quiet 200s."""
        if len(args) >= 2 and str(args[1]).isdigit() and int(args[1]) < 400:
            return
        print(f"fst serve: {self.address_string()} {format % args}", file=sys.stderr)


def make_server(models: list[ServedModel], host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """Bind (port 0 picks a free port) and return the server; call serve_forever() on it."""
    handler = type("FstPageHandler", (PageRequestHandler,), {"routes": build_routes(models)})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise FstError(f"port {port} on {host} is already in use; pick another with --port") from None
        raise FstError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    server.daemon_threads = True
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    """The address to open in a browser."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"
