/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spfctl utilities: error lines, allocation, full-length I/O, parsing of
 * sizes and numbers, UUIDs, times, and the temporary-file-then-rename
 * output used by create and export.
 */
#ifndef SPF_LIBUTIL_H
#define SPF_LIBUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kshim.h"

#define PROG		"spfctl"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))

/* Exit codes. */
#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2

/* "spfctl: OBJ: FMT" on stderr; OBJ may be NULL. */
void err_msg(const char *obj, const char *fmt, ...) __printf(2, 3);
/* "spfctl: OBJ: FMT: strerror(ERR)" on stderr. */
void err_sys(const char *obj, int err, const char *fmt, ...) __printf(3, 4);
/* strerror(), with our own text for a short read (err == -1). */
const char *io_strerror(int err);

void *xmalloc(size_t len);
void *xzalloc(size_t len);
void *xrealloc(void *p, size_t len);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __printf(1, 2);

/*
 * Full-length I/O that retries on EINTR and short transfers.  The read
 * helpers return bytes read (less than @len only at end of file) or
 * -errno; pread_exact() returns 0, -errno, or IO_SHORT at end of file.
 */
#define IO_SHORT	(-100000)
ssize_t read_full(int fd, void *buf, size_t len);
ssize_t pread_full(int fd, void *buf, size_t len, u64 off);
int pread_exact(int fd, void *buf, size_t len, u64 off);
int write_full(int fd, const void *buf, size_t len);
int pwrite_full(int fd, const void *buf, size_t len, u64 off);

/* Size of a regular file or block device, -errno otherwise. */
int fd_size(int fd, u64 *size);

/*
 * "4096", "4K", "4k", "4KiB", "1M", "1MiB", "2G"...: binary multiples;
 * "KB", "MB", "GB" are decimal.  0 or -EINVAL/-ERANGE.
 */
int parse_size(const char *s, u64 *out);
/* Decimal unsigned within [min, max]; 0 or -EINVAL/-ERANGE. */
int parse_uint(const char *s, u64 min, u64 max, u64 *out);
/* "64 KiB", "1.5 GiB". */
const char *size_human(u64 bytes, char buf[32]);

void uuid_generate_v4(u8 uuid[16]);
void uuid_format(const u8 uuid[16], char out[37]);
bool uuid_is_zero(const u8 uuid[16]);
/* ISO 8601 UTC: 2024-05-01T12:00:00Z */
void time_format(u64 t, char out[32]);

bool mem_is_zero(const void *p, size_t len);

/* Directory part of a path ("." if none), and the last component. */
char *path_dirname(const char *path);
const char *path_basename(const char *path);
/* DIR/NAME, or just NAME when DIR is ".". */
char *path_join(const char *dir, const char *name);
/*
 * A copy of @s safe to print on a terminal: control bytes (C0, DEL) as
 * \xNN and backslashes doubled.  Strings read from images go through it.
 */
char *str_printable(const char *s);

/* Online CPUs this process may run on. */
unsigned int cpu_count(void);

/*
 * An output written to PATH.tmp.XXXXXX beside PATH and renamed over PATH
 * once complete.  A signal or failure before the commit removes the
 * temporary file.
 */
struct tmpout {
	char *path;			/* final name */
	char *tmp;			/* temporary name, NULL once renamed */
	int fd;
};

int tmpout_open(struct tmpout *t, const char *path, bool force);
/* Rename into place; with @durable, fsync the file and directory first. */
int tmpout_commit(struct tmpout *t, bool durable);
void tmpout_abort(struct tmpout *t);

/* Signals: remove the registered temporary file, restore the tty. */
void signals_init(void);
void signals_set_tmpfile(const char *path);
void signals_set_termios(const void *saved);	/* struct termios * */

#endif /* SPF_LIBUTIL_H */
