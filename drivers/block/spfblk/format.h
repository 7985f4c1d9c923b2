/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The SPF format validator, shared verbatim by spfblk.ko and spfctl.
 *
 * Every function here is pure: it takes bytes already read from an image
 * and checks or decodes them, so the kernel and userspace can never
 * disagree about what a valid image is.  Userspace builds format.c with
 * tools/spfctl/kshim.h providing the few kernel helpers it uses.
 */
#ifndef SPF_FORMAT_H
#define SPF_FORMAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/errno.h>
#else
#include "kshim.h"
#endif

#include <linux/spf_format.h>

/* spf_check_block(): the root's first chunk is not known in advance. */
#define SPF_ANY_FIRST		((u64)-1)

/* A reason, for the kernel log or an spfctl error line. */
struct spf_msg {
	char text[192];
};

/* A decoded, validated header and trailer. */
struct spf_image {
	u64 file_size;
	u64 compat;
	u64 incompat;
	u64 disk_size;
	u64 nr_chunks;			/* ceil(disk_size / chunk size) */
	u64 parent_disk_size;
	u64 create_time;
	u32 chunk_shift;
	u32 chunk_size;
	u32 depth;
	u16 codec;
	u16 codec_level;
	bool encrypted;
	bool consolidated;
	bool sealed;			/* trailer parsed and valid */
	bool overlay;			/* a write-back overlay's header */
	u8 uuid[16];
	u8 chain_uuid[16];
	u8 parent_uuid[16];
	u8 parent_seal[SPF_SEAL_LEN];
	u32 header_crc;

	/* From the trailer. */
	u64 data_end;
	u64 index_root;
	u64 index_offset;
	u64 index_blocks;
	u64 summary_offset;
	u64 nr_entries;
	u64 nr_stored;
	u64 stored_bytes;
	u64 seal_time;
	u32 index_root_crc;
	u32 summary_crc;
	u16 index_levels;
	u8 seal[SPF_SEAL_LEN];
	u8 link_uuid[16];
	u8 link_seal[SPF_SEAL_LEN];
};

/*
 * The level the driver compresses overlay records at (deflate, zstd),
 * whatever the overlay header's level: the write path is no place for a
 * slow level.  Sealing recompresses records at the header's level.
 */
#define SPF_LOG_WRITE_LEVEL	1

/*
 * CRC-32C (Castagnoli) of @len bytes after @crc, with no pre- or
 * post-inversion: crc.c in the kernel, kshim.c in spfctl.
 */
u32 spf_crc32c_update(u32 crc, const void *buf, size_t len);
/* Standard CRC-32C (Castagnoli) of a buffer. */
u32 spf_crc32c(const void *buf, size_t len);
/* crc of a block or summary with its crc field taken as zero. */
u32 spf_block_crc(const void *block);
u32 spf_header_crc(const struct spf_header *h);
u32 spf_trailer_crc(const struct spf_trailer *t);
/* SHA-256(header || trailer up to the seal). */
void spf_compute_seal(const struct spf_header *h, const struct spf_trailer *t,
		      u8 seal[SPF_SEAL_LEN]);

/*
 * Parse the first @len bytes of an image (at least SPF_HEADER_SIZE for
 * success) of @file_size bytes.  Fills the header half of @img.
 */
int spf_parse_header(const void *buf, size_t len, u64 file_size,
		     struct spf_image *img, struct spf_msg *msg);

/*
 * Parse the last SPF_TRAILER_SIZE bytes of the image and check the seal
 * against @hdr (the raw header bytes).  Call after spf_parse_header().
 */
int spf_parse_trailer(const struct spf_header *hdr, const void *buf,
		      struct spf_image *img, struct spf_msg *msg);

/*
 * The same for a write-back overlay's header (SPF_INCOMPAT_OVERLAY set:
 * an ordinary incremental's header otherwise).  spf_parse_header() refuses
 * an overlay, and this refuses an image.
 */
int spf_parse_overlay_header(const void *buf, size_t len, u64 file_size,
			     struct spf_image *img, struct spf_msg *msg);

/*
 * Check a write-back log record header of the overlay @img: it must be
 * record number @expect_seq.  Whether its stored bytes are in the file,
 * and their crc, are the caller's to check.
 */
u32 spf_log_record_crc(const struct spf_log_record *r);
int spf_check_log_record(const struct spf_image *img,
			 const struct spf_log_record *r, u64 expect_seq,
			 struct spf_msg *msg);

/* Check that @parent is the image @child was written on top of. */
int spf_check_link(const struct spf_image *child,
		   const struct spf_image *parent, struct spf_msg *msg);

/* Stored length bounds of a chunk in this image. */
u32 spf_max_stored_len(const struct spf_image *img);

/*
 * Check an index block read from @offset.  @level, @first and @crc are
 * what the referring node entry (or the trailer, for the root) promised;
 * every chunk in the block must lie in [@first, @limit].
 */
int spf_check_block(const struct spf_image *img, const void *block,
		    u64 offset, u16 level, u64 first, u64 limit, u32 crc,
		    struct spf_msg *msg);

/* Check a summary block read from img->summary_offset. */
int spf_check_summary(const struct spf_image *img, const void *block,
		      struct spf_msg *msg);

/* Region shift that keeps a summary of @nr_chunks within its bits. */
u32 spf_summary_shift(u64 nr_chunks);
/* Does the summary say the image may hold @chunk? */
bool spf_summary_test(const struct spf_summary *s, u64 chunk);

/*
 * In a checked leaf, the entry for @chunk or -1.  In a checked node, the
 * child that covers @chunk or -1.  @limit (out, nodes only) is the last
 * chunk that child may hold.
 */
int spf_leaf_find(const void *leaf, u64 chunk);
int spf_node_find(const void *node, u64 chunk, u64 node_limit, u64 *limit);

static inline const struct spf_index_entry *spf_leaf_entries(const void *b)
{
	return (const struct spf_index_entry *)
		((const u8 *)b + sizeof(struct spf_block_header));
}

static inline const struct spf_node_entry *spf_node_entries(const void *b)
{
	return (const struct spf_node_entry *)
		((const u8 *)b + sizeof(struct spf_block_header));
}

/* Names for messages. */
const char *spf_codec_name(unsigned int codec);

#endif /* SPF_FORMAT_H */
