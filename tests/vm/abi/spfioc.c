// SPDX-License-Identifier: GPL-2.0
/*
 * spfioc: the VM tests' direct line to /dev/spf-control, bypassing spfctl,
 * plus the I/O checkers the guest scripts need (no fork per I/O: forks cost
 * tens of milliseconds under TCG).
 *
 *   spfioc features
 *   spfioc info IDX
 *   spfioc attach [-f FLAGS] [-C BYTES] [-p PASSFILE | -k HEXKEY] FILE...
 *                 prints N of the new /dev/spfN
 *   spfioc detach IDX [lazy]
 *   spfioc datakey PASSFILE IMAGE...   each image's data key, in hex, one a line
 *   spfioc kmsg MARK                   the kernel log records after the last
 *                                      one containing MARK, one a line
 *   spfioc cycle N [-p PASSFILE] FILE...
 *                 N times: attach, read the first and last 64 KiB and
 *                 every partition's first 4 KiB, detach
 *   spfioc readcheck DEV SRC BS [-w WINDOW] [BADSTART-BADEND...]
 *                 O_DIRECT reads of DEV in BS-byte blocks: a block that
 *                 overlaps a bad byte range must fail with EIO, every
 *                 other block must equal SRC.  With -w, only the blocks
 *                 within WINDOW bytes of a bad range (and the first and
 *                 last block) are read.
 *   spfioc aioverify DEV SRC SECONDS JOBS DEPTH MINSIZE MAXSIZE
 *                 JOBS threads, each with DEPTH native AIO O_DIRECT reads in
 *                 flight at random 512-byte-aligned offsets and sizes in
 *                 [MINSIZE, MAXSIZE]; every completed read is compared
 *                 with SRC
 *   spfioc attachfd KIND [PATH]
 *                 SPF_IOC_ATTACH with one layer descriptor of the given
 *                 KIND: rdonly, wronly, rdwr, path (O_PATH), direct
 *                 (O_RDONLY|O_DIRECT) open PATH; pipe (the read end of a
 *                 pipe) and socket (a socketpair end) need no PATH.
 *                 Prints N of the new /dev/spfN, or fails like attach
 *   spfioc cyclecheck [-r] [-t SECONDS] N SRC [-p PASSFILE | -k HEXKEY] FILE...
 *                 N times (or until SECONDS have passed): attach, read the whole device (O_DIRECT, 256 KiB
 *                 reads) and compare it with SRC, detach, check that the
 *                 node is gone.  With -r (racing rmmod), a control node
 *                 that is missing or has no driver behind it (ENOENT,
 *                 ENODEV, ENXIO) skips the cycle instead of failing
 *
 * The control device is $SPF_CONTROL or /dev/spf-control.  A failing
 * ioctl prints "spfioc: CMD: ENAME (message)" and exits 1.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/evp.h>

#include <linux/spfblk.h>
#include <linux/spf_format.h>

static const char *ctl_path(void)
{
	const char *p = getenv("SPF_CONTROL");

	return p && *p ? p : "/dev/" SPF_CONTROL_NAME;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("spfioc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void die_errno(const char *what, int err)
{
	const char *name = strerrorname_np(err);

	fprintf(stderr, "spfioc: %s: %s (%s)\n", what, name ? name : "?",
		strerror(err));
	exit(1);
}

static int ctl_open(void)
{
	int fd = open(ctl_path(), O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die_errno(ctl_path(), errno);
	return fd;
}

static uint64_t parse_u64(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		die("bad number '%s'", s);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		die("bad number '%s'", s);
	return v;
}

/* ---- key derivation (the same as spfctl's, for raw attaches) ---- */

static int read_pass(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		die_errno(path, errno);
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		die_errno(path, errno);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	return n;
}

