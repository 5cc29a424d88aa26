"""The forwarder's fixtures (a database of its own, a live Ministry simulator, intake) for ``wlhy forward``."""

from tests.etl.forwarder.conftest import (  # noqa: F401 - imported to be fixtures here too
    _sim,
    factory,
    fw_engine,
    intake,
    ministry_keys,
    operator,
    sim,
)
