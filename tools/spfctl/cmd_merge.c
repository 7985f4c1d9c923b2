// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl merge: consolidate a run of a chain into one image.
 *
 * The images FROM .. TO (a contiguous run ending at TO) are replaced by
 * one consolidated image (docs/format.md, section 8): its header links to
 * FROM's parent, its trailer carries TO's link identity, so images written
 * above TO still link to it.  When FROM is the full image the result is a
 * consolidated full image.
 *
 * The main thread resolves each chunk across the run (the newest entry
 * wins), drops entries the chain below FROM already resolves to, and
 * hands batches to the workers; they read and check each stored chunk and
 * pass it on as stored when they can (same codec, plain chain), or
 * re-encrypt it under the output's key, or decompress and recompress it
 * into the output's codec.  The results go to the sequential writer in
 * order, through a temporary file renamed once complete.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "cmd.h"
#include "libchain.h"
#include "libcodec.h"
#include "libcrypt.h"
#include "libpool.h"
#include "libprogress.h"
#include "libwriter.h"

static const struct cmd_desc desc = {
	"merge", "merge [OPTIONS] IMAGE_FROM IMAGE_TO OUTPUT",
};

static void help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Consolidate the images IMAGE_FROM .. IMAGE_TO of a chain into one image,\n"
	       "OUTPUT, that takes their place: IMAGE_FROM is IMAGE_TO or one of its\n"
	       "ancestors.  For every chunk the newest state among the merged images\n"
	       "wins.  Images written on top of IMAGE_TO still link to OUTPUT.  When\n"
	       "IMAGE_FROM is the full image, OUTPUT is a full image.  The originals are\n"
	       "only read; OUTPUT is written under a temporary name and renamed once\n"
	       "complete.\n\n"
	       "Options:\n"
	       "  -c, --compress CODEC  none, deflate, zstd or lz4 (default: the codec\n"
	       "                        holding most of the merged images' data); chunks\n"
	       "                        already in that codec are copied as stored\n"
	       "  -l, --level N         compression level of recompressed chunks\n"
	       "  -k, --key-file FILE   passphrase of an encrypted chain (- for stdin);\n"
	       "                        otherwise it is asked for on the terminal\n"
	       "      --chain FILE...   the chain's images (any order) instead of finding\n"
	       "                        them in IMAGE_TO's directory; repeat the option\n"
	       "                        or list files before IMAGE_FROM\n"
	       "  -t, --threads N       worker threads (default: all CPUs)\n"
	       "  -f, --force           replace an existing OUTPUT\n"
	       "  -h, --help            show this help\n",
	       desc.usage);
}

struct merge_opts {
	int codec;			/* -1: default */
	int level;			/* -1: default */
	const char *key_file;
	unsigned int threads;
	bool force;
	struct chain_args chain;
	char *args[3];			/* FROM TO OUTPUT */
};

/* One entry of the output. */
struct mchunk {
	u64 chunk;
	u8 state;			/* output state */
	u8 src_state;
	u32 layer;			/* source layer (absolute) */
	u64 offset;			/* source offset, length, crc */
	u32 src_len;
	u32 src_crc;
	u32 len;			/* output length and crc */
	u32 crc;
	u8 digest[SPF_DIGEST_LEN];
	const u8 *data;
};

struct mjob {
	u32 n;
	struct mchunk *c;
	u8 *out;			/* n records of chunk size + 16 */
	u64 end;			/* chunks below this are done */
	const char *why;		/* first problem */
	int err;
	u32 bad;			/* index of the chunk it concerns */
};

struct merge_ctx {
	struct merge_opts *o;
	const char *output;
	struct spf_chain *chain;
	unsigned int from, to;		/* layer indexes */
	struct spf_chain run;		/* layers from .. to */
	struct spf_chain below;		/* layers 0 .. from - 1 */
	bool full;			/* from == 0: the output is full */
	bool encrypted;
	struct spf_keys keys;		/* the output's */
	struct spf_header hdr;
	u32 cs;
	int codec, level;
	u64 nr_chunks;

	/* Resolution, one window at a time. */
	struct spf_res *win, *bwin;
	u64 win_first;
	bool win_valid;
	struct idx_cursor cur;
	u64 next_chunk;

	struct mjob *jobs;
	unsigned int depth;
	u32 batch;
	struct spf_writer w;
	struct progress prog;
};

/* ---- options ---- */

