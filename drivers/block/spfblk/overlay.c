// SPDX-License-Identifier: GPL-2.0
/*
 * The write-back overlay of a writable device (docs/format.md section 11).
 *
 * At attach the overlay file is checked like a layer, its header parsed
 * with the shared validator and linked to the top layer, and its records
 * replayed in order into the map (chunk -> latest record).  The first bad
 * record starts the torn tail, which is logged, cut off and fsynced away
 * before anything is appended.
 *
 * While the device lives, write.c appends one record at a time
 * (spf_overlay_append) and publishes it in the map; readers look the map
 * up before the chain (spf_extent_lookup), locklessly under RCU.  The
 * overlay is layers[nr_layers], so that an overlay extent reads, decodes
 * and reports errors like any layer's.
 *
 * Nothing in the file is trusted: every record is checked with
 * spf_check_log_record() and its stored bytes against the file size and
 * data_crc, and a record read back for its nonce is checked again.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <linux/spfblk.h>

#include "spfblk.h"

#define SPF_REC_SIZE	sizeof(struct spf_log_record)

/* Scratch space for opening and replaying the overlay. */
struct spf_ovl_scratch {
	struct spf_header hdr;
	struct spf_log_record rec;
	char path[PATH_MAX];
	struct spf_msg msg;
};

