// SPDX-License-Identifier: GPL-2.0
/*
 * The image writer; see libwriter.h for the layout and
 * docs/format.md for the conventions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libchain.h"
#include "libwriter.h"

#define OUT_BUF_SIZE		(4U << 20)
#define LEAF_SPOOL_MEM		(32U << 20)
#define DATA_SPOOL_MEM		(64U << 20)
#define SPOOL_BUF_SIZE		(1U << 20)

/* ---- output ---- */

static void out_init(struct out *o, int fd, const char *name)
{
	o->fd = fd;
	o->name = name;
	o->cap = OUT_BUF_SIZE;
	o->buf = xmalloc(o->cap);
	o->len = 0;
	o->pos = 0;
}

static int out_flush(struct out *o)
{
	int ret;

	if (!o->len)
		return 0;
	ret = write_full(o->fd, o->buf, o->len);
	if (ret) {
		err_sys(o->name, ret, "write failed");
		return ret;
	}
	o->len = 0;
	return 0;
}

static int out_write(struct out *o, const void *p, size_t len)
{
	int ret;

	o->pos += len;
	if (o->len + len <= o->cap) {
		memcpy(o->buf + o->len, p, len);
		o->len += len;
		return 0;
	}
	ret = out_flush(o);
	if (ret)
		return ret;
	if (len >= o->cap) {
		ret = write_full(o->fd, p, len);
		if (ret)
			err_sys(o->name, ret, "write failed");
		return ret;
	}
	memcpy(o->buf, p, len);
	o->len = len;
	return 0;
}

/* ---- spool ---- */

static void spool_init(struct spool *s, const char *dir, size_t limit)
{
	memset(s, 0, sizeof(*s));
	s->dir = dir;
	s->limit = limit;
	s->fd = -1;
}

static int spool_tmpfile(struct spool *s)
{
	char *tmpl;
	int fd;

	fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	tmpl = xasprintf("%s/.spfctl-spool.XXXXXX", s->dir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd >= 0)
		unlink(tmpl);
	else
		err_sys(s->dir, errno, "cannot create a temporary file");
	free(tmpl);
	return fd;
}

static int spool_spill(struct spool *s)
{
	int ret;

	if (s->fd < 0) {
		s->fd = spool_tmpfile(s);
		if (s->fd < 0)
			return -1;
	}
	ret = write_full(s->fd, s->mem, s->len);
	if (ret) {
		err_sys(s->dir, ret, "cannot write a temporary file");
		return ret;
	}
	s->len = 0;
	return 0;
}

static int spool_write(struct spool *s, const void *p, size_t len)
{
	s->total += len;
	if (s->fd < 0 && s->len + len > s->limit && spool_spill(s))
		return -1;
	if (s->fd >= 0) {
		if (s->cap < SPOOL_BUF_SIZE) {
			s->cap = SPOOL_BUF_SIZE;
			s->mem = xrealloc(s->mem, s->cap);
		}
		if (s->len + len > s->cap && spool_spill(s))
			return -1;
		if (len > s->cap) {
			int ret = write_full(s->fd, p, len);

			if (ret)
				err_sys(s->dir, ret,
					"cannot write a temporary file");
			return ret;
		}
	} else if (s->len + len > s->cap) {
		s->cap = MAX(s->cap * 2, s->len + len);
		s->cap = MAX(s->cap, (size_t)65536);
		s->mem = xrealloc(s->mem, s->cap);
	}
	memcpy(s->mem + s->len, p, len);
	s->len += len;
	return 0;
}

/* Copy everything spooled to @o, in order. */
static int spool_drain(struct spool *s, struct out *o)
{
	u64 off = 0;
	int ret;

	if (s->fd < 0)
		return out_write(o, s->mem, s->len);
	if (s->len && spool_spill(s))
		return -1;
	ret = out_flush(o);
	if (ret)
		return ret;
	while (off < s->total) {
		size_t n = MIN((u64)o->cap, s->total - off);

		ret = pread_exact(s->fd, o->buf, n, off);
		if (ret) {
			err_sys(s->dir, ret, "cannot read a temporary file");
			return -1;
		}
		o->len = n;
		ret = out_flush(o);
		if (ret)
			return ret;
		off += n;
	}
	o->pos += s->total;
	return 0;
}

