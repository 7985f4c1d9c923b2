// SPDX-License-Identifier: GPL-2.0
/*
 * Decompressing chunks with the kernel's zlib, zstd and lz4.
 *
 * A table indexed by the on-disk codec id gives each codec's workspace
 * size, set-up and decompressor.  Workspaces are allocated at attach, in
 * every worker context, for the codecs the chain uses.  A chunk always
 * decompresses to exactly the chunk size; anything else is corruption.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/lz4.h>
#include <linux/vmalloc.h>
#include <linux/zlib.h>
#include <linux/zstd.h>

#include "spfblk.h"

struct spf_codec_ops {
	size_t (*ws_size)(void);
	int (*init)(struct spf_codec_ws *w, size_t size);
	/* 0 if @src decompresses to exactly @dlen bytes. */
	int (*decompress)(struct spf_codec_ws *w, const void *src, u32 slen,
			  void *dst, u32 dlen);
};

/* deflate: one zlib stream (RFC 1950), adler32 checked. */
static size_t spf_deflate_ws_size(void)
{
	return zlib_inflate_workspacesize();
}

static int spf_deflate_init(struct spf_codec_ws *w, size_t size)
{
	w->zs.workspace = w->mem;
	return 0;
}

static int spf_deflate(struct spf_codec_ws *w, const void *src, u32 slen,
		       void *dst, u32 dlen)
{
	struct z_stream_s *zs = &w->zs;
	int ret;

	if (zlib_inflateInit2(zs, MAX_WBITS) != Z_OK)
		return -EIO;
	zs->next_in = src;
	zs->avail_in = slen;
	zs->next_out = dst;
	zs->avail_out = dlen;
	ret = zlib_inflate(zs, Z_FINISH);
	if (ret != Z_STREAM_END || zs->total_out != dlen || zs->avail_in)
		return -EBADMSG;
	return 0;
}

/* zstd: one frame. */
static size_t spf_zstd_ws_size(void)
{
	return zstd_dctx_workspace_bound();
}

static int spf_zstd_init(struct spf_codec_ws *w, size_t size)
{
	w->dctx = zstd_init_dctx(w->mem, size);
	return w->dctx ? 0 : -EINVAL;
}

static int spf_zstd(struct spf_codec_ws *w, const void *src, u32 slen,
		    void *dst, u32 dlen)
{
	size_t n = zstd_decompress_dctx(w->dctx, dst, dlen, src, slen);

	if (zstd_is_error(n) || n != dlen)
		return -EBADMSG;
	return 0;
}

/* lz4: one raw block; needs no workspace. */
static int spf_lz4(struct spf_codec_ws *w, const void *src, u32 slen,
		   void *dst, u32 dlen)
{
	int n = LZ4_decompress_safe(src, dst, slen, dlen);

	return n == dlen ? 0 : -EBADMSG;
}

static const struct spf_codec_ops spf_codecs[SPF_CODEC_MAX] = {
	[SPF_CODEC_DEFLATE] = {
		.ws_size	= spf_deflate_ws_size,
		.init		= spf_deflate_init,
		.decompress	= spf_deflate,
	},
	[SPF_CODEC_ZSTD] = {
		.ws_size	= spf_zstd_ws_size,
		.init		= spf_zstd_init,
		.decompress	= spf_zstd,
	},
	[SPF_CODEC_LZ4] = {
		.decompress	= spf_lz4,
	},
};

/* The workspaces of every codec the chain uses. */
int spf_codec_ctx_init(struct spf_device *dev, struct spf_ctx *ctx)
{
	unsigned int c;
	size_t size;
	int ret;

	for (c = 0; c < SPF_CODEC_MAX; c++) {
		const struct spf_codec_ops *ops = &spf_codecs[c];
		struct spf_codec_ws *w = &ctx->codec[c];

		if (!(dev->codecs & BIT(c)) || !ops->ws_size)
			continue;
		size = ops->ws_size();
		w->mem = vzalloc(size);
		if (!w->mem)
			return -ENOMEM;
		ret = ops->init(w, size);
		if (ret)
			return ret;
	}
	return 0;
}

void spf_codec_ctx_free(struct spf_ctx *ctx)
{
	unsigned int c;

	for (c = 0; c < SPF_CODEC_MAX; c++) {
		vfree(ctx->codec[c].mem);
		ctx->codec[c].mem = NULL;
	}
}

/* Decompress @slen bytes of @codec from @src into exactly @dlen bytes. */
int spf_decompress(struct spf_ctx *ctx, unsigned int codec, const void *src,
		   u32 slen, void *dst, u32 dlen)
{
	const struct spf_codec_ops *ops;

	if (codec >= SPF_CODEC_MAX || !spf_codecs[codec].decompress)
		return -EOPNOTSUPP;
	ops = &spf_codecs[codec];
	return ops->decompress(&ctx->codec[codec], src, slen, dst, dlen);
}