static __printf(2, 3) int spf_ovl_fail(struct spf_msg *msg,
					 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg->text, sizeof(msg->text), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* What the overlay file must be, before anything is read from it. */
static int spf_ovl_check_file(struct spf_device *dev, struct file *file,
			      struct spf_msg *msg)
{
	struct inode *inode = file_inode(file);
	u32 i;

	if (!S_ISREG(inode->i_mode))
		return spf_ovl_fail(msg, "not a regular file");
	if (!(file->f_mode & FMODE_READ) || !(file->f_mode & FMODE_WRITE) ||
	    !(file->f_mode & FMODE_CAN_READ) ||
	    !(file->f_mode & FMODE_CAN_WRITE))
		return spf_ovl_fail(msg,
				    "descriptor not open for reading and writing (O_RDWR)");
	if (file->f_flags & O_APPEND)
		return spf_ovl_fail(msg, "descriptor opened with O_APPEND");
	if (file->f_flags & O_DIRECT)
		return spf_ovl_fail(msg, "descriptor opened with O_DIRECT");
	for (i = 0; i < dev->nr_layers; i++)
		if (file_inode(dev->layers[i].file) == inode)
			return spf_ovl_fail(msg, "the overlay is layer %u's file",
					    i);
	return 0;
}

/* Record @r (at @pos, @len stored bytes at @pos + 64) into the map. */
static int spf_ovl_map_set(struct spf_device *dev, u64 chunk,
			   const struct spf_extent *ext, gfp_t gfp)
{
	struct spf_overlay *o = dev->ovl;
	struct spf_ovl_entry *e, *old;

	e = kmalloc(sizeof(*e), gfp);
	if (!e)
		return -ENOMEM;
	e->ext = *ext;
	old = xa_store(&o->map, chunk, e, gfp);
	if (xa_is_err(old)) {
		kfree(e);
		return xa_err(old);
	}
	if (old)
		kfree_rcu(old, rcu);
	return 0;
}

static void spf_ovl_extent(const struct spf_log_record *r, u32 layer,
			   u64 pos, struct spf_extent *ext)
{
	memset(ext, 0, sizeof(*ext));
	ext->state = r->state;
	ext->layer = layer;
	ext->leaf = SPF_NO_LEAF;		/* no index entry: never marked */
	if (r->state == SPF_CHUNK_ZERO)
		return;
	ext->offset = pos + SPF_REC_SIZE;
	ext->length = le32_to_cpu(r->length);
	ext->crc = le32_to_cpu(r->data_crc);
}

/*
 * Replay every record from offset 4096 into the map; cut off the torn
 * tail.  Bounded by the file size; a fatal signal interrupts it.
 */
static int spf_ovl_replay(struct spf_device *dev, struct spf_layer *l,
			  struct spf_ovl_scratch *s)
{
	struct spf_overlay *o = dev->ovl;
	u64 size = i_size_read(file_inode(l->file));
	u64 pos = SPF_HEADER_SIZE, seq = 1;
	u32 max = spf_max_stored_len(&l->img);
	struct spf_extent ext;
	u8 *data;
	int ret = 0;
	long err;

	data = kvmalloc(max, GFP_KERNEL);
	if (!data)
		return -ENOMEM;
	s->msg.text[0] = '\0';
	while (pos < size) {
		u32 len;

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out;
		}
		if (size - pos < SPF_REC_SIZE) {
			strscpy(s->msg.text, "the file ends inside a record",
				sizeof(s->msg.text));
			break;
		}
		ret = spf_read_at(l->file, &s->rec, SPF_REC_SIZE, pos);
		if (ret) {
			snprintf(s->msg.text, sizeof(s->msg.text),
				 "read error %d at offset %llu", ret, pos);
			goto out;
		}
		if (spf_check_log_record(&l->img, &s->rec, seq, &s->msg))
			break;
		len = le32_to_cpu(s->rec.length);
		if (len > size - pos - SPF_REC_SIZE) {
			strscpy(s->msg.text,
				"the record's stored bytes run past the end of the file",
				sizeof(s->msg.text));
			break;
		}
		if (len > max) {	/* spf_check_log_record() forbids it */
			strscpy(s->msg.text, "record too long",
				sizeof(s->msg.text));
			break;
		}
		if (len) {
			ret = spf_read_at(l->file, data, len,
					  pos + SPF_REC_SIZE);
			if (ret) {
				snprintf(s->msg.text, sizeof(s->msg.text),
					 "read error %d at offset %llu", ret,
					 pos + SPF_REC_SIZE);
				goto out;
			}
			if (spf_crc32c(data, len) !=
			    le32_to_cpu(s->rec.data_crc)) {
				strscpy(s->msg.text,
					"stored bytes do not match the record's data_crc",
					sizeof(s->msg.text));
				break;
			}
		}
		spf_ovl_extent(&s->rec, dev->nr_layers, pos, &ext);
		ret = spf_ovl_map_set(dev, le64_to_cpu(s->rec.chunk), &ext,
				      GFP_KERNEL);
		if (ret)
			goto out;
		atomic64_inc(&o->records);
		pos += SPF_REC_SIZE + len;
		seq++;
		cond_resched();
	}
	o->tail = pos;
	o->next_seq = seq;
	if (pos == size)
		goto out;

	pr_warn("spf%d: OVERLAY: dropped torn tail of %llu bytes after record %llu (offset %llu): %s\n",
		dev->index, size - pos, seq - 1, pos, s->msg.text);
	err = vfs_truncate(&l->file->f_path, pos);
	if (!err)
		err = vfs_fsync(l->file, 0);
	if (err) {
		ret = err;
		snprintf(s->msg.text, sizeof(s->msg.text),
			 "cannot cut off the torn tail at offset %llu (%d)",
			 pos, ret);
	}
out:
	kvfree(data);
	return ret;
}

/*
 * Open the overlay @file of a device whose chain is open: check it, parse
 * its header, link it to the top layer, check its key (@key, may be NULL)
 * and replay it.  Each refusal logs one line naming the overlay.
 */
