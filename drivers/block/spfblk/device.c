// SPDX-License-Identifier: GPL-2.0
/*
 * The life of /dev/spfN: attach, open and release, detach, autoclear.
 *
 * A device is SETUP while attach builds it, LIVE once attach returns, and
 * DYING once a detach is committed, after which opens fail and exactly
 * one path, the detach ioctl or the autoclear work item, tears it down.
 *
 * Autoclear (attach flag, or a lazy detach of an open device) removes the
 * device when its open count drops to zero, but only once it has been
 * "armed" by an open that is not a probe: the kernel's partition scan
 * during attach and udev's O_NONBLOCK probes must not make a fresh
 * autoclear device vanish before its user opens it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spfblk.h>

#include "spfblk.h"

/*
 * Protects spf_idr, and makes the detach ioctl's look-up and its LIVE ->
 * DYING decision atomic against GET_INFO.  Taken before spf_device.lock,
 * never held across a gendisk open or release.
 */
static DEFINE_MUTEX(spf_ctl_mutex);
/* index -> spf_device; NULL while a device is being attached. */
static DEFINE_IDR(spf_idr);

static const struct block_device_operations spf_fops = {
	.owner		= THIS_MODULE,
	.open		= spf_bd_open,
	.release	= spf_bd_release,
};

/* Called by the block layer under disk->open_mutex, for the whole disk. */
int spf_dev_open(struct gendisk *disk, bool probe)
{
	struct spf_device *dev = disk->private_data;
	int ret = 0;

	mutex_lock(&dev->lock);
	if (dev->state == SPF_STATE_DYING) {
		ret = -ENXIO;
	} else {
		dev->open_count++;
		if (dev->state == SPF_STATE_LIVE && !probe)
			dev->armed = true;
	}
	mutex_unlock(&dev->lock);
	return ret;
}

/* Called by the block layer under disk->open_mutex, for the whole disk. */
void spf_dev_release(struct gendisk *disk)
{
	struct spf_device *dev = disk->private_data;
	bool clear = false;

	mutex_lock(&dev->lock);
	if (!--dev->open_count && dev->autoclear && dev->armed &&
	    dev->state == SPF_STATE_LIVE) {
		dev->state = SPF_STATE_DYING;
		clear = true;
	}
	mutex_unlock(&dev->lock);

	/* del_gendisk() takes open_mutex: not here, in a work item. */
	if (clear)
		queue_work(spf_ctl_wq, &dev->clear_work);
}

static int spf_index_alloc(struct spf_device *dev)
{
	int ret;

	mutex_lock(&spf_ctl_mutex);
	ret = idr_alloc(&spf_idr, NULL, 0, spf_config.max_devices,
			GFP_KERNEL);
	mutex_unlock(&spf_ctl_mutex);
	if (ret == -ENOSPC)
		pr_err("attach: all %u devices are in use (max_devices)\n",
		       spf_config.max_devices);
	if (ret < 0)
		return ret;
	dev->index = ret;
	return 0;
}

static void spf_index_free(int index)
{
	mutex_lock(&spf_ctl_mutex);
	idr_remove(&spf_idr, index);
	mutex_unlock(&spf_ctl_mutex);
}

static int spf_disk_create(struct spf_device *dev)
{
	struct blk_mq_tag_set *set = &dev->tag_set;
	struct spf_limits lim = {
		.logical_block_size	= SECTOR_SIZE,
		.physical_block_size	= min_t(u32, dev->chunk_size,
						PAGE_SIZE),
		.max_hw_sectors		= SPF_MAX_REQ_SECTORS,
		/*
		 * Nothing is DMA-mapped: any number of segments will do.
		 * Enough that a 1 MiB read is never split into requests
		 * that cut chunks, which would cost whole-chunk decodes.
		 */
		.max_segments		= SPF_MAX_REQ_SECTORS,
		.io_opt			= dev->chunk_size,
	};
	struct gendisk *disk;
	int ret;

	if (dev->ovl) {
		lim.write_cache = true;
		lim.discard_granularity = dev->chunk_size;
		lim.max_discard_sectors = SPF_MAX_ZERO_SECTORS;
		lim.max_write_zeroes_sectors = SPF_MAX_ZERO_SECTORS;
	}
	set->ops = &spf_mq_ops;
	set->nr_hw_queues = num_online_cpus();
	set->queue_depth = SPF_QUEUE_DEPTH;
	set->numa_node = NUMA_NO_NODE;
	set->cmd_size = sizeof(struct spf_cmd);
	set->flags = SPF_TAG_SET_FLAGS;
	set->driver_data = dev;
	ret = blk_mq_alloc_tag_set(set);
	if (ret)
		return ret;

	disk = spf_alloc_disk(set, &lim, dev);
	if (IS_ERR(disk)) {
		blk_mq_free_tag_set(set);
		return PTR_ERR(disk);
	}
	disk->major = spf_major;
	disk->first_minor = dev->index << SPF_PART_SHIFT;
	disk->minors = 1 << SPF_PART_SHIFT;
	disk->fops = &spf_fops;
	disk->private_data = dev;
	if (!dev->partscan)
		disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, SPF_DISK_NAME "%d",
		 dev->index);
	set_capacity(disk, dev->disk_size >> SECTOR_SHIFT);
	set_disk_ro(disk, !dev->ovl);
	dev->disk = disk;
	return 0;
}

