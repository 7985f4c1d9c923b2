// SPDX-License-Identifier: GPL-2.0
/*
 * Finding a chunk in one layer's index, a B+tree of 4 KiB blocks.
 *
 * The index is never loaded whole: a look-up reads the blocks on the path
 * from the root to one leaf, at most index_levels (<= 8) of them, into the
 * worker context's block buffer, and checks each with spf_check_block()
 * against what its parent promised (offset, level, first chunk, range and
 * crc) before using it.  The layer's summary, checked at attach, lets
 * most layers be skipped without reading anything.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "spfblk.h"

/*
 * The extent a checked leaf entry of layer @layer describes: entry
 * @entry of the index's leaf block @leaf.
 */
void spf_extent_from_entry(const struct spf_index_entry *e, u32 layer,
			   u32 leaf, unsigned int entry,
			   struct spf_extent *ext)
{
	ext->offset = le64_to_cpu(e->offset);
	ext->length = le32_to_cpu(e->length);
	ext->crc = le32_to_cpu(e->crc);
	ext->state = e->state;
	ext->layer = layer;
	ext->leaf = leaf;
	ext->entry = entry;
	ext->verified = false;
}

/*
 * The number of the index block at @off of @img, counted from its
 * index_offset.  spf_check_image() and spf_check_node_entry() keep every
 * block the walk reads inside the index.
 */
static u32 spf_index_blockno(const struct spf_image *img, u64 off)
{
	u64 n = (off - img->index_offset) / SPF_BLOCK_SIZE;

	return n < SPF_NO_LEAF ? n : SPF_NO_LEAF;
}

/*
 * Look @chunk up in layer @li.  Returns 1 and fills @ext if the layer has
 * an entry for it, 0 if not, or -EIO with ctx->msg set if the index
 * cannot be read or is corrupt.  On 1, ctx->block holds the checked leaf.
 */
int spf_index_find(struct spf_device *dev, struct spf_ctx *ctx, u32 li,
		   u64 chunk, struct spf_extent *ext)
{
	const struct spf_layer *l = &dev->layers[li];
	const struct spf_image *img = &l->img;
	u64 off = img->index_root, first = SPF_ANY_FIRST, limit = U64_MAX;
	u32 crc = img->index_root_crc;
	int level, i, ret;

	if (chunk >= img->nr_chunks || !img->nr_entries ||
	    !spf_summary_test(l->summary, chunk))
		return 0;

	for (level = img->index_levels - 1; level >= 0; level--) {
		const struct spf_node_entry *n;
		u64 child_limit;

		ret = spf_read_at(l->file, ctx->block, SPF_BLOCK_SIZE, off);
		if (ret) {
			snprintf(ctx->msg.text, sizeof(ctx->msg.text),
				 "index block at %llu: read error %d", off,
				 ret);
			return -EIO;
		}
		if (spf_check_block(img, ctx->block, off, level, first, limit,
				    crc, &ctx->msg))
			return -EIO;

		if (!level) {
			const struct spf_index_entry *e;

			i = spf_leaf_find(ctx->block, chunk);
			if (i < 0)
				return 0;
			e = &spf_leaf_entries(ctx->block)[i];
			spf_extent_from_entry(e, li,
					      spf_index_blockno(img, off), i,
					      ext);
			return 1;
		}

		i = spf_node_find(ctx->block, chunk, limit, &child_limit);
		if (i < 0)
			return 0;
		n = &spf_node_entries(ctx->block)[i];
		off = le64_to_cpu(n->offset);
		crc = le32_to_cpu(n->crc);
		first = le64_to_cpu(n->first_chunk);
		limit = child_limit;
	}
	return 0;
}
