# shebao: `make up` runs the local stack, `make test` runs every test. Both install first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
KAFKA_VERSION := $(shell sed -n 's/^KAFKA_VERSION = "\(.*\)"/\1/p' deploy/kafka.py)
SHEBAO_HOME ?= $(CURDIR)/.shebao
export SHEBAO_HOME

PY_STAMP := $(VENV)/.installed
KAFKA_STAMP := $(SHEBAO_HOME)/kafka/$(KAFKA_VERSION)/libs/.complete
COMPOSE_STAMP := $(SHEBAO_HOME)/.compose-checked
CHROMIUM_STAMP := $(SHEBAO_HOME)/.chromium-checked
ASYNCAPI_DIR := $(SHEBAO_HOME)/asyncapi
ASYNCAPI_STAMP := $(ASYNCAPI_DIR)/.installed
KCAT_STAMP := $(SHEBAO_HOME)/.kcat-checked

.PHONY: install lock up test lint unit soak bench load locust chaos cluster-test demo down status engine compose-test container-test

## lock: pin the container image's packages, with hashes (deploy/requirements.lock)
lock: install
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-find-links \
		--no-emit-index-url --output-file deploy/requirements.lock pyproject.toml

## install: venv + packages, Kafka jars, a compose validator (each only once)
install: $(PY_STAMP) $(KAFKA_STAMP) $(COMPOSE_STAMP) $(CHROMIUM_STAMP) $(ASYNCAPI_STAMP) $(KCAT_STAMP)

$(PY_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,bench,local]"
	touch $@

$(KAFKA_STAMP): deploy/maven/pom.xml | $(PY_STAMP)
	$(BIN)/shebao fetch-kafka

# The compose file is validated by `docker compose config` or Debian's docker-compose;
# neither needs a Docker engine. Installed from Debian's packages when missing and possible.
$(COMPOSE_STAMP):
	@mkdir -p $(SHEBAO_HOME)
	@if docker compose version >/dev/null 2>&1 || docker-compose version >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null \
	  || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null); \
	else echo "note: no docker compose found; the compose file test will say how to get one"; fi
	touch $@

# The operator console's browser test drives Debian's chromium with Playwright (whose own
# browser download is not used).
$(CHROMIUM_STAMP):
	@mkdir -p $(SHEBAO_HOME)
	@deploy/need.sh chromium chromium -- "the console's browser test"
	touch $@

# The AsyncAPI document is validated by the AsyncAPI parser (Node.js, from npm, versions
# pinned by deploy/asyncapi/package-lock.json); Debian's nodejs and npm when missing.
$(ASYNCAPI_STAMP): deploy/asyncapi/package.json deploy/asyncapi/package-lock.json deploy/asyncapi/validate.mjs
	@deploy/need.sh npm nodejs npm -- "the AsyncAPI check"
	@mkdir -p $(ASYNCAPI_DIR)
	cp deploy/asyncapi/package.json deploy/asyncapi/package-lock.json deploy/asyncapi/validate.mjs $(ASYNCAPI_DIR)/
	cd $(ASYNCAPI_DIR) && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	touch $@

# The integrator guide's kcat commands are run by its test (Debian's kcat).
$(KCAT_STAMP):
	@mkdir -p $(SHEBAO_HOME)
	@deploy/need.sh kcat kcat -- "the integrator guide's test"
	touch $@

## up: the whole stack in the foreground (Ctrl-C stops it)
up: install
	$(BIN)/shebao up

## test: lint, type check, then every test on real Kafka and PostgreSQL (the local stack,
## unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL or DOCKER_HOST say otherwise). A container
## engine is set up on the way where none answers and this machine allows (deploy/engine.sh).
test: install lint
	@deploy/engine.sh --if-possible
	$(BIN)/pytest

## engine: podman behind a Docker-compatible socket, and the images compose and the
## testcontainers fixtures use, built from Debian's packages (idempotent, cached)
engine: install
	deploy/engine.sh

ENGINE_ENV = env $$(deploy/engine.sh --env)

## compose-test: docker-compose.yml up on the engine, the demo, crashes, the public log probe
compose-test: engine
	$(ENGINE_ENV) $(BIN)/pytest -m containers tests/containers

## container-test: the end-to-end, crash and load tests on Kafka and PostgreSQL containers
## started by testcontainers
container-test: engine
	$(ENGINE_ENV) $(BIN)/pytest tests/e2e tests/crash
	$(ENGINE_ENV) $(BIN)/pytest -m load tests/load

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit

## soak: the crash and end-to-end tests SOAK_RUNS times over, each run on a fresh stack
SOAK_RUNS ?= 20
soak: install
	@for i in $$(seq 1 $(SOAK_RUNS)); do \
	  echo "soak run $$i of $(SOAK_RUNS)"; \
	  $(BIN)/pytest -q tests/crash tests/e2e || { echo "soak: run $$i of $(SOAK_RUNS) failed"; exit 1; }; \
	done; echo "soak: $(SOAK_RUNS) of $(SOAK_RUNS) runs passed"

## bench: benchmarks on the local stack (figures beside same-run baselines), in bench/results/
bench: install
	@deploy/need.sh wrk wrk -- "the HTTP section of make bench (its load generator)"
	$(BIN)/python -m bench

load: install
	$(BIN)/pytest -m load tests/load

## locust: whole journeys with Locust against a running stack (the local one, or the one the
## SHEBAO_<SERVICE>_URL variables name); report in .shebao/artifacts/locust/
LOCUST_USERS ?= 8
LOCUST_RAMP ?= 2
LOCUST_TIME ?= 1m
locust: install
	@mkdir -p $(SHEBAO_HOME)/artifacts/locust
	$(BIN)/locust -f deploy/load/locustfile.py --headless --only-summary \
		-u $(LOCUST_USERS) -r $(LOCUST_RAMP) -t $(LOCUST_TIME) \
		--csv $(SHEBAO_HOME)/artifacts/locust/journeys \
		--html $(SHEBAO_HOME)/artifacts/locust/journeys.html

## chaos: every service, Kafka and PostgreSQL killed in turn under journeys; then the promises
chaos: install
	$(BIN)/pytest -m chaos -s tests/chaos
	$(BIN)/pytest -m cluster -s tests/cluster

## cluster-test: the platform on a secured three-broker KRaft cluster with two processes of
## each service: ACLs, a broker killed, rolling restarts and a replica killed under journeys
cluster-test: install
	$(BIN)/pytest -m cluster -s tests/cluster
