// SPDX-License-Identifier: GPL-2.0
/*
 * The SPF format validator, shared verbatim by spfblk.ko and spfctl.
 *
 * Nothing read from an image is trusted: every size, offset, count and
 * ordering is checked here before anyone uses it, with overflow-safe
 * arithmetic.  A failed check returns a negative errno and fills a
 * one-line reason:
 *
 *   -EINVAL      not an SPF image at all (or a ShadowProtect one)
 *   -EOPNOTSUPP  a version, feature or codec this reader does not know
 *   -EBADMSG     the image was never finalised
 *   -EUCLEAN     a checksum or structure does not hold: corruption
 *   -ENOLINK     a chain link does not match
 */
#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/bitops.h>
#include <linux/string.h>
#include <linux/build_bug.h>
#include <crypto/sha2.h>
#define SPF_PROG "spfblk"
#endif

#include "format.h"

static_assert(sizeof(struct spf_header) == SPF_HEADER_SIZE);
static_assert(sizeof(struct spf_trailer) == SPF_TRAILER_SIZE);
static_assert(sizeof(struct spf_crypt) == 256);
static_assert(sizeof(struct spf_chunk_aad) == 24);
static_assert(sizeof(struct spf_block_header) == 32);
static_assert(sizeof(struct spf_index_entry) == 48);
static_assert(sizeof(struct spf_node_entry) == 24);
static_assert(sizeof(struct spf_summary) == SPF_BLOCK_SIZE);
static_assert(sizeof(struct spf_log_record) == 64);
static_assert(offsetof(struct spf_log_record, crc) == 60);
static_assert(offsetof(struct spf_header, crc) == SPF_HEADER_SIZE - 4);
static_assert(offsetof(struct spf_trailer, crc) == SPF_TRAILER_SIZE - 4);
static_assert(offsetof(struct spf_trailer, seal) == 472);
static_assert(offsetof(struct spf_block_header, crc) == 28);
static_assert(offsetof(struct spf_summary, crc) == 28);
static_assert(sizeof(struct spf_block_header) +
	      SPF_LEAF_ENTRIES * sizeof(struct spf_index_entry) <=
	      SPF_BLOCK_SIZE);
static_assert(sizeof(struct spf_block_header) +
	      SPF_NODE_ENTRIES * sizeof(struct spf_node_entry) <=
	      SPF_BLOCK_SIZE);

#define SPF_BLOCK_CRC_OFF	28
#define SPF_MAX_CHUNK_NR	(SPF_MAX_DISK_SIZE >> SPF_CHUNK_SHIFT_MIN)

/* Argon2 parameters a reader accepts: enough to refuse absurd values. */
#define SPF_KDF_T_MAX		64
#define SPF_KDF_M_MIN		8		/* KiB */
#define SPF_KDF_M_MAX		(4U << 20)	/* 4 GiB, in KiB */
#define SPF_KDF_P_MAX		64

__printf(3, 4)
static int spf_fail(struct spf_msg *msg, int err, const char *fmt, ...)
{
	va_list ap;

	if (msg) {
		va_start(ap, fmt);
		vsnprintf(msg->text, sizeof(msg->text), fmt, ap);
		va_end(ap);
	}
	return err;
}

static void spf_uuid_str(const u8 *u, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	int i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 15];
	}
	out[o] = '\0';
}

static bool spf_is_zero(const void *p, size_t len)
{
	const u8 *b = p;

	while (len--)
		if (*b++)
			return false;
	return true;
}

u32 spf_crc32c(const void *buf, size_t len)
{
	return ~spf_crc32c_update(~0U, buf, len);
}

static u32 spf_crc_skip(const void *buf, size_t len, size_t crc_off)
{
	static const u8 zero[4];
	u32 c = ~0U;

	c = spf_crc32c_update(c, buf, crc_off);
	c = spf_crc32c_update(c, zero, 4);
	c = spf_crc32c_update(c, (const u8 *)buf + crc_off + 4, len - crc_off - 4);
	return ~c;
}

u32 spf_block_crc(const void *block)
{
	return spf_crc_skip(block, SPF_BLOCK_SIZE, SPF_BLOCK_CRC_OFF);
}

