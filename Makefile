# ScopePilot: two commands do everything on a fresh Debian machine.
#   make demo   install what is missing, build, run the end-to-end demo
#   make test   install what is missing, build, run the whole test suite
# Other targets: make build, make bench, make flood, make soak, make fuzz, make fuzz-seeds, make format,
# make lint, make clean.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Tests that train or benchmark need optimised code, so everything is built once, in release mode
# with testing enabled, and the tests and the executables share that build.
SWIFT_FLAGS := -c release -Xswiftc -enable-testing
BIN := .build/release

APT_PACKAGES := libzmq3-dev libopenblas-dev libfftw3-dev libsqlite3-dev zlib1g-dev pkg-config python3 python3-venv
# The tests also load the report and the live view in a real browser.
TEST_APT_PACKAGES := chromium-headless-shell
VENV := .venv
PYTHON := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps system-deps python-deps bench-deps build test demo bench flood soak fuzz fuzz-short fuzz-seeds \
	format lint clean

help:
	@echo "make demo    install what is missing, build, run the end-to-end demo"
	@echo "make test    install what is missing, build, run the whole test suite"
	@echo "make bench   run the benchmarks beside their peers"
	@echo "make flood   the hostile-driver test with 100,000 messages (make test sends 3,000)"
	@echo "make soak    the faults scenario for an hour, resident memory sampled every minute"
	@echo "make fuzz    the libFuzzer targets, 10 minutes each (make test runs them 10 s each)"
	@echo "make format  format the Swift code;  make lint  check it"

deps: system-deps python-deps

# Debian packages: installed only when one is missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES) $(EXTRA_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v swift >/dev/null || { echo "swift is not on PATH: install the Swift 6 toolchain first (swift.org/install)"; exit 1; }

# The Python the interop tests need (pyzmq, numpy, pandas, pytest, scikit-learn, RosettaSciIO, tifffile, imagecodecs, event-model, zarr, xarray) and the scopepilot package from
# python/ (editable, so that its tests see this checkout), in a virtual environment git ignores.
python-deps: system-deps
	@[ -x $(PYTHON) ] || { echo "Creating $(VENV)"; python3 -m venv $(VENV) && $(PYTHON) -m pip install -q --upgrade pip; }
	@$(PYTHON) -c "import zmq, numpy, safetensors, pandas, pytest, sklearn, rsciio, tifffile, h5py, imagecodecs, event_model, zarr, xarray" 2>/dev/null || { \
		echo "Installing the tests' Python packages into $(VENV)"; $(PYTHON) -m pip install -q -r Tests/requirements.txt; }
	@$(PYTHON) -c "import scopepilot.host" 2>/dev/null || { \
		echo "Installing the scopepilot Python package (python/) into $(VENV)"; \
		$(PYTHON) -m pip install -q -e ./python >/dev/null; }

bench-deps: python-deps
	@$(PYTHON) -c "import zmq, numpy, nion.usim_device, onnx, onnxruntime, safetensors, igraph, leidenalg, skimage" 2>/dev/null || $(PYTHON) -m pip install -q -r Benchmarks/requirements.txt

build: deps
	swift build $(SWIFT_FLAGS)

test: EXTRA_APT_PACKAGES := $(TEST_APT_PACKAGES)
test: deps
	swift build --build-tests $(SWIFT_FLAGS)
	SCOPEPILOT_PYTHON=$(CURDIR)/$(PYTHON) swift test $(SWIFT_FLAGS) --skip-build --no-parallel
	SCOPEPILOT_BINARY=$(CURDIR)/$(BIN)/scopepilot $(PYTHON) -m pytest -q python/tests
	$(MAKE) fuzz-short

demo: build
	$(BIN)/scopepilot demo

bench: build bench-deps
	$(BIN)/scopepilot-bench feed --python $(PYTHON)
	$(BIN)/scopepilot-bench sim --python $(PYTHON)
	$(BIN)/scopepilot-bench detector --python $(PYTHON)
	$(BIN)/scopepilot-bench leiden --python $(PYTHON)
	$(BIN)/scopepilot-bench drift --python $(PYTHON)
	$(BIN)/scopepilot-bench latency
	$(BIN)/scopepilot-bench policy --python $(PYTHON)
	$(BIN)/scopepilot-bench store --python $(PYTHON)

# The hostile-driver test at full size: 100,000 messages, most of them malformed.
flood: deps
	swift build --build-tests $(SWIFT_FLAGS)
	SCOPEPILOT_FLOOD_MESSAGES=100000 SCOPEPILOT_PYTHON=$(CURDIR)/$(PYTHON) swift test $(SWIFT_FLAGS) --skip-build \
		--filter HostileDriverTests

# The faults scenario served to the daemon for SOAK_MINUTES of wall-clock time, driver and daemon in
# separate processes, resident memory of each and log size sampled every minute (out/soak-rss.csv).
SOAK_MINUTES ?= 60
soak: build
	Benchmarks/soak $(SOAK_MINUTES)

# libFuzzer over the wire protocol's decoders and the policy and scenario readers (Fuzz/README.md).
FUZZ_SECONDS ?= 600
fuzz: deps
	Fuzz/run $(FUZZ_SECONDS)

fuzz-short: deps
	Fuzz/run 10

# Writes Fuzz/Corpus/{frame,control,welcome}/ anew from today's encoders.
fuzz-seeds: deps
	swift build --build-tests $(SWIFT_FLAGS)
	SCOPEPILOT_WRITE_FUZZ_SEEDS=1 swift test $(SWIFT_FLAGS) --skip-build --filter FuzzCorpusTests

SWIFT_SOURCES := Package.swift Sources Tests Benchmarks Simulator Drivers Policies Fuzz/Package.swift Fuzz/Sources

format:
	swift format --in-place --recursive --parallel $(SWIFT_SOURCES)

lint:
	swift format lint --recursive --parallel $(SWIFT_SOURCES)

clean:
	rm -rf .build .build-fuzz
