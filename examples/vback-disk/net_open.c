/* SPDX-License-Identifier: MIT */
/* A network disk opened on a thread of its own: see net_open.h. */
#include <time.h>

#include "net_open.h"

static void *net_open_main(void *arg)
{
	struct net_open *no = arg;
	int ret = vback_io_open(&no->opts, no->loop, &no->io);

	pthread_mutex_lock(&no->lock);
	no->ret = ret;
	no->finished = true;
	if (!no->given_up)
		vback_loop_post(no->loop, &no->done);
	else if (ret == 0)
		vback_io_close(&no->io); /* never attached: no loop */
	pthread_mutex_unlock(&no->lock);
	return NULL;
}

int net_open_start(struct net_open *no, const struct vback_io_options *opts,
		   const struct vback_loop *loop, vback_work_fn done,
		   void *opaque)
{
	int ret;

	no->opts = *opts;
	no->opts.detached = true;
	no->loop = loop;
	no->ret = 0;
	no->finished = false;
	no->given_up = false;
	vback_work_init(&no->done, done, opaque);
	pthread_mutex_init(&no->lock, NULL);
	ret = -pthread_create(&no->thread, NULL, net_open_main, no);
	if (ret < 0)
		pthread_mutex_destroy(&no->lock);
	return ret;
}

int net_open_join(struct net_open *no)
{
	pthread_join(no->thread, NULL);
	pthread_mutex_destroy(&no->lock);
	return no->ret;
}

bool net_open_abandon(struct net_open *no, bool (*give_up)(void *arg),
		      void *arg)
{
	for (;;) {
		struct timespec t;

		if (give_up && give_up(arg)) {
			bool finished;

			pthread_mutex_lock(&no->lock);
			finished = no->finished;
			no->given_up = !finished;
			pthread_mutex_unlock(&no->lock);
			if (!finished) {
				/* It will neither post nor keep what it
				 * opens. */
				pthread_detach(no->thread);
				return false;
			}
			pthread_join(no->thread, NULL);
			break; /* it had ended: clean up as usual */
		}
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += 100 * 1000 * 1000;
		if (t.tv_nsec >= 1000 * 1000 * 1000) {
			t.tv_sec++;
			t.tv_nsec -= 1000 * 1000 * 1000;
		}
		if (pthread_timedjoin_np(no->thread, NULL, &t) == 0)
			break;
	}
	pthread_mutex_destroy(&no->lock);
	vback_loop_cancel(no->loop, &no->done);
	if (no->ret == 0)
		vback_io_close(&no->io); /* never attached */
	return true;
}

unsigned int net_open_bound_s(const struct net_open *no)
{
	unsigned int ms = no->opts.timeout_ms ? no->opts.timeout_ms
					      : VBACK_IO_NET_TIMEOUT_MS;

	return (ms + 999) / 1000;
}