u32 spf_header_crc(const struct spf_header *h)
{
	return spf_crc32c(h, offsetof(struct spf_header, crc));
}

u32 spf_trailer_crc(const struct spf_trailer *t)
{
	return spf_crc32c(t, offsetof(struct spf_trailer, crc));
}

void spf_compute_seal(const struct spf_header *h, const struct spf_trailer *t,
		      u8 seal[SPF_SEAL_LEN])
{
	struct sha256_state st;

	sha256_init(&st);
	sha256_update(&st, (const u8 *)h, sizeof(*h));
	sha256_update(&st, (const u8 *)t, offsetof(struct spf_trailer, seal));
	sha256_final(&st, seal);
}

const char *spf_codec_name(unsigned int codec)
{
	switch (codec) {
	case SPF_CODEC_NONE:	return "none";
	case SPF_CODEC_DEFLATE:	return "deflate";
	case SPF_CODEC_ZSTD:	return "zstd";
	case SPF_CODEC_LZ4:	return "lz4";
	}
	return "unknown";
}

static int spf_check_crypt(const struct spf_crypt *c, struct spf_msg *msg)
{
	u32 t = le32_to_cpu(c->kdf_t_cost);
	u32 m = le32_to_cpu(c->kdf_m_cost);
	u32 p = le32_to_cpu(c->kdf_parallelism);

	if (le32_to_cpu(c->kdf) != SPF_KDF_ARGON2ID)
		return spf_fail(msg, -EOPNOTSUPP,
				"unknown key derivation function %u",
				le32_to_cpu(c->kdf));
	if (t < 1 || t > SPF_KDF_T_MAX || m < SPF_KDF_M_MIN ||
	    m > SPF_KDF_M_MAX || p < 1 || p > SPF_KDF_P_MAX || m < 8 * p)
		return spf_fail(msg, -EUCLEAN,
				"invalid Argon2id parameters (t=%u m=%u KiB p=%u)",
				t, m, p);
	return 0;
}

static int spf_check_header_fields(const struct spf_header *h,
				   struct spf_image *img, bool overlay,
				   struct spf_msg *msg)
{
	u64 unknown;

	if (le32_to_cpu(h->version) != SPF_VERSION)
		return spf_fail(msg, -EOPNOTSUPP,
				"unsupported format version %u; this %s reads version %u",
				le32_to_cpu(h->version), SPF_PROG, SPF_VERSION);
	if (le32_to_cpu(h->crc) != spf_header_crc(h))
		return spf_fail(msg, -EUCLEAN,
				"header checksum mismatch (corrupt header)");
	if (le32_to_cpu(h->header_size) != SPF_HEADER_SIZE)
		return spf_fail(msg, -EUCLEAN, "invalid header size %u",
				le32_to_cpu(h->header_size));

	img->compat = le64_to_cpu(h->compat);
	img->incompat = le64_to_cpu(h->incompat);
	img->overlay = img->incompat & SPF_INCOMPAT_OVERLAY;
	if (img->overlay != overlay)
		return spf_fail(msg, -EBADMSG, overlay ?
				"not a write-back overlay (it is an image)" :
				"is an unsealed write-back overlay, not an image: attach it with --writable --overlay, or seal it with `spfctl recover`");
	unknown = img->incompat & ~(u64)(SPF_INCOMPAT_SUPPORTED |
					 SPF_INCOMPAT_OVERLAY);
	if (unknown)
		return spf_fail(msg, -EOPNOTSUPP,
				"this image needs a newer spfblk/spfctl (feature 0x%llx)",
				(unsigned long long)unknown);
	img->encrypted = img->incompat & SPF_INCOMPAT_ENCRYPTED;
	img->consolidated = img->incompat & SPF_INCOMPAT_CONSOLIDATED;

