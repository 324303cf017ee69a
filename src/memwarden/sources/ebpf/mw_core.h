/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel types the memwarden probe reads, declared by hand for CO-RE.
 *
 * Only the members the probe uses are declared; libbpf relocates every access to the running
 * kernel's layout from its BTF (/sys/kernel/btf/vmlinux), so no generated vmlinux.h and no
 * kernel headers are needed. Members that moved or were renamed across kernel versions have
 * "flavours" (struct foo___old): the probe tests bpf_core_field_exists() and reads the one the
 * running kernel has.
 */
#ifndef MW_CORE_H
#define MW_CORE_H

typedef signed char s8;
typedef unsigned char u8;
typedef short s16;
typedef unsigned short u16;
typedef int s32;
typedef unsigned int u32;
typedef long long s64;
typedef unsigned long long u64;
typedef _Bool bool;
#define true 1
#define false 0

typedef u32 dev_t;
typedef int pid_t;
typedef unsigned short umode_t;
typedef unsigned int fmode_t;

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct { int counter; } atomic_t;

struct qstr {
	union {
		struct {
			u32 hash;
			u32 len;
		};
		u64 hash_len;
	};
	const unsigned char *name;
};

union shortname_store {
	unsigned char string[40];
	unsigned long words[5];
};

struct super_block;
struct inode;

struct hlist_node {
	struct hlist_node *next;
};

struct hlist_head {
	struct hlist_node *first;
};

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
	union shortname_store d_shortname; /* 6.14+ */
	struct super_block *d_sb;
	union {
		struct hlist_node d_alias; /* in its inode's i_dentry list */
	} d_u;
};

/* before 6.14 the inline name was a plain array */
struct dentry___iname {
	unsigned char d_iname[32];
};

struct timespec64 {
	s64 tv_sec;
	long tv_nsec;
};

struct super_block {
	dev_t s_dev;
	unsigned long s_magic;
};

struct inode {
	umode_t i_mode;
	struct super_block *i_sb;
	unsigned long i_ino;
	dev_t i_rdev;
	s64 i_ctime_sec; /* 6.11+ */
	u32 i_ctime_nsec;
	u32 i_generation;
	void *i_private;
	unsigned int i_nlink; /* in an anonymous union with __i_nlink */
	struct hlist_head i_dentry; /* its dentries (hard links' names in the cache) */
};

struct inode___ctime66 { /* 6.6 - 6.10 */
	struct timespec64 __i_ctime;
};

struct inode___ctime_old { /* before 6.6 */
	struct timespec64 i_ctime;
};

