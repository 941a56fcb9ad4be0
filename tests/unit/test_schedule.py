"""The learning-rate schedule on updates and on the clock, and the stop report, against hand-derived values."""

import math

import pytest

from mt.config import ConfigError, OptimConfig, TrainConfig, TrainerConfig, validate
from mt.train import clock as clock_module
from mt.train.clock import TrainClock
from mt.train.optim import lr_at
from mt.train.schedule import Schedule, stop_report

COSINE = OptimConfig(lr=1e-3, warmup_steps=4, warmup_init_lr=0.0, schedule="cosine", min_lr=1e-4)


def _cosine(progress: float) -> float:
    return 1e-4 + 0.5 * 9e-4 * (1 + math.cos(math.pi * progress))


def test_step_schedule_is_lr_at():
    schedule = Schedule(COSINE, max_steps=104)
    for step in (1, 4, 5, 54, 104, 200):
        assert schedule.lr(step, elapsed_s=1e9) == pytest.approx(lr_at(step, COSINE, 104))
    assert schedule.lr(54, 0.0) == pytest.approx(_cosine(0.5))


def test_budget_schedule_follows_the_clock():
    """Warm-up counts updates; then the decay runs from the end of warm-up (t=4 s) to the budget."""
    schedule = Schedule(COSINE, max_steps=100_000, budget_s=104.0)
    assert schedule.lr(2, elapsed_s=2.0) == pytest.approx(5e-4)  # warm-up: 2 of 4 updates
    schedule.update_done(3, 3.0)
    assert schedule.warmup_end_s is None
    schedule.update_done(4, 4.0)
    assert schedule.warmup_end_s == 4.0
    assert schedule.lr(5, elapsed_s=4.0) == pytest.approx(1e-3)
    assert schedule.lr(6, elapsed_s=54.0) == pytest.approx(_cosine(0.5))  # half the time, whatever the step
    assert schedule.lr(7, elapsed_s=104.0) == pytest.approx(1e-4)
    assert schedule.lr(8, elapsed_s=500.0) == pytest.approx(1e-4)  # the floor, not a cosine coming back up


def test_budget_keeps_the_reserve_for_the_final_validation():
    schedule = Schedule(COSINE, max_steps=100_000, budget_s=104.0, warmup_end_s=4.0, reserve_s=20.0)
    assert schedule.deadline_s == 84.0
    assert schedule.progress(10, 44.0) == pytest.approx(0.5)
    assert schedule.lr(10, 84.0) == pytest.approx(1e-4)


def test_budget_and_max_steps_the_nearer_end_wins():
    schedule = Schedule(COSINE, max_steps=24, budget_s=104.0, warmup_end_s=4.0)
    assert schedule.progress(14, 10.0) == pytest.approx(0.5)  # steps: 10 of 20 after warm-up
    assert schedule.progress(5, 79.0) == pytest.approx(0.75)  # time: 75 of 100 s
    assert schedule.lr(24, 10.0) == pytest.approx(1e-4)


def test_schedule_state_round_trip():
    a = Schedule(COSINE, 100, 60.0, warmup_end_s=4.5, reserve_s=3.0)
    b = Schedule(COSINE, 100, 60.0)
    b.load_state_dict(a.state_dict())
    assert (b.warmup_end_s, b.reserve_s) == (4.5, 3.0)
    assert Schedule(OptimConfig(warmup_steps=0, schedule="cosine"), 100, 60.0).warmup_end_s == 0.0


def _report(reason: str, schedule: Schedule, step: int, elapsed_s: float, **trainer) -> dict:
    tc = TrainerConfig(max_steps=schedule.max_steps, budget_min=schedule.budget_s / 60, **trainer)
    return stop_report(reason, tc, schedule, step, elapsed_s, last_lr=schedule.lr(step, elapsed_s))


def test_stop_report_warns_when_a_step_schedule_is_cut():
    """The demo on a slow machine: the 7-minute cap stops a cosine over 800 updates at update 760."""
    report = _report("max_time", Schedule(COSINE, max_steps=800), 760, 420.0, max_time_min=7)
    assert report["reason"] == "max_time" and report["bound"] == "trainer.max_time_min=7"
    assert report["schedule_progress"] == pytest.approx(756 / 796, abs=1e-4)
    assert report["schedule_cut_short"]
    assert "cut off at 95% of its decay by trainer.max_time_min=7" in report["warning"]
    assert "training stopped at step 760 after 7.0 min by the time cap" in report["message"]


