// SPDX-License-Identifier: GPL-2.0
/*
 * Chunks: loading one, and the small cache of decoded chunks that the
 * workers share.
 *
 * Loading reads the stored bytes (read.c), checks their crc32c (unless
 * the device was attached with SPF_ATTACH_F_NO_VERIFY), decrypts
 * (decrypt.c) and decompresses (decompress.c) into a chunk-sized buffer.
 * A plain raw chunk is read straight into that buffer; when a request
 * covers a whole plain raw chunk, or any part of one on a device that does
 * not verify, spf_chunk_read_direct() reads it straight into the
 * request's pages instead, with no buffer at all.
 *
 * A device attached with SPF_ATTACH_F_VERIFY_ONCE checks a chunk's
 * crc32c at its first read only: a check that passes marks the chunk
 * (spf_mark_verified(), verify.c) and its later reads skip the check, so
 * any part of a plain raw chunk is then read straight into the request.
 *
 * The decoded-chunk cache holds nr slots, each one chunk.  A reader that
 * finds its chunk takes a reference and copies out with no lock held; a
 * reader that finds it being loaded by another worker waits for that load
 * instead of repeating it; a reader that misses claims a slot nobody uses
 * (clock replacement), loads into it with no lock held and publishes it.
 * So small sequential reads inside one chunk decode it once, however many
 * workers serve them.  There are more slots than worker contexts and a
 * context holds at most one reference at a time, so a slot nobody uses
 * always exists: a context needs no chunk buffer of its own.  The
 * read-modify-write of a write copies a chunk into the writer's own
 * buffer instead (spf_chunk_copy), decoding it there on a miss.
 *
 * Locking: spf_chunk_cache.lock protects every slot's chunk, offset,
 * layer, state, users and referenced fields.  A slot's bytes are written only by
 * its loader while it is LOADING (users > 0, so nobody claims it) and only
 * read while it is VALID by holders of a reference.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>

#include "spfblk.h"

/* Decoded-chunk cache memory: at most this, but at least nr_ctx + 1. */
#define SPF_CHUNK_CACHE_BYTES	SZ_1M
#define SPF_CHUNK_CACHE_SLOTS	64

int spf_chunk_cache_init(struct spf_device *dev)
{
	struct spf_chunk_cache *cc = &dev->chunks;
	unsigned int i, nr;

	nr = min_t(unsigned int, SPF_CHUNK_CACHE_SLOTS,
		   SPF_CHUNK_CACHE_BYTES >> dev->chunk_shift);
	nr = max(nr, dev->nr_ctx + 1);

	spin_lock_init(&cc->lock);
	init_waitqueue_head(&cc->wait);
	atomic64_set(&cc->hits, 0);
	atomic64_set(&cc->misses, 0);
	cc->hand = 0;
	cc->slots = kcalloc(nr, sizeof(*cc->slots), GFP_KERNEL);
	if (!cc->slots)
		return -ENOMEM;
	cc->nr = nr;
	for (i = 0; i < nr; i++) {
		cc->slots[i].buf = vmalloc(dev->chunk_size);
		if (!cc->slots[i].buf) {
			spf_chunk_cache_free(dev);
			return -ENOMEM;
		}
	}
	return 0;
}

void spf_chunk_cache_free(struct spf_device *dev)
{
	struct spf_chunk_cache *cc = &dev->chunks;
	unsigned int i;

	for (i = 0; cc->slots && i < cc->nr; i++)
		vfree(cc->slots[i].buf);
	kfree(cc->slots);
	cc->slots = NULL;
	cc->nr = 0;
}

u64 spf_chunk_cache_bytes(const struct spf_device *dev)
{
	return (u64)dev->chunks.nr << dev->chunk_shift;
}

/* Loading */

static __printf(2, 3) int spf_load_fail(struct spf_ctx *ctx, const char *fmt,
					  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->msg.text, sizeof(ctx->msg.text), fmt, ap);
	va_end(ap);
	return -EIO;
}