struct vfsmount {
	struct dentry *mnt_root;
	struct super_block *mnt_sb;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

typedef s64 loff_t;

struct file_operations;

struct file {
	fmode_t f_mode;
	const struct file_operations *f_op;
	loff_t f_pos;
	void *private_data;
	struct inode *f_inode;
	unsigned int f_flags;
	struct path f_path;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct fs_struct {
	struct path root;
	struct path pwd;
};

struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct pid_namespace {
	unsigned int level;
	struct ns_common ns;
};

struct new_utsname {
	char sysname[65];
	char nodename[65];
};

struct uts_namespace {
	struct new_utsname name;
};

struct nsproxy {
	struct uts_namespace *uts_ns;
	struct mnt_namespace *mnt_ns;
};

struct upid {
	int nr;
	struct pid_namespace *ns;
};

struct pid {
	struct hlist_head tasks[4];
	unsigned int level;
	struct upid numbers[1];
};

struct kernfs_node {
	struct kernfs_node *__parent; /* 6.15+ */
	const char *name;
	u64 id;
};

struct kernfs_node___old {
	struct kernfs_node *parent;
};

struct cgroup;

struct cgroup_subsys_state {
	struct cgroup *cgroup;
};

struct cgroup_root {
	int hierarchy_id;
};

struct cgroup {
	int level;
	struct kernfs_node *kn;
	struct cgroup_root *root;
};

struct css_set {
	struct cgroup_subsys_state *subsys[12];
	struct cgroup *dfl_cgrp;
};

/* enum pid_type: the indexes of signal_struct.pids */
#define PIDTYPE_PGID 2
#define PIDTYPE_SID 3
struct tty_driver {
	int major;
	int minor_start;
};
struct tty_struct {
	struct tty_driver *driver;
	int index;
};
struct signal_struct {
	atomic_t live;
	int group_exit_code;
	unsigned int flags;
	struct pid *pids[4];
	struct tty_struct *tty;
};
typedef struct { u64 val; } kernel_cap_t; /* 6.3+: one u64 */
typedef struct { u32 val; } kuid_t;
typedef struct { u32 val; } kgid_t;
struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t euid;
	kgid_t egid;
	kernel_cap_t cap_inheritable;
	kernel_cap_t cap_permitted;
	kernel_cap_t cap_effective;
};

struct mm_struct {
	struct file *exe_file;
	unsigned long arg_start;
	unsigned long arg_end;
};

struct thread_info {
	u32 status;
};

struct task_struct {
	struct thread_info thread_info;
	unsigned int flags;
	struct mm_struct *mm;
	int exit_code;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	u64 start_time;
	char comm[16];
	struct fs_struct *fs;
	struct files_struct *files;
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
	struct css_set *cgroups;
	const struct cred *cred;
	kuid_t loginuid;
	struct hlist_node pid_links[4];
};

/* procfs's inode: the struct pid of the process a /proc/<pid>/... entry belongs to */
struct proc_inode {
	struct pid *pid;
	struct inode vfs_inode;
};

/* io_uring (io_uring/io_uring.h, openclose.c): the request the io_uring_complete tracepoint
 * passes, its completion entry, and the command area of an IORING_OP_OPENAT(2) request (which
 * overlays the request's first bytes: io_kiocb_to_cmd). */
struct io_kiocb {
	struct file *file;
	u8 opcode;
};

struct io_uring_cqe {
	u64 user_data;
	s32 res;
	u32 flags;
};

struct filename {
	const char *name; /* the kernel's copy of the path */
};

struct io_unlink {
	struct file *file;
	int dfd;
	int flags;
	struct filename *filename;
};

/* struct io_link has the same members */
struct io_rename {
	struct file *file;
	int old_dfd;
	int new_dfd;
	struct filename *oldpath;
	struct filename *newpath;
	int flags;
};

struct io_open {
	struct file *file;
	int dfd;
	u32 file_slot; /* non-zero: the file went into the ring's fixed table, not the fd table:
			* slot file_slot - 1, or (IORING_FILE_INDEX_ALLOC) the one cqe->res names */
};

/* The ring's fixed file table (6.13+, io_uring/rsrc.h, filetable.h): where an open with a
 * direct descriptor (sqe->file_index) puts its file instead of the fd table. A node's file_ptr
 * is the struct file with flag bits (FFS_NOWAIT, FFS_ISREG) in its two low bits. */
struct io_rsrc_node {
	unsigned long file_ptr;
};

struct io_rsrc_data {
	unsigned int nr;
	struct io_rsrc_node **nodes;
};

struct io_file_table {
	struct io_rsrc_data data;
};

struct io_ring_ctx {
	struct io_file_table file_table;
};

/* Only its first member matters: a struct file pointer at offset 0, which lets the probe read
 * a slot of the fd array with a direct BTF load (bpf_rdonly_cast) instead of a helper call. */
struct kiocb {
	struct file *ki_filp;
};

struct linux_binprm {
	struct file *file;
	int argc;
	const char *filename;
	const char *interp;
};

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di;
	unsigned long orig_ax, ip, cs, flags, sp, ss;
};
#elif defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
	u64 regs[31];
	u64 sp;
	u64 pc;
	u64 pstate;
};
struct pt_regs {
	union {
		struct user_pt_regs user_regs;
		struct {
			u64 regs[31];
			u64 sp;
			u64 pc;
			u64 pstate;
		};
	};
	u64 orig_x0;
	s32 syscallno;
};
#else
#error "memwarden's probe supports x86_64 and arm64 (define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64)"
#endif

#pragma clang attribute pop

/* The record of a syscall exit tracepoint (tracefs events/syscalls/sys_exit_* /format): a
 * stable ABI, not relocated. */
struct mw_sys_exit_ctx {
	unsigned short common_type;
	unsigned char common_flags;
	unsigned char common_preempt_count;
	int common_pid;
	int syscall_nr;
	long ret;
};

/* The record of a syscall entry tracepoint (events/syscalls/sys_enter_* /format): the
 * syscall's six arguments, each 8 bytes wide, from offset 16. */
struct mw_sys_enter_ctx {
	unsigned short common_type;
	unsigned char common_flags;
	unsigned char common_preempt_count;
	int common_pid;
	int syscall_nr;
	unsigned long args[6];
};

#endif /* MW_CORE_H */
