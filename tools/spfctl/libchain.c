// SPDX-License-Identifier: GPL-2.0
/*
 * Images and chains: open, validate, discover parents, walk the index,
 * resolve chunks, unlock keys.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "libchain.h"
#include "libcodec.h"

/* ---- one image ---- */

__printf(3, 4)
static int why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return 0;
}

void layer_close(struct spf_layer *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	OPENSSL_cleanse(&l->keys, sizeof(l->keys));
	free(l->hdr);
	free(l->sum);
	free(l->path);
	free(l);
}

static int layer_read_trailer(struct spf_layer *l, char *why, size_t len)
{
	struct spf_trailer *t = xzalloc(sizeof(*t));
	struct spf_msg msg;
	u64 size = l->img.file_size;
	int ret = 0;

	if (size >= SPF_TRAILER_SIZE)
		ret = pread_exact(l->fd, t, sizeof(*t), size - sizeof(*t));
	if (ret) {
		why_set(why, len, "cannot read trailer: %s", io_strerror(ret));
		free(t);
		return ret < 0 && ret != IO_SHORT ? ret : -EIO;
	}
	ret = spf_parse_trailer(l->hdr, t, &l->img, &msg);
	free(t);
	if (ret)
		why_set(why, len, "%s", msg.text);
	return ret;
}

static int layer_read_summary(struct spf_layer *l, char *why, size_t len)
{
	struct spf_msg msg;
	int ret;

	l->sum = xmalloc(sizeof(*l->sum));
	ret = pread_exact(l->fd, l->sum, sizeof(*l->sum),
			  l->img.summary_offset);
	if (ret) {
		why_set(why, len, "cannot read summary: %s", io_strerror(ret));
		return -EIO;
	}
	ret = spf_check_summary(&l->img, l->sum, &msg);
	if (ret)
		why_set(why, len, "%s", msg.text);
	return ret;
}

/* The index root, so that a corrupt index is refused when opening. */
static int layer_check_root(struct spf_layer *l, char *why, size_t len)
{
	struct spf_msg msg;
	u8 *blk;
	int ret;

	if (!l->img.nr_entries)
		return 0;
	blk = xmalloc(SPF_BLOCK_SIZE);
	ret = pread_exact(l->fd, blk, SPF_BLOCK_SIZE, l->img.index_root);
	if (ret) {
		why_set(why, len, "cannot read index root: %s",
			io_strerror(ret));
		free(blk);
		return -EIO;
	}
	ret = spf_check_block(&l->img, blk, l->img.index_root,
			      l->img.index_levels - 1, SPF_ANY_FIRST,
			      l->img.nr_chunks - 1, l->img.index_root_crc, &msg);
	if (ret)
		why_set(why, len, "%s", msg.text);
	free(blk);
	return ret;
}

static int layer_read_header(struct spf_layer *l, char *why, size_t len)
{
	struct spf_msg msg;
	struct stat st;
	u64 size;
	ssize_t n;
	int ret;

	if (fstat(l->fd, &st))
		return why_set(why, len, "cannot stat: %s", strerror(errno)),
		       -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		why_set(why, len, "not a regular file or block device");
		return -EINVAL;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	ret = fd_size(l->fd, &size);
	if (ret) {
		why_set(why, len, "cannot get size: %s", strerror(-ret));
		return ret;
	}
	l->hdr = xzalloc(sizeof(*l->hdr));
	n = pread_full(l->fd, l->hdr, sizeof(*l->hdr), 0);
	if (n < 0) {
		why_set(why, len, "cannot read header: %s", strerror(-n));
		return n;
	}
	ret = spf_parse_header(l->hdr, n, size, &l->img, &msg);
	if (ret)
		why_set(why, len, "%s", msg.text);
	return ret;
}

