/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The open SPF image format (.spf full image, .spi incremental image).
 *
 * This header is the single definition of the on-disk format, shared
 * verbatim by the spfblk kernel driver and by spfctl.  docs/format.md is
 * the normative description; its byte tables match these structures.
 *
 * All multi-byte integers are little-endian.  An image is written once,
 * strictly sequentially:
 *
 *   header | chunk data ... | index leaves | index nodes ... | summary | trailer
 *
 * The header says what the image is; the trailer, at the very end of the
 * file, seals it and locates the index.  An image without a valid trailer
 * was never finalised and must not be read.
 */
#ifndef _UAPI_LINUX_SPF_FORMAT_H
#define _UAPI_LINUX_SPF_FORMAT_H

#include <linux/const.h>
#include <linux/types.h>

/* "\x89SPF\r\n\x1a\n": high bit, CR-LF and ^Z catch text-mode transfers. */
#define SPF_MAGIC		"\x89SPF\r\n\x1a\n"
#define SPF_MAGIC_LEN		8
/* The proprietary StorageCraft ShadowProtect format begins with this. */
#define SPF_SHADOWPROTECT_MAGIC	"SPFI\0"
#define SPF_SHADOWPROTECT_LEN	5

#define SPF_VERSION		1

/* Sizes of the fixed structures, in bytes. */
#define SPF_HEADER_SIZE		4096
#define SPF_TRAILER_SIZE	512
#define SPF_BLOCK_SIZE		4096	/* index nodes and the summary */

/* Chunk size: a power of two, 4 KiB .. 1 MiB. */
#define SPF_CHUNK_SHIFT_MIN	12
#define SPF_CHUNK_SHIFT_MAX	20

/* Limits; docs/format.md says what happens past each one. */
#define SPF_SECTOR_SIZE		512
#define SPF_MAX_DISK_SIZE	_BITULL(50)	/* 1 PiB */
#define SPF_MAX_DEPTH		65535		/* incrementals above a full */
#define SPF_MAX_INDEX_LEVELS	8
#define SPF_LABEL_LEN		128
#define SPF_PARENT_NAME_LEN	256

/* Codecs (spf_header.codec); one per image. */
enum spf_codec {
	SPF_CODEC_NONE		= 0,
	SPF_CODEC_DEFLATE	= 1,	/* zlib stream (RFC 1950) */
	SPF_CODEC_ZSTD		= 2,	/* one zstd frame */
	SPF_CODEC_LZ4		= 3,	/* one LZ4 block */
	SPF_CODEC_MAX		= 4,
};

/* Chunk states (spf_index_entry.state).  Absent chunks have no entry. */
enum spf_chunk_state {
	SPF_CHUNK_ZERO		= 1,	/* all zeros; no data stored */
	SPF_CHUNK_RAW		= 2,	/* stored as is (chunk size bytes) */
	SPF_CHUNK_COMPRESSED	= 3,	/* stored with the image's codec */
};

/* Compat features: a reader that does not know one may ignore it. */
#define SPF_COMPAT_LABEL		_BITULL(0)	/* label is set */
#define SPF_COMPAT_PARENT_NAME		_BITULL(1)	/* parent_name hint */
#define SPF_COMPAT_SUPPORTED		(SPF_COMPAT_LABEL | \
					 SPF_COMPAT_PARENT_NAME)

/* Incompat features: a reader must refuse an image with an unknown one. */
#define SPF_INCOMPAT_ENCRYPTED		_BITULL(0)	/* AES-256-GCM chunks */
#define SPF_INCOMPAT_CONSOLIDATED	_BITULL(1)	/* stands in for others */
#define SPF_INCOMPAT_SUPPORTED		(SPF_INCOMPAT_ENCRYPTED | \
					 SPF_INCOMPAT_CONSOLIDATED)
/*
 * Not an image but an unsealed write-back overlay (a log of records after
 * the header, no index, no trailer).  Never in SPF_INCOMPAT_SUPPORTED:
 * only the overlay code accepts it (spf_parse_overlay_header()).
 */
#define SPF_INCOMPAT_OVERLAY		_BITULL(2)

/* Key derivation (spf_crypt.kdf). */
#define SPF_KDF_ARGON2ID	1

/* AES-256-GCM parameters. */
#define SPF_KEY_LEN		32
#define SPF_GCM_NONCE_LEN	12
#define SPF_GCM_TAG_LEN		16
#define SPF_SALT_LEN		16
#define SPF_DIGEST_LEN		16	/* per-chunk content digest */
#define SPF_SEAL_LEN		32	/* SHA-256 */

/*
 * Encryption parameters, inside the header.  The image's random data key
 * and the chain's digest key (64 bytes) are wrapped with AES-256-GCM under
 * Argon2id(passphrase, salt); the GCM tag of the wrapped keys is what makes
 * a wrong passphrase fail at once.  key_check lets a holder of the data key
 * alone (the kernel) check it: the GCM tag of the empty message under the
 * data key, nonce SPF_NONCE_KEY_CHECK and associated data = image uuid.
 */
