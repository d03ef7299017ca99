"""Learning-rate schedules, as the factor of the peak rate at each optimizer step."""

from __future__ import annotations

import math
from collections.abc import Callable

from fst.errors import FstError

SCHEDULES = ("constant", "cosine")


def lr_factor(schedule: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """step -> factor of the peak learning rate, for torch's LambdaLR.

    Warm-up: (step + 1) / warmup_steps for the first ``warmup_steps`` steps. Then
    "constant": 1; "cosine": (1 + cos(π · t)) / 2 with t = (step - warmup) / (total - warmup),
    falling from 1 to 0 at step ``total_steps``.
    """
    if schedule not in SCHEDULES:
        raise FstError(f"unknown lr_schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    if warmup_steps < 0:
        raise FstError(f"warmup_steps must be 0 or more, got {warmup_steps}")
    decay_steps = max(1, total_steps - warmup_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        t = min(1.0, (step - warmup_steps) / decay_steps)
        return 0.5 * (1.0 + math.cos(math.pi * t))

    return factor
