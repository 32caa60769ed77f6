/* SPDX-License-Identifier: MIT */
/* The recording register file: see fake_mmio.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_mmio.h"

/* Test-only state: one list of live instances per test program. */
static struct vback_mmio *live;

struct vback_mmio *fake_mmio_live(void)
{
	return live;
}

unsigned int fake_mmio_count(void)
{
	struct vback_mmio *m;
	unsigned int n = 0;

	for (m = live; m; m = m->next_live)
		n++;
	return n;
}

struct vback_mmio *fake_mmio_of(const struct vback_dev *dev)
{
	struct vback_mmio *m;

	for (m = live; m; m = m->next_live)
		if (m->opts.dev == dev)
			return m;
	return NULL;
}

void fake_mmio_raise(struct vback_mmio *m)
{
	m->opts.ops->set_irq(m->opts.opaque, true);
}

int vback_mmio_create(const struct vback_mmio_options *opts,
		      struct vback_mmio **out)
{
	struct vback_mmio *m;

	if (!opts || !opts->dev || !opts->ops || !opts->ops->set_irq)
		return -EINVAL;
	if (fake_mmio_of(opts->dev))
		return -EBUSY;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->opts = *opts;
	m->next_live = live;
	live = m;
	*out = m;
	return 0;
}

void vback_mmio_destroy(struct vback_mmio *mmio)
{
	struct vback_mmio **pp;

	for (pp = &live; *pp; pp = &(*pp)->next_live) {
		if (*pp == mmio) {
			*pp = mmio->next_live;
			break;
		}
	}
	free(mmio);
}

static void record(struct vback_mmio *m, uint64_t off, unsigned int size,
		   uint64_t val, bool write)
{
	struct fake_mmio_access *a = &m->log[m->nlog++ % 64];

	a->off = off;
	a->size = size;
	a->val = val;
	a->write = write;
}

static bool bad(uint64_t off, unsigned int size)
{
	return (size != 1 && size != 2 && size != 4 && size != 8) ||
	       off >= VBACK_MMIO_WINDOW_SIZE ||
	       size > VBACK_MMIO_WINDOW_SIZE - off;
}

int vback_mmio_read(struct vback_mmio *mmio, uint64_t off, unsigned int size,
		    uint64_t *val)
{
	uint64_t v = 0;
	unsigned int i;

	if (bad(off, size)) {
		*val = 0;
		record(mmio, off, size, 0, false);
		return -EINVAL;
	}
	if (off == 0 && size == 4) {
		v = FAKE_MMIO_MAGIC;
	} else {
		for (i = 0; i < size; i++)
			v |= (uint64_t)mmio->regs[off + i] << (8 * i);
	}
	*val = v;
	record(mmio, off, size, v, false);
	return 0;
}

int vback_mmio_write(struct vback_mmio *mmio, uint64_t off, unsigned int size,
		     uint64_t val)
{
	unsigned int i;

	record(mmio, off, size, val, true);
	if (bad(off, size))
		return -EINVAL;
	for (i = 0; i < size; i++)
		mmio->regs[off + i] = (uint8_t)(val >> (8 * i));
	return 0;
}

/* Taking devices over needs the real register file (tests/xen
 * test_xen_adopt.c links it); here nothing is saved or restored. */
int vback_mmio_save(const struct vback_mmio *mmio, struct vback_mmio_state *st)
{
	(void)mmio;
	memset(st, 0, sizeof(*st));
	return -ENOTSUP;
}

int vback_mmio_restore(struct vback_mmio *mmio,
		       const struct vback_mmio_state *st, const char **why)
{
	(void)mmio;
	(void)st;
	if (why)
		*why = "the recording register file restores nothing";
	return -ENOTSUP;
}
