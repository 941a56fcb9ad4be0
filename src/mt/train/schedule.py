"""The learning-rate schedule on two clocks, updates and wall time, and the account of why a run stopped.

A step schedule ends at ``trainer.max_steps``. A budget schedule (``trainer.budget_min``) ends when
the wall-clock budget does, on whatever machine runs it: warm-up still counts updates, then the
cosine decay follows the elapsed time and reaches ``optim.min_lr`` with the budget's last update.
With both, the decay follows whichever end comes first (its progress is the larger of the two).

The budget covers the whole training loop: updates, periodic validations and checkpoint writes. Part
of it is kept free for the final validation and checkpoint (``reserve_s``, the measured duration of
the latest validation plus checkpoint), so that ``best.pt`` is chosen and written when the budget
ends. Data preparation before the first update and the test scoring after training are outside it.

Each validation moves that deadline a little (a faster one later, a slower one earlier). The decay
then bends towards the new deadline from where it stands, so the learning rate never jumps, and
never rises after warm-up. Each update's end is a plan (now plus the previous update's duration), and
a fast update after a slow one plans an earlier end than the one before it: the decay keeps the
furthest progress an update has run at (``reached``, kept in the checkpoint), so such timing noise
holds the learning rate still instead of raising it, in one process and across a resume.
"""

from __future__ import annotations

from dataclasses import dataclass

from mt.config import OptimConfig, TrainerConfig
from mt.train.optim import decay_lr, step_progress, warmup_lr

CUT_SHORT = 0.999
"""A decay that ended below this progress was cut off before reaching its floor."""


@dataclass
class Schedule:
    """Learning rate per update, from the update count and the elapsed training time."""

    optim: OptimConfig
    max_steps: int
    budget_s: float = 0.0
    """Wall-clock budget in seconds; 0: the decay is counted in updates only."""
    warmup_end_s: float | None = None
    """Elapsed seconds when warm-up ended (None while it runs): the time decay starts there."""
    reserve_s: float = 0.0
    """Seconds kept at the budget's end for the final validation and checkpoint (see ``set_reserve``)."""
    anchor: tuple[float, float] | None = None
    """(elapsed seconds, time progress) from which the time decay runs on to the deadline, set when
    the deadline moved after warm-up; None: it runs from the end of warm-up at progress 0."""
    reached: float = 0.0
    """The furthest time progress a finished update ran at: the decay never goes back below it."""

    def __post_init__(self) -> None:
        if self.optim.warmup_steps <= 0 and self.warmup_end_s is None:
            self.warmup_end_s = 0.0

    @classmethod
    def from_config(cls, optim: OptimConfig, trainer: TrainerConfig) -> Schedule:
        return cls(optim, trainer.max_steps, 60.0 * trainer.budget_min)

    @property
    def has_end(self) -> bool:
        """False for inverse_sqrt, which decays forever and reaches no floor."""
        return self.optim.schedule != "inverse_sqrt"

    @property
    def deadline_s(self) -> float:
        """Elapsed seconds at which the last update of a budget run should end (0 without a budget)."""
        return max(0.0, self.budget_s - self.reserve_s) if self.budget_s else 0.0

    def progress(self, step: int, elapsed_s: float) -> float:
        """Decay progress of update ``step`` ending at ``elapsed_s``: 0 at the end of warm-up, 1 at the
        end of the run (``max_steps`` or the budget's deadline, whichever is nearer)."""
        by_steps = step_progress(step, self.optim, self.max_steps)
        if not self.budget_s or self.warmup_end_s is None:
            return by_steps
        return min(1.0, max(by_steps, self._time_progress(elapsed_s), self.reached, 0.0))

    def _time_progress(self, elapsed_s: float) -> float:
        """Linear in time from the anchor (or the end of warm-up) to 1 at the deadline."""
        start_s, start = self.anchor or (self.warmup_end_s, 0.0)
        span = self.deadline_s - start_s
        return 1.0 if span <= 0 else max(start, start + (1.0 - start) * (elapsed_s - start_s) / span)

    def set_reserve(self, reserve_s: float, at_s: float) -> None:
        """Keep ``reserve_s`` seconds for the final validation from now on. Moving the deadline after
        warm-up anchors the decay at ``at_s`` (the end of the coming update), at the progress it has
        there: that update's learning rate is unchanged, and the decay reaches its floor at the new
        deadline, however the validations' durations vary."""
        if reserve_s == self.reserve_s:
            return
        if self.budget_s and self.warmup_end_s is not None:
            # From the progress the update would run at, the reached one included: no rise after it.
            self.anchor = (at_s, min(1.0, max(0.0, self._time_progress(at_s), self.reached)))
        self.reserve_s = reserve_s

    def lr(self, step: int, elapsed_s: float) -> float:
        """Learning rate of update ``step`` (1-based), expected to end at ``elapsed_s`` seconds."""
        lr = warmup_lr(step, self.optim)
        return lr if lr is not None else decay_lr(step, self.optim, self.progress(step, elapsed_s))

    def update_done(self, step: int, elapsed_s: float) -> None:
        """Record the end of update ``step`` (the end it was planned for); the time decay starts when
        warm-up is over, and never goes back below the progress this update ran at."""
        if self.warmup_end_s is None and step >= self.optim.warmup_steps:
            self.warmup_end_s = elapsed_s
        elif self.budget_s and self.warmup_end_s is not None:
            self.reached = min(1.0, max(self.reached, self._time_progress(elapsed_s)))

    def state_dict(self) -> dict:
        return {"warmup_end_s": self.warmup_end_s, "reserve_s": self.reserve_s,
                "anchor": None if self.anchor is None else list(self.anchor), "reached": self.reached}

    def load_state_dict(self, state: dict) -> None:
        self.warmup_end_s = state.get("warmup_end_s", self.warmup_end_s)
        self.reserve_s = state.get("reserve_s", 0.0)
        anchor = state.get("anchor")
        self.anchor = None if anchor is None else (float(anchor[0]), float(anchor[1]))
        self.reached = float(state.get("reached", 0.0))  # 0 from a checkpoint written before it was kept


