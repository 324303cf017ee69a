/* The io_uring actor of tests/e2e/test_live_ebpf_io_uring.py (gcc ... -luring): opens a file
 * with an io_uring request and reads it with another, renames, unlinks or links with one,
 * making none of the syscalls (the "curing" rootkit's trick).
 *   uring_actor openat PATH [OFF]   IORING_OP_OPENAT, then IORING_OP_READ of a byte at OFF (hex;
 *                                   "own": the address of a buffer of its own, for /proc/self/mem)
 *   uring_actor openat2 PATH [OFF]  IORING_OP_OPENAT2
 *   uring_actor async PATH [OFF]    IORING_OP_OPENAT with IOSQE_ASYNC: run by an iou-wrk thread
 *   uring_actor sqpoll PATH [OFF]   IORING_OP_OPENAT on a ring with IORING_SETUP_SQPOLL: submitted
 *                                   by the ring's iou-sqp thread, no io_uring_enter at all
 *   uring_actor direct PATH [OFF]   IORING_OP_OPENAT into slot 2 of the ring's fixed file table
 *                                   (a direct descriptor: the fd table is left alone), then a
 *                                   read of that fixed file (IOSQE_FIXED_FILE)
 *   uring_actor directalloc PATH [OFF]  IORING_OP_OPENAT2 into a slot the kernel picks
 *                                   (IORING_FILE_INDEX_ALLOC), then the same read
 *   uring_actor rename OLD NEW      IORING_OP_RENAMEAT
 *   uring_actor unlink PATH         IORING_OP_UNLINKAT
 *   uring_actor link OLD NEW        IORING_OP_LINKAT
 * Prints "ok" when it worked. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int submit_wait(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	if (io_uring_submit(ring) != 1 || io_uring_wait_cqe(ring, &cqe))
		return -1000;
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	struct open_how how = {.flags = O_RDONLY};
	char buf[8];
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: uring_actor openat|openat2|async PATH [OFFSET] | "
				"rename|link OLD NEW | unlink PATH\n");
		return 2;
	}
	struct io_uring_params params = {0};
	if (!strcmp(argv[1], "sqpoll")) {
		params.flags = IORING_SETUP_SQPOLL;
		params.sq_thread_idle = 1000;
	}
	if (io_uring_queue_init_params(4, &ring, &params)) {
		perror("io_uring_queue_init");
		return 1;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	int change = 1;
	if (!strcmp(argv[1], "rename") && argc == 4)
		io_uring_prep_renameat(sqe, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 0);
	else if (!strcmp(argv[1], "link") && argc == 4)
		io_uring_prep_linkat(sqe, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 0);
	else if (!strcmp(argv[1], "unlink"))
		io_uring_prep_unlinkat(sqe, AT_FDCWD, argv[2], 0);
	else
		change = 0;
	if (change) {
		int res = submit_wait(&ring);
		if (res < 0) {
			fprintf(stderr, "%s: %s\n", argv[1], strerror(-res));
			return 1;
		}
		puts("ok");
		return 0;
	}
	int direct = !strcmp(argv[1], "direct") || !strcmp(argv[1], "directalloc");
	if (direct && io_uring_register_files_sparse(&ring, 4)) {
		fprintf(stderr, "io_uring_register_files_sparse failed\n");
		return 1;
	}
	if (!strcmp(argv[1], "openat2"))
		io_uring_prep_openat2(sqe, AT_FDCWD, argv[2], &how);
	else if (!strcmp(argv[1], "direct"))
		io_uring_prep_openat_direct(sqe, AT_FDCWD, argv[2], O_RDONLY, 0, 2);
	else if (!strcmp(argv[1], "directalloc"))
		/* this liburing adds one to the index: ALLOC - 1 puts IORING_FILE_INDEX_ALLOC in
		 * sqe->file_index, as its own *_direct_alloc helpers do */
		io_uring_prep_openat2_direct(sqe, AT_FDCWD, argv[2], &how, IORING_FILE_INDEX_ALLOC - 1);
	else
		io_uring_prep_openat(sqe, AT_FDCWD, argv[2], O_RDONLY, 0);
	if (!strcmp(argv[1], "async"))
		sqe->flags |= IOSQE_ASYNC;
	int fd = submit_wait(&ring);
	if (fd < 0) {
		fprintf(stderr, "open: %s\n", strerror(-fd));
		return 1;
	}
	if (!strcmp(argv[1], "direct"))
		fd = 2; /* the slot asked for (the completion says 0) */
	sqe = io_uring_get_sqe(&ring);
	unsigned long long off = 0;
	if (argc == 4)
		off = !strcmp(argv[3], "own") ? (unsigned long long)(unsigned long)buf
					       : strtoull(argv[3], NULL, 16);
	io_uring_prep_read(sqe, fd, buf, 1, off);
	if (direct)
		sqe->flags |= IOSQE_FIXED_FILE;
	int n = submit_wait(&ring);
	if (n < 0) {
		fprintf(stderr, "read: %s\n", strerror(-n));
		return 1;
	}
	puts("ok");
	return 0;
}
