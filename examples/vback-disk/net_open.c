/* SPDX-License-Identifier: MIT */
/* A network disk opened on a thread of its own: see net_open.h. */
#include "net_open.h"

static void *net_open_main(void *arg)
{
	struct net_open *no = arg;

	no->ret = vback_io_open(&no->opts, no->loop, &no->io);
	vback_loop_post(no->loop, &no->done);
	return NULL;
}

int net_open_start(struct net_open *no, const struct vback_io_options *opts,
		   const struct vback_loop *loop, vback_work_fn done,
		   void *opaque)
{
	no->opts = *opts;
	no->opts.detached = true;
	no->loop = loop;
	no->ret = 0;
	vback_work_init(&no->done, done, opaque);
	return -pthread_create(&no->thread, NULL, net_open_main, no);
}

int net_open_join(struct net_open *no)
{
	pthread_join(no->thread, NULL);
	return no->ret;
}

void net_open_abandon(struct net_open *no)
{
	pthread_join(no->thread, NULL);
	vback_loop_cancel(no->loop, &no->done);
	if (no->ret == 0)
		vback_io_close(&no->io); /* never attached */
}

unsigned int net_open_bound_s(const struct net_open *no)
{
	unsigned int ms = no->opts.timeout_ms ? no->opts.timeout_ms
					      : VBACK_IO_NET_TIMEOUT_MS;

	return (ms + 999) / 1000;
}
