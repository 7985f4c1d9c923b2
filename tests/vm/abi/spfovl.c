// SPDX-License-Identifier: GPL-2.0
/*
 * spfovl: the writable-attach ABI (SPF_ATTACH_F_WRITABLE) through raw
 * ioctls, with an overlay this program makes itself (docs/format.md
 * section 11: the top layer's header, OVERLAY set, a new uuid, linked to
 * the top layer), so that it depends on no spfctl.
 *
 *   spfovl [-k KEYS] OVERLAY LAYER...   LAYER: the chain, full image first
 *
 * KEYS: an encrypted chain's data keys in hex, one line per layer (what
 * `spfioc datakey` prints).  The overlay of an encrypted chain is then
 * encrypted, under a random data key of this program's (its key_check
 * made to match; the wrapped keys are the top layer's and unused here).
 *
 * Prints one "ok NAME" or "not ok NAME: reason" line per check:
 *   refuse-*      overlay descriptors the kernel must refuse, and errnos
 *   features      GET_FEATURES advertises SPF_FEAT_WRITABLE and
 *                 SPF_FEAT_LOG_COMPRESS, and their flags
 *   sysfs, info   writable, overlay, overlay_records, log_compress (0);
 *                 SPF_INFO_F_WRITABLE, not SPF_INFO_F_LOG_COMPRESS
 *   rw            random unaligned buffered writes, O_DIRECT partial-chunk
 *                 writes each read back at once (a rewritten chunk must
 *                 never be served from the decoded-chunk cache), write
 *                 zeroes and discard; then fsync and a whole-device
 *                 O_DIRECT compare against the expected bytes
 *   replay        detach, re-attach: the device has the same bytes
 *   torn-tail     the last record cut in half and garbage appended: the
 *                 re-attach drops it (its chunk reads as before), logs
 *                 "OVERLAY: dropped torn tail of N bytes after record S
 *                 (offset O)" and truncates the overlay at O
 *   log-compress  that re-attach asks for SPF_ATTACH_F_LOG_COMPRESS:
 *                 SPF_INFO_F_LOG_COMPRESS and sysfs log_compress 1
 *   after-torn    writes after that replay (records compressed as
 *                 written, after raw ones) and re-attach again
 * for a plain overlay:
 *   refuse-plainkey  a key for the overlay: EINVAL, and the log says "the
 *                 overlay is plain, but a key was given"
 * and for an encrypted overlay:
 *   refuse-nokey, refuse-wrongkey   ENOKEY, EKEYREJECTED, and the log says
 *                 "the overlay is encrypted and no key was given" / "wrong
 *                 key for the overlay"
 *   records-aead  every stored record opens in user space (OpenSSL) under
 *                 the overlay key, its nonce and AAD {overlay uuid, chunk},
 *                 its nonce ends in 0x01, and each chunk's latest raw
 *                 record is that chunk's bytes on the device
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/spfblk.h>
#include <linux/spf_format.h>
#include <openssl/evp.h>

static int failures;

static void result(const char *name, const char *fmt, ...)
{
	va_list ap;

	if (!fmt) {
		printf("ok %s\n", name);
		fflush(stdout);
		return;
	}
	failures++;
	printf("not ok %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	printf("not ok spfovl: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static uint32_t crc32c(const void *buf, size_t len)
{
	static uint32_t table[256];
	const uint8_t *p = buf;
	uint32_t crc = ~0U;
	size_t i;
	int k;

	if (!table[1])
		for (i = 0; i < 256; i++) {
			uint32_t c = i;

			for (k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82F63B78 : c >> 1;
			table[i] = c;
		}
	for (i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int nr_layers, *layer_fds, ctl;
static struct spf_layer_key *keys;	/* nr_layers + 1, or NULL */
static uint8_t ovl_uuid[16];
static int encrypted;
static uint64_t disk_size;
static uint32_t chunk_size;
static uint8_t *ref;

/* Attach with @ovl_fd as the overlay; index or -errno. */
static int kmsg_fd = -1;
static int kmsg_has(const char *needle, char *line, size_t size);

/* From now on, kmsg_has() looks at new kernel log records only. */
static void kmsg_from_now(void)
{
	if (kmsg_fd < 0)
		kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	lseek(kmsg_fd, 0, SEEK_END);
}

