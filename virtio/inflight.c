/* SPDX-License-Identifier: MIT */
/*
 * The in-flight record of a split queue: which heads the device took from
 * the ring and has not yet published, and in which order, kept in memory
 * that outlives the process. A restarted backend adopts it and submits
 * exactly those heads again, oldest first, then goes on where the driver
 * is. Without it a restart can only rewind to the used index, which is
 * exact only when requests complete in ring order.
 *
 * The layout and the update rules are those of vhost-user's inflight I/O
 * tracking for split rings (QEMU docs/interop/vhost-user.rst, "Inflight
 * I/O tracking"; QueueRegionSplit, DescStateSplit):
 *  - take a head: desc[head].counter = counter++, then inflight = 1;
 *  - answer a head: desc[head].next = last_batch_head, last_batch_head =
 *    head (the batch is a list, newest first);
 *  - publish a batch: used->idx is written first, then the batch's
 *    inflight flags are cleared, then used_idx = used->idx.
 * A process killed at any instant leaves a record that, read together
 * with the ring's used->idx, says exactly which requests are owed: when
 * used->idx != used_idx the last batch was published but not yet cleared,
 * and its used->idx - used_idx newest entries are settled at adoption.
 *
 * The record is written, never read, while the queue runs: whoever else
 * maps it (the front-end) could change it under us. Adoption reads every
 * field once into copies, checks them, and uses only the copies.
 */
#include <stdatomic.h>
#include <string.h>

#include "ring.h"
#include "vb_os.h"
#include "virtqueue.h"

_Static_assert(sizeof(struct vq_rec_hdr) == 16, "QueueRegionSplit header");
_Static_assert(sizeof(struct vq_rec_desc) == 16, "DescStateSplit");

/* Keep the compiler from moving record stores across each other or
 * across the ring stores they pair with. Nothing else is needed: the
 * record's reader is the next process, after this one died. */
static inline void order(void)
{
	atomic_signal_fence(memory_order_seq_cst);
}

size_t vq_rec_size(uint32_t n)
{
	if (!n || n > VRING_MAX_SIZE)
		return 0;
	return sizeof(struct vq_rec_hdr) +
	       (size_t)n * sizeof(struct vq_rec_desc);
}

static void rec_free_lists(struct vq_rec *r)
{
	vb_free(r->batch);
	vb_free(r->resubmit);
	r->batch = r->resubmit = NULL;
	r->batch_n = 0;
	r->resubmit_n = r->resubmit_pos = 0;
}

int vq_rec_set(struct vq *vq, void *rec, size_t len)
{
	struct vq_rec *r = &vq->rec;

	if (!rec) {
		/* Not written again; adopted heads still to submit stay ours. */
		r->hdr = NULL;
		r->desc = NULL;
		r->len = 0;
		r->active = false;
		r->batch_n = 0;
		return 0;
	}
	if ((uintptr_t)rec & 7)
		return -EINVAL;
	r->hdr = rec;
	r->desc = (volatile struct vq_rec_desc *)((uint8_t *)rec +
						  sizeof(struct vq_rec_hdr));
	r->len = len;
	r->active = false;
	r->resumed = 0;
	r->refused = NULL;
	return 0;
}

/* An empty record for the ring as it starts now. Version last: a death
 * half way leaves version 0, which reads as empty. */
static void rec_init(struct vq *vq)
{
	struct vq_rec *r = &vq->rec;

	r->hdr->version = 0;
	order();
	for (unsigned int i = 0; i < vq->size; i++) {
		r->desc[i].inflight = 0;
		r->desc[i].next = 0;
		r->desc[i].counter = 0;
	}
	r->hdr->features = 0;
	r->hdr->desc_num = vq->size;
	r->hdr->last_batch_head = 0;
	r->hdr->used_idx = vq->used_idx;
	order();
	r->hdr->version = VQ_REC_VERSION;
	r->counter = 1;
	r->last_head = 0;
}

struct taken {
	uint64_t counter;
	uint16_t head;
};

static bool taken_before(const struct taken *a, const struct taken *b)
{
	return a->counter < b->counter ||
	       (a->counter == b->counter && a->head < b->head);
}

