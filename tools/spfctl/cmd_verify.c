// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl verify: check a whole chain.  Opening the chain checks every
 * header, trailer, summary and link; then, for every image, the index is
 * walked from its root (each block reached exactly once), every entry is
 * checked against the summary and the trailer's counts, and every stored
 * chunk's crc, AEAD tag, decompression and digest are checked by the
 * worker pool.  Each problem is one line; verification goes on after it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "libchain.h"
#include "libcodec.h"
#include "libpool.h"
#include "libprogress.h"

static const struct cmd_desc desc = {
	"verify", "verify [OPTIONS] IMAGE",
};

static void help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Check the chain that ends at IMAGE: every link, header, trailer, index\n"
	       "block and summary, and every stored chunk's checksum; with the key of\n"
	       "an encrypted chain (always for a plain one) also every authentication\n"
	       "tag, that every chunk decompresses to exactly one chunk, and every\n"
	       "content digest.  Each problem is reported as\n"
	       "  spfctl: FILE: chunk N: PROBLEM\n"
	       "and checking goes on.  Without a key (no --key-file, and an empty\n"
	       "answer or no terminal), an encrypted chain gets every check but those\n"
	       "that need the key.\n\n"
	       "Options:\n"
	       "  -k, --key-file FILE  passphrase of an encrypted chain (- for stdin)\n"
	       "      --chain FILE...  the chain's images (any order) instead of finding\n"
	       "                       them in IMAGE's directory; repeat the option or\n"
	       "                       list files before IMAGE\n"
	       "  -t, --threads N      worker threads (default: all CPUs)\n"
	       "  -h, --help           show this help\n\n"
	       "Exit status: 0 clean, 1 damaged (or unreadable), 2 usage error.\n",
	       desc.usage);
}

#define VBATCH		64

struct vent {
	u64 chunk;
	u64 offset;
	u32 length;
	u32 crc;
	u8 state;
	u8 digest[SPF_DIGEST_LEN];
	const char *why;		/* result: NULL when fine */
	int err;
};

struct vjob {
	const struct spf_layer *l;
	u32 n;
	struct vent e[VBATCH];
};

struct verify_ctx {
	struct spf_chain *chain;
	unsigned int threads;
	struct pool *pool;
	struct vjob *jobs;
	unsigned int depth;
	struct vjob *filling;		/* job being filled, or NULL */
	u64 layer_problems;
	u64 total_bytes, done_bytes;
	struct progress prog;
	u32 max_cs;
};

struct vworker {
	struct codec_ws *codec;
	struct crypt_ws *crypt;
	u8 *rbuf, *dbuf;
};

static void *vworker_new(void *arg)
{
	struct verify_ctx *v = arg;
	struct vworker *w = xzalloc(sizeof(*w));

	w->codec = codec_ws_new();
	w->crypt = crypt_ws_new(NULL);
	w->rbuf = xmalloc(v->max_cs + SPF_GCM_TAG_LEN);
	w->dbuf = xmalloc(v->max_cs);
	if (!w->crypt) {
		err_msg(NULL, "cannot set up OpenSSL contexts");
		codec_ws_free(w->codec);
		free(w->rbuf);
		free(w->dbuf);
		free(w);
		return NULL;
	}
	return w;
}

static void vworker_free(void *p)
{
	struct vworker *w = p;

	codec_ws_free(w->codec);
	crypt_ws_free(w->crypt);
	free(w->rbuf);
	free(w->dbuf);
	free(w);
}

static void check_entry(const struct spf_layer *l, struct vworker *w,
			struct vent *e)
{
	const struct spf_image *img = &l->img;
	u8 digest[SPF_DIGEST_LEN];
	int ret;

	e->why = NULL;
	ret = chunk_load(l, e->chunk, e->state, e->offset, e->length, e->crc,
			 w->rbuf, w->dbuf, w->codec, w->crypt, &e->why,
			 &e->err);
	if (ret)
		return;
	if (img->encrypted && crypt_ws_digest_key(w->crypt, l->keys.digest)) {
		e->why = "cannot load the digest key";
		return;
	}
	if (chunk_digest(w->crypt, img->encrypted, w->dbuf, img->chunk_size,
			 digest)) {
		e->why = "digest failed";
		return;
	}
	if (memcmp(digest, e->digest, SPF_DIGEST_LEN))
		e->why = "digest mismatch (content differs from what the index says)";
}

