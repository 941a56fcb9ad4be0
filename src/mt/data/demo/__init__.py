"""The built-in English->German demo corpus, generated offline: ``corpus`` draws sentence pairs from
the word lists and phrase builders of ``grammar``. Read through ``mt.data.sources.demo``."""
