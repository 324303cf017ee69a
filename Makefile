.PHONY: setup test lint bench bench-replay bench-kernel bpf docs

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
bench: bench-replay bench-kernel

bench-replay:
	.venv/bin/memwarden bench

bench-kernel:
	.venv/bin/python -m memwarden.benchmarks.kernel_overhead
