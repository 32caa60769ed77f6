/* SPDX-License-Identifier: MIT */
/*
 * Guest helper for the restart tests (tests/e2e/restart-e2e.sh): WRITERS
 * threads write distinct 4 KiB blocks with O_DIRECT for SECONDS seconds
 * while the host kills and restarts the back-end, then everything that
 * was acknowledged is read back and checked.
 *
 * Writer w writes blocks w, w + WRITERS, w + 2 WRITERS, ... in order, one
 * at a time, and from its first block again once past the end of the
 * disk; write k of a writer puts pattern(b, pass) in its block b, pass =
 * k / (blocks per writer), reproducible from the two alone (the host
 * checks the image with the same formula). A write counts once
 * pwrite() returned 4096. Every 32 writes a writer calls fdatasync()
 * (a FLUSH). Every request's latency is measured: stalls over 100 ms are
 * merged across writers into pauses, printed with their start and
 * length. A request still unanswered 30 s after the writing time ended is
 * reported and the writer abandoned (it would wait forever). The writing
 * time is measured on the monotonic clock, not counted in sleeps (a
 * guest under TCG oversleeps by seconds). The read-back reads
 * CHUNK_BLOCKS blocks at a time and checks each acknowledged block in
 * them: a request per block made it the longest part of the Xen test.
 *
 * Output (serial console): "VBACK: PROGRESS t=S acked=N" once a second,
 * then "VBACK: PAUSE t=S ms=M", "VBACK: ACKED w=W n=N" and
 * "VBACK: RESULT acked=N errors=E bad=B max_ms=M stuck=K".
 * Exit 0 when nothing failed.
 *
 * Usage: blkwrite DEVICE SECONDS WRITERS
 *        blkwrite verify IMAGE WRITERS N0 N1 ...
 * The second form checks an image file afterwards, from the ACKED counts
 * (the host, or the Xen test's Dom0, which has no Python):
 * "VBACK: VERIFY checked=N bad=M", exit 0 when M is 0.
 * Built statically by build-guest.sh (busybox has nothing like it), and
 * for arm64 by tests/xen-e2e/run.sh.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#define BLOCK	    4096u
#define MAX_WRITERS 16u
#define MAX_STALLS  256u
#define STALL_NS    (100ull * 1000 * 1000)
#define STUCK_NS    (30ull * 1000 * 1000 * 1000)
/* Read-back: this many blocks per read (the check is per block). */
#define CHUNK_BLOCKS 64u

struct stall {
	uint64_t start, end;
};

struct writer {
	pthread_t th;
	unsigned int w;
	atomic_ullong acked;
	atomic_ullong busy_since; /* 0: not in a request */
	atomic_int done;
	unsigned int errors;
	uint64_t max_ns;
	struct stall stalls[MAX_STALLS];
	unsigned int nstalls;
};

static int fd;
static unsigned int nwriters;
static uint64_t nblocks, t0;
static atomic_int stop;
static struct writer writers[MAX_WRITERS];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The host computes the same (tests/e2e/restart-e2e.sh). */
static void pattern(uint64_t b, uint64_t pass, uint64_t *buf)
{
	for (uint64_t i = 0; i < BLOCK / 8; i++)
		buf[i] = (b * 0x9E3779B97F4A7C15ull) ^
			 ((i + 1) * 0xD1B54A32D192ED03ull) ^
			 (pass * 0x94D049BB133111EBull);
}

/* Blocks of writer w: w, w + nwriters, ... below nblocks. */
static uint64_t per_writer(unsigned int w)
{
	return (nblocks - w + nwriters - 1) / nwriters;
}

