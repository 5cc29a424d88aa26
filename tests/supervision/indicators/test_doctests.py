"""The docstring examples of the configuration and ranking modules (periods, score, tie ranks) stay true."""

import doctest

import pytest

from supervision import configuration
from supervision.indicators import periods

ranking_module = __import__("supervision.indicators.ranking", fromlist=["rank_rows"])


@pytest.mark.parametrize("module", [configuration, periods, ranking_module], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
