"""Run the docstring examples of the geo modules, so documented behaviour stays true."""

import doctest

import pytest

from geo import bounds, crs, distance, gazetteer, hexes, outlines


@pytest.mark.parametrize(
    "module", [bounds, crs, distance, gazetteer, hexes, outlines], ids=lambda m: m.__name__
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