/* Did the refused attach log "attach: overlay (...): @why"? */
static const char *refusal_logged(const char *why)
{
	static char msg[600];
	char line[512] = "(none)";

	if (kmsg_has(why, line, sizeof(line)))
		return NULL;
	snprintf(msg, sizeof(msg), "no log line with '%s'", why);
	return msg;
}

/* Flags added to every attach from the torn-tail check on. */
static __u32 extra_flags;

static int attach(int ovl_fd)
{
	struct spf_attach a = {
		.fds = (uintptr_t)layer_fds,
		.nr_layers = nr_layers,
		.flags = SPF_ATTACH_F_WRITABLE | SPF_ATTACH_F_NO_PARTSCAN |
			 extra_flags,
		.overlay_fd = ovl_fd,
		.keys = (uintptr_t)keys,
	};

	if (ioctl(ctl, SPF_IOC_ATTACH, &a))
		return -errno;
	return a.index;
}

static void detach(int idx)
{
	struct spf_detach d = { .index = idx };
	int n;

	for (n = 0; n < 50; n++) {
		if (!ioctl(ctl, SPF_IOC_DETACH, &d))
			return;
		if (errno != EBUSY)
			break;
		usleep(100000);
	}
	die("detach spf%d: %s", idx, strerror(errno));
}

/*
 * AES-256-GCM of @len bytes in place at @buf, @tag the 16 bytes after
 * them; 0, or -1 (a tag mismatch when opening).
 */
static int gcm(int seal, const uint8_t *key, const uint8_t *nonce,
	       const uint8_t *aad, int aad_len, uint8_t *buf, int len,
	       uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok;

	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce,
				    seal) == 1 &&
	     EVP_CipherUpdate(c, NULL, &n, aad, aad_len) == 1 &&
	     (!len || EVP_CipherUpdate(c, buf, &n, buf, len) == 1) &&
	     (seal || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
					  tag) == 1) &&
	     EVP_CipherFinal_ex(c, buf + len, &n) == 1 &&
	     (!seal || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16,
					   tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

static void make_overlay(const char *path)
{
	struct spf_header h;
	struct spf_trailer t;
	int top = layer_fds[nr_layers - 1], fd, i;
	struct stat st;

	if (pread(top, &h, sizeof(h), 0) != sizeof(h) || fstat(top, &st) ||
	    pread(top, &t, sizeof(t), st.st_size - sizeof(t)) != sizeof(t))
		die("cannot read the top layer");
	h.incompat = htole64(le64toh(h.incompat) & ~SPF_INCOMPAT_CONSOLIDATED);
	h.incompat |= htole64(SPF_INCOMPAT_OVERLAY);
	h.depth = htole32(le32toh(h.depth) + 1);
	h.parent_disk_size = h.disk_size;
	for (i = 0; i < 16; i++)
		if (t.link_uuid[i])
			break;
	if (i < 16) {
		memcpy(h.parent_uuid, t.link_uuid, 16);
		memcpy(h.parent_seal, t.link_seal, SPF_SEAL_LEN);
	} else {
		memcpy(h.parent_uuid, h.uuid, 16);
		memcpy(h.parent_seal, t.seal, SPF_SEAL_LEN);
	}
	for (i = 0; i < 16; i++)
		h.uuid[i] = rnd();
	memcpy(ovl_uuid, h.uuid, 16);
	encrypted = !!(le64toh(h.incompat) & SPF_INCOMPAT_ENCRYPTED);
	if (encrypted != !!keys)
		die("the chain is %s but %s", encrypted ? "encrypted" : "plain",
		    keys ? "keys were given" : "no keys were given");
	if (encrypted) {
		uint8_t *k = keys[nr_layers].key;

		for (i = 0; i < SPF_KEY_SIZE; i++)
			k[i] = rnd() >> 24;
		if (gcm(1, k, (const uint8_t *)SPF_NONCE_KEY_CHECK, h.uuid,
			16, NULL, 0, h.crypt.key_check))
			die("key_check: OpenSSL failed");
	}
	h.crc = htole32(crc32c(&h, sizeof(h) - 4));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || pwrite(fd, &h, sizeof(h), 0) != sizeof(h) || close(fd))
		die("cannot write %s: %s", path, strerror(errno));
	disk_size = le64toh(h.disk_size);
	chunk_size = 1U << le32toh(h.chunk_shift);
}

