/* SPDX-License-Identifier: MIT */
#ifndef VBACK_DISK_SIGNALS_H
#define VBACK_DISK_SIGNALS_H

#include <stdbool.h>

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

#endif /* VBACK_DISK_SIGNALS_H */
