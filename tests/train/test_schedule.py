"""Learning-rate schedules against their formulas, and in a real run's TensorBoard curve."""

import math

import pytest

from fst.errors import FstError
from fst.train.schedule import lr_factor
from tests.conftest import REPO, run_cli
from tests.train.test_training import TINY, scalars


def test_cosine_with_warm_up_by_hand():
    factor = lr_factor("cosine", warmup_steps=4, total_steps=24)
    assert [factor(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert factor(4) == 1.0  # t = 0
    assert factor(9) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))  # t = 5/20
    assert factor(14) == pytest.approx(0.5)  # t = 1/2
    assert factor(24) == pytest.approx(0.0, abs=1e-12) and factor(30) == pytest.approx(0.0, abs=1e-12)


def test_constant_with_and_without_warm_up():
    assert [lr_factor("constant", 0, 10)(s) for s in (0, 5, 50)] == [1.0, 1.0, 1.0]
    assert [lr_factor("constant", 2, 10)(s) for s in (0, 1, 2, 9)] == [0.5, 1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("schedule", "warmup", "message"),
    [("linear", 0, "unknown lr_schedule 'linear'; choose from constant, cosine"),
     ("cosine", -1, "warmup_steps must be 0 or more, got -1")],
)  # fmt: skip
def test_bad_schedules_are_one_line(schedule, warmup, message):
    with pytest.raises(FstError, match=f"^{message}$"):
        lr_factor(schedule, warmup, 10)


def test_a_run_follows_the_schedule_step_by_step(tmp_path, photo_dir, style_image):
    result = run_cli(
        str(REPO / "train.py"), "fit", "--model.style_image", str(style_image), "--data.root", str(photo_dir),
        *TINY, "--model.lr_schedule", "cosine", "--model.warmup_steps", "2", "--trainer.max_steps", "6",
        "--trainer.log_every_n_steps", "1", "--trainer.precision", "32-true", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    logged = [value for _, value in scalars(run_dir)["lr-Adam"]]
    # lr 0.01; warm-up 0.5, 1; then cosine over the 4 remaining steps: t = 0, 1/4, 1/2, 3/4.
    expected = [0.005, 0.01] + [0.005 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    assert logged == pytest.approx(expected, rel=1e-6)