struct spf_crypt {
	__le32 kdf;			/* SPF_KDF_* */
	__le32 kdf_t_cost;		/* Argon2 passes */
	__le32 kdf_m_cost;		/* Argon2 memory, KiB */
	__le32 kdf_parallelism;		/* Argon2 lanes */
	__u8   salt[SPF_SALT_LEN];
	__u8   wrap_nonce[SPF_GCM_NONCE_LEN];
	__le32 reserved0;
	__u8   wrapped_keys[2 * SPF_KEY_LEN];	/* data key | digest key */
	__u8   wrap_tag[SPF_GCM_TAG_LEN];
	__u8   key_check[SPF_GCM_TAG_LEN];
	__u8   reserved[112];
};					/* 256 bytes */

/*
 * GCM nonces.  A chunk's nonce is its chunk number (le64) followed by four
 * zero bytes; each chunk number appears at most once in an image and every
 * image has its own random data key, so no nonce repeats under one key.
 * The key check uses a nonce no chunk can have (chunk numbers < 2^40).
 */
#define SPF_NONCE_KEY_CHECK	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

/*
 * Associated data of a chunk's AEAD: the image uuid and the chunk number,
 * so a chunk cannot be moved, swapped or replayed from another image.
 */
struct spf_chunk_aad {
	__u8   uuid[16];
	__le64 chunk;
};					/* 24 bytes */

/* The header: the first SPF_HEADER_SIZE bytes of every image. */
struct spf_header {
	__u8   magic[SPF_MAGIC_LEN];	/* SPF_MAGIC */
	__le32 version;			/* SPF_VERSION */
	__le32 header_size;		/* SPF_HEADER_SIZE */
	__le64 compat;			/* SPF_COMPAT_* */
	__le64 incompat;		/* SPF_INCOMPAT_* */
	__le64 disk_size;		/* virtual disk, bytes, x512 */
	__le32 chunk_shift;		/* log2(chunk size) */
	__le16 codec;			/* enum spf_codec */
	__le16 codec_level;		/* informational */
	__le32 depth;			/* 0: full image */
	__le32 reserved0;
	__le64 create_time;		/* seconds since the epoch, UTC */
	__u8   uuid[16];		/* this image, random */
	__u8   parent_uuid[16];		/* parent's link uuid; 0 if full */
	__u8   parent_seal[SPF_SEAL_LEN];	/* parent's link seal */
	__le64 parent_disk_size;	/* parent's disk size; 0 if full */
	__u8   chain_uuid[16];		/* the full image's uuid */
	__u8   reserved1[40];
	struct spf_crypt crypt;		/* zero unless ENCRYPTED */
	char   label[SPF_LABEL_LEN];	/* NUL-padded UTF-8 */
	char   parent_name[SPF_PARENT_NAME_LEN];	/* NUL-padded hint */
	__u8   reserved2[3260];
	__le32 crc;			/* crc32c of bytes 0..4091 */
};					/* 4096 bytes */

/*
 * The trailer: the last SPF_TRAILER_SIZE bytes of a finalised image.
 *
 * seal = SHA-256(header || trailer bytes 0..offsetof(seal)).  It covers the
 * index root's crc, and through the crc carried by every index node entry,
 * the whole index.
 *
 * An incremental names its parent by its link identity.  An ordinary
 * image's link identity is its own (uuid, seal), and its link_uuid and
 * link_seal fields are zero.  A consolidated image
 * (SPF_INCOMPAT_CONSOLIDATED) replaces a run of images; it has its own
 * uuid and seal, and its link_uuid/link_seal are those of the last image
 * it replaces, so incrementals above that image still link to it.  Its
 * parent link (header) is that of the first image it replaces.  One that
 * replaces a run starting at the full image is a consolidated full image:
 * depth 0, no parent link, and the chain's chain_uuid, not its own uuid.
 */
struct spf_trailer {
	__u8   magic[SPF_MAGIC_LEN];	/* SPF_TRAILER_MAGIC */
	__le32 trailer_size;		/* SPF_TRAILER_SIZE */
	__le32 header_crc;		/* copy of spf_header.crc */
	__u8   uuid[16];		/* copy of spf_header.uuid */
	__le64 data_end;		/* first byte after chunk data */
	__le64 index_root;		/* offset of the root index block */
	__le32 index_root_crc;		/* that block's crc */
	__le16 index_levels;		/* 1: the root is a leaf */
	__le16 reserved0;
	__le64 index_offset;		/* first index block */
	__le64 index_blocks;		/* index blocks, leaves and nodes */
	__le64 summary_offset;		/* the summary block */
	__le32 summary_crc;		/* that block's crc */
	__le32 reserved1;
	__le64 nr_entries;		/* chunks with an index entry */
	__le64 nr_stored;		/* entries with data (RAW/COMPRESSED) */
	__le64 stored_bytes;		/* sum of the stored lengths */
	__le64 seal_time;		/* seconds since the epoch, UTC */
	__u8   link_uuid[16];		/* consolidated only, else 0 */
	__u8   link_seal[SPF_SEAL_LEN];	/* consolidated only, else 0 */
	__u8   reserved2[304];
	__u8   seal[SPF_SEAL_LEN];	/* SHA-256, see above */
	__le32 reserved3;
	__le32 crc;			/* crc32c of bytes 0..507 */
};					/* 512 bytes */