int spf_overlay_open(struct spf_device *dev, struct file *file,
		     const struct spf_layer_key *key)
{
	struct spf_layer *l = spf_ovl_layer(dev);
	const struct spf_image *top = &dev->layers[dev->nr_layers - 1].img;
	struct spf_ovl_scratch *s;
	struct spf_overlay *o;
	u64 size;
	size_t len;
	int ret;
	u32 i;

	s = kvzalloc(sizeof(*s), GFP_KERNEL);
	o = kzalloc(sizeof(*o), GFP_KERNEL);
	if (!s || !o) {
		kvfree(s);
		kfree(o);
		return -ENOMEM;
	}
	xa_init(&o->map);
	mutex_init(&o->append_lock);
	for (i = 0; i < SPF_OVL_CHUNK_LOCKS; i++)
		mutex_init(&o->chunk_lock[i]);
	atomic64_set(&o->records, 0);
	dev->ovl = o;

	ret = -ENOMEM;
	l->path = spf_file_path(file, s->path);
	if (!l->path)
		goto out;
	ret = spf_ovl_check_file(dev, file, &s->msg);
	if (ret)
		goto out;
	l->file = get_file(file);

	size = i_size_read(file_inode(file));
	len = min_t(u64, size, SPF_HEADER_SIZE);
	ret = spf_read_at(file, &s->hdr, len, 0);
	if (ret) {
		snprintf(s->msg.text, sizeof(s->msg.text), "read error %d",
			 ret);
		goto out;
	}
	ret = spf_parse_overlay_header(&s->hdr, len, size, &l->img, &s->msg);
	if (ret)
		goto out;
	ret = spf_check_link(&l->img, top, &s->msg);
	if (ret)
		goto out;
	if (l->img.disk_size != top->disk_size) {
		ret = spf_ovl_fail(&s->msg,
				   "disk size %llu differs from the top layer's %llu",
				   l->img.disk_size, top->disk_size);
		goto out;
	}
	if (l->img.nr_chunks - 1 > ULONG_MAX) {
		ret = spf_ovl_fail(&s->msg, "too many chunks for this kernel");
		goto out;
	}
	ret = spf_layer_key_init(dev, l, &s->hdr, key ? key->key : NULL,
				 "the overlay", &s->msg);
	if (ret)
		goto out;
	ret = spf_ovl_replay(dev, l, s);
	if (ret)
		goto out;
	dev->codecs |= BIT(l->img.codec);
out:
	if (ret && s->msg.text[0])
		pr_err("attach: overlay (%s): %s\n", l->path ?: "?",
		       s->msg.text);
	kvfree(s);
	if (ret)
		spf_overlay_close(dev);
	return ret;
}

/*
 * Free the map; fsync the overlay if it is open.  The file itself is
 * closed with the layers (spf_chain_close).  No reader or writer is left.
 */
void spf_overlay_close(struct spf_device *dev)
{
	struct spf_overlay *o = dev->ovl;
	struct spf_layer *l = spf_ovl_layer(dev);
	struct spf_ovl_entry *e;
	unsigned long index;
	int ret;

	if (!o)
		return;
	if (l->file) {
		ret = vfs_fsync(l->file, 0);
		if (ret)
			pr_err("spf%d: OVERLAY: %s: fsync failed (%d)\n",
			       dev->index, l->path, ret);
	}
	xa_for_each(&o->map, index, e)
		kfree(e);
	xa_destroy(&o->map);
	kfree(o);
	dev->ovl = NULL;
}

/* The extent of @chunk's latest record, if it has one.  Never sleeps. */
bool spf_overlay_lookup(struct spf_device *dev, u64 chunk,
			struct spf_extent *ext)
{
	struct spf_ovl_entry *e;

	rcu_read_lock();
	e = xa_load(&dev->ovl->map, chunk);
	if (e)
		*ext = e->ext;
	rcu_read_unlock();
	return e;
}

/*
 * The nonce of the encrypted record whose stored bytes @ext describes:
 * its record header, read back from just before them and checked again.
 */
int spf_overlay_nonce(struct spf_device *dev, struct spf_ctx *ctx,
		      u64 chunk, const struct spf_extent *ext, u8 *nonce)
{
	struct spf_log_record *r = (struct spf_log_record *)ctx->block;
	int ret;

	if (ext->offset < SPF_HEADER_SIZE + SPF_REC_SIZE)
		return -EUCLEAN;
	ret = spf_read_at(spf_ovl_layer(dev)->file, r, SPF_REC_SIZE,
			  ext->offset - SPF_REC_SIZE);
	if (ret)
		return ret;
	if (le32_to_cpu(r->magic) != SPF_LOG_MAGIC ||
	    le32_to_cpu(r->crc) != spf_log_record_crc(r) ||
	    le64_to_cpu(r->chunk) != chunk || r->state != ext->state ||
	    le32_to_cpu(r->length) != ext->length ||
	    le32_to_cpu(r->data_crc) != ext->crc)
		return -EUCLEAN;
	memcpy(nonce, r->nonce, SPF_GCM_NONCE_LEN);
	return 0;
}

