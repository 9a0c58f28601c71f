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

# The kiosk in a window, on a demo shop with simulated devices (made on first run, kept after):
# receipts print as text and PNG under $(DEMO_DATA)/sim/printer.
run: $(STAMP)
	$(BIN)/till --data $(DEMO_DATA) kiosk --simulate --windowed

test: $(STAMP)
	$(BIN)/ruff check appliance drivers relay tests bench
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check appliance drivers relay tests bench

clean:
	rm -rf $(VENV) $(DEMO_DATA) .pytest_cache