static void spool_free(struct spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->mem);
	s->fd = -1;
	s->mem = NULL;
}

/* ---- summary bits: kept at the finest shift that fits, folded later ---- */

static void bits_fold(struct spf_writer *w)
{
	u8 *half = xzalloc(SPF_SUMMARY_BYTES);
	u64 r;

	for (r = 0; r < SPF_SUMMARY_BITS; r++)
		if (w->bits[r / 8] & (1U << (r % 8)))
			half[r / 2 / 8] |= 1U << (r / 2 % 8);
	free(w->bits);
	w->bits = half;
	w->bits_shift++;
}

static void bits_mark(struct spf_writer *w, u64 chunk)
{
	u64 r;

	while ((chunk >> w->bits_shift) >= SPF_SUMMARY_BITS)
		bits_fold(w);
	r = chunk >> w->bits_shift;
	w->bits[r / 8] |= 1U << (r % 8);
}

/* ---- index ---- */

static void block_header(void *blk, u32 magic, u16 level, u16 count,
			 u64 first, u64 last)
{
	struct spf_block_header *b = blk;

	b->magic = cpu_to_le32(magic);
	b->level = cpu_to_le16(level);
	b->count = cpu_to_le16(count);
	b->first_chunk = cpu_to_le64(first);
	b->last_chunk = cpu_to_le64(last);
	b->reserved = 0;
	b->crc = 0;
	b->crc = cpu_to_le32(spf_block_crc(blk));
}

static int leaf_flush(struct spf_writer *w)
{
	const struct spf_index_entry *e = spf_leaf_entries(w->leaf);
	struct blkref *ref;
	u64 first, last;

	if (!w->leaf_count)
		return 0;
	first = le64_to_cpu(e[0].chunk);
	last = le64_to_cpu(e[w->leaf_count - 1].chunk);
	block_header(w->leaf, SPF_LEAF_MAGIC, 0, w->leaf_count, first, last);
	if (w->nr_refs == w->refs_cap) {
		w->refs_cap = MAX(w->refs_cap * 2, (size_t)64);
		w->refs = xrealloc(w->refs, w->refs_cap * sizeof(*w->refs));
	}
	ref = &w->refs[w->nr_refs++];
	ref->first = first;
	ref->last = last;
	ref->offset = w->leaves.total;
	ref->crc = le32_to_cpu(((struct spf_block_header *)w->leaf)->crc);
	if (spool_write(&w->leaves, w->leaf, SPF_BLOCK_SIZE))
		return -1;
	memset(w->leaf, 0, SPF_BLOCK_SIZE);
	w->leaf_count = 0;
	return 0;
}

/*
 * Write one node level above @refs (offsets relative to @base); replace
 * @refs with the new level's references.
 */
static int write_node_level(struct spf_writer *w, u16 level,
			    struct blkref **refs, size_t *nr, u64 base)
{
	size_t n = (*nr + SPF_NODE_ENTRIES - 1) / SPF_NODE_ENTRIES, i, j;
	struct blkref *up = xzalloc(n * sizeof(*up));
	u8 *blk = xmalloc(SPF_BLOCK_SIZE);
	int ret = 0;

	for (i = 0; i < n && !ret; i++) {
		size_t start = i * SPF_NODE_ENTRIES;
		size_t count = MIN((size_t)SPF_NODE_ENTRIES, *nr - start);
		struct spf_node_entry *e =
			(struct spf_node_entry *)spf_node_entries(blk);

		memset(blk, 0, SPF_BLOCK_SIZE);
		for (j = 0; j < count; j++) {
			const struct blkref *r = &(*refs)[start + j];

			e[j].first_chunk = cpu_to_le64(r->first);
			e[j].offset = cpu_to_le64(base + r->offset);
			e[j].crc = cpu_to_le32(r->crc);
		}
		block_header(blk, SPF_NODE_MAGIC, level, count,
			     (*refs)[start].first,
			     (*refs)[start + count - 1].last);
		up[i].first = (*refs)[start].first;
		up[i].last = (*refs)[start + count - 1].last;
		up[i].offset = w->out.pos - base;
		up[i].crc = le32_to_cpu(((struct spf_block_header *)blk)->crc);
		ret = out_write(&w->out, blk, SPF_BLOCK_SIZE);
	}
	free(blk);
	free(*refs);
	*refs = up;
	*nr = n;
	return ret;
}