/* 0 and the data key, or 1 if IMAGE is not encrypted; dies on error. */
static int derive_data_key(const char *image, const char *passfile,
			   uint8_t key[SPF_KEY_SIZE])
{
	struct spf_header h;
	uint8_t kek[32], out[2 * SPF_KEY_LEN + 16];
	char pass[1024];
	int fd, n, len, ok;
	EVP_CIPHER_CTX *ctx;

	fd = open(image, O_RDONLY);
	if (fd < 0)
		die_errno(image, errno);
	if (pread(fd, &h, sizeof(h), 0) != sizeof(h))
		die("%s: short header", image);
	close(fd);
	if (memcmp(h.magic, SPF_MAGIC, SPF_MAGIC_LEN))
		die("%s: not an SPF image", image);
	if (!(le64toh(h.incompat) & SPF_INCOMPAT_ENCRYPTED))
		return 1;
	len = read_pass(passfile, pass, sizeof(pass));
	if (argon2id_hash_raw(le32toh(h.crypt.kdf_t_cost),
			      le32toh(h.crypt.kdf_m_cost),
			      le32toh(h.crypt.kdf_parallelism), pass, len,
			      h.crypt.salt, SPF_SALT_LEN, kek, sizeof(kek)) !=
	    ARGON2_OK)
		die("%s: argon2id failed", image);
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx &&
	     EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kek,
				h.crypt.wrap_nonce) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &n, h.uuid, 16) == 1 &&
	     EVP_DecryptUpdate(ctx, out, &n, h.crypt.wrapped_keys,
			       sizeof(h.crypt.wrapped_keys)) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SPF_GCM_TAG_LEN,
				 h.crypt.wrap_tag) == 1 &&
	     EVP_DecryptFinal_ex(ctx, out + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		die("%s: wrong passphrase", image);
	memcpy(key, out, SPF_KEY_SIZE);
	return 0;
}

static void hex_key(const char *s, uint8_t key[SPF_KEY_SIZE])
{
	int i;

	if (strlen(s) != 2 * SPF_KEY_SIZE)
		die("a key is %d hex digits", 2 * SPF_KEY_SIZE);
	for (i = 0; i < SPF_KEY_SIZE; i++)
		if (sscanf(s + 2 * i, "%2hhx", &key[i]) != 1)
			die("bad hex key");
}

/* ---- attach / detach / info / features ---- */

struct attach_opts {
	uint32_t flags;
	uint64_t cache;
	const char *passfile;
	const char *hexkey;
};

static int parse_attach_opts(int argc, char **argv, struct attach_opts *o)
{
	int i = 0;

	memset(o, 0, sizeof(*o));
	while (i < argc && argv[i][0] == '-' && argv[i][1] && i + 1 < argc) {
		switch (argv[i][1]) {
		case 'f': o->flags = parse_u64(argv[i + 1]); break;
		case 'C': o->cache = parse_u64(argv[i + 1]); break;
		case 'p': o->passfile = argv[i + 1]; break;
		case 'k': o->hexkey = argv[i + 1]; break;
		default: die("unknown option %s", argv[i]);
		}
		i += 2;
	}
	return i;
}

