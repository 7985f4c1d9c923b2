// SPDX-License-Identifier: GPL-2.0
/*
 * Write-back overlays: creation, replay and sealing (docs/format.md,
 * section 11).  Every check of the header and of each record goes through
 * the shared validator (drivers/block/spfblk/format.c), as in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "libchain.h"
#include "libcodec.h"
#include "libcrypt.h"
#include "libseal.h"
#include "libwriter.h"

static int why_set(char *why, size_t len, const char *fmt, ...)
	__printf(3, 4);
static int why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return 0;
}

/* ---- open ---- */

int overlay_open(const char *path, int oflags, struct overlay **out,
		 char *why, size_t why_len)
{
	struct overlay *o = xzalloc(sizeof(*o));
	struct spf_msg msg;
	struct stat st;
	ssize_t n;
	int ret;

	*out = NULL;
	o->path = xstrdup(path);
	o->fd = open(path, oflags | O_CLOEXEC | O_NONBLOCK);
	if (o->fd < 0) {
		ret = -errno;
		why_set(why, why_len, "cannot open: %s", strerror(errno));
		goto fail;
	}
	if (fstat(o->fd, &st)) {
		ret = -errno;
		why_set(why, why_len, "cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		why_set(why, why_len, "not a regular file");
		goto fail;
	}
	if (fcntl(o->fd, F_SETFL, 0)) {
		ret = -errno;
		why_set(why, why_len, "cannot open: %s", strerror(errno));
		goto fail;
	}
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	o->mode = st.st_mode & 07777;
	o->size = st.st_size;
	o->hdr = xzalloc(sizeof(*o->hdr));
	n = pread_full(o->fd, o->hdr, sizeof(*o->hdr), 0);
	if (n < 0) {
		ret = n;
		why_set(why, why_len, "cannot read header: %s", strerror(-n));
		goto fail;
	}
	ret = spf_parse_overlay_header(o->hdr, n, o->size, &o->img, &msg);
	if (ret) {
		why_set(why, why_len, "%s", msg.text);
		goto fail;
	}
	o->end = SPF_HEADER_SIZE;
	*out = o;
	return 0;
fail:
	overlay_close(o);
	return ret;
}

void overlay_close(struct overlay *o)
{
	if (!o)
		return;
	if (o->fd >= 0)
		close(o->fd);
	OPENSSL_cleanse(&o->keys, sizeof(o->keys));
	free(o->hdr);
	free(o->rec);
	free(o->path);
	free(o);
}

/* ---- replay ---- */

static int rec_cmp(const void *a, const void *b)
{
	const struct ovl_rec *x = a, *y = b;

	if (x->chunk != y->chunk)
		return x->chunk < y->chunk ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int overlay_replay(struct overlay *o)
{
	u32 max = spf_max_stored_len(&o->img);
	u8 *buf = xmalloc(max);
	struct spf_log_record r;
	struct spf_msg msg;
	u64 off = SPF_HEADER_SIZE, i;
	int ret = 0;

	o->nr = 0;
	o->data_bytes = 0;
	o->torn_why[0] = '\0';
	for (;;) {
		struct ovl_rec *v;
		ssize_t n;
		u32 len;

		if (off == o->size)
			break;
		n = pread_full(o->fd, &r, sizeof(r), off);
		if (n < 0) {
			err_sys(o->path, -n, "cannot read record at offset %llu",
				(unsigned long long)off);
			ret = -1;
			break;
		}
		if ((size_t)n < sizeof(r)) {
			why_set(o->torn_why, sizeof(o->torn_why),
				"file ends inside a record");
			break;
		}
		if (spf_check_log_record(&o->img, &r, o->nr + 1, &msg)) {
			why_set(o->torn_why, sizeof(o->torn_why), "%s",
				msg.text);
			break;
		}
		len = le32_to_cpu(r.length);
		if (len > o->size - off - sizeof(r)) {
			why_set(o->torn_why, sizeof(o->torn_why),
				"file ends inside the record's data");
			break;
		}
		if (len) {
			ret = pread_exact(o->fd, buf, len, off + sizeof(r));
			if (ret) {
				err_sys(o->path, ret,
					"cannot read record data at offset %llu",
					(unsigned long long)(off + sizeof(r)));
				ret = -1;
				break;
			}
			if (spf_crc32c(buf, len) != le32_to_cpu(r.data_crc)) {
				why_set(o->torn_why, sizeof(o->torn_why),
					"record data checksum mismatch");
				break;
			}
		}
		if (o->nr == o->cap) {
			o->cap = o->cap ? o->cap * 2 : 256;
			o->rec = xrealloc(o->rec, o->cap * sizeof(*o->rec));
		}
		v = &o->rec[o->nr++];
		v->seq = le64_to_cpu(r.seq);
		v->chunk = le64_to_cpu(r.chunk);
		v->data_off = off + sizeof(r);
		v->len = len;
		v->crc = le32_to_cpu(r.data_crc);
		v->state = r.state;
		memcpy(v->nonce, r.nonce, sizeof(v->nonce));
		off += sizeof(r) + len;
		o->end = off;
		o->data_bytes += len;
	}
	free(buf);
	if (o->nr)
		qsort(o->rec, o->nr, sizeof(*o->rec), rec_cmp);
	o->distinct = 0;
	for (i = 0; i < o->nr; i++)
		if (i + 1 == o->nr || o->rec[i + 1].chunk != o->rec[i].chunk)
			o->distinct++;
	return ret;
}

void overlay_report_torn(const struct overlay *o)
{
	if (o->end == o->size)
		return;
	err_msg(o->path, "dropped %llu bytes of torn tail after record %llu (offset %llu): %s",
		(unsigned long long)overlay_torn_bytes(o),
		(unsigned long long)o->nr, (unsigned long long)o->end,
		o->torn_why);
}

int overlay_unlock(struct overlay *o, const struct pass *pass)
{
	int ret;

	if (!o->img.encrypted || o->unlocked)
		return 0;
	ret = keys_unwrap(o->hdr, pass, &o->keys);
	if (ret == -EKEYREJECTED)
		err_msg(o->path, "cannot unlock: wrong passphrase");
	else if (ret == -EUCLEAN)
		err_msg(o->path, "cannot unlock: key check failed (corrupt header)");
	else if (ret)
		err_sys(o->path, ret, "cannot unlock");
	if (ret)
		return -1;
	o->unlocked = true;
	return 0;
}

/* ---- create ---- */

static int fsync_dir_of(const char *path)
{
	char *dir = path_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0 || fsync(fd)) {
		ret = -errno;
		err_sys(dir, errno, "cannot sync directory");
	}
	if (fd >= 0)
		close(fd);
	free(dir);
	return ret;
}

int overlay_create(const char *path, const struct spf_layer *top,
		   int codec, int level, const struct pass *pass)
{
	struct spf_header h;
	struct spf_keys keys;
	int fd, ret;

	if (codec < 0) {
		codec = top->img.codec;
		if (level < 0)
			level = top->img.codec_level;
	}
	if (level < 0)
		level = codec_default_level(codec);
	if (codec == SPF_CODEC_NONE)
		level = 0;
	if (top->img.depth >= SPF_MAX_DEPTH) {
		err_msg(top->path, "chain is already %u images deep",
			SPF_MAX_DEPTH + 1);
		return -1;
	}
	header_build(&h, top->img.chunk_size, codec, level,
		     top->img.encrypted, NULL, top);
	h.disk_size = cpu_to_le64(top->img.disk_size);
	h.incompat |= cpu_to_le64(SPF_INCOMPAT_OVERLAY);
	if (top->img.encrypted) {
		if (!top->unlocked || !pass || !pass->buf) {
			err_msg(path, "cannot create an encrypted overlay: the chain is locked");
			return -1;
		}
		memcpy(keys.digest, top->keys.digest, SPF_KEY_LEN);
		ret = random_bytes(keys.data, SPF_KEY_LEN);
		if (ret) {
			err_msg(path, "cannot get random bytes");
			return -1;
		}
		ret = keys_wrap(&h, pass, &keys, NULL, &top->hdr->crypt);
		OPENSSL_cleanse(&keys, sizeof(keys));
		if (ret) {
			err_sys(path, ret, "cannot wrap the overlay's keys");
			return -1;
		}
	}
	h.crc = cpu_to_le32(spf_header_crc(&h));
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_sys(path, errno, "cannot create");
		return -1;
	}
	ret = write_full(fd, &h, sizeof(h));
	if (ret)
		err_sys(path, ret, "cannot write");
	else if (fsync(fd))
		err_sys(path, ret = -errno, "cannot sync");
	close(fd);
	if (!ret)
		ret = fsync_dir_of(path);
	if (ret) {
		unlink(path);
		return -1;
	}
	return 0;
}