	img->disk_size = le64_to_cpu(h->disk_size);
	if (!img->disk_size || img->disk_size % SPF_SECTOR_SIZE ||
	    img->disk_size > SPF_MAX_DISK_SIZE)
		return spf_fail(msg, -EUCLEAN,
				"invalid disk size %llu (a non-zero multiple of 512 up to 1 PiB)",
				(unsigned long long)img->disk_size);
	img->chunk_shift = le32_to_cpu(h->chunk_shift);
	if (img->chunk_shift < SPF_CHUNK_SHIFT_MIN ||
	    img->chunk_shift > SPF_CHUNK_SHIFT_MAX)
		return spf_fail(msg, -EUCLEAN,
				"invalid chunk size 2^%u (4 KiB to 1 MiB)",
				img->chunk_shift);
	img->chunk_size = 1U << img->chunk_shift;
	img->nr_chunks = (img->disk_size + img->chunk_size - 1) >>
			 img->chunk_shift;

	img->codec = le16_to_cpu(h->codec);
	img->codec_level = le16_to_cpu(h->codec_level);
	if (img->codec >= SPF_CODEC_MAX)
		return spf_fail(msg, -EOPNOTSUPP,
				"unknown codec %u; this image needs a newer spfblk/spfctl",
				img->codec);

	img->depth = le32_to_cpu(h->depth);
	img->parent_disk_size = le64_to_cpu(h->parent_disk_size);
	if (img->depth > SPF_MAX_DEPTH)
		return spf_fail(msg, -EUCLEAN, "chain depth %u exceeds %u",
				img->depth, SPF_MAX_DEPTH);
	if (img->depth == 0) {
		if (img->parent_disk_size ||
		    !spf_is_zero(h->parent_uuid, sizeof(h->parent_uuid)))
			return spf_fail(msg, -EUCLEAN,
					"full image with a parent link");
		/* A consolidated full image keeps the chain's uuid. */
		if (!img->consolidated &&
		    memcmp(h->chain_uuid, h->uuid, sizeof(h->uuid)))
			return spf_fail(msg, -EUCLEAN,
					"full image whose chain uuid is not its own");
	} else if (!img->parent_disk_size ||
		   img->parent_disk_size > img->disk_size ||
		   img->parent_disk_size % SPF_SECTOR_SIZE) {
		return spf_fail(msg, -EUCLEAN,
				"invalid parent disk size %llu",
				(unsigned long long)img->parent_disk_size);
	}
	if (spf_is_zero(h->uuid, sizeof(h->uuid)))
		return spf_fail(msg, -EUCLEAN, "image uuid is zero");

	if (img->encrypted) {
		int ret = spf_check_crypt(&h->crypt, msg);

		if (ret)
			return ret;
	}
	if (h->label[SPF_LABEL_LEN - 1] ||
	    h->parent_name[SPF_PARENT_NAME_LEN - 1])
		return spf_fail(msg, -EUCLEAN, "unterminated label or parent name");
	return 0;
}

static int spf_parse_any_header(const void *buf, size_t len, u64 file_size,
				bool overlay, struct spf_image *img,
				struct spf_msg *msg)
{
	const struct spf_header *h = buf;
	int ret;

	memset(img, 0, sizeof(*img));
	img->file_size = file_size;
	if (len >= SPF_SHADOWPROTECT_LEN &&
	    !memcmp(buf, SPF_SHADOWPROTECT_MAGIC, SPF_SHADOWPROTECT_LEN))
		return spf_fail(msg, -EINVAL,
				"is a StorageCraft ShadowProtect image (proprietary format); spfctl reads the open SPF format");
	if (len < SPF_MAGIC_LEN || memcmp(buf, SPF_MAGIC, SPF_MAGIC_LEN))
		return spf_fail(msg, -EINVAL, "not an SPF image (bad magic)");
	if (len < SPF_HEADER_SIZE || file_size < SPF_HEADER_SIZE)
		return spf_fail(msg, -EBADMSG,
				"not finalised (interrupted backup?): file ends inside the header");

	ret = spf_check_header_fields(h, img, overlay, msg);
	if (ret)
		return ret;

	img->header_crc = le32_to_cpu(h->crc);
	img->create_time = le64_to_cpu(h->create_time);
	memcpy(img->uuid, h->uuid, sizeof(img->uuid));
	memcpy(img->chain_uuid, h->chain_uuid, sizeof(img->chain_uuid));
	memcpy(img->parent_uuid, h->parent_uuid, sizeof(img->parent_uuid));
	memcpy(img->parent_seal, h->parent_seal, sizeof(img->parent_seal));
	return 0;
}

