/* SPDX-License-Identifier: MIT */
#ifndef VBACK_DISK_SIGNALS_H
#define VBACK_DISK_SIGNALS_H

/**
 * Block SIGINT, SIGTERM and SIGHUP and return a non-blocking signalfd that
 * reads them, for the loop: teardown then runs in a loop callback, never in
 * a signal handler. Ignores SIGPIPE (a peer that went away is an error
 * return, not a death). Call before any thread starts (the IO engines'
 * workers inherit the mask). Returns the fd or -errno.
 */
int vback_disk_signalfd(void);

#endif /* VBACK_DISK_SIGNALS_H */
