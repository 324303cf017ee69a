.PHONY: setup test lint bench bench-replay bench-audit bench-rules bench-kernel bench-latency bench-fleet bpf docs simulate

setup:
	bash scripts/setup.sh --dev

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check src tests

bpf:
	bash scripts/build-bpf.sh

docs:
	.venv/bin/memwarden signatures docs --out docs/signatures

# Benchmarks are commands, never timed assertions in tests.
bench: bench-replay bench-audit bench-rules bench-kernel bench-latency

bench-replay:
	.venv/bin/memwarden bench

bench-audit:
	.venv/bin/memwarden bench --audit

# Falco rules vs built-in signatures only; RULES=... to measure other files (e.g. Falco's own)
RULES ?= tests/data/rules/seed004.yaml
bench-rules:
	.venv/bin/memwarden rules bench $(RULES)

bench-latency:
	.venv/bin/python -m memwarden.benchmarks.latency

simulate:
	.venv/bin/memwarden simulate

bench-kernel:
	.venv/bin/python -m memwarden.benchmarks.kernel_overhead

# JetStream consumers (one, then two sharing a durable) against a loopback nats-server
bench-fleet:
	.venv/bin/python -m memwarden.benchmarks.fleet