int spf_parse_header(const void *buf, size_t len, u64 file_size,
		     struct spf_image *img, struct spf_msg *msg)
{
	return spf_parse_any_header(buf, len, file_size, false, img, msg);
}

int spf_parse_overlay_header(const void *buf, size_t len, u64 file_size,
			     struct spf_image *img, struct spf_msg *msg)
{
	int ret = spf_parse_any_header(buf, len, file_size, true, img, msg);

	if (ret)
		return ret;
	if (!img->depth || img->consolidated)
		return spf_fail(msg, -EUCLEAN,
				"overlay header is not an ordinary incremental's");
	return 0;
}

u32 spf_log_record_crc(const struct spf_log_record *r)
{
	return spf_crc_skip(r, sizeof(*r),
			    offsetof(struct spf_log_record, crc));
}

int spf_check_log_record(const struct spf_image *img,
			 const struct spf_log_record *r, u64 expect_seq,
			 struct spf_msg *msg)
{
	u32 len = le32_to_cpu(r->length);
	u32 max = spf_max_stored_len(img);
	u32 tag = img->encrypted ? SPF_GCM_TAG_LEN : 0;
	u64 seq = le64_to_cpu(r->seq);
	u64 chunk = le64_to_cpu(r->chunk);
	bool zero_nonce = spf_is_zero(r->nonce, sizeof(r->nonce));

	if (le32_to_cpu(r->magic) != SPF_LOG_MAGIC)
		return spf_fail(msg, -EBADMSG, "no record (bad magic)");
	if (le32_to_cpu(r->crc) != spf_log_record_crc(r))
		return spf_fail(msg, -EBADMSG, "record checksum mismatch");
	if (seq != expect_seq)
		return spf_fail(msg, -EBADMSG,
				"record sequence %llu, expected %llu",
				(unsigned long long)seq,
				(unsigned long long)expect_seq);
	if (chunk >= img->nr_chunks)
		return spf_fail(msg, -EUCLEAN,
				"record for chunk %llu past the disk's %llu chunks",
				(unsigned long long)chunk,
				(unsigned long long)img->nr_chunks);
	if (!spf_is_zero(r->reserved0, sizeof(r->reserved0)) ||
	    !spf_is_zero(r->reserved1, sizeof(r->reserved1)))
		return spf_fail(msg, -EUCLEAN, "record reserved bytes not zero");
	switch (r->state) {
	case SPF_CHUNK_ZERO:
		if (len || r->data_crc || !zero_nonce)
			return spf_fail(msg, -EUCLEAN,
					"zero record with stored data");
		return 0;
	case SPF_CHUNK_RAW:
		if (len != max)
			return spf_fail(msg, -EUCLEAN,
					"raw record of %u bytes, expected %u",
					len, max);
		break;
	case SPF_CHUNK_COMPRESSED:
		if (img->codec == SPF_CODEC_NONE || len <= tag || len >= max)
			return spf_fail(msg, -EUCLEAN,
					"compressed record of %u bytes", len);
		break;
	default:
		return spf_fail(msg, -EUCLEAN, "invalid record state %u",
				r->state);
	}
	if (img->encrypted ?
	    r->nonce[SPF_GCM_NONCE_LEN - 1] != SPF_LOG_NONCE_MARK : !zero_nonce)
		return spf_fail(msg, -EUCLEAN, "invalid record nonce");
	return 0;
}