int layer_open(const char *path, unsigned int flags, struct spf_layer **out,
	       char *why, size_t why_len)
{
	struct spf_layer *l = xzalloc(sizeof(*l));
	int ret;

	*out = NULL;
	l->path = xstrdup(path);
	/* O_NONBLOCK: a FIFO under an image's name must not hang us. */
	l->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (l->fd < 0) {
		ret = -errno;
		why_set(why, why_len, "cannot open: %s", strerror(errno));
		goto fail;
	}
	ret = layer_read_header(l, why, why_len);
	if (!ret && fcntl(l->fd, F_SETFL, 0)) {
		ret = -errno;
		why_set(why, why_len, "cannot open: %s", strerror(errno));
	}
	if (ret)
		goto fail;
	ret = layer_read_trailer(l, why, why_len);
	if (!ret)
		ret = layer_read_summary(l, why, why_len);
	if (!ret)
		ret = layer_check_root(l, why, why_len);
	if (ret && (flags & LAYER_HEADER_ONLY)) {
		*out = l;
		return ret;
	}
	if (ret)
		goto fail;
	*out = l;
	return 0;
fail:
	layer_close(l);
	return ret;
}

/* ---- discovery ---- */

struct cand {
	char *path;
	u8 uuid[16];
	u8 link_uuid[16];
	u8 link_seal[SPF_SEAL_LEN];
	bool consolidated;
};

struct finder {
	char **files;			/* --chain files, or NULL */
	unsigned int nr_files;
	char *dir;			/* directory scanned into @cands */
	struct cand *cands;
	size_t nr_cands;
};

static void finder_clear(struct finder *f)
{
	size_t i;

	for (i = 0; i < f->nr_cands; i++)
		free(f->cands[i].path);
	free(f->cands);
	free(f->dir);
	f->cands = NULL;
	f->nr_cands = 0;
	f->dir = NULL;
}

static void cand_add(struct finder *f, const struct spf_layer *l)
{
	struct cand *c;

	f->cands = xrealloc(f->cands, (f->nr_cands + 1) * sizeof(*c));
	c = &f->cands[f->nr_cands++];
	c->path = xstrdup(l->path);
	memcpy(c->uuid, l->img.uuid, 16);
	memcpy(c->link_uuid, l->img.link_uuid, 16);
	memcpy(c->link_seal, l->img.link_seal, SPF_SEAL_LEN);
	c->consolidated = l->img.consolidated;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_spf_magic(const char *path)
{
	char magic[SPF_MAGIC_LEN];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	bool ok;

	if (fd < 0)
		return false;
	ok = pread_exact(fd, magic, sizeof(magic), 0) == 0 &&
	     !memcmp(magic, SPF_MAGIC, SPF_MAGIC_LEN);
	close(fd);
	return ok;
}

/* Every sealed SPF image in @dir, in name order. */
static void finder_scan(struct finder *f, const char *dir)
{
	char why[256], **names = NULL;
	size_t i, n = 0;
	struct dirent *d;
	DIR *dp;

	if (f->dir && !strcmp(f->dir, dir))
		return;
	finder_clear(f);
	f->dir = xstrdup(dir);
	dp = opendir(dir);
	if (!dp)
		return;
	while ((d = readdir(dp))) {
		if (d->d_type != DT_REG && d->d_type != DT_UNKNOWN &&
		    d->d_type != DT_LNK)
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(d->d_name);
	}
	closedir(dp);
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		char *path = path_join(dir, names[i]);
		struct stat st;
		struct spf_layer *l;

		if (!stat(path, &st) && S_ISREG(st.st_mode) &&
		    has_spf_magic(path) && !layer_open(path, 0, &l, why,
						       sizeof(why))) {
			cand_add(f, l);
			layer_close(l);
		}
		free(path);
		free(names[i]);
	}
	free(names);
}

/* The --chain files; each must be a valid image. */
static int finder_load_files(struct finder *f)
{
	struct spf_layer *l;
	char why[256];
	unsigned int i;

	for (i = 0; i < f->nr_files; i++) {
		if (layer_open(f->files[i], 0, &l, why, sizeof(why))) {
			err_msg(f->files[i], "%s", why);
			return -1;
		}
		cand_add(f, l);
		layer_close(l);
	}
	return 0;
}

