// SPDX-License-Identifier: GPL-2.0
/*
 * Serving requests.
 *
 * queue_rq() never sleeps: it fails what a read-only device cannot do and
 * puts each read, and on a writable device each write, write zeroes,
 * discard and flush (write.c), on the device's queue of requests, and
 * wakes an idle worker if there is one.  Each worker context has its own
 * work item on the device's workqueue; a worker serves requests off the
 * queue until it is empty, so a busy device takes requests without a
 * wakeup each (as loop's worker does), and up to one worker per context
 * serves at once, so requests still decode in parallel.  A worker walks a
 * read request chunk by chunk: it finds each chunk's extent (extent.c),
 * then either reads a plain raw chunk straight into the request's pages
 * or takes the decoded chunk from the shared cache, decoding it there on
 * a miss (chunk.c), and copies out.
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

static void spf_work(struct work_struct *work);

/* Worker contexts */

static void spf_ctx_free(struct spf_ctx *ctx)
{
	spf_compress_ctx_free(ctx);
	spf_crypt_ctx_free(ctx);
	spf_codec_ctx_free(ctx);
	kfree(ctx->bvec);
	kfree(ctx->block);
	vfree(ctx->stored);
	kfree(ctx);
}

static struct spf_ctx *spf_ctx_alloc(struct spf_device *dev)
{
	struct spf_ctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return NULL;
	ctx->dev = dev;
	INIT_WORK(&ctx->work, spf_work);
	ctx->stored = vmalloc(dev->chunk_size + SPF_GCM_TAG_LEN);
	ctx->block = kmalloc(SPF_BLOCK_SIZE, GFP_KERNEL);
	/* A chunk's span: whole pages, plus sub-page O_DIRECT segments. */
	ctx->nr_bvec = 2 * (dev->chunk_size >> PAGE_SHIFT) + 2;
	ctx->bvec = kcalloc(ctx->nr_bvec, sizeof(*ctx->bvec), GFP_KERNEL);
	if (!ctx->stored || !ctx->block || !ctx->bvec ||
	    spf_codec_ctx_init(dev, ctx) || spf_crypt_ctx_init(dev, ctx) ||
	    spf_compress_ctx_init(dev, ctx)) {
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
}

/* Requests */

void spf_cursor_init(struct spf_cursor *c, struct request *rq)
{
	c->bio = rq->bio;
	if (c->bio)
		c->iter = c->bio->bi_iter;
}

/* The rest of the current segment, at most one page; false at the end. */
bool spf_cursor_peek(struct spf_cursor *c, struct bio_vec *bv)
{
	while (c->bio && !c->iter.bi_size) {
		c->bio = c->bio->bi_next;
		if (c->bio)
			c->iter = c->bio->bi_iter;
	}
	if (!c->bio)
		return false;
	*bv = bio_iter_iovec(c->bio, c->iter);
	return true;
}

void spf_cursor_advance(struct spf_cursor *c, unsigned int n)
{
	bio_advance_iter_single(c->bio, &c->iter, n);
}

/*
 * The pieces of the request's next @len bytes, in ctx->bvec.  Returns
 * their number, or 0 (and leaves @c as it was) if they do not fit.
 */
static unsigned int spf_cursor_take(struct spf_cursor *c, struct spf_ctx *ctx,
				    u32 len)
{
	struct spf_cursor start = *c;
	unsigned int nr = 0;
	struct bio_vec bv;

	while (len) {
		if (nr == ctx->nr_bvec || !spf_cursor_peek(c, &bv)) {
			*c = start;
			return 0;
		}
		bv.bv_len = min(bv.bv_len, len);
		ctx->bvec[nr++] = bv;
		spf_cursor_advance(c, bv.bv_len);
		len -= bv.bv_len;
	}
	return nr;
}

/* Copy @len bytes of @data (zeros if NULL) into the request. */
static void spf_cursor_fill(struct spf_cursor *c, const u8 *data, u32 len)
{
	struct bio_vec bv;

	while (len && spf_cursor_peek(c, &bv)) {
		u32 n = min(bv.bv_len, len);
		u8 *dst = bvec_kmap_local(&bv);

		if (data) {
			memcpy(dst, data, n);
			data += n;
		} else {
			memset(dst, 0, n);
		}
		kunmap_local(dst);
		flush_dcache_page(bv.bv_page);
		spf_cursor_advance(c, n);
		len -= n;
	}
}

/*
 * Serve @len bytes of @chunk from offset @off in it: straight from the
 * backing file into the request's pages when the request covers a whole
 * plain raw chunk (or any part of one, on a device that does not verify
 * crc32c or whose check of the chunk passed before, see verify-once),
 * else from its decoded copy.
 */
static int spf_serve_chunk(struct spf_device *dev, struct spf_ctx *ctx,
			   struct spf_cursor *c, u64 chunk, u32 off, u32 len)
{
	struct spf_chunk_ref ref;
	struct spf_extent ext;
	unsigned int nr;
	int ret;

