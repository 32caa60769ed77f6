/* SPDX-License-Identifier: MIT */
/*
 * bench_io: 4 KiB random reads through the posix and io_uring engines at
 * queue depth 1 and 32, driven the way a virtio device drives them (submit
 * from the completion callback, unplug after each loop round). Prints IOPS
 * and, given fio's figures for the same file (scripts/bench-io.sh runs fio's
 * io_uring engine), the ratio of each to fio.
 *
 * Usage: bench_io [--runtime SEC] [--rounds N] [--buffered] [--workers N]
 *                 [--fio FIO | --fio-qd1 IOPS --fio-qd32 IOPS] FILE
 *
 * With --fio, fio runs right before the engines at each depth in every
 * round, so a noisy machine (a VM sharing its disk) hits all of them alike;
 * each figure is the median of the rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vback/epoll.h>
#include <vback/io.h>

#define BLOCK 4096u

struct slot {
	struct vback_io_req req;
	struct vback_iovec iov;
	struct bench *b;
};

struct bench {
	struct vback_io io;
	uint64_t nblocks;
	uint64_t rng;
	uint64_t completed;
	unsigned int inflight;
	unsigned int errors;
	bool stopping;
};

static uint64_t next_rand(struct bench *b)
{
	/* xorshift64: cheap, and the same stream for every engine. */
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->rng;
}

static int start(struct bench *b, struct slot *s)
{
	int ret;

	s->req.offset = next_rand(b) % b->nblocks * BLOCK;
	ret = vback_io_submit(&b->io, &s->req);
	if (!ret)
		b->inflight++;
	return ret;
}

