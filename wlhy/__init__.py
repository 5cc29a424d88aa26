"""wlhy: the provincial network-freight monitoring system's command line and settings."""