static bool is_link_of(const struct spf_image *child, const u8 *uuid,
		       const u8 *seal)
{
	return !memcmp(child->parent_uuid, uuid, 16) &&
	       !memcmp(child->parent_seal, seal, SPF_SEAL_LEN);
}

/* The best candidate: exact link identity; a consolidated one first. */
static const struct cand *finder_match(const struct finder *f,
				       const struct spf_image *child,
				       const struct cand **same_uuid)
{
	const struct cand *best = NULL;
	size_t i;

	*same_uuid = NULL;
	for (i = 0; i < f->nr_cands; i++) {
		const struct cand *c = &f->cands[i];

		if (!is_link_of(child, c->link_uuid, c->link_seal)) {
			if (!memcmp(child->parent_uuid, c->link_uuid, 16) &&
			    !*same_uuid)
				*same_uuid = c;
			continue;
		}
		if (!best || (c->consolidated && !best->consolidated))
			best = c;
	}
	return best;
}

static void report_missing(const struct spf_layer *child, const char *dir,
			   bool files);

/*
 * A parent that is not the right one: say why, via spf_check_link().  A
 * file under the parent's name that is no SPF image at all means the
 * parent is missing: say that first, then what the file is.
 */
static void report_wrong_parent(const struct spf_layer *child,
				const char *path, const char *dir, bool files)
{
	struct spf_layer *p;
	struct spf_msg msg;
	char why[256];

	if (layer_open(path, 0, &p, why, sizeof(why))) {
		report_missing(child, dir, files);
		err_msg(path, "%s", why);
		return;
	}
	if (spf_check_link(&child->img, &p->img, &msg))
		err_msg(child->path, "parent %s: %s", path, msg.text);
	else
		err_msg(child->path, "parent %s does not match", path);
	layer_close(p);
}

static void report_missing(const struct spf_layer *child, const char *dir,
			   bool files)
{
	char *hint = str_printable(child->hdr->parent_name);
	char uuid[37], *where;

	uuid_format(child->img.parent_uuid, uuid);
	where = files ? xstrdup("among the --chain files") :
			xasprintf("in %s", dir);
	if (hint[0])
		err_msg(child->path,
			"missing parent: no image with uuid %s (hint \"%s\") %s",
			uuid, hint, where);
	else
		err_msg(child->path, "missing parent: no image with uuid %s %s",
			uuid, where);
	free(where);
	free(hint);
}

static bool hint_usable(const char *name)
{
	return name[0] && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..");
}

/* Try the parent_name hint.  1: found (*out), 0: not it, -1: reported. */
static int try_hint(const struct spf_layer *child, const char *dir,
		    struct spf_layer **out, char **bad_hint)
{
	const char *name = child->hdr->parent_name;
	struct spf_layer *l;
	char why[256], *path;
	int ret;

	*bad_hint = NULL;
	if (!hint_usable(name))
		return 0;
	path = path_join(dir, name);
	ret = layer_open(path, 0, &l, why, sizeof(why));
	if (!ret && is_link_of(&child->img, l->img.link_uuid,
			       l->img.link_seal)) {
		*out = l;
		free(path);
		return 1;
	}
	if (!ret || ret != -ENOENT)
		*bad_hint = path;	/* exists but is not the parent */
	else
		free(path);
	layer_close(l);
	return 0;
}

static struct spf_layer *open_cand(const struct cand *c)
{
	struct spf_layer *l;
	char why[256];

	if (layer_open(c->path, 0, &l, why, sizeof(why))) {
		err_msg(c->path, "%s", why);
		return NULL;
	}
	return l;
}

/* Find and open @child's parent, or print why not. */
static struct spf_layer *find_parent(struct finder *f,
				     const struct spf_layer *child)
{
	const struct cand *match, *same_uuid;
	struct spf_layer *l = NULL;
	char *dir = NULL, *bad_hint = NULL;

	if (!f->files) {
		dir = path_dirname(child->path);
		if (try_hint(child, dir, &l, &bad_hint) == 1)
			goto out;
		finder_scan(f, dir);
	}
	match = finder_match(f, &child->img, &same_uuid);
	if (match) {
		l = open_cand(match);
		goto out;
	}
	if (bad_hint)
		report_wrong_parent(child, bad_hint, dir, f->files);
	else if (same_uuid)
		report_wrong_parent(child, same_uuid->path, dir, f->files);
	else
		report_missing(child, dir, f->files);
out:
	free(bad_hint);
	free(dir);
	return l;
}

