/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading images and chains: open and validate one image (a layer), find
 * a chain's parents, walk an index, resolve chunks across the chain, and
 * unlock encrypted layers.  Every check goes through the shared validator
 * (drivers/block/spfblk/format.c).
 */
#ifndef SPF_LIBCHAIN_H
#define SPF_LIBCHAIN_H

#include <sys/types.h>

#include "format.h"
#include "libcrypt.h"
#include "libutil.h"

/* One image file. */
struct spf_layer {
	char *path;			/* as shown in messages */
	int fd;
	dev_t dev;
	ino_t ino;
	struct spf_image img;
	struct spf_header *hdr;		/* raw header */
	struct spf_summary *sum;	/* checked summary, NULL if unsealed */
	bool unlocked;
	struct spf_keys keys;		/* valid once unlocked */
};

/* layer_open() flags. */
#define LAYER_HEADER_ONLY	(1U << 0)	/* an unsealed image is fine */

/*
 * Open and validate an image.  0 on success.  On failure returns -errno
 * and, in @why, the text that follows "spfctl: PATH: ".  With
 * LAYER_HEADER_ONLY a header that parses is enough: *out is set and the
 * trailer's verdict (0 or -errno, text in @why) is returned.
 */
int layer_open(const char *path, unsigned int flags, struct spf_layer **out,
	       char *why, size_t why_len);
void layer_close(struct spf_layer *l);

/* A chain: layer[0] is the full image, layer[n - 1] the top. */
struct spf_chain {
	unsigned int n;
	struct spf_layer **layer;
	bool any_encrypted;
};

/*
 * Open the chain that ends at @top.  Parents are found by their link
 * identity in @top's directory (the parent_name hint first), or among
 * @files when @nr_files > 0.  Errors are printed.  NULL on failure.
 */
struct spf_chain *chain_open(const char *top, char **files,
			     unsigned int nr_files);
void chain_close(struct spf_chain *c);
static inline struct spf_layer *chain_top(const struct spf_chain *c)
{
	return c->layer[c->n - 1];
}

/*
 * Unlock every encrypted layer with one passphrase (prompted for, or
 * from @key_file).  Errors are printed.  0 or -1.  With @optional, an
 * empty answer at the prompt skips unlocking and returns 1.
 */
int chain_unlock(struct spf_chain *c, const char *key_file, bool optional);
/*
 * The same (not optional), keeping the passphrase in *@keep for the
 * caller to use and pass_free() (keep->buf NULL: nothing is encrypted).
 */
int chain_unlock_keep(struct spf_chain *c, const char *key_file,
		      struct pass *keep);
/* Unlock one layer with a passphrase; prints "cannot unlock" errors. */
int layer_unlock(struct spf_layer *l, const struct pass *pass);

/*
 * Walk an image's index in chunk order, loading (and checking) each
 * block once.
 */
struct idx_level {
	u8 *blk;
	u64 offset;
	u64 limit;			/* last chunk the block may hold */
	int pos;
	int count;			/* 0: exhausted or not loaded */
};

struct idx_cursor {
	const struct spf_layer *l;
	struct idx_level lv[SPF_MAX_INDEX_LEVELS];	/* [0] = leaf */
	int levels;
	bool eof;
	/* Verify mode: skip bad subtrees, reporting each, and count blocks. */
	bool skip_bad;
	void (*report)(struct idx_cursor *c, const char *why);
	void *report_arg;
	u8 *seen;			/* bitmap of index blocks loaded */
	u64 blocks_seen;
	char why[sizeof(struct spf_msg) + 64];
};

void idx_init(struct idx_cursor *c, const struct spf_layer *l);
void idx_release(struct idx_cursor *c);
/* Position at the first entry >= @chunk.  0 or -1 (c->why). */
int idx_seek(struct idx_cursor *c, u64 chunk);
/* 1 with *e set, 0 at the end, -1 on error (c->why). */
int idx_next(struct idx_cursor *c, const struct spf_index_entry **e);

/* What the chain holds for one chunk. */
struct spf_res {
	u64 offset;
	u32 length;
	u32 crc;
	u32 layer;
	u8 state;			/* 0: no entry in any layer */
	u8 digest[SPF_DIGEST_LEN];
};

/*
 * Resolve chunks [first, first + count) across the chain: the topmost
 * layer with an entry decides.  Errors are printed.  0 or -1.
 */
int chain_resolve(struct spf_chain *c, struct idx_cursor *cur, u64 first,
		  u32 count, struct spf_res *out);

/* Chunks per chain_resolve() window. */
#define RESOLVE_WINDOW		16384

struct codec_ws;

/*
 * Read one stored chunk of layer @l into @rbuf (chunk size + 16 bytes),
 * check its crc and, when the layer is unlocked or plain, its AEAD tag,
 * then decode exactly one chunk into @dst.  Returns 0 when decoded, 1
 * when only the crc could be checked (encrypted layer without its key),
 * -1 on a problem: *why says what, with *err (errno) for read failures.
 */
int chunk_load(const struct spf_layer *l, u64 chunk, u8 state, u64 off,
	       u32 len, u32 crc, u8 *rbuf, u8 *dst, struct codec_ws *cw,
	       struct crypt_ws *xw, const char **why, int *err);

/* Raise the open-files limit to what a deep chain needs. */
void raise_nofile_limit(void);

#endif /* SPF_LIBCHAIN_H */
