/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel helpers that drivers/block/spfblk/format.c uses, for the
 * userspace build of that file.  Nothing else belongs here.
 */
#ifndef SPF_KSHIM_H
#define SPF_KSHIM_H

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <assert.h>
#include <linux/types.h>

#define SPF_PROG "spfctl"

#ifndef EUCLEAN
#define EUCLEAN 117
#endif

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define __printf(a, b) __attribute__((format(printf, a, b)))

#define le16_to_cpu(x) le16toh(x)
#define le32_to_cpu(x) le32toh(x)
#define le64_to_cpu(x) le64toh(x)
#define cpu_to_le16(x) htole16(x)
#define cpu_to_le32(x) htole32(x)
#define cpu_to_le64(x) htole64(x)

/* <linux/string.h> and <linux/bitops.h> in the kernel. */
static inline void *memchr_inv(const void *start, int c, size_t bytes)
{
	const unsigned char *p = start;

	for (; bytes; bytes--, p++)
		if (*p != (unsigned char)c)
			return (void *)p;
	return NULL;
}

static inline unsigned long __ffs(unsigned long word)
{
	return (unsigned long)__builtin_ctzl(word);
}

/* <crypto/sha2.h> in the kernel; OpenSSL underneath here. */
struct sha256_state {
	void *ctx;
};
void sha256_init(struct sha256_state *st);
void sha256_update(struct sha256_state *st, const uint8_t *data, size_t len);
void sha256_final(struct sha256_state *st, uint8_t *out);

#endif /* SPF_KSHIM_H */
