"""Probe records -> events: every kind's arguments and context, the dict identical to what
``Event.new`` builds (same keys, same order), paths the kernel could not judge normalised and
filtered in user space, container ids from cgroup paths, malformed records refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memwarden.core.event import TRACEE_FIELD_NAMES, Event
from memwarden.core.pathset import PathSet
from memwarden.core.requirements import PathFilter
from memwarden.enrich.dir_identity import DirIdentity
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.decode import (
    DecodeError,
    RecordDecoder,
    container_id_from_cgroup,
    exit_signal,
    normalise,
)

CID = "0123456789abcdef" * 4


def record(kind: int, body: bytes = b"", strings: tuple[bytes, ...] = (), *, flags: int = 0,
           retval: int = 3, nr: int = 257, comm: bytes = b"cat", ts: int = 5_000_000_000,
           exe: bytes = b"/usr/bin/cat", cgroup: bytes = b"", node: bytes = b"box",
           size: int | None = None, mnt_ns: int = 4026531840) -> bytes:
    slots = list(strings) + [b""] * (3 - len(strings)) + [exe, cgroup, node]
    total = L.RECORD_FIXED + sum(map(len, slots))
    header = L.HEADER.pack(ts, 1_000_000_000, 77, retval, total if size is None else size, kind,
                           flags, 4242, 4243, 1, 42, 43, 0, 1000, mnt_ns, 4026531836, nr, 1,
                           *map(len, slots), comm)
    return header + body.ljust(L.BODY_SIZE, b"\0") + b"".join(slots)


def decoder(path_sets: dict | None = None, dir_identity: DirIdentity | None = None
            ) -> RecordDecoder:
    d = RecordDecoder(path_check=(path_sets or {}).get, hostname="host",
                      syscalls=L.syscall_table("x86_64"), dir_identity=dir_identity)
    d.mono_to_epoch = 1_700_000_000_000_000_000
    return d


def decode(rec: bytes, **kw) -> Event | None:
    return decoder(**kw).decode(memoryview(rec), 0, len(rec))


def args(ev: Event) -> dict:
    return {a["name"]: a["value"] for a in ev.args}


def test_file_open_and_the_whole_context() -> None:
    body = L.BODY_FILE.pack(131, 1_650_000_000_000_000_000, (8 << 20) | 1, 0o100000, 0o100644, 0)
    ev = decode(record(L.KIND_FILE_OPEN, body, (b"/proc/kcore", b"kcore"), cgroup=b"docker-" +
                       CID.encode() + b".scope/system.slice"))
    assert ev is not None
    expected = Event.new(
        "security_file_open",
        [("pathname", "const char*", "/proc/kcore"), ("flags", "int", 0o100000),
         ("dev", "dev_t", (8 << 20) | 1), ("inode", "unsigned long", 131),
         ("ctime", "unsigned long", 1_650_000_000_000_000_000),
         ("syscall_pathname", "const char*", "kcore"), ("real_pathname", "const char*", ""),
         ("fs_magic", "unsigned long", 0), ("rdev", "dev_t", 0), ("proc_host_pid", "int", 0),
         ("core_store", "int", 0)],
        timestamp=1_700_000_005_000_000_000, threadStartTime=1_700_000_001_000_000_000,
        processorId=1, processId=42, cgroupId=77, threadId=43, parentProcessId=0,
        hostProcessId=4242, hostThreadId=4243, hostParentProcessId=1, userId=1000,
        mountNamespace=4026531840, pidNamespace=4026531836, processName="cat",
        executable={"path": "/usr/bin/cat"}, hostName="box", containerId=CID,
        container={"id": CID}, returnValue=3, syscall="openat",
        contextFlags={"containerStarted": True, "isCompat": False})
    assert ev.data == expected.data
    assert list(ev.data) == list(expected.data) == [*TRACEE_FIELD_NAMES]
    assert ev.origin == "container"


def test_hostname_and_syscall_fallbacks() -> None:
    ev = decode(record(L.KIND_FILE_OPEN, strings=(b"/x",), node=b"", nr=437))
    assert ev.data["hostName"] == "host" and ev.data["syscall"] == "openat2"
    ev = decode(record(L.KIND_FILE_OPEN, strings=(b"/x",), nr=99999))
    assert ev.data["syscall"] == ""


def test_compat_and_io_uring_records() -> None:
    """A 32-bit syscall's record: isCompat, the syscall named from the i386 numbers; an
    io_uring request's: syscall io_uring_enter (its number is no syscall's)."""
    ev = decode(record(L.KIND_FILE_OPEN, strings=(b"/proc/kcore",), flags=L.F_COMPAT, nr=5))
    assert ev.data["contextFlags"]["isCompat"] is True and ev.data["syscall"] == "open"
    ev = decode(record(L.KIND_FILE_OPEN, strings=(b"/x",), flags=L.F_COMPAT, nr=295))
    assert ev.data["syscall"] == "openat"  # x86_64's 295 is preadv
    ev = decode(record(L.KIND_KILL, L.BODY_SYSCALL.pack(7, 9, 0, 0, 0, 0, 0), flags=L.F_COMPAT,
                       nr=37))
    assert ev.data["syscall"] == "kill" and ev.data["contextFlags"]["isCompat"] is True
    assert args(ev) == {"pid": 7, "sig": 9}
    ev = decode(record(L.KIND_FILE_OPEN, strings=(b"/proc/kcore",), flags=L.F_IO_URING,
                       nr=-1))
    assert ev.data["syscall"] == "io_uring_enter"
    assert ev.data["contextFlags"]["isCompat"] is False
    ev = decode(record(L.KIND_INODE_UNLINK, strings=(b"/var/lib/systemd/coredump/core.1",),
                       flags=L.F_IO_URING, nr=-1, retval=0))
    assert ev.data["syscall"] == "io_uring_enter"


def test_non_utf8_strings_are_kept_visible() -> None:
    ev = decode(record(L.KIND_FILE_OPEN, strings=(b"/tmp/\xff\xfe",), comm=b"c\xffat"))
    assert args(ev)["pathname"] == "/tmp/\\xff\\xfe"
    assert ev.data["processName"] == "c\\xffat"


def test_exec_fork_exit() -> None:
    argv = b"/bin/echo\0hello\0world\0"
    body = L.BODY_EXEC.pack(99, 0, 2049, 0, 0o100755, 3, 0x1FF, 0, 0x3, len(argv), 1000, 7,
                            8, 8, 34816, 100, 1000)
    ev = decode(record(L.KIND_PROCESS_EXEC, body,
                       (b"/usr/bin/echo", b"/bin/echo", argv + b"/home/u"), nr=59))
    assert args(ev) == {"cmdpath": "/bin/echo", "pathname": "/usr/bin/echo",
                        "argv": ["/bin/echo", "hello", "world"], "dev": 2049, "inode": 99,
                        "cwd": "/home/u", "loginuid": 1000, "sid": 7, "pgid": 8, "vpgid": 8,
                        "tty": 34816, "gid": 100, "euid": 1000, "cap_permitted": 0x1FF,
                        "cap_inheritable": 0, "cap_effective": 0x3}
    assert ev.data["syscall"] == "execve"
    body = L.BODY_FORK.pack(2_000, 10, 1, 10, 1, 11, 2, 11, 2)
    ev = decode(record(L.KIND_PROCESS_FORK, body, nr=56))
    a = args(ev)
    got = (a["parent_tid"], a["parent_ns_pid"], a["child_pid"], a["child_ns_tid"])
    assert got == (10, 1, 11, 2)
    assert a["start_time"] == 1_700_000_000_000_002_000
    for code, sig, core in ((0x8B, 11, True), (0x0B, 11, False), (3 << 8, 0, False), (0, 0, False)):
        ev = decode(record(L.KIND_PROCESS_EXIT, L.BODY_EXIT.pack(code, 1), retval=0))
        assert args(ev) == {"exit_code": code, "process_group_exit": True, "signal": sig,
                            "core_dumped": core}
    assert exit_signal(0x86) == (6, True)


def test_syscall_events_sign_and_names() -> None:
    neg1 = (1 << 64) - 1
    ev = decode(record(L.KIND_KILL, L.BODY_SYSCALL.pack(neg1, 11, 0, 0, 0, 0, 0), retval=0,
                       nr=62))
    assert args(ev) == {"pid": -1, "sig": 11} and ev.data["syscall"] == "kill"
    ev = decode(record(L.KIND_TGKILL, L.BODY_SYSCALL.pack(5, 6, 19, 0, 0, 0, 0)))
    assert args(ev) == {"tgid": 5, "tid": 6, "sig": 19}
    ev = decode(record(L.KIND_TKILL, L.BODY_SYSCALL.pack(6, 9, 0, 0, 0, 0, 0)))
    assert args(ev) == {"tid": 6, "sig": 9}
    ev = decode(record(L.KIND_PIDFD_SEND_SIGNAL, L.BODY_SYSCALL.pack(7, 9, 0, 0, 0, 0, 812)))
    assert args(ev) == {"pidfd": 7, "sig": 9, "info": 0, "flags": 0, "target_pid": 812}
    ev = decode(record(L.KIND_PTRACE, L.BODY_SYSCALL.pack(0x4206, 812, 0, 0, 0, 0, 0),
                       retval=-1))
    assert args(ev) == {"request": 0x4206, "pid": 812, "addr": 0, "data": 0}
    assert ev.data["returnValue"] == -1 and ev.data["syscall"] == "ptrace"
    ev = decode(record(L.KIND_PROCESS_VM_WRITEV,
                       L.BODY_SYSCALL.pack(812, 0x7000, 1, 0x8000, 2, 0, 0), retval=16))
    assert args(ev) == {"pid": 812, "local_iov": 0x7000, "liovcnt": 1, "remote_iov": 0x8000,
                        "riovcnt": 2, "flags": 0}
    assert ev.name == "process_vm_writev"


def test_a_directory_sent_unjudged_is_judged_by_identity(tmp_path: Path) -> None:
    """MW_F_DIR_UNJUDGED: the kernel rejected a path whose string has a directory part; its
    directory, resolved in the caller's root (here the test's own: same mount namespace), is
    the watched one through a symlink: the path names the watched directory, the caller's
    string beside it, and the filters keep it. A symlink elsewhere: dropped as before."""
    store, other = tmp_path / "store", tmp_path / "other"
    store.mkdir()
    other.mkdir()
    (tmp_path / "link").symlink_to(store)
    (tmp_path / "elsewhere").symlink_to(other)
    d = f"{store}/"
    watched = {n: PathSet([PathFilter(n, "prefix", d)])
               for n in ("security_inode_unlink", "security_inode_rename")}
    own_ns = os.stat("/proc/self/ns/mnt").st_ino
    dec = decoder(watched, DirIdentity(d))
    link = f"{tmp_path}/link/core.x".encode()
    rec = record(L.KIND_INODE_RENAME, strings=(link, b"/tmp/out"), flags=L.F_DIR_UNJUDGED,
                 retval=0, mnt_ns=own_ns)
    ev = dec.decode(memoryview(rec), 0, len(rec))
    assert ev is not None and args(ev) == {
        "old_path": d + "core.x", "new_path": "/tmp/out", "real_old_path": link.decode(),
        "real_new_path": ""}
    rec = record(L.KIND_INODE_UNLINK, strings=(link,), flags=L.F_DIR_UNJUDGED, retval=0,
                 mnt_ns=own_ns)
    ev = dec.decode(memoryview(rec), 0, len(rec))
    assert ev is not None and (args(ev)["pathname"], args(ev)["real_pathname"]) == (
        d + "core.x", link.decode())
    # the rename's new path was judged too (/tmp: not the store)
    assert (dec.dir_identity.counts.judged, dec.dir_identity.counts.matched) == (3, 2)
    # the near miss: a symlink to another directory holding a file of the same name
    rec = record(L.KIND_INODE_UNLINK, strings=(f"{tmp_path}/elsewhere/core.x".encode(),),
                 flags=L.F_DIR_UNJUDGED, retval=0, mnt_ns=own_ns)
    assert dec.decode(memoryview(rec), 0, len(rec)) is None and dec.user_filtered == 1
    # a caller gone with its namespace (not ours, no such pid): the string judgement, counted
    rec = record(L.KIND_INODE_UNLINK, strings=(link,), flags=L.F_DIR_UNJUDGED, retval=0,
                 mnt_ns=own_ns + 1)
    assert dec.decode(memoryview(rec), 0, len(rec)) is None and dec.user_filtered == 2
    assert dec.dir_identity.counts.unresolved == 1
    # without a judge (replay has none: the recorded event already names the real path)
    rec = record(L.KIND_INODE_UNLINK, strings=(link,), flags=L.F_DIR_UNJUDGED, retval=0,
                 mnt_ns=own_ns)
    assert decode(rec, path_sets=watched) is None


def test_changes_normalised_and_filtered_in_user_space() -> None:
    d = "/var/lib/systemd/coredump/"
    watched = {"security_inode_unlink": PathSet([PathFilter("security_inode_unlink", "prefix",
                                                            d)]),
               "security_inode_rename": PathSet([PathFilter("security_inode_rename", "prefix",
                                                            d)])}
    flags = L.F_A_UNNORMALISED | L.F_A_UNFILTERED
    ev = decode(record(L.KIND_INODE_UNLINK, strings=(b"/var/lib/systemd/../systemd/coredump/./b",),
                       flags=flags, retval=0, nr=263), path_sets=watched)
    assert args(ev) == {"pathname": d + "b", "inode": 0, "dev": 0, "ctime": 0,
                        "real_pathname": ""}
    # a path the kernel could not judge that turns out to be elsewhere is dropped here
    dec = decoder(watched)
    rec = record(L.KIND_INODE_UNLINK, strings=(b"/tmp/x/../y",), flags=flags)
    assert dec.decode(memoryview(rec), 0, len(rec)) is None and dec.user_filtered == 1
    # rename: kept when either path is watched (old path out of the directory, new in it)
    ev = decode(record(L.KIND_INODE_RENAME, strings=(b"/tmp//a", d.encode() + b"sub/../b"),
                       flags=L.F_A_UNFILTERED | L.F_A_UNNORMALISED | L.F_B_UNNORMALISED),
                path_sets=watched)
    assert args(ev) == {"old_path": "/tmp/a", "new_path": d + "b", "real_old_path": "",
                        "real_new_path": ""}
    # judged by the kernel already: left as it is
    ev = decode(record(L.KIND_INODE_LINK, strings=(d.encode() + b"a", d.encode() + b"c")),
                path_sets=watched)
    assert args(ev) == {"old_path": d + "a", "new_path": d + "c", "real_old_path": "",
                        "real_new_path": ""}


def test_normalise() -> None:
    assert normalise("/a/./b//c/../d/") == "/a/b/d"
    assert normalise("/../..") == "/"
    assert normalise("//proc//kcore") == "/proc/kcore"


@pytest.mark.parametrize("tail,want", [
    ("docker-" + CID + ".scope", CID),
    ("docker-" + CID + ".scope/system.slice", CID),
    (CID + "/docker", CID),
    ("cri-containerd-" + CID + ".scope/kubepods-burstable-pod1.slice/kubepods.slice", CID),
    ("crio-" + CID + ".scope", CID),
    ("crio-conmon-" + CID + ".scope", ""),
    ("libpod-" + CID + ".scope/machine.slice", CID),
    ("init.scope/docker-" + CID + ".scope", CID),  # nested: the innermost id
    ("user@0.service/user.slice", ""),
    ("process_api/" + CID[:32], ""),
    (CID + "0", ""),  # 65 hex digits are not an id
    ("", ""),
])
def test_container_id_from_cgroup(tail: str, want: str) -> None:
    assert container_id_from_cgroup(tail) == want


def test_malformed_records_are_refused() -> None:
    good = record(L.KIND_FILE_OPEN, strings=(b"/x",))
    with pytest.raises(DecodeError, match="shorter than its header"):
        decoder().decode(memoryview(good), 0, 50)
    with pytest.raises(DecodeError, match="unknown record kind 99"):
        decode(record(99))
    with pytest.raises(DecodeError, match="sizes do not add up"):
        decode(record(L.KIND_FILE_OPEN, strings=(b"/x",), size=4000))


def test_lost_events_event() -> None:
    ev = decoder().lost_events(17, 1, 1_000, 2_000)
    assert ev.name == L.LOST_EVENTS
    assert args(ev) == {"lost": 17, "cpu": 1, "window_start": 1_000, "window_end": 2_000}
    assert ev.timestamp == 2_000  # the window's end
    assert ev.data["processorId"] == 1 and ev.data["hostName"] == "host"


def test_the_kernel_container_init_flag_makes_the_origin_container_init() -> None:
    body = L.BODY_FILE.pack(131, 0, 1, 0o100001, 0o100644, 0)
    cg = b"libpod-" + CID.encode() + b"/libpod_parent"
    init = decode(record(L.KIND_FILE_OPEN, body, (b"/proc/sys/x",), cgroup=cg,
                         flags=L.F_CONTAINER_INIT))
    started = decode(record(L.KIND_FILE_OPEN, body, (b"/proc/sys/x",), cgroup=cg))
    host = decode(record(L.KIND_FILE_OPEN, body, (b"/proc/sys/x",), flags=L.F_CONTAINER_INIT))
    assert init is not None and started is not None and host is not None
    assert init.data["contextFlags"]["containerStarted"] is False
    assert (init.origin, started.origin, host.origin) == ("container-init", "container", "host")


# -- what the file is (issue 15) ------------------------------------------------------------------

def open_body(magic: int = 0, rdev: int = 0, owner: int = 0, oflags: int = 0o100000) -> bytes:
    return L.BODY_OPEN.pack(131, 0, 22, oflags, 0o100600, 0, magic, rdev, owner)


def test_a_procfs_file_is_named_by_its_path_in_its_procfs() -> None:
    ev = decode(record(L.KIND_FILE_OPEN, open_body(0x9FA0, owner=300),
                       (b"/proc/300/mem", b"/mnt/p2/300/mem", b"/mnt/p2/300/mem"),
                       flags=L.F_PROCFS))
    a = args(ev)
    assert (a["pathname"], a["real_pathname"]) == ("/proc/300/mem", "/mnt/p2/300/mem")
    assert (a["fs_magic"], a["proc_host_pid"], a["rdev"]) == (0x9FA0, 300, 0)


def test_procfs_at_proc_keeps_no_real_pathname() -> None:
    ev = decode(record(L.KIND_FILE_OPEN, open_body(0x9FA0, owner=300),
                       (b"/proc/300/mem", b"/proc/300/mem", b"/proc/300/mem"), flags=L.F_PROCFS))
    assert args(ev)["real_pathname"] == ""


def test_a_device_the_filters_name_is_named_so() -> None:
    rdev = (1 << 20) | 1
    ev = decode(record(L.KIND_FILE_OPEN, open_body(0x01021994, rdev),
                       (b"/tmp/innocent", b"innocent"), flags=L.F_DEVICE))
    a = args(ev)
    assert (a["pathname"], a["real_pathname"], a["rdev"]) == ("/dev/mem", "/tmp/innocent", rdev)


def test_a_core_known_by_identity_says_so_under_any_name() -> None:
    """MW_F_CORE_STORE: the kernel found the file (or its directory) in the core-dump store
    by (dev, inode); the path is where it was opened, core_store 1 (and 0 without it)."""
    ev = decode(record(L.KIND_FILE_OPEN, open_body(0xEF53), (b"/home/x/notes", b"notes"),
                       flags=L.F_CORE_STORE))
    assert (args(ev)["pathname"], args(ev)["core_store"]) == ("/home/x/notes", 1)
    ev = decode(record(L.KIND_FILE_OPEN, open_body(0xEF53), (b"/home/x/notes", b"notes")))
    assert args(ev)["core_store"] == 0


def test_a_refused_open_is_the_joined_string_normalised_and_filtered() -> None:
    ps = PathSet([PathFilter("security_file_open", "basename", "mem")])
    rec = record(L.KIND_FILE_OPEN, open_body(oflags=0), (b"/proc/./300/mem", b"./300/mem"),
                 flags=L.F_REFUSED | L.F_A_UNNORMALISED | L.F_A_UNFILTERED, retval=-13)
    ev = decode(rec, path_sets={"security_file_open": ps})
    assert ev is not None and ev.data["returnValue"] == -13
    a = args(ev)
    assert (a["pathname"], a["syscall_pathname"], a["fs_magic"]) == ("/proc/300/mem",
                                                                     "./300/mem", 0)
    other = record(L.KIND_FILE_OPEN, open_body(), (b"/etc/./shadow", b"./shadow"),
                   flags=L.F_REFUSED | L.F_A_UNNORMALISED | L.F_A_UNFILTERED, retval=-13)
    assert decode(other, path_sets={"security_file_open": ps}) is None


def test_vfs_write() -> None:
    body = L.BODY_WRITE.pack(131, 0, 22, 0o2, 0o100600, 0, 0x9FA0, 0, 300, 4096, 8)
    ev = decode(record(L.KIND_VFS_WRITE, body, (b"/proc/300/mem", b"", b"/mnt/p2/300/mem"),
                       flags=L.F_PROCFS, retval=8, nr=18))
    assert ev.name == "vfs_write" and ev.data["syscall"] == "pwrite64"
    assert args(ev) == {"pathname": "/proc/300/mem", "dev": 22, "inode": 131, "count": 8,
                        "pos": 4096, "real_pathname": "/mnt/p2/300/mem", "proc_host_pid": 300}
