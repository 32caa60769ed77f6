/* SPDX-License-Identifier: MIT */
/*
 * Opening disks: engine names, argument checks, refusing what must not be
 * used (mounted block devices, non-disks), the log lines that say why, the
 * io_uring -> posix fallback when the kernel refuses io_uring, and network
 * disk specs that cannot work (bad specs, no server), each with one line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cmocka.h>

#include <vback/epoll.h>
#include <vback/io.h>

#include "config.h"
#include "io_internal.h"

struct logged {
	int lines;
	enum vback_log_level level;
	char last[512];
};

static void sink(void *opaque, enum vback_log_level level, const char *msg)
{
	struct logged *l = opaque;

	l->lines++;
	l->level = level;
	snprintf(l->last, sizeof(l->last), "%s", msg);
}

struct t {
	struct vback_loop *loop;
	char dir[256];
	char file[512];
	struct logged logged;
	struct vback_log log;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	int fd;

	assert_non_null(t);
	assert_int_equal(vback_epoll_loop_create(NULL, &t->loop), 0);
	snprintf(t->dir, sizeof(t->dir), "/var/tmp/vback-io-open-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->file, sizeof(t->file), "%s/disk.img", t->dir);
	fd = open(t->file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1024 * 1024), 0);
	close(fd);
	t->log = (struct vback_log){ sink, &t->logged, VBACK_LOG_DEBUG };
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	unlink(t->file);
	rmdir(t->dir);
	vback_epoll_loop_destroy(t->loop);
	free(t);
	return 0;
}

static void test_engine_names(void **state)
{
	enum vback_io_engine e = VBACK_IO_ENGINE_MEMORY;

	(void)state;
	assert_string_equal(vback_io_engine_name(VBACK_IO_ENGINE_DEFAULT),
			    "default");
	assert_string_equal(vback_io_engine_name(VBACK_IO_ENGINE_POSIX),
			    "posix");
	assert_string_equal(vback_io_engine_name(VBACK_IO_ENGINE_URING),
			    "io_uring");
	assert_string_equal(vback_io_engine_name(VBACK_IO_ENGINE_MEMORY),
			    "memory");
	assert_string_equal(vback_io_engine_name(VBACK_IO_ENGINE_NBD), "nbd");
	assert_string_equal(vback_io_engine_name(VBACK_IO_ENGINE_RBD), "rbd");
	assert_string_equal(vback_io_engine_name(VBACK_IO_ENGINE_NULL), "null");
	assert_null(vback_io_engine_name((enum vback_io_engine)99));
	for (int i = VBACK_IO_ENGINE_DEFAULT; i <= VBACK_IO_ENGINE_NULL; i++) {
		assert_int_equal(
			vback_io_engine_parse(vback_io_engine_name(
						      (enum vback_io_engine)i),
					      &e),
			0);
		assert_int_equal(e, i);
	}
	assert_int_equal(vback_io_engine_parse("uring", &e), 0);
	assert_int_equal(e, VBACK_IO_ENGINE_URING);
	assert_int_equal(vback_io_engine_parse("libaio", &e), -EINVAL);
	assert_int_equal(vback_io_engine_parse("", &e), -EINVAL);
	assert_int_equal(vback_io_engine_parse(NULL, &e), -EINVAL);
}

static void test_bad_arguments(void **state)
{
	struct t *t = *state;
	struct vback_io io = { 0 };
	struct vback_io_options o = { .path = t->file, .log = &t->log };
	int lines;

	assert_int_equal(vback_io_open(NULL, t->loop, &io), -EINVAL);
	assert_int_equal(vback_io_open(&o, NULL, &io), -EINVAL);
	assert_int_equal(vback_io_open(&o, t->loop, NULL), -EINVAL);
	o.engine = (enum vback_io_engine)99;
	assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
	o.engine = VBACK_IO_ENGINE_POSIX;
	o.path = NULL;
	assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
	/* A plain errno is the caller's to report (it knows which guest
	 * disk this is): the IO layer adds no second line for it. */
	o.path = "/nonexistent/vback/disk";
	lines = t->logged.lines;
	assert_int_equal(vback_io_open(&o, t->loop, &io), -ENOENT);
	assert_int_equal(t->logged.lines, lines);
	/* A directory or a character device is not a disk. */
	o.path = t->dir;
	assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
	assert_non_null(strstr(t->logged.last, "not a regular file"));
	o.path = "/dev/null";
	assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
	/* Depths and thread counts are bounded, for every engine. */
	o.path = t->file;
	for (int e = 0; e < 4; e++) {
		static const enum vback_io_engine engines[] = {
			VBACK_IO_ENGINE_POSIX, VBACK_IO_ENGINE_URING,
			VBACK_IO_ENGINE_MEMORY, VBACK_IO_ENGINE_NULL
		};

		o.engine = engines[e];
		o.mem_size = 1 << 20;
		o.queue_depth = VBACK_IO_MAX_DEPTH + 1;
		assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
		o.queue_depth = UINT_MAX;
		assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
		o.queue_depth = 0;
		o.workers = UINT_MAX;
		assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
		o.workers = 0;
	}
	{
		struct vback_io_memory_options mo = { .size = 1 << 20 };

		mo.queue_depth = VBACK_IO_MAX_DEPTH + 1;
		assert_int_equal(vback_io_memory_create(&mo, t->loop, &io),
				 -EINVAL);
	}
	o.engine = VBACK_IO_ENGINE_POSIX;
	/* Memory disks need a size in whole sectors. */
	o.engine = VBACK_IO_ENGINE_MEMORY;
	o.mem_size = 0;
	assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
	o.mem_size = 1000;
	assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
	assert_null(io.ops);
	/* Closing nothing is harmless. */
	vback_io_close(&io);
	vback_io_close(NULL);
}

