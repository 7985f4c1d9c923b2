// SPDX-License-Identifier: GPL-2.0
/*
 * Serving writes, write zeroes, discards and flushes of a writable device.
 *
 * A worker walks the request chunk by chunk.  Under the chunk's lock it
 * builds the chunk's new content in the context's rmw buffer: a request
 * covering the whole chunk needs no read; a partial one first reads the
 * current content (the overlay's latest record, else the chain), as a
 * read would.  Then the content becomes one record: all zero, a zero
 * record; else raw, or, on a device attached with
 * SPF_ATTACH_F_LOG_COMPRESS, compressed with the overlay's codec if that
 * shrinks it; sealed with a random nonce if the overlay is encrypted.
 * (Compressing as it writes costs a 4 KiB random write most of its time
 * for a smaller overlay; the seal compresses raw records anyway.)  The
 * record is appended to the overlay and published in its map
 * (overlay.c) before the lock is dropped, so concurrent writes of a chunk
 * never lose an update.
 *
 * Write zeroes and discard zero what they cover (a discarded range reads
 * as zeros); a whole chunk that already reads as zeros gets no record.  A
 * flush, and a FUA write once written, complete only after an fsync of
 * the overlay.  Nothing here allocates but the overlay map's entries.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-mq.h>
#include <linux/highmem.h>
#include <linux/random.h>
#include <linux/string.h>

#include "spfblk.h"

static __printf(2, 3) int spf_write_fail(struct spf_ctx *ctx,
					   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->msg.text, sizeof(ctx->msg.text), fmt, ap);
	va_end(ap);
	return -EIO;
}

/* Copy the request's next @len bytes into @dst. */
static void spf_cursor_copy(struct spf_cursor *c, u8 *dst, u32 len)
{
	struct bio_vec bv;

	while (len && spf_cursor_peek(c, &bv)) {
		u32 n = min(bv.bv_len, len);
		u8 *src = bvec_kmap_local(&bv);

		memcpy(dst, src, n);
		kunmap_local(src);
		spf_cursor_advance(c, n);
		dst += n;
		len -= n;
	}
}

/* Encode ctx->rmw, @chunk's new content, as a record and append it. */
static int spf_write_record(struct spf_device *dev, struct spf_ctx *ctx,
			    u64 chunk)
{
	const struct spf_layer *l = spf_ovl_layer(dev);
	const u8 *data = ctx->stored;
	u8 nonce[SPF_GCM_NONCE_LEN];
	u8 state = SPF_CHUNK_COMPRESSED;
	u32 len;
	int ret;

	if (!memchr_inv(ctx->rmw, 0, dev->chunk_size))
		return spf_overlay_append(dev, ctx, chunk, SPF_CHUNK_ZERO,
					  NULL, 0, NULL);
	/* Compressed records are shorter than a chunk (format.md). */
	len = spf_compress(dev, ctx, ctx->rmw, ctx->stored,
			   dev->chunk_size - 1);
	if (!len) {
		state = SPF_CHUNK_RAW;
		len = dev->chunk_size;
		data = ctx->rmw;
	}
	if (!l->tfm)
		return spf_overlay_append(dev, ctx, chunk, state, data, len,
					  NULL);
	/* Encrypted in place, in ctx->stored. */
	if (data != ctx->stored)
		memcpy(ctx->stored, data, len);

	get_random_bytes(nonce, SPF_GCM_NONCE_LEN - 1);
	nonce[SPF_GCM_NONCE_LEN - 1] = SPF_LOG_NONCE_MARK;
	ret = spf_encrypt_record(ctx, l, chunk, len, nonce);
	if (ret)
		return ret;
	return spf_overlay_append(dev, ctx, chunk, state, ctx->stored,
				  len + SPF_GCM_TAG_LEN, nonce);
}

/*
 * Write @len bytes at @off of @chunk: the request's next bytes, or zeros
 * for write zeroes and discard.
 */
static int spf_write_chunk(struct spf_device *dev, struct spf_ctx *ctx,
			   struct spf_cursor *c, bool zeroing, u64 chunk,
			   u32 off, u32 len)
{
	/* @chunk's lock, held across its read-modify-write and append */
	struct mutex *lock;
	bool whole = !off && len == dev->chunk_size;
	struct spf_extent ext;
	int ret = 0;

	lock = &dev->ovl->chunk_lock[chunk % SPF_OVL_CHUNK_LOCKS];
	mutex_lock(lock);
	if (!whole || zeroing) {
		ret = spf_extent_lookup(dev, ctx, chunk, &ext);
		if (ret)
			goto out;
		if (zeroing && ext.state == SPF_CHUNK_ZERO)
			goto out;	/* reads as zeros already */
	}
	if (!whole) {
		ret = spf_chunk_copy(dev, ctx, chunk, &ext, ctx->rmw);
		if (ret)
			goto out;
	}
	if (zeroing)
		memset(ctx->rmw + off, 0, len);
	else
		spf_cursor_copy(c, ctx->rmw + off, len);

	ret = spf_write_record(dev, ctx, chunk);
	if (ret) {
		ctx->err_layer = dev->nr_layers;
		spf_write_fail(ctx, "cannot append a record (%d)", ret);
	}
out:
	mutex_unlock(lock);
	return ret;
}

blk_status_t spf_write_serve(struct spf_device *dev, struct spf_ctx *ctx,
			     struct request *rq)
{
	u64 pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	u32 left = blk_rq_bytes(rq);
	bool zeroing = req_op(rq) != REQ_OP_WRITE;
	struct spf_cursor c;
	int ret;

	if (req_op(rq) == REQ_OP_FLUSH)
		goto sync;
	spf_cursor_init(&c, rq);
	while (left) {
		u64 chunk = pos >> dev->chunk_shift;
		u32 off = pos & (dev->chunk_size - 1);
		u32 n = min(left, dev->chunk_size - off);

		if (spf_write_chunk(dev, ctx, &c, zeroing, chunk, off, n)) {
			pr_err_ratelimited("%s: %s: write of chunk %llu: %s\n",
					   dev->disk->disk_name,
					   dev->layers[ctx->err_layer].path,
					   chunk, ctx->msg.text);
			return BLK_STS_IOERR;
		}
		pos += n;
		left -= n;
	}
	if (!(rq->cmd_flags & REQ_FUA))
		return BLK_STS_OK;
sync:
	ret = spf_overlay_sync(dev);
	if (ret) {
		pr_err_ratelimited("%s: %s: fsync failed (%d)\n",
				   dev->disk->disk_name,
				   spf_ovl_layer(dev)->path, ret);
		return BLK_STS_IOERR;
	}
	return BLK_STS_OK;
}
