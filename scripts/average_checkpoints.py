"""Average the weights of several checkpoints (Vaswani et al. 2017 average the last 5 or 20).

    python scripts/average_checkpoints.py outputs/wmt14_en_de/RUN/checkpoints --last 5
    python scripts/average_checkpoints.py a.pt b.pt c.pt --output averaged.pt

The result is an inference checkpoint (weights, model config, tokenizer; no optimizer state) that
translate.py and evaluate.py load like any other. It is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mt import checkpoint as ckpt
from mt.utils.errors import MTError


def resolve_inputs(inputs: list[str], last: int) -> list[Path]:
    """Checkpoint files named directly, or the newest ``last`` step checkpoints of one directory."""
    if len(inputs) == 1 and Path(inputs[0]).is_dir():
        found = ckpt.list_step_checkpoints(inputs[0])
        if not found:
            raise MTError(f"no step_*.pt checkpoints in {inputs[0]}")
        if len(found) < last:
            print(f"warning: {inputs[0]} has only {len(found)} step checkpoints; averaging those",
                  file=sys.stderr)
        return found[-last:]
    return [Path(p) for p in inputs]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Average the weights of several mt checkpoints.")
    parser.add_argument("inputs", nargs="+", help="checkpoint files, or one checkpoints/ directory")
    parser.add_argument("--last", type=int, default=5,
                        help="with a directory: average its newest N step checkpoints (default 5)")
    parser.add_argument("--output", help="output file (default: <dir>/averaged_last<N>.pt)")
    args = parser.parse_args(argv)
    try:
        paths = resolve_inputs(args.inputs, args.last)
        averaged = ckpt.average_checkpoints(paths)
        output = Path(args.output) if args.output else paths[-1].parent / f"averaged_last{len(paths)}.pt"
        ckpt.save_checkpoint(averaged, output)
    except MTError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"averaged {len(paths)} checkpoints ({paths[0].name} .. {paths[-1].name}) -> {output}")


if __name__ == "__main__":
    main()
