// SPDX-License-Identifier: GPL-2.0
/*
 * mklog: a test-only writer of write-back overlays (docs/format.md,
 * section 11), standing in for the kernel, which is what appends records
 * in real use.  Linked with spfctl's objects (tests/user/87-overlay.sh).
 *
 *   mklog create OVERLAY IMAGE [KEYFILE]
 *	the overlay spfctl attach --writable would create on top of IMAGE
 *   mklog append OVERLAY [KEYFILE] < COMMANDS
 *	append records after the last good one (a torn tail is cut off
 *	first, as the kernel does); one command a line:
 *	  data CHUNK FILE OFFSET   the chunk's content: chunk-size bytes of
 *	                           FILE from OFFSET (zero-padded); stored as
 *	                           the kernel would: zero, compressed or raw
 *	  raw CHUNK FILE OFFSET    the same, always stored raw
 *	  zero CHUNK               a zero record
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libchain.h"
#include "libcodec.h"
#include "libcrypt.h"
#include "libseal.h"

static int create(const char *path, const char *image, const char *key)
{
	struct spf_chain *c = chain_open(image, NULL, 0);
	struct pass pass = { 0 };
	int ret = 1;

	if (!c)
		return 1;
	if (!chain_unlock_keep(c, key, &pass) &&
	    !overlay_create(path, chain_top(c), -1, -1, &pass))
		ret = 0;
	pass_free(&pass);
	chain_close(c);
	return ret;
}

struct app {
	struct overlay *o;
	struct codec_ws *cw;
	struct crypt_ws *xw;
	u8 *plain, *pack, *out;
	u64 seq, off;
};

static int put(struct app *a, u64 chunk, u8 state, const u8 *data, u32 len)
{
	struct spf_log_record r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.magic = cpu_to_le32(SPF_LOG_MAGIC);
	r.state = state;
	r.seq = cpu_to_le64(++a->seq);
	r.chunk = cpu_to_le64(chunk);
	if (state != SPF_CHUNK_ZERO && a->o->img.encrypted) {
		if (random_bytes(r.nonce, SPF_GCM_NONCE_LEN - 1))
			return -1;
		r.nonce[SPF_GCM_NONCE_LEN - 1] = SPF_LOG_NONCE_MARK;
		if (record_encrypt(a->xw, a->o->keys.data, a->o->hdr->uuid,
				   chunk, r.nonce, data, len, a->out))
			return -1;
		data = a->out;
		len += SPF_GCM_TAG_LEN;
	}
	if (state != SPF_CHUNK_ZERO) {
		r.length = cpu_to_le32(len);
		r.data_crc = cpu_to_le32(spf_crc32c(data, len));
	}
	r.crc = cpu_to_le32(spf_log_record_crc(&r));
	ret = pwrite_full(a->o->fd, &r, sizeof(r), a->off);
	if (!ret && state != SPF_CHUNK_ZERO)
		ret = pwrite_full(a->o->fd, data, len, a->off + sizeof(r));
	if (ret)
		return -1;
	a->off += sizeof(r) + (state == SPF_CHUNK_ZERO ? 0 : len);
	return 0;
}

static int command(struct app *a, const char *line)
{
	u32 cs = a->o->img.chunk_size;
	char cmd[16], file[4096];
	unsigned long long chunk, offset;
	long n = 0;
	ssize_t got;
	int fd;

	if (sscanf(line, "zero %llu", &chunk) == 1)
		return put(a, chunk, SPF_CHUNK_ZERO, NULL, 0);
	if (sscanf(line, "%15s %llu %4095s %llu", cmd, &chunk, file,
		   &offset) != 4 || (strcmp(cmd, "data") && strcmp(cmd, "raw")))
		return -1;
	fd = open(file, O_RDONLY);
	if (fd < 0)
		return -1;
	memset(a->plain, 0, cs);
	got = pread_full(fd, a->plain, cs, offset);
	close(fd);
	if (got < 0)
		return -1;
	if (!strcmp(cmd, "raw"))
		return put(a, chunk, SPF_CHUNK_RAW, a->plain, cs);
	if (mem_is_zero(a->plain, cs))
		return put(a, chunk, SPF_CHUNK_ZERO, NULL, 0);
	if (a->o->img.codec != SPF_CODEC_NONE)
		n = codec_compress(a->cw, a->o->img.codec,
				   SPF_LOG_WRITE_LEVEL, a->plain, cs,
				   a->pack, cs - 1);
	if (n < 0)
		return -1;
	if (n)
		return put(a, chunk, SPF_CHUNK_COMPRESSED, a->pack, n);
	return put(a, chunk, SPF_CHUNK_RAW, a->plain, cs);
}

static int append(const char *path, const char *key)
{
	struct app a = { 0 };
	struct pass pass;
	char why[256], line[8192];
	int ret = 1;

	if (overlay_open(path, O_RDWR, &a.o, why, sizeof(why))) {
		fprintf(stderr, "mklog: %s: %s\n", path, why);
		return 1;
	}
	if (overlay_replay(a.o) || ftruncate(a.o->fd, a.o->end))
		goto out;
	if (a.o->img.encrypted) {
		if (pass_get(key, path, false, &pass))
			goto out;
		ret = overlay_unlock(a.o, &pass);
		pass_free(&pass);
		if (ret)
			goto out;
		ret = 1;
	}
	a.seq = a.o->nr;
	a.off = a.o->end;
	a.cw = codec_ws_new();
	a.xw = crypt_ws_new(NULL);
	a.plain = xmalloc(a.o->img.chunk_size);
	a.pack = xmalloc(a.o->img.chunk_size);
	a.out = xmalloc(a.o->img.chunk_size + SPF_GCM_TAG_LEN);
	while (fgets(line, sizeof(line), stdin)) {
		if (command(&a, line)) {
			fprintf(stderr, "mklog: bad command or failure: %s",
				line);
			goto out;
		}
	}
	ret = fsync(a.o->fd) ? 1 : 0;
out:
	codec_ws_free(a.cw);
	crypt_ws_free(a.xw);
	free(a.plain);
	free(a.pack);
	free(a.out);
	overlay_close(a.o);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "create"))
		return create(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "append"))
		return append(argv[2], argc == 4 ? argv[3] : NULL);
	fprintf(stderr, "usage: mklog create OVERLAY IMAGE [KEYFILE] | append OVERLAY [KEYFILE] < COMMANDS\n");
	return 2;
}
