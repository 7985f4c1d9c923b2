// SPDX-License-Identifier: GPL-2.0
/*
 * Verify-once: which stored chunks have passed their crc32c check.
 *
 * A device attached with SPF_ATTACH_F_VERIFY_ONCE checks a stored chunk's
 * crc32c at its first read only, and remembers here, for as long as the
 * device is attached, that it passed.  The mark is one bit per index
 * entry of each layer, at the entry's place in the layer's index: leaf
 * block number times SPF_LEAF_ENTRIES, plus its place in the leaf.  Every
 * index block is checked against the crc its parent (or, for the root,
 * the trailer read at attach) gives before it is used, so a place holds
 * the same entry for as long as the device is attached, and its bit
 * stands for exactly the stored bytes and crc32c that entry gives.
 * Overlay records have no index entry: they are checked at every read.
 *
 * The places of a layer's entries are dense (spfctl writes the leaves
 * first in the index, each full but the last), so the bits are too,
 * however sparse the chunks: a layer has at most SPF_LEAF_ENTRIES bits
 * per block of its index, about one per entry.  They live in pages of
 * SPF_MARKS_PER_PAGE each, kept in the layer's marks xarray and allocated
 * at the first mark in their range, so the memory follows what was read
 * and the attach costs nothing.  Unlike the extent cache, the marks are
 * not given back under memory pressure, which would turn every later read
 * into a check again.  A page that cannot be allocated is not an error:
 * its chunks are checked until one can be.
 *
 * Locking: none of our own.  A page is published once with xa_cmpxchg()
 * (the xarray's xa_lock, held only for the store) and stays until detach;
 * lookups are xa_load() (RCU inside) and bits are set with
 * test_and_set_bit().  The pages are freed at detach, when no reader is
 * left.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/gfp.h>

#include "spfblk.h"

#define SPF_MARKS_SHIFT		(PAGE_SHIFT + 3)	/* bits in a page */
#define SPF_MARKS_PER_PAGE	BIT_ULL(SPF_MARKS_SHIFT)
#define SPF_MARK_BIT(bit)	((bit) & (SPF_MARKS_PER_PAGE - 1))

/* The page of marks for @bit of @l, if there is one yet. */
static unsigned long *spf_marks_page(const struct spf_layer *l, u64 bit)
{
	/* xa_load() does not change the xarray; it takes no const. */
	return xa_load((struct xarray *)&l->marks, bit >> SPF_MARKS_SHIFT);
}

/*
 * The bit of @ext's index entry.  False if it has none to mark: on a
 * device that does not verify once, for an overlay record, a chunk no
 * layer stores, or a place outside the layer's index.
 */
static bool spf_mark_bit(const struct spf_device *dev,
			 const struct spf_extent *ext, u64 *bit)
{
	if (!dev->verify_once || ext->layer >= dev->nr_layers ||
	    ext->state == SPF_CHUNK_ZERO || ext->leaf == SPF_NO_LEAF ||
	    ext->leaf >= dev->layers[ext->layer].img.index_blocks ||
	    ext->entry >= SPF_LEAF_ENTRIES)
		return false;
	*bit = (u64)ext->leaf * SPF_LEAF_ENTRIES + ext->entry;
	return (*bit >> SPF_MARKS_SHIFT) <= ULONG_MAX;
}

/*
 * Did @ext's stored bytes pass their check before?  Lockless: one
 * xa_load() and one test_bit().  Asked on an extent cache miss, and on a
 * hit whose entry has no copy of the mark yet (extent.c).
 */
bool spf_verified(const struct spf_device *dev, const struct spf_extent *ext)
{
	unsigned long *page;
	u64 bit;

	if (!spf_mark_bit(dev, ext, &bit))
		return false;
	page = spf_marks_page(&dev->layers[ext->layer], bit);
	return page && test_bit(SPF_MARK_BIT(bit), page);
}

/*
 * @chunk's stored bytes at @ext passed their check: remember it, and copy
 * the mark into the chunk's extent cache entry, where a hit finds it
 * without looking here.  Called by a worker after a check, never on a
 * hit's path; the one allocation it may make is a page per
 * SPF_MARKS_PER_PAGE index entries of a layer.
 */
void spf_mark_verified(struct spf_device *dev, u64 chunk,
		       const struct spf_extent *ext)
{
	unsigned long *page, *old;
	struct xarray *xa;
	u64 bit;

	if (!spf_mark_bit(dev, ext, &bit))
		return;
	xa = &dev->layers[ext->layer].marks;
	page = spf_marks_page(&dev->layers[ext->layer], bit);
	if (!page) {
		page = (unsigned long *)get_zeroed_page(GFP_NOIO |
							__GFP_NOWARN);
		if (!page)
			return;
		old = xa_cmpxchg(xa, bit >> SPF_MARKS_SHIFT, NULL, page,
				 GFP_NOIO | __GFP_NOWARN);
		if (old) {
			/* Another worker's page won, or no memory. */
			free_page((unsigned long)page);
			if (xa_is_err(old))
				return;
			page = old;
		} else {
			atomic_long_inc(&dev->mark_pages);
		}
	}
	if (!test_and_set_bit(SPF_MARK_BIT(bit), page))
		atomic64_inc(&dev->verified_chunks);
	spf_extent_verified(dev, chunk, ext);
}

/* The memory the marks take: what verify-once costs the device. */
u64 spf_marks_bytes(const struct spf_device *dev)
{
	return (u64)atomic_long_read(&dev->mark_pages) * PAGE_SIZE;
}

void spf_marks_init(struct spf_layer *l)
{
	xa_init(&l->marks);
}

/* No reader is left. */
void spf_marks_free(struct spf_layer *l)
{
	unsigned long idx;
	void *page;

	xa_for_each(&l->marks, idx, page)
		free_page((unsigned long)page);
	xa_destroy(&l->marks);
}
