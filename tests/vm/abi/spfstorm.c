// SPDX-License-Identifier: GPL-2.0
/*
 * spfstorm: run a corrupt-image storm (tests/storm/mkstorm) against the
 * driver through the raw control ABI, bypassing spfctl's checks.
 *
 *   spfstorm [-s STAGEDIR] [-t CASE_SECONDS] [-T TOTAL_SECONDS] [-l LOG]
 *            [-i ID] MANIFEST
 *
 * For each manifest case: copy its layer files into STAGEDIR (a tmpfs; by
 * default they are used where they are; files of the good chains, paths
 * with a "good/" component, are staged once and shared), open them
 * O_RDONLY, attach them with SPF_IOC_ATTACH (no partition scan) and the
 * case's raw data keys, read the whole /dev/spfN with O_DIRECT pread in
 * 256 KiB reads, and chunk by chunk wherever one fails, compare every
 * successful read with the good chain's raw disk (zeros past its end, or
 * the case's alternative bytes for that chunk), then detach.
 *
 * A case passes when the attach is refused with an errno, or when every
 * read returned the good bytes or failed with EIO, and, for a case whose
 * damage is limited to chunk data (scope=data), failed only on the
 * damaged chunks.  Wrong bytes, another errno, a short read, a failed
 * detach or a case that takes longer than CASE_SECONDS (default 60: a
 * hang) fail it.
 *
 * Output: "FAIL storm-CLASS-ID: reason [what]" per failed case, then per
 * class "PASS storm-CLASS: counts" (or FAIL if a case of it failed), and
 * a "# spfstorm:" total.  -l LOG writes one line per case.  -T stops
 * starting cases after TOTAL_SECONDS (the remaining ones are counted as
 * not run, which is not a failure).  -i runs one case.
 *
 * Exit status: 0 all passed, 1 a case failed, 2 usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/spfblk.h>

#define MAX_CLASSES	32
#define MAX_ERRNOS	12
#define MAX_RANGES	64
#define MAX_ALT		16
#define MAX_FILES	16
#define MAX_SRCS	16
#define MAX_CHUNK	(1U << 20)
#define BIG_READ	(256U << 10)	/* at least one chunk of 64 KiB */

struct klass {
	char name[32];
	unsigned int cases, refused, attached, with_eio, fails;
	unsigned long reads, chunks, eio_reads, alt_reads;
	int err[MAX_ERRNOS];
	unsigned int err_n[MAX_ERRNOS];
};

struct range {
	uint64_t lo, hi;
};

struct alt {
	uint64_t chunk;
	uint8_t *data;
};

struct src {
	char path[4096];
	const uint8_t *data;
	size_t size;
};

static struct klass classes[MAX_CLASSES];
static unsigned int nclasses;
static struct src srcs[MAX_SRCS];
static unsigned int nsrcs;
static char basedir[4096];
static const char *stagedir;
static FILE *logf;
static char good_staged[64][2][4096];	/* good-chain files staged once */
static unsigned int ngood;
static volatile sig_atomic_t cur_id = -1;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("spfstorm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static const char *ename(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "E?";
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_alarm(int sig)
{
	char msg[128];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg),
		     "FAIL storm-hang: case %d did not finish in time (hang?)\n",
		     (int)cur_id);
	if (write(1, msg, n) < 0)
		_exit(3);
	_exit(3);
}

static struct klass *klass(const char *name)
{
	unsigned int i;

	for (i = 0; i < nclasses; i++)
		if (!strcmp(classes[i].name, name))
			return &classes[i];
	if (nclasses == MAX_CLASSES)
		die("too many classes");
	snprintf(classes[nclasses].name, sizeof(classes[0].name), "%s", name);
	return &classes[nclasses++];
}

static void count_errno(struct klass *k, int err)
{
	int i;

	for (i = 0; i < MAX_ERRNOS; i++) {
		if (k->err_n[i] && k->err[i] == err) {
			k->err_n[i]++;
			return;
		}
		if (!k->err_n[i]) {
			k->err[i] = err;
			k->err_n[i] = 1;
			return;
		}
	}
}

static void path_of(const char *rel, char *out, size_t size)
{
	int n;

	if (rel[0] == '/')
		n = snprintf(out, size, "%s", rel);
	else
		n = snprintf(out, size, "%s/%s", basedir, rel);
	if (n < 0 || (size_t)n >= size)
		die("path too long: %s", rel);
}

