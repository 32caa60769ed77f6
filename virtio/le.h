/* SPDX-License-Identifier: MIT */
/*
 * Little-endian wire types. Everything the guest sees (rings, request
 * headers, config space) is little endian (virtio 1.2 section 1.4); the
 * type carries the byte order so a raw field cannot be used by mistake, and
 * the conversion happens here and nowhere else.
 */
#ifndef VBACK_VIRTIO_LE_H
#define VBACK_VIRTIO_LE_H

#include <stdint.h>
#include <string.h>

typedef struct {
	uint16_t raw;
} le16;
typedef struct {
	uint32_t raw;
} le32;
typedef struct {
	uint64_t raw;
} le64;

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) &&                \
	__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VB_SWAP16(x) __builtin_bswap16(x)
#define VB_SWAP32(x) __builtin_bswap32(x)
#define VB_SWAP64(x) __builtin_bswap64(x)
#else
#define VB_SWAP16(x) (x)
#define VB_SWAP32(x) (x)
#define VB_SWAP64(x) (x)
#endif

static inline uint16_t le16_to_cpu(le16 v)
{
	return VB_SWAP16(v.raw);
}
static inline uint32_t le32_to_cpu(le32 v)
{
	return VB_SWAP32(v.raw);
}
static inline uint64_t le64_to_cpu(le64 v)
{
	return VB_SWAP64(v.raw);
}

static inline le16 cpu_to_le16(uint16_t v)
{
	le16 r = { VB_SWAP16(v) };
	return r;
}

static inline le32 cpu_to_le32(uint32_t v)
{
	le32 r = { VB_SWAP32(v) };
	return r;
}

static inline le64 cpu_to_le64(uint64_t v)
{
	le64 r = { VB_SWAP64(v) };
	return r;
}

/* Unaligned loads and stores of little-endian values in byte buffers. */
static inline uint16_t ld_le16(const void *p)
{
	le16 v;

	memcpy(&v, p, sizeof(v));
	return le16_to_cpu(v);
}

static inline uint32_t ld_le32(const void *p)
{
	le32 v;

	memcpy(&v, p, sizeof(v));
	return le32_to_cpu(v);
}

static inline uint64_t ld_le64(const void *p)
{
	le64 v;

	memcpy(&v, p, sizeof(v));
	return le64_to_cpu(v);
}

static inline void st_le16(void *p, uint16_t x)
{
	le16 v = cpu_to_le16(x);

	memcpy(p, &v, sizeof(v));
}

static inline void st_le32(void *p, uint32_t x)
{
	le32 v = cpu_to_le32(x);

	memcpy(p, &v, sizeof(v));
}

static inline void st_le64(void *p, uint64_t x)
{
	le64 v = cpu_to_le64(x);

	memcpy(p, &v, sizeof(v));
}

#endif /* VBACK_VIRTIO_LE_H */