static void vwork(void *wctx, unsigned int slot, void *arg)
{
	struct verify_ctx *v = arg;
	struct vjob *job = &v->jobs[slot];
	u32 i;

	for (i = 0; i < job->n; i++)
		check_entry(job->l, wctx, &job->e[i]);
}

static const struct pool_ops vpool_ops = {
	.wctx_new = vworker_new,
	.wctx_free = vworker_free,
	.work = vwork,
};

/* ---- results ---- */

static void consume(struct verify_ctx *v, struct vjob *job)
{
	u32 i;

	for (i = 0; i < job->n; i++) {
		const struct vent *e = &job->e[i];

		v->done_bytes += e->length;
		if (!e->why)
			continue;
		v->layer_problems++;
		if (e->err)
			err_sys(job->l->path, e->err, "chunk %llu: %s",
				(unsigned long long)e->chunk, e->why);
		else
			err_msg(job->l->path, "chunk %llu: %s",
				(unsigned long long)e->chunk, e->why);
	}
	progress_update(&v->prog, v->done_bytes);
}

static void drain_one(struct verify_ctx *v)
{
	int slot = pool_wait_oldest(v->pool);

	if (slot >= 0) {
		consume(v, &v->jobs[slot]);
		pool_release(v->pool);
	}
}

static void flush_job(struct verify_ctx *v)
{
	if (v->filling && v->filling->n)
		pool_submit(v->pool);
	v->filling = NULL;
}

static void queue_entry(struct verify_ctx *v, const struct spf_layer *l,
			const struct spf_index_entry *e)
{
	struct vent *ve;
	int slot;

	if (v->filling && (v->filling->l != l || v->filling->n == VBATCH))
		flush_job(v);
	if (!v->filling) {
		while ((slot = pool_next_slot(v->pool)) < 0)
			drain_one(v);
		v->filling = &v->jobs[slot];
		v->filling->l = l;
		v->filling->n = 0;
	}
	ve = &v->filling->e[v->filling->n++];
	ve->chunk = le64_to_cpu(e->chunk);
	ve->offset = le64_to_cpu(e->offset);
	ve->length = le32_to_cpu(e->length);
	ve->crc = le32_to_cpu(e->crc);
	ve->state = e->state;
	memcpy(ve->digest, e->digest, SPF_DIGEST_LEN);
}

/* ---- one image ---- */

struct walk {
	struct verify_ctx *v;
	const struct spf_layer *l;
	u64 index_problems;
	u64 entries, stored, bytes;
};

static void walk_report(struct idx_cursor *c, const char *why)
{
	struct walk *wk = c->report_arg;

	wk->index_problems++;
	err_msg(wk->l->path, "%s", why);
}

static void check_entry_meta(struct walk *wk, const struct spf_index_entry *e)
{
	u64 chunk = le64_to_cpu(e->chunk);

	wk->entries++;
	if (!spf_summary_test(wk->l->sum, chunk)) {
		wk->v->layer_problems++;
		err_msg(wk->l->path,
			"chunk %llu: not marked in the summary (readers would skip it)",
			(unsigned long long)chunk);
	}
	if (e->state == SPF_CHUNK_ZERO)
		return;
	wk->stored++;
	wk->bytes += le32_to_cpu(e->length);
	queue_entry(wk->v, wk->l, e);
}

static void check_counts(struct walk *wk, const struct idx_cursor *c)
{
	const struct spf_image *img = &wk->l->img;
	u64 b;

	if (wk->index_problems)
		return;
	if (wk->entries != img->nr_entries || wk->stored != img->nr_stored ||
	    wk->bytes != img->stored_bytes) {
		wk->v->layer_problems++;
		err_msg(wk->l->path,
			"index holds %llu entries, %llu stored, %llu bytes; the trailer says %llu, %llu, %llu",
			(unsigned long long)wk->entries,
			(unsigned long long)wk->stored,
			(unsigned long long)wk->bytes,
			(unsigned long long)img->nr_entries,
			(unsigned long long)img->nr_stored,
			(unsigned long long)img->stored_bytes);
	}
	for (b = 0; b < img->index_blocks; b++) {
		if (c->seen[b / 8] & (1U << (b % 8)))
			continue;
		wk->v->layer_problems++;
		err_msg(wk->l->path, "index block at %llu is not referenced",
			(unsigned long long)(img->index_offset +
					     b * SPF_BLOCK_SIZE));
	}
}

