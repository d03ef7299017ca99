"""The YAML recipes in configs/, read outside the LightningCLI, and the settings that moved.

Training reads them with LightningCLI (``python train.py fit --config FILE``); other
commands that take objective settings (``fst optimize --config FILE``) read the same
files here, so one recipe means the same objective everywhere. Imports no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from fst.errors import FstError
from fst.loss.config import loss_keys


def read_configs(paths: Sequence[str | Path]) -> dict:
    """The YAML files merged in order (later files win, section by section); checked for
    settings that moved (check_moved)."""
    merged: dict = {}
    for path in paths:
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise FstError(f"{path}: cannot read the config file ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise FstError(f"{path}: not a YAML file ({str(exc).splitlines()[0]})") from None
        if not isinstance(values, dict):
            raise FstError(f"{path}: a config file must be a YAML mapping")
        check_moved(values.get("model") or {}, str(path))
        for section, settings in values.items():
            if isinstance(settings, dict) and isinstance(merged.get(section), dict):
                merged[section] = deep_merge(merged[section], settings)
            else:
                merged[section] = settings
    return merged


def deep_merge(base: dict, update: dict) -> dict:
    """``base`` with ``update``'s values; nested mappings merge key by key."""
    out = dict(base)
    for key, value in update.items():
        out[key] = (
            deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def check_moved(model: dict, origin: str) -> None:
    """FstError naming the new place of an objective setting given flat under ``model``."""
    moved = [key for key in model if key in loss_keys()]
    if moved:
        raise FstError(f"{origin}: model.{moved[0]} is now model.loss.{moved[0]} (the objective's settings "
                       "moved under model.loss)")  # fmt: skip


def check_moved_flags(args: Sequence[str]) -> None:
    """FstError for a command-line flag such as --model.style_weight (now --model.loss.style_weight),
    and for such settings in the files given with --config."""
    for arg in args:
        name = arg.split("=", 1)[0].removeprefix("--model.")
        if arg.startswith("--model.") and name in loss_keys():
            raise FstError(f"--model.{name} is now --model.loss.{name} (the objective's settings moved under "
                           "model.loss)")  # fmt: skip
    read_configs([value for value in flag_values(args, "--config") if Path(value).is_file()])


def flag_values(args: Sequence[str], flag: str) -> list[str]:
    """The values given to ``flag`` in ``args`` (``--flag VALUE`` or ``--flag=VALUE``)."""
    values = []
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            values.append(args[index + 1])
        elif arg.startswith(flag + "="):
            values.append(arg[len(flag) + 1 :])
    return values
