// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the shared SPF parser (drivers/block/spfblk/format.c).
 *
 * The input is a whole image file.  The harness does what a reader does:
 * parse the header (also from a short prefix, as the kernel's first read
 * may be), the trailer with its seal, the summary, then walks the index
 * B+tree from the root with spf_check_block() and looks chunks up with
 * spf_node_find()/spf_leaf_find().  It reads only what the parser has
 * validated, straight from the input buffer, so an offset or length that
 * the parser wrongly lets through shows up as an ASan overflow.  Blocks are
 * copied to aligned buffers first, as the kernel and spfctl read them.
 *
 * Invariants checked (a violation aborts, which libFuzzer reports):
 *  - a block that passed spf_check_block() lies inside the index area and
 *    its entries are in [first, limit], strictly increasing;
 *  - spf_leaf_find() finds every entry of a checked leaf, and misses a
 *    chunk between two entries; spf_node_find() maps each child's first
 *    chunk to that child, with a limit below the next child's first chunk;
 *  - every leaf entry's data lies inside [4096, data_end);
 *  - a message is always NUL-terminated and non-empty on failure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "format.h"

#define MAX_VISITS	4096	/* index blocks checked per input */

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
			#cond, __FILE__, __LINE__);			\
		abort();						\
	}								\
} while (0)

struct walk {
	const uint8_t *data;
	size_t size;
	struct spf_image *img;
	unsigned int visits;
	uint64_t sink;
};

static void check_msg(int ret, const struct spf_msg *msg)
{
	if (!ret)
		return;
	CHECK(ret < 0);
	CHECK(memchr(msg->text, '\0', sizeof(msg->text)) != NULL);
	CHECK(msg->text[0] != '\0');
}

static void walk_block(struct walk *w, uint64_t off, uint16_t level,
		       uint64_t first, uint64_t limit, uint32_t crc)
{
	/* 8-byte aligned, like a page read by the kernel. */
	static uint64_t stack[SPF_MAX_INDEX_LEVELS + 1][SPF_BLOCK_SIZE / 8];
	const struct spf_image *img = w->img;
	struct spf_msg msg;
	uint8_t *blk;
	const struct spf_block_header *bh;
	unsigned int i, count;
	int ret;

	if (w->visits++ >= MAX_VISITS || level > SPF_MAX_INDEX_LEVELS)
		return;
	/*
	 * The trailer check promised the root lies in the index area and node
	 * entries are checked before we follow them: reading here must be in
	 * bounds, or the parser let a bad offset through.
	 */
	CHECK(off >= img->index_offset);
	CHECK(img->summary_offset >= SPF_BLOCK_SIZE &&
	      off <= img->summary_offset - SPF_BLOCK_SIZE);
	CHECK(off <= w->size - SPF_BLOCK_SIZE);
	blk = (uint8_t *)stack[level];
	memcpy(blk, w->data + off, SPF_BLOCK_SIZE);

	memset(&msg, 0, sizeof(msg));
	ret = spf_check_block(img, blk, off, level, first, limit, crc, &msg);
	check_msg(ret, &msg);
	if (ret)
		return;

	bh = (const struct spf_block_header *)blk;
	count = le16_to_cpu(bh->count);
	CHECK(count >= 1);
	if (level == 0) {
		const struct spf_index_entry *e = spf_leaf_entries(blk);
		uint64_t prev = 0;

		CHECK(count <= SPF_LEAF_ENTRIES);
		for (i = 0; i < count; i++) {
			uint64_t c = le64_to_cpu(e[i].chunk);
			uint64_t o = le64_to_cpu(e[i].offset);
			uint32_t len = le32_to_cpu(e[i].length);

			CHECK(c < img->nr_chunks);
			CHECK(first == SPF_ANY_FIRST || c >= first);
			CHECK(c <= limit);
			CHECK(i == 0 || c > prev);
			prev = c;
			CHECK(spf_leaf_find(blk, c) == (int)i);
			if (i > 0 && c > le64_to_cpu(e[i - 1].chunk) + 1)
				CHECK(spf_leaf_find(blk, c - 1) == -1);
			if (e[i].state == SPF_CHUNK_ZERO) {
				CHECK(len == 0);
				continue;
			}
			CHECK(len <= spf_max_stored_len(img));
			CHECK(o >= SPF_HEADER_SIZE);
			CHECK(o <= img->data_end && len <= img->data_end - o);
			CHECK(img->data_end <= w->size);
			/* Touch the ends of the stored bytes (ASan checks). */
			if (len)
				w->sink += w->data[o] + w->data[o + len - 1];
		}
		CHECK(spf_leaf_find(blk, img->nr_chunks) == -1);
		return;
	}

	{
		/* Children use stack[level - 1] and below: blk stays intact. */
		const struct spf_node_entry *e = spf_node_entries(blk);

		CHECK(count <= SPF_NODE_ENTRIES);
		for (i = 0; i < count; i++) {
			uint64_t cfirst = le64_to_cpu(e[i].first_chunk);
			uint64_t clim = 0;
			int idx;

			idx = spf_node_find(blk, cfirst, limit, &clim);
			CHECK(idx == (int)i);
			CHECK(clim >= cfirst);
			CHECK(clim <= limit);
			if (i + 1 < count)
				CHECK(clim < le64_to_cpu(e[i + 1].first_chunk));
			walk_block(w, le64_to_cpu(e[i].offset), level - 1,
				   cfirst, clim, le32_to_cpu(e[i].crc));
		}
		if (le64_to_cpu(e[0].first_chunk) > 0) {
			uint64_t dummy;

			CHECK(spf_node_find(blk, le64_to_cpu(e[0].first_chunk) - 1,
					    limit, &dummy) == -1);
		}
	}
}

