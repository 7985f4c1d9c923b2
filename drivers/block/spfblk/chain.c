// SPDX-License-Identifier: GPL-2.0
/*
 * Opening a chain at attach: every layer's header, trailer, summary and
 * index root block is read and checked with the shared validator, each
 * layer is checked to be the child of the one below, and each encrypted
 * layer's key is checked.
 *
 * Nothing from user space is trusted: the file descriptors only say which
 * files to read.  Each refusal returns the validator's errno and logs one
 * line naming the layer, its file and the reason.  Below the root, the
 * index is not read here; index.c reads it block by block when a chunk is
 * needed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/string_helpers.h>

#include <linux/spfblk.h>

#include "spfblk.h"

/* Scratch space for one layer's checks. */
struct spf_chain_scratch {
	struct spf_header hdr;
	u8 trailer[SPF_TRAILER_SIZE];
	u8 block[SPF_BLOCK_SIZE];	/* the index root */
	char path[PATH_MAX];
	struct spf_msg msg;
};

/*
 * The file's path now, for sysfs and the log.  A newline or backslash in
 * it becomes an octal escape (\012, \134), as in /proc/mounts, so the
 * path stays one line.
 */
char *spf_file_path(struct file *file, char *buf)
{
	const char *p = file_path(file, buf, PATH_MAX);
	const unsigned int flags = ESCAPE_OCTAL;
	const char *only = "\n\\";
	char *out;
	int len;

	if (IS_ERR(p))
		p = "(unknown)";
	len = string_escape_str(p, NULL, 0, flags, only);
	out = kmalloc(len + 1, GFP_KERNEL);
	if (!out)
		return NULL;
	string_escape_str(p, out, len, flags, only);
	out[len] = '\0';
	return out;
}

/* What the backing file must be, before anything is read from it. */
static int spf_check_file(struct file *file, struct spf_msg *msg)
{
	if (!S_ISREG(file_inode(file)->i_mode)) {
		strscpy(msg->text, "not a regular file", sizeof(msg->text));
		return -EINVAL;
	}
	if (!(file->f_mode & FMODE_READ) || !(file->f_mode & FMODE_CAN_READ)) {
		strscpy(msg->text, "descriptor not open for reading",
			sizeof(msg->text));
		return -EBADF;
	}
	if (file->f_mode & FMODE_WRITE) {
		strscpy(msg->text, "descriptor open for writing; pass a read-only one",
			sizeof(msg->text));
		return -EINVAL;
	}
	if (file->f_flags & O_DIRECT) {
		strscpy(msg->text, "descriptor opened with O_DIRECT",
			sizeof(msg->text));
		return -EINVAL;
	}
	return 0;
}

/* Read and check one layer's header, trailer, summary and index root. */
static int spf_layer_load(struct spf_layer *l, struct spf_chain_scratch *s)
{
	u64 size = i_size_read(file_inode(l->file));
	size_t len = min_t(u64, size, SPF_HEADER_SIZE);
	int ret;

	memset(&s->hdr, 0, sizeof(s->hdr));
	ret = spf_read_at(l->file, &s->hdr, len, 0);
	if (ret)
		goto out_io;
	ret = spf_parse_header(&s->hdr, len, size, &l->img, &s->msg);
	if (ret)
		return ret;

	memset(s->trailer, 0, sizeof(s->trailer));
	if (size >= SPF_HEADER_SIZE + SPF_TRAILER_SIZE) {
		ret = spf_read_at(l->file, s->trailer, SPF_TRAILER_SIZE,
				  size - SPF_TRAILER_SIZE);
		if (ret)
			goto out_io;
	}
	ret = spf_parse_trailer(&s->hdr, s->trailer, &l->img, &s->msg);
	if (ret)
		return ret;

	l->summary = kmalloc(sizeof(*l->summary), GFP_KERNEL);
	if (!l->summary)
		return -ENOMEM;
	ret = spf_read_at(l->file, l->summary, SPF_BLOCK_SIZE,
			  l->img.summary_offset);
	if (ret)
		goto out_io;
	ret = spf_check_summary(&l->img, l->summary, &s->msg);
	if (ret || !l->img.nr_entries)
		return ret;

	/* One block, so that an image with a corrupt index is refused now. */
	ret = spf_read_at(l->file, s->block, SPF_BLOCK_SIZE,
			  l->img.index_root);
	if (ret)
		goto out_io;
	return spf_check_block(&l->img, s->block, l->img.index_root,
			       l->img.index_levels - 1, SPF_ANY_FIRST,
			       l->img.nr_chunks - 1, l->img.index_root_crc,
			       &s->msg);

out_io:
	snprintf(s->msg.text, sizeof(s->msg.text), "read error %d", ret);
	return ret;
}