/* Attach FILES; returns the index or -errno. */
static int do_attach(int ctl, const struct attach_opts *o, int n,
		     char **files)
{
	struct spf_layer_key *keys = NULL;
	struct spf_attach a;
	int32_t *fds;
	int i, ret, err;

	fds = calloc(n, sizeof(*fds));
	if (!fds)
		die("out of memory");
	if (o->passfile || o->hexkey) {
		keys = calloc(n, sizeof(*keys));
		if (!keys)
			die("out of memory");
	}
	for (i = 0; i < n; i++) {
		fds[i] = open(files[i], O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			die_errno(files[i], errno);
		if (o->passfile)
			derive_data_key(files[i], o->passfile, keys[i].key);
		else if (o->hexkey)
			hex_key(o->hexkey, keys[i].key);
	}
	memset(&a, 0, sizeof(a));
	a.fds = (uintptr_t)fds;
	a.keys = (uintptr_t)keys;
	a.nr_layers = n;
	a.flags = o->flags;
	a.cache_bytes = o->cache;
	ret = ioctl(ctl, SPF_IOC_ATTACH, &a);
	err = errno;
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	if (keys) {
		explicit_bzero(keys, n * sizeof(*keys));
		free(keys);
	}
	return ret ? -err : (int)a.index;
}

static int do_detach(int ctl, uint32_t index, uint32_t flags)
{
	struct spf_detach d = { .index = index, .flags = flags };

	return ioctl(ctl, SPF_IOC_DETACH, &d) ? -errno : 0;
}

static int cmd_attach(int argc, char **argv)
{
	struct attach_opts o;
	int i = parse_attach_opts(argc, argv, &o), ret;

	if (i >= argc)
		die("usage: attach [-f FLAGS] [-C BYTES] [-p PASSFILE | -k HEXKEY] FILE...");
	ret = do_attach(ctl_open(), &o, argc - i, argv + i);
	if (ret < 0)
		die_errno("attach", -ret);
	printf("%d\n", ret);
	return 0;
}

static int cmd_detach(int argc, char **argv)
{
	int ret;

	if (argc < 1)
		die("usage: detach IDX [lazy]");
	ret = do_detach(ctl_open(), parse_u64(argv[0]),
			argc > 1 && !strcmp(argv[1], "lazy") ?
			SPF_DETACH_F_LAZY : 0);
	if (ret)
		die_errno("detach", -ret);
	return 0;
}

static int cmd_info(int argc, char **argv)
{
	struct spf_info info;
	int i;

	if (argc < 1)
		die("usage: info IDX");
	memset(&info, 0, sizeof(info));
	info.index = parse_u64(argv[0]);
	if (ioctl(ctl_open(), SPF_IOC_GET_INFO, &info))
		die_errno("info", errno);
	printf("index=%u\nflags=%#x\ndisk_size=%llu\nnr_layers=%u\n"
	       "chunk_size=%u\ncache_budget=%llu\ncache_bytes=%llu\n"
	       "cache_hits=%llu\ncache_misses=%llu\ncorrupt_chunks=%llu\n"
	       "top_uuid=", info.index, info.flags,
	       (unsigned long long)info.disk_size, info.nr_layers,
	       info.chunk_size, (unsigned long long)info.cache_budget,
	       (unsigned long long)info.cache_bytes,
	       (unsigned long long)info.cache_hits,
	       (unsigned long long)info.cache_misses,
	       (unsigned long long)info.corrupt_chunks);
	for (i = 0; i < 16; i++)
		printf("%02x", info.top_uuid[i]);
	printf("\n");
	return 0;
}

static int cmd_features(void)
{
	struct spf_features f;

	memset(&f, 0, sizeof(f));
	if (ioctl(ctl_open(), SPF_IOC_GET_FEATURES, &f))
		die_errno("features", errno);
	printf("features=%#llx\nattach_flags=%#llx\nincompat=%#llx\n"
	       "max_layers=%u\nmax_devices=%u\n",
	       (unsigned long long)f.features,
	       (unsigned long long)f.attach_flags,
	       (unsigned long long)f.incompat, f.max_layers, f.max_devices);
	return 0;
}

static int cmd_datakey(int argc, char **argv)
{
	uint8_t key[SPF_KEY_SIZE];
	int i, j;

	if (argc < 2)
		die("usage: datakey PASSFILE IMAGE...");
	for (j = 1; j < argc; j++) {
		if (derive_data_key(argv[j], argv[0], key))
			die("%s is not encrypted", argv[j]);
		for (i = 0; i < SPF_KEY_SIZE; i++)
			printf("%02x", key[i]);
		printf("\n");
	}
	explicit_bzero(key, sizeof(key));
	return 0;
}

/* The text of the kernel log records after the last one containing MARK. */
static int cmd_kmsg(int argc, char **argv)
{
	size_t cap = 1 << 20, len = 0, start = 0;
	char *out = malloc(cap), rec[8192];
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ssize_t r;

	if (argc != 1)
		die("usage: kmsg MARK");
	if (fd < 0)
		die_errno("/dev/kmsg", errno);
	for (;;) {
		char *msg, *nl;

		r = read(fd, rec, sizeof(rec) - 1);
		if (r < 0 && errno == EPIPE)
			continue;
		if (r <= 0)
			break;
		rec[r] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = 0;
		if (strstr(msg, argv[0])) {
			len = start = 0;
			continue;
		}
		if (len + strlen(msg) + 2 > cap) {
			cap = 2 * cap + strlen(msg);
			out = realloc(out, cap);
			if (!out)
				die("out of memory");
		}
		len += sprintf(out + len, "%s\n", msg);
	}
	fwrite(out + start, 1, len - start, stdout);
	return 0;
}

/* ---- attach/detach cycles ---- */

static void *aligned_buf(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("out of memory");
	return p;
}

static void read_some(const char *dev, void *buf)
{
	int fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
	off_t size;

	if (fd < 0)
		die_errno(dev, errno);
	size = lseek(fd, 0, SEEK_END);
	if (pread(fd, buf, 65536, 0) != 65536 ||
	    (size >= 65536 && pread(fd, buf, 65536, size - 65536) != 65536))
		die_errno(dev, errno ? errno : EIO);
	close(fd);
}

static int cmd_cycle(int argc, char **argv)
{
	struct attach_opts o;
	void *buf = aligned_buf(65536);
	char dev[64];
	long n, c;
	int ctl, i, idx, ret, p;

	if (argc < 2)
		die("usage: cycle N [-p PASSFILE] FILE...");
	n = parse_u64(argv[0]);
	i = 1 + parse_attach_opts(argc - 1, argv + 1, &o);
	if (i >= argc)
		die("cycle: no files");
	ctl = ctl_open();
	for (c = 0; c < n; c++) {
		idx = do_attach(ctl, &o, argc - i, argv + i);
		if (idx < 0) {
			fprintf(stderr, "spfioc: cycle %ld: ", c);
			die_errno("attach", -idx);
		}
		snprintf(dev, sizeof(dev), "/dev/spf%d", idx);
		read_some(dev, buf);
		for (p = 1; p < 16; p++) {
			int fd;

			snprintf(dev, sizeof(dev), "/dev/spf%dp%d", idx, p);
			fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
			if (fd < 0)
				break;
			if (pread(fd, buf, 4096, 0) != 4096)
				die_errno(dev, errno ? errno : EIO);
			close(fd);
		}
		ret = do_detach(ctl, idx, 0);
		if (ret) {
			fprintf(stderr, "spfioc: cycle %ld: ", c);
			die_errno("detach", -ret);
		}
		snprintf(dev, sizeof(dev), "/dev/spf%d", idx);
		if (!access(dev, F_OK))
			die("cycle %ld: %s still exists after detach", c, dev);
	}
	printf("%ld cycles\n", n);
	return 0;
}

/* ---- the source file, mapped ---- */

static const uint8_t *map_file(const char *path, size_t *size)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		die_errno(path, errno);
	*size = st.st_size;
	p = mmap(NULL, st.st_size ? st.st_size : 1, PROT_READ, MAP_SHARED,
		 fd, 0);
	if (p == MAP_FAILED)
		die_errno(path, errno);
	close(fd);
	return p;
}

