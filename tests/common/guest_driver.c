/* SPDX-License-Identifier: MIT */
/*
 * Guest-driver model. Constants come from the Linux uapi headers (BSD
 * licensed), not from virtio/: the model checks the device against an
 * independent reading of the specification.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest_driver.h"

#define GDRV_MAX_QUEUES	 16
#define GDRV_PAGE	 4096u
#define MMIO_QUEUE_RESET 0x0c0

struct gdrv_slot {
	bool busy;
	uint16_t ndesc; /* ring descriptors used */
	uint32_t type;
	void *user;
	uint32_t user_len;
	bool dev_writes; /* data is device-writable */
	unsigned int nchain;
	uint64_t chain[72]; /* descriptor gpas in chain order */
};

struct gdrv_queue {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx;  /* next avail index to publish */
	uint16_t kicked_idx; /* avail index at the last kick decision */
	uint16_t last_used;
	uint16_t free_head;
	uint16_t nfree;
	uint16_t *next_free;
	struct gdrv_slot *slots;
	uint64_t bufs;
	uint64_t stride;
	bool ready;
};

struct gdrv {
	struct gdrv_options o;
	uint32_t version;
	uint32_t device_id;
	uint64_t dev_features;
	uint64_t features;
	uint64_t heap_next;
	struct gdrv_queue q[GDRV_MAX_QUEUES];
	struct gdrv_stats st;
};

/* ---------------------------------------------------------------- */

static uint64_t mmio_direct_read(void *opaque, uint64_t off, unsigned int size)
{
	uint64_t v = 0;

	vback_mmio_read(opaque, off, size, &v);
	return v;
}

static void mmio_direct_write(void *opaque, uint64_t off, unsigned int size,
			      uint64_t val)
{
	vback_mmio_write(opaque, off, size, val);
}

struct gdrv_access gdrv_mmio_access(struct vback_mmio *mmio)
{
	struct gdrv_access a = { mmio_direct_read, mmio_direct_write, mmio };

	return a;
}

struct gmem *gdrv_mem(const struct gdrv *d)
{
	return d->o.mem;
}

uint32_t gdrv_reg_read(struct gdrv *d, uint64_t off)
{
	return (uint32_t)d->o.access.mmio_read(d->o.access.opaque, off, 4);
}

void gdrv_reg_write(struct gdrv *d, uint64_t off, uint32_t val)
{
	d->o.access.mmio_write(d->o.access.opaque, off, 4, val);
	/* The device runs what the write made it post (a kick's tail,
	 * DRIVER_OK's first look at the rings) before the guest goes on. */
	if (d->o.pump)
		d->o.pump(d->o.pump_opaque);
}