/*
 * The key of @l, whose header is @hdr: checked against the header's key
 * check and set up for an encrypted layer, refused for a plain one (all
 * zero is no key).  @what names the layer in @msg ("layer 3", "the
 * overlay").  Used for the chain's layers and for the overlay.
 */
int spf_layer_key_init(struct spf_device *dev, struct spf_layer *l,
		       const struct spf_header *hdr, const u8 *key,
		       const char *what, struct spf_msg *msg)
{
	bool have_key = key && memchr_inv(key, 0, SPF_KEY_SIZE);
	int ret;

	if (!l->img.encrypted) {
		if (!have_key)
			return 0;
		snprintf(msg->text, sizeof(msg->text),
			 "%s is plain, but a key was given", what);
		return -EINVAL;
	}
	if (!have_key) {
		snprintf(msg->text, sizeof(msg->text),
			 "%s is encrypted and no key was given", what);
		return -ENOKEY;
	}
	ret = spf_crypt_layer_init(l, key, hdr->crypt.key_check, msg);
	if (ret == -EKEYREJECTED)
		snprintf(msg->text, sizeof(msg->text), "wrong key for %s", what);
	if (ret)
		return ret;
	dev->aead_reqsize = max_t(unsigned int, dev->aead_reqsize,
				  spf_crypt_reqsize(l));
	dev->encrypted = true;
	return 0;
}

static int spf_layer_open(struct spf_device *dev, u32 i, struct file *file,
			  const struct spf_layer_key *keys,
			  struct spf_chain_scratch *s)
{
	struct spf_layer *l = &dev->layers[i];
	char what[20];		/* "layer 4294967295" */
	int ret;

	l->path = spf_file_path(file, s->path);
	if (!l->path)
		return -ENOMEM;
	ret = spf_check_file(file, &s->msg);
	if (ret)
		return ret;
	l->file = get_file(file);

	ret = spf_layer_load(l, s);
	if (ret)
		return ret;

	if (i == 0 && l->img.depth) {
		snprintf(s->msg.text, sizeof(s->msg.text),
			 "the chain must start with a full image, not an incremental of depth %u",
			 l->img.depth);
		return -ENOLINK;
	}
	if (i > 0) {
		ret = spf_check_link(&l->img, &dev->layers[i - 1].img,
				     &s->msg);
		if (ret)
			return ret;
	}
	snprintf(what, sizeof(what), "layer %u", i);
	ret = spf_layer_key_init(dev, l, &s->hdr, keys ? keys[i].key : NULL,
				 what, &s->msg);
	if (ret)
		return ret;
	dev->codecs |= BIT(l->img.codec);
	return 0;
}

int spf_chain_open(struct spf_device *dev, struct file **files,
		   const struct spf_layer_key *keys, u32 nr_layers)
{
	struct spf_chain_scratch *s;
	const struct spf_image *top;
	int ret = 0;
	u32 i;

	s = kvzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	/* One more for the overlay of a writable device (overlay.c). */
	dev->layers = kvcalloc(nr_layers + 1, sizeof(*dev->layers),
			       GFP_KERNEL);
	if (!dev->layers) {
		kvfree(s);
		return -ENOMEM;
	}
	dev->nr_layers = nr_layers;
	for (i = 0; i <= nr_layers; i++)
		spf_marks_init(&dev->layers[i]);

	for (i = 0; i < nr_layers; i++) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		s->msg.text[0] = '\0';
		ret = spf_layer_open(dev, i, files[i], keys, s);
		if (ret) {
			if (s->msg.text[0])
				pr_err("attach: layer %u (%s): %s\n", i,
				       dev->layers[i].path ?: "?", s->msg.text);
			break;
		}
		cond_resched();
	}
	kvfree(s);
	if (ret) {
		spf_chain_close(dev);
		return ret;
	}

	top = &dev->layers[nr_layers - 1].img;
	dev->chunk_shift = top->chunk_shift;
	dev->chunk_size = top->chunk_size;
	dev->disk_size = top->disk_size;
	return 0;
}

void spf_chain_close(struct spf_device *dev)
{
	u32 i;

	if (!dev->layers)
		return;
	for (i = 0; i <= dev->nr_layers; i++) {
		struct spf_layer *l = &dev->layers[i];

		spf_crypt_layer_free(l);
		spf_marks_free(l);
		kfree(l->summary);
		if (l->file)
			fput(l->file);
		kfree(l->path);
	}
	kvfree(dev->layers);
	dev->layers = NULL;
	dev->nr_layers = 0;
}
