"""``fst serve``: a local web page that stylizes the webcam and photos in the browser."""

from __future__ import annotations

import argparse

HELP = "Serve a web page that runs ONNX style models on your webcam and photos, in the browser."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m",
        "--model",
        action="append",
        default=[],
        metavar="MODEL",
        help="an exported .onnx, a .ckpt or .safetensors (exported on the fly, cached) or a shipped "
        "style name; repeat for several (default: every shipped style)",
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only; browsers allow the camera "
        "only on localhost or https)",
    )


def run(args: argparse.Namespace) -> int:
    from fst.serve.models import resolve_models
    from fst.serve.server import make_server, server_url

    models = resolve_models(args.model)
    server = make_server(models, args.host, args.port)
    try:
        print(f"fst serve: {len(models)} model(s): {', '.join(m.name for m in models)}")
        print(f"fst serve: open {server_url(server)} in a browser (Ctrl+C stops)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("fst serve: stopped")
    finally:
        server.server_close()
    return 0