/* Little-endian guest memory accessors (the guest is LE). */
static uint16_t rd16(struct gdrv *d, uint64_t gpa)
{
	uint8_t b[2] = { 0 };

	gmem_read(d->o.mem, gpa, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t rd32(struct gdrv *d, uint64_t gpa)
{
	uint8_t b[4] = { 0 };

	gmem_read(d->o.mem, gpa, b, 4);
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr16(struct gdrv *d, uint64_t gpa, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	gmem_write(d->o.mem, gpa, b, 2);
}

static void wrn(struct gdrv *d, uint64_t gpa, uint64_t v, unsigned int n)
{
	uint8_t b[8];

	for (unsigned int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	gmem_write(d->o.mem, gpa, b, n);
}

void gdrv_desc_get(struct gdrv *d, uint64_t gpa, struct gdrv_desc *out)
{
	out->addr = rd32(d, gpa) | (uint64_t)rd32(d, gpa + 4) << 32;
	out->len = rd32(d, gpa + 8);
	out->flags = rd16(d, gpa + 12);
	out->next = rd16(d, gpa + 14);
}

void gdrv_desc_set(struct gdrv *d, uint64_t gpa, const struct gdrv_desc *in)
{
	wrn(d, gpa, in->addr, 8);
	wrn(d, gpa + 8, in->len, 4);
	wr16(d, gpa + 12, in->flags);
	wr16(d, gpa + 14, in->next);
}

/* ---------------------------------------------------------------- */

struct gdrv *gdrv_create(const struct gdrv_options *opts)
{
	struct gdrv *d;

	if (!opts || !opts->mem || !opts->access.mmio_read ||
	    !opts->access.mmio_write || !opts->heap_size)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->o = *opts;
	if (!d->o.features)
		d->o.features = GDRV_FEATURES_DEFAULT;
	if (!d->o.num_queues)
		d->o.num_queues = 1;
	if (d->o.num_queues > GDRV_MAX_QUEUES)
		d->o.num_queues = GDRV_MAX_QUEUES;
	if (!d->o.max_data)
		d->o.max_data = 16384;
	if (!d->o.max_segs)
		d->o.max_segs = 8;
	if (d->o.max_segs > 64)
		d->o.max_segs = 64;
	d->heap_next = opts->heap_base;
	return d;
}

static void forget_queues(struct gdrv *d)
{
	for (unsigned int i = 0; i < GDRV_MAX_QUEUES; i++) {
		free(d->q[i].next_free);
		free(d->q[i].slots);
		memset(&d->q[i], 0, sizeof(d->q[i]));
	}
}

void gdrv_destroy(struct gdrv *d)
{
	if (!d)
		return;
	forget_queues(d);
	free(d);
}

uint64_t gdrv_alloc(struct gdrv *d, uint64_t len, uint64_t align)
{
	uint64_t a = (d->heap_next + align - 1) & ~(align - 1);

	if (a + len > d->o.heap_base + d->o.heap_size)
		return 0;
	d->heap_next = a + len;
	gmem_fill(d->o.mem, a, 0, len);
	return a;
}

static void set_status(struct gdrv *d, uint8_t bits)
{
	uint32_t s = gdrv_reg_read(d, VIRTIO_MMIO_STATUS);

	gdrv_reg_write(d, VIRTIO_MMIO_STATUS, s | bits);
}

uint8_t gdrv_status(struct gdrv *d)
{
	return (uint8_t)gdrv_reg_read(d, VIRTIO_MMIO_STATUS);
}

void gdrv_reset(struct gdrv *d)
{
	gdrv_reg_write(d, VIRTIO_MMIO_STATUS, 0);
	/* Linux waits for Status to read back 0. */
	forget_queues(d);
	d->features = 0;
	d->heap_next = d->o.heap_base; /* ring and buffer memory is free */
}

int gdrv_init_features(struct gdrv *d)
{
	uint32_t magic = gdrv_reg_read(d, VIRTIO_MMIO_MAGIC_VALUE);
	uint64_t f;

	if (magic != ('v' | 'i' << 8 | 'r' << 16 | (uint32_t)'t' << 24))
		return -ENODEV;
	d->version = gdrv_reg_read(d, VIRTIO_MMIO_VERSION);
	if (d->version < 1 || d->version > 2)
		return -ENXIO;
	d->device_id = gdrv_reg_read(d, VIRTIO_MMIO_DEVICE_ID);
	if (!d->device_id)
		return -ENODEV;
	if (d->version == 1)
		gdrv_reg_write(d, VIRTIO_MMIO_GUEST_PAGE_SIZE, GDRV_PAGE);
	gdrv_reset(d);
	set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status(d, VIRTIO_CONFIG_S_DRIVER);

	gdrv_reg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)gdrv_reg_read(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	gdrv_reg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f |= gdrv_reg_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
	d->dev_features = f;
	if (d->version == 2 && !(f & GDRV_F(VIRTIO_F_VERSION_1)))
		return -ENODEV; /* Linux: modern mmio needs VERSION_1 */
	d->features = f & d->o.features & ~d->o.refuse;

	gdrv_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	gdrv_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES,
		       (uint32_t)(d->features >> 32));
	gdrv_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	gdrv_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	if (d->version == 2) {
		set_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
		if (!(gdrv_status(d) & VIRTIO_CONFIG_S_FEATURES_OK)) {
			set_status(d, VIRTIO_CONFIG_S_FAILED);
			return -EIO;
		}
	}
	return 0;
}

int gdrv_setup_queue(struct gdrv *d, unsigned int qi)
{
	struct gdrv_queue *q;
	uint32_t max;
	uint16_t n;
	uint64_t tsize;

	if (qi >= GDRV_MAX_QUEUES)
		return -EINVAL;
	q = &d->q[qi];
	gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_SEL, qi);
	if (d->version == 2 ? gdrv_reg_read(d, VIRTIO_MMIO_QUEUE_READY)
			    : gdrv_reg_read(d, VIRTIO_MMIO_QUEUE_PFN))
		return -EBUSY;
	max = gdrv_reg_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (!max)
		return -ENOENT;
	n = d->o.queue_size ? d->o.queue_size : 128;
	if (n > max)
		n = (uint16_t)max;
	q->size = n;
	q->next_free = calloc(n, sizeof(*q->next_free));
	q->slots = calloc(n, sizeof(*q->slots));
	if (!q->next_free || !q->slots)
		return -ENOMEM;
	for (uint16_t i = 0; i < n; i++)
		q->next_free[i] = (uint16_t)(i + 1);
	q->free_head = 0;
	q->nfree = n;

	if (d->version == 1) {
		/* vring_size(): desc + avail, used at the next page. */
		uint64_t a = 16ull * n + 6 + 2ull * n;

		a = (a + GDRV_PAGE - 1) & ~(uint64_t)(GDRV_PAGE - 1);
		q->desc = gdrv_alloc(d, a + 6 + 8ull * n, GDRV_PAGE);
		q->avail = q->desc + 16ull * n;
		q->used = q->desc + a;
	} else {
		q->desc = gdrv_alloc(d, 16ull * n, GDRV_PAGE);
		q->avail = gdrv_alloc(d, 6 + 2ull * n, 2);
		q->used = gdrv_alloc(d, 6 + 8ull * n, 4);
	}
	tsize = 16ull * (d->o.max_segs + 2);
	q->stride = (16ull + d->o.max_data + 1 + 15) / 16 * 16 + tsize;
	q->bufs = gdrv_alloc(d, q->stride * n, 16);
	if (!q->desc || !q->avail || !q->used || !q->bufs)
		return -EFAULT;

	gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_NUM, n);
	if (d->version == 1) {
		gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_ALIGN, GDRV_PAGE);
		gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_PFN,
			       (uint32_t)(q->desc / GDRV_PAGE));
		if (gdrv_reg_read(d, VIRTIO_MMIO_QUEUE_PFN) !=
		    q->desc / GDRV_PAGE)
			return -EFAULT;
	} else {
		gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW,
			       (uint32_t)q->desc);
		gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH,
			       (uint32_t)(q->desc >> 32));
		gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW,
			       (uint32_t)q->avail);
		gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH,
			       (uint32_t)(q->avail >> 32));
		gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_USED_LOW,
			       (uint32_t)q->used);
		gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_USED_HIGH,
			       (uint32_t)(q->used >> 32));
		gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
		if (gdrv_reg_read(d, VIRTIO_MMIO_QUEUE_READY) != 1)
			return -EFAULT;
	}
	q->ready = true;
	return 0;
}

