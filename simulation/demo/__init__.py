"""The demo province: load the generator's output through the intake core, create the demo users."""