/*
 * Must @ext's stored bytes be checked?  Not on a device that does not
 * verify, nor when the chunk passed a check before (verify-once), which
 * checks_skipped counts.
 */
static bool spf_chunk_must_check(struct spf_device *dev,
				 const struct spf_extent *ext)
{
	if (!dev->verify)
		return false;
	if (ext->verified) {
		atomic64_inc(&dev->checks_skipped);
		return false;
	}
	return true;
}

/* Read, check, decrypt and decompress @chunk's stored bytes into @out. */
static int spf_chunk_load(struct spf_device *dev, struct spf_ctx *ctx,
			  u64 chunk, const struct spf_extent *ext, u8 *out)
{
	const struct spf_layer *l = &dev->layers[ext->layer];
	u8 nonce[SPF_GCM_NONCE_LEN];
	u32 len = ext->length;
	u8 *in = ctx->stored;
	int ret;

	ctx->err_layer = ext->layer;
	if (len > dev->chunk_size + SPF_GCM_TAG_LEN)
		return spf_load_fail(ctx, "stored length %u too large", len);
	/* A plain raw chunk is its own decoded form: no bounce. */
	if (!l->tfm && ext->state == SPF_CHUNK_RAW) {
		if (len != dev->chunk_size)
			return spf_load_fail(ctx, "raw chunk of %u bytes", len);
		in = out;
	}
	ret = spf_read_at(l->file, in, len, ext->offset);
	if (ret)
		return spf_load_fail(ctx, "read error %d at offset %llu", ret,
				     ext->offset);
	if (spf_chunk_must_check(dev, ext)) {
		if (spf_crc32c(in, len) != ext->crc)
			return spf_load_fail(ctx,
					     "checksum mismatch (corrupt data at offset %llu)",
					     ext->offset);
		spf_mark_verified(dev, chunk, ext);
	}
	if (in == out)
		return 0;
	if (l->tfm && ext->layer == dev->nr_layers) {
		/* An overlay record: sealed with its own nonce. */
		ret = spf_overlay_nonce(dev, ctx, chunk, ext, nonce);
		if (ret)
			return spf_load_fail(ctx,
					     "record header before offset %llu does not match its map entry (%d)",
					     ext->offset, ret);
		ret = spf_decrypt_record(ctx, l, chunk, len, nonce);
		if (ret)
			return spf_load_fail(ctx,
					     "decryption failed (%d): altered data",
					     ret);
		len -= SPF_GCM_TAG_LEN;
	} else if (l->tfm) {
		ret = spf_decrypt(ctx, l, chunk, len);
		if (ret)
			return spf_load_fail(ctx,
					     "decryption failed (%d): altered data",
					     ret);
		len -= SPF_GCM_TAG_LEN;
	}
	if (ext->state == SPF_CHUNK_RAW) {
		if (len != dev->chunk_size)
			return spf_load_fail(ctx, "raw chunk of %u bytes", len);
		memcpy(out, in, len);
		return 0;
	}
	ret = spf_decompress(ctx, l->img.codec, in, len, out, dev->chunk_size);
	if (ret)
		return spf_load_fail(ctx,
				     "%s data does not decompress to %u bytes (%d)",
				     spf_codec_name(l->img.codec), dev->chunk_size,
				     ret);
	return 0;
}

/* The decoded-chunk cache */

/*
 * A slot holding or loading (@chunk, @ext).  The key includes the stored
 * offset: a chain layer has one per chunk, but each overlay record of a
 * chunk has its own (the overlay is append-only, so an offset is never
 * reused), and a rewritten chunk must never be served from a slot of an
 * older record.  Under cc->lock.
 */
static struct spf_slot *spf_slot_find(struct spf_chunk_cache *cc, u64 chunk,
				      const struct spf_extent *ext)
{
	unsigned int i;

	for (i = 0; i < cc->nr; i++) {
		struct spf_slot *s = &cc->slots[i];

		if (s->state != SPF_SLOT_EMPTY && s->chunk == chunk &&
		    s->layer == ext->layer && s->offset == ext->offset)
			return s;
	}
	return NULL;
}