static void sift_down(struct taken *t, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		struct taken tmp;

		if (child >= n)
			return;
		if (child + 1 < n && taken_before(&t[child], &t[child + 1]))
			child++;
		if (!taken_before(&t[root], &t[child]))
			return;
		tmp = t[root];
		t[root] = t[child];
		t[child] = tmp;
		root = child;
	}
}

/* Oldest first; a heap sort: a hostile record may mark every entry. */
static void sort_taken(struct taken *t, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(t, i, n);
	for (size_t end = n; end > 1; end--) {
		struct taken tmp = t[0];

		t[0] = t[end - 1];
		t[end - 1] = tmp;
		sift_down(t, 0, end - 1);
	}
}

/* Flag values of the adoption's copy. */
#define OWED	1u /* taken, not published: submit again */
#define SETTLED 2u /* published in the last batch: clear it in the record */

static uint16_t ring_ld16(const struct vq_area *a, uint64_t off)
{
	uint8_t b[2];

	/* Not the hot path: the copy loop serves one piece and several. */
	for (unsigned int i = 0, got = 0; i < a->npieces && got < 2; i++) {
		const struct vq_piece *p = &a->pieces[i];

		while (got < 2 && off + got >= p->off &&
		       off + got < p->off + p->len) {
			b[got] = *(const volatile uint8_t *)(p->host + off +
							     got - p->off);
			got++;
		}
	}
	return ld_le16(b);
}

/*
 * Adopt the record: 1 (adopted), 0 (empty, or refused: r->refused says
 * why; the caller starts it afresh) or -ENOMEM.
 */
static int rec_adopt(struct vq *vq)
{
	struct vq_rec *r = &vq->rec;
	uint16_t n = vq->size, version, desc_num, newest, head, rec_used;
	uint16_t ring_used, ring_avail, batch, last_avail;
	uint8_t *flags = NULL;
	struct taken *owed = NULL;
	unsigned int count = 0;
	int ret = 0;

	version = r->hdr->version;
	desc_num = r->hdr->desc_num;
	newest = r->hdr->last_batch_head;
	rec_used = r->hdr->used_idx;
	if (version == 0)
		return 0;
	if (version != VQ_REC_VERSION) {
		r->refused = "unknown record version";
		return 0;
	}
	if (desc_num != n) {
		r->refused = "the record is for a ring of another size";
		return 0;
	}
	ring_used = ring_ld16(&vq->used, VRING_USED_IDX);
	ring_avail = ring_ld16(&vq->avail, VRING_AVAIL_IDX);
	/* Pairs with the driver's barrier before it bumps avail->idx. */
	atomic_thread_fence(memory_order_acquire);
	if ((uint16_t)(ring_avail - ring_used) > n) {
		r->refused = "the ring's avail and used indices are further "
			     "apart than its size";
		return 0;
	}
	batch = (uint16_t)(ring_used - rec_used);
	if (batch > n) {
		r->refused = "the ring's used index is further from the "
			     "record's than the ring size";
		return 0;
	}
	flags = vb_calloc(n, 1);
	owed = vb_calloc(n, sizeof(*owed));
	if (!flags || !owed) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned int i = 0; i < n; i++) {
		uint8_t f = r->desc[i].inflight;

		if (f > 1) {
			r->refused = "an in-flight flag other than 0 or 1";
			goto out;
		}
		flags[i] = f;
	}
	/* Published, not yet cleared when the process died: settled now. */
	head = newest;
	for (unsigned int k = 0; k < batch; k++) {
		if (head >= n) {
			r->refused = "the last batch leads out of the ring";
			goto out;
		}
		flags[head] = SETTLED;
		head = r->desc[head].next;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (flags[i] != OWED)
			continue;
		owed[count].counter = r->desc[i].counter;
		owed[count].head = (uint16_t)i;
		count++;
	}
	last_avail = (uint16_t)(ring_used + count);
	/* Every owed request was made available before the driver's index. */
	if ((uint16_t)(ring_avail - last_avail) > n) {
		r->refused = "more requests in flight than the driver made "
			     "available";
		goto out;
	}
	if (count) {
		r->resubmit = vb_calloc(count, sizeof(*r->resubmit));
		if (!r->resubmit) {
			ret = -ENOMEM;
			goto out;
		}
	}
	sort_taken(owed, count);
	r->counter = 1;
	for (unsigned int i = 0; i < count; i++) {
		struct vq_elem *e = &vq->ctx->slots[owed[i].head];

		r->resubmit[i] = owed[i].head;
		e->inflight = true;
		vq->ctx->inflight++;
		vq_count_add(vq->ctx->qcount, 1);
		if (owed[i].counter >= r->counter)
			r->counter = owed[i].counter + 1;
	}
	r->resubmit_n = count;
	r->resubmit_pos = 0;
	r->resumed = count;
	/* Finish the dead process's publish, then go on from the ring. */
	for (unsigned int i = 0; i < n; i++)
		if (flags[i] == SETTLED)
			r->desc[i].inflight = 0;
	order();
	r->hdr->used_idx = ring_used;
	r->last_head = newest < n ? newest : 0;
	vq->last_avail = vq->shadow_avail = last_avail;
	vq->used_idx = vq->published = ring_used;
	ret = 1;