/* A small open-addressing set of uuids, for cycle detection. */
struct uuid_set {
	u8 (*v)[16];
	size_t cap, n;
};

static size_t uuid_hash(const u8 *u, size_t cap)
{
	u64 h;

	memcpy(&h, u, sizeof(h));
	return (h * 0x9e3779b97f4a7c15ULL) >> 7 & (cap - 1);
}

/* Add @u; false if it was already there. */
static bool uuid_set_add(struct uuid_set *s, const u8 *u)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct uuid_set big = { .cap = s->cap ? s->cap * 2 : 64 };

		big.v = xzalloc(big.cap * 16);
		for (i = 0; i < s->cap; i++)
			if (!uuid_is_zero(s->v[i]))
				uuid_set_add(&big, s->v[i]);
		free(s->v);
		*s = big;
	}
	for (i = uuid_hash(u, s->cap); !uuid_is_zero(s->v[i]);
	     i = (i + 1) & (s->cap - 1))
		if (!memcmp(s->v[i], u, 16))
			return false;
	memcpy(s->v[i], u, 16);
	s->n++;
	return true;
}

static void chain_push(struct spf_chain *c, struct spf_layer *l)
{
	if (!(c->n & (c->n - 1)) || !c->n)
		c->layer = xrealloc(c->layer,
				    MAX(c->n * 2, 1U) * sizeof(*c->layer));
	c->layer[c->n++] = l;
	if (l->img.encrypted)
		c->any_encrypted = true;
}

static int chain_link(struct spf_chain *c, struct uuid_set *seen,
		      struct spf_layer *child, struct spf_layer *p)
{
	struct spf_msg msg;
	char uuid[37];

	if (!uuid_set_add(seen, p->img.uuid)) {
		uuid_format(p->img.uuid, uuid);
		err_msg(child->path,
			"chain loops back to %s (uuid %s): cycle in the chain",
			p->path, uuid);
		return -1;
	}
	if (spf_check_link(&child->img, &p->img, &msg)) {
		err_msg(child->path, "parent %s: %s", p->path, msg.text);
		return -1;
	}
	if (c->n > SPF_MAX_DEPTH) {
		err_msg(child->path, "chain is deeper than %u images",
			SPF_MAX_DEPTH + 1);
		return -1;
	}
	return 0;
}

static void chain_reverse(struct spf_chain *c)
{
	unsigned int i;

	for (i = 0; i < c->n / 2; i++) {
		struct spf_layer *t = c->layer[i];

		c->layer[i] = c->layer[c->n - 1 - i];
		c->layer[c->n - 1 - i] = t;
	}
}

struct spf_chain *chain_open(const char *top, char **files,
			     unsigned int nr_files)
{
	struct spf_chain *c = xzalloc(sizeof(*c));
	struct finder f = { .files = nr_files ? files : NULL,
			    .nr_files = nr_files };
	struct uuid_set seen = { 0 };
	struct spf_layer *l, *p;
	char why[256];

	if (layer_open(top, 0, &l, why, sizeof(why))) {
		err_msg(top, "%s", why);
		goto fail;
	}
	chain_push(c, l);
	uuid_set_add(&seen, l->img.uuid);
	if (f.files && finder_load_files(&f))
		goto fail;
	while (l->img.depth) {
		p = find_parent(&f, l);
		if (!p)
			goto fail;
		chain_push(c, p);
		if (chain_link(c, &seen, l, p))
			goto fail;
		l = p;
	}
	chain_reverse(c);
	finder_clear(&f);
	free(seen.v);
	return c;
fail:
	finder_clear(&f);
	free(seen.v);
	chain_close(c);
	return NULL;
}

