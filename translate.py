"""Translate text: python translate.py checkpoint=PATH [input=FILE|-] [output=FILE|-]  (see --help)."""

import hydra
from omegaconf import DictConfig, OmegaConf

from mt.utils.cli import run_main


@hydra.main(version_base="1.3", config_path="conf", config_name="translate")
def main(cfg: DictConfig) -> None:
    from mt.config import translate_config
    from mt.decode.run import translate_file
    from mt.utils.logging import setup_logging

    setup_logging()
    run_main(lambda: translate_file(translate_config(OmegaConf.to_container(cfg, resolve=True))))


if __name__ == "__main__":
    main()
