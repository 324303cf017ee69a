.PHONY: setup test lint fuzz profile bench bench-replay bench-audit bench-rules bench-kernel bench-falco-events bench-latency bench-fleet bench-containers bpf docs simulate

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

# py-spy flamegraphs of one replay of the benchmark stream, prefiltered and not (gitignored)
PROFILE_DIR ?= profiles
PROFILE_EVENTS ?= 200000
profile:
	mkdir -p $(PROFILE_DIR)
	.venv/bin/python -m memwarden.benchmarks.replay --write $(PROFILE_DIR)/events.json --events $(PROFILE_EVENTS)
	.venv/bin/py-spy record --rate 250 -o $(PROFILE_DIR)/replay-prefiltered.svg -- \
		.venv/bin/python -m memwarden.benchmarks.replay --replay $(PROFILE_DIR)/events.json
	.venv/bin/py-spy record --rate 250 -o $(PROFILE_DIR)/replay-no-prefilter.svg -- \
		.venv/bin/python -m memwarden.benchmarks.replay --replay $(PROFILE_DIR)/events.json --no-prefilter
	@echo "flamegraphs: $(PROFILE_DIR)/replay-prefiltered.svg $(PROFILE_DIR)/replay-no-prefilter.svg"

# the container resolver's cost: replay with and without it, Event.completed() per event
# (also part of `memwarden bench`)
bench-containers:
	.venv/bin/python -m memwarden.benchmarks.containers

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
# the programs of the syscalls of Falco's rules against empty ones on the same tracepoints
bench-falco-events:
	.venv/bin/python -m memwarden.benchmarks.falco_events

bench-fleet:
	.venv/bin/python -m memwarden.benchmarks.fleet

# Fuzz every parser long (tests/fuzz): MEMWARDEN_FUZZ_EXAMPLES examples per harness, each of
# MEMWARDEN_FUZZ_BATCH inputs (lines, records; files are one each), randomised; the counts per
# harness are printed and appended to MEMWARDEN_FUZZ_REPORT. `pytest tests/` runs the same
# harnesses short and seeded. One harness: make fuzz FUZZ_ARGS="tests/fuzz -k audit".
MEMWARDEN_FUZZ_EXAMPLES ?= 5000
MEMWARDEN_FUZZ_REPORT ?= fuzz-report.txt
FUZZ_ARGS ?= tests/fuzz
fuzz:
	MEMWARDEN_FUZZ_EXAMPLES=$(MEMWARDEN_FUZZ_EXAMPLES) MEMWARDEN_FUZZ_REPORT=$(MEMWARDEN_FUZZ_REPORT) \
		.venv/bin/python -m pytest -q -s -p no:cacheprovider $(FUZZ_ARGS)