/* --direct on a file system without O_DIRECT (ramfs; tmpfs before Linux
 * 6.6, as in the real-Xen suite's Dom0): EINVAL, with a line that says
 * so instead of the bare errno. Needs root for the mount: skipped else. */
static void test_direct_unsupported_fs(void **state)
{
	struct t *t = *state;
	struct vback_io io = { 0 };
	struct vback_io_options o = { .log = &t->log, .direct = true };
	char mnt[600], file[700];
	int fd;

	snprintf(mnt, sizeof(mnt), "%s/ramfs", t->dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("vback-test", mnt, "ramfs", 0, NULL) != 0) {
		rmdir(mnt);
		skip();
	}
	snprintf(file, sizeof(file), "%s/disk.img", mnt);
	fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	o.path = file;
	o.engine = VBACK_IO_ENGINE_POSIX;
	assert_int_equal(vback_io_open(&o, t->loop, &io), -EINVAL);
	assert_non_null(strstr(t->logged.last, "does not support O_DIRECT"));
	o.direct = false;
	assert_int_equal(vback_io_open(&o, t->loop, &io), 0);
	vback_io_close(&io);
	unlink(file);
	umount(mnt);
	rmdir(mnt);
}

static void test_engine_of(void **state)
{
	static const struct vback_io_ops user_ops = { 0 };
	struct t *t = *state;
	struct vback_io io;
	struct vback_io user = { &user_ops, NULL };
	struct vback_io_options o = { .path = t->file, .log = &t->log };

	assert_int_equal(vback_io_engine_of(&user), VBACK_IO_ENGINE_DEFAULT);
	assert_int_equal(vback_io_engine_of(NULL), VBACK_IO_ENGINE_DEFAULT);
	o.engine = VBACK_IO_ENGINE_POSIX;
	assert_int_equal(vback_io_open(&o, t->loop, &io), 0);
	assert_int_equal(vback_io_engine_of(&io), VBACK_IO_ENGINE_POSIX);
	vback_io_close(&io);
	/* The default prefers io_uring where it was built in. */
	o.engine = VBACK_IO_ENGINE_DEFAULT;
	assert_int_equal(vback_io_open(&o, t->loop, &io), 0);
	if (VBACK_HAVE_URING && t->logged.lines == 0)
		assert_int_equal(vback_io_engine_of(&io),
				 VBACK_IO_ENGINE_URING);
	else
		assert_int_equal(vback_io_engine_of(&io),
				 VBACK_IO_ENGINE_POSIX);
	vback_io_close(&io);
	/* The null engine: the size of the file, or mem_size; the file is
	 * only looked at, so a writer may hold it. */
	o.engine = VBACK_IO_ENGINE_POSIX;
	assert_int_equal(vback_io_open(&o, t->loop, &io), 0);
	{
		struct vback_io nio;
		struct vback_io_caps caps;

		o.engine = VBACK_IO_ENGINE_NULL;
		assert_int_equal(vback_io_open(&o, t->loop, &nio), 0);
		assert_int_equal(vback_io_engine_of(&nio),
				 VBACK_IO_ENGINE_NULL);
		assert_int_equal(vback_io_get_caps(&nio, &caps), 0);
		assert_int_equal(caps.size_bytes, 1024 * 1024);
		vback_io_close(&nio);
		o.mem_size = 8192;
		assert_int_equal(vback_io_open(&o, t->loop, &nio), 0);
		assert_int_equal(vback_io_get_caps(&nio, &caps), 0);
		assert_int_equal(caps.size_bytes, 8192);
		vback_io_close(&nio);
		o.mem_size = 0;
		o.path = "/nonexistent/vback/disk";
		assert_int_equal(vback_io_open(&o, t->loop, &nio), -ENOENT);
		o.path = NULL;
		assert_int_equal(vback_io_open(&o, t->loop, &nio), -EINVAL);
		o.path = t->file;
	}
	vback_io_close(&io);
	o.engine = VBACK_IO_ENGINE_MEMORY;
	o.mem_size = 4096;
	assert_int_equal(vback_io_open(&o, t->loop, &io), 0);
	assert_int_equal(vback_io_engine_of(&io), VBACK_IO_ENGINE_MEMORY);
	/* Error injection is for memory disks only. */
	assert_int_equal(io_memory_inject_error(&io, 0, 512, 5), -EINVAL);
	assert_int_equal(io_memory_inject_error(&user, 0, 512, -EIO), -EINVAL);
	vback_io_close(&io);
}

