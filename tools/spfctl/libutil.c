// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl utilities.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include <openssl/rand.h>

#include "libutil.h"

void err_msg(const char *obj, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(PROG ": ", stderr);
	if (obj)
		fprintf(stderr, "%s: ", obj);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *io_strerror(int err)
{
	if (err == IO_SHORT || err == -IO_SHORT)
		return "unexpected end of file";
	return strerror(err < 0 ? -err : err);
}

void err_sys(const char *obj, int err, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(PROG ": ", stderr);
	if (obj)
		fprintf(stderr, "%s: ", obj);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", io_strerror(err));
}

static void __attribute__((noreturn)) oom(void)
{
	fputs(PROG ": out of memory\n", stderr);
	exit(EXIT_FAIL);
}

void *xmalloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		oom();
	return p;
}

void *xzalloc(size_t len)
{
	void *p = calloc(1, len ? len : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t len)
{
	p = realloc(p, len ? len : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int ret;

	va_start(ap, fmt);
	ret = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (ret < 0)
		oom();
	return p;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (u8 *)buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			break;
		done += n;
	}
	return done;
}

ssize_t pread_full(int fd, void *buf, size_t len, u64 off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (u8 *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			break;
		done += n;
	}
	return done;
}

int pread_exact(int fd, void *buf, size_t len, u64 off)
{
	ssize_t n;

	if (off > (u64)INT64_MAX - len)
		return -EOVERFLOW;
	n = pread_full(fd, buf, len, off);
	if (n < 0)
		return n;
	return (size_t)n == len ? 0 : IO_SHORT;
}

int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const u8 *)buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return -EIO;
		done += n;
	}
	return 0;
}

int pwrite_full(int fd, const void *buf, size_t len, u64 off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const u8 *)buf + done, len - done,
				   (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return -EIO;
		done += n;
	}
	return 0;
}

int fd_size(int fd, u64 *size)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*size = st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size))
			return -errno;
		return 0;
	}
	return -EINVAL;
}

