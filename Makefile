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
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(VENV)/bin/robeval reproduce

test: $(STAMP)
	$(VENV)/bin/ruff check robeval tests bench
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check robeval tests bench

clean:
	rm -rf $(VENV) reproduce runs report