static void spf_disk_destroy(struct spf_device *dev)
{
	put_disk(dev->disk);
	blk_mq_free_tag_set(&dev->tag_set);
}

/* Tear down a DYING device; its owner is the caller alone. */
static void spf_dev_remove(struct spf_device *dev)
{
	/* Drains the queue: no request is in flight afterwards. */
	del_gendisk(dev->disk);
	/* Waits for workers still looking for another request. */
	destroy_workqueue(dev->wq);
	spf_disk_destroy(dev);
	spf_chunk_cache_free(dev);
	spf_ctx_pool_free(dev);
	spf_cache_free(dev);
	spf_overlay_close(dev);		/* fsyncs the overlay */
	spf_chain_close(dev);
	pr_info("spf%d: detached\n", dev->index);
	spf_index_free(dev->index);
	kfree(dev);
	/* Last: module exit flushes spf_ctl_wq, so this work can return. */
	module_put(THIS_MODULE);
}

static void spf_clear_work(struct work_struct *work)
{
	spf_dev_remove(container_of(work, struct spf_device, clear_work));
}

static struct spf_device *spf_dev_alloc(u32 flags)
{
	struct spf_device *dev = kzalloc(sizeof(*dev), GFP_KERNEL);

	if (!dev)
		return NULL;
	mutex_init(&dev->lock);
	dev->state = SPF_STATE_SETUP;
	dev->autoclear = flags & SPF_ATTACH_F_AUTOCLEAR;
	dev->partscan = !(flags & SPF_ATTACH_F_NO_PARTSCAN);
	dev->verify = !(flags & SPF_ATTACH_F_NO_VERIFY);
	dev->verify_once = dev->verify && (flags & SPF_ATTACH_F_VERIFY_ONCE);
	dev->log_compress = flags & SPF_ATTACH_F_LOG_COMPRESS;
	INIT_WORK(&dev->clear_work, spf_clear_work);
	spin_lock_init(&dev->queue_lock);
	INIT_LIST_HEAD(&dev->queue);
	atomic64_set(&dev->corrupt_chunks, 0);
	atomic64_set(&dev->checks_skipped, 0);
	atomic64_set(&dev->verified_chunks, 0);
	atomic_long_set(&dev->mark_pages, 0);
	return dev;
}