static void note(struct writer *wr, uint64_t start, uint64_t end)
{
	uint64_t ns = end - start;

	if (ns > wr->max_ns)
		wr->max_ns = ns;
	if (ns >= STALL_NS && wr->nstalls < MAX_STALLS)
		wr->stalls[wr->nstalls++] = (struct stall){ start, end };
}

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	uint64_t *buf;

	if (posix_memalign((void **)&buf, BLOCK, BLOCK))
		return NULL;
	for (uint64_t k = 0; !atomic_load(&stop); k++) {
		uint64_t per = per_writer(wr->w);
		uint64_t b = wr->w + (k % per) * nwriters, s, e;
		ssize_t n;

		pattern(b, k / per, buf);
		s = now_ns();
		atomic_store(&wr->busy_since, s);
		n = pwrite(fd, buf, BLOCK, (off_t)(b * BLOCK));
		e = now_ns();
		atomic_store(&wr->busy_since, 0);
		note(wr, s, e);
		if (n != (ssize_t)BLOCK) {
			printf("VBACK: FAIL write of block %llu: %s\n",
			       (unsigned long long)b,
			       n < 0 ? strerror(errno) : "short");
			wr->errors++;
			break;
		}
		atomic_store(&wr->acked, k + 1);
		if (k % 32 == 31) {
			s = now_ns();
			atomic_store(&wr->busy_since, s);
			if (fdatasync(fd) < 0) {
				printf("VBACK: FAIL fdatasync: %s\n",
				       strerror(errno));
				wr->errors++;
			}
			e = now_ns();
			atomic_store(&wr->busy_since, 0);
			note(wr, s, e);
		}
	}
	free(buf);
	atomic_store(&wr->done, 1);
	return NULL;
}

static uint64_t total_acked(void)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < nwriters; i++)
		n += atomic_load(&writers[i].acked);
	return n;
}

