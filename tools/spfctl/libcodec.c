// SPDX-License-Identifier: GPL-2.0
/*
 * Chunk codecs, with the exact stream formats the kernel decodes:
 * deflate = zlib stream (RFC 1950), zstd = one frame with its content
 * size, lz4 = one raw LZ4 block.
 */
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lz4hc.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "format.h"

#include "libcodec.h"

struct codec_ws {
	ZSTD_CCtx *zc;
	ZSTD_DCtx *zd;
	z_stream def;
	int def_level;			/* -1: not initialised */
	z_stream inf;
	bool inf_init;
	void *lz4;			/* LZ4 or LZ4HC state */
	bool lz4_hc;
};

struct codec_ws *codec_ws_new(void)
{
	struct codec_ws *ws = xzalloc(sizeof(*ws));

	ws->def_level = -1;
	return ws;
}

void codec_ws_free(struct codec_ws *ws)
{
	if (!ws)
		return;
	ZSTD_freeCCtx(ws->zc);
	ZSTD_freeDCtx(ws->zd);
	if (ws->def_level >= 0)
		deflateEnd(&ws->def);
	if (ws->inf_init)
		inflateEnd(&ws->inf);
	free(ws->lz4);
	free(ws);
}

int codec_from_name(const char *name)
{
	int c;

	for (c = 0; c < SPF_CODEC_MAX; c++)
		if (!strcmp(name, spf_codec_name(c)))
			return c;
	return -1;
}

int codec_default_level(int codec)
{
	switch (codec) {
	case SPF_CODEC_DEFLATE:	return 6;
	case SPF_CODEC_ZSTD:	return ZSTD_CLEVEL_DEFAULT;
	case SPF_CODEC_LZ4:	return 1;
	}
	return 0;
}

bool codec_level_range(int codec, int *min, int *max)
{
	switch (codec) {
	case SPF_CODEC_DEFLATE:
		*min = 1;
		*max = 9;
		return true;
	case SPF_CODEC_ZSTD:
		*min = 1;
		*max = ZSTD_maxCLevel();
		return true;
	case SPF_CODEC_LZ4:
		*min = 1;
		*max = LZ4HC_CLEVEL_MAX;
		return true;
	}
	return false;
}

static long zstd_compress(struct codec_ws *ws, int level, const void *src,
			  size_t len, void *dst, size_t cap)
{
	size_t n;

	if (!ws->zc) {
		ws->zc = ZSTD_createCCtx();
		if (!ws->zc)
			return -1;
	}
	n = ZSTD_compressCCtx(ws->zc, dst, cap, src, len, level);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ?
		       0 : -1;
	return n;
}

static long deflate_compress(struct codec_ws *ws, int level, const void *src,
			     size_t len, void *dst, size_t cap)
{
	z_stream *z = &ws->def;
	int ret;

	if (ws->def_level != level) {
		if (ws->def_level >= 0)
			deflateEnd(z);
		ws->def_level = -1;
		memset(z, 0, sizeof(*z));
		if (deflateInit(z, level) != Z_OK)
			return -1;
		ws->def_level = level;
	} else if (deflateReset(z) != Z_OK) {
		return -1;
	}
	z->next_in = (Bytef *)src;
	z->avail_in = len;
	z->next_out = dst;
	z->avail_out = cap;
	ret = deflate(z, Z_FINISH);
	if (ret == Z_STREAM_END)
		return z->total_out;
	return ret == Z_OK || ret == Z_BUF_ERROR ? 0 : -1;
}

static long lz4_compress(struct codec_ws *ws, int level, const void *src,
			 size_t len, void *dst, size_t cap)
{
	bool hc = level > 1;

	if (!ws->lz4 || ws->lz4_hc != hc) {
		free(ws->lz4);
		ws->lz4 = xmalloc(hc ? (size_t)LZ4_sizeofStateHC() :
				       (size_t)LZ4_sizeofState());
		ws->lz4_hc = hc;
	}
	if (hc)
		return LZ4_compress_HC_extStateHC(ws->lz4, src, dst, len, cap,
						  level);
	return LZ4_compress_fast_extState(ws->lz4, src, dst, len, cap, 1);
}

long codec_compress(struct codec_ws *ws, int codec, int level,
		    const void *src, size_t len, void *dst, size_t cap)
{
	switch (codec) {
	case SPF_CODEC_ZSTD:
		return zstd_compress(ws, level, src, len, dst, cap);
	case SPF_CODEC_DEFLATE:
		return deflate_compress(ws, level, src, len, dst, cap);
	case SPF_CODEC_LZ4:
		return lz4_compress(ws, level, src, len, dst, cap);
	}
	return 0;
}

static int inflate_exact(struct codec_ws *ws, const void *src, size_t len,
			 void *dst, size_t out_len, const char **why)
{
	z_stream *z = &ws->inf;
	int ret;

	if (!ws->inf_init) {
		memset(z, 0, sizeof(*z));
		if (inflateInit(z) != Z_OK) {
			*why = "cannot initialise zlib";
			return -1;
		}
		ws->inf_init = true;
	} else if (inflateReset(z) != Z_OK) {
		*why = "cannot reset zlib";
		return -1;
	}
	z->next_in = (Bytef *)src;
	z->avail_in = len;
	z->next_out = dst;
	z->avail_out = out_len;
	ret = inflate(z, Z_FINISH);
	if (ret != Z_STREAM_END) {
		*why = ret == Z_DATA_ERROR ? "deflate data is corrupt" :
		       "deflate data does not decompress to the chunk size";
		return -1;
	}
	if (z->total_out != out_len || z->avail_in) {
		*why = "deflate data does not decompress to the chunk size";
		return -1;
	}
	return 0;
}

int codec_decompress(struct codec_ws *ws, int codec, const void *src,
		     size_t len, void *dst, size_t out_len, const char **why)
{
	size_t n;
	int r;

	switch (codec) {
	case SPF_CODEC_ZSTD:
		if (!ws->zd) {
			ws->zd = ZSTD_createDCtx();
			if (!ws->zd) {
				*why = "cannot allocate a zstd context";
				return -1;
			}
		}
		n = ZSTD_decompressDCtx(ws->zd, dst, out_len, src, len);
		if (ZSTD_isError(n)) {
			*why = "zstd data is corrupt";
			return -1;
		}
		if (n != out_len) {
			*why = "zstd data does not decompress to the chunk size";
			return -1;
		}
		return 0;
	case SPF_CODEC_DEFLATE:
		return inflate_exact(ws, src, len, dst, out_len, why);
	case SPF_CODEC_LZ4:
		r = LZ4_decompress_safe(src, dst, len, out_len);
		if (r < 0 || (size_t)r != out_len) {
			*why = r < 0 ? "lz4 data is corrupt" :
			       "lz4 data does not decompress to the chunk size";
			return -1;
		}
		return 0;
	}
	*why = "chunk is compressed but the image has no codec";
	return -1;
}
