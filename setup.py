"""The build hook: a wheel carries the compiled CO-RE BPF probe, so that installing memwarden
needs no compiler, only the system libbpf (libbpf1).

``build_py`` compiles the probe into the build tree with the same code as
``scripts/build-bpf.sh`` (``src/memwarden/sources/ebpf/probe_build.py``, loaded by path: pip's
isolated build environment has setuptools, not memwarden). Only clang and the libbpf headers
are needed, on PATH and in /usr/include, and only here: a clear error names them when they are
missing. Objects lying in the source tree (a developer's build) are never packaged: the wheel
gets the ones compiled now, with their manifests (source hash, compiler). An editable install
(``pip install -e``, what ``scripts/setup.sh`` does) compiles nothing: the dev tree's objects
come from ``scripts/build-bpf.sh``.

The wheel is tagged ``py3-none-<platform>``: the BPF objects are built for the machine's
architecture (syscall argument registers differ between x86_64 and arm64), yet nothing in the
wheel links against the C library, hence the manylinux tag.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py
from setuptools.errors import ExecError

try:
    from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:  # setuptools < 70.1
    try:
        from wheel.bdist_wheel import bdist_wheel as _bdist_wheel
    except ImportError:  # no wheel either: an sdist (or an old-style install), no tag to set
        _bdist_wheel = None

HERE = Path(__file__).resolve().parent
PROBE_DIR = Path("src/memwarden/sources/ebpf")
PACKAGE_PROBE_DIR = Path("memwarden/sources/ebpf")
#: the objects a wheel carries: the sensor, doctor's probes, the benchmark's empty hook
#: (memwarden_test.bpf.c is for the test suite, which runs from a checkout)
WHEEL_OBJECTS = ["memwarden.bpf.c", "mw_doctor.bpf.c", "empty.bpf.c"]


def _probe_build():
    spec = importlib.util.spec_from_file_location("memwarden_probe_build",
                                                  HERE / PROBE_DIR / "probe_build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class build_py(_build_py):  # noqa: N801 - setuptools' command name
    """Also compile the probe into the build tree (not for editable installs)."""

    def run(self) -> None:
        super().run()
        out = Path(self.build_lib) / PACKAGE_PROBE_DIR
        for stale in [*out.glob("*.bpf.o"), *out.glob("*.bpf.o.json")]:
            stale.unlink()  # a previous build's, or a dev tree's
        if getattr(self, "editable_mode", False):
            return
        pb = _probe_build()
        try:
            pb.build(out, HERE / PROBE_DIR, WHEEL_OBJECTS, log=lambda m: self.announce(m, 2))
        except pb.BuildError as exc:
            raise ExecError(f"memwarden: cannot build the BPF probe: {exc}") from None


cmdclass: dict[str, type] = {"build_py": build_py}
if _bdist_wheel is not None:

    class bdist_wheel(_bdist_wheel):  # noqa: N801 - setuptools' command name
        """Python-only (purelib) contents, an architecture's tag."""

        def get_tag(self) -> tuple[str, str, str]:
            machine = platform.machine()
            return "py3", "none", f"manylinux_2_17_{machine}.manylinux2014_{machine}"

    cmdclass["bdist_wheel"] = bdist_wheel

setup(cmdclass=cmdclass)