static off_t dev_size(int fd, const char *path)
{
	off_t s = lseek(fd, 0, SEEK_END);

	if (s < 0)
		die_errno(path, errno);
	return s;
}

/* ---- readcheck ---- */

static int cmd_readcheck(int argc, char **argv)
{
	uint64_t bad[64][2], bs, off, nblocks = 0, nbad = 0, nerr = 0;
	uint64_t window = UINT64_MAX;
	const uint8_t *src;
	size_t srcsize;
	int nb = 0, fd, i, first = 3;
	uint8_t *buf;
	off_t size;

	if (argc < 3)
		die("usage: readcheck DEV SRC BS [START-END...]");
	bs = parse_u64(argv[2]);
	if (argc > 4 && !strcmp(argv[3], "-w")) {
		window = parse_u64(argv[4]);
		first = 5;
	}
	for (i = first; i < argc && nb < 64; i++, nb++)
		if (sscanf(argv[i], "%" SCNu64 "-%" SCNu64, &bad[nb][0],
			   &bad[nb][1]) != 2)
			die("bad range %s", argv[i]);
	src = map_file(argv[1], &srcsize);
	fd = open(argv[0], O_RDONLY | O_DIRECT);
	if (fd < 0)
		die_errno(argv[0], errno);
	size = dev_size(fd, argv[0]);
	if ((uint64_t)size != srcsize) {
		printf("size %lld != source size %zu\n", (long long)size,
		       srcsize);
		return 1;
	}
	buf = aligned_buf(bs);
	for (off = 0; off < (uint64_t)size; off += bs) {
		uint64_t len = bs < size - off ? bs : size - off;
		bool want_bad = false;
		ssize_t r;

		bool near = window == UINT64_MAX || !off || off + len >= (uint64_t)size;

		for (i = 0; i < nb; i++) {
			if (off < bad[i][1] && off + len > bad[i][0])
				want_bad = true;
			if (off + len + window > bad[i][0] &&
			    off < bad[i][1] + window)
				near = true;
		}
		if (!near)
			continue;
		errno = 0;
		r = pread(fd, buf, len, off);
		nblocks++;
		if (want_bad) {
			nbad++;
			if (r >= 0 || errno != EIO) {
				printf("FAIL offset %" PRIu64 ": expected EIO, got %zd (%s)\n",
				       off, r, r < 0 ? strerror(errno) : "data");
				nerr++;
			}
		} else if (r != (ssize_t)len) {
			printf("FAIL offset %" PRIu64 ": read returned %zd (%s)\n",
			       off, r, r < 0 ? strerror(errno) : "short");
			nerr++;
		} else if (memcmp(buf, src + off, len)) {
			printf("FAIL offset %" PRIu64 ": data differs from the source\n",
			       off);
			nerr++;
		}
		if (nerr > 10)
			break;
	}
	printf("%" PRIu64 " blocks of %" PRIu64 " bytes read, %" PRIu64
	       " in bad ranges, %" PRIu64 " wrong\n", nblocks, bs, nbad, nerr);
	return nerr ? 1 : 0;
}

