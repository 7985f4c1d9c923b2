// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl export: write a chain's whole virtual disk as raw bytes.
 *
 * The main thread resolves chunks across the chain a window at a time and
 * hands batches to the workers, which read, check and decode them; it
 * writes the results in order.  A regular-file OUTPUT is sparse: zero
 * chunks are left as holes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cmd.h"
#include "libchain.h"
#include "libcodec.h"
#include "libpool.h"
#include "libprogress.h"

static const struct cmd_desc desc = {
	"export", "export [OPTIONS] IMAGE OUTPUT|-",
};

static void help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Write the virtual disk of the chain that ends at IMAGE to OUTPUT\n"
	       "(exactly the disk size in bytes), or to stdout with -.  A regular\n"
	       "OUTPUT file is written under a temporary name, renamed once complete,\n"
	       "and left sparse where the disk is zero.  An existing block device\n"
	       "is written in place.  Every chunk's checksum (and, when encrypted,\n"
	       "its authentication tag) is checked on the way.\n\n"
	       "Options:\n"
	       "  -k, --key-file FILE  passphrase of an encrypted chain (- for stdin);\n"
	       "                       otherwise it is asked for on the terminal\n"
	       "      --chain FILE...  the chain's images (any order) instead of finding\n"
	       "                       them in IMAGE's directory; repeat the option or\n"
	       "                       list files before IMAGE OUTPUT\n"
	       "  -t, --threads N      worker threads (default: all CPUs)\n"
	       "  -f, --force          replace an existing OUTPUT file\n"
	       "  -h, --help           show this help\n",
	       desc.usage);
}

enum out_mode {
	OUT_SPARSE,			/* regular file: skip zero chunks */
	OUT_DEVICE,			/* block device: write everything */
	OUT_STREAM,			/* stdout: write everything, in order */
};

struct xjob {
	u64 first;
	u32 n;
	struct spf_res *r;
	u8 *out;			/* n chunks */
	bool *zero;			/* per chunk, OUT_SPARSE only */
	const char *why;		/* first problem */
	int err;
	u64 bad_chunk;
	int write_err;			/* -errno from writing the output */
};

struct export_ctx {
	struct spf_chain *chain;
	const char *image;
	const char *out_name;
	int out_fd;
	enum out_mode mode;
	unsigned int threads;
	u32 cs;
	u64 disk_size;
	u64 nr_chunks;
	u64 next_chunk;
	struct spf_res *win;
	u64 win_first;
	bool win_valid;
	struct idx_cursor cur;
	struct xjob *jobs;
	unsigned int depth;
	u32 batch;
	struct progress prog;
};

struct xworker {
	struct codec_ws *codec;
	struct crypt_ws *crypt;
	u8 *rbuf;
};

static void *xworker_new(void *arg)
{
	struct export_ctx *x = arg;
	struct xworker *w = xzalloc(sizeof(*w));

	w->codec = codec_ws_new();
	w->crypt = crypt_ws_new(NULL);
	w->rbuf = xmalloc(x->cs + SPF_GCM_TAG_LEN);
	if (!w->crypt) {
		err_msg(NULL, "cannot set up OpenSSL contexts");
		codec_ws_free(w->codec);
		free(w->rbuf);
		free(w);
		return NULL;
	}
	return w;
}

static void xworker_free(void *p)
{
	struct xworker *w = p;

	codec_ws_free(w->codec);
	crypt_ws_free(w->crypt);
	free(w->rbuf);
	free(w);
}

static int decode(struct export_ctx *x, struct xworker *w, struct xjob *job,
		  u32 i)
{
	const struct spf_res *r = &job->r[i];
	u8 *dst = job->out + (size_t)i * x->cs;
	u64 chunk = job->first + i;
	int ret;

	if (r->state != SPF_CHUNK_RAW && r->state != SPF_CHUNK_COMPRESSED) {
		job->zero[i] = true;
		if (x->mode != OUT_SPARSE)
			memset(dst, 0, x->cs);
		return 0;
	}
	ret = chunk_load(x->chain->layer[r->layer], chunk, r->state,
			 r->offset, r->length, r->crc, w->rbuf, dst, w->codec,
			 w->crypt, &job->why, &job->err);
	if (ret) {
		if (ret > 0)
			job->why = "layer is locked";
		job->bad_chunk = chunk;
		return -1;
	}
	job->zero[i] = x->mode == OUT_SPARSE && mem_is_zero(dst, x->cs);
	return 0;
}

static int write_batch(struct export_ctx *x, struct xjob *job);

