// SPDX-License-Identifier: GPL-2.0
/*
 * Verify-once: which stored chunks have passed their crc32c check.
 *
 * A device attached with SPF_ATTACH_F_VERIFY_ONCE checks a stored chunk's
 * crc32c at its first read only, and remembers here, for as long as the
 * device is attached, that it passed.  The mark is one bit per chunk of
 * each layer of the chain: a layer has at most one index entry for a
 * chunk, and its file is never written, so the bit of (layer, chunk)
 * stands for exactly the stored bytes and crc32c that entry gives.
 * Overlay records are not marked: they are checked at every read.
 *
 * The bits live in pages of SPF_MARKS_PER_PAGE chunks each, kept in the
 * layer's marks xarray and allocated at the first mark in their range, so
 * the memory follows what was read: reading the 1 GiB of a sparse 16 TiB
 * disk costs a few pages, reading a whole disk one bit per chunk.  Unlike
 * the extent cache, the marks are not given back under memory pressure,
 * which would turn every later read into a check again.  A page that
 * cannot be allocated is not an error: its chunks are checked until one
 * can be.
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
#define SPF_MARK_BIT(chunk)	((chunk) & (SPF_MARKS_PER_PAGE - 1))

/* The page of marks for @chunk in @l, if there is one yet. */
static unsigned long *spf_marks_page(const struct spf_layer *l, u64 chunk)
{
	/* xa_load() does not change the xarray; it takes no const. */
	return xa_load((struct xarray *)&l->marks, chunk >> SPF_MARKS_SHIFT);
}

/* Can @chunk of @ext have a mark?  Only a stored chunk of the chain. */
static bool spf_markable(const struct spf_device *dev, u64 chunk,
			 const struct spf_extent *ext)
{
	return dev->verify_once && ext->layer < dev->nr_layers &&
	       ext->state != SPF_CHUNK_ZERO &&
	       chunk < dev->layers[ext->layer].img.nr_chunks &&
	       (chunk >> SPF_MARKS_SHIFT) <= ULONG_MAX;
}

/*
 * Did @chunk's stored bytes at @ext pass their check before?  Lockless,
 * and cheap enough for every read: one xa_load() and one test_bit().
 */
bool spf_verified(const struct spf_device *dev, u64 chunk,
		  const struct spf_extent *ext)
{
	unsigned long *page;

	if (!spf_markable(dev, chunk, ext))
		return false;
	page = spf_marks_page(&dev->layers[ext->layer], chunk);
	return page && test_bit(SPF_MARK_BIT(chunk), page);
}

/*
 * @chunk's stored bytes at @ext passed their check: remember it.  Called
 * by a worker after a check, never on a hit's path; the one allocation it
 * may make is a page per SPF_MARKS_PER_PAGE chunks of a layer.
 */
void spf_mark_verified(struct spf_device *dev, u64 chunk,
		       const struct spf_extent *ext)
{
	unsigned long *page, *old;
	struct xarray *xa;

	if (!spf_markable(dev, chunk, ext))
		return;
	xa = &dev->layers[ext->layer].marks;
	page = spf_marks_page(&dev->layers[ext->layer], chunk);
	if (!page) {
		page = (unsigned long *)get_zeroed_page(GFP_NOIO |
							__GFP_NOWARN);
		if (!page)
			return;
		old = xa_cmpxchg(xa, chunk >> SPF_MARKS_SHIFT, NULL, page,
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
	if (!test_and_set_bit(SPF_MARK_BIT(chunk), page))
		atomic64_inc(&dev->verified_chunks);
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