/* ---- aioverify ---- */

struct aio_job {
	pthread_t thread;
	int fd;
	unsigned int seed;
	uint64_t ios, bytes, errors;
	char msg[256];
};

static const uint8_t *av_src;
static uint64_t av_size, av_min, av_max;
static unsigned int av_depth;
static double av_seconds;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(unsigned int *seed)
{
	return ((uint64_t)rand_r(seed) << 31) ^ rand_r(seed);
}

/* A random size in [min, max], multiple of 512, log-uniform. */
static uint64_t rnd_size(unsigned int *seed)
{
	uint64_t lo = av_min / 512, hi = av_max / 512, a, b;
	int bits = 0;

	while ((lo << (bits + 1)) <= hi)
		bits++;
	a = lo << (rnd(seed) % (bits + 1));
	b = a * 2 - 1 < hi ? a * 2 - 1 : hi;
	return (a + rnd(seed) % (b - a + 1)) * 512;
}

static void prep(struct iocb *cb, struct aio_job *j, void *buf,
		 unsigned int slot)
{
	uint64_t len = rnd_size(&j->seed), off;

	if (len > av_size)
		len = av_size;
	off = (rnd(&j->seed) % ((av_size - len) / 512 + 1)) * 512;
	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = j->fd;
	cb->aio_lio_opcode = IOCB_CMD_PREAD;
	cb->aio_buf = (uintptr_t)buf;
	cb->aio_nbytes = len;
	cb->aio_offset = off;
	cb->aio_data = slot;
}

