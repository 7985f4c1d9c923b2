// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl create: read a disk, write a full or incremental image.
 *
 * The main thread reads the source in batches of chunks and hands them to
 * the worker pool (zero check, digest, compress, encrypt, crc); it takes
 * the results back in order and feeds them to the sequential writer.
 */
#include <errno.h>
#include <fcntl.h>
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

#define ZSTD_MAX_LEVEL	22

static const struct cmd_desc desc = {
	"create", "create [OPTIONS] SOURCE IMAGE",
};

static void help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Write an image of SOURCE (a file, a block device, or - for stdin) to\n"
	       "IMAGE (- for stdout).  Without --parent, a full image (.spf); with it,\n"
	       "an incremental (.spi) holding only the chunks that differ from the\n"
	       "chain ending at the parent.  IMAGE is written under a temporary name\n"
	       "and renamed once complete.\n\n"
	       "Options:\n"
	       "  -c, --compress CODEC   none, deflate, zstd or lz4 (default: zstd; an\n"
	       "                         incremental defaults to its parent's codec)\n"
	       "  -l, --level N          compression level (zstd 1-%d, default 3;\n"
	       "                         deflate 1-9, default 6; lz4 1-12, default 1,\n"
	       "                         above 1 uses LZ4HC)\n"
	       "  -s, --chunk-size SIZE  4K to 1M, a power of two (default 16K, or 64K\n"
	       "                         with -c none and no -e; an incremental uses\n"
	       "                         its parent's)\n"
	       "  -p, --parent IMAGE     write an incremental on top of IMAGE, the top of\n"
	       "                         an existing chain; an encrypted chain's\n"
	       "                         incrementals are encrypted with its passphrase\n"
	       "      --chain FILE...    the parent chain's images (any order) instead of\n"
	       "                         finding them in the parent's directory; repeat\n"
	       "                         the option or list files before SOURCE IMAGE\n"
	       "  -e, --encrypt          encrypt with AES-256-GCM under a passphrase\n"
	       "  -k, --key-file FILE    read the passphrase from FILE (- for stdin; one\n"
	       "                         trailing newline is removed); otherwise it is\n"
	       "                         asked for on the terminal\n"
	       "  -t, --threads N        worker threads (default: all CPUs)\n"
	       "  -L, --label TEXT       a label of up to %d bytes\n"
	       "  -f, --force            replace an existing IMAGE\n"
	       "      --kdf-time N       Argon2id passes (default %d)\n"
	       "      --kdf-memory KIB   Argon2id memory in KiB (default %d); small\n"
	       "                         values are for tests only\n"
	       "  -h, --help             show this help\n",
	       desc.usage, ZSTD_MAX_LEVEL, SPF_LABEL_LEN - 1, KDF_T_DEFAULT,
	       KDF_M_DEFAULT);
}

struct create_opts {
	int codec;			/* -1: default */
	int level;			/* -1: default */
	u32 chunk_shift;		/* 0: default */
	const char *parent;
	bool encrypt;
	const char *key_file;
	unsigned int threads;
	const char *label;
	bool force;
	struct kdf_params kdf;
	struct chain_args chain;
	char *args[2];			/* SOURCE IMAGE */
};

/* One chunk of a batch. */
struct cchunk {
	bool known_zero;		/* a hole in the source */
	u8 pstate;			/* the parent chain's state, 0: none */
	u8 pdigest[SPF_DIGEST_LEN];
	u8 state;			/* result; 0: no entry */
	u32 len;
	u32 crc;
	u8 digest[SPF_DIGEST_LEN];
	const u8 *data;
};

struct cjob {
	u64 first;
	u32 n;
	u8 *in;				/* n chunks of plaintext */
	u8 *out;			/* n stored records */
	struct cchunk *c;
	const char *err;		/* worker failure */
};

struct create_ctx {
	struct create_opts *o;
	const char *image;		/* for messages */
	struct spf_chain *parent;
	struct spf_header hdr;
	struct spf_keys keys;
	bool encrypted;
	u32 cs;
	int codec, level;