/* Decode a batch; file and device outputs are written here, in parallel. */
static void xwork(void *wctx, unsigned int slot, void *arg)
{
	struct export_ctx *x = arg;
	struct xjob *job = &x->jobs[slot];
	u32 i;

	job->why = NULL;
	job->err = 0;
	job->write_err = 0;
	for (i = 0; i < job->n; i++)
		if (decode(x, wctx, job, i))
			return;
	if (x->mode != OUT_STREAM)
		job->write_err = write_batch(x, job);
}

static const struct pool_ops xpool_ops = {
	.wctx_new = xworker_new,
	.wctx_free = xworker_free,
	.work = xwork,
};

static int fill_job(struct export_ctx *x, struct xjob *job)
{
	job->first = x->next_chunk;
	job->n = MIN((u64)x->batch, x->nr_chunks - x->next_chunk);
	if (!x->win_valid || job->first >= x->win_first + RESOLVE_WINDOW) {
		x->win_first = job->first - job->first % RESOLVE_WINDOW;
		x->win_valid = true;
		if (chain_resolve(x->chain, &x->cur, x->win_first,
				  RESOLVE_WINDOW, x->win))
			return -1;
	}
	memcpy(job->r, &x->win[job->first - x->win_first],
	       job->n * sizeof(*job->r));
	x->next_chunk += job->n;
	return 0;
}

/* Bytes of chunk @chunk that lie inside the disk. */
static u64 chunk_bytes(const struct export_ctx *x, u64 chunk, u32 n)
{
	u64 off = chunk * x->cs;

	return MIN((u64)n * x->cs, x->disk_size - off);
}

/* Write the batch's non-zero runs (all of it for a device).  -errno. */
static int write_batch(struct export_ctx *x, struct xjob *job)
{
	u32 i = 0, j;
	int ret;

	while (i < job->n) {
		if (x->mode == OUT_SPARSE && job->zero[i]) {
			i++;
			continue;
		}
		for (j = i; j < job->n &&
		     (x->mode != OUT_SPARSE || !job->zero[j]); j++)
			;
		ret = pwrite_full(x->out_fd, job->out + (size_t)i * x->cs,
				  chunk_bytes(x, job->first + i, j - i),
				  (job->first + i) * x->cs);
		if (ret)
			return ret;
		i = j;
	}
	return 0;
}

static int consume(struct export_ctx *x, struct xjob *job)
{
	u64 len = chunk_bytes(x, job->first, job->n);
	const struct spf_layer *l;
	int ret = job->write_err;

	if (job->why) {
		l = x->chain->layer[job->r[job->bad_chunk - job->first].layer];
		if (job->err)
			err_sys(l->path, job->err, "chunk %llu: %s",
				(unsigned long long)job->bad_chunk, job->why);
		else
			err_msg(l->path, "chunk %llu: %s",
				(unsigned long long)job->bad_chunk, job->why);
		return -1;
	}
	if (x->mode == OUT_STREAM)
		ret = write_full(x->out_fd, job->out, len);
	if (ret) {
		err_sys(x->out_name, ret, "write failed");
		return -1;
	}
	progress_update(&x->prog, job->first * x->cs + len);
	return 0;
}

static void jobs_alloc(struct export_ctx *x)
{
	unsigned int i;

	x->batch = MAX(1U, (1U << 20) / x->cs);
	x->depth = x->threads * 2 + 2;
	x->jobs = xzalloc(x->depth * sizeof(*x->jobs));
	for (i = 0; i < x->depth; i++) {
		x->jobs[i].r = xmalloc(x->batch * sizeof(struct spf_res));
		x->jobs[i].out = xmalloc((size_t)x->batch * x->cs);
		x->jobs[i].zero = xzalloc(x->batch * sizeof(bool));
	}
	x->win = xmalloc(RESOLVE_WINDOW * sizeof(*x->win));
}

static void jobs_free(struct export_ctx *x)
{
	unsigned int i;

	for (i = 0; x->jobs && i < x->depth; i++) {
		free(x->jobs[i].r);
		free(x->jobs[i].out);
		free(x->jobs[i].zero);
	}
	free(x->jobs);
	free(x->win);
	idx_release(&x->cur);
}

static int pump_fill(void *arg, unsigned int slot)
{
	struct export_ctx *x = arg;

	if (x->next_chunk >= x->nr_chunks)
		return 1;
	return fill_job(x, &x->jobs[slot]);
}

static int pump_consume(void *arg, unsigned int slot)
{
	struct export_ctx *x = arg;

	return consume(x, &x->jobs[slot]);
}

