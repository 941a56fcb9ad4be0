"""Start train.py under torchrun with per-rank conditions that a real cluster produces by itself.

    torchrun --nproc_per_node=2 tests/smoke/rank_launcher.py [--slow-prepare S] [--rank-dirs DIR] \
        -- key=value ...

``--slow-prepare S``: rank 0's data preparation takes S seconds longer, as on a large corpus or a
slow disk. ``--rank-dirs DIR``: rank r starts in ``DIR/rank<r>``, so relative paths lead each rank
to a different directory, as on nodes that do not share storage. ``--skew-valid-loss``: the loss
of every validation batch is scaled by 10**n on rank 0 and 10**-n on rank 1 (n counts the batches
the rank scored), so the two ranks would judge early stopping differently on their own numbers.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow-prepare", type=float, default=0.0)
    parser.add_argument("--rank-dirs", type=Path)
    parser.add_argument("--skew-valid-loss", action="store_true")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    rank = int(os.environ["RANK"])
    if args.rank_dirs:
        start_dir = args.rank_dirs / f"rank{rank}"
        start_dir.mkdir(parents=True, exist_ok=True)
        os.chdir(start_dir)
    if args.slow_prepare and rank == 0:
        import mt.train.setup as setup

        prepare = setup.prepare_data

        def slow_prepare(*a, **kw):
            time.sleep(args.slow_prepare)
            return prepare(*a, **kw)

        setup.prepare_data = slow_prepare
    if args.skew_valid_loss:
        _skew_valid_loss(rank)
    sys.argv = [str(ROOT / "train.py"), *args.overrides]
    runpy.run_path(str(ROOT / "train.py"), run_name="__main__")


def _skew_valid_loss(rank: int) -> None:
    import mt.train.validate as validate

    loss_fn, calls = validate.projected_label_smoothed_nll, [0]

    def skewed(*a, **kw):
        calls[0] += 1
        scale = 10.0 ** (calls[0] if rank == 0 else -calls[0])
        loss, nll = loss_fn(*a, **kw)
        return loss * scale, nll * scale

    validate.projected_label_smoothed_nll = skewed


if __name__ == "__main__":
    main()
