"""Falco's event types (``evt.type``) and how memwarden's events stand for them.

Falco splits a system call into an enter (``>``) and an exit (``<``) event; a memwarden event is
one complete record: the arguments and the result together. So a memwarden syscall event
satisfies both ``evt.dir=>`` and ``evt.dir=<``. ``sched_process_exec`` is the exit of execve
(``<``); ``sched_process_exit`` is Falco's ``procexit`` (``>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

PROFILES: dict[str, EventProfile] = {p.event: p for p in (
    EventProfile("security_file_open",
                 frozenset({"open", "openat", "openat2", "creat", "open_by_handle_at"}),
                 "openat", BOTH_DIRECTIONS, "file", _OPEN_ARGS,
                 falco_args=_words("fd dirfd name flags mode dev ino resolve"),
                 has_fd=True),
    EventProfile("security_inode_unlink", frozenset({"unlink", "unlinkat"}), "unlinkat",
                 BOTH_DIRECTIONS, "file",
                 {"res": "$ret", "name": "pathname", "path": "pathname"},
                 falco_args=_words("res path dirfd name flags")),
    EventProfile("security_inode_rename", frozenset({"rename", "renameat", "renameat2"}),
                 "renameat2", BOTH_DIRECTIONS, "file",
                 {"res": "$ret", "oldpath": "old_path", "newpath": "new_path"},
                 falco_args=_words("res olddirfd oldpath newdirfd newpath flags")),
    EventProfile("security_inode_link", frozenset({"link", "linkat"}), "linkat",
                 BOTH_DIRECTIONS, "file",
                 {"res": "$ret", "oldpath": "old_path", "newpath": "new_path"},
                 falco_args=_words("res olddir oldpath newdir newpath flags")),
    EventProfile("sched_process_exec", frozenset({"execve", "execveat"}), "execve",
                 frozenset({"<"}), "process",
                 {"res": "$ret", "exe": "$argv0", "args": "$argv1+", "filename": "pathname",
                  "comm": "$comm"},
                 falco_args=_words(
                     "res exe args tid pid ptid cwd fdlimit pgft_maj pgft_min vm_size vm_rss "
                     "vm_swap comm cgroups env tty vpgid pgid loginuid flags cap_inheritable "
                     "cap_permitted cap_effective exe_ino exe_ino_ctime exe_ino_mtime uid "
                     "trusted_exepath filename dirfd pathname")),
    EventProfile("sched_process_fork", frozenset({"clone", "clone3", "fork", "vfork"}),
                 "clone", frozenset({"<"}), "process", {"res": "child_pid"},
                 falco_args=_words(
                     "res exe args tid pid ptid cwd fdlimit pgft_maj pgft_min vm_size vm_rss "
                     "vm_swap comm cgroups flags uid gid vtid vpid pidns_init_start_ts "
                     "clone_args_size newsp parent_tid child_tid tls")),
    EventProfile("sched_process_exit", frozenset({"procexit"}), "procexit", frozenset({">"}),
                 "process", {"status": "exit_code", "sig": "signal", "core": "core_dumped"},
                 falco_args=_words("status ret sig core reaper_tid")),
    EventProfile("kill", frozenset({"kill"}), "kill", BOTH_DIRECTIONS, "signal",
                 {"res": "$ret", "pid": "pid", "sig": "sig"},
                 falco_args=_words("res pid sig")),
    EventProfile("tkill", frozenset({"tkill"}), "tkill", BOTH_DIRECTIONS, "signal",
                 {"res": "$ret", "tid": "tid", "sig": "sig"},
                 falco_args=_words("res tid sig")),
    EventProfile("tgkill", frozenset({"tgkill"}), "tgkill", BOTH_DIRECTIONS, "signal",
                 {"res": "$ret", "pid": "tgid", "tid": "tid", "sig": "sig"},
                 falco_args=_words("res pid tid sig")),
    EventProfile("pidfd_send_signal", frozenset({"pidfd_send_signal"}), "pidfd_send_signal",
                 BOTH_DIRECTIONS, "signal",
                 {"res": "$ret", "pidfd": "pidfd", "sig": "sig", "flags": "flags"},
                 falco_args=_words("res pidfd sig info flags")),
    EventProfile("ptrace", frozenset({"ptrace"}), "ptrace", BOTH_DIRECTIONS, "process",
                 {"res": "$ret", "request": "request", "pid": "pid", "addr": "addr",
                  "data": "data"},
                 falco_args=_words("res request pid addr data")),
    EventProfile("process_vm_readv", frozenset({"process_vm_readv"}), "process_vm_readv",
                 BOTH_DIRECTIONS, "memory", {"res": "$ret", "pid": "pid"},
                 falco_args=_words("res pid data")),
    EventProfile("process_vm_writev", frozenset({"process_vm_writev"}), "process_vm_writev",
                 BOTH_DIRECTIONS, "memory", {"res": "$ret", "pid": "pid"},
                 falco_args=_words("res pid data")),
)}

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