void gdrv_driver_ok(struct gdrv *d)
{
	set_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
}

int gdrv_probe(struct gdrv *d)
{
	int r = gdrv_init_features(d);

	if (r)
		return r;
	for (unsigned int i = 0; i < d->o.num_queues; i++) {
		r = gdrv_setup_queue(d, i);
		if (r) {
			set_status(d, VIRTIO_CONFIG_S_FAILED);
			return r;
		}
	}
	gdrv_driver_ok(d);
	return 0;
}

uint32_t gdrv_version(const struct gdrv *d)
{
	return d->version;
}

uint64_t gdrv_device_features(const struct gdrv *d)
{
	return d->dev_features;
}

uint64_t gdrv_features(const struct gdrv *d)
{
	return d->features;
}

bool gdrv_has(const struct gdrv *d, unsigned int bit)
{
	return (d->features >> bit) & 1;
}

uint64_t gdrv_config_read(struct gdrv *d, uint32_t off, unsigned int size)
{
	uint32_t gen;
	uint64_t v;

	do {
		gen = d->version == 2
			      ? gdrv_reg_read(d, VIRTIO_MMIO_CONFIG_GENERATION)
			      : 0;
		if (size == 8) /* Linux reads 64-bit fields as two 32-bit */
			v = d->o.access.mmio_read(d->o.access.opaque,
						  VIRTIO_MMIO_CONFIG + off, 4) |
			    d->o.access.mmio_read(d->o.access.opaque,
						  VIRTIO_MMIO_CONFIG + off + 4,
						  4)
				    << 32;
		else
			v = d->o.access.mmio_read(d->o.access.opaque,
						  VIRTIO_MMIO_CONFIG + off,
						  size);
	} while (d->version == 2 &&
		 gen != gdrv_reg_read(d, VIRTIO_MMIO_CONFIG_GENERATION));
	return v;
}