/* ---- seal ---- */

struct sealer {
	struct overlay *o;
	struct spf_chain *below;
	struct idx_cursor cur;
	struct spf_res *win;
	u64 win_first;
	bool win_valid;
	struct codec_ws *codec;
	struct crypt_ws *crypt;
	u8 *buf, *plain, *out;
	struct spf_writer w;
};

/* The level the sealed image's chunks get: the header's, or the default. */
static int seal_level(const struct overlay *o)
{
	return o->img.codec_level ? o->img.codec_level :
	       codec_default_level(o->img.codec);
}

static bool stored_state(u8 state)
{
	return state == SPF_CHUNK_RAW || state == SPF_CHUNK_COMPRESSED;
}

/* The chain below the overlay, when it opens; NULL otherwise. */
static struct spf_chain *open_below(struct overlay *o, const char *parent)
{
	char *dir = NULL, *path = NULL, why[256];
	struct spf_chain *c = NULL;
	struct spf_layer *p;
	struct spf_msg msg;

	if (!parent) {
		if (!o->hdr->parent_name[0] ||
		    memchr(o->hdr->parent_name, '/', SPF_PARENT_NAME_LEN) ||
		    !memchr(o->hdr->parent_name, 0, SPF_PARENT_NAME_LEN))
			return NULL;
		dir = path_dirname(o->path);
		path = path_join(dir, o->hdr->parent_name);
		parent = path;
	}
	if (!layer_open(parent, 0, &p, why, sizeof(why))) {
		if (!spf_check_link(&o->img, &p->img, &msg))
			c = chain_open(parent, NULL, 0);
		layer_close(p);
	}
	free(dir);
	free(path);
	return c;
}

