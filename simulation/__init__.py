"""simulation: what stands in for the outside world (generator, fake servers, demo loader, ``demo up``)."""
