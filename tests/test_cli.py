"""The fst console script: version, start-up, and the one line for a missing training extra."""

import subprocess
import sys

from fst import __version__
from fst.cli import missing_extra
from tests.conftest import run_cli


def test_version_is_printed():
    result = run_cli("--version")
    assert (result.returncode, result.stdout) == (0, f"fst {__version__}\n")


def test_a_missing_training_module_names_the_extra():
    message = missing_extra(ModuleNotFoundError("No module named 'torch'", name="torch"))
    assert message is not None and "fst[train]" in message and "torch is not installed" in message
    submodule = missing_extra(
        ModuleNotFoundError("No module named 'pytorch_lightning.cli'", name="pytorch_lightning.cli")
    )
    assert submodule is not None and "pytorch_lightning.cli" in submodule
    # Modules of the base install are real errors, not a missing extra.
    assert missing_extra(ModuleNotFoundError("No module named 'cv2'", name="cv2")) is None


def test_the_command_line_starts_without_heavy_libraries():
    """Parsing (fst --help, fst models, ...) loads neither torch nor OpenCV: they load in run()."""
    code = "import sys, fst.cli; fst.cli.build_parser(); print(sorted({'torch', 'cv2'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