static int size_suffix(const char *s, u64 *mult)
{
	static const struct {
		const char *name;
		u64 mult;
	} tab[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1ULL << 10 }, { "kib", 1ULL << 10 }, { "kb", 1000ULL },
		{ "m", 1ULL << 20 }, { "mib", 1ULL << 20 }, { "mb", 1000000ULL },
		{ "g", 1ULL << 30 }, { "gib", 1ULL << 30 },
		{ "gb", 1000000000ULL },
		{ "t", 1ULL << 40 }, { "tib", 1ULL << 40 },
		{ "tb", 1000000000000ULL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tab); i++) {
		if (!strcasecmp(s, tab[i].name)) {
			*mult = tab[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_size(const char *s, u64 *out)
{
	unsigned long long v;
	u64 mult;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (size_suffix(end, &mult))
		return -EINVAL;
	if (v && mult > UINT64_MAX / v)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int parse_uint(const char *s, u64 min, u64 max, u64 *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

const char *size_human(u64 bytes, char buf[32])
{
	static const char *const unit[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"
	};
	unsigned int i = 0;
	double v = bytes;

	while (v >= 1024 && i + 1 < ARRAY_SIZE(unit)) {
		v /= 1024;
		i++;
	}
	if (!i)
		snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
	else if (v == (u64)v)
		snprintf(buf, 32, "%llu %s", (unsigned long long)v, unit[i]);
	else
		snprintf(buf, 32, "%.1f %s", v, unit[i]);
	return buf;
}

void uuid_generate_v4(u8 uuid[16])
{
	if (RAND_bytes(uuid, 16) != 1) {
		fputs(PROG ": cannot get random bytes\n", stderr);
		exit(EXIT_FAIL);
	}
	uuid[6] = (uuid[6] & 0x0f) | 0x40;
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
}

void uuid_format(const u8 uuid[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	int i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[uuid[i] >> 4];
		out[o++] = hex[uuid[i] & 15];
	}
	out[o] = '\0';
}

bool uuid_is_zero(const u8 uuid[16])
{
	return mem_is_zero(uuid, 16);
}

void time_format(u64 t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t > (u64)INT64_MAX || !gmtime_r(&tt, &tm) ||
	    !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "@%llu", (unsigned long long)t);
}

bool mem_is_zero(const void *p, size_t len)
{
	const u8 *b = p;
	size_t head = MIN(len, (size_t)16);
	size_t i;

	for (i = 0; i < head; i++)
		if (b[i])
			return false;
	/* b[0..15] are zero, so comparing with a shifted self finds any. */
	return len <= 16 || !memcmp(b, b + 16, len - 16);
}

char *path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return strndup(path, slash - path) ?: xstrdup(".");
}

const char *path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

char *str_printable(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = xmalloc(4 * n + 1);

	for (; *s; s++) {
		unsigned char c = *s;

		if (c < 0x20 || c == 0x7f) {
			o += sprintf(out + o, "\\x%02x", c);
		} else {
			if (c == '\\')
				out[o++] = '\\';
			out[o++] = c;
		}
	}
	out[o] = '\0';
	return out;
}

char *path_join(const char *dir, const char *name)
{
	if (!strcmp(dir, "."))
		return xstrdup(name);
	if (dir[strlen(dir) - 1] == '/')
		return xasprintf("%s%s", dir, name);
	return xasprintf("%s/%s", dir, name);
}

unsigned int cpu_count(void)
{
	cpu_set_t set;
	long n;

	if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

/* ---- signals ---- */

static char sig_tmpfile[PATH_MAX];
static volatile sig_atomic_t sig_have_tmpfile;
static struct termios sig_termios;
static volatile sig_atomic_t sig_have_termios;

static void sig_cleanup(int sig)
{
	if (sig_have_tmpfile)
		unlink(sig_tmpfile);
	if (sig_have_termios)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &sig_termios);
	signal(sig, SIG_DFL);
	raise(sig);
}

void signals_init(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_cleanup;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	/* A closed pipe is an EPIPE error we report, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
}

static void sig_block(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

void signals_set_tmpfile(const char *path)
{
	sigset_t old;

	sig_block(&old);
	sig_have_tmpfile = 0;
	if (path && strlen(path) < sizeof(sig_tmpfile)) {
		strcpy(sig_tmpfile, path);
		sig_have_tmpfile = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void signals_set_termios(const void *saved)
{
	sigset_t old;

	sig_block(&old);
	sig_have_termios = 0;
	if (saved) {
		sig_termios = *(const struct termios *)saved;
		sig_have_termios = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- temporary output, renamed into place ---- */

int tmpout_open(struct tmpout *t, const char *path, bool force)
{
	struct stat st;
	mode_t mask;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (!lstat(path, &st)) {
		if (!S_ISREG(st.st_mode)) {
			err_msg(path, "exists and is not a regular file");
			return -EEXIST;
		}
		if (!force) {
			err_msg(path, "already exists (use --force to overwrite)");
			return -EEXIST;
		}
	} else if (errno != ENOENT) {
		err_sys(path, errno, "cannot stat");
		return -errno;
	}

	t->path = xstrdup(path);
	t->tmp = xasprintf("%s.tmp.XXXXXX", path);
	t->fd = mkostemp(t->tmp, O_CLOEXEC);
	if (t->fd < 0) {
		int err = errno;

		err_sys(path, err, "cannot create temporary file %s", t->tmp);
		free(t->tmp);
		free(t->path);
		t->tmp = t->path = NULL;
		return -err;
	}
	signals_set_tmpfile(t->tmp);
	/* mkstemp makes 0600; give the file the usual 0666 & ~umask. */
	mask = umask(0);
	umask(mask);
	if (fchmod(t->fd, 0666 & ~mask))
		err_sys(t->tmp, errno, "cannot set mode");
	return 0;
}

static void fsync_dir(const char *path)
{
	char *dir = path_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

int tmpout_commit(struct tmpout *t, bool durable)
{
	int ret = 0;

	if (durable && fsync(t->fd)) {
		ret = -errno;
		err_sys(t->path, errno, "cannot sync %s", t->tmp);
	} else if (close(t->fd)) {
		t->fd = -1;
		ret = -errno;
		err_sys(t->path, errno, "cannot close %s", t->tmp);
	} else {
		t->fd = -1;
		if (rename(t->tmp, t->path)) {
			ret = -errno;
			err_sys(t->path, errno, "cannot rename %s", t->tmp);
		}
	}
	if (ret) {
		tmpout_abort(t);
		return ret;
	}
	signals_set_tmpfile(NULL);
	if (durable)
		fsync_dir(t->path);
	free(t->tmp);
	free(t->path);
	t->tmp = t->path = NULL;
	return 0;
}

void tmpout_abort(struct tmpout *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->tmp) {
		unlink(t->tmp);
		signals_set_tmpfile(NULL);
	}
	free(t->tmp);
	free(t->path);
	t->tmp = t->path = NULL;
}
