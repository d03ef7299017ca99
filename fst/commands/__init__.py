"""Sub-commands of the ``fst`` console script (see fst.cli)."""
