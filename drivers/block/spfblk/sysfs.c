// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/block/spfN/spf/: what a device maps, and how its cache does.
 *
 * One value per file.  The per-layer lists (backing_files, uuids, codecs)
 * have one line per layer, the full image first; they are binary
 * attributes only so that a deep chain is not cut at PAGE_SIZE.  No key
 * is ever shown.  docs/sysfs-ABI.md documents every file.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "spfblk.h"

static struct spf_device *spf_sysfs_dev(struct device *d)
{
	return dev_to_disk(d)->private_data;
}

#define SPF_ATTR_U64(_name, _expr)					\
static ssize_t _name##_show(struct device *d,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct spf_device *dev = spf_sysfs_dev(d);			\
									\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)(_expr));	\
}									\
static DEVICE_ATTR_RO(_name)

SPF_ATTR_U64(nr_layers, dev->nr_layers);
SPF_ATTR_U64(chunk_size, dev->chunk_size);
SPF_ATTR_U64(encrypted, dev->encrypted);
SPF_ATTR_U64(partscan, dev->partscan);
SPF_ATTR_U64(verify, dev->verify);
SPF_ATTR_U64(verify_once, dev->verify_once);
SPF_ATTR_U64(checks_skipped, atomic64_read(&dev->checks_skipped));
SPF_ATTR_U64(verified_chunks, atomic64_read(&dev->verified_chunks));
SPF_ATTR_U64(verified_bytes, spf_marks_bytes(dev));
SPF_ATTR_U64(log_compress, dev->log_compress);
SPF_ATTR_U64(autoclear, READ_ONCE(dev->autoclear));
SPF_ATTR_U64(cache_budget, dev->cache.budget);
SPF_ATTR_U64(cache_bytes, spf_cache_bytes(&dev->cache));
SPF_ATTR_U64(cache_hits, atomic64_read(&dev->cache.hits));
SPF_ATTR_U64(cache_misses, atomic64_read(&dev->cache.misses));
SPF_ATTR_U64(corrupt_chunks, atomic64_read(&dev->corrupt_chunks));
SPF_ATTR_U64(chunk_cache_bytes, spf_chunk_cache_bytes(dev));
SPF_ATTR_U64(chunk_cache_hits, atomic64_read(&dev->chunks.hits));
SPF_ATTR_U64(chunk_cache_misses, atomic64_read(&dev->chunks.misses));
SPF_ATTR_U64(writable, !!dev->ovl);
SPF_ATTR_U64(overlay_bytes, spf_overlay_bytes(dev));
SPF_ATTR_U64(overlay_records, spf_overlay_records(dev));

/* The overlay's path at attach (escaped like backing_files); empty if none. */
static ssize_t overlay_show(struct device *d, struct device_attribute *attr,
			    char *buf)
{
	struct spf_device *dev = spf_sysfs_dev(d);

	if (!dev->ovl)
		return sysfs_emit(buf, "\n");
	return sysfs_emit(buf, "%s\n", spf_ovl_layer(dev)->path);
}
static DEVICE_ATTR_RO(overlay);

/* The top image's uuid: the chain's identity, for udev's by-id links. */
static ssize_t uuid_show(struct device *d, struct device_attribute *attr,
			 char *buf)
{
	struct spf_device *dev = spf_sysfs_dev(d);

	return sysfs_emit(buf, "%pUb\n",
			  dev->layers[dev->nr_layers - 1].img.uuid);
}
static DEVICE_ATTR_RO(uuid);

/* One layer's line, without the newline, in @tmp or pointing elsewhere. */
typedef const char *(*spf_line_fn)(const struct spf_layer *l, char *tmp,
				   size_t size);

static const char *spf_line_path(const struct spf_layer *l, char *tmp,
				 size_t size)
{
	return l->path;
}

static const char *spf_line_uuid(const struct spf_layer *l, char *tmp,
				 size_t size)
{
	snprintf(tmp, size, "%pUb", l->img.uuid);
	return tmp;
}

static const char *spf_line_codec(const struct spf_layer *l, char *tmp,
				  size_t size)
{
	return spf_codec_name(l->img.codec);
}

/* Read [@off, @off + @count) of the text "line(0)\nline(1)\n...". */
static ssize_t spf_layer_list_read(struct kobject *kobj, char *buf,
				   loff_t off, size_t count, spf_line_fn fn)
{
	struct spf_device *dev = spf_sysfs_dev(kobj_to_dev(kobj));
	loff_t pos = 0;
	size_t done = 0;
	char tmp[48];
	u32 i;

	for (i = 0; i < dev->nr_layers && done < count; i++) {
		const char *line = fn(&dev->layers[i], tmp, sizeof(tmp));
		size_t len = strlen(line) + 1, skip, n;

		if (pos + len <= off) {
			pos += len;
			continue;
		}
		skip = off > pos ? off - pos : 0;
		n = min(len - skip, count - done);
		if (skip + n == len) {		/* ends with the newline */
			memcpy(buf + done, line + skip, n - 1);
			buf[done + n - 1] = '\n';
		} else {
			memcpy(buf + done, line + skip, n);
		}
		done += n;
		pos += len;
		off = pos;
	}
	return done;
}

#define SPF_LIST_ATTR(_name, _fn)					\
static ssize_t _name##_read(struct file *file, struct kobject *kobj,	\
			    struct bin_attribute *attr, char *buf,	\
			    loff_t off, size_t count)			\
{									\
	return spf_layer_list_read(kobj, buf, off, count, _fn);		\
}									\
static BIN_ATTR_RO(_name, 0)

SPF_LIST_ATTR(backing_files, spf_line_path);
SPF_LIST_ATTR(uuids, spf_line_uuid);
SPF_LIST_ATTR(codecs, spf_line_codec);

static struct attribute *spf_attrs[] = {
	&dev_attr_nr_layers.attr,
	&dev_attr_chunk_size.attr,
	&dev_attr_encrypted.attr,
	&dev_attr_partscan.attr,
	&dev_attr_verify.attr,
	&dev_attr_verify_once.attr,
	&dev_attr_checks_skipped.attr,
	&dev_attr_verified_chunks.attr,
	&dev_attr_verified_bytes.attr,
	&dev_attr_log_compress.attr,
	&dev_attr_autoclear.attr,
	&dev_attr_cache_budget.attr,
	&dev_attr_cache_bytes.attr,
	&dev_attr_cache_hits.attr,
	&dev_attr_cache_misses.attr,
	&dev_attr_corrupt_chunks.attr,
	&dev_attr_chunk_cache_bytes.attr,
	&dev_attr_chunk_cache_hits.attr,
	&dev_attr_chunk_cache_misses.attr,
	&dev_attr_uuid.attr,
	&dev_attr_writable.attr,
	&dev_attr_overlay.attr,
	&dev_attr_overlay_bytes.attr,
	&dev_attr_overlay_records.attr,
	NULL,
};

static struct bin_attribute *spf_bin_attrs[] = {
	&bin_attr_backing_files,
	&bin_attr_uuids,
	&bin_attr_codecs,
	NULL,
};

static const struct attribute_group spf_attr_group = {
	.name		= "spf",
	.attrs		= spf_attrs,
	.bin_attrs	= spf_bin_attrs,
};

const struct attribute_group *spf_attr_groups[] = {
	&spf_attr_group,
	NULL,
};