/*
 * Every metadata structure carries a checksum, so almost every random
 * mutation would stop at the first crc.  Each input is therefore parsed
 * twice: as it is, and after recomputing every checksum and the seal the
 * way a consistent (malicious) writer would, so mutated fields reach the
 * deeper checks.  Block positions come from the (mutated) trailer.
 */
static void fixup(uint8_t *d, size_t size)
{
	/* Aligned scratch: fields in the input may sit at any offset. */
	static uint64_t blkbuf[SPF_BLOCK_SIZE / 8], hbuf[SPF_HEADER_SIZE / 8];
	static uint64_t tbuf[SPF_TRAILER_SIZE / 8];
	struct spf_block_header *b = (void *)blkbuf;
	struct spf_header *h = (void *)hbuf;
	struct spf_trailer *t = (void *)tbuf;
	uint8_t *tp;
	uint64_t io, so, off, root;
	uint32_t crcs[64];
	uint64_t offs[64];
	unsigned int n = 0, i, k;

	if (size < SPF_HEADER_SIZE + SPF_TRAILER_SIZE)
		return;
	tp = d + size - SPF_TRAILER_SIZE;
	memcpy(t, tp, SPF_TRAILER_SIZE);
	io = le64_to_cpu(t->index_offset);
	so = le64_to_cpu(t->summary_offset);
	/* Children before parents: crcs flow up in file order. */
	/* size >= header + trailer: no underflow; no overflow of off either. */
	for (off = io; off >= SPF_HEADER_SIZE && off < so &&
	     off <= size - SPF_TRAILER_SIZE - SPF_BLOCK_SIZE && n < 64;
	     off += SPF_BLOCK_SIZE) {
		memcpy(b, d + off, SPF_BLOCK_SIZE);
		if (le32_to_cpu(b->magic) == SPF_NODE_MAGIC) {
			struct spf_node_entry *e = (void *)((uint8_t *)b + 32);
			unsigned int cnt = le16_to_cpu(b->count);

			if (cnt > SPF_NODE_ENTRIES)
				cnt = SPF_NODE_ENTRIES;
			for (i = 0; i < cnt; i++)
				for (k = 0; k < n; k++)
					if (offs[k] == le64_to_cpu(e[i].offset))
						e[i].crc = cpu_to_le32(crcs[k]);
		}
		b->crc = cpu_to_le32(spf_block_crc(b));
		memcpy(d + off, b, SPF_BLOCK_SIZE);
		offs[n] = off;
		crcs[n++] = le32_to_cpu(b->crc);
	}
	root = le64_to_cpu(t->index_root);
	for (k = 0; k < n; k++)
		if (offs[k] == root)
			t->index_root_crc = cpu_to_le32(crcs[k]);
	if (so >= SPF_HEADER_SIZE &&
	    so <= size - SPF_TRAILER_SIZE - SPF_BLOCK_SIZE) {
		struct spf_summary *s = (void *)blkbuf;

		memcpy(s, d + so, SPF_BLOCK_SIZE);
		s->crc = cpu_to_le32(spf_block_crc(s));
		memcpy(d + so, s, SPF_BLOCK_SIZE);
		t->summary_crc = s->crc;
	}
	memcpy(h, d, SPF_HEADER_SIZE);
	h->crc = cpu_to_le32(spf_header_crc(h));
	memcpy(d, h, SPF_HEADER_SIZE);
	t->header_crc = h->crc;
	spf_compute_seal(h, t, t->seal);
	t->crc = cpu_to_le32(spf_trailer_crc(t));
	memcpy(tp, t, SPF_TRAILER_SIZE);
}

