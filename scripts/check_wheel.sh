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
if "$work/venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "check_wheel: torch is installed in the base install" >&2; exit 1
fi
if "${fst[@]}" train --style photo.png --data . 2>err.txt; then
    echo "check_wheel: fst train ran without the train extra" >&2; exit 1
fi
grep -q "needs the training extra" err.txt || { cat err.txt >&2; exit 1; }
echo "check_wheel: the wheel installs without torch and stylizes with a shipped style"