static int parse_opts(struct merge_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "compress",	required_argument, NULL, 'c' },
		{ "level",	required_argument, NULL, 'l' },
		{ "key-file",	required_argument, NULL, 'k' },
		{ "chain",	required_argument, NULL, 'C' },
		{ "threads",	required_argument, NULL, 't' },
		{ "force",	no_argument,       NULL, 'f' },
		{ "help",	no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	u64 v;
	int c;

	while ((c = getopt_long(argc, argv, ":c:l:k:t:fh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'c':
			o->codec = codec_from_name(optarg);
			if (o->codec < 0)
				return usage_error(&desc, "invalid codec '%s' (none, deflate, zstd or lz4)",
						   optarg);
			break;
		case 'l':
			if (parse_uint(optarg, 0, 65535, &v))
				return usage_error(&desc, "invalid level '%s'",
						   optarg);
			o->level = v;
			break;
		case 'k': o->key_file = optarg; break;
		case 'C': chain_args_add(&o->chain, optarg); break;
		case 'f': o->force = true; break;
		case 't':
			if (parse_threads(&desc, optarg, &o->threads))
				return EXIT_USAGE;
			break;
		case 'h': help(); return CMD_HELP_SHOWN;
		default: return bad_option(&desc, c, argv);
		}
	}
	if (take_args(&desc, argc, argv, 3, &o->chain, o->args))
		return EXIT_USAGE;
	if (!strcmp(o->args[2], "-"))
		return usage_error(&desc, "OUTPUT must be a file");
	if (o->level >= 0 && o->codec < 0)
		return usage_error(&desc, "--level needs --compress");
	if (o->codec == SPF_CODEC_NONE && o->level >= 0)
		return usage_error(&desc, "--level needs a codec");
	return 0;
}

/* ---- the run of images ---- */

static int layer_of(const struct spf_chain *c, const struct stat *st)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		if (c->layer[i]->dev == st->st_dev &&
		    c->layer[i]->ino == st->st_ino)
			return i;
	return -1;
}

/* The layer of @c that is image @img (same uuid and seal), or -1. */
static int layer_is(const struct spf_chain *c, const struct spf_image *img)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		if (!memcmp(c->layer[i]->img.uuid, img->uuid, 16) &&
		    !memcmp(c->layer[i]->img.seal, img->seal, SPF_SEAL_LEN))
			return i;
	return -1;
}

/* FROM is not in TO's chain: say whether it is above TO (swapped). */
static void report_not_ancestor(struct merge_ctx *x, struct spf_layer *l)
{
	const char *from = x->o->args[0], *to = x->o->args[1];
	const struct spf_layer *top = chain_top(x->chain);
	struct spf_chain *c = NULL;

	if (!memcmp(l->img.chain_uuid, top->img.chain_uuid, 16) &&
	    l->img.depth > top->img.depth)
		c = chain_open(from, x->o->chain.files, x->o->chain.n);
	if (c && layer_is(c, &top->img) >= 0)
		err_msg(from, "comes after %s in the chain (IMAGE_FROM must be the older image)",
			to);
	else
		err_msg(from, "is not %s or one of its ancestors", to);
	chain_close(c);
}

/* IMAGE_FROM is found in the chain by identity: a copy of it will do. */
static int find_run(struct merge_ctx *x)
{
	const char *from = x->o->args[0];
	struct spf_layer *l;
	char why[256];
	int i;

	if (layer_open(from, 0, &l, why, sizeof(why))) {
		err_msg(from, "%s", why);
		return -1;
	}
	i = layer_is(x->chain, &l->img);
	if (i < 0)
		report_not_ancestor(x, l);
	layer_close(l);
	if (i < 0)
		return -1;
	x->from = i;
	x->to = x->chain->n - 1;
	x->full = x->from == 0;
	x->run.n = x->to - x->from + 1;
	x->run.layer = &x->chain->layer[x->from];
	x->below.n = x->from;
	x->below.layer = x->chain->layer;
	x->encrypted = chain_top(x->chain)->img.encrypted;
	x->cs = chain_top(x->chain)->img.chunk_size;
	x->nr_chunks = chain_top(x->chain)->img.nr_chunks;
	/* spfctl never writes such a chain; a crafted one is refused. */
	for (i = x->from; i < (int)x->to; i++) {
		if (x->chain->layer[i]->img.encrypted != x->encrypted) {
			err_msg(x->chain->layer[i]->path,
				"the chain mixes encrypted and plain images");
			return -1;
		}
	}
	return 0;
}

