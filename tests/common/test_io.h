/* SPDX-License-Identifier: MIT */
/*
 * A RAM-disk struct vback_io for tests, with fault injection.
 *
 * Requests are queued by submit() and executed and completed at unplug()
 * (the batch queued when it is called: what a done() callback submits
 * waits for the next unplug(), as with io_uring), or, while holding is
 * on, kept until the
 * test calls tio_release() (IO in flight across a device reset, ...).
 * Never completes from inside submit(), as include/vback/io.h requires.
 *
 * Ownership: tio_create() returns an object freed with tio_destroy(); the
 * struct vback_io from tio_io() borrows it. tio_destroy() completes what is
 * still held first (like ops->close()).
 */
#ifndef VBACK_TEST_IO_H
#define VBACK_TEST_IO_H

#include <stdbool.h>
#include <stdint.h>

#include <vback/io.h>
#include <vback/loop.h>

struct tio_options {
	uint64_t size;		     /* bytes (default 1 MiB) */
	uint32_t logical_block_size; /* default 512 */
	uint32_t physical_block_size;
	uint32_t max_segments;
	uint32_t max_discard_sectors;
	uint32_t max_write_zeroes_sectors;
	bool read_only;
	bool can_discard;
	bool can_write_zeroes;
	bool can_secure_erase;
	bool volatile_cache;
	/* The loop the device runs on: tio_release() runs what the
	 * completions posted there (the rest of a loop iteration), as an
	 * engine completing from a loop callback would see it. Optional. */
	struct vback_loop *loop;
	/* Optional: called as each request is executed (reaches the disk),
	 * before its completion. */
	void (*on_run)(void *opaque, const struct vback_io_req *req);
	void *on_run_opaque;
	/* Optional: the disk's bytes (size bytes, borrowed: two instances
	 * on one disk, as two processes on one image). NULL: allocated. */
	uint8_t *data;
};

struct tio;

struct tio *tio_create(const struct tio_options *opts);
void tio_destroy(struct tio *t);
struct vback_io tio_io(struct tio *t);

/* The disk contents (size bytes), for checking and seeding. */
uint8_t *tio_data(struct tio *t);

/* The next @n accepted requests complete with @err (e.g. -EIO). */
void tio_fail_next(struct tio *t, unsigned int n, int err);
/* The next @n submit() calls return @err (e.g. -EAGAIN) and accept
 * nothing. -EAGAIN is only returned while something is in flight, as the
 * contract says; otherwise the request is accepted. */
void tio_reject_next(struct tio *t, unsigned int n, int err);
/* Hold completions (true) until tio_release(); false: complete at unplug. */
void tio_hold(struct tio *t, bool hold);
/* Execute and complete up to @max held requests (0: all), oldest first,
 * then run what that posted on the loop (tio_options.loop). Returns how
 * many completed. */
unsigned int tio_release(struct tio *t, unsigned int max);
/* Execute and complete the held request at position @pos of the queue
 * (0: the oldest), leaving the others held: IO that completes out of
 * order. Does not run the loop. 1, or 0 when there is no such request. */
unsigned int tio_release_at(struct tio *t, unsigned int pos);
/* Run a simple loop until nothing is due (no-op for NULL or a loop
 * with fds). */
void tio_pump(struct vback_loop *loop);
/* Requests accepted and not completed yet. */
unsigned int tio_pending(const struct tio *t);

struct tio_stats {
	uint64_t submits;  /* accepted */
	uint64_t rejects;  /* submit() returned an error */
	uint64_t by_op[6]; /* accepted, per enum vback_io_op */
	uint64_t unplugs;
	struct vback_io_req last; /* copy of the last accepted request */
	unsigned int last_iovcnt;
	uint64_t last_bytes; /* iovec total of the last request */
};
const struct tio_stats *tio_stats(const struct tio *t);

#endif /* VBACK_TEST_IO_H */