_BOUNDS = {  # stop reason -> (config key, what the bound is)
    "max_steps": ("trainer.max_steps", "the update limit"),
    "max_epochs": ("trainer.max_epochs", "the epoch limit"),
    "max_time": ("trainer.max_time_min", "the time cap"),
    "budget": ("trainer.budget_min", "the time budget"),
    "patience": ("trainer.patience", "early stopping"),
}


def stop_report(reason: str, tc: TrainerConfig, schedule: Schedule, step: int, elapsed_s: float,
                last_lr: float) -> dict:
    """Which bound stopped the run, and whether the learning-rate schedule got to its end.

    Returns ``reason``, ``bound`` (the config key and value, or the signal), ``message`` (one line for
    the log), ``schedule_progress`` (0-1, None for inverse_sqrt), ``schedule_cut_short``, ``last_lr``,
    and ``warning``: a line to log as a warning when a decaying schedule was cut off before its floor
    by a bound other than early stopping or a signal (a resumed run continues the schedule), else None.
    """
    if reason in _BOUNDS:
        key, what = _BOUNDS[reason]
        value = getattr(tc, key.split(".")[1])
        bound = f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"  # 30, not 30.0
        message = f"{what} ({bound})"
    else:
        bound = message = "a signal (resumable)" if reason == "signal" else reason
    message = f"training stopped at step {step} after {elapsed_s / 60:.1f} min by {message}"
    progress = schedule.progress(step, elapsed_s) if schedule.has_end else None
    cut = progress is not None and progress < CUT_SHORT
    warning = None
    warmup = schedule.optim.warmup_steps
    if cut and reason not in ("signal", "patience") and step < warmup:
        hint = "raise trainer.budget_min or lower optim.warmup_steps" if reason == "budget" else \
            f"raise {bound.split('=')[0]} or lower optim.warmup_steps"
        warning = (f"the run ended during warm-up, at update {step} of {warmup}, by {bound}: the learning "
                   f"rate never decayed. This machine does fewer updates than the recipe assumes; {hint}")
    elif cut and reason not in ("signal", "patience"):
        warning = (f"the {schedule.optim.schedule} schedule was cut off at {progress:.0%} of its decay by "
                   f"{bound}: the last update ran at lr {last_lr:.2e}, above its floor optim.min_lr="
                   f"{schedule.optim.min_lr:g}. Let the schedule end with the run: set trainer.budget_min "
                   f"(the decay follows the clock) or a trainer.max_steps this run can reach")
    return {"reason": reason, "bound": bound, "message": message,
            "schedule_progress": None if progress is None else round(progress, 4),
            "schedule_cut_short": cut, "last_lr": last_lr, "warning": warning}