/* The output's codec: the one holding most of the run's stored bytes. */
static int pick_codec(struct merge_ctx *x)
{
	u64 bytes[SPF_CODEC_MAX] = { 0 };
	unsigned int i;
	int best = -1, min, max;

	for (i = x->to + 1; i-- > x->from;) {
		const struct spf_image *img = &x->chain->layer[i]->img;

		bytes[img->codec] += img->stored_bytes;
		if (best < 0 || bytes[img->codec] > bytes[best])
			best = img->codec;
	}
	x->codec = x->o->codec >= 0 ? x->o->codec : best;
	x->level = -1;
	for (i = x->to + 1; i-- > x->from && x->level < 0;)
		if (x->chain->layer[i]->img.codec == x->codec)
			x->level = x->chain->layer[i]->img.codec_level;
	if (x->o->level >= 0)
		x->level = x->o->level;
	if (x->level < 0)
		x->level = codec_default_level(x->codec);
	if (x->codec == SPF_CODEC_NONE)
		x->level = 0;
	if (x->o->level >= 0 && codec_level_range(x->codec, &min, &max) &&
	    (x->level < min || x->level > max))
		return usage_error(&desc, "invalid level %d for %s (%d to %d)",
				   x->level, spf_codec_name(x->codec), min,
				   max);
	return 0;
}

/* OUTPUT must not be one of the chain's images. */
static int check_output(struct merge_ctx *x)
{
	struct stat st;

	if (stat(x->output, &st))
		return 0;
	if (layer_of(x->chain, &st) >= 0) {
		err_msg(x->output, "is an image of the chain");
		return -1;
	}
	return 0;
}

/* ---- header and keys ---- */

static void build_header(struct merge_ctx *x)
{
	const struct spf_layer *from = x->chain->layer[x->from];
	const struct spf_layer *top = chain_top(x->chain);
	struct spf_header *h = &x->hdr;
	const char *pname;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, SPF_MAGIC, SPF_MAGIC_LEN);
	h->version = cpu_to_le32(SPF_VERSION);
	h->header_size = cpu_to_le32(SPF_HEADER_SIZE);
	h->incompat = cpu_to_le64(SPF_INCOMPAT_CONSOLIDATED);
	if (x->encrypted)
		h->incompat |= cpu_to_le64(SPF_INCOMPAT_ENCRYPTED);
	h->disk_size = cpu_to_le64(top->img.disk_size);
	h->chunk_shift = cpu_to_le32(top->img.chunk_shift);
	h->codec = cpu_to_le16(x->codec);
	h->codec_level = cpu_to_le16(x->level);
	h->create_time = cpu_to_le64((u64)time(NULL));
	uuid_generate_v4(h->uuid);
	memcpy(h->chain_uuid, top->img.chain_uuid, 16);
	if (top->hdr->label[0]) {
		memcpy(h->label, top->hdr->label, SPF_LABEL_LEN);
		h->compat |= cpu_to_le64(SPF_COMPAT_LABEL);
	}
	if (x->full)
		return;
	h->depth = cpu_to_le32(top->img.depth);
	memcpy(h->parent_uuid, from->img.parent_uuid, 16);
	memcpy(h->parent_seal, from->img.parent_seal, SPF_SEAL_LEN);
	h->parent_disk_size = cpu_to_le64(from->img.parent_disk_size);
	pname = path_basename(x->chain->layer[x->from - 1]->path);
	if (strlen(pname) < SPF_PARENT_NAME_LEN) {
		strcpy(h->parent_name, pname);
		h->compat |= cpu_to_le64(SPF_COMPAT_PARENT_NAME);
	}
}

/*
 * Unlock the merged images (the chain below is only read through its
 * index) and wrap the output's new data key and the chain's digest key
 * under the same passphrase and Argon2id parameters.
 */
static int setup_keys(struct merge_ctx *x)
{
	struct spf_layer *top = chain_top(x->chain);
	struct pass pass;
	unsigned int i;
	int ret = 0;

	if (!x->encrypted)
		return 0;
	if (pass_get(x->o->key_file, top->path, false, &pass))
		return -1;
	for (i = x->to + 1; i-- > x->from && !ret;)
		ret = layer_unlock(x->chain->layer[i], &pass);
	if (!ret) {
		memcpy(x->keys.digest, top->keys.digest, SPF_KEY_LEN);
		ret = random_bytes(x->keys.data, SPF_KEY_LEN);
		if (ret)
			err_msg(x->output, "cannot get random bytes");
	}
	if (!ret) {
		ret = keys_wrap(&x->hdr, &pass, &x->keys, NULL,
				&top->hdr->crypt);
		if (ret)
			err_sys(x->output, ret, "cannot wrap the image keys");
	}
	pass_free(&pass);
	return ret ? -1 : 0;
}