int spf_dev_attach(const struct spf_attach *a, struct file **files,
		   struct file *overlay, const struct spf_layer_key *keys,
		   u32 *index)
{
	struct spf_device *dev;
	u64 budget;
	int ret;

	dev = spf_dev_alloc(a->flags);
	if (!dev)
		return -ENOMEM;
	ret = spf_index_alloc(dev);
	if (ret)
		goto out_free_dev;

	ret = spf_chain_open(dev, files, keys, a->nr_layers);
	if (ret)
		goto out_free_index;
	if (overlay) {
		ret = spf_overlay_open(dev, overlay,
				       keys ? &keys[a->nr_layers] : NULL);
		if (ret)
			goto out_close_chain;
	}

	budget = a->cache_bytes ?: (u64)spf_config.cache_mb << 20;
	ret = spf_cache_init(dev, budget);
	if (ret)
		goto out_close_chain;

	ret = spf_ctx_pool_init(dev);
	if (ret)
		goto out_free_cache;

	ret = spf_chunk_cache_init(dev);
	if (ret)
		goto out_free_pool;

	ret = -ENOMEM;
	dev->wq = alloc_workqueue(SPF_DISK_NAME "%d",
				  WQ_UNBOUND | WQ_MEM_RECLAIM, dev->nr_ctx,
				  dev->index);
	if (!dev->wq)
		goto out_free_chunks;

	ret = spf_disk_create(dev);
	if (ret)
		goto out_destroy_wq;

	ret = device_add_disk(NULL, dev->disk, spf_attr_groups);
	if (ret)
		goto out_destroy_disk;

	__module_get(THIS_MODULE);
	mutex_lock(&spf_ctl_mutex);
	idr_replace(&spf_idr, dev, dev->index);
	mutex_lock(&dev->lock);
	dev->state = SPF_STATE_LIVE;
	mutex_unlock(&dev->lock);
	mutex_unlock(&spf_ctl_mutex);

	pr_info("%s: attached %u layer%s, %llu bytes, %u-byte chunks%s%s\n",
		dev->disk->disk_name, dev->nr_layers,
		dev->nr_layers == 1 ? "" : "s", dev->disk_size,
		dev->chunk_size, dev->encrypted ? ", encrypted" : "",
		dev->ovl ? ", writable" : "");
	if (dev->ovl)
		pr_info("%s: overlay %s: %llu records, %llu bytes\n",
			dev->disk->disk_name, spf_ovl_layer(dev)->path,
			spf_overlay_records(dev), spf_overlay_bytes(dev));
	*index = dev->index;
	return 0;

out_destroy_disk:
	spf_disk_destroy(dev);
out_destroy_wq:
	destroy_workqueue(dev->wq);
out_free_chunks:
	spf_chunk_cache_free(dev);
out_free_pool:
	spf_ctx_pool_free(dev);
out_free_cache:
	spf_cache_free(dev);
out_close_chain:
	spf_overlay_close(dev);
	spf_chain_close(dev);
out_free_index:
	spf_index_free(dev->index);
out_free_dev:
	kfree(dev);
	return ret;
}

int spf_dev_detach(u32 index, u32 flags)
{
	struct spf_device *dev;
	bool remove = false;
	int ret = 0;

	mutex_lock(&spf_ctl_mutex);
	dev = idr_find(&spf_idr, index);
	if (!dev) {
		mutex_unlock(&spf_ctl_mutex);
		return -ENXIO;
	}
	mutex_lock(&dev->lock);
	if (dev->state != SPF_STATE_LIVE) {
		ret = -ENXIO;
	} else if (dev->open_count) {
		if (flags & SPF_DETACH_F_LAZY) {
			dev->autoclear = true;
			dev->armed = true;
		} else {
			ret = -EBUSY;
		}
	} else {
		dev->state = SPF_STATE_DYING;
		remove = true;
	}
	mutex_unlock(&dev->lock);
	mutex_unlock(&spf_ctl_mutex);

	if (remove)
		spf_dev_remove(dev);
	return ret;
}

int spf_dev_info(struct spf_info *info)
{
	struct spf_device *dev;
	int ret = 0;

	mutex_lock(&spf_ctl_mutex);
	dev = idr_find(&spf_idr, info->index);
	if (!dev) {
		ret = -ENXIO;
		goto out;
	}
	mutex_lock(&dev->lock);
	if (dev->state != SPF_STATE_LIVE)
		ret = -ENXIO;
	if (dev->autoclear)
		info->flags |= SPF_INFO_F_AUTOCLEAR;
	mutex_unlock(&dev->lock);
	if (ret)
		goto out;

	if (dev->partscan)
		info->flags |= SPF_INFO_F_PARTSCAN;
	if (!dev->verify)
		info->flags |= SPF_INFO_F_NO_VERIFY;
	if (dev->verify_once)
		info->flags |= SPF_INFO_F_VERIFY_ONCE;
	if (dev->log_compress)
		info->flags |= SPF_INFO_F_LOG_COMPRESS;
	if (dev->encrypted)
		info->flags |= SPF_INFO_F_ENCRYPTED;
	if (dev->ovl) {
		info->flags |= SPF_INFO_F_WRITABLE;
		info->overlay_bytes = spf_overlay_bytes(dev);
		info->overlay_records = spf_overlay_records(dev);
	}
	info->disk_size = dev->disk_size;
	info->nr_layers = dev->nr_layers;
	info->chunk_size = dev->chunk_size;
	info->cache_budget = dev->cache.budget;
	info->cache_bytes = spf_cache_bytes(&dev->cache);
	info->cache_hits = atomic64_read(&dev->cache.hits);
	info->cache_misses = atomic64_read(&dev->cache.misses);
	info->corrupt_chunks = atomic64_read(&dev->corrupt_chunks);
	memcpy(info->top_uuid, dev->layers[dev->nr_layers - 1].img.uuid,
	       sizeof(info->top_uuid));
out:
	mutex_unlock(&spf_ctl_mutex);
	return ret;
}
