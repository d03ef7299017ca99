"""Style mixing weights of multi-style models: the ``--style`` text, one-hot, two-style blends.

A model holding styles ``names`` (ModelInfo.style_names, in the order of its weights) runs
with float32 weights of shape (S,) that sum to 1 (fst.infer.runners). On the command line:

    --style starry_night                          one style
    --style starry_night=0.7,great_wave=0.3       a mix; weights are normalised to sum 1
    --style starry_night=2,great_wave             a name without a weight counts 1

Every malformed, unknown or meaningless value is one FstError line. A single-style model
accepts only its own style's name. Imports no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fst.errors import FstError


def parse_style(text: str, names: Sequence[str]) -> np.ndarray:
    """``--style`` text -> (S,) float32 weights over ``names``, summing to 1."""
    weights = dict.fromkeys(names, 0.0)
    named: set[str] = set()
    for entry in text.split(","):
        name, has_weight, number = entry.partition("=")
        name = name.strip()
        if not name:
            raise FstError(f"--style: {text!r} is not NAME or NAME=WEIGHT,NAME=WEIGHT,...")
        if name not in weights:
            raise FstError(unknown_style(name, names))
        if name in named:
            raise FstError(f"--style: {name!r} is named twice")
        named.add(name)
        weights[name] = parse_weight(name, number) if has_weight else 1.0
    total = sum(weights.values())
    if not total > 0:
        raise FstError(f"--style: the weights of {text!r} sum to {total:g}; at least one must be positive")
    return np.array([weights[name] / total for name in names], dtype=np.float32)


def parse_weight(name: str, text: str) -> float:
    """The WEIGHT of ``NAME=WEIGHT``: a finite number >= 0."""
    try:
        weight = float(text)
    except ValueError:
        raise FstError(f"--style: the weight of {name!r} must be a number, got {text.strip()!r}") from None
    if not math.isfinite(weight) or weight < 0:
        raise FstError(f"--style: the weight of {name!r} must be a finite number >= 0, got {text.strip()}")
    return weight


def unknown_style(name: str, names: Sequence[str]) -> str:
    """The message for a style the model does not hold."""
    if len(names) == 1:
        return f"--style: {name!r} is not in this single-style model (its style: {names[0]})"
    return f"--style: unknown style {name!r} (this model's styles: {', '.join(names)})"


def one_hot(index: int, count: int) -> np.ndarray:
    """(count,) float32 weights of style ``index`` alone."""
    return np.eye(count, dtype=np.float32)[index]


def blend(first: int, second: int, amount: float, count: int) -> np.ndarray:
    """(count,) float32 weights: style ``first`` with weight 1 - amount, ``second`` with amount."""
    return (1.0 - amount) * one_hot(first, count) + amount * one_hot(second, count)


def describe_mix(weights: np.ndarray, names: Sequence[str]) -> str:
    """Weights as people read them: 'starry_night' or 'starry_night 70% + great_wave 30%'."""
    used = [(name, float(w)) for name, w in zip(names, weights, strict=True) if w > 0]
    if len(used) == 1:
        return used[0][0]
    return " + ".join(f"{name} {w:.0%}" for name, w in used)