void chain_close(struct spf_chain *c)
{
	unsigned int i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		layer_close(c->layer[i]);
	free(c->layer);
	free(c);
}

/* ---- keys ---- */

static void unlock_report(const struct spf_layer *l, int ret)
{
	switch (ret) {
	case -EKEYREJECTED:
		err_msg(l->path, "cannot unlock: wrong passphrase");
		break;
	case -EUCLEAN:
		err_msg(l->path,
			"cannot unlock: key check failed (corrupt header)");
		break;
	default:
		err_sys(l->path, ret, "cannot unlock");
		break;
	}
}

int layer_unlock(struct spf_layer *l, const struct pass *pass)
{
	int ret;

	if (!l->img.encrypted || l->unlocked)
		return 0;
	ret = keys_unwrap(l->hdr, pass, &l->keys);
	if (ret) {
		unlock_report(l, ret);
		return ret;
	}
	l->unlocked = true;
	return 0;
}

static int chain_unlock_all(struct spf_chain *c, const struct pass *pass)
{
	unsigned int i;

	for (i = c->n; i-- > 0;)
		if (layer_unlock(c->layer[i], pass))
			return -1;
	return 0;
}

/* The encrypted layer asked about first: the topmost. */
static struct spf_layer *first_encrypted(struct spf_chain *c)
{
	unsigned int i;

	for (i = c->n; i-- > 0;)
		if (c->layer[i]->img.encrypted)
			return c->layer[i];
	return NULL;
}

static int unlock(struct spf_chain *c, const char *key_file, bool optional,
		  struct pass *keep);

int chain_unlock(struct spf_chain *c, const char *key_file, bool optional)
{
	return unlock(c, key_file, optional, NULL);
}

int chain_unlock_keep(struct spf_chain *c, const char *key_file,
		      struct pass *keep)
{
	memset(keep, 0, sizeof(*keep));
	return unlock(c, key_file, false, keep);
}

static int unlock(struct spf_chain *c, const char *key_file, bool optional,
		  struct pass *keep)
{
	struct spf_layer *l = first_encrypted(c);
	bool prompt = !key_file;
	int tries = prompt ? 3 : 1, ret;
	struct pass pass;

	if (!l)
		return 0;
	if (optional && prompt && !isatty(STDIN_FILENO))
		return 1;
	for (;;) {
		if (optional && prompt)
			ret = pass_get_optional(l->path, &pass);
		else
			ret = pass_get(key_file, l->path, false, &pass);
		if (ret)
			return ret > 0 ? 1 : -1;
		ret = keys_unwrap(l->hdr, &pass, &l->keys);
		if (!ret || ret != -EKEYREJECTED || !--tries)
			break;
		err_msg(l->path, "wrong passphrase, try again");
		pass_free(&pass);
	}
	if (ret)
		unlock_report(l, ret);
	else
		l->unlocked = true;
	if (!ret)
		ret = chain_unlock_all(c, &pass);
	if (!ret && keep)
		*keep = pass;
	else
		pass_free(&pass);
	return ret ? -1 : 0;
}

/* ---- index walk ---- */

void idx_init(struct idx_cursor *c, const struct spf_layer *l)
{
	int i;

	c->l = l;
	c->levels = l->img.index_levels;
	c->eof = false;
	for (i = 0; i < SPF_MAX_INDEX_LEVELS; i++) {
		c->lv[i].count = 0;
		c->lv[i].pos = 0;
		if (i < c->levels && !c->lv[i].blk)
			c->lv[i].blk = xmalloc(SPF_BLOCK_SIZE);
	}
}

void idx_release(struct idx_cursor *c)
{
	int i;

	for (i = 0; i < SPF_MAX_INDEX_LEVELS; i++) {
		free(c->lv[i].blk);
		c->lv[i].blk = NULL;
	}
}

static int idx_fail(struct idx_cursor *c, const char *fmt, ...) __printf(2, 3);
static int idx_fail(struct idx_cursor *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return -1;
}