/*
 * Append the record of @chunk, whose @len stored bytes are @data (none for
 * a zero record), and publish it in the map.  The caller holds
 * @chunk's lock.  The map slot is reserved first, so that publishing
 * after the write cannot fail; that reservation is the only allocation a
 * write makes, and it is GFP_NOIO (workers run in a memalloc_noio scope):
 * a new chunk's map entry cannot be preallocated, since how many chunks
 * get written is unbounded, and a failure only fails this write.
 */
int spf_overlay_append(struct spf_device *dev, struct spf_ctx *ctx,
		       u64 chunk, u8 state, const void *data, u32 len,
		       const u8 *nonce)
{
	struct spf_overlay *o = dev->ovl;
	struct spf_layer *l = spf_ovl_layer(dev);
	struct spf_log_record *r = (struct spf_log_record *)ctx->block;
	struct spf_ovl_entry *e, *old;
	u64 pos;
	int ret;

	e = kmalloc(sizeof(*e), GFP_NOIO);
	if (!e)
		return -ENOMEM;
	ret = xa_reserve(&o->map, chunk, GFP_NOIO);
	if (ret) {
		kfree(e);
		return ret;
	}

	memset(r, 0, SPF_REC_SIZE);
	r->magic = cpu_to_le32(SPF_LOG_MAGIC);
	r->state = state;
	r->chunk = cpu_to_le64(chunk);
	r->length = cpu_to_le32(len);
	if (len)
		r->data_crc = cpu_to_le32(spf_crc32c(data, len));
	if (nonce)
		memcpy(r->nonce, nonce, SPF_GCM_NONCE_LEN);

	mutex_lock(&o->append_lock);
	if (o->broken) {
		ret = -EIO;
		goto out_unlock;
	}
	r->seq = cpu_to_le64(o->next_seq);
	r->crc = cpu_to_le32(spf_log_record_crc(r));
	pos = o->tail;
	ret = spf_write_at(l->file, r, SPF_REC_SIZE, pos);
	if (!ret && len)
		ret = spf_write_at(l->file, data, len, pos + SPF_REC_SIZE);
	if (ret) {
		/*
		 * Part of the record may be in the file: appending after
		 * it, or over it, could leave stale bytes that pass for a
		 * record.  Refuse every further write instead; the
		 * next attach cuts the tail off.
		 */
		o->broken = true;
		pr_err("spf%d: OVERLAY: %s: write error %d at offset %llu: further writes fail\n",
		       dev->index, l->path, ret, pos);
		goto out_unlock;
	}
	o->tail = pos + SPF_REC_SIZE + len;
	o->next_seq++;
	mutex_unlock(&o->append_lock);

	spf_ovl_extent(r, dev->nr_layers, pos, &e->ext);
	old = xa_store(&o->map, chunk, e, GFP_NOIO);	/* reserved */
	if (WARN_ON_ONCE(xa_is_err(old))) {
		kfree(e);
		return xa_err(old);
	}
	if (old)
		kfree_rcu(old, rcu);
	atomic64_inc(&o->records);
	return 0;

out_unlock:
	mutex_unlock(&o->append_lock);
	xa_release(&o->map, chunk);
	kfree(e);
	return ret;
}

/* Make every completed append durable: a flush or a FUA write. */
int spf_overlay_sync(struct spf_device *dev)
{
	return vfs_fsync(spf_ovl_layer(dev)->file, 1);
}

u64 spf_overlay_bytes(struct spf_device *dev)
{
	struct spf_overlay *o = dev->ovl;
	u64 tail;

	if (!o)
		return 0;
	mutex_lock(&o->append_lock);
	tail = o->tail;
	mutex_unlock(&o->append_lock);
	return tail;
}

u64 spf_overlay_records(struct spf_device *dev)
{
	return dev->ovl ? atomic64_read(&dev->ovl->records) : 0;
}
