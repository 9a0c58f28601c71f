PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DATA ?= $(CURDIR)/.demo-data

.PHONY: run test bench lint venv clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Until the kiosk exists: a fresh demo shop on simulated devices, one day of trade, and that
# day's Z report. Receipts print as text and PNG under $(DEMO_DATA)/sim/printer.
run: $(STAMP)
	rm -rf $(DEMO_DATA)
	$(BIN)/till --data $(DEMO_DATA) demo --days 1
	@echo "Receipts and the Z as printed: $(DEMO_DATA)/sim/printer  (drawer: $(DEMO_DATA)/sim/drawer)"

test: $(STAMP)
	$(BIN)/ruff check appliance drivers relay tests bench
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check appliance drivers relay tests bench

clean:
	rm -rf $(VENV) $(DEMO_DATA) .pytest_cache
