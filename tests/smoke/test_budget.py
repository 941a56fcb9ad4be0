"""A budget run on a clock that the test drives: every update takes 1 s, every validation 5 s.

The fake clock makes the run deterministic and fast, and lets the expected steps be derived by hand
(budget 60 s, warm-up 4 updates, validation every 20 updates):

- updates 1-20 end at 1-20 s; warm-up ends with update 4 at 4 s; the validation after update 20
  takes 5 s, so from then on 5 s of the budget are kept for the final validation: the last update
  must end by 55 s;
- updates 21-40 end at 26-45 s, the validation after update 40 runs until 50 s, updates 41-45 end
  at 51-55 s: update 45 is the last, the decay reaches the floor with it, and the final validation
  ends the run at 60 s, the budget.

When the first validation moves the deadline from 60 s to 55 s, the decay is anchored at the end of
update 21 (26 s), at the progress it had there on the way to 60 s (22/56), and runs linearly from
there to 1 at 55 s.
"""

import json
import math
import time
from pathlib import Path

import pytest

from mt.checkpoint import LAST, load_checkpoint
from mt.config import ConfigError, train_config
from mt.train import clock as clock_module
from mt.train.trainer import Trainer
from tests.conftest import ROOT, TINY, compose_train, run_cli

MIN_LR, PEAK = 1e-5, 1e-3
BUDGET = [f"optim.lr={PEAK}", f"optim.min_lr={MIN_LR}", "optim.schedule=cosine", "optim.warmup_steps=4",
          "trainer.budget_min=1", "trainer.max_steps=100000", "trainer.valid_every=20",
          "trainer.save_every=10", "trainer.threads=0", "trainer.keep_last=0"]


