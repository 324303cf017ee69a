"""Compile the CO-RE BPF probe and record what it was built from: the one implementation behind
``scripts/build-bpf.sh`` (development), the wheel's build hook (``setup.py``) and the sensor's
staleness check.

CO-RE means one object runs on every kernel with BTF, so the object is built once, when the
wheel (or the sdist's wheel) is built, and the installed package needs only the system libbpf.
Beside every object ``X.bpf.o`` this writes ``X.bpf.o.json``: the SHA-256 over the probe's
sources (every ``*.bpf.c`` and ``*.h`` of the source directory, names and contents), the
object's own SHA-256 and the compiler. Staleness is judged from that content hash, never from
mtimes: an installed package's mtimes are whatever the installer left, and a checkout's say
when git wrote the file, not what is in it.

Standard library only, and no import of memwarden: the build hook runs in pip's isolated build
environment, where memwarden is not installed, and loads this file by path. Run as a script:
``python3 src/memwarden/sources/ebpf/probe_build.py [--out DIR] [NAME.bpf.c ...]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent
MANIFEST_SUFFIX = ".json"
MANIFEST_FORMAT = 1
HELPERS_HEADER = Path("/usr/include/bpf/bpf_helpers.h")
INSTALL_HINT = "apt-get install clang llvm libbpf-dev"
STRIPPERS = ("llvm-strip", *(f"llvm-strip-{v}" for v in range(21, 12, -1)))
ARCHES = {"x86_64": "x86", "aarch64": "arm64", "arm64": "arm64"}


class BuildError(Exception):
    """The probe cannot be built here; ``str()`` says what to install or fix."""


# -- what the probe is built from -------------------------------------------------------------

def source_files(src_dir: Path = SOURCE_DIR) -> list[Path]:
    """The probe's sources, in a fixed order: every ``*.bpf.c`` and ``*.h`` of ``src_dir``."""
    files = [*src_dir.glob("*.bpf.c"), *src_dir.glob("*.h")]
    return sorted((f for f in files if f.is_file()), key=lambda f: f.name)


