# xtomp: `make run` starts the broker, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q
# Plugins installed (editable) into .venv and tested by `make test`.
PLUGINS := topics jwt
WHEELHOUSE := .cache/wheelhouse
STAMP := $(VENV)/.installed

.PHONY: install run test typecheck docs fuzz bench bench-compare rabbitmq clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) requirements/*.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip>=24"
	$(PIP) install -r requirements/test.txt
	$(PIP) install -e . $(foreach p,$(PLUGINS),-e plugins/$(p))
	# Wheels the slim-install test installs offline (tests never reach the network).
	$(PIP) download --only-binary=:all: -d $(WHEELHOUSE) -r requirements/slim.txt
	touch $@

install: $(STAMP)

run: install
	$(BIN)/xtomp -c conf.d

test: install typecheck
	rm -f .coverage .coverage.*
	XTOMP_WHEELHOUSE=$(abspath $(WHEELHOUSE)) $(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

typecheck: install
	$(BIN)/mypy xtomp_core

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

clean:
	rm -rf $(VENV) .cache .coverage .coverage.* .mypy_cache .pytest_cache .hypothesis