/* What the chain below resolves @chunk to (state 0: no chain, nothing). */
static int below_of(struct sealer *s, u64 chunk, const struct spf_res **r)
{
	static const struct spf_res none;

	*r = &none;
	if (!s->below || chunk >= chain_top(s->below)->img.nr_chunks)
		return 0;
	if (!s->win_valid || chunk < s->win_first ||
	    chunk >= s->win_first + RESOLVE_WINDOW) {
		s->win_first = chunk - chunk % RESOLVE_WINDOW;
		s->win_valid = true;
		if (chain_resolve(s->below, &s->cur, s->win_first,
				  RESOLVE_WINDOW, s->win))
			return -1;
	}
	*r = &s->win[chunk - s->win_first];
	return 0;
}

/* Turn the record @r into an entry (or none); errors are printed. */
static int seal_one(struct sealer *s, const struct ovl_rec *r,
		    struct seal_stats *st)
{
	static const u8 no_digest[SPF_DIGEST_LEN];
	struct overlay *o = s->o;
	u32 cs = o->img.chunk_size, len = r->len;
	bool enc = o->img.encrypted;
	const struct spf_res *b;
	const char *why = NULL;
	u8 digest[SPF_DIGEST_LEN];
	const u8 *plain, *out;
	u8 state = r->state;
	long n;
	int ret;

	if (below_of(s, r->chunk, &b))
		return -1;
	if (r->state == SPF_CHUNK_ZERO)
		goto zero;
	ret = pread_exact(o->fd, s->buf, len, r->data_off);
	if (ret) {
		err_sys(o->path, ret, "record %llu: cannot read",
			(unsigned long long)r->seq);
		return -1;
	}
	if (spf_crc32c(s->buf, len) != r->crc) {
		err_msg(o->path, "record %llu: data checksum mismatch (changed while sealing?)",
			(unsigned long long)r->seq);
		return -1;
	}
	if (enc) {
		if (record_decrypt(s->crypt, o->keys.data, o->hdr->uuid,
				   r->chunk, r->nonce, s->buf, len)) {
			err_msg(o->path, "record %llu (chunk %llu): authentication failed (corrupt or tampered data)",
				(unsigned long long)r->seq,
				(unsigned long long)r->chunk);
			return -1;
		}
		len -= SPF_GCM_TAG_LEN;
	}
	plain = s->buf;
	if (r->state == SPF_CHUNK_COMPRESSED) {
		if (codec_decompress(s->codec, o->img.codec, s->buf, len,
				     s->plain, cs, &why)) {
			err_msg(o->path, "record %llu (chunk %llu): %s",
				(unsigned long long)r->seq,
				(unsigned long long)r->chunk, why);
			return -1;
		}
		plain = s->plain;
	}
	if (mem_is_zero(plain, cs))
		goto zero;
	if (chunk_digest(s->crypt, enc, plain, cs, digest)) {
		err_msg(o->path, "chunk %llu: digest failed",
			(unsigned long long)r->chunk);
		return -1;
	}
	if (stored_state(b->state) &&
	    !memcmp(digest, b->digest, SPF_DIGEST_LEN)) {
		st->unchanged++;
		return 0;
	}
	out = s->buf;
	/*
	 * The driver stores a chunk raw when its first 4 KiB hardly compress,
	 * and compresses the others at SPF_LOG_WRITE_LEVEL (compress.c).  Off
	 * the I/O path the whole chunk gets the header's level, as spfctl
	 * create gives it, when that shrinks it.
	 */
	if (o->img.codec != SPF_CODEC_NONE &&
	    (state == SPF_CHUNK_RAW || seal_level(o) > SPF_LOG_WRITE_LEVEL)) {
		n = codec_compress(s->codec, o->img.codec, seal_level(o),
				   plain, cs, s->out, len - 1);
		if (n < 0) {
			err_msg(o->path, "chunk %llu: compression failed",
				(unsigned long long)r->chunk);
			return -1;
		}
		if (n) {
			if (state == SPF_CHUNK_RAW)
				st->compressed++;
			else
				st->recompressed++;
			state = SPF_CHUNK_COMPRESSED;
			out = s->out;
			len = (u32)n;
		}
	}
	if (enc) {
		/* s->buf is free once the chunk was (re)compressed. */
		u8 *sealed = out == s->out ? s->buf : s->out;

		if (chunk_encrypt(s->crypt, o->keys.data, o->hdr->uuid,
				  r->chunk, out, len, sealed)) {
			err_msg(o->path, "chunk %llu: encryption failed",
				(unsigned long long)r->chunk);
			return -1;
		}
		out = sealed;
		len += SPF_GCM_TAG_LEN;
	}
	st->entries++;
	return writer_add(&s->w, r->chunk, state, out, len,
			  spf_crc32c(out, len), digest);
zero:
	/* Zero over zero (or over nothing) needs no entry. */
	if (st->chain && !stored_state(b->state)) {
		st->unchanged++;
		return 0;
	}
	st->entries++;
	return writer_add(&s->w, r->chunk, SPF_CHUNK_ZERO, NULL, 0, 0,
			  no_digest);
}