	ret = spf_extent_lookup(dev, ctx, chunk, &ext);
	if (ret)
		return ret;
	if (spf_chunk_direct(dev, &ext, len)) {
		nr = spf_cursor_take(c, ctx, len);
		if (nr)
			return spf_chunk_read_direct(dev, ctx, chunk, &ext,
						     off, len, ctx->bvec, nr);
	}
	ret = spf_chunk_get(dev, ctx, chunk, &ext, &ref);
	if (ret)
		return ret;
	spf_cursor_fill(c, ref.data ? ref.data + off : NULL, len);
	spf_chunk_put(dev, &ref);
	return 0;
}

/* Fill a read request, chunk by chunk. */
static blk_status_t spf_serve(struct spf_device *dev, struct spf_ctx *ctx,
			      struct request *rq)
{
	u64 pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	u32 left = blk_rq_bytes(rq);
	struct spf_cursor c;

	spf_cursor_init(&c, rq);
	while (left) {
		u64 chunk = pos >> dev->chunk_shift;
		u32 off = pos & (dev->chunk_size - 1);
		u32 n = min(left, dev->chunk_size - off);

		if (spf_serve_chunk(dev, ctx, &c, chunk, off, n)) {
			atomic64_inc(&dev->corrupt_chunks);
			pr_err_ratelimited("%s: %s: chunk %llu: %s\n",
					   dev->disk->disk_name,
					   dev->layers[ctx->err_layer].path,
					   chunk, ctx->msg.text);
			return BLK_STS_IOERR;
		}
		pos += n;
		left -= n;
	}
	return BLK_STS_OK;
}

/* The oldest request waiting for a worker, if any. */
static struct request *spf_dequeue(struct spf_device *dev)
{
	struct spf_cmd *cmd;

	spin_lock(&dev->queue_lock);
	cmd = list_first_entry_or_null(&dev->queue, struct spf_cmd, node);
	if (cmd)
		list_del(&cmd->node);
	spin_unlock(&dev->queue_lock);
	return cmd ? blk_mq_rq_from_pdu(cmd) : NULL;
}

/*
 * Is the queue empty?  Read under the lock; a worker that has just given
 * up its active bit asks, so that a request queued meanwhile by someone
 * who saw the bit still set is not left behind.
 */
static bool spf_queue_empty(struct spf_device *dev)
{
	bool empty;

	spin_lock(&dev->queue_lock);
	empty = list_empty(&dev->queue);
	spin_unlock(&dev->queue_lock);
	return empty;
}

/*
 * A worker: serve requests with its own context until none waits, then
 * give up the context's active bit.  The device outlives its workers
 * (detach destroys the workqueue first), so the queue may be looked at
 * after the last request has ended.
 */
static void spf_work(struct work_struct *work)
{
	struct spf_ctx *ctx = container_of(work, struct spf_ctx, work);
	struct spf_device *dev = ctx->dev;
	unsigned int noio = memalloc_noio_save();
	struct request *rq;
	blk_status_t sts;

	for (;;) {
		rq = spf_dequeue(dev);
		if (!rq) {
			clear_bit(0, &ctx->active);
			/* Pairs with test_and_set_bit() in spf_enqueue(). */
			smp_mb__after_atomic();
			if (spf_queue_empty(dev) ||
			    test_and_set_bit(0, &ctx->active))
				break;	/* idle, or kicked: runs again */
			continue;
		}
		if (req_op(rq) == REQ_OP_READ)
			sts = spf_serve(dev, ctx, rq);
		else
			sts = spf_write_serve(dev, ctx, rq);
		blk_mq_end_request(rq, sts);
		cond_resched();
	}
	memalloc_noio_restore(noio);
}

/*
 * Queue @rq for the workers, and wake the first idle one, if any: a busy
 * worker takes it when it is done with its request.  The first contexts
 * are preferred, as their memory is the likeliest to be warm.
 */
static void spf_enqueue(struct spf_device *dev, struct request *rq)
{
	struct spf_cmd *cmd = blk_mq_rq_to_pdu(rq);
	unsigned int i;

	blk_mq_start_request(rq);
	spin_lock(&dev->queue_lock);
	list_add_tail(&cmd->node, &dev->queue);
	spin_unlock(&dev->queue_lock);
	for (i = 0; i < dev->nr_ctx; i++) {
		struct spf_ctx *ctx = dev->ctxs[i];

		if (!test_and_set_bit(0, &ctx->active)) {
			queue_work(dev->wq, &ctx->work);
			break;
		}
	}
}

static blk_status_t spf_queue_rq(struct blk_mq_hw_ctx *hctx,
				 const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct spf_device *dev = rq->q->queuedata;

	switch (req_op(rq)) {
	case REQ_OP_READ:
		spf_enqueue(dev, rq);
		return BLK_STS_OK;
	case REQ_OP_WRITE:
	case REQ_OP_FLUSH:
	case REQ_OP_WRITE_ZEROES:
	case REQ_OP_DISCARD:
		if (!dev->ovl)
			break;
		spf_enqueue(dev, rq);
		return BLK_STS_OK;
	default:
		return BLK_STS_NOTSUPP;
	}

	/* Read only. */
	switch (req_op(rq)) {
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

const struct blk_mq_ops spf_mq_ops = {
	.queue_rq	= spf_queue_rq,
};
