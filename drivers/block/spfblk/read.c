// SPDX-License-Identifier: GPL-2.0
/*
 * Reading the backing files, and writing the overlay.
 *
 * Through the VFS, so that images on any file system work: ext4, xfs,
 * tmpfs, 9p, NFS.  spf_read_at() reads into a buffer allocated at attach
 * (index blocks, stored chunks); spf_read_iter() reads straight into a
 * request's pages (plain raw chunks).
 * Each read uses its own position; the files' f_pos is never touched, so
 * many workers may read one file at once.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/uio.h>

#include "spfblk.h"

/*
 * Read exactly @len bytes at @pos.  Returns 0, -ENODATA if the file ends
 * first, or the file system's error.
 */
int spf_read_at(struct file *file, void *buf, size_t len, u64 pos)
{
	loff_t off = pos;
	ssize_t n;

	if (pos > LLONG_MAX || len > LLONG_MAX - pos)
		return -EINVAL;
	while (len) {
		n = kernel_read(file, buf, len, &off);
		if (n < 0)
			return n;
		if (!n)
			return -ENODATA;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Read exactly iov_iter_count(@iter) bytes at @pos into @iter (a bvec
 * iterator over a request's pages).  Returns 0, -ENODATA if the file ends
 * first, or the file system's error.
 */
int spf_read_iter(struct file *file, struct iov_iter *iter, u64 pos)
{
	size_t len = iov_iter_count(iter);
	loff_t off = pos;
	ssize_t n;

	if (pos > LLONG_MAX || len > LLONG_MAX - pos)
		return -EINVAL;
	while (iov_iter_count(iter)) {
		n = vfs_iter_read(file, iter, &off, 0);
		if (n < 0)
			return n;
		if (!n)
			return -ENODATA;
	}
	return 0;
}

/*
 * Write exactly @len bytes at @pos (the overlay).  Returns 0 or the file
 * system's error; a short write that makes no progress is -EIO.
 */
int spf_write_at(struct file *file, const void *buf, size_t len, u64 pos)
{
	loff_t off = pos;
	ssize_t n;

	if (pos > LLONG_MAX || len > LLONG_MAX - pos)
		return -EFBIG;
	while (len) {
		n = kernel_write(file, buf, len, &off);
		if (n < 0)
			return n;
		if (!n)
			return -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}