static int open_dev(int idx, int flags)
{
	char dev[32];
	int fd, n;

	snprintf(dev, sizeof(dev), "/dev/spf%d", idx);
	for (n = 0; n < 50; n++) {
		fd = open(dev, flags);
		if (fd >= 0)
			return fd;
		usleep(100000);
	}
	die("open %s: %s", dev, strerror(errno));
	return -1;
}

static void *abuf(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len ? len : 1))
		die("out of memory");
	return p;
}

/* The whole device through O_DIRECT, against ref; NULL or the reason. */
static const char *compare_all(int idx, char *why, size_t size)
{
	int fd = open_dev(idx, O_RDONLY | O_DIRECT);
	uint8_t *buf = abuf(1 << 20);
	uint64_t pos;

	for (pos = 0; pos < disk_size; pos += 1 << 20) {
		size_t n = disk_size - pos < (1 << 20) ? disk_size - pos :
			   1 << 20;
		size_t i;

		if (pread(fd, buf, n, pos) != (ssize_t)n) {
			snprintf(why, size, "read at %llu: %s",
				 (unsigned long long)pos, strerror(errno));
			goto out;
		}
		if (memcmp(buf, ref + pos, n)) {
			for (i = 0; buf[i] == ref[pos + i]; i++)
				;
			snprintf(why, size,
				 "byte %llu (chunk %llu) is 0x%02x, expected 0x%02x",
				 (unsigned long long)(pos + i),
				 (unsigned long long)((pos + i) / chunk_size),
				 buf[i], ref[pos + i]);
			goto out;
		}
	}
	why = NULL;
out:
	free(buf);
	close(fd);
	return why;
}

