"""Run the docstring examples of core and auth modules, so documented behaviour stays true."""

import doctest

import pytest

from auth import masking, throttle
from core import beijing
from supervision.rules import duplicates


@pytest.mark.parametrize("module", [beijing, masking, throttle, duplicates], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
