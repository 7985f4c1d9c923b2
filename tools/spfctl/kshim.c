// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace implementations of the kernel helpers format.c uses (see
 * kshim.h and format.h): spf_crc32c_update() (no pre- or
 * post-inversion) and the <crypto/sha2.h> SHA-256 calls.
 */
#include <stdlib.h>
#include <time.h>

#include <openssl/evp.h>

#include "kshim.h"
#include "format.h"

/* ---- crc32c: SSE4.2 or slicing-by-8, whichever is faster here ---- */

#define CRC32C_POLY	0x82f63b78U	/* reflected Castagnoli */

static uint32_t crc_table[8][256];

static void crc_table_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (c & 1 ? CRC32C_POLY : 0);
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc_table[0][i];
		for (j = 1; j < 8; j++) {
			c = crc_table[0][c & 0xff] ^ (c >> 8);
			crc_table[j][i] = c;
		}
	}
}

static uint32_t crc32c_table(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		v = le64toh(v) ^ crc;
		crc = crc_table[7][v & 0xff] ^
		      crc_table[6][(v >> 8) & 0xff] ^
		      crc_table[5][(v >> 16) & 0xff] ^
		      crc_table[4][(v >> 24) & 0xff] ^
		      crc_table[3][(v >> 32) & 0xff] ^
		      crc_table[2][(v >> 40) & 0xff] ^
		      crc_table[1][(v >> 48) & 0xff] ^
		      crc_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

typedef uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);

static crc_fn crc_impl;

#if defined(__x86_64__)
static long long mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/*
 * Nanoseconds @fn takes over a 16 KiB buffer, the best of three.  Under
 * an emulator (qemu TCG) the crc32 instruction runs at a fraction of the
 * table's speed, as the driver found (drivers/block/spfblk/crc.c).
 */
static long long crc32c_time(crc_fn fn)
{
	static uint8_t buf[16384];
	long long t, best = -1;
	int i;

	for (i = 0; i < 3; i++) {
		t = mono_ns();
		/* Stored, so that the call is not optimised away. */
		buf[i] = (uint8_t)fn(0, buf, sizeof(buf));
		t = mono_ns() - t;
		if (best < 0 || t < best)
			best = t;
	}
	return best;
}
#endif

/*
 * SSE4.2 or the table, whichever is faster here; SPF_CRC32C=sse42 or
 * =table forces one (tests), and is ignored when the CPU lacks SSE4.2.
 */
__attribute__((constructor))
static void crc32c_select(void)
{
	crc_table_init();
	crc_impl = crc32c_table;
#if defined(__x86_64__)
	const char *force = getenv("SPF_CRC32C");

	__builtin_cpu_init();
	if (!__builtin_cpu_supports("sse4.2") ||
	    (force && !strcmp(force, "table")))
		return;
	if ((force && !strcmp(force, "sse42")) ||
	    crc32c_time(crc32c_sse42) <= crc32c_time(crc32c_table))
		crc_impl = crc32c_sse42;
#endif
}

u32 spf_crc32c_update(u32 crc, const void *buf, size_t len)
{
	return crc_impl(crc, buf, len);
}

/* ---- SHA-256 ---- */

static void sha_fail(void)
{
	fputs(SPF_PROG ": SHA-256 failed (OpenSSL)\n", stderr);
	abort();
}

void sha256_init(struct sha256_state *st)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		sha_fail();
	st->ctx = ctx;
}

void sha256_update(struct sha256_state *st, const uint8_t *data, size_t len)
{
	if (EVP_DigestUpdate(st->ctx, data, len) != 1)
		sha_fail();
}

void sha256_final(struct sha256_state *st, uint8_t *out)
{
	unsigned int len;

	if (EVP_DigestFinal_ex(st->ctx, out, &len) != 1)
		sha_fail();
	EVP_MD_CTX_free(st->ctx);
	st->ctx = NULL;
}
