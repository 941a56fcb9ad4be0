"""Typed configuration: the schema every Hydra config is converted into, and validated, once.

Hydra composes YAML onto the dataclasses of ``schema`` at the entry point; ``train_config`` (and
friends, ``checks``) turn the result into those dataclasses, check every value, and the rest of the
code only ever sees typed objects. No torch here: this package sits at the bottom of the import graph.
"""

from mt.config.checks import (
    _CHOICES,
    evaluate_config,
    export_config,
    from_dict,
    serve_config,
    to_dict,
    train_config,
    translate_config,
    validate,
)
from mt.config.schema import (
    ConfigError,
    DataConfig,
    DecodeConfig,
    EvaluateConfig,
    ExportConfig,
    ModelConfig,
    OptimConfig,
    ServeConfig,
    SyntheticConfig,
    TokenizerConfig,
    TrainConfig,
    TrainerConfig,
    TranslateConfig,
)

__all__ = [
    "_CHOICES", "ConfigError", "DataConfig", "DecodeConfig", "EvaluateConfig", "ExportConfig", "ModelConfig",
    "OptimConfig", "ServeConfig", "SyntheticConfig", "TokenizerConfig", "TrainConfig", "TrainerConfig", "TranslateConfig", "evaluate_config",
    "export_config", "from_dict", "serve_config", "to_dict", "train_config", "translate_config", "validate",
]
