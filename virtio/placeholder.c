/* SPDX-License-Identifier: MIT */
int vback_virtio_placeholder(void);
int vback_virtio_placeholder(void) { return 0; }
