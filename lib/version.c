/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <vback/base.h>

const char *vback_version(void)
{
	return VBACK_VERSION;
}