static int sh(const char *cmd)
{
	return system(cmd);
}

/* A block device with a mounted filesystem is refused, and the log says
 * where it is mounted. */
static void test_mounted_blockdev(void **state)
{
	struct t *t = *state;
	char cmd[2048], dev[64] = "", mnt[300];
	struct vback_io io;
	struct vback_io_options o = {
		.engine = VBACK_IO_ENGINE_POSIX,
		.log = &t->log,
		.read_only = true,
	};
	FILE *p;
	int ret;

	snprintf(cmd, sizeof(cmd),
		 "truncate -s 8M '%s' && mkfs.ext2 -q -F '%s' >/dev/null 2>&1 "
		 "&& losetup -f --show '%s' 2>/dev/null",
		 t->file, t->file, t->file);
	p = popen(cmd, "r");
	if (!p)
		skip();
	if (!fgets(dev, sizeof(dev), p))
		dev[0] = 0;
	ret = pclose(p);
	dev[strcspn(dev, "\n")] = 0;
	if (ret || dev[0] != '/')
		skip();
	snprintf(mnt, sizeof(mnt), "%s/mnt", t->dir);
	if (mkdir(mnt, 0700) < 0 || mount(dev, mnt, "ext2", MS_RDONLY, NULL)) {
		rmdir(mnt);
		snprintf(cmd, sizeof(cmd), "losetup -d %s", dev);
		sh(cmd);
		skip();
	}
	o.path = dev;
	ret = vback_io_open(&o, t->loop, &io);
	if (!ret)
		vback_io_close(&io);
	umount(mnt);
	rmdir(mnt);
	assert_int_equal(ret, -EBUSY);
	assert_non_null(strstr(t->logged.last, "is mounted on"));
	assert_non_null(strstr(t->logged.last, mnt));
	/* Unmounted, the same device opens. */
	assert_int_equal(vback_io_open(&o, t->loop, &io), 0);
	vback_io_close(&io);
	snprintf(cmd, sizeof(cmd), "losetup -d %s", dev);
	assert_int_equal(sh(cmd), 0);
}

