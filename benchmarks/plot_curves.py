"""Plot quality curves (benchmarks/quality_curve.py's curve.json files) as one SVG.

    python benchmarks/plot_curves.py LABEL=outputs/curve/NAME/curve.json ... -o docs/images/quality_curve.svg

Two panels against training CPU minutes: the style distance S (left) and the content
distance C (right), one coloured line per curve with a dot per checkpoint. Plain SVG,
written by hand (no plotting library): the file is text and diffs like text.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
PANEL_W, PANEL_H, PAD = 360, 240, 48


def scale(values: list[float], low_at_zero: bool = True) -> tuple[float, float]:
    """An axis range holding ``values``, with 5% headroom."""
    low, high = (0.0 if low_at_zero else min(values)), max(values)
    return low, high + 0.05 * (high - low or 1.0)


def panel(curves: dict[str, list[dict]], key: str, left: int, title: str) -> list[str]:
    """SVG elements of one panel: axes, ticks, a polyline per curve."""
    xs = [p["cpu_s"] / 60 for points in curves.values() for p in points]
    ys = [p[key] for points in curves.values() for p in points]
    (x0, x1), (y0, y1) = scale(xs), scale(ys)

    def at(x: float, y: float) -> tuple[float, float]:
        return left + PAD + (x - x0) / (x1 - x0) * PANEL_W, PAD + (1 - (y - y0) / (y1 - y0)) * PANEL_H

    centre = left + PAD + PANEL_W / 2
    out = [
        f'<text x="{centre}" y="{PAD - 16}" text-anchor="middle" font-weight="bold">{title}</text>',
        f'<rect x="{left + PAD}" y="{PAD}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>',
    ]
    for i in range(5):
        x, y = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        px, _ = at(x, y0)
        _, py = at(x0, y)
        out.append(f'<text x="{px:.1f}" y="{PAD + PANEL_H + 16}" text-anchor="middle">{x:.0f}</text>')
        out.append(f'<text x="{left + PAD - 6}" y="{py + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    out.append(
        f'<text x="{centre}" y="{PAD + PANEL_H + 34}" text-anchor="middle">training CPU minutes</text>'
    )
    for colour, points in zip(COLOURS, curves.values(), strict=False):
        coords = [at(p["cpu_s"] / 60, p[key]) for p in points]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')  # fmt: skip
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in coords]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("curves", nargs="+", help="LABEL=curve.json")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    curves = {}
    for spec in args.curves:
        label, path = spec.split("=", 1)
        curves[label] = json.loads(Path(path).read_text())["points"]
    width, height = 2 * (PANEL_W + 2 * PAD), PANEL_H + 2 * PAD + 24 + 20 * len(curves)
    body = panel(curves, "S", 0, "style distance S (lower: more like the painting)")
    body += panel(curves, "C", PANEL_W + 2 * PAD, "content distance C (lower: more of the photo)")
    for i, (colour, label) in enumerate(zip(COLOURS, curves, strict=False)):
        y = PANEL_H + 2 * PAD + 16 + 20 * i
        body.append(
            f'<line x1="{PAD}" y1="{y - 4}" x2="{PAD + 24}" y2="{y - 4}" stroke="{colour}" stroke-width="3"/>'
        )
        body.append(f'<text x="{PAD + 32}" y="{y}">{label}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n'
           + "\n".join(body) + "\n</svg>\n")  # fmt: skip
    args.output.write_text(svg)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
