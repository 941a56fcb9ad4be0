"""The encoder-decoder Transformer (``transformer``) and the one function that builds it (``build``)."""

from mt.model.build import VocabInfo, build_model

__all__ = ["VocabInfo", "build_model"]