#define SPF_TRAILER_MAGIC	"SPF-END\n"

/* Index blocks: a B+tree of SPF_BLOCK_SIZE blocks, written leaves first. */
#define SPF_LEAF_MAGIC		0x4c465053	/* "SPFL" */
#define SPF_NODE_MAGIC		0x4e465053	/* "SPFN" */
#define SPF_SUMMARY_MAGIC	0x53465053	/* "SPFS" */

struct spf_block_header {
	__le32 magic;			/* SPF_LEAF_MAGIC or SPF_NODE_MAGIC */
	__le16 level;			/* 0: leaf */
	__le16 count;			/* entries in this block, >= 1 */
	__le64 first_chunk;		/* = first entry's chunk */
	__le64 last_chunk;		/* last chunk covered by the block */
	__le32 reserved;
	__le32 crc;			/* crc32c of the whole block, this 0 */
};					/* 32 bytes */

/* A leaf entry: one chunk of this image. */
struct spf_index_entry {
	__le64 chunk;			/* chunk number, strictly increasing */
	__le64 offset;			/* stored data, byte offset in file */
	__le32 length;			/* stored bytes, incl. GCM tag */
	__le32 crc;			/* crc32c of the stored bytes */
	__u8   state;			/* enum spf_chunk_state */
	__u8   reserved[7];
	__u8   digest[SPF_DIGEST_LEN];	/* content digest, see format.md */
};					/* 48 bytes */

/* A node entry: one child block. */
struct spf_node_entry {
	__le64 first_chunk;		/* child's first_chunk */
	__le64 offset;			/* child block, byte offset in file */
	__le32 crc;			/* child's crc */
	__le32 reserved;
};					/* 24 bytes */

#define SPF_LEAF_ENTRIES	((SPF_BLOCK_SIZE - 32) / 48)	/* 84 */
#define SPF_NODE_ENTRIES	((SPF_BLOCK_SIZE - 32) / 24)	/* 169 */

/*
 * The summary: one bit per region of 2^region_shift chunks, set when the
 * image has an entry for any chunk of the region.  A reader walking a
 * chain skips a layer whose bit is clear.
 */
#define SPF_SUMMARY_BYTES	(SPF_BLOCK_SIZE - 32)
#define SPF_SUMMARY_BITS	(SPF_SUMMARY_BYTES * 8)		/* 32512 */

struct spf_summary {
	__le32 magic;			/* SPF_SUMMARY_MAGIC */
	__le32 region_shift;		/* log2(chunks per region) */
	__le64 nr_regions;		/* bits in use */
	__le64 reserved0;
	__le32 reserved1;
	__le32 crc;			/* crc32c of the whole block, this 0 */
	__u8   bits[SPF_SUMMARY_BYTES];	/* bit r: byte r/8, bit r%8 */
};					/* 4096 bytes */

/*
 * The write-back overlay (docs/format.md section 11).  While a device is
 * attached writable, its writes are appended to the overlay file: the
 * future incremental's header with SPF_INCOMPAT_OVERLAY set, then records
 * back to back, each a struct spf_log_record and its stored bytes.  The
 * file is only ever appended to; sealing rewrites it into a standard
 * incremental.
 */
#define SPF_LOG_MAGIC		0x57465053	/* "SPFW" */

/* Each record's own random nonce ends in this byte (chunks end in 0). */
#define SPF_LOG_NONCE_MARK	0x01

struct spf_log_record {
	__le32 magic;			/* SPF_LOG_MAGIC */
	__u8   state;			/* enum spf_chunk_state */
	__u8   reserved0[3];
	__le64 seq;			/* 1 for the first record, then +1 */
	__le64 chunk;			/* < the overlay's chunk count */
	__le32 length;			/* stored bytes after this record */
	__le32 data_crc;		/* crc32c of the stored bytes */
	__u8   nonce[SPF_GCM_NONCE_LEN];	/* encrypted only, else 0 */
	__u8   reserved1[16];
	__le32 crc;			/* crc32c of the record, this 0 */
};					/* 64 bytes */

#endif /* _UAPI_LINUX_SPF_FORMAT_H */