/* ---- the writer ---- */

static int write_header(struct spf_writer *w)
{
	w->hdr.crc = cpu_to_le32(spf_header_crc(&w->hdr));
	return out_write(&w->out, &w->hdr, sizeof(w->hdr));
}

int writer_init(struct spf_writer *w, const struct spf_header *hdr,
		int fd, const char *name, const char *spool_dir)
{
	memset(w, 0, sizeof(*w));
	w->hdr = *hdr;
	w->size_known = hdr->disk_size != 0;
	out_init(&w->out, fd, name);
	spool_init(&w->data, spool_dir, DATA_SPOOL_MEM);
	spool_init(&w->leaves, spool_dir, LEAF_SPOOL_MEM);
	w->leaf = xzalloc(SPF_BLOCK_SIZE);
	w->bits = xzalloc(SPF_SUMMARY_BYTES);
	if (w->size_known)
		return write_header(w);
	return 0;
}

void writer_free(struct spf_writer *w)
{
	free(w->out.buf);
	spool_free(&w->data);
	spool_free(&w->leaves);
	free(w->leaf);
	free(w->bits);
	free(w->refs);
	memset(w, 0, sizeof(*w));
}

static int write_data(struct spf_writer *w, const void *data, u32 len)
{
	if (w->size_known)
		return out_write(&w->out, data, len);
	return spool_write(&w->data, data, len);
}

int writer_add(struct spf_writer *w, u64 chunk, u8 state, const void *data,
	       u32 len, u32 crc, const u8 *digest)
{
	struct spf_index_entry *e;

	if (w->nr_entries && chunk <= w->last_chunk)
		return -EINVAL;
	e = (struct spf_index_entry *)spf_leaf_entries(w->leaf) +
	    w->leaf_count;
	memset(e, 0, sizeof(*e));
	e->chunk = cpu_to_le64(chunk);
	e->state = state;
	if (state != SPF_CHUNK_ZERO) {
		e->offset = cpu_to_le64(SPF_HEADER_SIZE + w->data_bytes);
		e->length = cpu_to_le32(len);
		e->crc = cpu_to_le32(crc);
		memcpy(e->digest, digest, SPF_DIGEST_LEN);
		if (write_data(w, data, len))
			return -1;
		w->data_bytes += len;
		w->nr_stored++;
		w->stored_bytes += len;
	}
	w->nr_entries++;
	w->last_chunk = chunk;
	bits_mark(w, chunk);
	if (++w->leaf_count == SPF_LEAF_ENTRIES)
		return leaf_flush(w);
	return 0;
}

static void build_summary(struct spf_writer *w, struct spf_summary *s,
			  u64 nr_chunks)
{
	u32 shift = spf_summary_shift(nr_chunks);
	u64 r;

	while (w->bits_shift < shift)
		bits_fold(w);
	memset(s, 0, sizeof(*s));
	s->magic = cpu_to_le32(SPF_SUMMARY_MAGIC);
	s->region_shift = cpu_to_le32(shift);
	s->nr_regions = cpu_to_le64((nr_chunks + (1ULL << shift) - 1) >>
				    shift);
	for (r = 0; r < SPF_SUMMARY_BITS; r++)
		if (w->bits[r / 8] & (1U << (r % 8)))
			s->bits[r / 8] |= 1U << (r % 8);
	s->crc = cpu_to_le32(spf_block_crc(s));
}

/* Leaves, then node levels up to a single root. */
static int write_index(struct spf_writer *w, struct spf_trailer *t)
{
	u64 base = w->out.pos;
	u16 levels = 1;

	t->index_offset = cpu_to_le64(base);
	if (!w->nr_entries)
		return 0;
	if (spool_drain(&w->leaves, &w->out))
		return -1;
	while (w->nr_refs > 1) {
		if (write_node_level(w, levels, &w->refs, &w->nr_refs, base))
			return -1;
		levels++;
	}
	t->index_root = cpu_to_le64(base + w->refs[0].offset);
	t->index_root_crc = cpu_to_le32(w->refs[0].crc);
	t->index_levels = cpu_to_le16(levels);
	t->index_blocks = cpu_to_le64((w->out.pos - base) / SPF_BLOCK_SIZE);
	return 0;
}

