/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio register file (virtio 1.2 section 4.2): version 2 (modern)
 * and version 1 (legacy, 4.2.4) on top of the device core.
 */
#include <string.h>

#include <vback/mmio.h>

#include "device.h"
#include "ring.h"
#include "vb_os.h"

#define VMMIO_VENDOR_VBCK	   0x4b434256u /* "VBCK" little endian */
#define LEGACY_QUEUE_ALIGN_DEFAULT 4096u

/* Classes of bad accesses, each logged once per register file. */
enum mmio_warn {
	W_WIDTH,
	W_OFFSET,
	W_READONLY,
	W_WRITEONLY,
	W_QUEUE_SEL,
	W_QUEUE_NUM,
	W_QUEUE_BUSY,
	W_CONFIG,
	W_VALUE,
	W_NR,
};

struct vback_mmio {
	struct vback_dev *dev;
	unsigned int version;
	uint32_t vendor_id;
	const struct vback_mmio_ops *ops;
	void *opaque;
	const struct vback_log *log;
	uint32_t dev_features_sel;
	uint32_t drv_features_sel;
	uint64_t drv_features;
	uint32_t queue_sel;
	uint32_t shm_sel;
	uint32_t int_status;
	uint8_t status_at_reset;  /* Status reads this while resetting */
	uint32_t guest_page_size; /* legacy */
	uint32_t queue_align[VBACK_DEV_MAX_QUEUES]; /* legacy */
	uint32_t queue_pfn[VBACK_DEV_MAX_QUEUES];   /* legacy */
	uint8_t *inflight; /* in-flight records, or NULL */
	size_t inflight_stride;
	bool warned[W_NR];
};

static int bad(struct vback_mmio *m, enum mmio_warn w, uint64_t off,
	       unsigned int size, const char *what)
{
	if (!m->warned[w]) {
		m->warned[w] = true;
		vback_logf(m->log, VBACK_LOG_WARN,
			   "%s: virtio-mmio %s at %#llx (size %u) ignored "
			   "(logged once)",
			   m->dev->name, what, (unsigned long long)off, size);
	}
	return -EINVAL;
}

static void raise_irq(struct vback_mmio *m, uint32_t bit)
{
	m->int_status |= bit;
	m->ops->set_irq(m->opaque, true);
}

static void mmio_notify_queue(void *opaque, unsigned int q)
{
	(void)q;
	raise_irq(opaque, VMMIO_INT_VRING);
}

static void mmio_notify_config(void *opaque)
{
	raise_irq(opaque, VMMIO_INT_CONFIG);
}

static void mmio_reset(void *opaque)
{
	struct vback_mmio *m = opaque;

	if (m->ops->reset)
		m->ops->reset(m->opaque);
}

static const struct vback_dev_transport_ops mmio_transport_ops = {
	.notify_queue = mmio_notify_queue,
	.notify_config = mmio_notify_config,
	.reset = mmio_reset,
};

static void mmio_state_reset(struct vback_mmio *m)
{
	bool had_irq = m->int_status != 0;

	m->dev_features_sel = 0;
	m->drv_features_sel = 0;
	m->drv_features = 0;
	m->queue_sel = 0;
	m->shm_sel = 0;
	m->int_status = 0;
	for (unsigned int i = 0; i < VBACK_DEV_MAX_QUEUES; i++) {
		m->queue_align[i] = LEGACY_QUEUE_ALIGN_DEFAULT;
		m->queue_pfn[i] = 0;
	}
	if (had_irq)
		m->ops->set_irq(m->opaque, false);
}

int vback_mmio_create(const struct vback_mmio_options *opts,
		      struct vback_mmio **out)
{
	struct vback_dev_transport t;
	struct vback_mmio *m;
	int r;

	if (!opts || !out || !opts->dev || !opts->ops || !opts->ops->set_irq ||
	    !opts->gm.ops || !opts->gm.ops->map || !opts->loop ||
	    (opts->version != 0 && opts->version != 1 && opts->version != 2))
		return -EINVAL;
	m = vb_calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dev = opts->dev;
	m->version = opts->version ? opts->version : 2;
	m->vendor_id = opts->vendor_id ? opts->vendor_id : VMMIO_VENDOR_VBCK;
	m->ops = opts->ops;
	m->opaque = opts->opaque;
	m->log = opts->log ? opts->log : opts->dev->log;
	m->guest_page_size = 4096;
	if (opts->inflight && opts->inflight_stride) {
		m->inflight = opts->inflight;
		m->inflight_stride = opts->inflight_stride;
	}
	mmio_state_reset(m);

	memset(&t, 0, sizeof(t));
	t.ops = &mmio_transport_ops;
	t.opaque = m;
	t.gm = opts->gm;
	t.loop = opts->loop;
	t.features = opts->transport_features;
	if (m->version == 2)
		t.features |= VB_BIT(VIRTIO_F_RING_RESET);
	r = vback_dev_attach(m->dev, &t);
	if (r) {
		vb_free(m);
		return r;
	}
	dev_set_legacy(m->dev, m->version == 1);
	*out = m;
	return 0;
}

void vback_mmio_destroy(struct vback_mmio *mmio)
{
	if (!mmio)
		return;
	vback_dev_detach(mmio->dev);
	vb_free(mmio);
}

/* Enable queue @q with its in-flight record, if there are records. */
static int queue_enable(struct vback_mmio *m, unsigned int q)
{
	if (m->inflight)
		vback_dev_queue_set_inflight(m->dev, q,
					     m->inflight +
						     q * m->inflight_stride,
					     m->inflight_stride);
	return vback_dev_queue_enable(m->dev, q);
}

/* The selected queue, or NULL (QueueSel is guest-controlled). */
static bool qsel_ok(const struct vback_mmio *m)
{
	return m->queue_sel < vback_dev_num_queues(m->dev);
}

static uint32_t legacy_pfn(const struct vback_mmio *m)
{
	return qsel_ok(m) ? m->queue_pfn[m->queue_sel] : 0;
}

static int config_access(struct vback_mmio *m, uint64_t off, unsigned int size,
			 uint64_t *val, bool write)
{
	uint32_t coff = (uint32_t)(off - VMMIO_CONFIG);
	uint8_t b[8] = { 0 };
	int r;

	/* Config space: 8/16/32-bit fields, 64-bit ones also whole. */
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return bad(m, W_WIDTH, off, size, "config access width");
	if (write) {
		for (unsigned int i = 0; i < size; i++)
			b[i] = (uint8_t)(*val >> (8 * i));
		r = vback_dev_config_write(m->dev, coff, b, size);
	} else {
		r = vback_dev_config_read(m->dev, coff, b, size);
		*val = 0;
		for (unsigned int i = 0; i < size; i++)
			*val |= (uint64_t)b[i] << (8 * i);
	}
	if (r)
		return bad(m, W_CONFIG, off, size,
			   "config access beyond the config space");
	return 0;
}

int vback_mmio_read(struct vback_mmio *m, uint64_t off, unsigned int size,
		    uint64_t *val)
{
	struct vback_dev *dev;
	bool modern;
	uint64_t v = 0;

	if (!m || !val)
		return -EINVAL;
	*val = 0;
	dev = m->dev;
	modern = m->version == 2;
	if (off >= VBACK_MMIO_WINDOW_SIZE)
		return bad(m, W_OFFSET, off, size, "read outside the window");
	if (off >= VMMIO_CONFIG)
		return config_access(m, off, size, val, false);
	if (size != 4 || (off & 3))
		return bad(m, W_WIDTH, off, size, "register read width");

	switch (off) {
	case VMMIO_MAGIC_VALUE:
		v = VMMIO_MAGIC;
		break;
	case VMMIO_VERSION:
		v = m->version;
		break;
	case VMMIO_DEVICE_ID:
		v = vback_dev_device_id(dev);
		break;
	case VMMIO_VENDOR_ID:
		v = m->vendor_id;
		break;
	case VMMIO_DEVICE_FEATURES:
		if (m->dev_features_sel < 2)
			v = (uint32_t)(vback_dev_features(dev) >>
				       (32 * m->dev_features_sel));
		break;
	case VMMIO_QUEUE_NUM_MAX:
		/* 0 tells the driver the selected queue does not exist. */
		v = qsel_ok(m) ? vback_dev_queue_max_size(dev, m->queue_sel)
			       : 0;
		break;
	case VMMIO_QUEUE_READY:
		if (!modern)
			return bad(m, W_OFFSET, off, size, "legacy read");
		v = qsel_ok(m) && vback_dev_queue_enabled(dev, m->queue_sel);
		break;
	case VMMIO_QUEUE_PFN:
		if (modern)
			return bad(m, W_OFFSET, off, size, "modern read");
		v = legacy_pfn(m);
		break;
	case VMMIO_INTERRUPT_STATUS:
		v = m->int_status;
		break;
	case VMMIO_STATUS:
		v = vback_dev_status(dev);
		/* Reset not complete while old requests may still write. */
		if (!v && vback_dev_resetting(dev, -1))
			v = m->status_at_reset;
		break;
	case VMMIO_SHM_LEN_LOW:
	case VMMIO_SHM_LEN_HIGH:
	case VMMIO_SHM_BASE_LOW:
	case VMMIO_SHM_BASE_HIGH:
		if (!modern)
			return bad(m, W_OFFSET, off, size, "legacy read");
		/* 4.2.2: no shared memory region reads as length -1. */
		v = 0xffffffffu;
		break;
	case VMMIO_QUEUE_RESET:
		if (!modern)
			return bad(m, W_OFFSET, off, size, "legacy read");
		/* 1 until the queue's orphaned requests are done. */
		v = qsel_ok(m) && vback_dev_resetting(dev, (int)m->queue_sel);
		break;
	case VMMIO_CONFIG_GENERATION:
		if (!modern)
			return bad(m, W_OFFSET, off, size, "legacy read");
		v = vback_dev_config_generation(dev);
		break;
	case VMMIO_DEVICE_FEATURES_SEL:
	case VMMIO_DRIVER_FEATURES:
	case VMMIO_DRIVER_FEATURES_SEL:
	case VMMIO_GUEST_PAGE_SIZE:
	case VMMIO_QUEUE_SEL:
	case VMMIO_QUEUE_NUM:
	case VMMIO_QUEUE_ALIGN:
	case VMMIO_QUEUE_NOTIFY:
	case VMMIO_INTERRUPT_ACK:
	case VMMIO_QUEUE_DESC_LOW:
	case VMMIO_QUEUE_DESC_HIGH:
	case VMMIO_QUEUE_AVAIL_LOW:
	case VMMIO_QUEUE_AVAIL_HIGH:
	case VMMIO_QUEUE_USED_LOW:
	case VMMIO_QUEUE_USED_HIGH:
	case VMMIO_SHM_SEL:
		return bad(m, W_WRITEONLY, off, size,
			   "read of a write-only register");
	default:
		return bad(m, W_OFFSET, off, size,
			   "read of an unknown register");
	}
	*val = v;
	return 0;
}

/* Modern queue address registers: one half of one of three addresses. */
static int write_queue_addr(struct vback_mmio *m, uint64_t off, uint32_t val)
{
	struct vback_vq_addr a;
	uint64_t *field;
	bool high = off & 4;
	int r;

	if (!qsel_ok(m))
		return bad(m, W_QUEUE_SEL, off, 4, "QueueSel out of range");
	vback_dev_queue_get_addr(m->dev, m->queue_sel, &a);
	switch (off & ~(uint64_t)4) {
	case VMMIO_QUEUE_DESC_LOW:
		field = &a.desc;
		break;
	case VMMIO_QUEUE_AVAIL_LOW:
		field = &a.avail;
		break;
	default:
		field = &a.used;
		break;
	}
	if (high)
		*field = (*field & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*field = (*field & ~0xffffffffull) | val;
	r = vback_dev_queue_set_addr(m->dev, m->queue_sel, &a);
	if (r)
		return bad(m, W_QUEUE_BUSY, off, 4,
			   "queue address write while the queue is ready");
	return 0;
}

/* Legacy QueuePFN: the whole ring at pfn * GuestPageSize (4.2.4). */
static int write_queue_pfn(struct vback_mmio *m, uint32_t pfn)
{
	unsigned int q = m->queue_sel;
	struct vback_vq_addr a;
	uint64_t num, align, avail_end;

	if (!qsel_ok(m))
		return bad(m, W_QUEUE_SEL, VMMIO_QUEUE_PFN, 4,
			   "QueueSel out of range");
	if (!pfn) {
		vback_dev_queue_reset(m->dev, q);
		m->queue_pfn[q] = 0;
		return 0;
	}
	if (vback_dev_queue_enabled(m->dev, q))
		return bad(m, W_QUEUE_BUSY, VMMIO_QUEUE_PFN, 4,
			   "QueuePFN write while the queue is active");
	num = vback_dev_queue_size(m->dev, q);
	align = m->queue_align[q];
	a.desc = (uint64_t)pfn * m->guest_page_size;
	avail_end = a.desc + VRING_DESC_SIZE(num) + VRING_AVAIL_SIZE(num, 1);
	a.avail = a.desc + VRING_DESC_SIZE(num);
	a.used = (avail_end + align - 1) & ~(align - 1);
	vback_dev_queue_set_addr(m->dev, q, &a);
	m->queue_pfn[q] = pfn;
	if (queue_enable(m, q)) {
		/* The legacy driver cannot learn of the failure otherwise. */
		m->queue_pfn[q] = 0;
		dev_fail(m->dev, NULL, "queue %u: bad legacy ring at pfn %#x",
			 q, (unsigned int)pfn);
		return -EINVAL;
	}
	return 0;
}

static int write_status(struct vback_mmio *m, uint32_t val)
{
	int r;

	if (val > 0xff)
		return bad(m, W_VALUE, VMMIO_STATUS, 4, "status above 8 bits");
	if (val == 0) {
		/* What Status reads until the reset is complete: non-zero. */
		m->status_at_reset = vback_dev_status(m->dev);
		if (!m->status_at_reset)
			m->status_at_reset = VBACK_STATUS_ACKNOWLEDGE;
		vback_dev_reset(m->dev);
		mmio_state_reset(m);
		return 0;
	}
	r = vback_dev_set_status(m->dev, (uint8_t)val);
	/* A refused FEATURES_OK is the normal protocol (the driver reads
	 * the status back); other refusals are driver bugs. */
	if (r == -EINVAL)
		return 0;
	return r ? bad(m, W_VALUE, VMMIO_STATUS, 4, "status transition") : 0;
}

int vback_mmio_write(struct vback_mmio *m, uint64_t off, unsigned int size,
		     uint64_t val64)
{
	struct vback_dev *dev;
	uint32_t val = (uint32_t)val64;
	bool modern;
	int r;

	if (!m)
		return -EINVAL;
	dev = m->dev;
	modern = m->version == 2;
	if (off >= VBACK_MMIO_WINDOW_SIZE)
		return bad(m, W_OFFSET, off, size, "write outside the window");
	if (off >= VMMIO_CONFIG) {
		if (size < 8)
			val64 &= (1ull << (8 * size)) - 1;
		return config_access(m, off, size, &val64, true);
	}
	if (size != 4 || (off & 3))
		return bad(m, W_WIDTH, off, size, "register write width");

	switch (off) {
	case VMMIO_DEVICE_FEATURES_SEL:
		m->dev_features_sel = val;
		return 0;
	case VMMIO_DRIVER_FEATURES:
		if (m->drv_features_sel >= 2) {
			/* Bits above 63 were never offered. */
			if (val) {
				if (!(vback_dev_status(dev) &
				      VBACK_STATUS_FEATURES_OK))
					dev->features_invalid = true;
				return bad(m, W_VALUE, off, size,
					   "feature bits above 63");
			}
			return 0;
		}
		if (m->drv_features_sel)
			m->drv_features = (m->drv_features & 0xffffffffull) |
					  ((uint64_t)val << 32);
		else
			m->drv_features =
				(m->drv_features & ~0xffffffffull) | val;
		r = vback_dev_set_driver_features(dev, m->drv_features);
		if (r == -EPERM)
			return bad(m, W_VALUE, off, size,
				   "features written after FEATURES_OK");
		/* -EINVAL: remembered, FEATURES_OK will fail. */
		return 0;
	case VMMIO_DRIVER_FEATURES_SEL:
		m->drv_features_sel = val;
		return 0;
	case VMMIO_GUEST_PAGE_SIZE:
		if (modern)
			return bad(m, W_OFFSET, off, size, "legacy register");
		if (!val || (val & (val - 1)))
			return bad(m, W_VALUE, off, size, "GuestPageSize");
		m->guest_page_size = val;
		return 0;
	case VMMIO_QUEUE_SEL:
		/* Stored as is; every use checks the range. */
		m->queue_sel = val;
		return 0;
	case VMMIO_QUEUE_NUM:
		if (!qsel_ok(m))
			return bad(m, W_QUEUE_SEL, off, size,
				   "QueueSel out of range");
		r = vback_dev_queue_set_size(dev, m->queue_sel,
					     val > 0xffff ? 0 : (uint16_t)val);
		if (r == -EBUSY)
			return bad(m, W_QUEUE_BUSY, off, size,
				   "QueueNum while the queue is ready");
		if (r) {
			/* The queue cannot be enabled until a valid size. */
			dev_queue_invalidate_size(dev, m->queue_sel);
			return bad(m, W_QUEUE_NUM, off, size,
				   "QueueNum above max or not a power of 2");
		}
		return 0;
	case VMMIO_QUEUE_ALIGN:
		if (modern)
			return bad(m, W_OFFSET, off, size, "legacy register");
		if (!qsel_ok(m))
			return bad(m, W_QUEUE_SEL, off, size,
				   "QueueSel out of range");
		if (!val || (val & (val - 1)))
			return bad(m, W_VALUE, off, size, "QueueAlign");
		m->queue_align[m->queue_sel] = val;
		return 0;
	case VMMIO_QUEUE_PFN:
		if (modern)
			return bad(m, W_OFFSET, off, size, "legacy register");
		return write_queue_pfn(m, val);
	case VMMIO_QUEUE_READY:
		if (!modern)
			return bad(m, W_OFFSET, off, size, "modern register");
		if (!qsel_ok(m))
			return bad(m, W_QUEUE_SEL, off, size,
				   "QueueSel out of range");
		if (val == 0) {
			vback_dev_queue_reset(dev, m->queue_sel);
			return 0;
		}
		if (val != 1)
			return bad(m, W_VALUE, off, size, "QueueReady value");
		if (vback_dev_queue_enabled(dev, m->queue_sel))
			return 0;
		/* On failure QueueReady reads back 0. */
		return queue_enable(m, m->queue_sel) ? -EINVAL : 0;
	case VMMIO_QUEUE_NOTIFY:
		/* Without NOTIFICATION_DATA the value is the queue index. */
		vback_dev_queue_kick(dev, val);
		return 0;
	case VMMIO_INTERRUPT_ACK:
		m->int_status &= ~val;
		if (!m->int_status)
			m->ops->set_irq(m->opaque, false);
		return 0;
	case VMMIO_STATUS:
		return write_status(m, val);
	case VMMIO_QUEUE_DESC_LOW:
	case VMMIO_QUEUE_DESC_HIGH:
	case VMMIO_QUEUE_AVAIL_LOW:
	case VMMIO_QUEUE_AVAIL_HIGH:
	case VMMIO_QUEUE_USED_LOW:
	case VMMIO_QUEUE_USED_HIGH:
		if (!modern)
			return bad(m, W_OFFSET, off, size, "modern register");
		return write_queue_addr(m, off, val);
	case VMMIO_SHM_SEL:
		if (!modern)
			return bad(m, W_OFFSET, off, size, "modern register");
		m->shm_sel = val;
		return 0;
	case VMMIO_QUEUE_RESET:
		if (!modern)
			return bad(m, W_OFFSET, off, size, "modern register");
		if (!dev_has(dev, VIRTIO_F_RING_RESET))
			return bad(m, W_VALUE, off, size,
				   "QueueReset without RING_RESET");
		if (!qsel_ok(m))
			return bad(m, W_QUEUE_SEL, off, size,
				   "QueueSel out of range");
		if (val == 1)
			vback_dev_queue_reset(dev, m->queue_sel);
		return 0;
	case VMMIO_MAGIC_VALUE:
	case VMMIO_VERSION:
	case VMMIO_DEVICE_ID:
	case VMMIO_VENDOR_ID:
	case VMMIO_DEVICE_FEATURES:
	case VMMIO_QUEUE_NUM_MAX:
	case VMMIO_INTERRUPT_STATUS:
	case VMMIO_SHM_LEN_LOW:
	case VMMIO_SHM_LEN_HIGH:
	case VMMIO_SHM_BASE_LOW:
	case VMMIO_SHM_BASE_HIGH:
	case VMMIO_CONFIG_GENERATION:
		return bad(m, W_READONLY, off, size,
			   "write to a read-only register");
	default:
		return bad(m, W_OFFSET, off, size,
			   "write to an unknown register");
	}
}

/* ------------------------------------------------------------------ */
/* Taking over a running guest's device                                */
/* ------------------------------------------------------------------ */

#define STATUS_BITS                                                            \
	(VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER |                      \
	 VBACK_STATUS_DRIVER_OK | VBACK_STATUS_FEATURES_OK |                   \
	 VBACK_STATUS_NEEDS_RESET | VBACK_STATUS_FAILED)

int vback_mmio_save(const struct vback_mmio *m, struct vback_mmio_state *st)
{
	struct vback_dev *dev = m->dev;
	uint32_t nq = vback_dev_num_queues(dev);

	if (m->version != 2)
		return -ENOTSUP;
	memset(st, 0, sizeof(*st));
	st->version = VBACK_MMIO_STATE_VERSION;
	st->size = sizeof(*st);
	st->device_id = vback_dev_device_id(dev);
	st->num_queues = nq;
	st->status = vback_dev_status(dev);
	st->int_status = m->int_status;
	st->dev_features_sel = m->dev_features_sel;
	st->drv_features_sel = m->drv_features_sel;
	st->queue_sel = m->queue_sel;
	st->shm_sel = m->shm_sel;
	st->drv_features = m->drv_features;
	st->config_size = vback_dev_config_size(dev);
	if (st->config_size > VBACK_MMIO_STATE_CONFIG)
		st->config_size = VBACK_MMIO_STATE_CONFIG;
	vback_dev_config_read(dev, 0, st->config, st->config_size);
	for (uint32_t q = 0; q < nq && q < VBACK_MMIO_STATE_QUEUES; q++) {
		struct vback_vq_addr a;

		vback_dev_queue_get_addr(dev, q, &a);
		st->queue[q].num = vback_dev_queue_size(dev, q);
		st->queue[q].ready = vback_dev_queue_enabled(dev, q);
		st->queue[q].desc = a.desc;
		st->queue[q].avail = a.avail;
		st->queue[q].used = a.used;
	}
	return 0;
}

/* Apply *@st to the fresh device; a static reason on refusal. */
static const char *restore(struct vback_mmio *m,
			   const struct vback_mmio_state *st)
{
	const uint8_t pre = VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER;
	struct vback_dev *dev = m->dev;
	uint32_t nq = vback_dev_num_queues(dev), status = st->status;
	uint8_t keep = (uint8_t)(status & (pre | VBACK_STATUS_FAILED));

	if (st->version != VBACK_MMIO_STATE_VERSION || st->size != sizeof(*st))
		return "unknown state version or size";
	if (st->device_id != vback_dev_device_id(dev) || st->num_queues != nq ||
	    nq > VBACK_MMIO_STATE_QUEUES)
		return "saved for another kind of device";
	if (status & ~(uint32_t)STATUS_BITS)
		return "unknown status bits";
	if ((status & VBACK_STATUS_DRIVER_OK) &&
	    !(status & VBACK_STATUS_FEATURES_OK))
		return "DRIVER_OK without FEATURES_OK";
	if (st->config_size != vback_dev_config_size(dev) &&
	    !(st->config_size == VBACK_MMIO_STATE_CONFIG &&
	      vback_dev_config_size(dev) > VBACK_MMIO_STATE_CONFIG))
		return "config space of another size";
	if (vback_dev_status(dev))
		return "the device is not fresh";
	m->dev_features_sel = st->dev_features_sel;
	m->drv_features_sel = st->drv_features_sel;
	m->queue_sel = st->queue_sel;
	m->shm_sel = st->shm_sel;
	m->drv_features = st->drv_features;
	if (keep && vback_dev_set_status(dev, keep))
		return "status refused";
	if (vback_dev_set_driver_features(dev, st->drv_features) &&
	    (status & VBACK_STATUS_FEATURES_OK))
		return "features never offered";
	if ((status & VBACK_STATUS_FEATURES_OK) &&
	    (vback_dev_set_status(dev, keep | VBACK_STATUS_FEATURES_OK) ||
	     !(vback_dev_status(dev) & VBACK_STATUS_FEATURES_OK)))
		return "features not acceptable";
	/* Only what the driver may write takes (virtio-blk: writeback). */
	vback_dev_config_write(dev, 0, st->config, st->config_size);
	for (uint32_t q = 0; q < nq; q++) {
		const struct vback_mmio_queue_state *qs = &st->queue[q];
		struct vback_vq_addr a = { qs->desc, qs->avail, qs->used };
		uint8_t b[2];

		if (!qs->num && !qs->ready)
			continue;
		if (qs->num > 0xffff ||
		    vback_dev_queue_set_size(dev, q, (uint16_t)qs->num))
			return "bad queue size";
		vback_dev_queue_set_addr(dev, q, &a);
		if (!qs->ready)
			continue;
		if (!(status & VBACK_STATUS_FEATURES_OK))
			return "a queue ready before FEATURES_OK";
		/* Without a record to adopt, the ring goes on from its used
		 * index (what the driver last saw answered). */
		if (gm_read(&dev->t.gm, a.used + 2, b, 2))
			return "ring outside guest memory";
		vback_dev_queue_set_last_avail(dev, q, ld_le16(b));
		if (queue_enable(m, q))
			return "a ring cannot be enabled";
	}
	if (status & VBACK_STATUS_NEEDS_RESET)
		dev->status |= VBACK_STATUS_NEEDS_RESET;
	m->int_status =
		(st->int_status & (VMMIO_INT_VRING | VMMIO_INT_CONFIG)) |
		VMMIO_INT_VRING;
	if ((status & VBACK_STATUS_DRIVER_OK) &&
	    vback_dev_set_status(dev,
				 (uint8_t)(status & ~VBACK_STATUS_NEEDS_RESET)))
		return "DRIVER_OK refused";
	return NULL;
}

int vback_mmio_restore(struct vback_mmio *m, const struct vback_mmio_state *st,
		       const char **why)
{
	const char *reason;

	if (why)
		*why = NULL;
	if (m->version != 2)
		return -ENOTSUP;
	reason = restore(m, st);
	if (reason) {
		if (why)
			*why = reason;
		/* Nothing adopted: the records stay as they were (the reset
		 * would empty those of the queues already enabled). */
		for (unsigned int q = 0; q < vback_dev_num_queues(m->dev); q++)
			vback_dev_queue_set_inflight(m->dev, q, NULL, 0);
		vback_dev_reset(m->dev);
		mmio_state_reset(m);
		return -EINVAL;
	}
	/* A notification may have died with the process that owed it. */
	m->ops->set_irq(m->opaque, true);
	return 0;
}
