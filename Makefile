# One command per intent. CI runs `make test` (through .ci/run).
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PY_SOURCES := shared/src services/scheduler/src services/scraper/src services/ingest/src services/grouper/src services/archiver/src

.PHONY: install run test test-fast lint format typecheck up sandbox simulate bench clean

install: ## create the virtual environment with everything (uv workspace, one lockfile)
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
	$(UV) sync --frozen

run: install ## the main job: sandbox + all services embedded, live view, summary at the end
	$(UV) run splitcart run

test: install lint ## lint, type-check and the whole suite on both backends
	$(UV) run pytest -q

test-fast: install ## the suite without lint
	$(UV) run pytest -q -x

lint: install ## ruff (lint + format check) and mypy strict
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy $(PY_SOURCES)

format: install
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

up: install ## all five services in one process (embedded unless SPLITCART_AMQP_URL is set)
	$(UV) run splitcart up

sandbox: install ## the offline retailers on :8100
	$(UV) run splitcart sandbox serve --port 8100

simulate: install ## 14 simulated days over every store of the country, small catalogues
	$(UV) run splitcart simulate --days 14 --store-scale 1 --product-scale 0.02 --seed 7

bench: install ## every benchmark, one JSON line each
	@for b in bus sandbox scheduler scraper ingest grouping archive; do $(UV) run splitcart bench $$b; done

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
