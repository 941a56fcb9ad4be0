"""When the training loop acts, and how long it has run.

``TrainClock`` counts the seconds of training (validation and checkpoints included) across the
processes of a resumed run, plans when each update should end (the time a budget run's learning rate
is computed for) and measures what the final validation will take. ``Cadence`` says when the loop
logs, validates, saves and stops. ``BudgetDropout`` sets a budget run's dropout from the updates its
budget is projected to buy. The trainer asks them; none of them reaches into the trainer.
"""

from __future__ import annotations

import time

from mt.config import TrainerConfig
from mt.train.schedule import Schedule
from mt.utils import dist
from mt.utils.logging import get_logger

log = get_logger(__name__)

END_REASONS = ("max_steps", "max_epochs", "max_time", "budget")
"""Stop reasons after which the run validates once more (patience has just validated; a signal
saves and leaves)."""


class TrainClock:
    """Elapsed training time, and the planned end of each update (agreed by the ranks of a budget run)."""

    def __init__(self, schedule: Schedule, *, agree: bool):
        self.schedule = schedule
        self.agree = agree  # a budget run under DDP: ranks average their planned times
        self.train_time_s = 0.0
        """Elapsed seconds at the last reading that counts (the end of an update or a validation)."""
        self.update_end_s = 0.0
        """When the coming update is planned to end: now plus the previous update's duration."""
        self.last_update_s = 0.0
        self.measured_reserve_s = schedule.reserve_s
        self._started: tuple[float, float] | None = None  # (perf_counter, train_time_s) at start()

    def start(self) -> None:
        """Start counting from the recorded elapsed time (a resumed run goes on from it)."""
        self._started = (time.perf_counter(), self.train_time_s)

    def elapsed_s(self) -> float:
        """Seconds of training so far, earlier processes of a resumed run included."""
        if self._started is None:
            return self.train_time_s
        started, before = self._started
        return before + time.perf_counter() - started

    def plan_update(self) -> float:
        """Start an update: returns the elapsed time now; sets when the update should end and hands
        the reserve last measured to the schedule. Under DDP a budget run's ranks agree on both, so
        they all use the same learning rate."""
        now = self.elapsed_s()
        values = [now + self.last_update_s, self.measured_reserve_s]
        if self.agree:
            values = [v / dist.get_world_size() for v in dist.all_reduce_sum(values)]
        self.update_end_s, self.measured_reserve_s = values
        self.schedule.set_reserve(self.measured_reserve_s, at_s=self.update_end_s)
        return now

    def update_ended(self, started_s: float) -> None:
        self.train_time_s = self.elapsed_s()
        self.last_update_s = self.train_time_s - started_s

    def read(self) -> float:
        """Take a reading that counts (after a validation): the stop conditions see it."""
        self.train_time_s = self.elapsed_s()
        return self.train_time_s

    def measure_reserve(self, since_s: float) -> None:
        """What a validation and checkpoint that began at ``since_s`` took: kept for the final one."""
        self.measured_reserve_s = self.elapsed_s() - since_s

    def load(self, train_time_s: float) -> None:
        """Resume at ``train_time_s`` elapsed, with the reserve the schedule recorded."""
        self.train_time_s, self.measured_reserve_s = train_time_s, self.schedule.reserve_s


class Cadence:
    """When to log, validate, save and stop, from the step, the update and the stop reason."""

    def __init__(self, tc: TrainerConfig):
        self.tc = tc

    def should_log(self, step: int, applied: bool) -> bool:
        return applied and step % self.tc.log_every == 0

    def should_validate(self, step: int, applied: bool, reason: str) -> bool:
        return (applied and step % self.tc.valid_every == 0) or reason in END_REASONS

    def should_save(self, step: int, applied: bool, reason: str) -> bool:
        return (applied and step % self.tc.save_every == 0) or bool(reason)

    def stop_reason(self, *, step: int, epoch: int, epoch_done: bool, train_time_s: float,
                    deadline_s: float, signalled: bool) -> str:
        """The first bound reached, or ''. A collective under DDP: every rank must stop at the same
        step, or the next collective hangs, so a bound reached on any rank stops all."""
        tc = self.tc
        flags = {
            "max_steps": step >= tc.max_steps,
            "max_epochs": bool(tc.max_epochs) and (epoch > tc.max_epochs or (epoch == tc.max_epochs and epoch_done)),
            "budget": bool(tc.budget_min) and train_time_s >= deadline_s,
            "max_time": bool(tc.max_time_min) and train_time_s >= 60 * tc.max_time_min,
            "signal": signalled,
        }
        if dist.get_world_size() > 1:
            agreed = dist.all_reduce_sum([float(f) for f in flags.values()])
            flags = {name: count > 0 for name, count in zip(flags, agreed, strict=True)}
        return next((name for name, flag in flags.items() if flag), "")


class BudgetDropout:
    """``trainer.budget_dropout``: once ``budget_dropout_at`` of the budget has passed, the residual
    dropout is set from the updates the budget is projected to buy at the rate so far. Every rank
    chooses the same: the step and the planned time are agreed."""

    def __init__(self, tc: TrainerConfig, default_rate: float, budget_s: float):
        self.rates, self.at, self.default_rate, self.budget_s = tc.budget_dropout, tc.budget_dropout_at, \
            default_rate, budget_s
        self.choice: dict | None = None
        """The rate chosen and why (None before the choice, or without ``budget_dropout``)."""

    def choose(self, step: int, update_end_s: float) -> float | None:
        """The rate to train with from update ``step + 1`` on, the one time it is chosen; else None."""
        if not self.rates or self.choice is not None or update_end_s < self.at * self.budget_s:
            return None
        projected = (step + 1) * self.budget_s / update_end_s
        keys = [k for k in sorted(self.rates) if k <= projected]
        rate = self.rates[keys[-1]] if keys else self.default_rate
        self.choice = {"rate": rate, "projected_updates": round(projected), "at_step": step,
                       "at_min": round(update_end_s / 60, 2)}
        log.info("trainer.budget_dropout: %d updates projected for the %.0f-minute budget at step %d: "
                 "dropout %g from here on", projected, self.budget_s / 60, step, rate)
        return rate
