/* SPDX-License-Identifier: MIT */
/*
 * A device's persistent state: what a process started after this one died
 * needs to take a running guest's device over. It lives in memory the
 * caller keeps outside the process (vback-disk: a file under /run):
 *
 *   header      what the device is (domain, window, IRQ, queues), the
 *               IOREQ server serving it, the guest's identity
 *   snapshot 0  the register file as the driver set it (struct
 *   snapshot 1  vback_mmio_state), double-buffered: @active names the
 *               complete one; a write goes to the other, then flips it
 *   records     the queues' in-flight records (vback/dev.h)
 *
 * The snapshot is taken after every register write the device handled
 * and before the access is answered: a process killed half way leaves
 * the previous snapshot and the access pending in its slot, which the
 * next process answers again (register writes are idempotent). The
 * records are kept by the device core as requests come and go.
 *
 * Everything here is read back only at adoption, once, into copies that
 * are checked: the file is as hostile as any other input.
 */
#include <string.h>

#include "xen_priv.h"

static const char state_magic[8] = { 'V', 'B', 'X', 'S', 'T', 'A', 'T', '1' };

#define STATE_VERSION 1u
/* @active before the first snapshot. */
#define NO_SNAPSHOT 0xffffffffu

static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static size_t snap_off(unsigned int i)
{
	return align64(sizeof(struct xen_state_hdr)) +
	       i * align64(sizeof(struct vback_mmio_state));
}

static size_t rec_stride(uint16_t queue_size)
{
	return align64(vback_dev_inflight_record_size(queue_size));
}

size_t vback_xen_device_state_size(unsigned int num_queues, uint16_t queue_size)
{
	if (!num_queues || num_queues > VBACK_MMIO_STATE_QUEUES ||
	    !rec_stride(queue_size))
		return 0;
	return snap_off(2) + num_queues * rec_stride(queue_size);
}

void *xen_state_records(struct xen_state *s, size_t *stride)
{
	*stride = rec_stride(s->queue_size);
	return s->mem + snap_off(2);
}

static volatile struct xen_state_hdr *hdr_of(const struct xen_state *s)
{
	return (volatile struct xen_state_hdr *)(void *)s->mem;
}

int xen_state_open(struct xen_state *s, void *mem, size_t len,
		   const struct vback_dev *dev)
{
	uint16_t qsize = vback_dev_queue_max_size(dev, 0);
	unsigned int nq = vback_dev_num_queues(dev);
	size_t need = vback_xen_device_state_size(nq, qsize);

	memset(s, 0, sizeof(*s));
	if (!mem || ((uintptr_t)mem & 63) || !need || len < need)
		return -EINVAL;
	s->mem = mem;
	s->len = need;
	s->num_queues = nq;
	s->queue_size = qsize;
	return 0;
}

void xen_state_init(struct xen_state *s, const struct xen_state_ids *ids)
{
	volatile struct xen_state_hdr *h = hdr_of(s);

	/* Magic last: a death half way leaves no valid header. */
	memset(s->mem, 0, s->len);
	h->version = STATE_VERSION;
	h->size = (uint32_t)s->len;
	h->num_queues = s->num_queues;
	h->queue_size = s->queue_size;
	h->rec_stride = (uint32_t)rec_stride(s->queue_size);
	h->active = NO_SNAPSHOT;
	h->domid = ids->domid;
	h->server = ids->server;
	h->irq = ids->irq;
	h->base = ids->base;
	h->grants = ids->grants;
	for (size_t i = 0; i < sizeof(h->identity) - 1 && ids->identity[i]; i++)
		h->identity[i] = ids->identity[i];
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	for (size_t i = 0; i < sizeof(state_magic); i++)
		h->magic[i] = state_magic[i];
}

void xen_state_save(struct xen_state *s, const struct vback_mmio *mmio)
{
	volatile struct xen_state_hdr *h = hdr_of(s);
	uint32_t next = h->active == 0 ? 1 : 0;

	vback_mmio_save(mmio, &s->scratch);
	memcpy(s->mem + snap_off(next), &s->scratch, sizeof(s->scratch));
	/* The copy is complete before it is named. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	h->active = next;
}

uint16_t xen_state_server(const struct xen_state *s)
{
	return hdr_of(s)->server;
}

const char *xen_state_check(struct xen_state *s,
			    const struct xen_state_ids *ids,
			    struct vback_mmio_state *snap)
{
	volatile struct xen_state_hdr *h = hdr_of(s);
	struct xen_state_hdr c;
	char id[sizeof(c.identity)];

	/* One copy, then only the copy. */
	for (size_t i = 0; i < sizeof(c); i++)
		((uint8_t *)&c)[i] = ((volatile uint8_t *)h)[i];
	if (memcmp(c.magic, state_magic, sizeof(state_magic)))
		return "no saved state (bad magic)";
	if (c.version != STATE_VERSION)
		return "saved by another version";
	if (c.size != s->len || c.num_queues != s->num_queues ||
	    c.queue_size != s->queue_size ||
	    c.rec_stride != rec_stride(s->queue_size))
		return "saved for a device of another shape";
	if (c.domid != ids->domid || c.base != ids->base || c.irq != ids->irq ||
	    c.grants != ids->grants)
		return "saved for another domain or window";
	if (c.server != ids->server)
		return "saved for another IOREQ server";
	/* Stored cut to the field, NUL-terminated: compare as stored. */
	vb_strlcpy(id, ids->identity, sizeof(id));
	if (c.identity[sizeof(c.identity) - 1] || vb_strcmp(c.identity, id))
		return "saved for another guest (identity)";
	if (c.active > 1)
		return "no register snapshot saved";
	memcpy(snap, s->mem + snap_off(c.active), sizeof(*snap));
	return NULL;
}
