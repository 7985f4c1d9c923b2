/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel version difference spfblk deals with, in one place.
 *
 * spfblk builds for Linux 6.1 and 6.12.  Each #if names the release that
 * changed the interface, so the code elsewhere has no version checks.
 */
#ifndef SPFBLK_COMPAT_H
#define SPFBLK_COMPAT_H

#include <linux/version.h>
#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/shrinker.h>

/* The one version test; every use says which release changed what. */
#define SPF_KERNEL_GE(major, minor) \
	(KERNEL_VERSION(major, minor, 0) <= LINUX_VERSION_CODE)

/* Implemented in device.c; the open/release adapters below call them. */
int spf_dev_open(struct gendisk *disk, bool probe);
void spf_dev_release(struct gendisk *disk);

/*
 * 6.14 removed BLK_MQ_F_SHOULD_MERGE: merging became the default for
 * every queue.  Before, a driver asked for it.
 */
#if !SPF_KERNEL_GE(6, 14)
#define SPF_TAG_SET_FLAGS	BLK_MQ_F_SHOULD_MERGE
#else
#define SPF_TAG_SET_FLAGS	0
#endif

/* The queue limits spfblk sets, whatever the kernel's way to set them. */
struct spf_limits {
	unsigned int logical_block_size;
	unsigned int physical_block_size;
	unsigned int max_hw_sectors;
	unsigned int max_segments;
	unsigned int io_opt;
	/* A writable device's; all zero for a read-only one. */
	bool write_cache;		/* volatile cache: flush and FUA */
	unsigned int discard_granularity;
	unsigned int max_discard_sectors;
	unsigned int max_write_zeroes_sectors;
};

/*
 * 6.9 made blk_mq_alloc_disk() take a struct queue_limits; before, the
 * limits were set on the queue afterwards, one setter each.  6.11 turned
 * the queue flags into lim.features, where "rotational" and "adds to the
 * entropy pool" are off unless set; 6.9 and 6.10 still need the flags.
 * 6.11 also made the write cache and FUA lim.features bits; before,
 * blk_queue_write_cache() set them.  Since 6.9 the discard limit is
 * lim.max_hw_discard_sectors; before, blk_queue_max_discard_sectors()
 * (the same for write zeroes).
 */
static inline struct gendisk *spf_alloc_disk(struct blk_mq_tag_set *set,
					     const struct spf_limits *l,
					     void *queuedata)
{
#if SPF_KERNEL_GE(6, 9)
	struct queue_limits lim = {
		.logical_block_size	= l->logical_block_size,
		.physical_block_size	= l->physical_block_size,
		.max_hw_sectors		= l->max_hw_sectors,
		.max_segments		= l->max_segments,
		.io_opt			= l->io_opt,
		.discard_granularity	= l->discard_granularity,
		.max_hw_discard_sectors	= l->max_discard_sectors,
		.max_write_zeroes_sectors = l->max_write_zeroes_sectors,
	};
	struct gendisk *disk;

#if SPF_KERNEL_GE(6, 11)
	if (l->write_cache)
		lim.features |= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA;
#endif
	disk = blk_mq_alloc_disk(set, &lim, queuedata);
#if !SPF_KERNEL_GE(6, 11)
	if (!IS_ERR(disk)) {
		blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
		blk_queue_flag_clear(QUEUE_FLAG_ADD_RANDOM, disk->queue);
		blk_queue_write_cache(disk->queue, l->write_cache,
				      l->write_cache);
	}
#endif
	return disk;
#else
	struct gendisk *disk;
	struct request_queue *q;

	disk = blk_mq_alloc_disk(set, queuedata);
	if (IS_ERR(disk))
		return disk;
	q = disk->queue;
	blk_queue_logical_block_size(q, l->logical_block_size);
	blk_queue_physical_block_size(q, l->physical_block_size);
	blk_queue_max_hw_sectors(q, l->max_hw_sectors);
	blk_queue_max_segments(q, l->max_segments);
	blk_queue_io_opt(q, l->io_opt);
	q->limits.discard_granularity = l->discard_granularity;
	blk_queue_max_discard_sectors(q, l->max_discard_sectors);
	blk_queue_max_write_zeroes_sectors(q, l->max_write_zeroes_sectors);
	blk_queue_write_cache(q, l->write_cache, l->write_cache);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
	blk_queue_flag_clear(QUEUE_FLAG_ADD_RANDOM, q);
	return disk;
#endif
}

/*
 * 6.5 changed block_device_operations: open() takes the gendisk and a
 * blk_mode_t, release() only the gendisk.  Before, open() took the
 * block_device and both took an fmode_t.  @probe is an O_NONBLOCK open,
 * as udev's probes are.
 */
#if SPF_KERNEL_GE(6, 5)
static inline int spf_bd_open(struct gendisk *disk, blk_mode_t mode)
{
	return spf_dev_open(disk, mode & BLK_OPEN_NDELAY);
}

static inline void spf_bd_release(struct gendisk *disk)
{
	spf_dev_release(disk);
}
#else
static inline int spf_bd_open(struct block_device *bdev, fmode_t mode)
{
	return spf_dev_open(bdev->bd_disk, mode & FMODE_NDELAY);
}

static inline void spf_bd_release(struct gendisk *disk, fmode_t mode)
{
	spf_dev_release(disk);
}
#endif

/*
 * 6.7 made shrinkers allocated objects (shrinker_alloc(), then
 * shrinker_register(), shrinker_free()) with a private_data pointer.
 * Since 6.0 and until then, the caller embedded the struct and called
 * register_shrinker(shrinker, name, ...).
 */
struct spf_shrinker {
#if SPF_KERNEL_GE(6, 7)
	struct shrinker *shrinker;
#else
	struct shrinker shrinker;
	void *private_data;
#endif
};

typedef unsigned long (*spf_shrink_fn)(struct shrinker *s,
				       struct shrink_control *sc);

static inline int spf_shrinker_register(struct spf_shrinker *sh,
					spf_shrink_fn count, spf_shrink_fn scan,
					void *private_data, const char *name)
{
#if SPF_KERNEL_GE(6, 7)
	sh->shrinker = shrinker_alloc(0, "spfblk-%s", name);
	if (!sh->shrinker)
		return -ENOMEM;
	sh->shrinker->count_objects = count;
	sh->shrinker->scan_objects = scan;
	sh->shrinker->private_data = private_data;
	shrinker_register(sh->shrinker);
	return 0;
#else
	sh->shrinker.count_objects = count;
	sh->shrinker.scan_objects = scan;
	sh->shrinker.seeks = DEFAULT_SEEKS;
	sh->private_data = private_data;
	return register_shrinker(&sh->shrinker, "spfblk-%s", name);
#endif
}

static inline void spf_shrinker_unregister(struct spf_shrinker *sh)
{
#if SPF_KERNEL_GE(6, 7)
	shrinker_free(sh->shrinker);
#else
	unregister_shrinker(&sh->shrinker);
#endif
}

static inline void *spf_shrinker_private(struct shrinker *s)
{
#if SPF_KERNEL_GE(6, 7)
	return s->private_data;
#else
	return container_of(s, struct spf_shrinker, shrinker)->private_data;
#endif
}

#endif /* SPFBLK_COMPAT_H */