static void *aio_worker(void *arg)
{
	struct aio_job *j = arg;
	aio_context_t ctx = 0;
	struct iocb *cbs, *ptrs[1];
	struct io_event *ev;
	uint8_t *bufs;
	unsigned int i, inflight = 0;
	double end = now() + av_seconds;
	bool stop = false;

	cbs = calloc(av_depth, sizeof(*cbs));
	ev = calloc(av_depth, sizeof(*ev));
	bufs = aligned_buf((size_t)av_depth * av_max);
	if (syscall(SYS_io_setup, av_depth, &ctx)) {
		snprintf(j->msg, sizeof(j->msg), "io_setup: %s", strerror(errno));
		j->errors++;
		return NULL;
	}
	for (i = 0; i < av_depth; i++) {
		prep(&cbs[i], j, bufs + (size_t)i * av_max, i);
		ptrs[0] = &cbs[i];
		if (syscall(SYS_io_submit, ctx, 1, ptrs) != 1) {
			snprintf(j->msg, sizeof(j->msg), "io_submit: %s",
				 strerror(errno));
			j->errors++;
			stop = true;
			break;
		}
		inflight++;
	}
	while (inflight) {
		long n = syscall(SYS_io_getevents, ctx, 1, av_depth, ev, NULL);
		long k;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(j->msg, sizeof(j->msg), "io_getevents: %s",
				 strerror(errno));
			j->errors++;
			break;
		}
		if (!stop && now() > end)
			stop = true;
		for (k = 0; k < n; k++) {
			unsigned int s = ev[k].data;
			struct iocb *cb = &cbs[s];

			inflight--;
			if (ev[k].res != (long long)cb->aio_nbytes) {
				if (!j->errors)
					snprintf(j->msg, sizeof(j->msg),
						 "read of %llu bytes at %llu returned %lld",
						 (unsigned long long)cb->aio_nbytes,
						 (unsigned long long)cb->aio_offset,
						 (long long)ev[k].res);
				j->errors++;
			} else if (memcmp((void *)(uintptr_t)cb->aio_buf,
					  av_src + cb->aio_offset,
					  cb->aio_nbytes)) {
				if (!j->errors)
					snprintf(j->msg, sizeof(j->msg),
						 "read of %llu bytes at %llu: data differs from the source",
						 (unsigned long long)cb->aio_nbytes,
						 (unsigned long long)cb->aio_offset);
				j->errors++;
			} else {
				j->ios++;
				j->bytes += cb->aio_nbytes;
			}
			if (stop || j->errors > 100)
				continue;
			prep(cb, j, (void *)(uintptr_t)cb->aio_buf, s);
			ptrs[0] = cb;
			if (syscall(SYS_io_submit, ctx, 1, ptrs) != 1) {
				snprintf(j->msg, sizeof(j->msg), "io_submit: %s",
					 strerror(errno));
				j->errors++;
				stop = true;
				continue;
			}
			inflight++;
		}
	}
	syscall(SYS_io_destroy, ctx);
	return NULL;
}