/* Where the index and summary may lie, checked against the file size. */
static int spf_check_layout(struct spf_image *img, struct spf_msg *msg)
{
	u64 end = img->file_size - SPF_TRAILER_SIZE;
	u64 leaves, index_end;

	if (img->summary_offset > end ||
	    end - img->summary_offset != SPF_BLOCK_SIZE)
		return spf_fail(msg, -EUCLEAN,
				"summary offset %llu does not end at the trailer",
				(unsigned long long)img->summary_offset);
	if (img->data_end < SPF_HEADER_SIZE ||
	    img->index_offset < img->data_end ||
	    img->index_offset > img->summary_offset)
		return spf_fail(msg, -EUCLEAN,
				"invalid data end %llu or index offset %llu",
				(unsigned long long)img->data_end,
				(unsigned long long)img->index_offset);
	if (img->index_blocks >
	    (img->summary_offset - img->index_offset) / SPF_BLOCK_SIZE)
		return spf_fail(msg, -EUCLEAN,
				"index of %llu blocks overruns the file",
				(unsigned long long)img->index_blocks);
	index_end = img->index_offset + img->index_blocks * SPF_BLOCK_SIZE;
	if (index_end != img->summary_offset)
		return spf_fail(msg, -EUCLEAN,
				"gap between index and summary");

	if (img->nr_entries > img->nr_chunks ||
	    img->nr_stored > img->nr_entries)
		return spf_fail(msg, -EUCLEAN,
				"entry counts %llu/%llu exceed %llu chunks",
				(unsigned long long)img->nr_stored,
				(unsigned long long)img->nr_entries,
				(unsigned long long)img->nr_chunks);
	if (img->stored_bytes > img->data_end - SPF_HEADER_SIZE ||
	    img->stored_bytes > img->nr_stored * (u64)spf_max_stored_len(img))
		return spf_fail(msg, -EUCLEAN, "invalid stored byte count %llu",
				(unsigned long long)img->stored_bytes);

	if (!img->nr_entries) {
		if (img->index_levels || img->index_blocks)
			return spf_fail(msg, -EUCLEAN,
					"empty image with an index");
		return 0;
	}
	leaves = (img->nr_entries + SPF_LEAF_ENTRIES - 1) / SPF_LEAF_ENTRIES;
	if (img->index_levels < 1 || img->index_levels > SPF_MAX_INDEX_LEVELS)
		return spf_fail(msg, -EUCLEAN, "invalid index depth %u",
				img->index_levels);
	/* Each level above the leaves is at most half the one below, + 1. */
	if (img->index_blocks < leaves ||
	    img->index_blocks > 2 * leaves + SPF_MAX_INDEX_LEVELS)
		return spf_fail(msg, -EUCLEAN,
				"index of %llu blocks for %llu entries",
				(unsigned long long)img->index_blocks,
				(unsigned long long)img->nr_entries);
	if (img->index_root < img->index_offset ||
	    img->index_root >= index_end ||
	    (img->index_root - img->index_offset) % SPF_BLOCK_SIZE)
		return spf_fail(msg, -EUCLEAN, "invalid index root offset %llu",
				(unsigned long long)img->index_root);
	return 0;
}

int spf_parse_trailer(const struct spf_header *hdr, const void *buf,
		      struct spf_image *img, struct spf_msg *msg)
{
	const struct spf_trailer *t = buf;
	u8 seal[SPF_SEAL_LEN];
	int ret;

	if (img->file_size < SPF_HEADER_SIZE + SPF_TRAILER_SIZE ||
	    memcmp(t->magic, SPF_TRAILER_MAGIC, SPF_MAGIC_LEN))
		return spf_fail(msg, -EBADMSG,
				"not finalised (interrupted backup?): no trailer at the end of the file");
	if (le32_to_cpu(t->crc) != spf_trailer_crc(t))
		return spf_fail(msg, -EUCLEAN,
				"trailer checksum mismatch (corrupt trailer)");
	if (le32_to_cpu(t->trailer_size) != SPF_TRAILER_SIZE)
		return spf_fail(msg, -EUCLEAN, "invalid trailer size %u",
				le32_to_cpu(t->trailer_size));
	if (memcmp(t->uuid, img->uuid, sizeof(img->uuid)) ||
	    le32_to_cpu(t->header_crc) != img->header_crc)
		return spf_fail(msg, -EUCLEAN,
				"trailer belongs to another image (header and trailer do not match)");

