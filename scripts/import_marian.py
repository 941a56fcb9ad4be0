"""Read a transformers ``MarianMTModel`` directory (an OPUS-MT model, or mt's own Hugging Face export)
as mt does, and print the ``model.*`` overrides that make a training run its child.

    python scripts/import_marian.py opus-mt-en-de
    python scripts/import_marian.py opus-mt-en-de --output opus-en-de.pt     # also an mt checkpoint

``trainer.init_from`` takes the directory itself; the checkpoint written here loads faster and works
wherever mt takes a checkpoint (translate.py, evaluate.py, export.py, ensembles).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a directory written by MarianMTModel.save_pretrained")
    parser.add_argument("--output", type=Path, help="write the imported model as an mt checkpoint here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    from mt.checkpoint import save_checkpoint
    from mt.decode.load import read_model_state
    from mt.train.init import SHAPE_KEYS
    from mt.utils.cli import run_main

    def run() -> None:
        state = read_model_state(args.model_dir)
        cfg, vocab = state["model_config"], state["vocab"]
        sizes = f"{vocab['size']}" if vocab.get("src_size") is None else \
            f"{vocab['src_size']} source and {vocab['size']} target pieces (separate_vocabs)"
        print(f"{args.model_dir}: {state['src_lang']}->{state['tgt_lang']}, vocabulary {sizes} "
              f"(pad {vocab['pad_id']}, eos {vocab['eos_id']}, decoding starts from {vocab['bos_id']})")
        overrides = [f"model.{k}={str(cfg[k]).lower() if isinstance(cfg[k], bool) else cfg[k]}" for k in SHAPE_KEYS]
        print("model overrides for trainer.init_from:\n  " + " ".join(overrides))
        if args.output:
            save_checkpoint({**state, "step": 0}, args.output)
            print(f"wrote {args.output}")

    run_main(run)


if __name__ == "__main__":
    main()