/* ---- workers ---- */

struct mworker {
	struct codec_ws *codec;
	struct crypt_ws *crypt;
	u8 *plain;			/* one chunk */
	u8 *pack;			/* one chunk + tag */
};

static void *mworker_new(void *arg)
{
	struct merge_ctx *x = arg;
	struct mworker *w = xzalloc(sizeof(*w));

	w->codec = codec_ws_new();
	w->crypt = crypt_ws_new(NULL);
	w->plain = xmalloc(x->cs);
	w->pack = xmalloc(x->cs + SPF_GCM_TAG_LEN);
	if (!w->crypt) {
		err_msg(NULL, "cannot set up OpenSSL contexts");
		codec_ws_free(w->codec);
		free(w->plain);
		free(w->pack);
		free(w);
		return NULL;
	}
	return w;
}

static void mworker_free(void *p)
{
	struct mworker *w = p;

	codec_ws_free(w->codec);
	crypt_ws_free(w->crypt);
	free(w->plain);
	free(w->pack);
	free(w);
}

/*
 * Must the chunk be decompressed and recompressed?  A compressed chunk in
 * another codec must; a raw chunk from an uncompressed image was never
 * tried, so it is compressed when the output has a codec.  Other raw
 * chunks were found incompressible and stay raw.
 */
static bool needs_recode(const struct merge_ctx *x, const struct mchunk *c)
{
	u16 codec = x->chain->layer[c->layer]->img.codec;

	if (codec == x->codec)
		return false;
	if (c->src_state == SPF_CHUNK_COMPRESSED)
		return true;
	return codec == SPF_CODEC_NONE && x->codec != SPF_CODEC_NONE;
}

/* Plaintext of the chunk in @buf (@len bytes, decrypted) into w->plain. */
static const char *recode(struct merge_ctx *x, struct mworker *w,
			  struct mchunk *c, const u8 *buf, u32 len,
			  const u8 **payload)
{
	const struct spf_layer *l = x->chain->layer[c->layer];
	const char *why = NULL;
	long n = 0;

	if (c->src_state == SPF_CHUNK_COMPRESSED) {
		if (codec_decompress(w->codec, l->img.codec, buf, len,
				     w->plain, x->cs, &why))
			return why;
		buf = w->plain;
	} else if (len != x->cs) {
		return "raw chunk has the wrong length";
	}
	if (x->codec != SPF_CODEC_NONE) {
		n = codec_compress(w->codec, x->codec, x->level, buf, x->cs,
				   w->pack, x->cs - 1);
		if (n < 0)
			return "compression failed";
	}
	c->state = n ? SPF_CHUNK_COMPRESSED : SPF_CHUNK_RAW;
	c->len = n ? (u32)n : x->cs;
	*payload = n ? w->pack : buf;
	return NULL;
}

/* Read, check and convert one stored chunk into @out. */
static const char *work_chunk(struct merge_ctx *x, struct mworker *w,
			      struct mchunk *c, u8 *out, int *err)
{
	const struct spf_layer *l = x->chain->layer[c->layer];
	const u8 *payload = out;
	bool recoded = needs_recode(x, c);
	int ret;

	ret = pread_exact(l->fd, out, c->src_len, c->offset);
	if (ret) {
		*err = ret;
		return "cannot read";
	}
	if (spf_crc32c(out, c->src_len) != c->src_crc)
		return "checksum mismatch (corrupt data)";
	c->data = out;
	c->state = c->src_state;
	c->len = c->src_len;
	c->crc = c->src_crc;
	if (!x->encrypted && !recoded)
		return NULL;		/* copied as stored */
	if (x->encrypted) {
		if (chunk_decrypt(w->crypt, l->keys.data, l->img.uuid,
				  c->chunk, out, c->src_len))
			return "authentication failed (corrupt or tampered data)";
		c->len -= SPF_GCM_TAG_LEN;
	}
	if (recoded) {
		const char *why = recode(x, w, c, out, c->len, &payload);

		if (why)
			return why;
	}
	if (x->encrypted) {
		if (payload == out) {
			memcpy(w->plain, out, c->len);
			payload = w->plain;
		}
		if (chunk_encrypt(w->crypt, x->keys.data, x->hdr.uuid,
				  c->chunk, payload, c->len, out))
			return "encryption failed";
		c->len += SPF_GCM_TAG_LEN;
	} else if (payload != out) {
		memcpy(out, payload, c->len);
	}
	c->crc = spf_crc32c(out, c->len);
	return NULL;
}