def source_hash(src_dir: Path = SOURCE_DIR) -> str | None:
    """SHA-256 (hex) over the sources' names and contents; None when there are none (no
    sources beside the package)."""
    files = source_files(src_dir)
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        data = f.read_bytes()
        h.update(f"{f.name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_path(obj: Path) -> Path:
    """``X.bpf.o`` -> ``X.bpf.o.json``."""
    return obj.with_name(obj.name + MANIFEST_SUFFIX)


def read_manifest(obj: Path) -> dict | None:
    """The manifest beside ``obj``; None when it is missing or unreadable."""
    try:
        data = json.loads(manifest_path(obj).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("source_sha256"), str):
        return None
    return data


@dataclass(frozen=True)
class ProbeState:
    """What is known about a compiled object: its manifest's source hash (None: no manifest),
    and ``problem``, a sentence when it may not match this package's sources."""

    object: Path
    source_sha256: str | None
    problem: str | None

    @property
    def short_hash(self) -> str:
        return self.source_sha256[:12] if self.source_sha256 else "unknown"


def probe_state(obj: Path, src_dir: Path = SOURCE_DIR, rebuild: str = "") -> ProbeState:
    """Judge ``obj`` by content. ``src_dir``: where this package's probe sources are (a dev
    tree, or an installed package, which carries them too); no sources there, nothing to
    compare but the manifest. ``rebuild``: the command to name in the problem."""
    fix = f"; rebuild it with {rebuild}" if rebuild else ""
    manifest = read_manifest(obj)
    if manifest is None:
        return ProbeState(obj, None, f"{obj} has no build manifest ({manifest_path(obj).name}), "
                                     f"so whether it matches the probe sources is unknown{fix}")
    recorded = manifest["source_sha256"]
    try:
        if manifest.get("object_sha256") not in (None, file_hash(obj)):
            return ProbeState(obj, recorded, f"{obj} is not the object its manifest "
                                             f"({manifest_path(obj).name}) describes{fix}")
        now = source_hash(src_dir)
    except OSError as exc:
        return ProbeState(obj, recorded, f"cannot read {exc.filename}: {exc.strerror}")
    if now is not None and now != recorded:
        return ProbeState(obj, recorded, f"the probe sources in {src_dir} changed since {obj} "
                                         f"was built (source hash {now[:12]}, object built from "
                                         f"{recorded[:12]}){fix}")
    return ProbeState(obj, recorded, None)


# -- building ---------------------------------------------------------------------------------

def target_arch(machine: str | None = None) -> str:
    machine = machine or platform.machine()
    try:
        return ARCHES[machine]
    except KeyError:
        raise BuildError(f"unsupported architecture {machine} (x86_64 and aarch64 are)") from None


def _multiarch() -> str:
    """Debian keeps <asm/types.h> (included by <linux/bpf.h>) under the multiarch directory."""
    gcc = shutil.which("gcc")
    if gcc:
        r = subprocess.run([gcc, "-print-multiarch"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    return f"{platform.machine()}-linux-gnu"


def compiler_version(clang: str) -> str:
    r = subprocess.run([clang, "--version"], capture_output=True, text=True)
    return r.stdout.splitlines()[0].strip() if r.returncode == 0 and r.stdout else clang


def find_clang(clang: str | None = None) -> str:
    name = clang or os.environ.get("CLANG") or "clang"
    found = shutil.which(name)
    if not found:
        raise BuildError(f"{name} not found: compiling memwarden's BPF probe needs clang "
                         f"({INSTALL_HINT}); only building needs it, the installed package "
                         "needs only libbpf1")
    return found


def compile_flags(src_dir: Path, arch: str) -> list[str]:
    return ["-O2", "-g", "-target", "bpf", "-mcpu=v3", f"-D__TARGET_ARCH_{arch}",
            f"-I{src_dir}", f"-I/usr/include/{_multiarch()}", "-Wall", "-Werror",
            "-Wno-unused-function"]


def build(out_dir: Path, src_dir: Path = SOURCE_DIR, names: list[str] | None = None,
          clang: str | None = None, log=print) -> list[Path]:
    """Compile ``names`` (``*.bpf.c`` file names; default: all of ``src_dir``) into
    ``out_dir``, each with its manifest. Returns the objects written."""
    clang_path = find_clang(clang)
    if not HELPERS_HEADER.is_file():
        raise BuildError(f"libbpf headers missing ({HELPERS_HEADER}): install them: "
                         f"{INSTALL_HINT}")
    arch = target_arch()
    sources = [src_dir / n for n in names] if names else sorted(src_dir.glob("*.bpf.c"))
    for s in sources:
        if not s.is_file():
            raise BuildError(f"no probe source {s}")
    flags = compile_flags(src_dir, arch)
    strip = next((s for s in STRIPPERS if shutil.which(s)), None)
    digest = source_hash(src_dir)
    version = compiler_version(clang_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sources:
        obj = out_dir / (src.name[: -len(".c")] + ".o")
        tmp = obj.with_name(obj.name + ".tmp")
        r = subprocess.run([clang_path, *flags, "-c", str(src), "-o", str(tmp)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise BuildError(f"clang failed on {src}:\n{r.stderr.strip()}")
        # DWARF is not needed at run time; .BTF and .BTF.ext (CO-RE relocations) stay
        if strip:
            subprocess.run([strip, "-g", str(tmp)], check=True)
        os.replace(tmp, obj)
        manifest = {
            "format": MANIFEST_FORMAT,
            "object": obj.name,
            "source": src.name,
            "source_sha256": digest,
            "sources": [f.name for f in source_files(src_dir)],
            "object_sha256": file_hash(obj),
            "compiler": version,
            "target_arch": arch,
            "flags": [f for f in flags if not f.startswith("-I")],
        }
        mtmp = manifest_path(obj).with_name(manifest_path(obj).name + ".tmp")
        mtmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        os.replace(mtmp, manifest_path(obj))
        log(f"build-bpf: {obj} (probe {digest[:12] if digest else '?'})")
        written.append(obj)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="build-bpf", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None,
                   help="where the objects go (default: beside the sources)")
    p.add_argument("names", nargs="*", help="*.bpf.c files to build (default: all)")
    args = p.parse_args(argv)
    try:
        build(args.out or SOURCE_DIR, SOURCE_DIR, args.names or None)
    except BuildError as exc:
        print(f"build-bpf: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
