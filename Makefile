# The two commands: `make run` (serve the platform with demo data) and `make test` (the suite).
# Both create the virtualenv and install the pinned dependencies on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.lock | cut -c1-12)

.PHONY: run test install lint migrate demo serve worker beat lock bench clean contracts contracts-check

$(STAMP): requirements.lock client/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e client/
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## Serve the platform on http://$(HOST):$(PORT) with demo data (embedded defaults unless configured).
run: install migrate demo serve

migrate: install
	$(PY) manage.py migrate --no-input

demo: install
	$(PY) manage.py seed_demo

serve: install
	$(PY) -m rlhf_platform.serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

## Run the whole test suite (and the linter). DATABASE_URL / REDIS_URL select real services.
## The tests run in one process per core (at most 4, a test file per process at a time);
## TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= auto
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check rlhf_platform annotate rewards tests bench

## Production-mode helpers (need REDIS_URL).
## One Celery worker per queue (rlhf_platform/workers.py); WORKER_CONCURRENCY=webhooks=8,...
worker: install
	$(PY) -m rlhf_platform.workers --loglevel=INFO

beat: install
	$(VENV)/bin/celery -A rlhf_platform beat --loglevel=INFO

## Rebuild the contracts' committed ABI + bytecode (rewards/contracts/build/*.json) with vyper
## 0.4.3 in its own environment (.venv-vyper: vyper pins cbor2<6, which .venv must not get).
## contracts-check rebuilds and fails if the committed artifacts are not byte-identical.
VYPER_VENV ?= .venv-vyper

$(VYPER_VENV)/bin/vyper:
	$(PYTHON) -m venv $(VYPER_VENV)
	$(VYPER_VENV)/bin/pip install --quiet vyper==0.4.3

contracts: $(VYPER_VENV)/bin/vyper
	$(VYPER_VENV)/bin/python rewards/contracts/build.py

contracts-check: contracts
	git diff --exit-code -- rewards/contracts/build

## Re-resolve the pinned set from requirements-dev.in (needs the registry).
lock:
	rm -rf /tmp/rlhf-lock-venv && $(PYTHON) -m venv /tmp/rlhf-lock-venv
	/tmp/rlhf-lock-venv/bin/pip install --quiet --upgrade pip
	/tmp/rlhf-lock-venv/bin/pip install --quiet -r requirements-dev.in
	/tmp/rlhf-lock-venv/bin/pip freeze --exclude-editable | sort -f > requirements.lock

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache
