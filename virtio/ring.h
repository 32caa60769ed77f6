/* SPDX-License-Identifier: MIT */
/*
 * Split-ring layout and the virtio constants the layer uses, written from
 * the virtio 1.2 specification (sections 2.7, 4.2, 5.2, 6). Private to
 * libvback-virtio; the test driver model includes it too.
 */
#ifndef VBACK_VIRTIO_RING_H
#define VBACK_VIRTIO_RING_H

#include <stdint.h>

#include "le.h"

/* Descriptor flags (2.7.5) */
#define VRING_DESC_F_NEXT     1u
#define VRING_DESC_F_WRITE    2u
#define VRING_DESC_F_INDIRECT 4u

/* Suppression flags (2.7.7, 2.7.10) */
#define VRING_AVAIL_F_NO_INTERRUPT 1u
#define VRING_USED_F_NO_NOTIFY	   1u

/* Reserved feature bits (6) */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX	    29
#define VIRTIO_F_VERSION_1	    32
#define VIRTIO_F_ACCESS_PLATFORM    33
#define VIRTIO_F_RING_PACKED	    34
#define VIRTIO_F_RING_RESET	    40

#define VB_BIT(n) (1ull << (n))

/* Largest split ring (2.7: Queue Size is at most 32768). */
#define VRING_MAX_SIZE 32768u

struct vring_desc {
	le64 addr;
	le32 len;
	le16 flags;
	le16 next;
};

struct vring_used_elem {
	le32 id;
	le32 len;
};

/* Ring area sizes; the event fields exist only with EVENT_IDX. */
#define VRING_DESC_SIZE(n)	(16ull * (n))
#define VRING_AVAIL_SIZE(n, ev) (4ull + 2ull * (n) + ((ev) ? 2u : 0u))
#define VRING_USED_SIZE(n, ev)	(4ull + 8ull * (n) + ((ev) ? 2u : 0u))

/* Field offsets inside the areas. */
#define VRING_AVAIL_FLAGS	  0u
#define VRING_AVAIL_IDX		  2u
#define VRING_AVAIL_RING(i)	  (4ull + 2ull * (i))
#define VRING_AVAIL_USED_EVENT(n) (4ull + 2ull * (n))
#define VRING_USED_FLAGS	  0u
#define VRING_USED_IDX		  2u
#define VRING_USED_RING(i)	  (4ull + 8ull * (i))
#define VRING_USED_AVAIL_EVENT(n) (4ull + 8ull * (n))

/*
 * 2.7.7.2 / 2.7.10: notify when the index moved past @event since @old.
 * All arithmetic is modulo 2^16, like the ring indices.
 */
static inline int vring_need_event(uint16_t event, uint16_t new_idx,
				   uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* virtio-blk (5.2) */
#define VIRTIO_ID_BLOCK 2u

#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_GEOMETRY	  4
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_TOPOLOGY	  10
#define VIRTIO_BLK_F_CONFIG_WCE	  11
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_BLK_F_SECURE_ERASE 16

#define VIRTIO_BLK_T_IN		  0u
#define VIRTIO_BLK_T_OUT	  1u
#define VIRTIO_BLK_T_FLUSH	  4u
#define VIRTIO_BLK_T_GET_ID	  8u
#define VIRTIO_BLK_T_GET_LIFETIME 10u
#define VIRTIO_BLK_T_DISCARD	  11u
#define VIRTIO_BLK_T_WRITE_ZEROES 13u
#define VIRTIO_BLK_T_SECURE_ERASE 14u

#define VIRTIO_BLK_S_OK	    0u
#define VIRTIO_BLK_S_IOERR  1u
#define VIRTIO_BLK_S_UNSUPP 2u

#define VIRTIO_BLK_WZ_F_UNMAP 1u
#define VIRTIO_BLK_ID_BYTES   20u
#define VIRTIO_BLK_SECTOR     512u

/* struct virtio_blk_req header and discard/write-zeroes segment. */
struct virtio_blk_outhdr {
	le32 type;
	le32 ioprio;
	le64 sector;
};

struct virtio_blk_dwz_seg {
	le64 sector;
	le32 num_sectors;
	le32 flags;
};

/* Config space offsets (5.2.4) */
#define VBLK_CFG_CAPACITY	     0u
#define VBLK_CFG_SIZE_MAX	     8u
#define VBLK_CFG_SEG_MAX	     12u
#define VBLK_CFG_BLK_SIZE	     20u
#define VBLK_CFG_PHYS_EXP	     24u
#define VBLK_CFG_ALIGN_OFF	     25u
#define VBLK_CFG_MIN_IO		     26u
#define VBLK_CFG_OPT_IO		     28u
#define VBLK_CFG_WRITEBACK	     32u
#define VBLK_CFG_NUM_QUEUES	     34u
#define VBLK_CFG_MAX_DISCARD_SECTORS 36u
#define VBLK_CFG_MAX_DISCARD_SEG     40u
#define VBLK_CFG_DISCARD_ALIGN	     44u
#define VBLK_CFG_MAX_WZ_SECTORS	     48u
#define VBLK_CFG_MAX_WZ_SEG	     52u
#define VBLK_CFG_WZ_MAY_UNMAP	     56u
#define VBLK_CFG_MAX_SE_SECTORS	     60u
#define VBLK_CFG_MAX_SE_SEG	     64u
#define VBLK_CFG_SE_ALIGN	     68u
#define VBLK_CFG_SIZE		     72u

/* virtio-mmio registers (4.2.2) */
#define VMMIO_MAGIC_VALUE	  0x000
#define VMMIO_VERSION		  0x004
#define VMMIO_DEVICE_ID		  0x008
#define VMMIO_VENDOR_ID		  0x00c
#define VMMIO_DEVICE_FEATURES	  0x010
#define VMMIO_DEVICE_FEATURES_SEL 0x014
#define VMMIO_DRIVER_FEATURES	  0x020
#define VMMIO_DRIVER_FEATURES_SEL 0x024
#define VMMIO_GUEST_PAGE_SIZE	  0x028 /* legacy */
#define VMMIO_QUEUE_SEL		  0x030
#define VMMIO_QUEUE_NUM_MAX	  0x034
#define VMMIO_QUEUE_NUM		  0x038
#define VMMIO_QUEUE_ALIGN	  0x03c /* legacy */
#define VMMIO_QUEUE_PFN		  0x040 /* legacy */
#define VMMIO_QUEUE_READY	  0x044
#define VMMIO_QUEUE_NOTIFY	  0x050
#define VMMIO_INTERRUPT_STATUS	  0x060
#define VMMIO_INTERRUPT_ACK	  0x064
#define VMMIO_STATUS		  0x070
#define VMMIO_QUEUE_DESC_LOW	  0x080
#define VMMIO_QUEUE_DESC_HIGH	  0x084
#define VMMIO_QUEUE_AVAIL_LOW	  0x090
#define VMMIO_QUEUE_AVAIL_HIGH	  0x094
#define VMMIO_QUEUE_USED_LOW	  0x0a0
#define VMMIO_QUEUE_USED_HIGH	  0x0a4
#define VMMIO_SHM_SEL		  0x0ac
#define VMMIO_SHM_LEN_LOW	  0x0b0
#define VMMIO_SHM_LEN_HIGH	  0x0b4
#define VMMIO_SHM_BASE_LOW	  0x0b8
#define VMMIO_SHM_BASE_HIGH	  0x0bc
#define VMMIO_QUEUE_RESET	  0x0c0
#define VMMIO_CONFIG_GENERATION	  0x0fc
#define VMMIO_CONFIG		  0x100

#define VMMIO_MAGIC	 0x74726976u /* "virt" */
#define VMMIO_INT_VRING	 1u
#define VMMIO_INT_CONFIG 2u

#endif /* VBACK_VIRTIO_RING_H */
