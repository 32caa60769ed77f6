/* SPDX-License-Identifier: MIT */
#include <string.h>

#include <vback/base.h>

#include "vb_os.h"

int vback_iov_total(const struct vback_iovec *iov, unsigned int cnt,
		    uint64_t *total)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < cnt; i++) {
		/* Guest-sized lengths: refuse a wrapped sum rather than
		 * hand the IO layer a short request. */
		if (iov[i].iov_len > UINT64_MAX - sum)
			return -EOVERFLOW;
		sum += iov[i].iov_len;
	}
	*total = sum;
	return 0;
}

/* Walk the vector from byte @skip, calling @fn on each piece. */
typedef void (*piece_fn)(void *iov_piece, void *buf_piece, size_t len);

static size_t iov_walk(const struct vback_iovec *iov, unsigned int cnt,
		       size_t skip, void *buf, size_t len, piece_fn fn)
{
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		size_t n = iov[i].iov_len;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		n -= skip;
		if (n > len - done)
			n = len - done;
		fn((char *)iov[i].iov_base + skip,
		   buf ? (char *)buf + done : NULL, n);
		done += n;
		skip = 0;
	}
	return done;
}

static void piece_to_buf(void *iov_piece, void *buf_piece, size_t len)
{
	memcpy(buf_piece, iov_piece, len);
}

static void piece_from_buf(void *iov_piece, void *buf_piece, size_t len)
{
	memcpy(iov_piece, buf_piece, len);
}

static void piece_zero(void *iov_piece, void *buf_piece, size_t len)
{
	(void)buf_piece;
	memset(iov_piece, 0, len);
}

size_t vback_iov_to_buf(const struct vback_iovec *iov, unsigned int cnt,
			size_t skip, void *buf, size_t len)
{
	return iov_walk(iov, cnt, skip, buf, len, piece_to_buf);
}

size_t vback_iov_from_buf(const struct vback_iovec *iov, unsigned int cnt,
			  size_t skip, const void *buf, size_t len)
{
	/* The walker is shared by both directions; this direction only
	 * reads @buf, so dropping const here is sound. */
	union {
		const void *c;
		void *v;
	} u = { .c = buf };

	return iov_walk(iov, cnt, skip, u.v, len, piece_from_buf);
}

size_t vback_iov_memset0(const struct vback_iovec *iov, unsigned int cnt,
			 size_t skip, size_t len)
{
	return iov_walk(iov, cnt, skip, NULL, len, piece_zero);
}