	img->data_end = le64_to_cpu(t->data_end);
	img->index_root = le64_to_cpu(t->index_root);
	img->index_root_crc = le32_to_cpu(t->index_root_crc);
	img->index_levels = le16_to_cpu(t->index_levels);
	img->index_offset = le64_to_cpu(t->index_offset);
	img->index_blocks = le64_to_cpu(t->index_blocks);
	img->summary_offset = le64_to_cpu(t->summary_offset);
	img->summary_crc = le32_to_cpu(t->summary_crc);
	img->nr_entries = le64_to_cpu(t->nr_entries);
	img->nr_stored = le64_to_cpu(t->nr_stored);
	img->stored_bytes = le64_to_cpu(t->stored_bytes);
	img->seal_time = le64_to_cpu(t->seal_time);
	ret = spf_check_layout(img, msg);
	if (ret)
		return ret;

	spf_compute_seal(hdr, t, seal);
	if (memcmp(seal, t->seal, SPF_SEAL_LEN))
		return spf_fail(msg, -EUCLEAN,
				"seal mismatch (header or trailer altered)");
	memcpy(img->seal, seal, SPF_SEAL_LEN);
	if (!img->consolidated) {
		/* An ordinary image is its own link identity. */
		if (!spf_is_zero(t->link_uuid, sizeof(t->link_uuid)) ||
		    !spf_is_zero(t->link_seal, sizeof(t->link_seal)))
			return spf_fail(msg, -EUCLEAN,
					"link identity set on an ordinary image");
		memcpy(img->link_uuid, img->uuid, sizeof(img->link_uuid));
		memcpy(img->link_seal, seal, SPF_SEAL_LEN);
	} else {
		if (!memcmp(t->link_uuid, img->uuid, sizeof(img->uuid)) ||
		    spf_is_zero(t->link_uuid, sizeof(t->link_uuid)))
			return spf_fail(msg, -EUCLEAN,
					"consolidated image without a valid link identity");
		memcpy(img->link_uuid, t->link_uuid, sizeof(img->link_uuid));
		memcpy(img->link_seal, t->link_seal, SPF_SEAL_LEN);
	}
	img->sealed = true;
	return 0;
}

int spf_check_link(const struct spf_image *child,
		   const struct spf_image *parent, struct spf_msg *msg)
{
	char want[37], got[37];

	if (!child->depth)
		return spf_fail(msg, -ENOLINK, "a full image has no parent");
	spf_uuid_str(child->parent_uuid, want);
	spf_uuid_str(parent->link_uuid, got);
	if (memcmp(child->chain_uuid, parent->chain_uuid, 16))
		return spf_fail(msg, -ENOLINK,
				"parent belongs to another chain (expected parent %s, found %s)",
				want, got);
	if (memcmp(child->parent_uuid, parent->link_uuid, 16))
		return spf_fail(msg, -ENOLINK,
				"wrong parent (expected %s, found %s)", want, got);
	if (memcmp(child->parent_seal, parent->link_seal, SPF_SEAL_LEN))
		return spf_fail(msg, -ENOLINK,
				"parent %s was rebuilt or altered (seal mismatch)",
				got);
	if (child->chunk_shift != parent->chunk_shift)
		return spf_fail(msg, -ENOLINK,
				"chunk size %u differs from the parent's %u",
				child->chunk_size, parent->chunk_size);
	if (child->parent_disk_size != parent->disk_size)
		return spf_fail(msg, -ENOLINK,
				"parent disk size %llu, expected %llu",
				(unsigned long long)parent->disk_size,
				(unsigned long long)child->parent_disk_size);
	/*
	 * A consolidated child skips the depths it replaces; a consolidated
	 * full image (depth 0) stands in for images up to some depth.
	 */
	if (child->depth <= parent->depth ||
	    (!child->consolidated && child->depth != parent->depth + 1 &&
	     !(parent->consolidated && !parent->depth)))
		return spf_fail(msg, -ENOLINK,
				"depth %u does not follow the parent's depth %u",
				child->depth, parent->depth);
	return 0;
}

u32 spf_max_stored_len(const struct spf_image *img)
{
	return img->chunk_size + (img->encrypted ? SPF_GCM_TAG_LEN : 0);
}

static int spf_check_leaf_entry(const struct spf_image *img,
				const struct spf_index_entry *e,
				struct spf_msg *msg)
{
	u64 chunk = le64_to_cpu(e->chunk);
	u64 off = le64_to_cpu(e->offset);
	u32 len = le32_to_cpu(e->length);
	u32 max = spf_max_stored_len(img);

