"""Run only the data stage of train.py: clean, train SentencePiece, binarize, cache.

    python scripts/prepare_data.py                               # the demo corpus
    python scripts/prepare_data.py experiment=wmt14_en_de data.num_workers=16
    python scripts/prepare_data.py data=local data.local_dir=path/to/corpus tokenizer.vocab_size=16000

Takes the same overrides as train.py (composed from conf/config.yaml) and prints the prepared
directory on stdout; train.py with the same data/tokenizer settings then reuses it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; everything that is not an option is a Hydra override."""
    parser = argparse.ArgumentParser(
        description="Prepare (or reuse) the cached data of a train.py configuration and print its directory.",
        epilog="Overrides are Hydra overrides as for train.py, e.g. experiment=wmt14_en_de "
        "data.num_workers=8 tokenizer.vocab_size=32000. The cache goes to data.cache_dir "
        "(relative to the current directory).",
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides")
    parser.add_argument("--config-name", default="config", help="config in conf/ to compose (default: config)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--show-meta", action="store_true", help="also print meta.json (counts, filters)")
    return parser.parse_args(argv)


def compose_data_config(config_name: str, overrides: list[str]):
    """Compose ``conf/<config_name>.yaml`` with ``overrides``; return the typed TrainConfig."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from mt.config import train_config
    from mt.utils.compose import compose_config
    from mt.utils.errors import MTError

    try:
        # Only the data stage is needed; the rest (run dirs) refers to a Hydra run that does not exist here.
        sections = compose_config(config_name, overrides, sections=("data", "tokenizer"))
    except (HydraException, OmegaConfBaseException) as e:
        raise MTError(f"bad configuration or override: {e}") from None
    return train_config(sections)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(sys.argv[1:] if argv is None else argv)

    from mt.data.prepare import load_prepared, prepare_data
    from mt.decode.synthetic import build_synthetic
    from mt.utils.cli import run_main
    from mt.utils.dist import env_info
    from mt.utils.logging import setup_logging

    def run() -> None:
        setup_logging()
        cfg = compose_data_config(args.config_name, args.overrides)
        build_synthetic(cfg.data, Path(os.getcwd()), progress=not args.no_progress)  # under torchrun: by all ranks
        if not env_info().is_main:
            return  # rank 0 prepares
        directory = prepare_data(cfg.data, cfg.tokenizer, Path(os.getcwd()), progress=not args.no_progress)
        if args.show_meta:
            print(json.dumps(load_prepared(directory).meta, indent=2))
        print(directory)

    run_main(run)


if __name__ == "__main__":
    main()