static int cmp_stall(const void *a, const void *b)
{
	const struct stall *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Stalls of all writers, merged where they overlap: the guest's pauses. */
static void print_pauses(void)
{
	static struct stall all[MAX_WRITERS * MAX_STALLS];
	unsigned int n = 0;

	for (unsigned int i = 0; i < nwriters; i++)
		for (unsigned int k = 0; k < writers[i].nstalls; k++)
			all[n++] = writers[i].stalls[k];
	qsort(all, n, sizeof(all[0]), cmp_stall);
	for (unsigned int i = 0; i < n;) {
		struct stall m = all[i++];

		while (i < n && all[i].start <= m.end) {
			if (all[i].end > m.end)
				m.end = all[i].end;
			i++;
		}
		printf("VBACK: PAUSE t=%.2f ms=%llu\n",
		       (double)(m.start - t0) / 1e9,
		       (unsigned long long)((m.end - m.start) / 1000000));
	}
}

/* blkwrite verify IMAGE WRITERS N0 N1 ...: the last acknowledged write of
 * every block, as the guest's read-back checks it. */
static int verify(int argc, char **argv)
{
	uint64_t want[BLOCK / 8], got[BLOCK / 8], checked = 0, bad = 0;
	struct stat st;
	int img;

	nwriters = (unsigned int)atoi(argv[3]);
	if (argc != 4 + (int)nwriters || !nwriters || nwriters > MAX_WRITERS)
		return 2;
	img = open(argv[2], O_RDONLY);
	if (img < 0 || fstat(img, &st) < 0) {
		printf("VBACK: FAIL verify %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	nblocks = (uint64_t)st.st_size / BLOCK;
	for (unsigned int w = 0; w < nwriters; w++) {
		uint64_t n = strtoull(argv[4 + w], NULL, 10),
			 per = per_writer(w);

		for (uint64_t j = 0; j < n && j < per; j++) {
			uint64_t b = w + j * nwriters;

			pattern(b, (n - 1 - j) / per, want);
			checked++;
			if (pread(img, got, BLOCK, (off_t)(b * BLOCK)) !=
				    (ssize_t)BLOCK ||
			    memcmp(want, got, BLOCK)) {
				if (bad < 10)
					printf("VBACK: FAIL block %llu differs "
					       "in the image\n",
					       (unsigned long long)b);
				bad++;
			}
		}
	}
	printf("VBACK: VERIFY checked=%llu bad=%llu\n",
	       (unsigned long long)checked, (unsigned long long)bad);
	return bad || !checked ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned int secs, stuck = 0, bad = 0, errors = 0;
	uint64_t size = 0, max_ns = 0, *want, *got, deadline;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "verify"))
		return verify(argc, argv);
	if (argc != 4) {
		fprintf(stderr,
			"usage: %s DEVICE SECONDS WRITERS | verify IMAGE "
			"WRITERS N0 N1 ...\n",
			argv[0]);
		return 2;
	}
	secs = (unsigned int)atoi(argv[2]);
	nwriters = (unsigned int)atoi(argv[3]);
	if (!nwriters || nwriters > MAX_WRITERS)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0) {
		printf("VBACK: FAIL open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	nblocks = size / BLOCK;
	if (nblocks < nwriters) {
		printf("VBACK: FAIL %s: too small\n", argv[1]);
		return 1;
	}
	t0 = now_ns();
	for (unsigned int i = 0; i < nwriters; i++) {
		writers[i].w = i;
		pthread_create(&writers[i].th, NULL, writer_main, &writers[i]);
	}
	for (unsigned int t = 1; now_ns() - t0 < secs * 1000000000ull; t++) {
		uint64_t next = t0 + t * 1000000000ull, now = now_ns();

		if (next > now)
			usleep((useconds_t)((next - now) / 1000));
		printf("VBACK: PROGRESS t=%u acked=%llu\n", t,
		       (unsigned long long)total_acked());
	}
	atomic_store(&stop, 1);
	/* A writer whose request never comes back is reported, not
	 * waited for forever. */
	deadline = now_ns() + STUCK_NS;
	for (unsigned int i = 0; i < nwriters; i++) {
		struct writer *wr = &writers[i];

		while (!atomic_load(&wr->done) && now_ns() < deadline)
			usleep(100 * 1000);
		if (!atomic_load(&wr->done)) {
			uint64_t since = atomic_load(&wr->busy_since);

			printf("VBACK: FAIL writer %u: a request unanswered "
			       "for %llu s\n",
			       i,
			       since ? (unsigned long long)((now_ns() - since) /
							    1000000000ull)
				     : 0ull);
			stuck++;
			continue;
		}
		pthread_join(wr->th, NULL);
		errors += wr->errors;
		if (wr->max_ns > max_ns)
			max_ns = wr->max_ns;
	}
	print_pauses();
	if (stuck) {
		/* The device answers nothing any more: a flush or a read back
		 * would wait forever too. */
		printf("VBACK: RESULT acked=%llu errors=%u bad=0 max_ms=%llu "
		       "stuck=%u\n",
		       (unsigned long long)total_acked(), errors,
		       (unsigned long long)(max_ns / 1000000), stuck);
		return 1;
	}
	if (fdatasync(fd) < 0) {
		printf("VBACK: FAIL final fdatasync: %s\n", strerror(errno));
		errors++;
	}
	/* Every acknowledged block, read back. */
	if (posix_memalign((void **)&want, BLOCK, BLOCK) ||
	    posix_memalign((void **)&got, BLOCK, (size_t)CHUNK_BLOCKS * BLOCK))
		return 1;
	for (unsigned int i = 0; i < nwriters; i++)
		printf("VBACK: ACKED w=%u n=%llu per=%llu\n", i,
		       (unsigned long long)atomic_load(&writers[i].acked),
		       (unsigned long long)per_writer(i));
	for (uint64_t c = 0; c < nblocks; c += CHUNK_BLOCKS) {
		uint64_t len =
			nblocks - c < CHUNK_BLOCKS ? nblocks - c : CHUNK_BLOCKS;
		bool read_ok = false, any = false;

		for (uint64_t b = c; b < c + len; b++) {
			unsigned int w = (unsigned int)(b % nwriters);
			uint64_t n = atomic_load(&writers[w].acked),
				 per = per_writer(w), j = b / nwriters;

			/* Block b is write j of its writer, and of each
			 * later pass: the last acknowledged one counts. */
			if (j >= n)
				continue;
			if (!any) {
				any = true;
				read_ok = pread(fd, got, len * BLOCK,
						(off_t)(c * BLOCK)) ==
					  (ssize_t)(len * BLOCK);
			}
			pattern(b, (n - 1 - j) / per, want);
			if (!read_ok ||
			    memcmp(want, got + (b - c) * (BLOCK / 8), BLOCK)) {
				if (bad < 10)
					printf("VBACK: FAIL block %llu does "
					       "not hold what was written\n",
					       (unsigned long long)b);
				bad++;
			}
		}
	}
	printf("VBACK: RESULT acked=%llu errors=%u bad=%u max_ms=%llu "
	       "stuck=%u\n",
	       (unsigned long long)total_acked(), errors, bad,
	       (unsigned long long)(max_ns / 1000000), stuck);
	return errors || bad || stuck ? 1 : 0;
}
