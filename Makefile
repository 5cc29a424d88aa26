# The two set-up commands of the README.  Everything else is `.venv/bin/wlhy --help`.
.PHONY: demo test bootstrap

bootstrap:
	@bash scripts/bootstrap.sh

## demo: install what is missing, start the local PostGIS cluster, migrate, generate and load the demo
## province (once), create the demo users, and serve the app on http://127.0.0.1:8000
demo: bootstrap
	.venv/bin/wlhy demo up

## test: the same bootstrap (plus headless Chromium for the dashboard's browser tests), the layer contract of DESIGN.md (import-linter), then the whole test suite against a
## throwaway PostGIS cluster
test:
	@bash scripts/bootstrap.sh --browser
	.venv/bin/lint-imports
	.venv/bin/pytest