@pytest.mark.parametrize("reason, kwargs, cut", [
    ("max_steps", {}, False),
    ("budget", {}, False),
    ("patience", {"patience": 3}, True),  # early stopping cuts on purpose: reported, not warned about
    ("signal", {}, True),  # a resumed run goes on with its schedule
])
def test_stop_report_without_warning(reason, kwargs, cut):
    schedule = Schedule(COSINE, max_steps=800 if reason != "budget" else 100_000, budget_s=60.0,
                        warmup_end_s=4.0)
    step, elapsed = (800, 30.0) if reason == "max_steps" else (300, 60.0 if reason == "budget" else 30.0)
    report = _report(reason, schedule, step, elapsed, **kwargs)
    assert report["warning"] is None
    assert report["schedule_cut_short"] is cut


def test_stop_report_when_the_budget_ends_during_warm_up():
    """A machine far slower than the recipe assumes: 88 updates in 5 minutes, warm-up is 200."""
    optim = OptimConfig(lr=2e-3, warmup_steps=200, schedule="cosine")
    report = _report("budget", Schedule(optim, max_steps=800, budget_s=300.0), 88, 336.0)
    assert report["schedule_cut_short"] and report["schedule_progress"] == 0.0
    assert "ended during warm-up, at update 88 of 200, by trainer.budget_min=5" in report["warning"]
    assert "raise trainer.budget_min or lower optim.warmup_steps" in report["warning"]


def test_inverse_sqrt_has_no_end_to_cut():
    schedule = Schedule(OptimConfig(schedule="inverse_sqrt"), max_steps=800)
    report = _report("max_time", schedule, 10, 60.0, max_time_min=1)
    assert report["schedule_progress"] is None and report["warning"] is None


@pytest.mark.parametrize("optim, trainer, message", [
    ({"schedule": "inverse_sqrt"}, {"budget_min": 5}, "needs a schedule that ends"),
    ({"schedule": "cosine"}, {"budget_min": 5, "max_time_min": 4}, "would stop the run before"),
    ({"schedule": "cosine"}, {"budget_min": -1}, "trainer.budget_min=-1 must be >= 0"),
])
def test_budget_config_errors(optim, trainer, message):
    cfg = TrainConfig(optim=OptimConfig(**optim), trainer=TrainerConfig(**trainer))
    with pytest.raises(ConfigError, match=message):
        validate(cfg)


class _Time:
    """Stands in for the ``time`` module of ``mt.train.clock``: only the test advances it."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def _run_updates(monkeypatch, schedule: Schedule, fake: _Time, durations: list[float], *, step: int = 0,
                 train_time_s: float = 0.0) -> list[float]:
    """The trainer's loop on a fake clock: plan the update's end, take the learning rate there, run
    the update for its duration, record it. Returns the learning rates."""
    monkeypatch.setattr(clock_module, "time", fake)
    clock = TrainClock(schedule, agree=False)
    clock.load(train_time_s)
    clock.start()
    lrs = []
    for duration in durations:
        step += 1
        started = clock.plan_update()
        lrs.append(schedule.lr(step, clock.update_end_s))
        fake.now += duration
        clock.update_ended(started)
        schedule.update_done(step, clock.update_end_s)
    return lrs


def test_budget_lr_never_rises_when_a_fast_update_follows_a_slow_one(monkeypatch):
    """Six updates of 1 s, then one of 3 s (6-9 s) and one of 0.5 s (planned to end at 12 s, ended at
    9.5 s): the next update is planned to end at 10 s, before the end planned for the one before it.
    Its learning rate stays where the decay had gone instead of rising back."""
    schedule = Schedule(COSINE, max_steps=100_000, budget_s=104.0)
    lrs = _run_updates(monkeypatch, schedule, _Time(), [1.0] * 6 + [3.0, 0.5, 1.0, 1.0])
    after_warmup = lrs[4:]
    assert all(b <= a for a, b in zip(after_warmup, after_warmup[1:], strict=False)), after_warmup
    assert lrs[8] == pytest.approx(lrs[7])  # planned for 10 s, the decay stood at 12 s already


def test_budget_lr_never_rises_across_a_resume(monkeypatch):
    """A run stopped right after a 3 s update, then resumed by a fresh process: its first update has
    no duration to plan with, and is planned to end when it starts, before the end planned for the
    last update of the first process. The schedule's state keeps how far the decay had gone."""
    fake = _Time()
    first = Schedule(COSINE, max_steps=100_000, budget_s=104.0)
    lrs = _run_updates(monkeypatch, first, fake, [1.0] * 6 + [1.0, 3.0, 0.5])
    resumed = Schedule(COSINE, max_steps=100_000, budget_s=104.0)
    resumed.load_state_dict(first.state_dict())
    later = _run_updates(monkeypatch, resumed, _Time(), [1.0, 1.0], step=len(lrs), train_time_s=fake.now)
    assert later[0] <= lrs[-1] and later[1] <= later[0], (lrs, later)