void gdrv_config_write(struct gdrv *d, uint32_t off, unsigned int size,
		       uint64_t val)
{
	d->o.access.mmio_write(d->o.access.opaque, VIRTIO_MMIO_CONFIG + off,
			       size, val);
}

/* ---------------------------------------------------------------- */
/* Requests                                                          */
/* ---------------------------------------------------------------- */

static bool dev_writes(uint32_t type)
{
	return type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
}

static uint16_t alloc_desc(struct gdrv_queue *q)
{
	uint16_t i = q->free_head;

	q->free_head = q->next_free[i];
	q->nfree--;
	return i;
}

int gdrv_submit(struct gdrv *d, unsigned int qi, const struct gdrv_blk_req *r)
{
	struct gdrv_queue *q;
	struct gdrv_slot *s;
	struct gdrv_desc parts[67];
	unsigned int segs = r->segs ? r->segs : 1, n = 0;
	bool indirect, w = dev_writes(r->type);
	uint64_t buf, table;
	uint16_t head;

	if (qi >= GDRV_MAX_QUEUES || !d->q[qi].ready)
		return -EINVAL;
	q = &d->q[qi];
	if (r->len > d->o.max_data || segs > d->o.max_segs ||
	    (r->len && segs > r->len))
		return -EINVAL;
	if (!r->len)
		segs = 0;
	/* The chain as Linux builds it: header, data, status. */
	parts[n++] = (struct gdrv_desc){ 0, 16, 0, 0 };
	for (unsigned int i = 0; i < segs; i++) {
		uint32_t piece =
			r->len / segs + (i == segs - 1 ? r->len % segs : 0);

		parts[n++] =
			(struct gdrv_desc){ 16 + (uint64_t)(r->len / segs) * i,
					    piece, w ? VRING_DESC_F_WRITE : 0,
					    0 };
	}
	parts[n++] = (struct gdrv_desc){ 16 + d->o.max_data, 1,
					 VRING_DESC_F_WRITE, 0 };
	indirect = gdrv_has(d, VIRTIO_RING_F_INDIRECT_DESC) &&
		   !r->no_indirect && (n > 1 || r->force_indirect);
	if (q->nfree < (indirect ? 1 : n))
		return -ENOSPC;

	head = q->free_head;
	s = &q->slots[head];
	buf = q->bufs + q->stride * head;
	table = buf + q->stride - 16ull * (d->o.max_segs + 2);
	memset(s, 0, sizeof(*s));
	s->busy = true;
	s->type = r->type;
	s->user = r->data;
	s->user_len = r->len;
	s->dev_writes = w;

	/* Header and payload in the slot's buffer. */
	wrn(d, buf, r->type, 4);
	wrn(d, buf + 4, r->ioprio, 4);
	wrn(d, buf + 8, r->sector, 8);
	if (r->len && !w)
		gmem_write(d->o.mem, buf + 16, r->data, r->len);
	if (r->len && w)
		gmem_fill(d->o.mem, buf + 16, 0xa5, r->len);
	gmem_fill(d->o.mem, buf + 16 + d->o.max_data, 0xee, 1);

	if (indirect) {
		uint16_t i = alloc_desc(q);

		for (unsigned int k = 0; k < n; k++) {
			struct gdrv_desc dd = parts[k];

			dd.addr += buf;
			if (k + 1 < n) {
				dd.flags |= VRING_DESC_F_NEXT;
				dd.next = (uint16_t)(k + 1);
			}
			gdrv_desc_set(d, table + 16ull * k, &dd);
			s->chain[s->nchain++] = table + 16ull * k;
		}
		gdrv_desc_set(d, gdrv_ring_desc_gpa(d, qi, i),
			      &(struct gdrv_desc){ table, 16 * n,
						   VRING_DESC_F_INDIRECT, 0 });
		s->ndesc = 1;
	} else {
		uint16_t idx[67];

		for (unsigned int k = 0; k < n; k++)
			idx[k] = alloc_desc(q);
		for (unsigned int k = 0; k < n; k++) {
			struct gdrv_desc dd = parts[k];

			dd.addr += buf;
			if (k + 1 < n) {
				dd.flags |= VRING_DESC_F_NEXT;
				dd.next = idx[k + 1];
			}
			gdrv_desc_set(d, gdrv_ring_desc_gpa(d, qi, idx[k]),
				      &dd);
			s->chain[s->nchain++] =
				gdrv_ring_desc_gpa(d, qi, idx[k]);
		}
		s->ndesc = (uint16_t)n;
	}
	if (r->mangle)
		r->mangle(d, qi, head, r->mangle_arg);
	gdrv_raw_avail(d, qi, head);
	return head;
}