static int cmd_aioverify(int argc, char **argv)
{
	struct aio_job *jobs;
	uint64_t ios = 0, bytes = 0, errors = 0;
	unsigned int njobs, i;
	size_t srcsize;
	double t0, t;
	int fd;

	if (argc != 7)
		die("usage: aioverify DEV SRC SECONDS JOBS DEPTH MINSIZE MAXSIZE");
	av_src = map_file(argv[1], &srcsize);
	av_seconds = atof(argv[2]);
	njobs = parse_u64(argv[3]);
	av_depth = parse_u64(argv[4]);
	av_min = parse_u64(argv[5]);
	av_max = parse_u64(argv[6]);
	if (av_min < 512 || av_min % 512 || av_max % 512 || av_max < av_min ||
	    !njobs || !av_depth)
		die("bad sizes or counts");
	jobs = calloc(njobs, sizeof(*jobs));
	t0 = now();
	for (i = 0; i < njobs; i++) {
		fd = open(argv[0], O_RDONLY | O_DIRECT);
		if (fd < 0)
			die_errno(argv[0], errno);
		if (!i) {
			av_size = dev_size(fd, argv[0]);
			if (av_size != srcsize)
				die("%s has %" PRIu64 " bytes, the source %zu",
				    argv[0], av_size, srcsize);
		}
		jobs[i].fd = fd;
		jobs[i].seed = 0x5bf + i * 7919;
		pthread_create(&jobs[i].thread, NULL, aio_worker, &jobs[i]);
	}
	for (i = 0; i < njobs; i++) {
		pthread_join(jobs[i].thread, NULL);
		ios += jobs[i].ios;
		bytes += jobs[i].bytes;
		errors += jobs[i].errors;
		if (jobs[i].errors)
			printf("job %u: %" PRIu64 " errors, first: %s\n", i,
			       jobs[i].errors, jobs[i].msg);
	}
	t = now() - t0;
	printf("%u jobs x depth %u: %" PRIu64 " reads, %.1f MiB in %.1f s (%.1f MiB/s), %" PRIu64 " errors\n",
	       njobs, av_depth, ios, bytes / 1048576.0, t,
	       bytes / 1048576.0 / t, errors);
	return errors ? 1 : 0;
}

/* ---- attachfd: layer descriptors of every kind ---- */

static int cmd_attachfd(int argc, char **argv)
{
	static const struct {
		const char *name;
		int flags;
	} kinds[] = {
		{ "rdonly", O_RDONLY }, { "wronly", O_WRONLY },
		{ "rdwr", O_RDWR }, { "path", O_PATH },
		{ "direct", O_RDONLY | O_DIRECT },
	};
	struct spf_attach a;
	int32_t fd = -1;
	int sv[2], i, ctl = ctl_open();

	if (argc < 1)
		die("usage: attachfd rdonly|wronly|rdwr|path|direct PATH | pipe | socket");
	if (!strcmp(argv[0], "pipe")) {
		if (pipe(sv))
			die_errno("pipe", errno);
		fd = sv[0];
	} else if (!strcmp(argv[0], "socket")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			die_errno("socketpair", errno);
		fd = sv[0];
	} else {
		for (i = 0; i < (int)(sizeof(kinds) / sizeof(kinds[0])); i++)
			if (!strcmp(argv[0], kinds[i].name))
				break;
		if (i == (int)(sizeof(kinds) / sizeof(kinds[0])) || argc < 2)
			die("attachfd: unknown kind %s or no PATH", argv[0]);
		fd = open(argv[1], kinds[i].flags | O_CLOEXEC);
		if (fd < 0)
			die_errno(argv[1], errno);
	}
	memset(&a, 0, sizeof(a));
	a.fds = (uintptr_t)&fd;
	a.nr_layers = 1;
	if (ioctl(ctl, SPF_IOC_ATTACH, &a))
		die_errno("attach", errno);
	printf("%u\n", a.index);
	return 0;
}

/* ---- cyclecheck: attach, compare every byte, detach ---- */

static bool module_gone(int err)
{
	return err == ENOENT || err == ENODEV || err == ENXIO;
}