static void mwork(void *wctx, unsigned int slot, void *arg)
{
	struct merge_ctx *x = arg;
	struct mjob *job = &x->jobs[slot];
	size_t rec = x->cs + SPF_GCM_TAG_LEN;
	u32 i;

	job->why = NULL;
	job->err = 0;
	for (i = 0; i < job->n; i++) {
		struct mchunk *c = &job->c[i];

		if (c->state == SPF_CHUNK_ZERO)
			continue;
		job->why = work_chunk(x, wctx, c, job->out + i * rec,
				      &job->err);
		if (job->why) {
			job->bad = i;
			return;
		}
	}
}

static const struct pool_ops mpool_ops = {
	.wctx_new = mworker_new,
	.wctx_free = mworker_free,
	.work = mwork,
};

/* ---- the main thread: resolve, fill, consume ---- */

static bool stored_state(u8 state)
{
	return state == SPF_CHUNK_RAW || state == SPF_CHUNK_COMPRESSED;
}

static int load_window(struct merge_ctx *x, u64 chunk)
{
	x->win_first = chunk - chunk % RESOLVE_WINDOW;
	x->win_valid = true;
	if (chain_resolve(&x->run, &x->cur, x->win_first, RESOLVE_WINDOW,
			  x->win))
		return -1;
	if (x->below.n && chain_resolve(&x->below, &x->cur, x->win_first,
					RESOLVE_WINDOW, x->bwin))
		return -1;
	return 0;
}

/*
 * The output's entry for a chunk, or 0 for none: the run's newest entry,
 * unless the chain below FROM already resolves to the same content (zero
 * for a full output).
 */
static u8 out_state(const struct merge_ctx *x, const struct spf_res *r,
		    const struct spf_res *b)
{
	if (r->state == SPF_CHUNK_ZERO)
		return x->full || !stored_state(b->state) ? 0 : r->state;
	if (!stored_state(r->state))
		return 0;
	if (!x->full && stored_state(b->state) &&
	    !memcmp(r->digest, b->digest, SPF_DIGEST_LEN))
		return 0;
	return r->state;
}

static int fill_job(struct merge_ctx *x, struct mjob *job)
{
	job->n = 0;
	while (job->n < x->batch && x->next_chunk < x->nr_chunks) {
		u64 chunk = x->next_chunk;
		const struct spf_res *r, *b;
		struct mchunk *c;
		u8 state;

		if (!x->win_valid || chunk >= x->win_first + RESOLVE_WINDOW)
			if (load_window(x, chunk))
				return -1;
		r = &x->win[chunk - x->win_first];
		b = &x->bwin[chunk - x->win_first];
		x->next_chunk++;
		state = out_state(x, r, b);
		if (!state)
			continue;
		c = &job->c[job->n++];
		memset(c, 0, sizeof(*c));
		c->chunk = chunk;
		c->state = state;
		c->src_state = state;
		if (state == SPF_CHUNK_ZERO)
			continue;
		c->layer = x->from + r->layer;
		c->offset = r->offset;
		c->src_len = r->length;
		c->src_crc = r->crc;
		memcpy(c->digest, r->digest, SPF_DIGEST_LEN);
	}
	job->end = x->next_chunk;
	return 0;
}

static int consume(struct merge_ctx *x, struct mjob *job)
{
	u32 i;

	if (job->why) {
		const struct mchunk *c = &job->c[job->bad];
		const char *path = x->chain->layer[c->layer]->path;

		if (job->err)
			err_sys(path, job->err, "chunk %llu: %s",
				(unsigned long long)c->chunk, job->why);
		else
			err_msg(path, "chunk %llu: %s",
				(unsigned long long)c->chunk, job->why);
		return -1;
	}
	for (i = 0; i < job->n; i++) {
		struct mchunk *c = &job->c[i];

		if (writer_add(&x->w, c->chunk, c->state, c->data, c->len,
			       c->crc, c->digest))
			return -1;
	}
	progress_update(&x->prog, MIN(job->end * (u64)x->cs,
				      chain_top(x->chain)->img.disk_size));
	return 0;
}

