/* SPDX-License-Identifier: MIT */
/*
 * Guest helper: ask the block layer to zero a range (BLKZEROOUT), which
 * virtio-blk turns into a WRITE_ZEROES request when the device offers it.
 * Built statically by build-guest.sh; busybox has no such applet.
 * Usage: zeroout DEVICE OFFSET LENGTH
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uint64_t range[2];
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: %s DEVICE OFFSET LENGTH\n", argv[0]);
		return 2;
	}
	range[0] = strtoull(argv[2], NULL, 0);
	range[1] = strtoull(argv[3], NULL, 0);
	fd = open(argv[1], O_WRONLY);
	if (fd < 0 || ioctl(fd, BLKZEROOUT, range) < 0) {
		perror(argv[1]);
		return 1;
	}
	return close(fd) == 0 ? 0 : 1;
}