/*
 * A slot nobody uses, giving recently used ones a second chance.  The
 * second pass finds one: fewer contexts than slots hold references.
 * Under cc->lock.
 */
static struct spf_slot *spf_slot_claim(struct spf_chunk_cache *cc)
{
	unsigned int i;

	for (i = 0; i < 2 * cc->nr; i++) {
		struct spf_slot *s = &cc->slots[cc->hand];

		cc->hand = cc->hand + 1 < cc->nr ? cc->hand + 1 : 0;
		if (s->users)
			continue;
		if (s->referenced) {
			s->referenced = false;
			continue;
		}
		return s;
	}
	return NULL;
}

static bool spf_slot_settled(struct spf_chunk_cache *cc, struct spf_slot *s)
{
	bool settled;

	spin_lock(&cc->lock);
	settled = s->state != SPF_SLOT_LOADING;
	spin_unlock(&cc->lock);
	return settled;
}

/*
 * The decoded bytes of @chunk, whose extent is @ext: ref->data points to
 * them, or is NULL for a chunk of zeros.  Release with spf_chunk_put().
 * On failure ctx->msg says why.
 */
int spf_chunk_get(struct spf_device *dev, struct spf_ctx *ctx, u64 chunk,
		  const struct spf_extent *ext, struct spf_chunk_ref *ref)
{
	struct spf_chunk_cache *cc = &dev->chunks;
	struct spf_slot *s;
	int ret;

	ref->slot = NULL;
	ref->data = NULL;
	if (ext->state == SPF_CHUNK_ZERO)
		return 0;
again:
	spin_lock(&cc->lock);
	s = spf_slot_find(cc, chunk, ext);
	if (s) {
		s->users++;
		if (s->state == SPF_SLOT_LOADING) {
			spin_unlock(&cc->lock);
			wait_event(cc->wait, spf_slot_settled(cc, s));
			spin_lock(&cc->lock);
			if (s->state != SPF_SLOT_VALID) {
				/* Its loader failed: try (and fail) ourselves. */
				s->users--;
				spin_unlock(&cc->lock);
				goto again;
			}
		}
		s->referenced = true;
		spin_unlock(&cc->lock);
		atomic64_inc(&cc->hits);
		ref->slot = s;
		ref->data = s->buf;
		return 0;
	}
	s = spf_slot_claim(cc);
	if (WARN_ON_ONCE(!s)) {
		spin_unlock(&cc->lock);
		return spf_load_fail(ctx, "no free decoded-chunk slot");
	}
	s->chunk = chunk;
	s->layer = ext->layer;
	s->offset = ext->offset;
	s->state = SPF_SLOT_LOADING;
	s->users = 1;
	spin_unlock(&cc->lock);
	atomic64_inc(&cc->misses);

	ret = spf_chunk_load(dev, ctx, chunk, ext, s->buf);
	spin_lock(&cc->lock);
	if (ret) {
		s->state = SPF_SLOT_EMPTY;
		s->users--;
	} else {
		s->state = SPF_SLOT_VALID;
	}
	spin_unlock(&cc->lock);
	wake_up_all(&cc->wait);
	if (ret)
		return ret;
	ref->slot = s;
	ref->data = s->buf;
	return 0;
}

/*
 * Copy @chunk's decoded bytes (zeros for a zero chunk) into @out, a
 * chunk-sized buffer: from a slot that holds them, else decoded straight
 * into @out without claiming a slot.  For the read-modify-write of a
 * write (write.c): the chunk is about to get a new record, so its old
 * content is not worth a slot, nor a copy out of one.  On failure
 * ctx->msg says why.
 */