struct closer {
	struct vback_io *io;
	unsigned int after_ms;
};

static void *close_later(void *arg)
{
	struct closer *c = arg;
	struct timespec ts = { 0, (long)c->after_ms * 1000000L };

	nanosleep(&ts, NULL);
	vback_io_close(c->io);
	return NULL;
}

/*
 * A file another instance holds is refused at once, or, with
 * busy_wait_ms, opened as soon as the holder lets go (a restart right
 * after a kill, while the kernel finishes the dead instance's IO), with
 * one line saying how long it waited.
 */
static void test_busy_wait(void **state)
{
	struct t *t = *state;
	struct vback_io first, second;
	struct vback_io_options o = {
		.path = t->file,
		.engine = VBACK_IO_ENGINE_POSIX,
		.log = &t->log,
	};
	struct closer c = { &first, 150 };
	pthread_t th;

	assert_int_equal(vback_io_open(&o, t->loop, &first), 0);
	assert_int_equal(vback_io_open(&o, t->loop, &second), -EBUSY);
	assert_non_null(strstr(t->logged.last, "by another vback instance"));
	/* Still held after the wait: -EBUSY all the same. */
	o.busy_wait_ms = 60;
	assert_int_equal(vback_io_open(&o, t->loop, &second), -EBUSY);
	/* Let go while the second one waits. */
	o.busy_wait_ms = 5000;
	assert_int_equal(pthread_create(&th, NULL, close_later, &c), 0);
	assert_int_equal(vback_io_open(&o, t->loop, &second), 0);
	pthread_join(th, NULL);
	assert_non_null(strstr(t->logged.last, "waited"));
	assert_non_null(strstr(t->logged.last, "another instance's lock"));
	vback_io_close(&second);
}

static void on_done(struct vback_io_req *req, int result)
{
	*(int *)req->opaque = result;
}

/*
 * io_uring refused by the kernel (a container's seccomp profile): the open
 * falls back to posix and says so in exactly one line. Runs last: the
 * filter cannot be removed from the process.
 */
static void test_uring_fallback(void **state)
{
	struct t *t = *state;
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };
	struct vback_io_options o = {
		.path = t->file,
		.engine = VBACK_IO_ENGINE_URING,
		.log = &t->log,
	};
	struct vback_io io;
	uint8_t buf[512];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		skip();
	assert_int_equal(vback_io_open(&o, t->loop, &io), 0);
	assert_int_equal(vback_io_engine_of(&io), VBACK_IO_ENGINE_POSIX);
	assert_int_equal(t->logged.lines, 1);
	assert_int_equal(t->logged.level, VBACK_LOG_WARN);
	assert_non_null(strstr(t->logged.last, "io_uring unavailable"));
	assert_non_null(strstr(t->logged.last, "posix"));
	/* The fallback disk works. */
	{
		struct vback_iovec iov = { buf, sizeof(buf) };
		int result = 1;
		struct vback_io_req req = {
			.op = VBACK_IO_READ,
			.iov = &iov,
			.iovcnt = 1,
			.done = on_done,
			.opaque = &result,
		};

		memset(buf, 0xee, sizeof(buf));
		assert_int_equal(vback_io_submit(&io, &req), 0);
		for (int i = 0; i < 100 && result == 1; i++)
			vback_loop_run_once(t->loop, 100);
		assert_int_equal(result, 0);
		assert_int_equal(buf[0], 0);
		assert_int_equal(buf[511], 0);
	}
	vback_io_close(&io);
	/* Asked for the default engine, it is only worth an INFO line. */
	o.engine = VBACK_IO_ENGINE_DEFAULT;
	assert_int_equal(vback_io_open(&o, t->loop, &io), 0);
	assert_int_equal(vback_io_engine_of(&io), VBACK_IO_ENGINE_POSIX);
	assert_int_equal(t->logged.lines, 2);
	assert_int_equal(t->logged.level, VBACK_LOG_INFO);
	vback_io_close(&io);
}