static int pump_fill(void *arg, unsigned int slot)
{
	struct merge_ctx *x = arg;
	int ret;

	if (x->next_chunk >= x->nr_chunks)
		return 1;
	ret = fill_job(x, &x->jobs[slot]);
	if (ret)
		return ret;
	return x->jobs[slot].n ? 0 : 1;
}

static int pump_consume(void *arg, unsigned int slot)
{
	return consume(arg, &((struct merge_ctx *)arg)->jobs[slot]);
}

static void jobs_alloc(struct merge_ctx *x)
{
	unsigned int i;

	x->batch = MAX(1U, (1U << 20) / x->cs);
	x->depth = x->o->threads * 2 + 2;
	x->jobs = xzalloc(x->depth * sizeof(*x->jobs));
	for (i = 0; i < x->depth; i++) {
		x->jobs[i].c = xzalloc(x->batch * sizeof(struct mchunk));
		x->jobs[i].out = xmalloc((size_t)x->batch *
					 (x->cs + SPF_GCM_TAG_LEN));
	}
	x->win = xmalloc(RESOLVE_WINDOW * sizeof(*x->win));
	x->bwin = xzalloc(RESOLVE_WINDOW * sizeof(*x->bwin));
	memset(&x->cur, 0, sizeof(x->cur));
}

static void jobs_free(struct merge_ctx *x)
{
	unsigned int i;

	for (i = 0; x->jobs && i < x->depth; i++) {
		free(x->jobs[i].c);
		free(x->jobs[i].out);
	}
	free(x->jobs);
	x->jobs = NULL;
	free(x->win);
	free(x->bwin);
	idx_release(&x->cur);
}

static int run_pipeline(struct merge_ctx *x, int fd, const char *spool_dir)
{
	const struct spf_layer *top = chain_top(x->chain);
	int ret;

	if (writer_init(&x->w, &x->hdr, fd, x->output, spool_dir)) {
		writer_free(&x->w);
		return -1;
	}
	memcpy(x->w.link_uuid, top->img.link_uuid, 16);
	memcpy(x->w.link_seal, top->img.link_seal, SPF_SEAL_LEN);
	jobs_alloc(x);
	progress_init(&x->prog, "merge", top->img.disk_size);
	ret = pool_pump(pool_new(x->o->threads, x->depth, &mpool_ops, x),
			pump_fill, pump_consume, x);
	progress_end(&x->prog);
	if (!ret)
		ret = writer_finish(&x->w, 0);
	writer_free(&x->w);
	jobs_free(x);
	return ret ? -1 : 0;
}

static int write_output(struct merge_ctx *x)
{
	struct tmpout t;
	char *dir;
	int ret;

	if (tmpout_open(&t, x->output, x->o->force))
		return -1;
	dir = path_dirname(x->output);
	ret = run_pipeline(x, t.fd, dir);
	free(dir);
	if (ret) {
		tmpout_abort(&t);
		return -1;
	}
	return tmpout_commit(&t, true) ? -1 : 0;
}

static int merge(struct merge_opts *o)
{
	struct merge_ctx x = { .o = o, .output = o->args[2] };
	int ret = -1;

	raise_nofile_limit();
	/* IMAGE_FROM is a chain file too. */
	if (o->chain.given)
		chain_args_add(&o->chain, o->args[0]);
	x.chain = chain_open(o->args[1], o->chain.files, o->chain.n);
	if (!x.chain || find_run(&x))
		goto out;
	ret = pick_codec(&x);
	if (ret)
		goto out;
	ret = -1;
	if (check_output(&x))
		goto out;
	build_header(&x);
	if (setup_keys(&x))
		goto out;
	ret = write_output(&x);
out:
	OPENSSL_cleanse(&x.keys, sizeof(x.keys));
	chain_close(x.chain);
	return ret;
}

int cmd_merge(int argc, char **argv)
{
	struct merge_opts o = {
		.codec = -1,
		.level = -1,
		.threads = cpu_count(),
	};
	int ret = parse_opts(&o, argc, argv);

	if (ret == CMD_HELP_SHOWN) {
		ret = EXIT_OK;
	} else if (!ret) {
		ret = merge(&o);
		if (ret != EXIT_USAGE)
			ret = ret ? EXIT_FAIL : EXIT_OK;
	}
	chain_args_free(&o.chain);
	return ret;
}