static void one(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	one(data, size);
	/* An exact-size heap copy, so ASan sees reads past the end. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fixup(copy, size);
	one(copy, size);
	free(copy);
	return 0;
}

static void one(const uint8_t *data, size_t size)
{
	static uint64_t hdrbuf[SPF_HEADER_SIZE / 8];
	static uint64_t trlbuf[SPF_TRAILER_SIZE / 8];
	static uint64_t sumbuf[SPF_BLOCK_SIZE / 8];
	struct spf_image img, img2;
	struct spf_msg msg;
	struct walk w;
	size_t hlen = size < SPF_HEADER_SIZE ? size : SPF_HEADER_SIZE;
	uint8_t *hcopy;
	int ret;

	/*
	 * The header parser sees a copy of exactly what was read, so ASan
	 * catches a read past a short buffer.
	 */
	hcopy = malloc(hlen ? hlen : 1);
	if (!hcopy)
		return;
	memcpy(hcopy, data, hlen);
	memset(&msg, 0, sizeof(msg));
	ret = spf_parse_header(hcopy, hlen, size, &img, &msg);
	check_msg(ret, &msg);
	/* A short first read must never succeed. */
	if (hlen >= 64) {
		struct spf_msg m2;

		memset(&m2, 0, sizeof(m2));
		CHECK(spf_parse_header(hcopy, 64, size, &img2, &m2) != 0);
	}
	free(hcopy);
	if (ret)
		return;
	CHECK(size >= SPF_HEADER_SIZE);
	CHECK(img.chunk_shift >= SPF_CHUNK_SHIFT_MIN &&
	      img.chunk_shift <= SPF_CHUNK_SHIFT_MAX);
	CHECK(img.disk_size && img.disk_size <= SPF_MAX_DISK_SIZE);
	CHECK(img.nr_chunks >= 1);

	memcpy(hdrbuf, data, SPF_HEADER_SIZE);
	if (size < SPF_HEADER_SIZE + SPF_TRAILER_SIZE) {
		/* Too short for a trailer: must say "not finalised". */
		memset(trlbuf, 0, sizeof(trlbuf));
		ret = spf_parse_trailer((const struct spf_header *)hdrbuf, trlbuf,
					&img, &msg);
		CHECK(ret == -EBADMSG);
		return;
	}
	memcpy(trlbuf, data + size - SPF_TRAILER_SIZE, SPF_TRAILER_SIZE);
	memset(&msg, 0, sizeof(msg));
	ret = spf_parse_trailer((const struct spf_header *)hdrbuf, trlbuf, &img,
				&msg);
	check_msg(ret, &msg);
	if (ret)
		return;
	CHECK(img.sealed);
	CHECK(img.data_end >= SPF_HEADER_SIZE);
	CHECK(img.data_end <= img.index_offset);
	CHECK(img.summary_offset + SPF_BLOCK_SIZE + SPF_TRAILER_SIZE == size);
	CHECK(img.nr_entries <= img.nr_chunks);

	/* A chain link against itself is never valid. */
	memset(&msg, 0, sizeof(msg));
	ret = spf_check_link(&img, &img, &msg);
	CHECK(ret != 0);
	check_msg(ret, &msg);

	/* The summary. */
	memcpy(sumbuf, data + img.summary_offset, SPF_BLOCK_SIZE);
	memset(&msg, 0, sizeof(msg));
	ret = spf_check_summary(&img, sumbuf, &msg);
	check_msg(ret, &msg);
	if (!ret) {
		const struct spf_summary *s = (const void *)sumbuf;

		w.sink = spf_summary_test(s, 0);
		w.sink += spf_summary_test(s, img.nr_chunks - 1);
		w.sink += spf_summary_test(s, img.nr_chunks);
		w.sink += spf_summary_test(s, UINT64_MAX);
	}

	/* The index, from the root. */
	if (!img.nr_entries)
		return;
	w.data = data;
	w.size = size;
	w.img = &img;
	w.visits = 0;
	w.sink = 0;
	walk_block(&w, img.index_root, img.index_levels - 1, SPF_ANY_FIRST,
		   img.nr_chunks - 1, img.index_root_crc);
	/* Keep the sink alive. */
	__asm__ volatile("" : : "r"(w.sink));
	return;
}
