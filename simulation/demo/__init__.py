"""The demo province: load the generator's output, the demo users, the simulators, and ``demo up`` (``up.py``)."""
