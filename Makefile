# xtomp: `make run` starts the broker, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q
# Plugins installed (editable) into .venv and tested by `make test`.
PLUGINS := topics queues filters admin websocket jwt cluster
WHEELHOUSE := .cache/wheelhouse
STAMP := $(VENV)/.installed
# @stomp/stompjs for the filters plugin's node tests, pinned by its package-lock.json.
STOMPJS := plugins/filters/tests/stompjs
STOMPJS_STAMP := $(STOMPJS)/node_modules/.package-lock.json

# Browser and node tests: Debian's Chromium (installed once, shared), and each plugin's pinned
# npm packages (playwright-core drives the system Chromium; no browser download).
BROWSER_DIR := tools/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.installed
JS := plugins/websocket/js
JS_STAMP := $(JS)/node_modules/.installed

.PHONY: install install-browser chromium redis js-deps test-tools run test typecheck docs dist fuzz bench bench-compare rabbitmq clean

$(STAMP): pyproject.toml setup.py xtomp_core/protocol/_scanner.c testing/pyproject.toml $(wildcard plugins/*/pyproject.toml) requirements/*.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip>=24"
	$(PIP) install -r requirements/test.txt
	# editable_mode=compat: each distribution is a plain path in a .pth file. The default
	# installs an import hook per distribution that every Python started from .venv loads
	# with pathlib, urllib.parse, ipaddress... (10.9 instead of 9.8 MB for python -c pass).
	# setuptools calls compat transitional: where it is gone, the default mode is used.
	$(PIP) install --config-settings editable_mode=compat -e . -e testing $(foreach p,$(PLUGINS),-e plugins/$(p)) || \
	  $(PIP) install -e . -e testing $(foreach p,$(PLUGINS),-e plugins/$(p))
	# Wheels the slim-install test installs offline (tests never reach the network).
	$(PIP) download --only-binary=:all: -d $(WHEELHOUSE) -r requirements/slim.txt
	touch $@

# npm ci writes node_modules/.package-lock.json (make test-tools has checked for npm).
$(STOMPJS_STAMP): $(STOMPJS)/package-lock.json
	npm ci --prefix $(STOMPJS) --no-audit --no-fund --loglevel=error

install: $(STAMP)

# What `make test` needs besides Python: it stops here, naming what to install, rather than
# letting the tests that need a tool skip (XTOMP_REQUIRE_TOOLS=1 turns such skips into failures).
test-tools:
	@missing=""; packages=""; \
	command -v node >/dev/null 2>&1 || { missing="$$missing node"; packages="$$packages nodejs"; }; \
	command -v npm >/dev/null 2>&1 || { missing="$$missing npm"; packages="$$packages npm"; }; \
	command -v gcc >/dev/null 2>&1 || { missing="$$missing gcc"; packages="$$packages gcc"; }; \
	test -f "$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" || \
	  { missing="$$missing Python.h"; packages="$$packages python3-dev"; }; \
	if [ -n "$$missing" ]; then \
	  echo "make test: missing$$missing; install them (Debian: apt-get install$$packages) and run make test again." >&2; \
	  exit 1; \
	fi

chromium:
	test -x /usr/bin/chromium || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) || \
	  (echo "make test: /usr/bin/chromium is missing and could not be installed: install Debian's chromium (apt-get install chromium) and run make test again." >&2; exit 1)

# The cluster plugin's tests start their own redis-server on free ports. Debian's redis-tools
# has the program (redis-check-rdb, which serves when run as redis-server) without the
# redis-server package's system service, so nothing is started or enabled on the machine.
redis:
	test -x /usr/bin/redis-server || test -x /usr/bin/redis-check-rdb || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-tools) || \
	  (echo "make test: redis-server is missing and could not be installed: install Debian's redis-tools (apt-get install redis-tools) and run make test again." >&2; exit 1)

install-browser: chromium $(BROWSER_STAMP)

$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	npm ci --prefix $(BROWSER_DIR) --no-audit --no-fund --loglevel=error
	touch $@

js-deps: $(JS_STAMP)

$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install
	$(BIN)/xtomp -c conf.d

test: test-tools redis install $(STOMPJS_STAMP) install-browser js-deps typecheck
	rm -f .coverage .coverage.*
	XTOMP_REQUIRE_TOOLS=1 XTOMP_WHEELHOUSE=$(abspath $(WHEELHOUSE)) $(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

# What mypy --strict checks, twice: for the Python running it (pyproject.toml's python_version) and
# for 3.10, the oldest supported (no tomllib, typing.Self, StrEnum, asyncio.timeout, ExceptionGroup...).
TYPECHECKED := xtomp_core testing/xtomp_testing plugins/topics/xtomp_topics plugins/queues/xtomp_queues plugins/filters/xtomp_filters plugins/admin/xtomp_admin plugins/websocket/xtomp_websocket plugins/jwt/xtomp_jwt plugins/cluster/xtomp_cluster \
	  examples/xtomp-blackhole/xtomp_blackhole examples/xtomp-lastvalue/xtomp_lastvalue examples/xtomp-apikeys/xtomp_apikeys \
	  examples/xtomp-regexfilter/xtomp_regexfilter bench

typecheck: install
	$(BIN)/mypy $(TYPECHECKED)
	$(BIN)/mypy --python-version 3.10 --cache-dir .mypy_cache/3.10 $(TYPECHECKED)

# Coverage-guided fuzzing of the parser and Session with atheris (libFuzzer ships in its
# wheel) for FUZZ_SECONDS; the corpus grows in .cache/fuzz, seeds come from fuzz/seeds.
FUZZ_SECONDS ?= 60
fuzz: install
	$(PIP) install -r requirements/fuzz.txt
	mkdir -p .cache/fuzz/corpus
	$(BIN)/python fuzz/fuzz_parser.py -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	  -dict=fuzz/stomp.dict -artifact_prefix=.cache/fuzz/ -print_final_stats=1 .cache/fuzz/corpus fuzz/seeds

# The benchmark: the load generator (C, built with gcc) against its own sink and xtomp.
bench: install
	$(BIN)/python -m bench.run --brokers sink,xtomp $(BENCH_ARGS)

# The same scenarios against RabbitMQ's STOMP plugin too, in the same run, with ratios.
bench-compare: install rabbitmq
	$(BIN)/python -m bench.run --brokers sink,xtomp,rabbitmq $(BENCH_ARGS)

rabbitmq:
	command -v rabbitmq-server >/dev/null || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server)

docs: install
	$(BIN)/python -m tools.gen_docs

# An sdist and a pure-Python (py3-none-any) wheel of xtomp-core, xtomp-testing, every plugin and
# every example, into dist/: what a device installs offline (README, "Slim install on a device").
dist: install
	rm -rf dist
	$(BIN)/python -m tools.dist

clean:
	rm -rf $(VENV) dist .cache .coverage .coverage.* .mypy_cache .pytest_cache .hypothesis $(BROWSER_DIR)/node_modules $(JS)/node_modules $(STOMPJS)/node_modules
