"""Translate text: python translate.py checkpoint=PATH [input=FILE|-] [output=FILE|-]  (see --help)."""

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from mt.utils.cli import run_main
from mt.utils.resolvers import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="translate")
def main(cfg: DictConfig) -> None:
    from mt.config import translate_config
    from mt.decode.run import translate_file
    from mt.utils.logging import setup_logging

    setup_logging()
    run_main(lambda: translate_file(translate_config(OmegaConf.to_container(cfg, resolve=True))))


def model_alias(argv: list[str]) -> list[str]:
    """``model=DIR`` (an exported model for backend=ctranslate2) becomes ``model_dir=DIR``: Hydra would
    take ``model`` for the training config group of that name and refuse it."""
    return [f"model_dir={a[len('model='):]}" if a.startswith("model=") else a for a in argv]


if __name__ == "__main__":
    sys.argv = model_alias(sys.argv)
    main()
