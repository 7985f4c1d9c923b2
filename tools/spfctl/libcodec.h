/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Chunk codecs: deflate (zlib stream), zstd (one frame), lz4 (one raw
 * block).  A workspace holds one thread's reusable compressor and
 * decompressor state.
 */
#ifndef SPF_LIBCODEC_H
#define SPF_LIBCODEC_H

#include "libutil.h"

struct codec_ws;

struct codec_ws *codec_ws_new(void);
void codec_ws_free(struct codec_ws *ws);

/* enum spf_codec from a name, or -1. */
int codec_from_name(const char *name);
int codec_default_level(int codec);
/* Valid --level range of a codec; false if it takes no level. */
bool codec_level_range(int codec, int *min, int *max);

/*
 * Compress @len bytes into at most @cap bytes.  Returns the compressed
 * length, 0 when the result would not fit (store the chunk raw), or -1
 * on an internal error.
 */
long codec_compress(struct codec_ws *ws, int codec, int level,
		    const void *src, size_t len, void *dst, size_t cap);

/*
 * Decompress to exactly @out_len bytes.  0 on success; -1 with *why set
 * when the data does not decompress to exactly that.
 */
int codec_decompress(struct codec_ws *ws, int codec, const void *src,
		     size_t len, void *dst, size_t out_len, const char **why);

#endif /* SPF_LIBCODEC_H */
