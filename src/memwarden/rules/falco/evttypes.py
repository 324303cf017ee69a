"""Falco's event types (``evt.type``) and how memwarden's events stand for them.

Falco splits a system call into an enter (``>``) and an exit (``<``) event; a memwarden event is
one complete record: the arguments and the result together. So a memwarden syscall event
satisfies both ``evt.dir=>`` and ``evt.dir=<``. ``sched_process_exec`` is the exit of execve
(``<``); ``sched_process_exit`` is Falco's ``procexit`` (``>``).

The evt.type values each memwarden event stands for (and its evt.category) are the event
catalogue's (:mod:`memwarden.events.catalogue`); Falco's argument names and directions are here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memwarden.events.catalogue import CATALOGUE, EVENTS, EventSpec

BOTH_DIRECTIONS = frozenset({"<", ">"})


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True, slots=True)
class EventProfile:
    """What a memwarden event is in Falco's terms."""

    event: str  # memwarden event name
    falco_types: frozenset[str]  # every evt.type value it can stand for
    default_type: str  # evt.type when the event's `syscall` field names none of them
    directions: frozenset[str]  # the evt.dir values it satisfies
    category: str  # evt.category
    #: Falco argument name (evt.arg.NAME) -> the memwarden argument that holds it;
    #: "$ret" is returnValue, "$argv0"/"$argv1+" parts of argv, "$name" the open's name
    args: dict[str, str] = field(default_factory=dict)
    #: every argument Falco's events of these types have (evt.arg.X of another name has no
    #: value in Falco either: the check is false; one memwarden does not fill is unknown)
    falco_args: frozenset[str] = frozenset()
    has_fd: bool = False  # fd.* fields describe the file the event concerns


_OPEN_ARGS = {"fd": "$ret", "name": "$name", "flags": "flags", "mode": "mode", "dev": "dev",
              "ino": "inode"}
_PROCESS_ARGS = ("res exe args tid pid ptid cwd fdlimit pgft_maj pgft_min vm_size vm_rss "
                 "vm_swap comm cgroups")


@dataclass(frozen=True, slots=True)
class _FalcoSide:
    """What only Falco's view adds to a catalogue event (see :class:`EventProfile`)."""

    args: dict[str, str]
    falco_args: str
    directions: frozenset[str] = BOTH_DIRECTIONS
    has_fd: bool = False


def _same_names(event: str, ret: str, falco_args: str) -> _FalcoSide:
    """An event whose arguments have Falco's names (the syscalls of mw_falco_events.h):
    ``ret`` (res or fd) is returnValue, every other Falco argument the catalogue's of that
    name (one the catalogue lacks, such as init_module's img, is not carried)."""
    own = CATALOGUE[event].arg_names
    return _FalcoSide({n: "$ret" if n == ret else n for n in falco_args.split()
                       if n == ret or n in own}, falco_args)


