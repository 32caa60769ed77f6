/* SPDX-License-Identifier: MIT */
#ifndef VBACK_DISK_SIGNALS_H
#define VBACK_DISK_SIGNALS_H

#include <stdbool.h>

#include <vback/base.h>

/**
 * Block SIGINT, SIGTERM and SIGHUP and return a non-blocking signalfd that
 * reads them, for the loop: teardown then runs in a loop callback, never in
 * a signal handler. Ignores SIGPIPE (a peer that went away is an error
 * return, not a death). Call before any thread starts (the IO engines'
 * workers inherit the mask). Returns the fd or -errno.
 */
int vback_disk_signalfd(void);

/**
 * Read what @sig_fd (from vback_disk_signalfd()) holds, without waiting:
 * true when SIGTERM or SIGINT was among it (SIGHUP is dropped). For waits
 * after the loop has stopped, which a second stop signal cuts short.
 */
bool vback_disk_stop_signal_pending(int sig_fd);

/* A stop's wait that a second stop signal ends (net_open_abandon()). */
struct vback_disk_stop_wait {
	struct vback_log *log;
	int sig_fd;  /* the daemon's signalfd */
	bool *hurry; /* set once such a signal came (also by the loop) */
};

/**
 * net_open_abandon()'s give_up for @arg, a struct vback_disk_stop_wait:
 * true once a second SIGTERM or SIGINT came, now (it is then logged) or
 * before (*hurry already set).
 */
bool vback_disk_stop_wait_over(void *arg);

#endif /* VBACK_DISK_SIGNALS_H */
