/* SPDX-License-Identifier: MIT */
int vback_io_placeholder(void);
int vback_io_placeholder(void) { return 0; }
