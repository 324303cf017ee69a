"""A thin ctypes binding of the system libbpf (``libbpf.so.1``): objects, programs, maps, links.

Only what the sensor needs. Every call that can fail raises :class:`LibbpfError` carrying the
errno and the last lines libbpf logged (the verifier's complaint, a missing BTF type …), so
that the sensor can turn it into one clear line.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator

from memwarden.core.threads import signals_held, start_daemon

LIBBPF_SONAME = "libbpf.so.1"
LIBBPF_PACKAGE = "libbpf1"  # Debian/Ubuntu package that ships it

# enum libbpf_print_level
LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG = 0, 1, 2
# bpf_map_update_elem flags
BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2


class LibbpfError(OSError):
    """A libbpf call failed. ``errno`` is set; ``log`` holds libbpf's last messages."""

    def __init__(self, err: int, what: str, log: list[str] | None = None) -> None:
        super().__init__(err, f"{what}: {os.strerror(err)}")
        self.what = what
        self.log = log or []

    def __str__(self) -> str:
        return f"{self.what}: {os.strerror(self.errno)} (errno {self.errno})"


class LibbpfMissing(ImportError):
    """libbpf.so.1 cannot be loaded."""


_VA_LIST_SIZE = 32  # enough for x86_64 (24) and arm64 (32)

