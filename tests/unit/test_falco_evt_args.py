"""%evt.args in Falco's layout: each evt.type's exit parameters in Falco's order, values as
Falco prints them (its own flag values, fds and errnos resolved), <NA> for what memwarden does
not have."""

from __future__ import annotations

from memwarden.core.event import Event
from memwarden.rules.falco.fields.evt import FILLED
from memwarden.rules.falco.fields.evt_args import ppm_open_flags

EVT_ARGS = next(f for f in FILLED if f.name == "evt.args").make(None)


def _open(flags: int, ret: int = 3, name: str = "/etc/passwd", syscall: str = "openat") -> Event:
    return Event.new("security_file_open", [
        ("pathname", "const char*", "/etc/passwd" if ret >= 0 else f"/root/{name}"),
        ("flags", "int", flags), ("dev", "dev_t", (253 << 20) | 1),
        ("inode", "unsigned long", 1234), ("ctime", "unsigned long", 0),
        ("syscall_pathname", "const char*", name)],
        syscall=syscall, returnValue=ret, processName="cat")


def test_an_openat_prints_falcos_seven_parameters_with_the_fd_resolved_to_its_file():
    assert EVT_ARGS(_open(0)) == ("fd=3(<f>/etc/passwd) dirfd=<NA> name=/etc/passwd "
                                  "flags=1(O_RDONLY) mode=<NA> dev=FD01 ino=1234")


def test_flags_print_falcos_values_and_names_in_falcos_order():
    # O_WRONLY|O_CREAT|O_TRUNC: Falco's 2|4|256, named from its table's end of the list
    assert "flags=262(O_TRUNC|O_CREAT|O_WRONLY)" in EVT_ARGS(_open(0o1101))
    assert "flags=4099(O_RDWR|O_CLOEXEC)" in EVT_ARGS(_open(0o2000002))
    assert ppm_open_flags(0o20200000 | 2) == (1 << 13) | 3  # O_TMPFILE, not O_DIRECTORY
    assert ppm_open_flags(0o200000) == 1 | (1 << 10)


def test_a_relative_name_is_resolved_and_a_failed_open_names_its_errno():
    text = EVT_ARGS(_open(0, ret=-13, name="secret"))
    assert text.startswith("fd=-13(EACCES) dirfd=<NA> name=secret(/root/secret) ")
    assert EVT_ARGS(_open(0, syscall="open")).startswith("fd=3(<f>/etc/passwd) name=/etc/pass")


def test_ptrace_prints_falcos_request_enum_and_kill_the_signal_name():
    ev = Event.new("ptrace", [("request", "long", 16), ("pid", "int", 77),
                              ("addr", "unsigned long", 0x10), ("data", "unsigned long", 0)],
                   syscall="ptrace", returnValue=0)
    assert EVT_ARGS(ev) == "res=0 addr=10 data=0 request=11(PTRACE_ATTACH) pid=77"
    ev = Event.new("kill", [("pid", "int", 77), ("sig", "int", 9)], syscall="kill",
                   returnValue=-3)
    assert EVT_ARGS(ev) == "res=-3(ESRCH) pid=77 sig=9(SIGKILL)"


def test_an_execve_prints_argv_as_falcos_nul_separated_buffer_and_its_context():
    ev = Event.new("sched_process_exec", [
        ("cmdpath", "const char*", "/bin/cat"), ("pathname", "const char*", "/bin/cat"),
        ("argv", "const char**", ["cat", "/etc/passwd", "-n"]),
        ("cwd", "const char*", "/root")], syscall="execve", returnValue=0, hostThreadId=5,
        hostProcessId=5, hostParentProcessId=1, userId=0, processName="cat")
    text = EVT_ARGS(ev)
    assert text.startswith("res=0 exe=cat args=/etc/passwd.-n. tid=5 pid=5 ptid=1 cwd=/root ")
    assert text.endswith(" uid=0 trusted_exepath=<NA> pgid=<NA> gid=<NA> filename=/bin/cat")
    assert len(text.split(" ")) == 31


def test_an_unlinkat_and_a_renameat2_follow_falcos_tables():
    ev = Event.new("security_inode_unlink", [("pathname", "const char*", "/tmp/x")],
                   syscall="unlinkat", returnValue=0)
    assert EVT_ARGS(ev) == "res=0 dirfd=<NA> name=/tmp/x flags=<NA>"
    ev = Event.new("security_inode_rename", [("old_path", "const char*", "/a"),
                                             ("new_path", "const char*", "/b")],
                   syscall="renameat2", returnValue=0)
    assert EVT_ARGS(ev) == ("res=0 olddirfd=<NA> oldpath=/a newdirfd=<NA> newpath=/b "
                            "flags=<NA>")
