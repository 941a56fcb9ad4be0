"""Every registry's keys are exactly the values its config key accepts.

``mt.config`` sits below the packages that hold the registries, so it lists the allowed values itself
and rejects a misspelt one before any work starts; these tests keep the two lists equal (and in the
same order, which the error messages show).
"""

from mt.config import _CHOICES, _EXPORT_FORMATS
from mt.data.sources import SOURCES
from mt.export.run import FORMATS


def test_data_sources_match_the_config_choices():
    assert tuple(SOURCES) == _CHOICES["data.source"]


def test_export_formats_match_the_config_choices():
    assert tuple(FORMATS) == _EXPORT_FORMATS
