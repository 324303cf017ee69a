"""The process-memory signatures in detail: "another process", repeat folding, request names,
raw memory device access modes."""

from __future__ import annotations

import pytest

from memwarden.core.event import Event
from memwarden.signatures.core_pattern_modification import CorePatternModification
from memwarden.signatures.lib.paths import is_own_process, parse_proc_path
from memwarden.signatures.lib.remote_memory import REPEAT_WINDOW_NS
from memwarden.signatures.lib.state import SECOND_NS
from memwarden.signatures.proc_kcore_read import ProcKcoreRead
from memwarden.signatures.proc_mem_access import ProcMemAccess
from memwarden.signatures.proc_mem_code_injection import ProcMemCodeInjection
from memwarden.signatures.process_vm_read import ProcessVmRead
from memwarden.signatures.process_vm_write_inject import ProcessVmWriteInject
from memwarden.signatures.ptrace_memory_access import PtraceMemoryAccess
from memwarden.signatures.raw_memory_device_access import RawMemoryDeviceAccess

S = SECOND_NS


def opener(path: str, flags: int | str = 0, pid: int = 100, tid: int | None = None,
           host_pid: int | None = None, host_tid: int | None = None) -> Event:
    return Event.new("security_file_open", [("pathname", "const char*", path),
                                            ("flags", "int", flags)],
                     processId=pid, threadId=tid or pid, hostProcessId=host_pid or pid,
                     hostThreadId=host_tid or host_pid or tid or pid)


@pytest.mark.parametrize(("path", "expected"), [
    ("/proc/42/mem", ("", 42, None)),
    ("/proc/self/mem", ("", None, None)),
    ("/proc/thread-self/mem", ("", None, None)),
    ("/proc/42/task/43/mem", ("", 42, 43)),
    ("/host/proc/42/mem", ("/host", 42, None)),
    ("/proc/42/maps", None),
    ("/proc/sys/mem", None),
    ("/proc/42/fd/mem", None),
    ("/dev/mem", None),
    ("/proc/4x/mem", None),
])
def test_parse_proc_path(path: str, expected) -> None:
    t = parse_proc_path(path, "mem")
    assert (None if t is None else (t.root, t.pid, t.tid)) == expected


@pytest.mark.parametrize(("path", "pid", "tid", "host_pid", "own"), [
    ("/proc/100/mem", 100, None, None, True),
    ("/proc/101/mem", 100, 101, None, True),  # the opening thread's own /proc/<tid>
    ("/proc/100/task/101/mem", 100, 101, None, True),
    ("/proc/100/task/999/mem", 100, 101, None, True),  # a thread under its own pid dir
    ("/proc/102/mem", 100, 101, None, False),
    ("/proc/1/mem", 1, None, 9001, True),  # container pid 1 opening its own
    ("/proc/9001/mem", 1, None, 9001, False),  # /proc is the container's: 9001 is not it
    ("/host/proc/9001/mem", 1, None, 9001, True),  # the host's procfs: host pids
    ("/host/proc/1/mem", 1, None, 9001, False),  # host pid 1 is init, not the container
])
def test_another_process_or_itself(path, pid, tid, host_pid, own) -> None:
    ev = opener(path, pid=pid, tid=tid, host_pid=host_pid)
    assert is_own_process(ev, parse_proc_path(path, "mem")) is own
    fired = ProcMemAccess().on_event(ev)
    assert bool(fired) is (not own)


def test_rdwr_is_a_read_and_an_open_for_writing_is_no_injection() -> None:
    ev = opener("/proc/200/mem", "O_RDWR|O_CLOEXEC")
    assert ProcMemAccess().on_event(ev) and not ProcMemCodeInjection().on_event(ev)
    wo = opener("/proc/200/mem", "O_WRONLY")
    assert not ProcMemAccess().on_event(wo) and not ProcMemCodeInjection().on_event(wo)


def test_injection_is_memory_written() -> None:
    w = Event.new("vfs_write", [("pathname", "const char*", "/proc/200/mem"),
                                ("count", "size_t", 8), ("pos", "off_t", 4096),
                                ("proc_host_pid", "int", 200)],
                  processId=100, threadId=100, hostProcessId=100, hostThreadId=100)
    (f,) = ProcMemCodeInjection().on_event(w)
    assert f.data == {"target_pid": 200, "bytes_written": 8, "pos": 4096}


def vm(name: str, target: int, ts: int, ret: int = 8, caller: int = 100) -> Event:
    return Event.new(name, [("pid", "pid_t", target)], timestamp=ts, returnValue=ret,
                     processId=caller, threadId=caller, hostProcessId=caller)