static int seal_write(struct sealer *s, int fd, struct seal_stats *st)
{
	struct overlay *o = s->o;
	struct spf_header hdr = *o->hdr;
	char *dir = path_dirname(o->path);
	u64 i;
	int ret;

	hdr.incompat &= ~cpu_to_le64(SPF_INCOMPAT_OVERLAY);
	ret = writer_init(&s->w, &hdr, fd, o->path, dir);
	for (i = 0; !ret && i < o->nr; i++) {
		/* The latest record of each chunk: the last of its run. */
		if (i + 1 < o->nr && o->rec[i + 1].chunk == o->rec[i].chunk)
			continue;
		ret = seal_one(s, &o->rec[i], st);
	}
	if (!ret)
		ret = writer_finish(&s->w, 0);
	writer_free(&s->w);
	free(dir);
	return ret ? -1 : 0;
}

int overlay_seal(struct overlay *o, const char *parent,
		 struct seal_stats *st)
{
	u32 max = spf_max_stored_len(&o->img);
	struct sealer s = { .o = o };
	struct tmpout t;
	int ret = -1;

	memset(st, 0, sizeof(*st));
	st->records = o->nr;
	st->superseded = o->nr - o->distinct;
	if (o->img.encrypted && !o->unlocked) {
		err_msg(o->path, "cannot seal: the overlay is locked");
		return -1;
	}
	s.below = open_below(o, parent);
	st->chain = s.below != NULL;
	if (!s.below)
		err_msg(o->path, "note: the chain below cannot be opened; every chunk with a record is kept");
	s.codec = codec_ws_new();
	s.crypt = crypt_ws_new(o->img.encrypted ? o->keys.digest : NULL);
	if (!s.crypt) {
		err_msg(NULL, "cannot set up OpenSSL contexts");
		goto out;
	}
	s.buf = xmalloc(max);
	s.plain = xmalloc(o->img.chunk_size);
	s.out = xmalloc(max);
	s.win = xmalloc(RESOLVE_WINDOW * sizeof(*s.win));
	if (tmpout_open(&t, o->path, true))
		goto out;
	if (fchmod(t.fd, o->mode))
		err_sys(t.tmp, errno, "cannot set mode");
	ret = seal_write(&s, t.fd, st);
	if (ret)
		tmpout_abort(&t);
	else
		ret = tmpout_commit(&t, true) ? -1 : 0;
out:
	idx_release(&s.cur);
	free(s.win);
	if (s.buf)
		OPENSSL_cleanse(s.buf, max);
	if (s.plain)
		OPENSSL_cleanse(s.plain, o->img.chunk_size);
	if (s.out)	/* a compressed chunk before its encryption */
		OPENSSL_cleanse(s.out, max);
	free(s.buf);
	free(s.plain);
	free(s.out);
	codec_ws_free(s.codec);
	crypt_ws_free(s.crypt);
	chain_close(s.below);
	return ret;
}
