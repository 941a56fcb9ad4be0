"""Start train.py under torchrun with per-rank conditions that a real cluster produces by itself.

    torchrun --nproc_per_node=2 tests/smoke/rank_launcher.py [--slow-prepare S] [--rank-dirs DIR] \
        -- key=value ...

``--slow-prepare S``: rank 0's data preparation takes S seconds longer, as on a large corpus or a
slow disk. ``--rank-dirs DIR``: rank r starts in ``DIR/rank<r>``, so relative paths lead each rank
to a different directory, as on nodes that do not share storage.
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
    sys.argv = [str(ROOT / "train.py"), *args.overrides]
    runpy.run_path(str(ROOT / "train.py"), run_name="__main__")


if __name__ == "__main__":
    main()