/* Read all of DEV and compare it with SRC; 0, or a message in msg. */
static int compare_dev(const char *dev, const uint8_t *src, size_t srcsize,
		       uint8_t *buf, size_t bs, char *msg, size_t msglen)
{
	int fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
	off_t size, off;

	if (fd < 0) {
		snprintf(msg, msglen, "%s: %s", dev, strerror(errno));
		return -1;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || (size_t)size != srcsize) {
		snprintf(msg, msglen, "%s has %lld bytes, the source %zu", dev,
			 (long long)size, srcsize);
		close(fd);
		return -1;
	}
	for (off = 0; off < size; off += bs) {
		size_t len = (size_t)(size - off) < bs ? (size_t)(size - off) : bs;
		ssize_t r = pread(fd, buf, len, off);

		if (r != (ssize_t)len) {
			snprintf(msg, msglen, "%s: read at %lld returned %zd (%s)",
				 dev, (long long)off, r,
				 r < 0 ? strerror(errno) : "short");
			close(fd);
			return -1;
		}
		if (memcmp(buf, src + off, len)) {
			snprintf(msg, msglen, "%s: data at %lld differs from the source",
				 dev, (long long)off);
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

static int cmd_cyclecheck(int argc, char **argv)
{
	struct attach_opts o;
	const size_t bs = 256 << 10;
	uint8_t *buf = aligned_buf(bs);
	const uint8_t *src;
	size_t srcsize;
	bool racing = false;
	double limit = 0, t0 = now();
	long n, c, done = 0, skipped = 0;
	char dev[64], msg[512];
	int ctl, i, idx, ret;

	if (argc > 0 && !strcmp(argv[0], "-r")) {
		racing = true;
		argc--;
		argv++;
	}
	if (argc > 1 && !strcmp(argv[0], "-t")) {
		limit = atof(argv[1]);
		argc -= 2;
		argv += 2;
	}
	if (argc < 3)
		die("usage: cyclecheck [-r] [-t SECONDS] N SRC [-p PASSFILE | -k HEXKEY] FILE...");
	n = parse_u64(argv[0]);
	src = map_file(argv[1], &srcsize);
	i = 2 + parse_attach_opts(argc - 2, argv + 2, &o);
	if (i >= argc)
		die("cyclecheck: no files");
	for (c = 0; c < n && (!limit || now() - t0 < limit); c++) {
		ctl = open(ctl_path(), O_RDWR | O_CLOEXEC);
		if (ctl < 0) {
			if (racing && module_gone(errno)) {
				skipped++;
				usleep(20000);
				continue;
			}
			fprintf(stderr, "spfioc: cycle %ld: ", c);
			die_errno(ctl_path(), errno);
		}
		idx = do_attach(ctl, &o, argc - i, argv + i);
		if (idx < 0) {
			fprintf(stderr, "spfioc: cycle %ld: ", c);
			die_errno("attach", -idx);
		}
		snprintf(dev, sizeof(dev), "/dev/spf%d", idx);
		if (compare_dev(dev, src, srcsize, buf, bs, msg, sizeof(msg)))
			die("cycle %ld: %s", c, msg);
		ret = do_detach(ctl, idx, 0);
		if (ret) {
			fprintf(stderr, "spfioc: cycle %ld: ", c);
			die_errno("detach", -ret);
		}
		close(ctl);
		if (!access(dev, F_OK))
			die("cycle %ld: %s still exists after detach", c, dev);
		done++;
	}
	printf("%ld cycles: %ld checked, %ld skipped (no driver)\n", c, done,
	       skipped);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: spfioc features|info|attach|detach|datakey|kmsg|cycle|readcheck|aioverify|attachfd|cyclecheck ...");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "features"))
		return cmd_features();
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 2, argv + 2);
	if (!strcmp(argv[1], "attach"))
		return cmd_attach(argc - 2, argv + 2);
	if (!strcmp(argv[1], "detach"))
		return cmd_detach(argc - 2, argv + 2);
	if (!strcmp(argv[1], "datakey"))
		return cmd_datakey(argc - 2, argv + 2);
	if (!strcmp(argv[1], "kmsg"))
		return cmd_kmsg(argc - 2, argv + 2);
	if (!strcmp(argv[1], "cycle"))
		return cmd_cycle(argc - 2, argv + 2);
	if (!strcmp(argv[1], "readcheck"))
		return cmd_readcheck(argc - 2, argv + 2);
	if (!strcmp(argv[1], "aioverify"))
		return cmd_aioverify(argc - 2, argv + 2);
	if (!strcmp(argv[1], "attachfd"))
		return cmd_attachfd(argc - 2, argv + 2);
	if (!strcmp(argv[1], "cyclecheck"))
		return cmd_cyclecheck(argc - 2, argv + 2);
	die("unknown command %s", argv[1]);
}