def test_repeats_are_folded_per_caller_target_and_operation() -> None:
    sig = ProcessVmRead()
    assert REPEAT_WINDOW_NS == 60 * S  # the docs say "per minute"
    first = sig.on_event(vm("process_vm_readv", 300, 0))
    assert first[0].data == {"target_pid": 300, "operation": "process_vm_readv",
                             "succeeded": True}
    for i in range(1, 50):  # strace reading string arguments
        assert sig.on_event(vm("process_vm_readv", 300, i * S // 10)) == ()
    assert sig.on_event(vm("process_vm_readv", 301, S))  # another target
    assert sig.on_event(vm("process_vm_readv", 300, S, caller=101))  # another caller
    (later,) = sig.on_event(vm("process_vm_readv", 300, 61 * S, ret=-1))
    assert later.data["repeats_folded"] == 49 and later.data["succeeded"] is False


def test_process_vm_writev_and_readv_are_separate_signatures() -> None:
    w = vm("process_vm_writev", 300, 0)
    assert ProcessVmWriteInject().on_event(w)[0].metadata.id == "TRC-1025"
    assert ProcessVmRead().on_event(vm("process_vm_readv", 300, 0))[0].metadata.id == "MW-1005"


@pytest.mark.parametrize(("request_arg", "op"), [
    (16, "PTRACE_ATTACH"), ("PTRACE_SEIZE", "PTRACE_SEIZE"), (0x4206, "PTRACE_SEIZE"),
    (1, "PTRACE_PEEKTEXT"), ("PTRACE_PEEKDATA", "PTRACE_PEEKDATA"), (4, "PTRACE_POKETEXT"),
    ("5", "PTRACE_POKEDATA"),
])
def test_ptrace_requests(request_arg, op) -> None:
    ev = Event.new("ptrace", [("request", "long", request_arg), ("pid", "pid_t", 300)],
                   processId=100, threadId=100, hostProcessId=100)
    (f,) = PtraceMemoryAccess().on_event(ev)
    assert f.data["operation"] == op and f.data["target_pid"] == 300


@pytest.mark.parametrize(("flags", "access"), [
    (0, "read"), ("O_RDONLY", "read"), (1, "write"), (2, "read-write"), ("O_RDWR|O_SYNC",
                                                                        "read-write"),
])
def test_raw_memory_device_access_modes(flags, access) -> None:
    (f,) = RawMemoryDeviceAccess().on_event(opener("/dev/mem", flags))
    assert f.data == {"device": "physical memory", "access": access}
    assert not RawMemoryDeviceAccess().on_event(opener("/dev/mem", "O_PATH"))


# -- what the file is, not what it is called (issue 15) -------------------------------------------

def known(path: str, flags: int = 0, *, magic: int = 0x9FA0, owner: int = 0, rdev: int = 0,
          real: str = "", pid: int = 100, ret: int = 3) -> Event:
    """An open as the live sensor reports it: with the file's identity."""
    return Event.new("security_file_open", [
        ("pathname", "const char*", path), ("flags", "int", flags),
        ("real_pathname", "const char*", real), ("fs_magic", "unsigned long", magic),
        ("rdev", "dev_t", rdev), ("proc_host_pid", "int", owner)],
        processId=pid, threadId=pid, hostProcessId=pid, hostThreadId=pid, returnValue=ret)


TMPFS = 0x01021994


def test_procfs_mounted_elsewhere_is_named_under_proc_and_fires() -> None:
    ev = known("/proc/300/mem", owner=300, real="/mnt/p2/300/mem")
    (f,) = ProcMemAccess().on_event(ev)
    assert f.data["target_pid"] == 300
    assert ProcKcoreRead().on_event(known("/proc/kcore", real="/host/proc/kcore"))
    (c,) = CorePatternModification().on_event(known("/proc/sys/kernel/core_pattern", 1,
                                                    real="/mnt/k/core_pattern"))
    assert c.data == {"setting": "core_pattern"}


def test_the_owner_decides_who_is_itself() -> None:
    # a procfs of another pid namespace: the pid in the path is not the opener's numbering
    assert not ProcMemAccess().on_event(known("/proc/1/mem", owner=100))
    assert ProcMemAccess().on_event(known("/proc/100/mem", owner=4000))


def test_files_on_other_file_systems_merely_named_so_are_quiet() -> None:
    assert not ProcMemAccess().on_event(known("/tmp/x/proc/300/mem", magic=TMPFS))
    assert not ProcKcoreRead().on_event(known("/tmp/x/proc/kcore", magic=TMPFS))
    assert not CorePatternModification().on_event(
        known("/tmp/x/proc/sys/kernel/core_pattern", 1, magic=TMPFS))
    assert not RawMemoryDeviceAccess().on_event(known("/dev/mem", magic=TMPFS))
    # a stand-in at /proc itself (a tmpfs mounted on /proc) still counts
    assert ProcKcoreRead().on_event(known("/proc/kcore", magic=TMPFS))


def test_a_memory_device_is_known_by_its_number() -> None:
    (f,) = RawMemoryDeviceAccess().on_event(known("/dev/mem", magic=TMPFS, rdev=(1 << 20) | 1,
                                                  real="/tmp/innocent"))
    assert f.data == {"device": RawMemoryDeviceAccess().match(
        known("/dev/mem", magic=TMPFS, rdev=(1 << 20) | 1))["device"], "access": "read"}
    assert RawMemoryDeviceAccess().on_event(known("/dev/port", magic=TMPFS, rdev=(1 << 20) | 4))
    assert not RawMemoryDeviceAccess().on_event(known("/dev/mem", magic=TMPFS,
                                                      rdev=(1 << 20) | 3))  # /dev/null's


def test_a_refused_attempt_is_reported_as_refused() -> None:
    ev = opener("/proc/300/mem")
    ev.data["returnValue"] = -13
    (f,) = ProcMemAccess().on_event(ev)
    assert f.data["refused"] == "EACCES"
    ok = opener("/proc/300/mem")
    ok.data["returnValue"] = 3
    (g,) = ProcMemAccess().on_event(ok)
    assert "refused" not in g.data
