#!/usr/bin/env bash
# Set memwarden up on a Debian 12 / Ubuntu host, as root: Debian packages, a virtualenv in
# .venv with the package installed, and the BPF object compiled from this repository's source.
#   bash scripts/setup.sh          what `memwarden run` needs
#   bash scripts/setup.sh --dev    plus what the tests and benchmarks need (auditd, gcc, make;
#                                  chromium + chromium-driver for the findings-console browser
#                                  tests, nats-server for the fleet tests, podman + runc +
#                                  busybox-static for the live container tests, containerd
#                                  for the live CRI test, gcc-multilib
#                                  and liburing-dev for the 32-bit and io_uring live tests)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
case "${1:-}" in
  --dev) dev=1 ;;
  "") ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "memwarden setup: run as root (it installs packages and loads BPF programs)" >&2
  exit 2
fi

packages=(python3 python3-venv python3-pip clang llvm libbpf-dev bpftool libelf1 zlib1g)
if [ "$dev" = 1 ]; then
  packages+=(auditd gcc make util-linux systemd openssl chromium chromium-driver nats-server
            podman runc busybox-static gcc-multilib liburing-dev containerd)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "memwarden setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "memwarden setup: $python is older than 3.11; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
extra="[nats,fast,cri]"
[ "$dev" = 1 ] && extra="[test,nats,fast,cri]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}"

if [ -f scripts/build-bpf.sh ]; then
  bash scripts/build-bpf.sh
fi

# The sensor needs tracefs and bpffs; they are not always mounted (containers, minimal VMs).
mountpoint -q /sys/kernel/tracing || mount -t tracefs none /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf none /sys/fs/bpf 2>/dev/null || true
echo "memwarden setup: ready ($(.venv/bin/memwarden --version))"
