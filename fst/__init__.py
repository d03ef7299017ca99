"""fst: fast neural style transfer (Johnson et al. 2016) with PyTorch Lightning.

Importing ``fst`` loads no torch: the ONNX inference path stays light.
"""

from pathlib import Path

__version__ = "0.1.0"
ASSETS = Path(__file__).resolve().parent / "assets"  # bundled painting and sample photos
