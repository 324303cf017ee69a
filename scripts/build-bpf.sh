#!/usr/bin/env bash
# Compile memwarden's BPF programs (CO-RE, one object per .bpf.c) from this repository's source:
#   memwarden.bpf.o       the sensor (memwarden.bpf.c)
#   memwarden_test.bpf.o  the sensor plus programs only the tests load (memwarden_test.bpf.c)
#   empty.bpf.o           the empty hook the kernel-overhead benchmark compares against
#   bash scripts/build-bpf.sh            objects next to the sources, where the loader looks
#   MEMWARDEN_BPF_OUT=DIR bash scripts/build-bpf.sh   objects into DIR instead
# Needs clang, libbpf-dev (the bpf_helpers.h headers) and linux-libc-dev; no kernel headers and
# no generated vmlinux.h: the kernel types live in sources/ebpf/mw_core.h and libbpf relocates
# them against the running kernel's BTF when the sensor loads the object.
set -euo pipefail
cd "$(dirname "$0")/.."

src=src/memwarden/sources/ebpf
out=${MEMWARDEN_BPF_OUT:-$src}
clang=${CLANG:-clang}

case "$(uname -m)" in
  x86_64) arch=x86 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "build-bpf: unsupported architecture $(uname -m) (x86_64 and aarch64 are)" >&2; exit 2 ;;
esac

if ! command -v "$clang" >/dev/null 2>&1; then
  echo "build-bpf: $clang not found; install it: apt-get install clang llvm libbpf-dev" >&2
  exit 2
fi
if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
  echo "build-bpf: libbpf headers missing (/usr/include/bpf/bpf_helpers.h); install them: apt-get install libbpf-dev" >&2
  exit 2
fi
# <linux/bpf.h> includes <asm/types.h>, which Debian keeps under the multiarch include directory
multiarch=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"

strip=""
for s in llvm-strip llvm-strip-{19,18,17,16,15,14,13}; do
  if command -v "$s" >/dev/null 2>&1; then strip=$s; break; fi
done

mkdir -p "$out"
for c in "$src"/*.bpf.c; do
  name=$(basename "$c" .c)
  obj="$out/$name.o"
  "$clang" -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_"$arch" \
    -I"$src" -I/usr/include/"$multiarch" -Wall -Werror -Wno-unused-function \
    -c "$c" -o "$obj.tmp"
  # DWARF is not needed at run time; .BTF and .BTF.ext (CO-RE relocations) stay
  if [ -n "$strip" ]; then "$strip" -g "$obj.tmp"; fi
  mv "$obj.tmp" "$obj"
  echo "build-bpf: $obj"
done