#: Per memwarden event, Falco's argument names and directions. Which evt.type values an event
#: stands for, the default one and evt.category are the event catalogue's.
_FALCO_SIDE: dict[str, _FalcoSide] = {
    "security_file_open": _FalcoSide(
        _OPEN_ARGS, "fd dirfd name flags mode dev ino resolve", has_fd=True),
    "security_inode_unlink": _FalcoSide(
        {"res": "$ret", "name": "pathname", "path": "pathname"}, "res path dirfd name flags"),
    "security_inode_rename": _FalcoSide(
        {"res": "$ret", "oldpath": "old_path", "newpath": "new_path"},
        "res olddirfd oldpath newdirfd newpath flags"),
    "security_inode_link": _FalcoSide(
        {"res": "$ret", "oldpath": "old_path", "newpath": "new_path"},
        "res olddir oldpath newdir newpath flags"),
    "sched_process_exec": _FalcoSide(
        {"res": "$ret", "exe": "$argv0", "args": "$argv1+", "filename": "pathname",
         "comm": "$comm"},
        _PROCESS_ARGS + " env tty vpgid pgid loginuid flags cap_inheritable cap_permitted "
        "cap_effective exe_ino exe_ino_ctime exe_ino_mtime uid trusted_exepath filename dirfd "
        "pathname",
        directions=frozenset({"<"})),
    "sched_process_fork": _FalcoSide(
        {"res": "child_pid"},
        _PROCESS_ARGS + " flags uid gid vtid vpid pidns_init_start_ts clone_args_size newsp "
        "parent_tid child_tid tls",
        directions=frozenset({"<"})),
    "sched_process_exit": _FalcoSide(
        {"status": "exit_code", "sig": "signal", "core": "core_dumped"},
        "status ret sig core reaper_tid", directions=frozenset({">"})),
    "kill": _FalcoSide({"res": "$ret", "pid": "pid", "sig": "sig"}, "res pid sig"),
    "tkill": _FalcoSide({"res": "$ret", "tid": "tid", "sig": "sig"}, "res tid sig"),
    "tgkill": _FalcoSide({"res": "$ret", "pid": "tgid", "tid": "tid", "sig": "sig"},
                         "res pid tid sig"),
    "pidfd_send_signal": _FalcoSide(
        {"res": "$ret", "pidfd": "pidfd", "sig": "sig", "flags": "flags"},
        "res pidfd sig info flags"),
    "ptrace": _FalcoSide(
        {"res": "$ret", "request": "request", "pid": "pid", "addr": "addr", "data": "data"},
        "res request pid addr data"),
    "process_vm_readv": _FalcoSide({"res": "$ret", "pid": "pid"}, "res pid data"),
    "process_vm_writev": _FalcoSide({"res": "$ret", "pid": "pid"}, "res pid data"),
    # the syscalls of Falco's official rules: Falco's parameter names are the catalogue's
    "init_module": _same_names("init_module", "res", "res img length uargs"),
    "finit_module": _same_names("finit_module", "res", "res fd uargs flags"),
    "bpf": _same_names("bpf", "fd", "fd cmd"),
    "userfaultfd": _same_names("userfaultfd", "res", "res flags"),
    "setns": _same_names("setns", "res", "res fd nstype"),
    "unshare": _same_names("unshare", "res", "res flags"),
    "setuid": _same_names("setuid", "res", "res uid"),
    "setreuid": _same_names("setreuid", "res", "res ruid euid"),
    "setresuid": _same_names("setresuid", "res", "res ruid euid suid"),
    "mkdir": _same_names("mkdir", "res", "res dirfd path mode"),
    "symlink": _same_names("symlink", "res", "res target linkdirfd linkpath"),
    "chmod": _same_names("chmod", "res", "res fd dirfd filename mode"),
    "memfd_create": _same_names("memfd_create", "fd", "fd name flags"),
    "mount": _same_names("mount", "res", "res dev dir type flags"),
}


def _profile(e: EventSpec) -> EventProfile:
    side = _FALCO_SIDE.get(e.name) or _FalcoSide({}, "")
    return EventProfile(e.name, frozenset(e.falco_types), e.falco_default_type, side.directions,
                        e.category, dict(side.args), falco_args=_words(side.falco_args),
                        has_fd=side.has_fd)


#: memwarden event -> its Falco profile, for every catalogue event with Falco types
PROFILES: dict[str, EventProfile] = {e.name: _profile(e) for e in EVENTS if e.falco_types}

#: evt.type value -> the memwarden event that stands for it
MEMWARDEN_EVENT_OF: dict[str, str] = {t: p.event for p in PROFILES.values()
                                       for t in p.falco_types}

#: Falco's own (non-syscall) event types
_FALCO_SPECIAL = ("procexit container switch signaldeliver pluginevent asyncevent procinfo "
                  "drop cpu_hotplug infra notification k8s mesos tracer page_fault "
                  "scapevent sysdigevent useradded userdeleted groupadded groupdeleted "
                  "mesos_e container_json")