	switch (e->state) {
	case SPF_CHUNK_ZERO:
		if (off || len || e->crc)
			return spf_fail(msg, -EUCLEAN,
					"zero chunk %llu with data",
					(unsigned long long)chunk);
		return 0;
	case SPF_CHUNK_RAW:
		if (len != max)
			return spf_fail(msg, -EUCLEAN,
					"raw chunk %llu has length %u, not %u",
					(unsigned long long)chunk, len, max);
		break;
	case SPF_CHUNK_COMPRESSED:
		if (img->codec == SPF_CODEC_NONE || !len || len >= max ||
		    (img->encrypted && len <= SPF_GCM_TAG_LEN))
			return spf_fail(msg, -EUCLEAN,
					"compressed chunk %llu has invalid length %u",
					(unsigned long long)chunk, len);
		break;
	default:
		return spf_fail(msg, -EUCLEAN, "chunk %llu has unknown state %u",
				(unsigned long long)chunk, e->state);
	}
	if (off < SPF_HEADER_SIZE || off > img->data_end ||
	    img->data_end - off < len)
		return spf_fail(msg, -EUCLEAN,
				"chunk %llu data at %llu+%u lies outside the data area",
				(unsigned long long)chunk, (unsigned long long)off,
				len);
	return 0;
}

static int spf_check_node_entry(const struct spf_image *img, u64 offset,
				const struct spf_node_entry *e,
				struct spf_msg *msg)
{
	u64 child = le64_to_cpu(e->offset);

	/* Children are written before their parents: no cycles. */
	if (child < img->index_offset || child >= offset ||
	    (child - img->index_offset) % SPF_BLOCK_SIZE)
		return spf_fail(msg, -EUCLEAN,
				"index block at %llu points to invalid offset %llu",
				(unsigned long long)offset,
				(unsigned long long)child);
	return 0;
}

int spf_check_block(const struct spf_image *img, const void *block,
		    u64 offset, u16 level, u64 first, u64 limit, u32 crc,
		    struct spf_msg *msg)
{
	const struct spf_block_header *b = block;
	u32 magic = le32_to_cpu(b->magic);
	u16 count = le16_to_cpu(b->count);
	u64 bfirst = le64_to_cpu(b->first_chunk);
	u64 blast = le64_to_cpu(b->last_chunk);
	u64 prev = 0, cur;
	unsigned int i, max;
	int ret;

	if (le32_to_cpu(b->crc) != crc || spf_block_crc(block) != crc)
		return spf_fail(msg, -EUCLEAN,
				"index block at %llu: checksum mismatch",
				(unsigned long long)offset);
	if (magic != (level ? SPF_NODE_MAGIC : SPF_LEAF_MAGIC) ||
	    le16_to_cpu(b->level) != level)
		return spf_fail(msg, -EUCLEAN,
				"index block at %llu: bad magic or level",
				(unsigned long long)offset);
	max = level ? SPF_NODE_ENTRIES : SPF_LEAF_ENTRIES;
	if (!count || count > max)
		return spf_fail(msg, -EUCLEAN,
				"index block at %llu: invalid entry count %u",
				(unsigned long long)offset, count);
	if (first == SPF_ANY_FIRST)
		first = 0;
	else if (bfirst != first)
		return spf_fail(msg, -EUCLEAN,
				"index block at %llu: first chunk %llu, expected %llu",
				(unsigned long long)offset,
				(unsigned long long)bfirst,
				(unsigned long long)first);
	if (limit >= img->nr_chunks)
		limit = img->nr_chunks - 1;
	if (bfirst < first || blast < bfirst || blast > limit)
		return spf_fail(msg, -EUCLEAN,
				"index block at %llu: chunk range %llu..%llu out of bounds",
				(unsigned long long)offset,
				(unsigned long long)bfirst,
				(unsigned long long)blast);