static void verify_layer(struct verify_ctx *v, const struct spf_layer *l)
{
	struct walk wk = { .v = v, .l = l };
	const struct spf_index_entry *e;
	struct idx_cursor c;

	memset(&c, 0, sizeof(c));
	idx_init(&c, l);
	c.skip_bad = true;
	c.report = walk_report;
	c.report_arg = &wk;
	c.seen = xzalloc(l->img.index_blocks / 8 + 1);
	if (!idx_seek(&c, 0))
		while (idx_next(&c, &e) == 1)
			check_entry_meta(&wk, e);
	flush_job(v);
	v->layer_problems += wk.index_problems;
	check_counts(&wk, &c);
	free(c.seen);
	idx_release(&c);
}

static u64 verify_chain(struct verify_ctx *v)
{
	u64 problems = 0, before;
	unsigned int i;

	for (i = 0; i < v->chain->n; i++) {
		v->total_bytes += v->chain->layer[i]->img.stored_bytes;
		v->max_cs = MAX(v->max_cs, v->chain->layer[i]->img.chunk_size);
	}
	v->depth = v->threads * 2 + 2;
	v->jobs = xzalloc(v->depth * sizeof(*v->jobs));
	v->pool = pool_new(v->threads, v->depth, &vpool_ops, v);
	if (!v->pool) {
		free(v->jobs);
		return 1;
	}
	progress_init(&v->prog, "verify", v->total_bytes);
	for (i = 0; i < v->chain->n; i++) {
		before = v->layer_problems;
		verify_layer(v, v->chain->layer[i]);
		/* Per-image verdicts need that image's chunks checked. */
		while (pool_in_flight(v->pool))
			drain_one(v);
		progress_end(&v->prog);
		if (v->layer_problems == before)
			printf("%s: ok\n", v->chain->layer[i]->path);
		else
			printf("%s: %llu problem%s\n", v->chain->layer[i]->path,
			       (unsigned long long)(v->layer_problems - before),
			       v->layer_problems - before == 1 ? "" : "s");
		fflush(stdout);
		progress_init(&v->prog, "verify", v->total_bytes);
		v->prog.done = v->done_bytes;
	}
	progress_end(&v->prog);
	problems = v->layer_problems;
	pool_free(v->pool);
	free(v->jobs);
	return problems;
}

static int verify(struct verify_ctx *v, const char *key_file)
{
	int ret = chain_unlock(v->chain, key_file, !key_file);

	if (ret < 0)
		return EXIT_FAIL;
	if (ret > 0)
		err_msg(chain_top(v->chain)->path,
			"encrypted and no key given: checking all but the authentication tags, decompression and digests of encrypted chunks");
	return verify_chain(v) ? EXIT_FAIL : EXIT_OK;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key-file",	required_argument, NULL, 'k' },
		{ "chain",	required_argument, NULL, 'C' },
		{ "threads",	required_argument, NULL, 't' },
		{ "help",	no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct verify_ctx v = { .threads = cpu_count() };
	struct chain_args ca = { 0 };
	const char *key_file = NULL;
	char *image;
	int c, ret = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, ":k:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': key_file = optarg; break;
		case 'C': chain_args_add(&ca, optarg); break;
		case 't':
			if (parse_threads(&desc, optarg, &v.threads))
				goto out;
			break;
		case 'h':
			help();
			ret = EXIT_OK;
			goto out;
		default:
			bad_option(&desc, c, argv);
			goto out;
		}
	}
	if (take_args(&desc, argc, argv, 1, &ca, &image))
		goto out;
	raise_nofile_limit();
	v.chain = chain_open(image, ca.files, ca.n);
	ret = v.chain ? verify(&v, key_file) : EXIT_FAIL;
	chain_close(v.chain);
out:
	chain_args_free(&ca);
	return ret;
}