static void on_done(struct vback_io_req *req, int result)
{
	struct slot *s = req->opaque;
	struct bench *b = s->b;

	b->inflight--;
	b->completed++;
	if (result)
		b->errors++;
	if (!b->stopping && start(b, s))
		b->errors++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* IOPS of one engine at one depth; negative errno on failure. */
static double run(const char *path, enum vback_io_engine engine, bool direct,
		  unsigned int workers, unsigned int qd, double runtime)
{
	struct vback_loop *loop;
	struct vback_io_caps caps;
	struct bench b = { .rng = 0x9e3779b97f4a7c15ull };
	struct vback_io_options o = {
		.path = path,
		.engine = engine,
		.direct = direct,
		.read_only = true,
		.queue_depth = qd,
		.workers = workers,
	};
	struct slot *slots;
	uint8_t *mem = NULL;
	double t0, t1 = 0;
	int ret;

	ret = vback_epoll_loop_create(NULL, &loop);
	if (ret)
		return ret;
	ret = vback_io_open(&o, loop, &b.io);
	if (ret) {
		vback_epoll_loop_destroy(loop);
		return ret;
	}
	if (vback_io_engine_of(&b.io) != engine)
		fprintf(stderr, "bench_io: %s fell back to %s\n",
			vback_io_engine_name(engine),
			vback_io_engine_name(vback_io_engine_of(&b.io)));
	vback_io_get_caps(&b.io, &caps);
	b.nblocks = caps.size_bytes / BLOCK;
	slots = calloc(qd, sizeof(*slots));
	if (!b.nblocks || !slots ||
	    posix_memalign((void **)&mem, BLOCK, (size_t)qd * BLOCK)) {
		ret = b.nblocks ? -ENOMEM : -EINVAL;
		goto out;
	}
	for (unsigned int i = 0; i < qd; i++) {
		slots[i].b = &b;
		slots[i].iov = (struct vback_iovec){ mem + i * BLOCK, BLOCK };
		slots[i].req.op = VBACK_IO_READ;
		slots[i].req.iov = &slots[i].iov;
		slots[i].req.iovcnt = 1;
		slots[i].req.done = on_done;
		slots[i].req.opaque = &slots[i];
	}
	t0 = now();
	for (unsigned int i = 0; i < qd; i++)
		if (start(&b, &slots[i]))
			b.errors++;
	vback_io_unplug(&b.io);
	do {
		ret = vback_loop_run_once(loop, 100);
		if (ret < 0)
			break;
		vback_io_unplug(&b.io);
		t1 = now();
	} while (t1 - t0 < runtime);
	b.stopping = true;
	while (b.inflight && vback_loop_run_once(loop, 100) >= 0)
		;
	ret = b.errors ? -EIO : 0;
out:
	vback_io_close(&b.io);
	vback_epoll_loop_destroy(loop);
	free(slots);
	free(mem);
	if (ret)
		return ret;
	return (double)b.completed / (t1 - t0);
}

/* Run fio's io_uring engine on @path; its read IOPS, or -1. */
static double run_fio(const char *fio, const char *path, unsigned int qd,
		      bool direct, double runtime)
{
	char depth[32], rt[32], file[4096], out[8192];
	const char *argv[] = {
		fio,
		"--name=vback-bench",
		file,
		"--ioengine=io_uring",
		"--rw=randread",
		"--bs=4k",
		depth,
		direct ? "--direct=1" : "--direct=0",
		rt,
		"--time_based",
		/* fio drops the file's page cache first by default; the
		 * engines read through it, so keep it for both. */
		"--invalidate=0",
		"--numjobs=1",
		"--output-format=terse",
		"--terse-version=3",
		NULL,
	};
	size_t len = 0;
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;
	char *f;

	snprintf(depth, sizeof(depth), "--iodepth=%u", qd);
	snprintf(rt, sizeof(rt), "--runtime=%.0f", runtime);
	snprintf(file, sizeof(file), "--filename=%s", path);
	if (pipe2(pipefd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		/* execvp() does not write to its arguments. */
		execvp(fio, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (len < sizeof(out) - 1 &&
	       (n = read(pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	close(pipefd[0]);
	out[len] = 0;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -1;
	/* Terse v3: version;fio;job;group;error;read KiB;read KiB/s;read IOPS */
	f = out;
	for (int i = 0; i < 7 && f; i++) {
		f = strchr(f, ';');
		if (f)
			f++;
	}
	return f ? atof(f) : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_row(const char *name, unsigned int qd, double iops,
		      double fio)
{
	if (iops < 0)
		printf("%-10s %4u %12s\n", name, qd, "failed");
	else if (fio > 0)
		printf("%-10s %4u %12.0f %9.1f%%\n", name, qd, iops,
		       100.0 * iops / fio);
	else
		printf("%-10s %4u %12.0f %10s\n", name, qd, iops, "-");
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_io [--runtime SEC] [--rounds N] "
			"[--buffered] [--workers N]\n"
			"                [--fio FIO | --fio-qd1 IOPS "
			"--fio-qd32 IOPS] FILE\n");
	exit(2);
}

#define MAX_ROUNDS 15

int main(int argc, char **argv)
{
	static const unsigned int depths[] = { 1, 32 };
	static const enum vback_io_engine engines[] = {
		VBACK_IO_ENGINE_POSIX,
		VBACK_IO_ENGINE_URING,
	};
	double given[2] = { 0, 0 }, runtime = 10;
	/* [depth][0 = fio, 1 + engine][round] */
	double iops[2][3][MAX_ROUNDS];
	const char *path = NULL, *fio = NULL;
	unsigned int workers = 0, rounds = 1;
	bool direct = true;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runtime") && i + 1 < argc)
			runtime = atof(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = (unsigned int)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			workers = (unsigned int)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--buffered"))
			direct = false;
		else if (!strcmp(argv[i], "--fio") && i + 1 < argc)
			fio = argv[++i];
		else if (!strcmp(argv[i], "--fio-qd1") && i + 1 < argc)
			given[0] = atof(argv[++i]);
		else if (!strcmp(argv[i], "--fio-qd32") && i + 1 < argc)
			given[1] = atof(argv[++i]);
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			usage();
	}
	if (!path || runtime <= 0 || !rounds || rounds > MAX_ROUNDS)
		usage();

	printf("4 KiB random read, %s, %.0f s per run, median of %u round(s): "
	       "%s\n",
	       direct ? "O_DIRECT" : "buffered", runtime, rounds, path);
	if (fio)
		printf("fio: %s --name=vback-bench --filename=%s "
		       "--ioengine=io_uring --rw=randread --bs=4k --iodepth=QD "
		       "--direct=%d --runtime=%.0f --time_based --invalidate=0 "
		       "--numjobs=1 --output-format=terse --terse-version=3\n",
		       fio, path, direct, runtime);
	fflush(stdout);
	for (unsigned int r = 0; r < rounds; r++) {
		for (unsigned int d = 0; d < 2; d++) {
			iops[d][0][r] = fio ? run_fio(fio, path, depths[d],
						      direct, runtime)
					    : given[d];
			for (unsigned int e = 0; e < 2; e++)
				iops[d][1 + e][r] =
					run(path, engines[e], direct, workers,
					    depths[d], runtime);
			fprintf(stderr,
				"round %u qd %u: fio %.0f posix %.0f io_uring "
				"%.0f\n",
				r + 1, depths[d], iops[d][0][r], iops[d][1][r],
				iops[d][2][r]);
		}
	}
	printf("%-10s %4s %12s %10s\n", "engine", "qd", "IOPS", "vs fio");
	for (unsigned int d = 0; d < 2; d++) {
		double f = median(iops[d][0], rounds);

		if (f > 0)
			print_row("fio", depths[d], f, f);
		for (unsigned int e = 0; e < 2; e++) {
			double v = median(iops[d][1 + e], rounds);

			if (v < 0)
				failed = 1;
			print_row(vback_io_engine_name(engines[e]), depths[d],
				  v, f);
		}
	}
	return failed;
}