	for (i = 0; i < count; i++) {
		if (level) {
			const struct spf_node_entry *e =
				&spf_node_entries(block)[i];

			cur = le64_to_cpu(e->first_chunk);
			ret = spf_check_node_entry(img, offset, e, msg);
		} else {
			const struct spf_index_entry *e =
				&spf_leaf_entries(block)[i];

			cur = le64_to_cpu(e->chunk);
			ret = spf_check_leaf_entry(img, e, msg);
		}
		if (ret)
			return ret;
		if ((i == 0 && cur != bfirst) || (i > 0 && cur <= prev) ||
		    cur > blast)
			return spf_fail(msg, -EUCLEAN,
					"index block at %llu: entry %u (chunk %llu) out of order",
					(unsigned long long)offset, i,
					(unsigned long long)cur);
		prev = cur;
	}
	if (!level && prev != blast)
		return spf_fail(msg, -EUCLEAN,
				"index block at %llu: last chunk %llu, expected %llu",
				(unsigned long long)offset,
				(unsigned long long)blast,
				(unsigned long long)prev);
	return 0;
}

u32 spf_summary_shift(u64 nr_chunks)
{
	u32 shift = 0;

	while (((nr_chunks + (1ULL << shift) - 1) >> shift) > SPF_SUMMARY_BITS)
		shift++;
	return shift;
}

/*
 * The first region at or past @from that @s marks, or SPF_SUMMARY_BITS:
 * whole bytes at a time, as a deep chain checks one summary per layer.
 */
static u64 spf_summary_next(const struct spf_summary *s, u64 from)
{
	u64 byte = from / 8;
	const u8 *p;
	u8 b;

	if (from >= SPF_SUMMARY_BITS)
		return SPF_SUMMARY_BITS;
	b = s->bits[byte] & (u8)(0xff << (from % 8));
	if (!b) {
		p = memchr_inv(&s->bits[byte + 1], 0,
			       SPF_SUMMARY_BYTES - byte - 1);
		if (!p)
			return SPF_SUMMARY_BITS;
		byte = p - s->bits;
		b = *p;
	}
	return byte * 8 + __ffs(b);
}

int spf_check_summary(const struct spf_image *img, const void *block,
		      struct spf_msg *msg)
{
	const struct spf_summary *s = block;
	u32 shift = spf_summary_shift(img->nr_chunks);
	u64 regions = (img->nr_chunks + (1ULL << shift) - 1) >> shift;
	u64 r;

	if (le32_to_cpu(s->crc) != img->summary_crc ||
	    spf_block_crc(block) != img->summary_crc)
		return spf_fail(msg, -EUCLEAN, "summary checksum mismatch");
	if (le32_to_cpu(s->magic) != SPF_SUMMARY_MAGIC ||
	    le32_to_cpu(s->region_shift) != shift ||
	    le64_to_cpu(s->nr_regions) != regions)
		return spf_fail(msg, -EUCLEAN, "invalid summary block");
	r = spf_summary_next(s, regions);
	if (r < SPF_SUMMARY_BITS)
		return spf_fail(msg, -EUCLEAN,
				"summary marks region %llu past the disk",
				(unsigned long long)r);
	return 0;
}

bool spf_summary_test(const struct spf_summary *s, u64 chunk)
{
	u64 r = chunk >> le32_to_cpu(s->region_shift);

	if (r >= le64_to_cpu(s->nr_regions))
		return false;
	return s->bits[r / 8] & (1U << (r % 8));
}

int spf_leaf_find(const void *leaf, u64 chunk)
{
	const struct spf_block_header *b = leaf;
	const struct spf_index_entry *e = spf_leaf_entries(leaf);
	int lo = 0, hi = le16_to_cpu(b->count) - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		u64 c = le64_to_cpu(e[mid].chunk);

		if (c == chunk)
			return mid;
		if (c < chunk)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

int spf_node_find(const void *node, u64 chunk, u64 node_limit, u64 *limit)
{
	const struct spf_block_header *b = node;
	const struct spf_node_entry *e = spf_node_entries(node);
	int count = le16_to_cpu(b->count);
	int lo = 0, hi = count - 1, found = -1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (le64_to_cpu(e[mid].first_chunk) <= chunk) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	if (found < 0)
		return -1;
	if (found + 1 < count)
		*limit = le64_to_cpu(e[found + 1].first_chunk) - 1;
	else
		*limit = node_limit;
	return found;
}