static char *sysfs(int idx, const char *name, char *buf, size_t size)
{
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/spf%d/spf/%s", idx, name);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (f) {
		if (!fgets(buf, size, f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static void refusals(const char *ovl, const char *layer0)
{
	int fd, ret;

	fd = open(ovl, O_RDONLY);
	ret = attach(fd);
	close(fd);
	if (ret == -EINVAL)
		result("refuse-rdonly", NULL);
	else
		result("refuse-rdonly", "attach returned %d, expected -EINVAL",
		       ret);

	fd = open(ovl, O_RDWR | O_APPEND);
	ret = attach(fd);
	close(fd);
	if (ret == -EINVAL)
		result("refuse-append", NULL);
	else
		result("refuse-append", "attach returned %d, expected -EINVAL",
		       ret);

	fd = open(layer0, O_RDWR);
	ret = fd < 0 ? -999 : attach(fd);
	if (fd >= 0)
		close(fd);
	if (ret == -EINVAL)
		result("refuse-layer", NULL);
	else
		result("refuse-layer", "attach returned %d, expected -EINVAL",
		       ret);

	fd = open(ovl, O_RDWR);
	if (encrypted) {
		struct spf_layer_key k = keys[nr_layers];

		memset(&keys[nr_layers], 0, sizeof(k));
		kmsg_from_now();
		ret = attach(fd);
		if (ret == -ENOKEY)
			result("refuse-nokey",
			       refusal_logged("): the overlay is encrypted and no key was given"));
		else
			result("refuse-nokey", "attach returned %d, expected -ENOKEY",
			       ret);
		keys[nr_layers] = k;
		keys[nr_layers].key[5] ^= 1;
		kmsg_from_now();
		ret = attach(fd);
		if (ret == -EKEYREJECTED)
			result("refuse-wrongkey",
			       refusal_logged("): wrong key for the overlay"));
		else
			result("refuse-wrongkey",
			       "attach returned %d, expected -EKEYREJECTED", ret);
		keys[nr_layers] = k;
	} else {
		/* A key for the plain overlay only. */
		struct spf_layer_key *k = calloc(nr_layers + 1, sizeof(*k));

		if (!k)
			die("out of memory");
		k[nr_layers].key[0] = 1;
		keys = k;
		kmsg_from_now();
		ret = attach(fd);
		keys = NULL;
		free(k);
		if (ret == -EINVAL)
			result("refuse-plainkey",
			       refusal_logged("): the overlay is plain, but a key was given"));
		else
			result("refuse-plainkey",
			       "attach returned %d, expected -EINVAL", ret);
	}
	close(fd);

	ret = attach(-1);
	if (ret == -EBADF)
		result("refuse-badfd", NULL);
	else
		result("refuse-badfd", "attach returned %d, expected -EBADF",
		       ret);
}

static void check_features(void)
{
	struct spf_features f;

	memset(&f, 0, sizeof(f));
	if (ioctl(ctl, SPF_IOC_GET_FEATURES, &f))
		result("features", "GET_FEATURES: %s", strerror(errno));
	else if (!(f.features & SPF_FEAT_WRITABLE) ||
		 !(f.attach_flags & SPF_ATTACH_F_WRITABLE) ||
		 !(f.features & SPF_FEAT_LOG_COMPRESS) ||
		 !(f.attach_flags & SPF_ATTACH_F_LOG_COMPRESS))
		result("features", "features 0x%llx attach_flags 0x%x",
		       (unsigned long long)f.features, f.attach_flags);
	else
		result("features", NULL);
}

static void check_info(int idx, const char *ovl)
{
	struct spf_info info;
	char buf[4096], rp[4096];

	memset(&info, 0, sizeof(info));
	info.index = idx;
	if (ioctl(ctl, SPF_IOC_GET_INFO, &info))
		result("info", "GET_INFO: %s", strerror(errno));
	else if (!(info.flags & SPF_INFO_F_WRITABLE) || !info.overlay_records ||
		 info.overlay_bytes <= 4096 ||
		 (info.flags & SPF_INFO_F_LOG_COMPRESS))
		result("info", "flags 0x%x records %llu bytes %llu", info.flags,
		       (unsigned long long)info.overlay_records,
		       (unsigned long long)info.overlay_bytes);
	else
		result("info", NULL);

	if (!realpath(ovl, rp))
		die("realpath %s", ovl);
	if (strcmp(sysfs(idx, "writable", buf, sizeof(buf)), "1"))
		result("sysfs", "writable is '%s'", buf);
	else if (strcmp(sysfs(idx, "overlay", buf, sizeof(buf)), rp))
		result("sysfs", "overlay is '%s', expected '%s'", buf, rp);
	else if (strtoull(sysfs(idx, "overlay_records", buf, sizeof(buf)),
			  NULL, 10) != info.overlay_records)
		result("sysfs", "overlay_records is '%s'", buf);
	else if (strtoull(sysfs(idx, "overlay_bytes", buf, sizeof(buf)),
			  NULL, 10) != info.overlay_bytes)
		result("sysfs", "overlay_bytes is '%s'", buf);
	else if (strcmp(sysfs(idx, "log_compress", buf, sizeof(buf)), "0"))
		result("sysfs", "log_compress is '%s' by default", buf);
	else
		result("sysfs", NULL);
}

/* Random writes of every kind; ref follows. */
static const char *write_phase(int idx, char *why, size_t size)
{
	int fd = open_dev(idx, O_RDWR), dfd = open_dev(idx, O_RDWR | O_DIRECT);
	size_t max = chunk_size + 12345 < disk_size / 2 ?
		     chunk_size + 12345 : disk_size / 2;
	uint8_t *buf = abuf(max), *back = abuf(max);
	/* Big chunks: each small write costs a whole chunk's encode. */
	int i, scale = chunk_size >= (1 << 20) ? 4 : 1;

	for (i = 0; i < 60 / scale; i++) {
		uint64_t len = 1 + rnd() % (i % 6 ? 9000 : max - 1);
		uint64_t pos = rnd() % (disk_size - len);
		size_t k;

		/* Mostly compressible (compressed records), some random. */
		for (k = 0; k < len; k++)
			buf[k] = i % 4 && k % 1000 ? (uint8_t)(k / 977 + i) :
				 (uint8_t)rnd();
		if (pwrite(fd, buf, len, pos) != (ssize_t)len) {
			snprintf(why, size, "buffered write of %llu at %llu: %s",
				 (unsigned long long)len,
				 (unsigned long long)pos, strerror(errno));
			goto out;
		}
		memcpy(ref + pos, buf, len);
	}
	if (fsync(fd)) {
		snprintf(why, size, "fsync: %s", strerror(errno));
		goto out;
	}
	/* O_DIRECT partial chunks, each read back at once. */
	for (i = 0; i < 40 / scale; i++) {
		uint64_t len = 512 * (1 + rnd() % 24);
		uint64_t pos = 512 * (rnd() % ((disk_size - len) / 512));
		size_t k;

		for (k = 0; k < len; k++)
			buf[k] = i & 1 ? (uint8_t)rnd() : (uint8_t)i;
		if (pwrite(dfd, buf, len, pos) != (ssize_t)len ||
		    pread(dfd, back, len, pos) != (ssize_t)len) {
			snprintf(why, size, "O_DIRECT %llu at %llu: %s",
				 (unsigned long long)len,
				 (unsigned long long)pos, strerror(errno));
			goto out;
		}
		memcpy(ref + pos, buf, len);
		if (memcmp(back, buf, len)) {
			snprintf(why, size,
				 "O_DIRECT write of %llu at %llu read back stale",
				 (unsigned long long)len,
				 (unsigned long long)pos);
			goto out;
		}
	}
	/* Write zeroes and discard, partial and whole chunks. */
	for (i = 0; i < 8; i++) {
		uint64_t r[2];

		r[1] = 512 * (1 + rnd() % (3 * chunk_size / 512));
		r[0] = 512 * (rnd() % ((disk_size - r[1]) / 512));
		if (ioctl(fd, i & 1 ? BLKDISCARD : BLKZEROOUT, r)) {
			snprintf(why, size, "%s %llu at %llu: %s",
				 i & 1 ? "BLKDISCARD" : "BLKZEROOUT",
				 (unsigned long long)r[1],
				 (unsigned long long)r[0], strerror(errno));
			goto out;
		}
		memset(ref + r[0], 0, r[1]);
	}
	if (fsync(fd) || fsync(dfd)) {
		snprintf(why, size, "fsync: %s", strerror(errno));
		goto out;
	}
	why = NULL;
out:
	free(buf);
	free(back);
	close(fd);
	close(dfd);
	return why;
}

/* Every stored record of the overlay opens in user space. */
static const char *check_records(int ofd, char *why, size_t size)
{
	uint64_t pos = 4096, nchunks = (disk_size + chunk_size - 1) / chunk_size;
	uint64_t *latest = calloc(nchunks, sizeof(*latest)), c, n = 0;
	uint8_t *buf = malloc(chunk_size + 16);
	struct spf_log_record rec;
	struct { uint8_t uuid[16]; uint64_t chunk; } aad;
	struct stat st;
	uint32_t len;

	fstat(ofd, &st);
	for (; pos < (uint64_t)st.st_size; pos += sizeof(rec) + len) {
		if (pread(ofd, &rec, sizeof(rec), pos) != sizeof(rec)) {
			snprintf(why, size, "short record at %llu",
				 (unsigned long long)pos);
			return why;
		}
		len = le32toh(rec.length);
		c = le64toh(rec.chunk);
		if (c >= nchunks || len > chunk_size + 16) {
			snprintf(why, size, "bad record at %llu",
				 (unsigned long long)pos);
			return why;
		}
		latest[c] = rec.state == SPF_CHUNK_RAW ? pos : 0;
		if (!len)
			continue;
		if (pread(ofd, buf, len, pos + sizeof(rec)) != len ||
		    rec.nonce[11] != 0x01) {
			snprintf(why, size, "record at %llu: short, or nonce not ending in 01",
				 (unsigned long long)pos);
			return why;
		}
		memcpy(aad.uuid, ovl_uuid, 16);
		aad.chunk = htole64(c);
		if (gcm(0, keys[nr_layers].key, rec.nonce, (uint8_t *)&aad, 24,
			buf, len - 16, buf + len - 16)) {
			snprintf(why, size, "record %llu (chunk %llu) does not open",
				 (unsigned long long)le64toh(rec.seq),
				 (unsigned long long)c);
			return why;
		}
		n++;
	}
	for (c = 0; c < nchunks; c++) {
		if (!latest[c] || (c + 1) * chunk_size > disk_size)
			continue;
		if (pread(ofd, buf, chunk_size + 16, latest[c] + sizeof(rec)) !=
		    chunk_size + 16 ||
		    pread(ofd, &rec, sizeof(rec), latest[c]) != sizeof(rec))
			return "short read";
		memcpy(aad.uuid, ovl_uuid, 16);
		aad.chunk = htole64(c);
		gcm(0, keys[nr_layers].key, rec.nonce, (uint8_t *)&aad, 24, buf,
		    chunk_size, buf + chunk_size);
		if (memcmp(buf, ref + c * chunk_size, chunk_size)) {
			snprintf(why, size, "chunk %llu's latest raw record is not its content",
				 (unsigned long long)c);
			return why;
		}
	}
	free(latest);
	free(buf);
	if (!n)
		return "no stored record";
	return NULL;
}

static int kmsg_has(const char *needle, char *line, size_t size)
{
	char rec[1024];
	ssize_t n;

	for (;;) {
		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			return 0;
		rec[n] = '\0';
		if (strstr(rec, "OVERLAY")) {
			const char *p = strchr(rec, ';');

			p = p ? p + 1 : rec;
			n = strnlen(p, size - 1);
			memcpy(line, p, n);
			line[n] = '\0';
		}
		if (strstr(rec, needle))
			return 1;
	}
}

int main(int argc, char **argv)
{
	const char *ovl, *keyfile = NULL;
	char why[512], line[512] = "(none)", needle[256], buf[64];
	const char *w;
	int idx, ofd, fd, i;
	uint64_t pos, last, seq, c, before;
	struct spf_log_record rec;
	struct spf_info info;
	struct stat st;
	uint8_t *chunk;

	if (argc > 2 && !strcmp(argv[1], "-k")) {
		keyfile = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 3)
		die("usage: spfovl [-k KEYS] OVERLAY LAYER...");
	rng_state ^= (uint64_t)getpid() << 20;
	ovl = argv[1];
	nr_layers = argc - 2;
	layer_fds = calloc(nr_layers, sizeof(int));
	for (i = 0; i < nr_layers; i++) {
		layer_fds[i] = open(argv[2 + i], O_RDONLY);
		if (layer_fds[i] < 0)
			die("%s: %s", argv[2 + i], strerror(errno));
	}
	if (keyfile) {
		FILE *f = fopen(keyfile, "r");
		char hex[128];
		int j;
		unsigned int b;

		keys = calloc(nr_layers + 1, sizeof(*keys));
		for (i = 0; f && i < nr_layers; i++) {
			if (!fgets(hex, sizeof(hex), f))
				die("%s: %d keys, expected %d", keyfile, i, nr_layers);
			for (j = 0; j < SPF_KEY_SIZE &&
			     sscanf(hex + 2 * j, "%2x", &b) == 1; j++)
				keys[i].key[j] = b;
			if (j != SPF_KEY_SIZE && strncmp(hex, "-", 1))
				die("%s: line %d is not a key", keyfile, i + 1);
		}
		if (!f)
			die("%s: %s", keyfile, strerror(errno));
		fclose(f);
	}
	ctl = open(getenv("SPF_CONTROL") ?: "/dev/spf-control", O_RDWR);
	if (ctl < 0)
		die("control: %s", strerror(errno));
	make_overlay(ovl);
	check_features();
	refusals(ovl, argv[2]);

	ofd = open(ovl, O_RDWR);
	idx = attach(ofd);
	if (idx < 0)
		die("attach: %s", strerror(-idx));
	ref = malloc(disk_size);
	fd = open_dev(idx, O_RDONLY);
	if (pread(fd, ref, disk_size, 0) != (ssize_t)disk_size)
		die("read the chain: %s", strerror(errno));
	close(fd);

	w = write_phase(idx, why, sizeof(why));
	if (!w)
		w = compare_all(idx, why, sizeof(why));
	result("rw", w);
	check_info(idx, ovl);
	if (encrypted)
		result("records-aead", check_records(ofd, why, sizeof(why)));
	detach(idx);

	idx = attach(ofd);
	if (idx < 0) {
		result("replay", "re-attach: %s", strerror(-idx));
		return 1;
	}
	result("replay", compare_all(idx, why, sizeof(why)));

	/* One whole chunk, O_DIRECT: exactly one record, the last. */
	chunk = abuf(chunk_size);
	c = rnd() % (disk_size / chunk_size);
	for (i = 0; i < (int)chunk_size; i++)
		chunk[i] = (uint8_t)rnd();
	before = strtoull(sysfs(idx, "overlay_records", buf, sizeof(buf)),
			  NULL, 10);
	fd = open_dev(idx, O_RDWR | O_DIRECT);
	if (pwrite(fd, chunk, chunk_size, c * chunk_size) != chunk_size ||
	    fsync(fd))
		die("whole-chunk write: %s", strerror(errno));
	close(fd);
	if (strtoull(sysfs(idx, "overlay_records", buf, sizeof(buf)), NULL,
		     10) != before + 1)
		die("a whole-chunk write made %s records, not 1 more than %llu",
		    buf, (unsigned long long)before);
	detach(idx);

	/* Find the last record, cut it in half, append garbage. */
	pos = 4096;
	last = 0;
	seq = 0;
	fstat(ofd, &st);
	while (pos + sizeof(rec) <= (uint64_t)st.st_size &&
	       pread(ofd, &rec, sizeof(rec), pos) == sizeof(rec) &&
	       le32toh(rec.magic) == SPF_LOG_MAGIC) {
		last = pos;
		seq = le64toh(rec.seq);
		pos += sizeof(rec) + le32toh(rec.length);
	}
	if (pos != (uint64_t)st.st_size || !last)
		die("overlay walk ended at %llu of %llu",
		    (unsigned long long)pos, (unsigned long long)st.st_size);
	if (pread(ofd, &rec, sizeof(rec), last) != sizeof(rec) ||
	    le64toh(rec.chunk) != c)
		die("the last record is not chunk %llu's",
		    (unsigned long long)c);
	pos = last + sizeof(rec) + le32toh(rec.length) / 2;
	if (ftruncate(ofd, pos) ||
	    pwrite(ofd, "garbage garbage garbage garbage", 31, pos) != 31)
		die("cannot damage the overlay: %s", strerror(errno));
	snprintf(needle, sizeof(needle),
		 "OVERLAY: dropped torn tail of %llu bytes after record %llu (offset %llu): ",
		 (unsigned long long)(pos + 31 - last),
		 (unsigned long long)(seq - 1), (unsigned long long)last);

	kmsg_from_now();
	extra_flags = SPF_ATTACH_F_LOG_COMPRESS;
	idx = attach(ofd);
	if (idx < 0) {
		result("torn-tail", "re-attach: %s", strerror(-idx));
		return 1;
	}
	memset(&info, 0, sizeof(info));
	info.index = idx;
	if (ioctl(ctl, SPF_IOC_GET_INFO, &info))
		result("log-compress", "GET_INFO: %s", strerror(errno));
	else if (!(info.flags & SPF_INFO_F_LOG_COMPRESS))
		result("log-compress", "info flags 0x%x", info.flags);
	else if (strcmp(sysfs(idx, "log_compress", buf, sizeof(buf)), "1"))
		result("log-compress", "sysfs log_compress is '%s'", buf);
	else
		result("log-compress", NULL);
	fstat(ofd, &st);
	if (!kmsg_has(needle, line, sizeof(line)))
		result("torn-tail", "no log line '%s'; last OVERLAY line: %s",
		       needle, line);
	else if ((uint64_t)st.st_size != last)
		result("torn-tail", "overlay has %llu bytes, expected %llu",
		       (unsigned long long)st.st_size,
		       (unsigned long long)last);
	else
		/* ref has chunk c as before: its record was dropped. */
		result("torn-tail", compare_all(idx, why, sizeof(why)));

	w = write_phase(idx, why, sizeof(why));
	if (!w)
		w = compare_all(idx, why, sizeof(why));
	if (!w) {
		detach(idx);
		idx = attach(ofd);
		if (idx < 0)
			die("re-attach: %s", strerror(-idx));
		w = compare_all(idx, why, sizeof(why));
	}
	result("after-torn", w);
	detach(idx);
	close(ofd);
	return failures ? 1 : 0;
}