	/* Source. */
	const char *src_name;
	int src_fd;
	bool src_pread;			/* regular file or block device */
	u64 src_base;			/* offset of byte 0 of the disk */
	u64 src_size;			/* when known */
	bool size_known;
	bool sparse;			/* SEEK_DATA works */
	u64 seg_data, seg_hole;		/* next data extent, for holes */
	u64 read_bytes;
	u64 next_chunk;
	bool eof;

	/* The parent chain, resolved one window at a time. */
	struct spf_res *win;
	u64 win_first;
	bool win_valid;
	struct idx_cursor cur;

	struct cjob *jobs;
	unsigned int depth;
	u32 batch;
	struct spf_writer w;
	struct progress prog;
};

/* ---- options ---- */

static int parse_chunk_size(const char *arg, u32 *shift)
{
	u64 v;
	u32 s;

	if (parse_size(arg, &v))
		return usage_error(&desc, "invalid chunk size '%s'", arg);
	for (s = SPF_CHUNK_SHIFT_MIN; s <= SPF_CHUNK_SHIFT_MAX; s++) {
		if (v == 1ULL << s) {
			*shift = s;
			return 0;
		}
	}
	return usage_error(&desc,
			   "invalid chunk size '%s' (a power of two from 4K to 1M)",
			   arg);
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 :
			(*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;

		if (n < 0 || (n == 1 && *p < 0xc2))
			return false;
		for (p++; n > 0; n--, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

static int parse_one(struct create_opts *o, int c, const char *arg)
{
	u64 v;

	switch (c) {
	case 'c':
		o->codec = codec_from_name(arg);
		if (o->codec < 0)
			return usage_error(&desc, "invalid codec '%s' (none, deflate, zstd or lz4)",
					   arg);
		return 0;
	case 'l':
		if (parse_uint(arg, 0, 65535, &v))
			return usage_error(&desc, "invalid level '%s'", arg);
		o->level = v;
		return 0;
	case 's':
		return parse_chunk_size(arg, &o->chunk_shift);
	case 't':
		return parse_threads(&desc, arg, &o->threads);
	case 'L':
		if (strlen(arg) >= SPF_LABEL_LEN || !utf8_valid(arg))
			return usage_error(&desc, "invalid label (UTF-8, at most %d bytes)",
					   SPF_LABEL_LEN - 1);
		o->label = arg;
		return 0;
	case 'T':
		if (parse_uint(arg, 1, 64, &v))
			return usage_error(&desc, "invalid --kdf-time '%s' (1 to 64)",
					   arg);
		o->kdf.t_cost = v;
		return 0;
	case 'M':
		if (parse_uint(arg, 8 * KDF_P_DEFAULT, 4U << 20, &v))
			return usage_error(&desc, "invalid --kdf-memory '%s' (%d to %u KiB)",
					   arg, 8 * KDF_P_DEFAULT, 4U << 20);
		o->kdf.m_cost = v;
		return 0;
	}
	return -1;
}

static int parse_opts(struct create_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "compress",	required_argument, NULL, 'c' },
		{ "level",	required_argument, NULL, 'l' },
		{ "chunk-size",	required_argument, NULL, 's' },
		{ "parent",	required_argument, NULL, 'p' },
		{ "chain",	required_argument, NULL, 'C' },
		{ "encrypt",	no_argument,       NULL, 'e' },
		{ "key-file",	required_argument, NULL, 'k' },
		{ "threads",	required_argument, NULL, 't' },
		{ "label",	required_argument, NULL, 'L' },
		{ "force",	no_argument,       NULL, 'f' },
		{ "kdf-time",	required_argument, NULL, 'T' },
		{ "kdf-memory",	required_argument, NULL, 'M' },
		{ "help",	no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	while ((c = getopt_long(argc, argv, ":c:l:s:p:ek:t:L:fh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'p': o->parent = optarg; break;
		case 'C': chain_args_add(&o->chain, optarg); break;
		case 'e': o->encrypt = true; break;
		case 'k': o->key_file = optarg; break;
		case 'f': o->force = true; break;
		case 'h': help(); return CMD_HELP_SHOWN;
		case '?':
		case ':': return bad_option(&desc, c, argv);
		default:
			ret = parse_one(o, c, optarg);
			if (ret)
				return ret;
		}
	}
	if (take_args(&desc, argc, argv, 2, o->parent ? &o->chain : NULL,
		      o->args))
		return EXIT_USAGE;
	if (o->chain.given && !o->parent)
		return usage_error(&desc, "--chain needs --parent");
	if (!strcmp(o->args[0], "-") && o->key_file &&
	    !strcmp(o->key_file, "-"))
		return usage_error(&desc, "SOURCE and --key-file cannot both be stdin");
	if (o->codec == SPF_CODEC_NONE && o->level >= 0)
		return usage_error(&desc, "--level needs a codec");
	return 0;
}

static int check_level(const struct create_ctx *x)
{
	int min, max;

	if (x->o->level < 0 || !codec_level_range(x->codec, &min, &max))
		return 0;
	if (x->o->level < min || x->o->level > max)
		return usage_error(&desc, "invalid level %d for %s (%d to %d)",
				   x->o->level, spf_codec_name(x->codec), min,
				   max);
	return 0;
}

/* ---- source ---- */

static int open_source(struct create_ctx *x)
{
	const char *src = x->o->args[0];
	struct stat st;
	off_t cur;
	int ret;

	x->src_name = strcmp(src, "-") ? src : "stdin";
	x->src_fd = strcmp(src, "-") ? open(src, O_RDONLY | O_CLOEXEC) :
				       STDIN_FILENO;
	if (x->src_fd < 0) {
		err_sys(src, errno, "cannot open");
		return -1;
	}
	if (fstat(x->src_fd, &st)) {
		err_sys(x->src_name, errno, "cannot stat");
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return 0;		/* a pipe: size found at the end */
	ret = fd_size(x->src_fd, &x->src_size);
	if (ret) {
		err_sys(x->src_name, ret, "cannot get size");
		return -1;
	}
	cur = lseek(x->src_fd, 0, SEEK_CUR);
	x->src_base = cur > 0 ? (u64)cur : 0;
	x->src_size -= MIN(x->src_size, x->src_base);
	x->size_known = true;
	x->src_pread = true;
	x->sparse = S_ISREG(st.st_mode);
	posix_fadvise(x->src_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (!x->src_size) {
		err_msg(x->src_name, "source is empty");
		return -1;
	}
	if (x->src_size > SPF_MAX_DISK_SIZE) {
		err_msg(x->src_name, "source of %llu bytes exceeds the 1 PiB limit",
			(unsigned long long)x->src_size);
		return -1;
	}
	return 0;
}

/* Does [off, off + len) of the source lie in a hole? */
static bool src_in_hole(struct create_ctx *x, u64 off, u64 len)
{
	off_t d, h;

	if (!x->sparse)
		return false;
	if (off >= x->seg_hole) {
		d = lseek(x->src_fd, x->src_base + off, SEEK_DATA);
		if (d < 0 && errno != ENXIO) {
			x->sparse = false;
			return false;
		}
		if (d < 0) {
			x->seg_data = x->seg_hole = UINT64_MAX;
			return true;
		}
		h = lseek(x->src_fd, d, SEEK_HOLE);
		if (h < 0) {
			x->sparse = false;
			return false;
		}
		x->seg_data = d - x->src_base;
		x->seg_hole = h - x->src_base;
	}
	return off + len <= x->seg_data;
}

/* Read chunk @i of the source into @buf.  1: got it, 0: end, -1: error. */
static int read_chunk(struct create_ctx *x, u8 *buf, struct cchunk *c)
{
	u64 off = x->next_chunk * x->cs;
	ssize_t n;
	int ret;

	c->known_zero = false;
	if (x->size_known) {
		if (off >= x->src_size)
			return 0;
		n = MIN((u64)x->cs, x->src_size - off);
		if (src_in_hole(x, off, n)) {
			c->known_zero = true;
		} else {
			ret = pread_exact(x->src_fd, buf, n, x->src_base + off);
			if (ret) {
				err_sys(x->src_name, ret, "read failed at offset %llu",
					(unsigned long long)off);
				return -1;
			}
		}
	} else {
		n = read_full(x->src_fd, buf, x->cs);
		if (n < 0) {
			err_sys(x->src_name, n, "read failed");
			return -1;
		}
		if ((size_t)n < x->cs)
			x->eof = true;
		if (!n)
			return 0;
		if (off + n > SPF_MAX_DISK_SIZE) {
			err_msg(x->src_name, "source exceeds the 1 PiB limit");
			return -1;
		}
	}
	if ((size_t)n < x->cs && !c->known_zero)
		memset(buf + n, 0, x->cs - n);
	x->read_bytes += n;
	return 1;
}

/* ---- parent chain ---- */

static int parent_info(struct create_ctx *x, struct cchunk *c)
{
	u64 chunk = x->next_chunk;
	const struct spf_res *r;

	c->pstate = 0;
	if (!x->parent)
		return 0;
	if (!x->win_valid || chunk < x->win_first ||
	    chunk >= x->win_first + RESOLVE_WINDOW) {
		x->win_first = chunk - chunk % RESOLVE_WINDOW;
		x->win_valid = true;
		if (chain_resolve(x->parent, &x->cur, x->win_first,
				  RESOLVE_WINDOW, x->win))
			return -1;
	}
	r = &x->win[chunk - x->win_first];
	c->pstate = r->state;
	memcpy(c->pdigest, r->digest, SPF_DIGEST_LEN);
	return 0;
}

/* Fill a batch.  0 with job->n chunks (0 at the end), or -1. */
static int fill_job(struct create_ctx *x, struct cjob *job)
{
	int ret;

	job->first = x->next_chunk;
	job->n = 0;
	job->err = NULL;
	while (job->n < x->batch && !x->eof) {
		struct cchunk *c = &job->c[job->n];

		ret = read_chunk(x, job->in + (size_t)job->n * x->cs, c);
		if (ret < 0)
			return -1;
		if (!ret) {
			x->eof = true;
			break;
		}
		if (parent_info(x, c))
			return -1;
		job->n++;
		x->next_chunk++;
	}
	return 0;
}

/* ---- workers ---- */

struct cworker {
	struct codec_ws *codec;
	struct crypt_ws *crypt;
};

static void *cworker_new(void *arg)
{
	struct create_ctx *x = arg;
	struct cworker *w = xzalloc(sizeof(*w));

	w->codec = codec_ws_new();
	w->crypt = crypt_ws_new(x->encrypted ? x->keys.digest : NULL);
	if (!w->crypt) {
		err_msg(NULL, "cannot set up OpenSSL contexts");
		codec_ws_free(w->codec);
		free(w);
		return NULL;
	}
	return w;
}

static void cworker_free(void *p)
{
	struct cworker *w = p;

	codec_ws_free(w->codec);
	crypt_ws_free(w->crypt);
	free(w);
}

static bool stored_state(u8 state)
{
	return state == SPF_CHUNK_RAW || state == SPF_CHUNK_COMPRESSED;
}

/* Compress, encrypt and checksum one chunk that is to be stored. */
static const char *store_chunk(struct create_ctx *x, struct cworker *w,
			       u64 chunk, const u8 *in, u8 *out,
			       struct cchunk *c)
{
	const u8 *payload = in;
	long n = 0;

	if (x->codec != SPF_CODEC_NONE) {
		n = codec_compress(w->codec, x->codec, x->level, in, x->cs,
				   out, x->cs - 1);
		if (n < 0)
			return "compression failed";
	}
	c->state = n ? SPF_CHUNK_COMPRESSED : SPF_CHUNK_RAW;
	if (n)
		payload = out;
	c->len = n ? (u32)n : x->cs;
	if (x->encrypted) {
		if (chunk_encrypt(w->crypt, x->keys.data, x->hdr.uuid, chunk,
				  payload, c->len, out))
			return "encryption failed";
		payload = out;
		c->len += SPF_GCM_TAG_LEN;
	}
	c->data = payload;
	c->crc = spf_crc32c(payload, c->len);
	return NULL;
}

static const char *work_chunk(struct create_ctx *x, struct cworker *w,
			      u64 chunk, const u8 *in, u8 *out,
			      struct cchunk *c)
{
	c->state = 0;
	if (c->known_zero || mem_is_zero(in, x->cs)) {
		if (stored_state(c->pstate))
			c->state = SPF_CHUNK_ZERO;
		return NULL;
	}
	if (chunk_digest(w->crypt, x->encrypted, in, x->cs, c->digest))
		return "digest failed";
	if (stored_state(c->pstate) &&
	    !memcmp(c->digest, c->pdigest, SPF_DIGEST_LEN))
		return NULL;
	return store_chunk(x, w, chunk, in, out, c);
}

static void cwork(void *wctx, unsigned int slot, void *arg)
{
	struct create_ctx *x = arg;
	struct cjob *job = &x->jobs[slot];
	size_t rec = x->cs + SPF_GCM_TAG_LEN;
	u32 i;

	for (i = 0; i < job->n && !job->err; i++)
		job->err = work_chunk(x, wctx, job->first + i,
				      job->in + (size_t)i * x->cs,
				      job->out + i * rec, &job->c[i]);
}

static const struct pool_ops cpool_ops = {
	.wctx_new = cworker_new,
	.wctx_free = cworker_free,
	.work = cwork,
};

/* ---- the run ---- */

static int consume(struct create_ctx *x, struct cjob *job)
{
	u32 i;

	if (job->err) {
		err_msg(x->image, "chunk %llu: %s",
			(unsigned long long)job->first, job->err);
		return -1;
	}
	for (i = 0; i < job->n; i++) {
		struct cchunk *c = &job->c[i];

		if (c->state && writer_add(&x->w, job->first + i, c->state,
					   c->data, c->len, c->crc,
					   c->digest))
			return -1;
	}
	progress_update(&x->prog, MIN(x->read_bytes,
				      (job->first + job->n) * (u64)x->cs));
	return 0;
}

static void jobs_alloc(struct create_ctx *x)
{
	unsigned int i;

	x->batch = MAX(1U, (1U << 20) / x->cs);
	x->depth = x->o->threads * 2 + 2;
	x->jobs = xzalloc(x->depth * sizeof(*x->jobs));
	for (i = 0; i < x->depth; i++) {
		x->jobs[i].in = xmalloc((size_t)x->batch * x->cs);
		x->jobs[i].out = xmalloc((size_t)x->batch *
					 (x->cs + SPF_GCM_TAG_LEN));
		x->jobs[i].c = xzalloc(x->batch * sizeof(struct cchunk));
	}
}

static void jobs_free(struct create_ctx *x)
{
	unsigned int i;

	for (i = 0; x->jobs && i < x->depth; i++) {
		free(x->jobs[i].in);
		free(x->jobs[i].out);
		free(x->jobs[i].c);
	}
	free(x->jobs);
	x->jobs = NULL;
}

static int pump_fill(void *arg, unsigned int slot)
{
	struct create_ctx *x = arg;
	int ret;

	if (x->eof)
		return 1;
	ret = fill_job(x, &x->jobs[slot]);
	if (ret)
		return ret;
	return x->jobs[slot].n ? 0 : 1;
}

static int pump_consume(void *arg, unsigned int slot)
{
	struct create_ctx *x = arg;

	return consume(x, &x->jobs[slot]);
}

static int pump(struct create_ctx *x)
{
	return pool_pump(pool_new(x->o->threads, x->depth, &cpool_ops, x), pump_fill,
			 pump_consume, x);
}

static u64 round_up_512(u64 v)
{
	return (v + SPF_SECTOR_SIZE - 1) & ~(u64)(SPF_SECTOR_SIZE - 1);
}

static int check_disk_size(struct create_ctx *x, u64 disk_size)
{
	u64 psize;

	if (!disk_size) {
		err_msg(x->src_name, "source is empty");
		return -1;
	}
	if (!x->parent)
		return 0;
	psize = chain_top(x->parent)->img.disk_size;
	if (disk_size < psize) {
		err_msg(x->src_name,
			"source of %llu bytes is smaller than the parent's disk of %llu bytes",
			(unsigned long long)disk_size,
			(unsigned long long)psize);
		return -1;
	}
	return 0;
}

static int run_pipeline(struct create_ctx *x, int fd, const char *spool_dir)
{
	u64 disk_size = x->size_known ? round_up_512(x->src_size) : 0;
	int ret;

	if (x->size_known) {
		if (check_disk_size(x, disk_size))
			return -1;
		x->hdr.disk_size = cpu_to_le64(disk_size);
	}
	if (writer_init(&x->w, &x->hdr, fd, x->image, spool_dir)) {
		writer_free(&x->w);
		return -1;
	}
	jobs_alloc(x);
	if (x->parent) {
		x->win = xmalloc(RESOLVE_WINDOW * sizeof(*x->win));
		memset(&x->cur, 0, sizeof(x->cur));
	}
	progress_init(&x->prog, "create", x->size_known ? x->src_size : 0);
	ret = pump(x);
	progress_end(&x->prog);
	if (!ret && !x->size_known) {
		disk_size = round_up_512(x->read_bytes);
		ret = check_disk_size(x, disk_size);
	}
	if (!ret)
		ret = writer_finish(&x->w, disk_size);
	writer_free(&x->w);
	jobs_free(x);
	free(x->win);
	idx_release(&x->cur);
	return ret ? -1 : 0;
}

/* ---- header and keys ---- */

static void build_header(struct create_ctx *x)
{
	header_build(&x->hdr, x->cs, x->codec, x->level, x->encrypted,
		     x->o->label, x->parent ? chain_top(x->parent) : NULL);
}

static int setup_keys(struct create_ctx *x)
{
	struct spf_layer *top = x->parent ? chain_top(x->parent) : NULL;
	struct pass pass;
	int ret;

	if (!x->encrypted) {
		if (x->o->key_file) {
			err_msg(x->image, "--key-file given but the image is not encrypted (add --encrypt)");
			return -1;
		}
		return 0;
	}
	if (random_bytes(x->keys.data, SPF_KEY_LEN))
		goto rand_fail;
	if (top) {
		if (pass_get(x->o->key_file, top->path, false, &pass))
			return -1;
		ret = layer_unlock(top, &pass);
		if (!ret)
			memcpy(x->keys.digest, top->keys.digest, SPF_KEY_LEN);
	} else {
		if (pass_get(x->o->key_file, x->image, true, &pass))
			return -1;
		ret = random_bytes(x->keys.digest, SPF_KEY_LEN);
	}
	if (!ret) {
		ret = keys_wrap(&x->hdr, &pass, &x->keys, &x->o->kdf,
				top ? &top->hdr->crypt : NULL);
		if (ret)
			err_sys(x->image, ret, "cannot wrap the image keys");
	}
	pass_free(&pass);
	return ret ? -1 : 0;
rand_fail:
	err_msg(x->image, "cannot get random bytes");
	return -1;
}

/* Settings an incremental takes from its parent chain. */
static int inherit(struct create_ctx *x)
{
	const struct spf_layer *p = chain_top(x->parent);

	if (x->o->chunk_shift && x->o->chunk_shift != p->img.chunk_shift) {
		err_msg(x->image, "chunk size %u differs from the parent's %u",
			1U << x->o->chunk_shift, p->img.chunk_size);
		return -1;
	}
	x->cs = p->img.chunk_size;
	if (x->o->codec < 0) {
		x->codec = p->img.codec;
		if (x->o->level < 0)
			x->level = p->img.codec_level;
	}
	if (p->img.encrypted)
		x->encrypted = true;
	else if (x->o->encrypt) {
		err_msg(x->image,
			"cannot add an encrypted image to a chain that is not encrypted (%s)",
			p->path);
		return -1;
	}
	if (p->img.depth >= SPF_MAX_DEPTH) {
		err_msg(p->path, "chain is already %u images deep",
			SPF_MAX_DEPTH + 1);
		return -1;
	}
	return 0;
}

/*
 * The default chunk size of a full image.  A read of part of a compressed
 * or encrypted chunk must decode or authenticate all of it, so those
 * chunks are small, for fast small random reads; a plain chunk is read in
 * part, and larger chunks mean fewer extents and faster sequential reads.
 * docs/performance.md has the figures behind both sizes.
 */
#define CHUNK_SHIFT_PLAIN	16	/* 64 KiB */
#define CHUNK_SHIFT_CODED	14	/* 16 KiB */

static u32 default_chunk_shift(int codec, bool encrypted)
{
	if (codec == SPF_CODEC_NONE && !encrypted)
		return CHUNK_SHIFT_PLAIN;
	return CHUNK_SHIFT_CODED;
}

static int settings(struct create_ctx *x)
{
	struct create_opts *o = x->o;

	x->codec = o->codec >= 0 ? o->codec : SPF_CODEC_ZSTD;
	x->level = -1;
	x->encrypted = o->encrypt;
	x->cs = 1U << (o->chunk_shift ? o->chunk_shift :
		       default_chunk_shift(x->codec, x->encrypted));
	if (x->parent && inherit(x))
		return -1;
	if (o->level >= 0)
		x->level = o->level;
	else if (x->level < 0)
		x->level = codec_default_level(x->codec);
	if (x->codec == SPF_CODEC_NONE)
		x->level = 0;
	return check_level(x) ? EXIT_USAGE : 0;
}

/* IMAGE must not be the source or an image of the parent chain. */
static int check_not_input(struct create_ctx *x)
{
	struct stat st, src;
	unsigned int i;

	if (!strcmp(x->o->args[1], "-") || stat(x->o->args[1], &st))
		return 0;
	if (!fstat(x->src_fd, &src) && src.st_dev == st.st_dev &&
	    src.st_ino == st.st_ino) {
		err_msg(x->image, "is the source");
		return -1;
	}
	for (i = 0; x->parent && i < x->parent->n; i++) {
		if (x->parent->layer[i]->dev == st.st_dev &&
		    x->parent->layer[i]->ino == st.st_ino) {
			err_msg(x->image, "is part of the parent chain");
			return -1;
		}
	}
	return 0;
}

static void warn_other_dir(struct create_ctx *x)
{
	char *a, *b;

	if (!x->parent || !strcmp(x->o->args[1], "-") || x->o->chain.given)
		return;
	a = path_dirname(x->o->args[1]);
	b = path_dirname(chain_top(x->parent)->path);
	if (strcmp(a, b))
		err_msg(x->image,
			"warning: the parent is in another directory (%s); reading this image will need --chain",
			b);
	free(a);
	free(b);
}

static int write_image(struct create_ctx *x)
{
	const char *image = x->o->args[1];
	const char *tmpdir = getenv("TMPDIR");
	struct tmpout t;
	char *dir;
	int ret;

	if (!strcmp(image, "-")) {
		if (isatty(STDOUT_FILENO)) {
			err_msg("stdout", "refusing to write an image to a terminal");
			return -1;
		}
		return run_pipeline(x, STDOUT_FILENO,
				    tmpdir && *tmpdir ? tmpdir : "/tmp");
	}
	if (tmpout_open(&t, image, x->o->force))
		return -1;
	dir = path_dirname(image);
	ret = run_pipeline(x, t.fd, dir);
	free(dir);
	if (ret) {
		tmpout_abort(&t);
		return -1;
	}
	return tmpout_commit(&t, true) ? -1 : 0;
}

static int create(struct create_opts *o)
{
	struct create_ctx x = { .o = o, .src_fd = -1 };
	int ret = -1;

	x.image = strcmp(o->args[1], "-") ? o->args[1] : "stdout";
	if (o->parent) {
		raise_nofile_limit();
		x.parent = chain_open(o->parent, o->chain.files, o->chain.n);
		if (!x.parent)
			goto out;
	}
	ret = settings(&x);
	if (ret)
		goto out;
	ret = -1;
	if (open_source(&x) || check_not_input(&x))
		goto out;
	build_header(&x);
	if (setup_keys(&x))
		goto out;
	warn_other_dir(&x);
	ret = write_image(&x);
out:
	if (x.src_fd > STDERR_FILENO)
		close(x.src_fd);
	OPENSSL_cleanse(&x.keys, sizeof(x.keys));
	chain_close(x.parent);
	return ret;
}

int cmd_create(int argc, char **argv)
{
	struct create_opts o = {
		.codec = -1,
		.level = -1,
		.threads = cpu_count(),
		.kdf = { KDF_T_DEFAULT, KDF_M_DEFAULT, KDF_P_DEFAULT },
	};
	int ret = parse_opts(&o, argc, argv);

	if (ret == CMD_HELP_SHOWN) {
		ret = EXIT_OK;
	} else if (!ret) {
		ret = create(&o);
		if (ret != EXIT_USAGE)
			ret = ret ? EXIT_FAIL : EXIT_OK;
	}
	chain_args_free(&o.chain);
	return ret;
}
