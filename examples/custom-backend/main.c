/* SPDX-License-Identifier: MIT */
/*
 * custom-backend: serve a copy-on-write view of a disk image as a
 * virtio-blk device over vhost-user, built on nothing but the installed
 * vback headers and `pkg-config vback`. See docs/writing-a-backend.md.
 *
 *   custom-backend [-o OVERLAY] [-b BLOCK] [-1] [-v] BASE SOCKET
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <vback/epoll.h>
#include <vback/io.h>
#include <vback/vhost_user.h>

#include "cow.h"

struct app {
	struct vback_loop *loop;
	struct vback_vhu *vhu;
	bool once; /* -1: exit when the first front-end has left */
	bool stopping;
};

/* The library's log lines; the sink decides where they go. */
static void log_line(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "custom-backend: %s%s\n",
		level == VBACK_LOG_ERR ? "error: " : "", msg);
}

/* Called on the loop thread by the transport. */
static void on_vhu_event(void *opaque, enum vback_vhu_event ev)
{
	struct app *a = opaque;

	if (ev == VBACK_VHU_CONNECTED)
		fprintf(stderr, "custom-backend: front-end connected\n");
	/* IDLE: the rings are stopped and no IO is in flight any more. */
	if (ev == VBACK_VHU_IDLE && (a->once || a->stopping))
		vback_loop_stop(a->loop);
}

static void on_signal(void *opaque, int fd, uint32_t events)
{
	struct app *a = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	a->stopping = true;
	/* Let in-flight IO finish before the loop stops (on IDLE). */
	vback_vhu_disconnect(a->vhu);
	if (!vback_vhu_draining(a->vhu))
		vback_loop_stop(a->loop);
}

static int usage(void)
{
	fprintf(stderr, "usage: custom-backend [-o OVERLAY] [-b BLOCK] [-1] "
			"[-v] BASE SOCKET\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct app a = { 0 };
	struct vback_log log = { .fn = log_line, .max_level = VBACK_LOG_INFO };
	struct cow_options co = { .log = &log };
	struct vback_blk_options bo = { .serial = "custom-cow",
					.writeback = true,
					.log = &log };
	struct vback_vhu_options vo = { .event = on_vhu_event,
					.opaque = &a,
					.log = &log };
	struct vback_blk *blk = NULL;
	struct vback_io io = { 0 };
	struct cow_stats st;
	sigset_t set;
	int opt, sfd = -1, ret;

	while ((opt = getopt(argc, argv, "o:b:1v")) != -1) {
		if (opt == 'o')
			co.overlay_path = optarg;
		else if (opt == 'b')
			co.block_size = (uint32_t)strtoul(optarg, NULL, 0);
		else if (opt == '1')
			a.once = true;
		else if (opt == 'v')
			log.max_level = VBACK_LOG_DEBUG;
		else
			return usage();
	}
	if (argc - optind != 2)
		return usage();
	co.base_path = argv[optind];
	vo.socket_path = argv[optind + 1];

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

	/* Bottom up: loop, IO, device, transport. */
	ret = sfd < 0 ? -errno : vback_epoll_loop_create(&log, &a.loop);
	if (!ret)
		ret = vback_loop_watch(a.loop, sfd, VBACK_EV_IN, on_signal, &a);
	co.loop = a.loop;
	if (!ret)
		ret = cow_open(&co, &io);
	bo.io = io;
	if (!ret)
		ret = vback_blk_create(&bo, &blk);
	if (!ret) {
		vo.dev = vback_blk_dev(blk);
		vo.loop = a.loop;
		ret = vback_vhu_create(&vo, &a.vhu);
	}
	if (!ret) {
		fprintf(stderr, "custom-backend: serving %s on %s\n",
			co.base_path, vo.socket_path);
		ret = vback_loop_run(a.loop);
	}
	if (ret)
		fprintf(stderr, "custom-backend: failed: %s\n",
			vback_strerror(ret));

	/* Top down (see vback_blk_destroy()): transport, IO, device. */
	if (a.vhu)
		vback_vhu_destroy(a.vhu);
	if (io.ops) {
		cow_get_stats(&io, &st);
		printf("overlay: %llu blocks, %llu copy-ups, %llu flushes\n",
		       (unsigned long long)st.overlay_blocks,
		       (unsigned long long)st.copy_ups,
		       (unsigned long long)st.flushes);
		vback_io_close(&io);
	}
	if (blk)
		vback_blk_destroy(blk);
	if (a.loop) {
		vback_loop_unwatch(a.loop, sfd);
		vback_epoll_loop_destroy(a.loop);
	}
	if (sfd >= 0)
		close(sfd);
	return ret ? EXIT_FAILURE : EXIT_SUCCESS;
}