_print_fn_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class _Log:
    """libbpf's messages, kept (bounded) so that an error can show what libbpf said."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self.lines: deque[str] = deque(maxlen=20000)
        self.lock = threading.Lock()
        self.debug = os.environ.get("MEMWARDEN_LIBBPF_DEBUG", "") not in ("", "0")
        vsnprintf = libc.vsnprintf
        vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        vsnprintf.restype = ctypes.c_int
        buf = ctypes.create_string_buffer(8192)
        # va_copy by hand: va_list is a 24-byte (x86_64) or 32-byte (arm64) struct that the
        # callback receives by pointer; copying its bytes is what va_copy does on both.
        saved = ctypes.create_string_buffer(_VA_LIST_SIZE)

        def printer(level: int, fmt: bytes, ap: int) -> int:
            if level == LIBBPF_DEBUG and not self.debug:
                return 0
            with self.lock:
                ctypes.memmove(saved, ap, _VA_LIST_SIZE)
                n = vsnprintf(buf, len(buf), fmt, ap)
                if n >= len(buf):  # a verifier log: format again into a buffer that fits
                    big = ctypes.create_string_buffer(n + 1)
                    vsnprintf(big, n + 1, fmt, saved)
                    text = big.raw[:n].decode("utf-8", "replace")
                else:
                    text = buf.raw[: max(0, n)].decode("utf-8", "replace")
                for line in text.splitlines():
                    self.lines.append(line)
                if self.debug:
                    os.write(2, b"libbpf: " + text.encode())
            return 0

        # keep a reference: libbpf holds the raw pointer for the life of the process
        self.callback = _print_fn_t(printer)

    def mark(self) -> int:
        return len(self.lines)

    def since(self, mark: int) -> list[str]:
        with self.lock:
            lines = list(self.lines)
        # the deque is bounded: if it wrapped, return what is left
        return lines[mark:] if mark <= len(lines) else lines


class _Lib:
    """The loaded library and its function signatures (loaded once per process)."""

    _instance: _Lib | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        try:
            self.so = ctypes.CDLL(LIBBPF_SONAME, use_errno=True)
        except OSError as exc:
            raise LibbpfMissing(
                f"cannot load {LIBBPF_SONAME} ({exc}): install {LIBBPF_PACKAGE} (Debian/Ubuntu: "
                f"apt-get install {LIBBPF_PACKAGE}); it is the only thing memwarden's eBPF "
                "sensor needs at run time besides Python"
            ) from None
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.log = _Log(libc)
        so = self.so
        vp, cp, ci, cu32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32
        sigs: dict[str, tuple[list, object]] = {
            "libbpf_set_print": ([_print_fn_t], vp),
            "bpf_object__open_file": ([cp, vp], vp),
            "bpf_object__load": ([vp], ci),
            "bpf_object__close": ([vp], None),
            "bpf_object__find_program_by_name": ([vp, cp], vp),
            "bpf_object__next_program": ([vp, vp], vp),
            "bpf_object__find_map_by_name": ([vp, cp], vp),
            "bpf_object__next_map": ([vp, vp], vp),
            "bpf_program__name": ([vp], cp),
            "bpf_program__section_name": ([vp], cp),
            "bpf_program__set_autoload": ([vp, ctypes.c_bool], ci),
            "bpf_program__autoload": ([vp], ctypes.c_bool),
            "bpf_program__fd": ([vp], ci),
            "bpf_program__attach": ([vp], vp),
            "bpf_link__destroy": ([vp], ci),
            "bpf_link__fd": ([vp], ci),
            "bpf_map__fd": ([vp], ci),
            "bpf_map__name": ([vp], cp),
            "bpf_map__set_max_entries": ([vp, cu32], ci),
            "bpf_map__reuse_fd": ([vp, ci], ci),
            "bpf_program__insn_cnt": ([vp], ctypes.c_size_t),
            "bpf_map__max_entries": ([vp], cu32),
            "bpf_map__key_size": ([vp], cu32),
            "bpf_map__value_size": ([vp], cu32),
            "bpf_map_update_elem": ([ci, vp, vp, ctypes.c_uint64], ci),
            "bpf_map_lookup_elem": ([ci, vp, vp], ci),
            "bpf_map_delete_elem": ([ci, vp], ci),
            "bpf_map_get_next_key": ([ci, vp, vp], ci),
            "libbpf_num_possible_cpus": ([], ci),
            "bpf_obj_get_info_by_fd": ([ci, vp, ctypes.POINTER(cu32)], ci),
        }
        for name, (argtypes, restype) in sigs.items():
            fn = getattr(so, name)
            fn.argtypes = argtypes
            fn.restype = restype
        so.libbpf_set_print(self.log.callback)

    @classmethod
    def get(cls) -> _Lib:
        with cls._guard:
            if cls._instance is None:
                cls._instance = _Lib()
            return cls._instance


def lib() -> _Lib:
    return _Lib.get()


#: at most this many programs verified at a time (:meth:`BpfObject.load`)
MAX_LOAD_WORKERS = 4


def load_workers() -> int:
    """How many programs to verify at a time: one per CPU this process may run on, at most
    :data:`MAX_LOAD_WORKERS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - Linux has it
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_LOAD_WORKERS, cpus))


def _errno_of(ret: int) -> int:
    """libbpf 1.x returns ``-errno`` (and sets errno); prefer the return value."""
    if ret < 0:
        return -ret
    return ctypes.get_errno() or errno.EINVAL


def object_id(fd: int) -> int:
    """The kernel id of a BPF program, map or link file descriptor (what bpftool shows).
    bpf_prog_info, bpf_map_info and bpf_link_info all begin with u32 type, u32 id."""
    info = (ctypes.c_uint32 * 2)()
    size = ctypes.c_uint32(ctypes.sizeof(info))
    ret = lib().so.bpf_obj_get_info_by_fd(fd, info, ctypes.byref(size))
    if ret != 0:
        raise LibbpfError(_errno_of(ret), f"bpf_obj_get_info_by_fd({fd})")
    return int(info[1])


def possible_cpus() -> int:
    n = lib().so.libbpf_num_possible_cpus()
    if n <= 0:
        raise LibbpfError(-n if n < 0 else errno.EINVAL, "libbpf_num_possible_cpus")
    return n


class Map:
    """A BPF map of a loaded object: raw byte-level lookups and updates."""

    def __init__(self, ptr: int, name: str) -> None:
        self._ptr = ptr
        self.name = name
        so = lib().so
        self.fd = so.bpf_map__fd(ptr)
        self.key_size = so.bpf_map__key_size(ptr)
        self.value_size = so.bpf_map__value_size(ptr)
        self.max_entries = so.bpf_map__max_entries(ptr)

    def _key(self, key: bytes) -> ctypes.Array:
        if len(key) != self.key_size:
            raise ValueError(f"map {self.name}: key is {len(key)} bytes, expected {self.key_size}")
        return ctypes.create_string_buffer(key, len(key))

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        if len(value) != self.value_size:
            raise ValueError(
                f"map {self.name}: value is {len(value)} bytes, expected {self.value_size}")
        k = self._key(key)
        v = ctypes.create_string_buffer(value, len(value))
        ret = lib().so.bpf_map_update_elem(self.fd, k, v, flags)
        if ret != 0:
            raise LibbpfError(_errno_of(ret), f"update of map {self.name}")

    def lookup(self, key: bytes, value_size: int | None = None) -> bytes | None:
        """The value for ``key`` (``value_size``: per-CPU maps hold one value per CPU)."""
        k = self._key(key)
        size = value_size if value_size is not None else self.value_size
        v = ctypes.create_string_buffer(size)
        ret = lib().so.bpf_map_lookup_elem(self.fd, k, v)
        if ret != 0:
            err = _errno_of(ret)
            if err == errno.ENOENT:
                return None
            raise LibbpfError(err, f"lookup in map {self.name}")
        return v.raw

    def delete(self, key: bytes) -> bool:
        k = self._key(key)
        ret = lib().so.bpf_map_delete_elem(self.fd, k)
        if ret != 0:
            err = _errno_of(ret)
            if err == errno.ENOENT:
                return False
            raise LibbpfError(err, f"delete from map {self.name}")
        return True

    def iter_keys(self) -> Iterator[bytes]:
        """Every key (snapshot semantics of BPF_MAP_GET_NEXT_KEY: fine for small maps)."""
        so = lib().so
        cur = None
        nxt = ctypes.create_string_buffer(self.key_size)
        while True:
            ret = so.bpf_map_get_next_key(self.fd, cur, nxt)
            if ret != 0:
                err = _errno_of(ret)
                if err == errno.ENOENT:
                    return
                raise LibbpfError(err, f"iteration of map {self.name}")
            key = nxt.raw
            yield key
            cur = ctypes.create_string_buffer(key, len(key))


class Link:
    """An attached program. ``destroy`` detaches it (idempotent)."""

    def __init__(self, ptr: int, program: str) -> None:
        self._ptr: int | None = ptr
        self.program = program

    def destroy(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr:
            lib().so.bpf_link__destroy(ptr)

    @property
    def id(self) -> int:
        """The kernel's id of this link (bpftool link show id N)."""
        if self._ptr is None:
            raise ValueError(f"link of {self.program} is destroyed")
        return object_id(lib().so.bpf_link__fd(self._ptr))

    @property
    def attached(self) -> bool:
        return self._ptr is not None


class BpfObject:
    """An opened (then loaded) BPF ELF object. Close it to release every kernel resource."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lib = lib()
        mark = self._lib.log.mark()
        ctypes.set_errno(0)
        with signals_held():  # its log callback must not be where a SIGTERM is handled
            ptr = self._lib.so.bpf_object__open_file(os.fsencode(path), None)
        if not ptr:
            raise LibbpfError(_errno_of(0), f"cannot open BPF object {path}",
                              self._lib.log.since(mark))
        self._ptr: int | None = ptr
        self.loaded = False
        self._maps: dict[str, Map] = {}
        #: the objects that verified some of this one's programs (:meth:`load` with workers),
        #: by program name
        self._owners: dict[str, BpfObject] = {}

    # -- before load --------------------------------------------------------------------------
    def program_names(self) -> list[str]:
        so = self._lib.so
        return self._names(so.bpf_object__next_program, so.bpf_program__name)

    def map_names(self) -> list[str]:
        so = self._lib.so
        return self._names(so.bpf_object__next_map, so.bpf_map__name)

    def _names(self, next_of: Callable[[int, int | None], int | None],
               name_of: Callable[[int], bytes]) -> list[str]:
        """The names of the object's programs or maps, walked with libbpf's ``next``."""
        names: list[str] = []
        item = None
        while True:
            item = next_of(self._need(), item)
            if not item:
                return names
            names.append(name_of(item).decode())

    def _program(self, name: str) -> int:
        owner = self._owners.get(name)
        if owner is not None:
            return owner._program(name)
        prog = self._lib.so.bpf_object__find_program_by_name(self._need(), name.encode())
        if not prog:
            raise KeyError(f"{self.path}: no BPF program named {name!r}")
        return prog

    def section_of(self, name: str) -> str:
        return self._lib.so.bpf_program__section_name(self._program(name)).decode()

    def set_autoload(self, name: str, autoload: bool) -> None:
        ret = self._lib.so.bpf_program__set_autoload(self._program(name), autoload)
        if ret != 0:
            raise LibbpfError(_errno_of(ret), f"set_autoload({name})")

    def autoload(self, name: str) -> bool:
        return bool(self._lib.so.bpf_program__autoload(self._program(name)))

    def set_max_entries(self, map_name: str, entries: int) -> None:
        ret = self._lib.so.bpf_map__set_max_entries(self._map_ptr(map_name), entries)
        if ret != 0:
            raise LibbpfError(_errno_of(ret), f"set_max_entries({map_name})")

    def load(self, workers: int = 1) -> None:
        """Create the maps and load (verify) every program marked for autoload.

        ``workers`` > 1: the programs are verified that many at a time. The kernel verifies a
        privileged load without a global lock, but libbpf loads one object's programs one
        after the other, and the sensor's take seconds of CPU. So the maps are created once
        (an object loading no program), and each share of the programs (balanced by their
        instruction counts) is loaded by an object of its own that reuses those maps, in a
        thread of its own; this object loads the first share and answers for the others'
        programs (:meth:`attach`, :meth:`program_fd` ...)."""
        programs = [n for n in self.program_names() if self.autoload(n)]
        if workers < 2 or len(programs) < 2:
            self._load_programs()
            return
        shares = self._shares(programs, workers)
        maps = BpfObject(self.path)
        helpers: list[BpfObject] = []
        try:
            for m in self.map_names():
                maps.set_max_entries(m, self._lib.so.bpf_map__max_entries(self._map_ptr(m)))
            for name in maps.program_names():
                maps.set_autoload(name, False)
            maps._load_programs()
            for share in shares[1:]:
                helper = BpfObject(self.path)
                helpers.append(helper)
                for name in helper.program_names():
                    helper.set_autoload(name, name in share)
                helper._reuse_maps(maps)
                for name in share:  # the helper's to load, not this object's
                    self.set_autoload(name, False)
            self._reuse_maps(maps)
            failures: list[BaseException] = []

            def load_share(obj: BpfObject) -> None:
                try:
                    obj._load_programs()
                except BaseException as exc:  # re-raised by the caller below
                    failures.append(exc)

            threads = [start_daemon(threading.Thread(target=load_share, args=(h,),
                                                     name="memwarden-bpf-load"))
                       for h in helpers]
            try:
                load_share(self)
            finally:
                # a signal's handler (a SIGTERM) runs after every share is done with its
                # object, never while one is closed under another thread's load
                with signals_held():
                    for t in threads:
                        t.join()
            if failures:  # a signal's exit first, then the first share that failed
                raise next((f for f in failures if not isinstance(f, Exception)), failures[0])
        except BaseException:
            for helper in helpers:
                helper.close()
            raise
        finally:
            maps.close()
        for helper, share in zip(helpers, shares[1:], strict=True):
            for name in share:
                self._owners[name] = helper

    def _shares(self, programs: list[str], workers: int) -> list[set[str]]:
        """``programs`` in ``workers`` shares of about the same instruction count (the
        largest first, each to the lightest share), none empty."""
        so = self._lib.so
        sizes = {n: so.bpf_program__insn_cnt(self._program(n)) for n in programs}
        shares: list[tuple[int, set[str]]] = [(0, set()) for _ in range(min(workers,
                                                                            len(programs)))]
        for name in sorted(programs, key=lambda n: (-sizes[n], n)):
            k = min(range(len(shares)), key=lambda i: shares[i][0])
            total, share = shares[k]
            share.add(name)
            shares[k] = (total + sizes[name], share)
        return [share for _, share in shares]

    def _map_ptr(self, name: str) -> int:
        ptr = self._lib.so.bpf_object__find_map_by_name(self._need(), name.encode())
        if not ptr:
            raise KeyError(f"{self.path}: no BPF map named {name!r}")
        return ptr

    def _reuse_maps(self, source: BpfObject) -> None:
        """Before load: every map of this object is ``source``'s (loaded) one."""
        for name in self.map_names():
            ret = self._lib.so.bpf_map__reuse_fd(self._map_ptr(name), source.map(name).fd)
            if ret != 0:
                raise LibbpfError(_errno_of(ret), f"reuse of map {name}")

    def _load_programs(self) -> None:
        mark = self._lib.log.mark()
        ctypes.set_errno(0)
        with signals_held():  # the verifier's logging calls back into Python
            ret = self._lib.so.bpf_object__load(self._need())
        if ret != 0:
            raise LibbpfError(_errno_of(ret), f"cannot load BPF object {self.path}",
                              self._lib.log.since(mark))
        self.loaded = True

    # -- after load ---------------------------------------------------------------------------
    def map(self, name: str) -> Map:
        m = self._maps.get(name)
        if m is None:
            m = self._maps[name] = Map(self._map_ptr(name), name)
        return m

    def program_fd(self, name: str) -> int:
        return self._lib.so.bpf_program__fd(self._program(name))

    def program_id(self, name: str) -> int:
        """The kernel's id of a loaded program (bpftool prog show id N)."""
        return object_id(self.program_fd(name))

    def attach(self, name: str) -> Link:
        """Attach a loaded program where its section name says (tp/…, tp_btf/…, lsm/…)."""
        mark = self._lib.log.mark()
        ctypes.set_errno(0)
        with signals_held():
            ptr = self._lib.so.bpf_program__attach(self._program(name))
        if not ptr:
            raise LibbpfError(_errno_of(0), f"cannot attach BPF program {name} "
                              f"({self.section_of(name)})", self._lib.log.since(mark))
        return Link(ptr, name)

    def close(self) -> None:
        """Unload everything the object created (programs, maps). Links must be destroyed
        first (the sensor does); closing an object with live links leaves them attached only
        as long as their file descriptors live, which is until this process exits."""
        ptr, self._ptr = self._ptr, None
        self._maps.clear()
        for helper in {id(h): h for h in self._owners.values()}.values():
            helper.close()
        self._owners.clear()
        if ptr:
            self._lib.so.bpf_object__close(ptr)

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def _need(self) -> int:
        if self._ptr is None:
            raise ValueError(f"BPF object {self.path} is closed")
        return self._ptr

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
