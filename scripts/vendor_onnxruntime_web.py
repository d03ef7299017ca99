#!/usr/bin/env python3
"""Vendor onnxruntime-web into fst/serve/web/vendor/ for `fst serve`.

    python scripts/vendor_onnxruntime_web.py            # fetch the pinned npm package, copy, record
    python scripts/vendor_onnxruntime_web.py --check    # verify the committed files (no network)

Fetches the pinned release with ``npm pack`` (npm checks the tarball against the
registry's integrity hash), copies only the files the page loads — the WebGPU build
of the JavaScript API (which also runs the WASM CPU backend) and the one WebAssembly
module plus its loader that this build imports — and writes their sha256 digests to
CHECKSUMS. onnxruntime-web is MIT-licensed (Copyright (c) Microsoft Corporation); the
licence text is written next to the files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "onnxruntime-web"
VERSION = "1.30.0"
FILES = (
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
)
VENDOR_DIR = Path(__file__).resolve().parent.parent / "fst" / "serve" / "web" / "vendor"
CHECKSUMS = "CHECKSUMS"
LICENSE_TEXT = """\
onnxruntime-web {version} (npm package "{package}"), files copied unchanged from its dist/ folder.

MIT License

Copyright (c) Microsoft Corporation.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksums(vendor_dir: Path) -> dict[str, str]:
    """CHECKSUMS lines ``<sha256>  <file>`` (sha256sum format) -> {file: sha256}."""
    lines = (vendor_dir / CHECKSUMS).read_text().splitlines()
    return {name: digest for digest, name in (line.split(maxsplit=1) for line in lines if line.strip())}


def check(vendor_dir: Path) -> list[str]:
    """Problems with the vendored files (missing, altered, unlisted); empty when all is well."""
    recorded = read_checksums(vendor_dir)
    problems = [f"{name}: not listed in {CHECKSUMS}" for name in FILES if name not in recorded]
    for name, digest in recorded.items():
        path = vendor_dir / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_of(path) != digest:
            problems.append(f"{name}: sha256 differs from {CHECKSUMS}")
    return problems


def fetch(vendor_dir: Path) -> None:
    """npm pack the pinned release, copy FILES into ``vendor_dir``, record checksums and licence."""
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--json", "--pack-destination", tmp],
            check=True,
            capture_output=True,
            text=True,
        )
        tarball = Path(tmp) / json.loads(result.stdout)[0]["filename"]
        with tarfile.open(tarball) as archive:
            manifest = json.load(archive.extractfile("package/package.json"))
            if manifest["version"] != VERSION or manifest["license"] != "MIT":
                sys.exit(f"unexpected package: version {manifest['version']}, licence {manifest['license']}")
            if vendor_dir.exists():
                shutil.rmtree(vendor_dir)
            vendor_dir.mkdir(parents=True)
            for name in FILES:
                with (
                    archive.extractfile(f"package/dist/{name}") as src,
                    (vendor_dir / name).open("wb") as dst,
                ):
                    shutil.copyfileobj(src, dst)
    lines = [f"{sha256_of(vendor_dir / name)}  {name}" for name in FILES]
    (vendor_dir / CHECKSUMS).write_text("\n".join(lines) + "\n")
    (vendor_dir / "LICENSE").write_text(LICENSE_TEXT.format(version=VERSION, package=PACKAGE))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only verify the vendored files against CHECKSUMS"
    )
    parser.add_argument(
        "--dir", type=Path, default=VENDOR_DIR, help="vendor folder (default: fst/serve/web/vendor)"
    )
    args = parser.parse_args()
    if not args.check:
        fetch(args.dir)
    problems = check(args.dir)
    for problem in problems:
        print(f"vendor_onnxruntime_web: {problem}", file=sys.stderr)
    if not problems:
        total = sum((args.dir / name).stat().st_size for name in FILES)
        print(f"{PACKAGE} {VERSION}: {len(FILES)} files verified, {total / 1e6:.1f} MB in {args.dir}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