static int idx_load(struct idx_cursor *c, int level, u64 off, u64 first,
		    u64 limit, u32 crc)
{
	const struct spf_image *img = &c->l->img;
	struct idx_level *lv = &c->lv[level];
	struct spf_msg msg;
	int ret;

	lv->count = 0;
	lv->pos = 0;
	ret = pread_exact(c->l->fd, lv->blk, SPF_BLOCK_SIZE, off);
	if (ret)
		return idx_fail(c, "index block at %llu: cannot read: %s",
				(unsigned long long)off, io_strerror(ret));
	if (c->seen) {
		u64 b = (off - img->index_offset) / SPF_BLOCK_SIZE;

		if (off >= img->index_offset && b < img->index_blocks) {
			if (c->seen[b / 8] & (1U << (b % 8)))
				return idx_fail(c, "index block at %llu is referenced twice",
						(unsigned long long)off);
			c->seen[b / 8] |= 1U << (b % 8);
			c->blocks_seen++;
		}
	}
	ret = spf_check_block(img, lv->blk, off, level, first, limit, crc,
			      &msg);
	if (ret)
		return idx_fail(c, "%s", msg.text);
	lv->offset = off;
	lv->limit = limit;
	lv->count = le16_to_cpu(((struct spf_block_header *)lv->blk)->count);
	return 0;
}

static u64 idx_child_limit(const struct idx_cursor *c, int level, int i)
{
	const struct idx_level *lv = &c->lv[level];
	const struct spf_node_entry *e = spf_node_entries(lv->blk);

	if (i + 1 < lv->count)
		return le64_to_cpu(e[i + 1].first_chunk) - 1;
	return lv->limit;
}

static int idx_load_child(struct idx_cursor *c, int level)
{
	const struct idx_level *lv = &c->lv[level];
	const struct spf_node_entry *e = &spf_node_entries(lv->blk)[lv->pos];

	return idx_load(c, level - 1, le64_to_cpu(e->offset),
			le64_to_cpu(e->first_chunk),
			idx_child_limit(c, level, lv->pos),
			le32_to_cpu(e->crc));
}

/* A subtree failed to load: report it (verify) or fail. */
static int idx_bad(struct idx_cursor *c, int level)
{
	int i;

	if (!c->skip_bad)
		return -1;
	if (c->report)
		c->report(c, c->why);
	for (i = 0; i <= level; i++)
		c->lv[i].count = 0;
	return 0;
}

