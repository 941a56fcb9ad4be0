"""Exports of trained checkpoints to the engines users serve them with: CTranslate2 (``ct2``) and
Hugging Face ``transformers`` (``hf``, ``card``); ``run`` is the ``scripts/export.py`` job."""
