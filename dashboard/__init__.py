"""Dash web app (DESIGN.md): trajectory maps, density, flows, statistics, rankings, alarms. Not built yet."""