#: Linux system calls Falco knows as event types (x86_64 and generic tables)
_SYSCALLS = (
    "read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction "
    "rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select "
    "sched_yield mremap msync mincore madvise shmget shmat shmctl dup dup2 dup3 pause "
    "nanosleep getitimer alarm setitimer getpid sendfile socket connect accept accept4 sendto "
    "recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown bind listen getsockname getpeername "
    "socketpair setsockopt getsockopt clone clone3 fork vfork execve execveat exit exit_group "
    "wait4 kill tkill tgkill uname semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl "
    "flock fsync fdatasync truncate ftruncate getdents getdents64 getcwd chdir fchdir rename "
    "renameat renameat2 mkdir mkdirat rmdir creat link linkat unlink unlinkat symlink "
    "symlinkat readlink readlinkat chmod fchmod fchmodat fchmodat2 chown fchown lchown "
    "fchownat umask gettimeofday getrlimit setrlimit prlimit getrusage sysinfo times ptrace "
    "getuid syslog getgid setuid setgid geteuid getegid setpgid getppid getpgrp setsid "
    "setreuid setregid getgroups setgroups setresuid getresuid setresgid getresgid getpgid "
    "setfsuid setfsgid getsid capget capset rt_sigpending rt_sigtimedwait rt_sigqueueinfo "
    "rt_sigsuspend sigaltstack utime utimes utimensat futimesat mknod mknodat uselib "
    "personality ustat statfs fstatfs sysfs getpriority setpriority sched_setparam "
    "sched_getparam sched_setscheduler sched_getscheduler sched_get_priority_max "
    "sched_get_priority_min sched_rr_get_interval mlock munlock mlockall munlockall mlock2 "
    "vhangup modify_ldt pivot_root prctl arch_prctl adjtimex chroot sync acct settimeofday "
    "mount umount umount2 swapon swapoff reboot sethostname setdomainname iopl ioperm "
    "init_module finit_module delete_module quotactl gettid readahead setxattr lsetxattr "
    "fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr "
    "lremovexattr fremovexattr time futex sched_setaffinity sched_getaffinity io_setup "
    "io_destroy io_getevents io_submit io_cancel lookup_dcookie epoll_create epoll_create1 "
    "epoll_ctl epoll_wait epoll_pwait epoll_pwait2 remap_file_pages set_tid_address "
    "timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime "
    "clock_gettime clock_getres clock_nanosleep mbind set_mempolicy get_mempolicy mq_open "
    "mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr kexec_load "
    "kexec_file_load waitid add_key request_key keyctl ioprio_set ioprio_get inotify_init "
    "inotify_init1 inotify_add_watch inotify_rm_watch migrate_pages openat openat2 "
    "open_by_handle_at name_to_handle_at newfstatat fstatat64 pselect6 ppoll unshare "
    "set_robust_list get_robust_list splice tee sync_file_range vmsplice move_pages "
    "signalfd signalfd4 timerfd_create timerfd_settime timerfd_gettime eventfd eventfd2 "
    "fallocate pipe2 preadv pwritev preadv2 pwritev2 perf_event_open fanotify_init "
    "fanotify_mark clock_adjtime syncfs setns getcpu process_vm_readv process_vm_writev kcmp "
    "sched_setattr sched_getattr seccomp getrandom memfd_create memfd_secret bpf "
    "userfaultfd membarrier copy_file_range pkey_mprotect pkey_alloc pkey_free statx "
    "io_pgetevents rseq pidfd_send_signal pidfd_open pidfd_getfd io_uring_setup "
    "io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick "
    "close_range faccessat faccessat2 process_madvise mount_setattr quotactl_fd "
    "landlock_create_ruleset landlock_add_rule landlock_restrict_self "
    "process_mrelease futex_waitv set_mempolicy_home_node cachestat map_shadow_stack "
    "futex_wake futex_wait futex_requeue statmount listmount lsm_get_self_attr "
    "lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat listxattrat "
    "removexattrat socketcall ipc stat64 fstat64 lstat64 llseek _llseek mmap2 "
    "sigreturn signal sigaction sigprocmask nice getdents32 fcntl64 truncate64 ftruncate64 "
    "sendfile64 fadvise64 fadvise64_64 statfs64 fstatfs64 waitpid olduname oldolduname "
    "ugetrlimit getuid32 getgid32 geteuid32 getegid32 setuid32 setgid32 setreuid32 "
    "setregid32 setresuid32 setresgid32 getresuid32 getresgid32 setfsuid32 setfsgid32 "
    "chown32 fchown32 lchown32 getgroups32 setgroups32 set_thread_area get_thread_area "
    "semtimedop uretprobe"
)

KNOWN_EVENT_TYPES: frozenset[str] = frozenset(_SYSCALLS.split()) | frozenset(
    _FALCO_SPECIAL.split())
