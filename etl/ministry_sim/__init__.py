"""A local Ministry exchange for tests and the demo: auth, send, acknowledgements, switchable faults."""

from etl.ministry_sim.app import FaultsIn, MinistryState, create_app
from etl.ministry_sim.server import DEFAULT_PORT, SimulatorServer, start_simulator

__all__ = ["DEFAULT_PORT", "FaultsIn", "MinistryState", "SimulatorServer", "create_app", "start_simulator"]
