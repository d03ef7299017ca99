"""The default training precision: bf16 autocast where the hardware computes bf16 natively.

On a CUDA GPU, or a CPU with AMX or AVX512-BF16 instructions, ``bf16-mixed`` (Lightning's
bf16 autocast) is faster than fp32 (benchmarks/RESULTS.md: 2.95x the naive fp32 step on an
AMX CPU); on other CPUs bf16 is emulated and slower, so training stays in ``32-true``.
``--trainer.precision`` overrides the choice.
"""

from __future__ import annotations

from pathlib import Path

# /proc/cpuinfo flags of the x86 instructions that compute in bf16 natively.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def default_precision(cuda: bool, flags: frozenset[str]) -> str:
    """Lightning precision for a machine: "bf16-mixed" with a CUDA GPU or native CPU bf16,
    else "32-true"."""
    return "bf16-mixed" if cuda or flags & NATIVE_BF16_FLAGS else "32-true"


def machine_precision() -> str:
    """default_precision for this machine (a GPU counts where it has bf16 units)."""
    import torch

    return default_precision(torch.cuda.is_available() and torch.cuda.is_bf16_supported(), cpu_flags())
