"""The default training precision: bf16 autocast only where bf16 is native."""

from pathlib import Path

from fst.train.precision import cpu_flags, default_precision

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16
bugs\t\t: sysret_ss_attrs

processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16
"""


def test_cpu_flags_reads_the_first_flags_line(tmp_path: Path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert cpu_flags(path) == {"fpu", "sse2", "avx2", "avx512f", "avx512_bf16"}


def test_cpu_flags_without_cpuinfo_is_empty(tmp_path: Path):
    assert cpu_flags(tmp_path / "missing") == frozenset()
    (tmp_path / "noflags").write_text("processor\t: 0\n")
    assert cpu_flags(tmp_path / "noflags") == frozenset()


def test_bf16_where_native_fp32_elsewhere():
    assert default_precision(False, frozenset({"avx2", "avx512f", "avx512_bf16"})) == "bf16-mixed"
    assert default_precision(False, frozenset({"avx2", "amx_bf16", "amx_tile"})) == "bf16-mixed"
    assert default_precision(False, frozenset({"avx2", "avx512f", "avx512_vnni"})) == "32-true"
    assert default_precision(False, frozenset()) == "32-true"
    assert default_precision(True, frozenset({"avx2"})) == "bf16-mixed"
