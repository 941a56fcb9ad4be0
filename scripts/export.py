"""Export a checkpoint: python scripts/export.py checkpoint=PATH format=ctranslate2|huggingface output=DIR
[quantization=int8]  (see --help)."""

import hydra
from omegaconf import DictConfig, OmegaConf

from mt.utils.resolvers import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    from mt.config import export_config
    from mt.export.run import export
    from mt.utils.cli import run_main
    from mt.utils.logging import setup_logging

    setup_logging()
    run_main(lambda: export(export_config(OmegaConf.to_container(cfg, resolve=True))))


if __name__ == "__main__":
    main()