bool gdrv_kick(struct gdrv *d, unsigned int qi, bool force)
{
	struct gdrv_queue *q = &d->q[qi];
	uint16_t old = q->kicked_idx, new_idx = q->avail_idx;
	bool need;

	/* virtqueue_kick_prepare(): full barrier, then look at the device's
	 * suppression (pairs with the device's barrier after avail_event). */
	atomic_thread_fence(memory_order_seq_cst);
	q->kicked_idx = new_idx;
	if (gdrv_has(d, VIRTIO_RING_F_EVENT_IDX)) {
		uint16_t ev = gdrv_raw_avail_event(d, qi);

		need = (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old);
	} else {
		need = !(rd16(d, q->used) & VRING_USED_F_NO_NOTIFY);
	}
	if (!need && !force) {
		d->st.kicks_suppressed++;
		return false;
	}
	d->st.kicks++;
	gdrv_reg_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
	return true;
}

uint32_t gdrv_interrupt(struct gdrv *d)
{
	uint32_t st = gdrv_reg_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);

	gdrv_reg_write(d, VIRTIO_MMIO_INTERRUPT_ACK, st);
	d->st.irqs++;
	if (st & VIRTIO_MMIO_INT_VRING)
		d->st.irq_vring++;
	if (st & VIRTIO_MMIO_INT_CONFIG)
		d->st.irq_config++;
	return st;
}

static void free_chain(struct gdrv_queue *q, struct gdrv *d, unsigned int qi,
		       uint16_t head)
{
	uint16_t i = head;

	for (unsigned int k = 0; k < q->slots[head].ndesc; k++) {
		struct gdrv_desc dd;
		uint16_t next;

		gdrv_desc_get(d, gdrv_ring_desc_gpa(d, qi, i), &dd);
		next = dd.next;
		q->next_free[i] = q->free_head;
		q->free_head = i;
		q->nfree++;
		if (!(dd.flags & VRING_DESC_F_NEXT) || next >= q->size)
			break;
		i = next;
	}
}

unsigned int gdrv_poll(struct gdrv *d, unsigned int qi, struct gdrv_done *out,
		       unsigned int max)
{
	struct gdrv_queue *q = &d->q[qi];
	unsigned int n = 0;

	if (d->o.pump)
		d->o.pump(d->o.pump_opaque);
	while (n < max) {
		uint16_t used = gdrv_raw_used_idx(d, qi);
		uint32_t id, len;
		struct gdrv_slot *s;
		uint64_t buf;

		if (used == q->last_used)
			break;
		/* virtio_rmb(): entries after the index. */
		atomic_thread_fence(memory_order_acquire);
		gdrv_raw_used_elem(d, qi, q->last_used & (q->size - 1), &id,
				   &len);
		q->last_used++;
		if (id >= q->size || !q->slots[id].busy) {
			d->st.bad_used++;
			continue;
		}
		s = &q->slots[id];
		buf = q->bufs + q->stride * id;
		out[n].head = (uint16_t)id;
		out[n].len = len;
		out[n].type = s->type;
		gmem_read(d->o.mem, buf + 16 + d->o.max_data, &out[n].status,
			  1);
		if (s->dev_writes && s->user && s->user_len)
			gmem_read(d->o.mem, buf + 16, s->user, s->user_len);
		free_chain(q, d, qi, (uint16_t)id);
		s->busy = false;
		d->st.completions++;
		n++;
	}
	if (gdrv_has(d, VIRTIO_RING_F_EVENT_IDX)) {
		/* virtqueue_enable_cb(): interrupt at the next used entry. */
		wr16(d, q->avail + 4 + 2ull * q->size, q->last_used);
		atomic_thread_fence(memory_order_seq_cst);
	}
	return n;
}

