// SPDX-License-Identifier: GPL-2.0
/*
 * The extent cache: which layer holds a chunk, and where.
 *
 * A miss walks the chain from the top layer down (index.c), one layer at a
 * time; the first layer with an entry for the chunk decides, and a chunk
 * no layer has reads as zeros.  The answer is cached, so a hit costs one
 * xa_load() whatever the chain's depth, and so are the other entries of
 * the leaf that answered, where no upper layer may override them.
 *
 * Locking (see struct spf_cache): hits are lockless under RCU and only
 * set a referenced bit.  The xarray's xa_lock protects the LRU list and
 * the entry count; inserts, evictions and the shrinker take it.  Entries
 * are freed after a grace period.  The memory in use stays within the
 * budget: each entry is charged SPF_CACHE_ENTRY_COST bytes, the entry
 * plus its share of the xarray.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/math64.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "spfblk.h"

struct spf_cache_entry {
	union {
		struct list_head lru;	/* in spf_cache.lru, under xa_lock */
		struct rcu_head rcu;	/* once off the list and the xarray */
	};
	unsigned long index;		/* the chunk */
	struct spf_extent ext;		/* immutable once published */
	bool referenced;		/* hit since last considered */
	bool verified;			/* a copy of ext's mark (verify.c) */
};

#define SPF_CACHE_ENTRY_COST	(sizeof(struct spf_cache_entry) + \
				 2 * sizeof(void *))

/* Second chances an eviction of n entries may give: bounded work. */
#define SPF_EVICT_SCAN(n)	((n) * 8 + 32)

static struct kmem_cache *spf_entry_slab;

int spf_extent_slab_init(void)
{
	spf_entry_slab = KMEM_CACHE(spf_cache_entry, 0);
	return spf_entry_slab ? 0 : -ENOMEM;
}

void spf_extent_slab_exit(void)
{
	rcu_barrier();		/* entries still waiting for a grace period */
	kmem_cache_destroy(spf_entry_slab);
}

static void spf_entry_free_rcu(struct rcu_head *rcu)
{
	kmem_cache_free(spf_entry_slab,
			container_of(rcu, struct spf_cache_entry, rcu));
}

u64 spf_cache_bytes(struct spf_cache *c)
{
	return (u64)READ_ONCE(c->nr) * SPF_CACHE_ENTRY_COST;
}

/* Evict up to @nr entries, oldest first, giving referenced ones a second
 * chance.  Called under xa_lock.
 */
static unsigned long spf_cache_evict(struct spf_cache *c, unsigned long nr)
{
	unsigned long scan = SPF_EVICT_SCAN(nr), freed = 0;
	struct spf_cache_entry *e;

	while (freed < nr && !list_empty(&c->lru)) {
		e = list_last_entry(&c->lru, struct spf_cache_entry, lru);
		if (scan && READ_ONCE(e->referenced)) {
			scan--;
			WRITE_ONCE(e->referenced, false);
			list_move(&e->lru, &c->lru);
			continue;
		}
		list_del(&e->lru);
		__xa_erase(&c->xa, e->index);
		WRITE_ONCE(c->nr, c->nr - 1);
		call_rcu(&e->rcu, spf_entry_free_rcu);
		freed++;
	}
	return freed;
}

static bool spf_cache_get(struct spf_cache *c, u64 chunk,
			  struct spf_extent *ext)
{
	struct spf_cache_entry *e = NULL;

	if (chunk <= ULONG_MAX) {
		rcu_read_lock();
		e = xa_load(&c->xa, chunk);
		if (e) {
			*ext = e->ext;
			ext->verified = READ_ONCE(e->verified);
			if (!READ_ONCE(e->referenced))
				WRITE_ONCE(e->referenced, true);
		}
		rcu_read_unlock();
	}
	atomic64_inc(e ? &c->hits : &c->misses);
	return e;
}

/* Cache an extent, if memory allows; failing to is not an error. */
static void spf_cache_add(struct spf_cache *c, u64 chunk,
			  const struct spf_extent *ext)
{
	struct spf_cache_entry *e;

	if (!c->max || chunk > ULONG_MAX)
		return;
	e = kmem_cache_alloc(spf_entry_slab, GFP_NOIO | __GFP_NOWARN);
	if (!e)
		return;
	e->index = chunk;
	e->ext = *ext;
	e->referenced = false;
	e->verified = ext->verified;

	xa_lock(&c->xa);
	/* May drop the lock to allocate a node; -EBUSY if a racer won. */
	if (__xa_insert(&c->xa, chunk, e, GFP_NOIO | __GFP_NOWARN)) {
		xa_unlock(&c->xa);
		kmem_cache_free(spf_entry_slab, e);
		return;
	}
	list_add(&e->lru, &c->lru);
	WRITE_ONCE(c->nr, c->nr + 1);
	if (c->nr > c->max)
		spf_cache_evict(c, c->nr - c->max);
	xa_unlock(&c->xa);
}

static unsigned long spf_cache_count(struct shrinker *s,
				     struct shrink_control *sc)
{
	struct spf_cache *c = spf_shrinker_private(s);

	return READ_ONCE(c->nr) ?: SHRINK_EMPTY;
}

static unsigned long spf_cache_scan(struct shrinker *s,
				    struct shrink_control *sc)
{
	struct spf_cache *c = spf_shrinker_private(s);
	unsigned long freed;

	xa_lock(&c->xa);
	freed = spf_cache_evict(c, sc->nr_to_scan);
	xa_unlock(&c->xa);
	return freed ?: SHRINK_STOP;
}

