// SPDX-License-Identifier: GPL-2.0
/*
 * Serving requests.
 *
 * queue_rq() never sleeps: it fails what a read-only device cannot do and
 * hands each read to the device's workqueue.  A worker takes a context
 * from the pool (sleeping if none is free), walks the request's segments
 * chunk by chunk, and for each chunk finds its extent (extent.c), reads
 * the stored bytes (read.c), checks their crc32c, decrypts (decrypt.c)
 * and decompresses (decompress.c) into the context, then copies out.
 *
 * The workqueue is WQ_MEM_RECLAIM, since memory reclaim may wait on reads
 * from this device (a file system or swap on it), and workers run in a
 * memalloc_noio scope so that their allocations never recurse into I/O.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-mq.h>
#include <linux/highmem.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "spfblk.h"

/* Worker contexts */

static void spf_ctx_free(struct spf_ctx *ctx)
{
	spf_crypt_ctx_free(ctx);
	spf_codec_ctx_free(ctx);
	kfree(ctx->block);
	vfree(ctx->plain);
	vfree(ctx->stored);
	kfree(ctx);
}

static struct spf_ctx *spf_ctx_alloc(struct spf_device *dev)
{
	struct spf_ctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return NULL;
	ctx->stored = vmalloc(dev->chunk_size + SPF_GCM_TAG_LEN);
	ctx->plain = vmalloc(dev->chunk_size);
	ctx->block = kmalloc(SPF_BLOCK_SIZE, GFP_KERNEL);
	if (!ctx->stored || !ctx->plain || !ctx->block ||
	    spf_codec_ctx_init(dev, ctx) || spf_crypt_ctx_init(dev, ctx)) {
		spf_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

/* N contexts, N = min(online CPUs, nr_workers). */
int spf_ctx_pool_init(struct spf_device *dev)
{
	unsigned int i, n;

	n = clamp(min(num_online_cpus(), spf_config.nr_workers), 1U, 256U);
	dev->ctxs = kcalloc(n, sizeof(*dev->ctxs), GFP_KERNEL);
	if (!dev->ctxs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		dev->ctxs[i] = spf_ctx_alloc(dev);
		if (!dev->ctxs[i]) {
			spf_ctx_pool_free(dev);
			return -ENOMEM;
		}
		list_add(&dev->ctxs[i]->node, &dev->ctx_free);
		dev->nr_ctx++;
	}
	return 0;
}

void spf_ctx_pool_free(struct spf_device *dev)
{
	unsigned int i;

	for (i = 0; i < dev->nr_ctx; i++)
		spf_ctx_free(dev->ctxs[i]);
	kfree(dev->ctxs);
	dev->ctxs = NULL;
	dev->nr_ctx = 0;
	INIT_LIST_HEAD(&dev->ctx_free);
}

static struct spf_ctx *spf_ctx_tryget(struct spf_device *dev)
{
	struct spf_ctx *ctx;

	spin_lock(&dev->ctx_lock);
	ctx = list_first_entry_or_null(&dev->ctx_free, struct spf_ctx, node);
	if (ctx)
		list_del(&ctx->node);
	spin_unlock(&dev->ctx_lock);
	return ctx;
}

static struct spf_ctx *spf_ctx_get(struct spf_device *dev)
{
	struct spf_ctx *ctx;

	wait_event(dev->ctx_wait, (ctx = spf_ctx_tryget(dev)));
	return ctx;
}

/* Most recently used first: its memo is the likeliest to hit. */
static void spf_ctx_put(struct spf_device *dev, struct spf_ctx *ctx)
{
	spin_lock(&dev->ctx_lock);
	list_add(&ctx->node, &dev->ctx_free);
	spin_unlock(&dev->ctx_lock);
	wake_up(&dev->ctx_wait);
}

/* Chunks */

/* Read, check, decrypt and decompress a stored chunk into @ctx. */
static int spf_chunk_load(struct spf_device *dev, struct spf_ctx *ctx,
			  u64 chunk, const struct spf_extent *ext)
{
	const struct spf_layer *l = &dev->layers[ext->layer];
	u32 len = ext->length;
	int ret;

	ctx->err_layer = ext->layer;
	if (len > dev->chunk_size + SPF_GCM_TAG_LEN) {
		snprintf(ctx->msg.text, sizeof(ctx->msg.text),
			 "stored length %u too large", len);
		return -EIO;
	}
	ret = spf_read_at(l->file, ctx->stored, len, ext->offset);
	if (ret) {
		snprintf(ctx->msg.text, sizeof(ctx->msg.text),
			 "read error %d at offset %llu", ret, ext->offset);
		return -EIO;
	}
	if (spf_crc32c(ctx->stored, len) != ext->crc) {
		snprintf(ctx->msg.text, sizeof(ctx->msg.text),
			 "checksum mismatch (corrupt data at offset %llu)",
			 ext->offset);
		return -EIO;
	}
	if (l->tfm) {
		ret = spf_decrypt(ctx, l, chunk, len);
		if (ret) {
			snprintf(ctx->msg.text, sizeof(ctx->msg.text),
				 "decryption failed (%d): altered data",
				 ret);
			return -EIO;
		}
		len -= SPF_GCM_TAG_LEN;
	}

	if (ext->state == SPF_CHUNK_RAW) {
		if (len != dev->chunk_size) {
			snprintf(ctx->msg.text, sizeof(ctx->msg.text),
				 "raw chunk of %u bytes", len);
			return -EIO;
		}
		ctx->data = ctx->stored;
		return 0;
	}
	ret = spf_decompress(ctx, l->img.codec, ctx->stored, len, ctx->plain,
			     dev->chunk_size);
	if (ret) {
		snprintf(ctx->msg.text, sizeof(ctx->msg.text),
			 "%s data does not decompress to %u bytes (%d)",
			 spf_codec_name(l->img.codec), dev->chunk_size, ret);
		return -EIO;
	}
	ctx->data = ctx->plain;
	return 0;
}

/*
 * The decoded bytes of @chunk: *data points into @ctx, or is NULL for a
 * chunk of zeros.  On failure, count and log the bad chunk once.
 */
static int spf_chunk_get(struct spf_device *dev, struct spf_ctx *ctx,
			 u64 chunk, const u8 **data)
{
	struct spf_extent ext;
	int ret;

	ret = spf_extent_lookup(dev, ctx, chunk, &ext);
	if (!ret && ext.state == SPF_CHUNK_ZERO) {
		*data = NULL;
		return 0;
	}
	if (!ret && ctx->memo_valid && ctx->memo_layer == ext.layer &&
	    ctx->memo_chunk == chunk) {
		*data = ctx->data;
		return 0;
	}
	if (!ret) {
		ctx->memo_valid = false;
		ret = spf_chunk_load(dev, ctx, chunk, &ext);
	}
	if (ret) {
		atomic64_inc(&dev->corrupt_chunks);
		pr_err_ratelimited("%s: %s: chunk %llu: %s\n",
				   dev->disk->disk_name,
				   dev->layers[ctx->err_layer].path, chunk,
				   ctx->msg.text);
		return ret;
	}
	ctx->memo_valid = true;
	ctx->memo_layer = ext.layer;
	ctx->memo_chunk = chunk;
	*data = ctx->data;
	return 0;
}

/* Requests */

/* Fill every segment of a read, chunk by chunk. */
static blk_status_t spf_serve(struct spf_device *dev, struct spf_ctx *ctx,
			      struct request *rq)
{
	u64 pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	u64 cur = U64_MAX;
	const u8 *data = NULL;
	struct req_iterator iter;
	struct bio_vec bv;

	rq_for_each_segment(bv, rq, iter) {
		u8 *dst = bvec_kmap_local(&bv);
		u32 done = 0;

		while (done < bv.bv_len) {
			u64 chunk = pos >> dev->chunk_shift;
			u32 off = pos & (dev->chunk_size - 1);
			u32 n = min(bv.bv_len - done, dev->chunk_size - off);

			if (chunk != cur) {
				if (spf_chunk_get(dev, ctx, chunk, &data)) {
					kunmap_local(dst);
					return BLK_STS_IOERR;
				}
				cur = chunk;
			}
			if (data)
				memcpy(dst + done, data + off, n);
			else
				memset(dst + done, 0, n);
			done += n;
			pos += n;
		}
		kunmap_local(dst);
		flush_dcache_page(bv.bv_page);
	}
	return BLK_STS_OK;
}

static void spf_work(struct work_struct *work)
{
	struct request *rq = blk_mq_rq_from_pdu(container_of(work,
						struct spf_cmd, work));
	struct spf_device *dev = rq->q->queuedata;
	unsigned int noio = memalloc_noio_save();
	struct spf_ctx *ctx;
	blk_status_t sts;

	ctx = spf_ctx_get(dev);
	sts = spf_serve(dev, ctx, rq);
	spf_ctx_put(dev, ctx);
	memalloc_noio_restore(noio);
	/* Last: detach may free dev once every request has ended. */
	blk_mq_end_request(rq, sts);
}

static blk_status_t spf_queue_rq(struct blk_mq_hw_ctx *hctx,
				 const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct spf_device *dev = rq->q->queuedata;
	struct spf_cmd *cmd = blk_mq_rq_to_pdu(rq);

	switch (req_op(rq)) {
	case REQ_OP_READ:
		blk_mq_start_request(rq);
		queue_work(dev->wq, &cmd->work);
		return BLK_STS_OK;
	case REQ_OP_FLUSH:
		/* Nothing is ever written, so nothing is ever dirty. */
		blk_mq_start_request(rq);
		blk_mq_end_request(rq, BLK_STS_OK);
		return BLK_STS_OK;
	case REQ_OP_WRITE:
		return BLK_STS_IOERR;	/* read-only */
	default:
		return BLK_STS_NOTSUPP;	/* discard, write zeroes, ... */
	}
}

static int spf_init_request(struct blk_mq_tag_set *set, struct request *rq,
			    unsigned int hctx_idx, unsigned int numa_node)
{
	struct spf_cmd *cmd = blk_mq_rq_to_pdu(rq);

	INIT_WORK(&cmd->work, spf_work);
	return 0;
}

const struct blk_mq_ops spf_mq_ops = {
	.queue_rq	= spf_queue_rq,
	.init_request	= spf_init_request,
};