int spf_chunk_copy(struct spf_device *dev, struct spf_ctx *ctx, u64 chunk,
		   const struct spf_extent *ext, u8 *out)
{
	struct spf_chunk_cache *cc = &dev->chunks;
	struct spf_chunk_ref ref;
	struct spf_slot *s;

	if (ext->state == SPF_CHUNK_ZERO) {
		memset(out, 0, dev->chunk_size);
		return 0;
	}
	spin_lock(&cc->lock);
	s = spf_slot_find(cc, chunk, ext);
	if (s && s->state == SPF_SLOT_VALID) {
		s->users++;
		s->referenced = true;
		spin_unlock(&cc->lock);
		atomic64_inc(&cc->hits);
		ref.slot = s;
		ref.data = s->buf;
		memcpy(out, ref.data, dev->chunk_size);
		spf_chunk_put(dev, &ref);
		return 0;
	}
	/* Not there, or another worker is loading it: decode it here. */
	spin_unlock(&cc->lock);
	atomic64_inc(&cc->misses);
	return spf_chunk_load(dev, ctx, chunk, ext, out);
}

void spf_chunk_put(struct spf_device *dev, struct spf_chunk_ref *ref)
{
	struct spf_chunk_cache *cc = &dev->chunks;

	if (!ref->slot)
		return;
	spin_lock(&cc->lock);
	ref->slot->users--;
	spin_unlock(&cc->lock);
	ref->slot = NULL;
	ref->data = NULL;
}

/* Straight into the request */

/*
 * Can @len bytes of @ext be read straight into a request's pages?  Only
 * from a plain raw chunk (anything else must be decoded first), and only
 * the whole chunk when its crc32c is to be checked.
 */
bool spf_chunk_direct(const struct spf_device *dev,
		      const struct spf_extent *ext, u32 len)
{
	return ext->state == SPF_CHUNK_RAW && !dev->layers[ext->layer].tfm &&
	       (len == dev->chunk_size || !dev->verify || ext->verified);
}

/*
 * Read @len bytes from offset @off of the plain raw chunk @ext (of
 * @chunk) into the @nr pieces of @bv, then, if it must be checked, check
 * its crc32c there (spf_chunk_direct(): then the whole chunk).  On
 * failure ctx->msg says why and the pages hold garbage: the request
 * fails.
 */
int spf_chunk_read_direct(struct spf_device *dev, struct spf_ctx *ctx,
			  u64 chunk, const struct spf_extent *ext, u32 off,
			  u32 len, struct bio_vec *bv, unsigned int nr)
{
	const struct spf_layer *l = &dev->layers[ext->layer];
	struct iov_iter iter;
	unsigned int i;
	u32 crc = ~0U;
	int ret;

	ctx->err_layer = ext->layer;
	if (ext->length != dev->chunk_size)
		return spf_load_fail(ctx, "raw chunk of %u bytes", ext->length);
	if (WARN_ON_ONCE(off > dev->chunk_size || len > dev->chunk_size - off ||
			 (dev->verify && !ext->verified &&
			  len != dev->chunk_size)))
		return spf_load_fail(ctx, "bad direct read %u+%u", off, len);
	iov_iter_bvec(&iter, ITER_DEST, bv, nr, len);
	ret = spf_read_iter(l->file, &iter, ext->offset + off);
	if (ret)
		return spf_load_fail(ctx, "read error %d at offset %llu", ret,
				     ext->offset + off);
	if (!spf_chunk_must_check(dev, ext))
		return 0;
	for (i = 0; i < nr; i++) {
		u8 *p = bvec_kmap_local(&bv[i]);

		crc = spf_crc32c_update(crc, p, bv[i].bv_len);
		kunmap_local(p);
		flush_dcache_page(bv[i].bv_page);
	}
	if (~crc != ext->crc)
		return spf_load_fail(ctx,
				     "checksum mismatch (corrupt data at offset %llu)",
				     ext->offset);
	spf_mark_verified(dev, chunk, ext);
	return 0;
}
