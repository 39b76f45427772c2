# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck pytest generate bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

# The reference receiver on its embedded SQLite database (strive.db, WAL) at 127.0.0.1:8000,
# with demo ASWs for the published examples: it prints how to submit them.
run: $(STAMP)
	$(BIN)/strive validate spec/examples/*.json
	$(BIN)/strive serve --demo --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

# Regenerate every committed artefact (JSON Schema, field reference, taxonomy, vectors, OpenAPI).
generate: $(STAMP)
	$(BIN)/python -m strive_schema.generate
	$(BIN)/python -m strive_schema._vectors
	$(BIN)/python -m strive_schema._sealed_vectors
	$(BIN)/python -m strive_server.openapi
	$(BIN)/python -m strive_server.demo_files spec/examples/files

bench: $(STAMP)
	$(BIN)/python bench/validate_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
