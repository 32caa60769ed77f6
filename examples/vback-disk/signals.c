/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "signals.h"

int vback_disk_signalfd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

bool vback_disk_stop_signal_pending(int sig_fd)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (sig_fd >= 0 && read(sig_fd, &si, sizeof(si)) == sizeof(si))
		stop |= si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT;
	return stop;
}

bool vback_disk_stop_wait_over(void *arg)
{
	struct vback_disk_stop_wait *w = arg;

	if (!*w->hurry && vback_disk_stop_signal_pending(w->sig_fd)) {
		vback_logf(w->log, VBACK_LOG_WARN,
			   "second signal: not waiting for connects");
		*w->hurry = true;
	}
	return *w->hurry;
}
