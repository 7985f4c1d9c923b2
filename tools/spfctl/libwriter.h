/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The image writer.  It writes strictly sequentially, never seeking back:
 *
 *   header | chunk data | index leaves | index nodes | summary | trailer
 *
 * Chunk records are added in increasing chunk order.  Leaf blocks are
 * kept in a spool (memory, then an unlinked temporary file) until the
 * data is complete.  When the disk size is not known in advance (a pipe
 * as source), the chunk data is spooled too and the header, which holds
 * the size, is written at the end, followed by the spooled data.
 */
#ifndef SPF_LIBWRITER_H
#define SPF_LIBWRITER_H

#include "format.h"
#include "libutil.h"

/* Append-only byte store: memory up to a limit, then a temporary file. */
struct spool {
	const char *dir;		/* for the temporary file */
	size_t limit;
	u8 *mem;
	size_t len, cap;
	int fd;				/* -1 while in memory */
	u64 total;
};

/* Buffered sequential output. */
struct out {
	int fd;
	const char *name;
	u8 *buf;
	size_t len, cap;
	u64 pos;
};

/* One index block's reference, for the level above it. */
struct blkref {
	u64 first;
	u64 last;
	u64 offset;			/* relative to the index start */
	u32 crc;
};

struct spf_writer {
	struct spf_header hdr;
	struct out out;
	bool size_known;
	struct spool data;		/* chunk data, when !size_known */
	struct spool leaves;
	u8 *leaf;			/* the leaf being filled */
	unsigned int leaf_count;
	struct blkref *refs;		/* one per leaf */
	size_t nr_refs, refs_cap;
	u8 *bits;			/* summary bits at @bits_shift */
	u32 bits_shift;
	u64 data_bytes;			/* chunk data written so far */
	u64 last_chunk;
	u64 nr_entries, nr_stored, stored_bytes;
	bool failed;
	/* A consolidated image's link identity (zero otherwise). */
	u8 link_uuid[16];
	u8 link_seal[SPF_SEAL_LEN];
};

/*
 * @hdr is complete (crypt included) except, when @disk_size is 0 (not
 * known yet), for disk_size and crc.  @spool_dir holds temporary files.
 */
int writer_init(struct spf_writer *w, const struct spf_header *hdr,
		int fd, const char *name, const char *spool_dir);
/* Add chunk @chunk (increasing).  ZERO entries have no data. */
int writer_add(struct spf_writer *w, u64 chunk, u8 state, const void *data,
	       u32 len, u32 crc, const u8 *digest);
/* Write the index, summary and trailer; @disk_size if it was unknown. */
int writer_finish(struct spf_writer *w, u64 disk_size);
void writer_free(struct spf_writer *w);

struct spf_layer;

/*
 * The header of a new image, crypt and disk_size aside: a full image when
 * @parent is NULL, else an incremental on top of @parent (a layer opened
 * by libchain): depth, chain uuid, parent link and parent_name hint.
 * Used by create and for a write-back overlay's header.
 */
void header_build(struct spf_header *h, u32 chunk_size, int codec,
		  int level, bool encrypted, const char *label,
		  const struct spf_layer *parent);

#endif /* SPF_LIBWRITER_H */
