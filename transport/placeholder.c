/* SPDX-License-Identifier: MIT */
int vback_transport_placeholder(void);
int vback_transport_placeholder(void)
{
	return 0;
}
