# SDX — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export SDX_PORT ?= 5000
export SDX_VAR_DIR ?= ./var

.PHONY: install run test bench stac-validate translations clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

## Start SDX on the embedded default (SQLite + local S3 under $(SDX_VAR_DIR)) and print its URL.
run: install
	$(BIN)/flask --app app sdx run

## Run the whole test suite (SQLite always; PostgreSQL when SDX_TEST_POSTGRES_URL is set).
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Print the benchmark figures of auth, uploads and the web pages (not part of the test run; the catalogue one is long: see README).
bench: install
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/upload.py
	PYTHONPATH=. $(BIN)/python bench/web.py

## Check the STAC API with stac-api-validator 0.6.8, offline, on a fresh SDX (its own venv is made on first use).
stac-validate: install
	$(BIN)/python .ci/stac-api-validator/run.py

## Compile the pages' translations (exchange/web/translations/*/zh_Hans_CN/LC_MESSAGES/messages.po → .mo).
translations: install
	for area in exchange/web/translations/*/; do $(BIN)/pybabel compile -d $$area -l zh_Hans_CN || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