static int write_tail(struct spf_writer *w, u64 nr_chunks)
{
	struct spf_trailer *t = xzalloc(sizeof(*t));
	struct spf_summary *s = xzalloc(sizeof(*s));
	int ret = -1;

	memcpy(t->magic, SPF_TRAILER_MAGIC, SPF_MAGIC_LEN);
	t->trailer_size = cpu_to_le32(SPF_TRAILER_SIZE);
	t->header_crc = w->hdr.crc;
	memcpy(t->uuid, w->hdr.uuid, 16);
	t->data_end = cpu_to_le64(w->out.pos);
	if (write_index(w, t))
		goto out;
	build_summary(w, s, nr_chunks);
	t->summary_offset = cpu_to_le64(w->out.pos);
	t->summary_crc = s->crc;
	if (out_write(&w->out, s, sizeof(*s)))
		goto out;
	t->nr_entries = cpu_to_le64(w->nr_entries);
	t->nr_stored = cpu_to_le64(w->nr_stored);
	t->stored_bytes = cpu_to_le64(w->stored_bytes);
	t->seal_time = cpu_to_le64((u64)time(NULL));
	memcpy(t->link_uuid, w->link_uuid, sizeof(t->link_uuid));
	memcpy(t->link_seal, w->link_seal, sizeof(t->link_seal));
	spf_compute_seal(&w->hdr, t, t->seal);
	t->crc = cpu_to_le32(spf_trailer_crc(t));
	if (out_write(&w->out, t, sizeof(*t)))
		goto out;
	ret = out_flush(&w->out);
out:
	free(t);
	free(s);
	return ret;
}

int writer_finish(struct spf_writer *w, u64 disk_size)
{
	u32 shift = le32_to_cpu(w->hdr.chunk_shift);
	u64 nr_chunks;

	if (!w->size_known) {
		w->hdr.disk_size = cpu_to_le64(disk_size);
		if (write_header(w) || spool_drain(&w->data, &w->out))
			return -1;
		spool_free(&w->data);
	}
	disk_size = le64_to_cpu(w->hdr.disk_size);
	nr_chunks = (disk_size + (1ULL << shift) - 1) >> shift;
	if (w->nr_entries && w->last_chunk >= nr_chunks)
		return -EINVAL;
	if (leaf_flush(w))
		return -1;
	return write_tail(w, nr_chunks);
}

/* ---- headers ---- */

void header_build(struct spf_header *h, u32 chunk_size, int codec,
		  int level, bool encrypted, const char *label,
		  const struct spf_layer *p)
{
	const char *pname;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, SPF_MAGIC, SPF_MAGIC_LEN);
	h->version = cpu_to_le32(SPF_VERSION);
	h->header_size = cpu_to_le32(SPF_HEADER_SIZE);
	h->chunk_shift = cpu_to_le32(__builtin_ctz(chunk_size));
	h->codec = cpu_to_le16(codec);
	h->codec_level = cpu_to_le16(level);
	h->create_time = cpu_to_le64((u64)time(NULL));
	uuid_generate_v4(h->uuid);
	memcpy(h->chain_uuid, h->uuid, 16);
	if (encrypted)
		h->incompat |= cpu_to_le64(SPF_INCOMPAT_ENCRYPTED);
	if (label && label[0]) {
		strcpy(h->label, label);
		h->compat |= cpu_to_le64(SPF_COMPAT_LABEL);
	}
	if (!p)
		return;
	h->depth = cpu_to_le32(p->img.depth + 1);
	memcpy(h->chain_uuid, p->img.chain_uuid, 16);
	memcpy(h->parent_uuid, p->img.link_uuid, 16);
	memcpy(h->parent_seal, p->img.link_seal, SPF_SEAL_LEN);
	h->parent_disk_size = cpu_to_le64(p->img.disk_size);
	pname = path_basename(p->path);
	if (strlen(pname) < SPF_PARENT_NAME_LEN) {
		strcpy(h->parent_name, pname);
		h->compat |= cpu_to_le64(SPF_COMPAT_PARENT_NAME);
	}
}
