/* SPDX-License-Identifier: MIT */
/*
 * vback-rng: a virtio-rng device (entropy from getrandom(2)) served over
 * vhost-user, to QEMU's vhost-user-rng-pci for instance. The second device
 * type of vback in a program: the same loop, transport and device core as
 * vback-disk, a different "handle this chain".
 *
 *   vback-rng [-1] SOCKET
 *
 * -1: exit when the first front-end has left. SIGTERM/SIGINT stop it. On
 * exit it prints how many bytes it handed out.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <vback/epoll.h>
#include <vback/vhost_user.h>
#include <vback/virtio.h>

struct app {
	struct vback_loop *loop;
	struct vback_vhu *vhu;
	struct vback_rng *rng;
	bool once;
	bool stopping;
};

static long fill(void *opaque, void *buf, size_t len)
{
	ssize_t n;

	(void)opaque;
	/* Non-blocking: never hold the loop; "none now" is an answer too. */
	n = getrandom(buf, len, GRND_NONBLOCK);
	return n < 0 ? -errno : (long)n;
}

static void on_vhu_event(void *opaque, enum vback_vhu_event ev)
{
	struct app *a = opaque;

	if (ev == VBACK_VHU_CONNECTED)
		fprintf(stderr, "vback-rng: front-end connected\n");
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
	vback_vhu_disconnect(a->vhu);
	if (!vback_vhu_draining(a->vhu))
		vback_loop_stop(a->loop);
}

int main(int argc, char **argv)
{
	struct vback_log log = { NULL, NULL, VBACK_LOG_INFO };
	struct vback_rng_options ro = { .fill = fill, .log = &log };
	struct vback_vhu_options vo = { .event = on_vhu_event, .log = &log };
	struct app a = { 0 };
	sigset_t set;
	int sfd, ret, arg = 1;

	if (argc > 1 && !strcmp(argv[1], "-1")) {
		a.once = true;
		arg++;
	}
	if (argc != arg + 1) {
		fprintf(stderr, "usage: %s [-1] SOCKET\n", argv[0]);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	ret = sfd < 0 ? -errno : vback_epoll_loop_create(&log, &a.loop);
	if (!ret)
		ret = vback_loop_watch(a.loop, sfd, VBACK_EV_IN, on_signal, &a);
	if (!ret)
		ret = vback_rng_create(&ro, &a.rng);
	if (!ret) {
		vo.dev = vback_rng_dev(a.rng);
		vo.loop = a.loop;
		vo.opaque = &a;
		vo.socket_path = argv[arg];
		vo.name = "vback-rng";
		ret = vback_vhu_create(&vo, &a.vhu);
	}
	if (!ret) {
		fprintf(stderr, "vback-rng: listening on %s\n", argv[arg]);
		ret = vback_loop_run(a.loop);
	}
	if (ret)
		fprintf(stderr, "vback-rng: %s\n", vback_strerror(ret));
	/* Teardown: transport, then device (no IO layer to drain). */
	vback_vhu_destroy(a.vhu);
	if (a.rng)
		fprintf(stderr, "vback-rng: %llu bytes of entropy served\n",
			(unsigned long long)vback_rng_bytes(a.rng));
	vback_rng_destroy(a.rng);
	if (a.loop) {
		if (sfd >= 0)
			vback_loop_unwatch(a.loop, sfd);
		vback_epoll_loop_destroy(a.loop);
	}
	if (sfd >= 0)
		close(sfd);
	return ret ? EXIT_FAILURE : EXIT_SUCCESS;
}
