"""Train a style: ``python train.py fit --config configs/quickstart.yaml``.

See ``python train.py fit --help`` for every option.
"""

import sys

from fst.cli import missing_extra

try:
    from fst.train.cli import main
except ModuleNotFoundError as exc:  # the base install has no torch: say which extra to add
    if missing_extra(exc) is None:
        raise
    sys.exit(f"fst: error: {missing_extra(exc)}")

if __name__ == "__main__":
    main()
