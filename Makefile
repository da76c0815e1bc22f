# Every target installs what it needs (a project venv in .venv) so a fresh clone works.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= embedded
DATA ?= $(firstword $(wildcard ../shared/data/ecommerce-data.csv.gz) data/sample/ecommerce-sample.csv.gz)
ROWS ?= all
PYTEST_ARGS ?=
# `--stack` only when STACK is given, so that PIPELINE_STACK still counts for a bare `make test`.
PYTEST_STACK = $(if $(filter file,$(origin STACK)),,--stack=$(STACK))

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

# The clients (`make e2e`, `make redrive`) read their endpoints from the environment; on a local
# stack, unless $(1) is set already, it gets what `make env` prints (exit 1 if no cloud answers).
local_cloud_env = if [[ "$(STACK)" != aws && -z "$${$(1):-}" ]]; then \
	exports="$$($(PY) -m emulation env --stack $(STACK))" || exit 1; eval "$$exports"; fi;

.PHONY: help install up down status env console redrive logs e2e test test-unit test-component test-integration bench bench-cloud \
        cost synth deploy-aws e2e-aws destroy-aws lint clean

help: ## List the targets with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo ""
	@echo "  Variables: STACK=embedded|compose  FROM=cdk.out  ROWS=N|all  DATA=path.csv[.gz]  CHECK=1  PYTEST_ARGS=...  ALARM_EMAIL=..."

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
	@echo "installing the project into $(VENV) (log: $(VENV)/install.log)"
	@$(PY) -m pip install --disable-pip-version-check -e '.[local,deploy,dev]' > $(VENV)/install.log 2>&1 \
		|| { tail -30 $(VENV)/install.log; echo "error: pip install failed, see $(VENV)/install.log"; exit 1; }
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the project with its local, deploy and dev extras

up: install ## Start the local cloud in the background (FROM=cdk.out: from the synthesized template; STACK=compose: Docker)
	@$(PY) -m emulation up --stack $(STACK) $(if $(FROM),--from "$(FROM)")

down: install ## Stop exactly what `make up` started
	@$(PY) -m emulation down --stack $(STACK)

status: install ## Show each part of the local cloud and whether it answers
	@$(PY) -m emulation status --stack $(STACK)

env: install ## Print shell exports for the local cloud: eval "$$(make -s env)"
	@$(PY) -m emulation env --stack $(STACK)

console: install ## Print the live console's URL: every stage's figures while a replay runs
	@$(PY) -m emulation console

redrive: install ## List the mappings' on-failure queues and re-deliver their records (DRY_RUN=1: list only)
	@$(call local_cloud_env,AWS_ENDPOINT_URL) $(PY) -m pipeline.client redrive --stack $(STACK) $(if $(filter 1,$(DRY_RUN)),--dry-run)

logs: install ## Tail the local cloud's logs (PART=moto|runtime|warehouse|glue)
	@$(PY) -m emulation logs $(if $(PART),--part $(PART))

e2e: install ## Replay DATA (ROWS=N|all), run the Glue batch job, reconcile every sink (BATCH=0 skips it; CHECK=1 only reconciles)
	@$(call local_cloud_env,API_URL) $(PY) -m pipeline.client e2e --data "$(DATA)" --rows $(ROWS) --stack $(STACK) $(if $(filter 0,$(BATCH)),,--batch) $(if $(filter 1,$(CHECK)),--check-only)

test: install ## Run the whole test suite (unit, component, integration on a private local cloud, deploy)
	@$(PY) -m pytest $(PYTEST_STACK) $(PYTEST_ARGS)

test-unit: install ## Run the unit tests only (no server, Spark or mock_aws: those are component tests)
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-component: install ## Run the component tests only (a handler or patch on in-process moto, Spark, a loopback server)
	@$(PY) -m pytest tests/component $(PYTEST_ARGS)

test-integration: install ## Run the integration tests only (STACK=compose: on the running `make up STACK=compose`)
	@$(PY) -m pytest tests/integration $(PYTEST_STACK) $(PYTEST_ARGS)

bench: install ## Run every benchmark and print ratios against in-run baselines
	@$(PY) -m bench all --data "$(DATA)"

bench-cloud: install ## Benchmark the local cloud itself (start-up, Kinesis, mappings, gateway, memory)
	@$(PY) -m bench cloud

cost: install ## Show warehouse statements and the Redshift Serverless charge they imply
	@$(PY) -m emulation.redshift.cost_report

synth: install ## Synthesize the CDK app offline into cdk.out
	@$(PY) -m deploy synth

deploy-aws: install ## Deploy to the AWS account of your profile (AWS_PROFILE, AWS_REGION; ALARM_EMAIL=you@example.com)
	@$(PY) -m deploy deploy $(if $(ALARM_EMAIL),-c alarm_email=$(ALARM_EMAIL))

e2e-aws: install ## Replay DATA against the deployed stack, reconcile (warehouse via the Data API; BATCH=1 runs the job)
	@$(PY) -m pipeline.client e2e --data "$(DATA)" --rows $(ROWS) --stack aws $(if $(filter 1,$(BATCH)),--batch)

destroy-aws: install ## Delete the deployed stack
	@$(PY) -m deploy destroy

LINTED := pipeline emulation deploy glue_local

lint: install ## Lint (ruff check), check formatting (ruff format --check) and type-check (mypy) the code
	@status=0; \
	$(VENV)/bin/ruff check $(LINTED) || status=1; \
	$(VENV)/bin/ruff format --check $(LINTED) || status=1; \
	$(VENV)/bin/mypy $(LINTED) || status=1; \
	exit $$status

clean: ## Remove the venv, local cloud state and build output (stop the cloud first)
	rm -rf $(VENV) .localcloud cdk.out .pytest_cache .e2e .ruff_cache .mypy_cache
