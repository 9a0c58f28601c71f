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
	$(BIN)/ruff check appliance drivers relay tests bench image
	$(BIN)/python -m mypy appliance drivers relay
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check appliance drivers relay tests bench image

clean:
	rm -rf $(VENV) $(DEMO_DATA) .pytest_cache

# The SD image (image/README.md): needs root and the tools listed there. IMAGE_OUT holds the cached
# base root file system, the downloads and the results (tillbox-<version>-arm64.img and .img.zst).
IMAGE_OUT ?= $(CURDIR)/build/image

.PHONY: image image-test image-test-raspios image-reproducible

image: $(STAMP)
	OUT=$(IMAGE_OUT) PY=$(CURDIR)/$(BIN)/python image/build.sh

# Boots the built image in qemu-system-aarch64 and checks it (not part of `make test`).
image-test: $(STAMP)
	OUT=$(IMAGE_OUT) PY=$(CURDIR)/$(BIN)/python image/test.sh

# The Pi 5 path (PI_OS_IMAGE=... make image) built and checked on a stand-in for Raspberry Pi OS Lite,
# then booted in qemu; or built and checked on a real Raspberry Pi OS Lite image: RASPIOS=file.img.xz
image-test-raspios: $(STAMP)
	PY=$(CURDIR)/$(BIN)/python image/raspios-test.sh $(RASPIOS)

# Two builds of the image compared byte for byte.
image-reproducible: $(STAMP)
	image/reproducible.sh
