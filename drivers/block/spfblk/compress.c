// SPDX-License-Identifier: GPL-2.0
/*
 * Compressing overlay records with the kernel's zlib, zstd and lz4: the
 * same formats the decoders (decompress.c) and spfctl accept.  deflate is
 * one zlib stream (RFC 1950), zstd one frame, lz4 one raw block.
 *
 * Each worker context of a writable device gets, at attach, a chunk-sized
 * read-modify-write buffer, and, if the device compresses its records as
 * it writes them (SPF_ATTACH_F_LOG_COMPRESS), the workspace of the
 * overlay's codec, so that a write never allocates for them.  By default
 * records are stored raw and sealing (spfctl detach, recover) compresses
 * them, off the I/O path.  Records compressed as written use
 * SPF_LOG_WRITE_LEVEL (1) whatever the header's level, and sealing
 * recompresses them at the header's level.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/lz4.h>
#include <linux/vmalloc.h>
#include <linux/zlib.h>
#include <linux/zstd.h>

#include "spfblk.h"

int spf_compress_ctx_init(struct spf_device *dev, struct spf_ctx *ctx)
{
	const struct spf_image *img;
	size_t size = 0;

	if (!dev->ovl)
		return 0;
	img = &spf_ovl_layer(dev)->img;
	ctx->rmw = vmalloc(dev->chunk_size);
	if (!ctx->rmw)
		return -ENOMEM;
	if (!dev->log_compress)
		return 0;
	switch (img->codec) {
	case SPF_CODEC_DEFLATE:
		size = zlib_deflate_workspacesize(MAX_WBITS, MAX_MEM_LEVEL);
		break;
	case SPF_CODEC_ZSTD:
		ctx->enc_zp = zstd_get_params(SPF_LOG_WRITE_LEVEL,
					      dev->chunk_size);
		size = zstd_cctx_workspace_bound(&ctx->enc_zp.cParams);
		break;
	case SPF_CODEC_LZ4:
		size = LZ4_MEM_COMPRESS;
		break;
	default:
		return 0;
	}
	ctx->enc_mem = vzalloc(size);
	if (!ctx->enc_mem)
		return -ENOMEM;
	if (img->codec == SPF_CODEC_DEFLATE) {
		ctx->enc_zs.workspace = ctx->enc_mem;
	} else if (img->codec == SPF_CODEC_ZSTD) {
		ctx->enc_cctx = zstd_init_cctx(ctx->enc_mem, size);
		if (!ctx->enc_cctx)
			return -EINVAL;
	}
	return 0;
}

void spf_compress_ctx_free(struct spf_ctx *ctx)
{
	vfree(ctx->enc_mem);
	vfree(ctx->rmw);
	ctx->enc_mem = NULL;
	ctx->rmw = NULL;
}

static u32 spf_deflate_enc(struct spf_ctx *ctx, const u8 *src, u32 len,
			   u8 *dst, u32 cap)
{
	struct z_stream_s *zs = &ctx->enc_zs;
	u32 n = 0;

	if (zlib_deflateInit2(zs, SPF_LOG_WRITE_LEVEL, Z_DEFLATED,
			      MAX_WBITS, MAX_MEM_LEVEL,
			      Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs->next_in = src;
	zs->avail_in = len;
	zs->next_out = dst;
	zs->avail_out = cap;
	if (zlib_deflate(zs, Z_FINISH) == Z_STREAM_END)
		n = zs->total_out;
	zlib_deflateEnd(zs);
	return n;
}

/* Compress @len bytes of @src into @dst; 0 if not into @cap bytes. */
static u32 spf_encode(struct spf_ctx *ctx, const struct spf_image *img,
		      const u8 *src, u32 len, u8 *dst, u32 cap)
{
	size_t n;
	int r;

	switch (img->codec) {
	case SPF_CODEC_DEFLATE:
		return spf_deflate_enc(ctx, src, len, dst, cap);
	case SPF_CODEC_ZSTD:
		n = zstd_compress_cctx(ctx->enc_cctx, dst, cap, src, len,
				       &ctx->enc_zp);
		return zstd_is_error(n) || n > cap ? 0 : n;
	case SPF_CODEC_LZ4:
		r = LZ4_compress_default(src, dst, len, cap, ctx->enc_mem);
		return r > 0 && r <= cap ? r : 0;
	default:
		return 0;
	}
}

/*
 * Writes are on the I/O path, and data that does not compress (media,
 * archives, encrypted files, random bytes) costs a codec as much time as
 * data that does.  So a chunk larger than SPF_PROBE_SIZE is probed first:
 * unless its first SPF_PROBE_SIZE bytes shrink by at least 1/8, it is
 * stored raw without compressing the rest.  Saving less than 1/8 is not
 * worth a codec's time on every write; spfctl compresses such chunks when
 * it seals the overlay, off the I/O path.  A chunk whose start does not
 * compress but whose rest would is stored raw too, and compressed by the
 * seal in the same way.
 */
#define SPF_PROBE_SIZE		SZ_4K

/*
 * Compress the chunk @src (chunk_size bytes) into @dst, at most @cap
 * bytes.  Returns the compressed length, or 0 if it does not fit or its
 * probe does not compress (store it raw), or the device does not compress
 * its records, or the overlay's codec is none.
 */
u32 spf_compress(struct spf_device *dev, struct spf_ctx *ctx, const u8 *src,
		 u8 *dst, u32 cap)
{
	const struct spf_image *img = &spf_ovl_layer(dev)->img;
	u32 len = dev->chunk_size;

	if (!ctx->enc_mem || !cap)
		return 0;
	if (len > SPF_PROBE_SIZE && cap >= SPF_PROBE_SIZE &&
	    !spf_encode(ctx, img, src, SPF_PROBE_SIZE, dst,
			SPF_PROBE_SIZE - SPF_PROBE_SIZE / 8))
		return 0;
	return spf_encode(ctx, img, src, len, dst, cap);
}