int spf_cache_init(struct spf_device *dev, u64 budget)
{
	struct spf_cache *c = &dev->cache;
	char name[16];

	xa_init(&c->xa);
	INIT_LIST_HEAD(&c->lru);
	c->nr = 0;
	c->budget = budget;
	c->max = min_t(u64, div64_u64(budget, SPF_CACHE_ENTRY_COST),
		       ULONG_MAX);
	atomic64_set(&c->hits, 0);
	atomic64_set(&c->misses, 0);
	snprintf(name, sizeof(name), SPF_DISK_NAME "%d", dev->index);
	return spf_shrinker_register(&c->shrinker, spf_cache_count,
				     spf_cache_scan, c, name);
}

/* No reader is left: the queue is gone. */
void spf_cache_free(struct spf_device *dev)
{
	struct spf_cache *c = &dev->cache;
	struct spf_cache_entry *e;
	unsigned long index;

	spf_shrinker_unregister(&c->shrinker);
	xa_for_each(&c->xa, index, e)
		kmem_cache_free(spf_entry_slab, e);
	xa_destroy(&c->xa);
	INIT_LIST_HEAD(&c->lru);
	c->nr = 0;
}

/*
 * Summary tests a leaf fill may make: entries times layers above.  Bounds
 * the work one miss does on a very deep chain.
 */
#define SPF_FILL_MAX_TESTS	(SPF_LEAF_ENTRIES * 1024)

/*
 * The leaf of layer @li that answered for @chunk answers for its other
 * chunks too, unless a layer above may hold them: cache every entry whose
 * chunk no upper layer's summary claims.  So one leaf read serves up to
 * SPF_LEAF_ENTRIES misses, and a sequential scan reads each leaf once.
 */
static void spf_cache_fill(struct spf_device *dev, u32 li, const void *leaf,
			   u32 leafno, u64 chunk)
{
	const struct spf_block_header *b = leaf;
	const struct spf_index_entry *e = spf_leaf_entries(leaf);
	u64 top_chunks = dev->layers[dev->nr_layers - 1].img.nr_chunks;
	unsigned int i, n = le16_to_cpu(b->count);
	struct spf_extent ext;
	u32 j;

	if ((u64)(dev->nr_layers - 1 - li) * n > SPF_FILL_MAX_TESTS)
		return;
	for (i = 0; i < n; i++) {
		u64 c = le64_to_cpu(e[i].chunk);

		if (c == chunk || c >= top_chunks || c > ULONG_MAX)
			continue;
		for (j = li + 1; j < dev->nr_layers; j++)
			if (spf_summary_test(dev->layers[j].summary, c))
				break;
		if (j < dev->nr_layers)
			continue;
		rcu_read_lock();
		j = !!xa_load(&dev->cache.xa, c);
		rcu_read_unlock();
		if (j)
			continue;
		spf_extent_from_entry(&e[i], li, leafno, i, &ext);
		spf_cache_add(&dev->cache, c, &ext);
	}
}

/*
 * Walk the chain from the top: the first layer with an entry decides.
 * Returns the layer that answered, nr_layers if none did, or an error.
 */
static int spf_chain_resolve(struct spf_device *dev, struct spf_ctx *ctx,
			     u64 chunk, struct spf_extent *ext)
{
	u32 i = dev->nr_layers;
	int ret;

	while (i--) {
		ret = spf_index_find(dev, ctx, i, chunk, ext);
		if (ret < 0) {
			ctx->err_layer = i;
			return ret;
		}
		if (ret)
			return i;
		if (!(i & 255))
			cond_resched();
	}
	memset(ext, 0, sizeof(*ext));
	ext->state = SPF_CHUNK_ZERO;
	ext->leaf = SPF_NO_LEAF;
	return dev->nr_layers;
}

int spf_extent_lookup(struct spf_device *dev, struct spf_ctx *ctx,
		      u64 chunk, struct spf_extent *ext)
{
	int ret;

	/* A chunk written since attach: its latest record, never cached. */
	if (dev->ovl && spf_overlay_lookup(dev, chunk, ext))
		return 0;
	if (spf_cache_get(&dev->cache, chunk, ext)) {
		/* Marked since it was cached?  Copy the mark for next time. */
		if (!ext->verified && spf_verified(dev, ext)) {
			ext->verified = true;
			spf_extent_verified(dev, chunk, ext);
		}
		return 0;
	}
	ret = spf_chain_resolve(dev, ctx, chunk, ext);
	if (ret < 0)
		return ret;
	ext->verified = spf_verified(dev, ext);
	spf_cache_add(&dev->cache, chunk, ext);
	if (ret < dev->nr_layers && dev->cache.max)
		spf_cache_fill(dev, ret, ctx->block, ext->leaf, chunk);
	return 0;
}

/*
 * @ext, the extent of @chunk, has its mark (verify.c): copy it into the
 * chunk's extent cache entry, so that later hits find it there without
 * looking at the marks.  Only an entry for the same stored bytes is
 * marked (the entry may have been evicted and replaced meanwhile); the
 * copy goes with the entry, the mark stays.  Lockless, like a hit.
 */
void spf_extent_verified(struct spf_device *dev, u64 chunk,
			 const struct spf_extent *ext)
{
	struct spf_cache_entry *e;

	if (chunk > ULONG_MAX)
		return;
	rcu_read_lock();
	e = xa_load(&dev->cache.xa, chunk);
	if (e && e->ext.layer == ext->layer &&
	    e->ext.offset == ext->offset && !READ_ONCE(e->verified))
		WRITE_ONCE(e->verified, true);
	rcu_read_unlock();
}
