"""cli: the ``wlhy`` console script, one module per command group."""