int gdrv_blk_sync(struct gdrv *d, unsigned int q, struct gdrv_blk_req *r)
{
	struct gdrv_done done;
	int head = gdrv_submit(d, q, r);

	if (head < 0)
		return head;
	gdrv_kick(d, q, false);
	gdrv_interrupt(d);
	if (gdrv_poll(d, q, &done, 1) != 1)
		return -ETIMEDOUT;
	if (done.head != head)
		return -EPROTO;
	return done.status;
}

const struct gdrv_stats *gdrv_stats(const struct gdrv *d)
{
	return &d->st;
}

unsigned int gdrv_inflight(const struct gdrv *d, unsigned int qi)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < d->q[qi].size; i++)
		n += d->q[qi].slots[i].busy;
	return n;
}

/* ---------------------------------------------------------------- */
/* Raw access                                                        */
/* ---------------------------------------------------------------- */

int gdrv_queue_info(const struct gdrv *d, unsigned int qi,
		    struct gdrv_queue_info *info)
{
	if (qi >= GDRV_MAX_QUEUES || !d->q[qi].ready)
		return -EINVAL;
	info->size = d->q[qi].size;
	info->desc = d->q[qi].desc;
	info->avail = d->q[qi].avail;
	info->used = d->q[qi].used;
	return 0;
}

uint64_t gdrv_ring_desc_gpa(const struct gdrv *d, unsigned int qi, uint16_t i)
{
	return d->q[qi].desc + 16ull * i;
}

uint64_t gdrv_chain_desc_gpa(const struct gdrv *d, unsigned int qi,
			     uint16_t head, unsigned int i)
{
	const struct gdrv_slot *s = &d->q[qi].slots[head];

	return i < s->nchain ? s->chain[i] : 0;
}

unsigned int gdrv_chain_len(const struct gdrv *d, unsigned int qi,
			    uint16_t head)
{
	return d->q[qi].slots[head].nchain;
}

uint64_t gdrv_req_hdr_gpa(const struct gdrv *d, unsigned int qi, uint16_t head)
{
	return d->q[qi].bufs + d->q[qi].stride * head;
}

uint64_t gdrv_req_status_gpa(const struct gdrv *d, unsigned int qi,
			     uint16_t head)
{
	return gdrv_req_hdr_gpa(d, qi, head) + 16 + d->o.max_data;
}

void gdrv_raw_avail(struct gdrv *d, unsigned int qi, uint16_t head)
{
	struct gdrv_queue *q = &d->q[qi];

	wr16(d, q->avail + 4 + 2ull * (q->avail_idx & (q->size - 1)), head);
	/* virtio_wmb(): the entry before the index that exposes it. */
	atomic_thread_fence(memory_order_release);
	q->avail_idx++;
	wr16(d, q->avail + 2, q->avail_idx);
}

void gdrv_raw_avail_idx(struct gdrv *d, unsigned int qi, uint16_t idx)
{
	d->q[qi].avail_idx = idx;
	wr16(d, d->q[qi].avail + 2, idx);
}

void gdrv_raw_avail_flags(struct gdrv *d, unsigned int qi, uint16_t flags)
{
	wr16(d, d->q[qi].avail, flags);
}

uint16_t gdrv_raw_used_idx(struct gdrv *d, unsigned int qi)
{
	return rd16(d, d->q[qi].used + 2);
}

void gdrv_raw_used_elem(struct gdrv *d, unsigned int qi, uint16_t i,
			uint32_t *id, uint32_t *len)
{
	uint64_t e = d->q[qi].used + 4 + 8ull * i;

	*id = rd32(d, e);
	*len = rd32(d, e + 4);
}

uint16_t gdrv_raw_avail_event(struct gdrv *d, unsigned int qi)
{
	return rd16(d, d->q[qi].used + 4 + 8ull * d->q[qi].size);
}

void gdrv_raw_claim(struct gdrv *d, unsigned int qi, uint16_t head, bool busy)
{
	d->q[qi].slots[head].busy = busy;
}

int gdrv_blk_rw(struct gdrv *d, unsigned int q, uint32_t type, uint64_t sector,
		void *buf, uint32_t len, unsigned int segs)
{
	struct gdrv_blk_req r = { 0 };

	r.type = type;
	r.sector = sector;
	r.data = buf;
	r.len = len;
	r.segs = segs;
	return gdrv_blk_sync(d, q, &r);
}