/* Open @path and expect @err with exactly one log line holding @why. */
static void open_fails(struct t *t, struct vback_io_options *o,
		       const char *path, int err, const char *why)
{
	struct vback_io io = { 0 };
	int lines = t->logged.lines;

	o->path = path;
	assert_int_equal(vback_io_open(o, t->loop, &io), err);
	assert_null(io.ops);
	assert_int_equal(t->logged.lines, lines + 1);
	assert_int_equal(t->logged.level, VBACK_LOG_ERR);
	if (!strstr(t->logged.last, why))
		fail_msg("'%s' does not say '%s'", t->logged.last, why);
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Network specs that cannot work, without any server: one line each. */
static void test_net_specs(void **state)
{
	struct t *t = *state;
	struct vback_io_options o = { .log = &t->log, .timeout_ms = 300 };
	char uri[700];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct vback_loop *simple;
	struct vback_io io;
	double t0;
	int lfd;

	/* An engine asked for by name wants its kind of spec. */
	o.engine = VBACK_IO_ENGINE_NBD;
	open_fails(t, &o, t->file, -EINVAL, "an NBD URI");
	o.engine = VBACK_IO_ENGINE_RBD;
	open_fails(t, &o, t->file, -EINVAL, "rbd:POOL/IMAGE");
	open_fails(t, &o, "nbd://127.0.0.1/", -EINVAL, "rbd:POOL/IMAGE");
	/* A spec picks its engine; memory ignores paths. */
	o.engine = VBACK_IO_ENGINE_MEMORY;
	o.mem_size = 4096;
	o.path = "nbd://127.0.0.1/";
	assert_int_equal(vback_io_open(&o, t->loop, &io), 0);
	assert_int_equal(vback_io_engine_of(&io), VBACK_IO_ENGINE_MEMORY);
	vback_io_close(&io);
	o.engine = VBACK_IO_ENGINE_POSIX;
	if (!VBACK_HAVE_NBD) {
		open_fails(t, &o, "nbd://127.0.0.1/", -ENOTSUP, "without");
	} else {
		open_fails(t, &o, "nbd+unix:///e", -EINVAL, "socket=");
		open_fails(t, &o, "nbds://h/e", -EINVAL, "TLS");
		/* Nobody at the socket or the port: refused at once. */
		snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s/none.sock",
			 t->dir);
		open_fails(t, &o, uri, -ENOENT, "cannot connect");
		open_fails(t, &o, "nbd://127.0.0.1:1/", -ECONNREFUSED,
			   "cannot connect");
		/* A server that accepts and never answers: the timeout. */
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%.90s/mute.sock",
			 t->dir);
		lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(lfd >= 0);
		assert_int_equal(bind(lfd, (struct sockaddr *)&sun,
				      sizeof(sun)),
				 0);
		assert_int_equal(listen(lfd, 4), 0);
		snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s",
			 sun.sun_path);
		t0 = seconds();
		open_fails(t, &o, uri, -ETIMEDOUT, "no handshake in time");
		assert_true(seconds() - t0 < 2.0);
		close(lfd);
		unlink(sun.sun_path);
		/* The engine needs a loop with fds. */
		assert_int_equal(vback_simple_loop_create(NULL, &simple), 0);
		o.path = "nbd://127.0.0.1:1/";
		assert_int_equal(vback_io_open(&o, simple, &io), -ENOTSUP);
		vback_simple_loop_destroy(simple);
	}
	if (!VBACK_HAVE_RBD) {
		open_fails(t, &o, "rbd:p/i", -ENOTSUP, "without");
	} else {
		open_fails(t, &o, "rbd:img", -EINVAL, "bad RBD spec");
		snprintf(uri, sizeof(uri), "rbd:p/i:conf=%s/none.conf", t->dir);
		open_fails(t, &o, uri, -ENOENT, "Ceph configuration");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_names),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_direct_unsupported_fs,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_of, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_busy_wait, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mounted_blockdev, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_uring_fallback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_net_specs, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("io open", tests, NULL, NULL);
}
