#!/usr/bin/env bash
# The base install as a user gets it: build the wheel, install it into a fresh venv outside
# the source tree (no torch), and run the inference commands on a shipped style.
#   bash scripts/check_wheel.sh            (CI runs it from .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip wheel -q --no-deps . -w "$work/dist"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$work"/dist/fst-*.whl
cd "$work"
fst=("$work/venv/bin/fst")
"${fst[@]}" --version
"${fst[@]}" models
"$work/venv/bin/python" -c "from PIL import Image; Image.new('RGB', (45, 31), (200, 120, 40)).save('photo.png')"
"${fst[@]}" stylize photo.png -m starry_night -o out.png
"$work/venv/bin/python" -c "from PIL import Image; assert Image.open('out.png').size == (45, 31)"
# tiles (exact steps, fst.infer.staged) give the untiled pixels without torch
"$work/venv/bin/python" -c "from PIL import Image; Image.effect_mandelbrot((150, 110), (-2, -1, 1, 1), 60).convert('RGB').save('big.png')"
"${fst[@]}" stylize big.png -m starry_night -o whole.png
"${fst[@]}" stylize big.png -m starry_night -o tiled.png --tile 48
"$work/venv/bin/python" -c "
import numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(f), np.int16) for f in ('whole.png', 'tiled.png'))
assert np.abs(a - b).max() <= 1, np.abs(a - b).max()"
# a 12-frame video through fst video (PyAV writes it, as the base install has)
"$work/venv/bin/python" - <<'PY'
import av, numpy as np
with av.open("clip.mp4", "w") as out:
    stream = out.add_stream("libx264", rate=12)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    for i in range(12):
        frame = np.full((48, 64, 3), 40 + 10 * i, dtype=np.uint8)
        out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    out.mux(stream.encode())
PY
"${fst[@]}" video clip.mp4 styled.mp4 -m starry_night
# fst serve answers with its page and the shipped models
"${fst[@]}" serve --port 0 > serve.log 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "open http" serve.log && break; sleep 0.2; done
url=$(grep -o "http://[^ ]*" serve.log | head -1)
"$work/venv/bin/python" -c "
import sys, urllib.request as r
url = sys.argv[1].rstrip('/')
assert b'<html' in r.urlopen(url + '/').read().lower()
assert r.urlopen(url + '/models/starry_night.onnx').status == 200" "$url"
kill "$server"
if "$work/venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "check_wheel: torch is installed in the base install" >&2; exit 1
fi
if "${fst[@]}" train --style photo.png --data . 2>err.txt; then
    echo "check_wheel: fst train ran without the train extra" >&2; exit 1
fi
grep -q "needs the training extra" err.txt || { cat err.txt >&2; exit 1; }
echo "check_wheel: the wheel installs without torch; models, stylize, video and serve work"
