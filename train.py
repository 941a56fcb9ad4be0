"""Train a Transformer: python train.py [experiment=NAME] [key=value ...]  (see --help)."""

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from mt.utils.cli import run_main
from mt.utils.resolvers import missing_shared_run_id, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from mt.config import train_config
    from mt.train.run import run

    run_main(lambda: run(train_config(OmegaConf.to_container(cfg, resolve=True)), own_process=True))


if __name__ == "__main__":
    if problem := missing_shared_run_id(sys.argv[1:]):
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    main()
