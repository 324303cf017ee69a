#!/usr/bin/env bash
# Compile memwarden's BPF programs (CO-RE, one object per .bpf.c) from this repository's source,
# each with its manifest X.bpf.o.json (the SHA-256 of the sources it was built from: the sensor
# judges staleness by it, never by mtimes):
#   memwarden.bpf.o       the sensor (memwarden.bpf.c)
#   memwarden_test.bpf.o  the sensor plus programs only the tests load (memwarden_test.bpf.c)
#   mw_doctor.bpf.o       the tiny programs `memwarden doctor` loads to see what the kernel allows
#   empty.bpf.o           the empty hook the kernel-overhead benchmark compares against
#   bash scripts/build-bpf.sh            objects next to the sources, where the loader looks
#   MEMWARDEN_BPF_OUT=DIR bash scripts/build-bpf.sh   objects into DIR instead
# For development; a wheel (`pip wheel .`, setup.py) builds them with the same code,
# src/memwarden/sources/ebpf/probe_build.py. Needs clang, libbpf-dev (the bpf_helpers.h
# headers) and linux-libc-dev; no kernel headers and no generated vmlinux.h: the kernel types
# live in sources/ebpf/mw_core.h and libbpf relocates them against the running kernel's BTF
# when the sensor loads the object.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
if [ -n "${MEMWARDEN_BPF_OUT:-}" ]; then args+=(--out "$MEMWARDEN_BPF_OUT"); fi
exec "${PYTHON:-python3}" src/memwarden/sources/ebpf/probe_build.py "${args[@]}" "$@"