class FakeClock:
    """Stands in for the ``time`` module inside the trainer: ``perf_counter`` reads a number that only
    the test advances."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def _budget_trainer(run_dir: Path, cache: Path, monkeypatch, clock: FakeClock, *extra: str,
                    validation_s: tuple[float, ...] = (5.0,), update_s: float = 1.0) -> Trainer:
    """A budget trainer on ``clock``: ``update_s`` seconds per update; validation n takes
    ``validation_s[n]`` seconds (the last value repeats)."""
    monkeypatch.setattr(clock_module, "time", clock)
    cfg = train_config(compose_train([*TINY, *BUDGET, f"data.cache_dir={cache}", *extra], run_dir, ROOT))
    trainer = Trainer(cfg, run_dir)
    lrs: list[float] = []
    step, validate = trainer.train_step, trainer.validate

    def slow_step(batches):  # an update that takes exactly update_s on the run's clock
        stats = step(batches)
        clock.now += update_s
        lrs.append(stats["lr"])
        return stats

    def slow_validate():
        clock.now += validation_s[min(len(trainer.validated_at), len(validation_s) - 1)]
        trainer.validated_at.append(trainer.step)
        return validate()

    monkeypatch.setattr(trainer, "train_step", slow_step)
    monkeypatch.setattr(trainer, "validate", slow_validate)
    trainer.lrs, trainer.validated_at = lrs, []
    return trainer


def _cosine(progress: float) -> float:
    return MIN_LR + 0.5 * (PEAK - MIN_LR) * (1.0 + math.cos(math.pi * progress))


def test_budget_run_reaches_the_floor_with_its_last_update(tmp_path, tiny_cache, monkeypatch):
    clock = FakeClock()
    trainer = _budget_trainer(tmp_path / "run", tiny_cache, monkeypatch, clock)
    try:
        assert trainer.train() == "budget"
    finally:
        trainer.close()
    lrs = trainer.lrs
    assert trainer.step == 45 and len(lrs) == 45
    assert lrs[3] == pytest.approx(PEAK)  # warm-up ends with update 4
    # Update 5 is planned to end at 5 s, with 60 s left before anything about validation is known.
    assert lrs[4] == pytest.approx(_cosine(1 / 56))
    # Update 21 starts after the first validation (25 s) and ends at 26 s: it keeps the progress it
    # had on the way to 60 s; from there the decay runs to the new deadline, 55 s.
    anchored = 22 / 56
    assert lrs[20] == pytest.approx(_cosine(anchored))
    assert lrs[21] == pytest.approx(_cosine(anchored + (1 - anchored) * 1 / 29))
    assert lrs[43] == pytest.approx(_cosine(anchored + (1 - anchored) * 28 / 29)) and lrs[43] > MIN_LR
    assert lrs[44] == pytest.approx(MIN_LR)  # the budget's last update runs at the floor
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))
    assert clock.now == 60.0  # the final validation fits in the budget
    assert trainer.stop["bound"] == "trainer.budget_min=1" and trainer.stop["warning"] is None
    assert trainer.stop["schedule_progress"] == 1.0


def test_learning_rate_never_rises_when_later_validations_are_faster(tmp_path, tiny_cache, monkeypatch):
    """Validation every 10 updates, taking 12 s, then 2 s, then 4 s: the validation after update 10
    ends at 22 s and moves the deadline from 60 s to 48 s; the one after update 20 ends at 34 s and
    moves it out to 58 s; the one after update 30 ends at 48 s and brings it back to 56 s. Updates
    31-38 end at 49-56 s and the final validation ends the run at 60 s. Before the decay was
    anchored, update 21 ran at a higher learning rate than update 20."""
    clock = FakeClock()
    trainer = _budget_trainer(tmp_path / "run", tiny_cache, monkeypatch, clock, "trainer.valid_every=10",
                              validation_s=(12.0, 2.0, 4.0))
    try:
        assert trainer.train() == "budget"
    finally:
        trainer.close()
    lrs = trainer.lrs
    assert trainer.validated_at == [10, 20, 30, 38] and clock.now == 60.0
    after_warmup = lrs[3:]
    rises = [(i + 4, a, b) for i, (a, b) in enumerate(zip(after_warmup, after_warmup[1:], strict=False)) if b > a]
    assert not rises, rises
    assert lrs[-1] == pytest.approx(MIN_LR)


@pytest.mark.parametrize(("update_s", "projected", "rate"), [(1.0, 60, 0.3), (3.0, 20, 0.1)])
def test_budget_dropout_follows_the_updates_the_budget_buys(tmp_path, tiny_cache, monkeypatch, update_s,
                                                            projected, rate):
    """trainer.budget_dropout={0: 0.1, 40: 0.3}, projected after 10% of the 60 s budget: at 1 s per
    update, update 6 is planned to end at 6 s, 60 updates are projected and dropout 0.3 is chosen; at
    3 s per update, update 2 ends at 6 s, 20 are projected, and 0.1 stays. The choice is kept in
    last.pt and results.json, and a resumed run takes it back."""
    clock = FakeClock()
    rates = ["trainer.budget_dropout={0:0.1,40:0.3}", "trainer.budget_dropout_at=0.1", "model.dropout=0.1"]
    trainer = _budget_trainer(tmp_path / "run", tiny_cache, monkeypatch, clock, *rates, update_s=update_s)
    try:
        assert trainer.train() == "budget"
    finally:
        trainer.close()
    at_step = 5 if update_s == 1.0 else 1
    assert trainer.dropout_choice == {"rate": rate, "projected_updates": projected, "at_step": at_step,
                                      "at_min": 0.1}
    sublayer_rates = {m.dropout.p for m in trainer.model.modules() if type(m).__name__ == "Sublayer"}
    assert sublayer_rates == {rate} and trainer.model.dropout.p == rate
    assert {m.activation_dropout.p for m in trainer.model.modules() if type(m).__name__ == "FeedForward"} == {0.0}
    saved = load_checkpoint(trainer.ckpt_dir / LAST)["trainer"]["dropout_choice"]
    assert saved == trainer.dropout_choice
    resumed = _budget_trainer(tmp_path / "run", tiny_cache, monkeypatch, FakeClock(), *rates)
    try:
        assert resumed.dropout_choice == saved and resumed.model.dropout.p == rate
    finally:
        resumed.close()


def test_budget_dropout_needs_a_budget(tmp_path):
    with pytest.raises(ConfigError, match="trainer.budget_dropout=.* needs trainer.budget_min > 0"):
        train_config(compose_train([*TINY, "trainer.budget_dropout={0:0.1,40:0.3}"], tmp_path, ROOT))


def test_validation_that_ends_past_the_deadline_is_the_final_one(tmp_path, tiny_cache, monkeypatch):
    """Validation every 24 updates: the one after update 48 (53 s) runs until 58 s, past the 55 s
    deadline. The run stops there, inside its budget, instead of doing update 49 and validating the
    same model again (which would end at 64 s)."""
    clock = FakeClock()
    trainer = _budget_trainer(tmp_path / "run", tiny_cache, monkeypatch, clock, "trainer.valid_every=24")
    try:
        assert trainer.train() == "budget"
    finally:
        trainer.close()
    assert trainer.step == 48 and trainer.validated_at == [24, 48]
    assert clock.now == 58.0
    assert trainer.stop["schedule_progress"] == 1.0 and trainer.stop["warning"] is None
    assert load_checkpoint(trainer.ckpt_dir / LAST)["trainer"]["step"] == 48


def test_resumed_budget_run_continues_from_the_recorded_elapsed_time(tmp_path, tiny_cache, monkeypatch):
    """Stopped by a signal after update 30 (35 s of the budget used), then resumed on a fresh clock:
    the second process goes on from 35 s and ends at update 45, like the uninterrupted run."""
    run_dir = tmp_path / "run"
    first = _budget_trainer(run_dir, tiny_cache, monkeypatch, FakeClock())
    step = first.train_step

    def stop_at_30(batches):
        stats = step(batches)
        if first.step == 30:
            first.request_stop(15)
        return stats

    monkeypatch.setattr(first, "train_step", stop_at_30)
    try:
        assert first.train() == "signal"
    finally:
        first.close()
    clock = FakeClock()
    second = _budget_trainer(run_dir, tiny_cache, monkeypatch, clock)
    try:
        assert (second.step, second.train_time_s) == (30, 35.0)
        assert second.schedule.warmup_end_s == 4.0 and second.schedule.reserve_s == 5.0
        assert second.train() == "budget"
    finally:
        second.close()
    assert second.step == 45 and second.lrs[-1] == pytest.approx(MIN_LR)
    assert second.train_time_s == 60.0


def test_step_schedule_cut_by_the_time_cap_is_reported(tmp_path, tiny_cache):
    """A cosine over 1000 updates with a time cap of 1 s (about 0.02 min) stops early: the log warns,
    and results.json says which bound stopped the run."""
    run_dir = tmp_path / "cut"
    out = run_cli(["train.py", *TINY, f"hydra.run.dir={run_dir}", f"data.cache_dir={tiny_cache}",
                   "optim.schedule=cosine", "optim.warmup_steps=1",  # past warm-up, however slow the machine
                   "trainer.max_steps=1000", "trainer.max_time_min=0.02",
                   "trainer.test_at_end=true", "data.demo_sizes={train:3000,valid:50,test:20}"],
                  cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "by the time cap (trainer.max_time_min=0.02)" in out.stderr
    assert "schedule was cut off at" in out.stderr and "trainer.budget_min" in out.stderr
    results = json.loads((run_dir / "results.json").read_text())
    assert results["stop_reason"] == "max_time" and results["stop_bound"] == "trainer.max_time_min=0.02"
    assert results["schedule_cut_short"] is True and 0 <= results["schedule_progress"] < 1


@pytest.mark.slow
def test_real_clock_budget_run_with_sleeping_updates(tmp_path, tiny_cache, monkeypatch):
    """The same on the real clock: updates slowed by a 50 ms sleep, a 12-second budget. The last
    update's learning rate is at most the schedule's value one (slowest) update before the end.
    Slow, and only as exact as the machine is quiet: the fake-clock tests above are the CI check."""
    cfg = train_config(compose_train([*TINY, *BUDGET, f"data.cache_dir={tiny_cache}", "trainer.budget_min=0.2",
                                      "trainer.valid_every=1000"], tmp_path / "run", ROOT))
    trainer = Trainer(cfg, tmp_path / "run")
    step, durations, lrs = trainer.train_step, [], []

    def sleepy(batches):
        start = time.perf_counter()
        stats = step(batches)
        time.sleep(0.05)
        durations.append(time.perf_counter() - start)
        lrs.append(stats["lr"])
        return stats

    monkeypatch.setattr(trainer, "train_step", sleepy)
    try:
        assert trainer.train() == "budget"
    finally:
        trainer.close()
    span = 12.0 - trainer.schedule.warmup_end_s
    assert len(lrs) > 6
    assert lrs[-1] <= _cosine(1.0 - max(durations) / span) + 1e-12
    assert trainer.train_time_s >= 12.0
