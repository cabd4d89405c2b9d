# salescast: the two commands a user needs are `make demo` and `make test`.
# Every target installs what it needs (a cached virtualenv; Kafka jars and Redis on first use).

VENV := .venv
PY := $(VENV)/bin/python
SALESCAST := $(VENV)/bin/salescast

.PHONY: help venv tools demo test test-unit test-integration test-scale lint bench clean

help:
	@echo "make demo              local Kafka + Redis, real data replayed, forecasts live over WebSocket"
	@echo "make test              lint, type check, unit + integration + browser tests"
	@echo "make test-unit         the quick unit run (no Kafka/Redis)"
	@echo "make test-scale        the multi-worker scale-out test alone (make test runs it too)"
	@echo "make bench             throughput/latency benchmark (prints figures and ratios)"
	@echo "make lint              ruff + mypy"

venv:
	@./infra/venv.sh

tools:
	@./infra/ensure-tools.sh

demo: venv
	$(SALESCAST) demo

test: venv tools lint
	$(PY) -m pytest -q

test-unit: venv
	$(PY) -m pytest -q -m "not integration and not browser"

test-integration: venv tools
	$(PY) -m pytest -q -m "integration"

test-scale: venv tools
	$(PY) -m pytest -q tests/integration/test_scale_out.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy salescast stream models gateway infra contracts config benchmarks sources

bench: venv
	$(SALESCAST) bench

clean:
	rm -rf .salescast .pytest_cache .mypy_cache .ruff_cache
