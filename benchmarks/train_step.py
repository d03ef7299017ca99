"""Training-step speed: the real step (variants) against the naive reference step.

    python benchmarks/train_step.py [--size 256] [--batch 4] [--repeats 3] [--variants fp32 "bf16 autocast"]

Full Johnson net (width 32, 5 residual blocks), default loss settings, the bundled
painting at style size 512, centre crops of the bundled photos. Every variant and the
naive reference (benchmarks/naive_step.py) are timed in the same interleaved rounds;
prints the markdown table and the relative difference of the first losses.
"""

from __future__ import annotations

import argparse
import json

from fst.measure.bench import TRAINING_VARIANTS, machine, machine_line, training_report, training_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--variants", nargs="+", default=list(TRAINING_VARIANTS), choices=list(TRAINING_VARIANTS)
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    info = machine()
    report = training_report(args.size, args.batch, args.repeats, args.variants)
    print(machine_line(info) + "\n\n" + training_table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "training": report}, f, indent=2)


if __name__ == "__main__":
    main()
