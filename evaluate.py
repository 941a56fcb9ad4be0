"""Score a checkpoint with sacreBLEU: python evaluate.py checkpoint=PATH src=FILE ref=FILE  (see --help)."""

import hydra
from omegaconf import DictConfig, OmegaConf

from mt.utils.cli import run_main
from mt.utils.resolvers import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    from mt.config import evaluate_config
    from mt.eval.run import evaluate
    from mt.utils.logging import setup_logging

    setup_logging()
    run_main(lambda: evaluate(evaluate_config(OmegaConf.to_container(cfg, resolve=True))))


if __name__ == "__main__":
    main()
