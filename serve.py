"""Serve a model over HTTP: python serve.py model=PATH [host=...] [port=...]  (see --help, docs/serve.md)."""

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from mt.utils.cli import run_main
from mt.utils.resolvers import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    from mt.config import serve_config
    from mt.serve.run import serve
    from mt.utils.logging import setup_logging

    setup_logging()
    run_main(lambda: serve(serve_config(OmegaConf.to_container(cfg, resolve=True))))


def model_alias(argv: list[str]) -> list[str]:
    """``model=PATH`` becomes ``model_path=PATH``: Hydra would take ``model`` for the training config
    group of that name and refuse it."""
    return [f"model_path={a[len('model='):]}" if a.startswith("model=") else a for a in argv]


if __name__ == "__main__":
    sys.argv = model_alias(sys.argv)
    main()