static int leaf_lower_bound(const void *leaf, int count, u64 chunk)
{
	const struct spf_index_entry *e = spf_leaf_entries(leaf);
	int lo = 0, hi = count;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (le64_to_cpu(e[mid].chunk) < chunk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int idx_seek(struct idx_cursor *c, u64 chunk)
{
	const struct spf_image *img = &c->l->img;
	int level = c->levels - 1;
	u64 limit;
	int i;

	c->eof = !c->levels;
	if (c->eof)
		return 0;
	if (idx_load(c, level, img->index_root, SPF_ANY_FIRST,
		     img->nr_chunks - 1, img->index_root_crc)) {
		if (idx_bad(c, level))
			return -1;
		c->eof = true;
		return 0;
	}
	for (; level > 0; level--) {
		i = spf_node_find(c->lv[level].blk, chunk, c->lv[level].limit,
				  &limit);
		c->lv[level].pos = i < 0 ? 0 : i;
		if (idx_load_child(c, level))
			return idx_bad(c, level - 1);
	}
	c->lv[0].pos = leaf_lower_bound(c->lv[0].blk, c->lv[0].count, chunk);
	return 0;
}

/* Move to the next leaf.  1: moved, 0: end of the index, -1: error. */
static int idx_next_leaf(struct idx_cursor *c)
{
	int level = 1;

	while (level < c->levels &&
	       c->lv[level].pos + 1 >= c->lv[level].count)
		level++;
	if (level >= c->levels) {
		c->eof = true;
		return 0;
	}
	c->lv[level].pos++;
	for (; level > 0; level--) {
		if (idx_load_child(c, level))
			return idx_bad(c, level - 1) ? -1 : 1;
	}
	return 1;
}

int idx_next(struct idx_cursor *c, const struct spf_index_entry **e)
{
	struct idx_level *leaf = &c->lv[0];
	int ret;

	for (;;) {
		if (c->eof)
			return 0;
		if (leaf->pos < leaf->count) {
			*e = &spf_leaf_entries(leaf->blk)[leaf->pos++];
			return 1;
		}
		ret = idx_next_leaf(c);
		if (ret <= 0)
			return ret;
	}
}

/* ---- chunk resolution ---- */

static bool summary_any(const struct spf_summary *s, u64 first, u64 end)
{
	u32 shift = le32_to_cpu(s->region_shift);
	u64 r;

	for (r = first >> shift; r <= (end - 1) >> shift; r++)
		if (spf_summary_test(s, r << shift))
			return true;
	return false;
}

static int resolve_layer(struct spf_chain *c, struct idx_cursor *cur,
			 unsigned int li, u64 first, u64 end,
			 struct spf_res *out, u32 *remaining)
{
	struct spf_layer *l = c->layer[li];
	const struct spf_index_entry *e;
	int ret;

	idx_init(cur, l);
	cur->skip_bad = false;
	cur->seen = NULL;
	if (idx_seek(cur, first))
		goto fail;
	while ((ret = idx_next(cur, &e)) == 1) {
		u64 chunk = le64_to_cpu(e->chunk);
		struct spf_res *r;

		if (chunk >= end)
			break;
		r = &out[chunk - first];
		if (r->state)
			continue;
		r->state = e->state;
		r->layer = li;
		r->offset = le64_to_cpu(e->offset);
		r->length = le32_to_cpu(e->length);
		r->crc = le32_to_cpu(e->crc);
		memcpy(r->digest, e->digest, SPF_DIGEST_LEN);
		if (!--*remaining)
			break;
	}
	if (ret >= 0)
		return 0;
fail:
	err_msg(l->path, "%s", cur->why);
	return -1;
}

int chain_resolve(struct spf_chain *c, struct idx_cursor *cur, u64 first,
		  u32 count, struct spf_res *out)
{
	u32 remaining = count;
	unsigned int li;

	memset(out, 0, count * sizeof(*out));
	for (li = c->n; li-- > 0 && remaining;) {
		struct spf_layer *l = c->layer[li];
		u64 end = MIN(first + count, l->img.nr_chunks);

		if (first >= end || !l->img.nr_entries ||
		    !summary_any(l->sum, first, end))
			continue;
		if (resolve_layer(c, cur, li, first, end, out, &remaining))
			return -1;
	}
	return 0;
}

/* ---- chunk data ---- */

int chunk_load(const struct spf_layer *l, u64 chunk, u8 state, u64 off,
	       u32 len, u32 crc, u8 *rbuf, u8 *dst, struct codec_ws *cw,
	       struct crypt_ws *xw, const char **why, int *err)
{
	const struct spf_image *img = &l->img;
	bool direct = state == SPF_CHUNK_RAW && !img->encrypted;
	u8 *buf = direct ? dst : rbuf;
	int ret;

	*err = 0;
	ret = pread_exact(l->fd, buf, len, off);
	if (ret) {
		*why = "cannot read";
		*err = ret;
		return -1;
	}
	if (spf_crc32c(buf, len) != crc) {
		*why = "checksum mismatch (corrupt data)";
		return -1;
	}
	if (img->encrypted) {
		if (!l->unlocked)
			return 1;
		if (chunk_decrypt(xw, l->keys.data, img->uuid, chunk, buf,
				  len)) {
			*why = "authentication failed (corrupt or tampered data)";
			return -1;
		}
		len -= SPF_GCM_TAG_LEN;
	}
	if (state == SPF_CHUNK_COMPRESSED)
		return codec_decompress(cw, img->codec, buf, len, dst,
					img->chunk_size, why) ? -1 : 0;
	if (len != img->chunk_size) {
		*why = "raw chunk has the wrong length";
		return -1;
	}
	if (!direct)
		memcpy(dst, buf, len);
	return 0;
}

void raise_nofile_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}
