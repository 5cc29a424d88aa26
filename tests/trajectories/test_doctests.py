"""The docstring examples of the trajectory kernels run."""

import doctest
import importlib

import pytest

MODULES = [
    "trajectories.clean",
    "trajectories.measures",
    "trajectories.build",
    "trajectories.verify",
    "trajectories.bulk",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