static int pump(struct export_ctx *x)
{
	return pool_pump(pool_new(x->threads, x->depth, &xpool_ops, x), pump_fill,
			 pump_consume, x);
}

static int run(struct export_ctx *x)
{
	const struct spf_layer *top = chain_top(x->chain);
	int ret;

	x->cs = top->img.chunk_size;
	x->disk_size = top->img.disk_size;
	x->nr_chunks = top->img.nr_chunks;
	jobs_alloc(x);
	progress_init(&x->prog, "export", x->disk_size);
	ret = pump(x);
	progress_end(&x->prog);
	jobs_free(x);
	return ret;
}

static bool is_chain_file(const struct spf_chain *c, const struct stat *st)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		if (c->layer[i]->dev == st->st_dev &&
		    c->layer[i]->ino == st->st_ino)
			return true;
	return false;
}

static int export_device(struct export_ctx *x, const char *output)
{
	u64 size;
	int ret;

	x->out_fd = open(output, O_WRONLY | O_CLOEXEC);
	if (x->out_fd < 0) {
		err_sys(output, errno, "cannot open");
		return -1;
	}
	ret = fd_size(x->out_fd, &size);
	if (!ret && size < chain_top(x->chain)->img.disk_size) {
		err_msg(output, "device of %llu bytes is smaller than the disk of %llu bytes",
			(unsigned long long)size,
			(unsigned long long)chain_top(x->chain)->img.disk_size);
		ret = -1;
	} else if (ret) {
		err_sys(output, ret, "cannot get size");
	}
	x->mode = OUT_DEVICE;
	if (!ret)
		ret = run(x);
	if (!ret && fsync(x->out_fd)) {
		err_sys(output, errno, "cannot sync");
		ret = -1;
	}
	close(x->out_fd);
	return ret ? -1 : 0;
}

static int export_file(struct export_ctx *x, const char *output, bool force)
{
	u64 size = chain_top(x->chain)->img.disk_size;
	struct tmpout t;

	if (tmpout_open(&t, output, force))
		return -1;
	x->out_fd = t.fd;
	x->mode = OUT_SPARSE;
	if (ftruncate(t.fd, size)) {
		err_sys(output, errno, "cannot set the size to %llu bytes",
			(unsigned long long)size);
		tmpout_abort(&t);
		return -1;
	}
	if (run(x)) {
		tmpout_abort(&t);
		return -1;
	}
	return tmpout_commit(&t, false) ? -1 : 0;
}

static int export(struct export_ctx *x, const char *output, bool force)
{
	struct stat st;

	x->out_name = strcmp(output, "-") ? output : "stdout";
	if (!strcmp(output, "-")) {
		if (isatty(STDOUT_FILENO)) {
			err_msg("stdout", "refusing to write a disk to a terminal");
			return -1;
		}
		x->out_fd = STDOUT_FILENO;
		x->mode = OUT_STREAM;
		return run(x);
	}
	if (!stat(output, &st)) {
		if (is_chain_file(x->chain, &st)) {
			err_msg(output, "is an image of the chain");
			return -1;
		}
		if (S_ISBLK(st.st_mode))
			return export_device(x, output);
	}
	return export_file(x, output, force);
}

int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key-file",	required_argument, NULL, 'k' },
		{ "chain",	required_argument, NULL, 'C' },
		{ "threads",	required_argument, NULL, 't' },
		{ "force",	no_argument,       NULL, 'f' },
		{ "help",	no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct export_ctx x = { .threads = cpu_count() };
	struct chain_args ca = { 0 };
	const char *key_file = NULL;
	char *args[2];
	bool force = false;
	int c, ret = EXIT_FAIL;

	while ((c = getopt_long(argc, argv, ":k:t:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': key_file = optarg; break;
		case 'C': chain_args_add(&ca, optarg); break;
		case 'f': force = true; break;
		case 't':
			if (parse_threads(&desc, optarg, &x.threads))
				goto usage;
			break;
		case 'h':
			help();
			ret = EXIT_OK;
			goto out;
		default:
			bad_option(&desc, c, argv);
			goto usage;
		}
	}
	if (take_args(&desc, argc, argv, 2, &ca, args))
		goto usage;
	raise_nofile_limit();
	x.image = args[0];
	x.chain = chain_open(args[0], ca.files, ca.n);
	if (x.chain && !chain_unlock(x.chain, key_file, false) &&
	    !export(&x, args[1], force))
		ret = EXIT_OK;
	chain_close(x.chain);
	goto out;
usage:
	ret = EXIT_USAGE;
out:
	chain_args_free(&ca);
	return ret;
}