out:
	vb_free(flags);
	vb_free(owed);
	return ret;
}

int vq_rec_start(struct vq *vq)
{
	struct vq_rec *r = &vq->rec;
	int ret;

	r->resumed = 0;
	r->refused = NULL;
	r->batch_n = 0;
	if (!r->hdr)
		return 0;
	if (r->len < vq_rec_size(vq->size)) {
		/* Not ours to write to: forget it. */
		r->refused = "the record is too small for the ring";
		vq_rec_set(vq, NULL, 0);
		return 0;
	}
	r->batch = vb_calloc(vq->size, sizeof(*r->batch));
	if (!r->batch)
		return -ENOMEM;
	ret = rec_adopt(vq);
	if (ret < 0) {
		rec_free_lists(r);
		return ret;
	}
	if (ret == 0)
		rec_init(vq);
	r->active = true;
	return 0;
}

void vq_rec_stop(struct vq *vq)
{
	struct vq_rec *r = &vq->rec;

	/* Adopted heads never submitted again: nobody owns them now. */
	for (unsigned int i = r->resubmit_pos; i < r->resubmit_n; i++) {
		struct vq_elem *e = &vq->ctx->slots[r->resubmit[i]];

		e->inflight = false;
		vq->ctx->inflight--;
		vq_count_add(vq->ctx->qcount, -1);
	}
	/* Nothing of this ring is owed any more: an empty record. */
	if (r->hdr && r->active) {
		r->hdr->version = 0;
		order();
		for (unsigned int i = 0; i < vq->size; i++)
			r->desc[i].inflight = 0;
	}
	rec_free_lists(r);
	memset(r, 0, sizeof(*r));
}

void vq_rec_take(struct vq *vq, uint16_t head)
{
	struct vq_rec *r = &vq->rec;

	r->desc[head].counter = r->counter++;
	order();
	r->desc[head].inflight = 1;
	order();
}

void vq_rec_untake(struct vq *vq, uint16_t head)
{
	order();
	vq->rec.desc[head].inflight = 0;
	vq->rec.counter--;
}

void vq_rec_answer(struct vq *vq, uint16_t head)
{
	struct vq_rec *r = &vq->rec;

	r->desc[head].next = r->last_head;
	order();
	r->hdr->last_batch_head = head;
	r->last_head = head;
	/* Only a driver that offers a head again before it was published
	 * can overflow the copy; its entry then stays marked (resubmitted
	 * after a restart: that guest's own doing). */
	if (r->batch_n < vq->size)
		r->batch[r->batch_n++] = head;
}

void vq_rec_publish(struct vq *vq)
{
	struct vq_rec *r = &vq->rec;

	order();
	for (unsigned int i = 0; i < r->batch_n; i++) {
		uint16_t head = r->batch[i];

		/* Taken again already (a driver that offered it before it saw
		 * it used): that mark is the new request's. */
		if (!vq->ctx->slots[head].inflight)
			r->desc[head].inflight = 0;
	}
	r->batch_n = 0;
	order();
	r->hdr->used_idx = vq->used_idx;
}