/* The good sources, read once each (not mapped: they may be on 9p). */
static const struct src *get_src(const char *rel)
{
	char path[4096];
	struct stat st;
	unsigned int i;
	uint8_t *p;
	size_t got = 0;
	ssize_t n;
	int fd;

	path_of(rel, path, sizeof(path));
	for (i = 0; i < nsrcs; i++)
		if (!strcmp(srcs[i].path, path))
			return &srcs[i];
	if (nsrcs == MAX_SRCS)
		die("too many source files");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", path, strerror(errno));
	p = malloc(st.st_size ? st.st_size : 1);
	if (!p)
		die("out of memory");
	while (got < (size_t)st.st_size &&
	       (n = read(fd, p + got, st.st_size - got)) > 0)
		got += n;
	if (got != (size_t)st.st_size)
		die("%s: short read", path);
	close(fd);
	memcpy(srcs[nsrcs].path, path, sizeof(path));
	srcs[nsrcs].data = p;
	srcs[nsrcs].size = st.st_size;
	return &srcs[nsrcs++];
}

static int copy_file(const char *from, const char *to)
{
	static char buf[1 << 20];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		n = -errno;
		close(in);
		return n;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (close(out) || n < 0)
		return -EIO;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void parse_key(const char *s, size_t len, uint8_t key[SPF_KEY_SIZE])
{
	int i, a, b;

	if (len != 2 * SPF_KEY_SIZE)
		die("a key is %d hex digits", 2 * SPF_KEY_SIZE);
	for (i = 0; i < SPF_KEY_SIZE; i++) {
		a = hexval(s[2 * i]);
		b = hexval(s[2 * i + 1]);
		if (a < 0 || b < 0)
			die("bad hex key");
		key[i] = a << 4 | b;
	}
}

/* A case, parsed from one manifest line (the line's memory is reused). */
struct scase {
	int id;
	const char *cls, *what, *layers, *keys, *src, *scope, *bad, *alt;
	unsigned int cs;
};

static void parse_line(char *line, struct scase *c)
{
	char *tok, *save = NULL;

	memset(c, 0, sizeof(*c));
	c->id = -1;
	for (tok = strtok_r(line, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			continue;
		*eq++ = 0;
		if (!strcmp(tok, "id"))
			c->id = atoi(eq);
		else if (!strcmp(tok, "class"))
			c->cls = eq;
		else if (!strcmp(tok, "what"))
			c->what = eq;
		else if (!strcmp(tok, "layers"))
			c->layers = eq;
		else if (!strcmp(tok, "keys"))
			c->keys = eq;
		else if (!strcmp(tok, "src"))
			c->src = eq;
		else if (!strcmp(tok, "cs"))
			c->cs = strtoul(eq, NULL, 0);
		else if (!strcmp(tok, "scope"))
			c->scope = eq;
		else if (!strcmp(tok, "bad"))
			c->bad = eq;
		else if (!strcmp(tok, "alt"))
			c->alt = eq;
	}
	if (c->id < 0 || !c->cls || !c->layers || !c->src || !c->cs ||
	    c->cs > MAX_CHUNK || (c->cs & (c->cs - 1)) || c->cs < 512)
		die("bad manifest line (id %d)", c->id);
	if (!c->what)
		c->what = "-";
	if (!c->scope)
		c->scope = "any";
}

/* "a,b*3,c" -> the list of items, each with its repeat count. */
struct item {
	char s[4096];
	unsigned long rep;
};

static unsigned int split_runs(const char *list, struct item *items,
			       unsigned int max, unsigned long *total)
{
	unsigned int n = 0;
	const char *p = list;

	*total = 0;
	while (*p) {
		const char *end = strchr(p, ','), *star;
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (n == max)
			die("too many distinct items in '%.40s...'", list);
		star = memchr(p, '*', len);
		items[n].rep = 1;
		if (star) {
			items[n].rep = strtoul(star + 1, NULL, 10);
			len = star - p;
		}
		if (len >= sizeof(items[0].s))
			die("item too long");
		memcpy(items[n].s, p, len);
		items[n].s[len] = 0;
		*total += items[n].rep;
		n++;
		p += (end ? end - p + 1 : (long)strlen(p));
	}
	return n;
}

struct result {
	char reason[512];
	bool failed;
};

static void failf(struct result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void failf(struct result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

static bool is_zero(const uint8_t *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

static int detach(int ctl, int idx)
{
	struct spf_detach d = { .index = idx };
	int i;

	for (i = 0; i < 100; i++) {
		if (!ioctl(ctl, SPF_IOC_DETACH, &d))
			return 0;
		if (errno != EBUSY)
			return -errno;
		usleep(20000);
	}
	return -EBUSY;
}

/* One chunk's worth of bytes read at OFF: the good bytes or the alt ones. */
static void check_bytes(const struct scase *c, const struct src *src,
			const struct alt *alts, unsigned int nalt,
			const uint8_t *buf, uint64_t off, size_t len,
			struct klass *k, struct result *r)
{
	uint64_t chunk = off / c->cs;
	unsigned int i;
	bool good;
	size_t d = 0;

	k->chunks++;
	if (off >= src->size) {
		good = is_zero(buf, len);
	} else if (off + len <= src->size) {
		good = !memcmp(buf, src->data + off, len);
	} else {
		size_t in = src->size - off;

		good = !memcmp(buf, src->data + off, in) &&
		       is_zero(buf + in, len - in);
	}
	if (good)
		return;
	for (i = 0; i < nalt; i++)
		if (alts[i].chunk == chunk && !memcmp(buf, alts[i].data, len)) {
			k->alt_reads++;
			return;
		}
	while (d < len && off + d < src->size && buf[d] == src->data[off + d])
		d++;
	failf(r, "WRONG DATA at %" PRIu64 "+%zu (first difference at byte %" PRIu64 ")",
	      off, len, off + d);
}

static void run_case(int ctl, struct scase *c, struct klass *k, uint8_t *buf)
{
	double t_start = now(), t_attach = 0, t_open = 0, t_read = 0, t_det;
	struct item files[MAX_FILES], keys[MAX_FILES];
	char staged[MAX_FILES][4096], dev[64], eios[256] = "";
	bool cached[MAX_FILES], opened = false;
	int pass;
	struct range bad[MAX_RANGES];
	struct alt alts[MAX_ALT];
	unsigned int nfiles, nkeys = 0, nbad = 0, nalt = 0, i;
	unsigned long nlayers, nk = 0, j, li;
	struct spf_layer_key *lkeys = NULL;
	int ufd[MAX_FILES], *fds = NULL, idx = -1, dfd = -1, err;
	struct result r = { .failed = false };
	const struct src *src = get_src(c->src);
	uint64_t size = 0, off, limit;
	struct spf_attach a;
	bool eio_seen = false;
	int neio = 0;

	k->cases++;
	/* ---- the case's description ---- */
	nfiles = split_runs(c->layers, files, MAX_FILES, &nlayers);
	if (c->keys && strcmp(c->keys, "-")) {
		nkeys = split_runs(c->keys, keys, MAX_FILES, &nk);
		if (nk != nlayers)
			die("case %d: %lu keys for %lu layers", c->id, nk, nlayers);
	}
	if (c->bad && strcmp(c->bad, "-")) {
		const char *p = c->bad;

		while (*p && nbad < MAX_RANGES) {
			char *e;

			bad[nbad].lo = strtoull(p, &e, 10);
			if (*e != '-')
				die("case %d: bad range list", c->id);
			bad[nbad].hi = strtoull(e + 1, &e, 10);
			nbad++;
			p = *e == ',' ? e + 1 : e;
		}
	}
	if (c->alt && strcmp(c->alt, "-")) {
		struct item ai[MAX_ALT];
		unsigned long tot;
		unsigned int na = split_runs(c->alt, ai, MAX_ALT, &tot);

		for (i = 0; i < na; i++) {
			char *colon = strrchr(ai[i].s, ':'), *at, path[4096];
			uint64_t aoff;
			int fd;

			if (!colon || !(at = strchr(colon, '@')))
				die("case %d: bad alt '%s'", c->id, ai[i].s);
			*colon = 0;
			alts[nalt].chunk = strtoull(colon + 1, NULL, 10);
			aoff = strtoull(at + 1, NULL, 10);
			alts[nalt].data = malloc(c->cs);
			path_of(ai[i].s, path, sizeof(path));
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || !alts[nalt].data ||
			    pread(fd, alts[nalt].data, c->cs, aoff) != c->cs)
				die("case %d: cannot read %s", c->id, path);
			close(fd);
			nalt++;
		}
	}

	/*
	 * ---- open the layer files and attach ----
	 * With a STAGEDIR, first straight from where they are (most cases
	 * are refused after a few blocks: no need to copy them over 9p),
	 * and only if that attach works, again from copies on the tmpfs,
	 * to read the device.
	 */
	fds = calloc(nlayers, sizeof(*fds));
	if (nkeys)
		lkeys = calloc(nlayers, sizeof(*lkeys));
	if (!fds || (nkeys && !lkeys))
		die("out of memory");
	for (i = 0, li = 0; i < nkeys; i++) {
		uint8_t key[SPF_KEY_SIZE];

		parse_key(keys[i].s, strlen(keys[i].s), key);
		for (j = 0; j < keys[i].rep; j++)
			memcpy(lkeys[li++].key, key, SPF_KEY_SIZE);
	}
	for (pass = stagedir ? 0 : 1; pass < 2; pass++) {
		for (i = 0; i < nfiles; i++) {
			char path[4096];

			path_of(files[i].s, path, sizeof(path));
			cached[i] = false;
			if (!pass || !stagedir) {
				cached[i] = true;	/* nothing to remove */
				memcpy(staged[i], path, sizeof(path));
			} else if (strstr(files[i].s, "good/")) {
				unsigned int g;

				for (g = 0; g < ngood; g++)
					if (!strcmp(good_staged[g][0], path))
						break;
				if (g == ngood) {
					if (ngood == 64)
						die("too many good files");
					memcpy(good_staged[g][0], path, sizeof(path));
					if (snprintf(good_staged[g][1], sizeof(good_staged[g][1]),
						     "%s/good.%u", stagedir, g) >=
					    (int)sizeof(good_staged[g][1]))
						die("path too long");
					err = copy_file(path, good_staged[g][1]);
					if (err)
						die("cannot copy %s: %s", path, strerror(-err));
					ngood++;
				}
				memcpy(staged[i], good_staged[g][1], sizeof(staged[i]));
				cached[i] = true;
			} else {
				if (snprintf(staged[i], sizeof(staged[i]), "%s/%u.%s",
					     stagedir, i, basename(files[i].s)) >=
				    (int)sizeof(staged[i]))
					die("path too long");
				err = copy_file(path, staged[i]);
				if (err)
					die("case %d: cannot copy %s to %s: %s", c->id,
					    path, staged[i], strerror(-err));
			}
			ufd[i] = open(staged[i], O_RDONLY | O_CLOEXEC);
			if (ufd[i] < 0)
				die("case %d: %s: %s", c->id, staged[i], strerror(errno));
		}
		opened = true;
		for (i = 0, li = 0; i < nfiles; i++)
			for (j = 0; j < files[i].rep; j++)
				fds[li++] = ufd[i];

		memset(&a, 0, sizeof(a));
		a.fds = (uintptr_t)fds;
		a.keys = (uintptr_t)lkeys;
		a.nr_layers = nlayers;
		a.flags = SPF_ATTACH_F_NO_PARTSCAN;
		t_attach = now();
		if (ioctl(ctl, SPF_IOC_ATTACH, &a)) {
			err = errno;
			k->refused++;
			count_errno(k, err);
			if (err == EFAULT || err == ENOTTY || err == EPERM)
				failf(&r, "attach: unexpected %s", ename(err));
			if (logf)
				fprintf(logf, "%04d %s refused %s%s %s (ms: stage %.0f, attach %.0f)\n",
					c->id, c->cls, ename(err),
					pass && stagedir ? " (only the staged copy)" : "",
					c->what, 1000 * (t_attach - t_start),
					1000 * (now() - t_attach));
			goto out;
		}
		if (pass)
			break;
		/* Attached: again from the tmpfs. */
		err = detach(ctl, a.index);
		if (err) {
			idx = a.index;
			failf(&r, "detach /dev/spf%d: %s", idx, ename(-err));
			goto out;
		}
		for (i = 0; i < nfiles; i++)
			close(ufd[i]);
		opened = false;
		t_start = now();
	}
	idx = a.index;
	k->attached++;
	t_open = now();

	/* ---- read everything ---- */
	snprintf(dev, sizeof(dev), "/dev/spf%d", idx);
	for (i = 0; i < 200; i++) {
		dfd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (dfd >= 0 || errno != ENOENT)
			break;
		usleep(10000);
	}
	if (dfd < 0) {
		failf(&r, "open %s: %s", dev, ename(errno));
		goto out_detach;
	}
	t_read = now();
	if (ioctl(dfd, BLKGETSIZE64, &size)) {
		failf(&r, "BLKGETSIZE64: %s", ename(errno));
		goto out_detach;
	}
	/*
	 * Big reads first (several chunks: the multi-chunk path), then chunk
	 * by chunk where one fails, to find which chunks give EIO.  A device
	 * far larger than the source (a size the damage made valid) is read
	 * up to 1 MiB past the source's end, and its last 1 MiB.
	 */
	limit = src->size + (1 << 20);
	for (off = 0; off < size;) {
		if (off >= limit && off < size - (1 << 20)) {
			off = (size - (1 << 20)) / c->cs * c->cs;
			continue;
		}
		uint64_t big = c->cs > BIG_READ ? c->cs : BIG_READ;
		uint64_t len = size - off < big ? size - off : big;
		uint64_t end = off + len, o;
		ssize_t n = pread(dfd, buf, len, off);

		k->reads++;
		if (n == (ssize_t)len) {
			for (o = off; o < end; o += c->cs)
				check_bytes(c, src, alts, nalt, buf + (o - off),
					    o, end - o < c->cs ? end - o : c->cs,
					    k, &r);
			off = end;
			continue;
		}
		if (n >= 0 || errno != EIO) {
			failf(&r, "read at %" PRIu64 "+%" PRIu64 ": %s", off, len,
			      n < 0 ? ename(errno) : "short read");
			off = end;
			continue;
		}
		for (o = off; o < end; o += c->cs) {
			size_t l = end - o < c->cs ? end - o : c->cs;

			n = pread(dfd, buf, l, o);
			k->reads++;
			if (n == (ssize_t)l) {
				check_bytes(c, src, alts, nalt, buf, o, l, k, &r);
				continue;
			}
			if (n >= 0 || errno != EIO) {
				failf(&r, "read at %" PRIu64 "+%zu: %s", o, l,
				      n < 0 ? ename(errno) : "short read");
				continue;
			}
			k->eio_reads++;
			eio_seen = true;
			if (neio++ < 8) {
				size_t el = strlen(eios);

				snprintf(eios + el, sizeof(eios) - el, "%s%" PRIu64,
					 el ? "," : "", o / c->cs);
			}
			if (!strcmp(c->scope, "data")) {
				bool in = false;

				for (i = 0; i < nbad; i++)
					if (o < bad[i].hi && o + l > bad[i].lo)
						in = true;
				if (!in)
					failf(&r, "EIO at %" PRIu64 "+%zu, outside the damaged chunks %s",
					      o, l, c->bad);
			}
		}
		off = end;
	}
	if (eio_seen)
		k->with_eio++;

out_detach:
	if (dfd >= 0)
		close(dfd);
	t_det = now();
	err = detach(ctl, idx);
	if (err)
		failf(&r, "detach /dev/spf%d: %s", idx, ename(-err));
	if (logf)
		fprintf(logf, "%04d %s attached size=%" PRIu64 " eio=%d%s%s %s (ms: stage %.0f, attach %.0f, open %.0f, read %.0f, detach %.0f)\n",
			c->id, c->cls, size, neio, neio ? ":" : "", eios,
			c->what, 1000 * (t_attach - t_start),
			1000 * (t_open - t_attach),
			1000 * (t_read ? t_read - t_open : 0),
			1000 * (t_read ? t_det - t_read : 0),
			1000 * (now() - t_det));
out:
	for (i = 0; opened && i < nfiles; i++) {
		close(ufd[i]);
		if (!cached[i])
			unlink(staged[i]);
	}
	for (i = 0; i < nalt; i++)
		free(alts[i].data);
	free(fds);
	if (lkeys) {
		explicit_bzero(lkeys, nlayers * sizeof(*lkeys));
		free(lkeys);
	}
	if (r.failed) {
		k->fails++;
		printf("FAIL storm-%s-%04d: %s [%s]\n", c->cls, c->id, r.reason,
		       c->what);
		if (logf)
			fprintf(logf, "%04d %s FAIL %s\n", c->id, c->cls,
				r.reason);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	unsigned int case_secs = 60, total_secs = 0, ran = 0, skipped = 0, i;
	unsigned int refused = 0, attached = 0, fails = 0;
	const char *logpath = NULL;
	char *line = NULL, *mcopy;
	int only = -1, opt, ctl;
	size_t cap = 0;
	double t0 = now(), slowest = 0, tc;
	int slowest_id = -1;
	uint8_t *buf;
	FILE *m;

	while ((opt = getopt(argc, argv, "s:t:T:l:i:")) != -1) {
		switch (opt) {
		case 's': stagedir = optarg; break;
		case 't': case_secs = atoi(optarg); break;
		case 'T': total_secs = atoi(optarg); break;
		case 'l': logpath = optarg; break;
		case 'i': only = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: spfstorm [-s STAGEDIR] [-t CASE_SECONDS] [-T TOTAL_SECONDS] [-l LOG] [-i ID] MANIFEST\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: spfstorm [-s STAGEDIR] [-t CASE_SECONDS] [-T TOTAL_SECONDS] [-l LOG] [-i ID] MANIFEST\n");
		return 2;
	}
	mcopy = strdup(argv[optind]);
	snprintf(basedir, sizeof(basedir), "%s", dirname(mcopy));
	m = fopen(argv[optind], "r");
	if (!m)
		die("%s: %s", argv[optind], strerror(errno));
	if (logpath) {
		logf = fopen(logpath, "w");
		if (!logf)
			die("%s: %s", logpath, strerror(errno));
		setvbuf(logf, NULL, _IOLBF, 0);
	}
	if (stagedir && mkdir(stagedir, 0700) && errno != EEXIST)
		die("%s: %s", stagedir, strerror(errno));
	ctl = open("/dev/" SPF_CONTROL_NAME, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		die("/dev/" SPF_CONTROL_NAME ": %s", strerror(errno));
	buf = mmap(NULL, MAX_CHUNK, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("out of memory");
	signal(SIGALRM, on_alarm);

	while (getline(&line, &cap, m) > 0) {
		struct scase c;

		if (line[0] == '#' || line[0] == '\n') {
			if (!strncmp(line, "# mkstorm ", 10))
				printf("# spfstorm: %s", line + 2);
			continue;
		}
		parse_line(line, &c);
		if (only >= 0 && c.id != only)
			continue;
		if (total_secs && now() - t0 > total_secs) {
			skipped++;
			continue;
		}
		cur_id = c.id;
		alarm(case_secs);
		tc = now();
		run_case(ctl, &c, klass(c.cls), buf);
		alarm(0);
		tc = now() - tc;
		if (tc > slowest) {
			slowest = tc;
			slowest_id = c.id;
		}
		ran++;
	}
	fclose(m);

	for (i = 0; i < nclasses; i++) {
		struct klass *k = &classes[i];
		char errs[256] = "";
		int e;

		for (e = 0; e < MAX_ERRNOS && k->err_n[e]; e++) {
			size_t l = strlen(errs);

			snprintf(errs + l, sizeof(errs) - l, "%s%s %u",
				 l ? ", " : "", ename(k->err[e]), k->err_n[e]);
		}
		printf("%s storm-%s: %u cases: %u refused%s%s%s, %u attached "
		       "(%u with EIO; %lu reads, %lu good chunks, %lu EIO, %lu alternative)%s\n",
		       k->fails ? "FAIL" : "PASS", k->name, k->cases,
		       k->refused, *errs ? " (" : "", errs, *errs ? ")" : "",
		       k->attached, k->with_eio, k->reads, k->chunks, k->eio_reads,
		       k->alt_reads, k->fails ? "; cases failed" : "");
		if (k->fails)
			printf("# storm-%s: %u of %u cases failed\n", k->name,
			       k->fails, k->cases);
		refused += k->refused;
		attached += k->attached;
		fails += k->fails;
	}
	printf("# spfstorm: %u cases in %.1f s: %u refused, %u attached, %u failed",
	       ran, now() - t0, refused, attached, fails);
	if (slowest_id >= 0)
		printf("; slowest case %04d, %.2f s", slowest_id, slowest);
	if (skipped)
		printf("; time bound of %u s reached, %u cases not run", total_secs,
		       skipped);
	printf("\n");
	if (logf)
		fclose(logf);
	free(line);
	free(mcopy);
	if (!ran)
		return 2;
	return fails ? 1 : 0;
}
