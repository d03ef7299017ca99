"""Train a style: ``python train.py fit --config configs/quickstart.yaml``.

See ``python train.py fit --help`` for every option.
"""

from fst.training import main

if __name__ == "__main__":
    main()
