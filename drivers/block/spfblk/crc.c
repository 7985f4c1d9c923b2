// SPDX-License-Identifier: GPL-2.0
/*
 * crc32c, the checksum of every stored chunk, index block and overlay
 * record, from the implementation that is fastest on this machine.
 *
 * The crypto API's first choice for "crc32c" is the one with the highest
 * priority: the CPU's crc32 instruction where there is one.  That is the
 * right choice on hardware, but not under an emulator that runs the
 * instruction bit by bit: under qemu TCG, crc32c-intel checksums at about
 * a quarter of the speed of the table-driven crc32c-generic.  So,
 * as the kernel's RAID-6 and xor code do for theirs, spfblk times the
 * candidates once at module load and keeps the fastest.  The module
 * parameter crc32c names a crypto driver to use instead; reading it gives
 * the one in use.
 *
 * Each call runs the chosen shash with the raw crc state in the
 * descriptor's context, as lib/libcrc32c.c does: every crc32c shash keeps
 * exactly that u32 there, and spf_crc_init() checks the size before
 * accepting a driver.  Synchronous, no allocation, no sleep: safe in the
 * I/O path and in atomic context.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <crypto/hash.h>

#include "spfblk.h"

/* Set once in spf_crc_init(), before any device exists; freed at exit. */
static struct crypto_shash *spf_crc_tfm;

static char spf_crc_driver[CRYPTO_MAX_ALG_NAME];
module_param_string(crc32c, spf_crc_driver, sizeof(spf_crc_driver), 0444);
MODULE_PARM_DESC(crc32c,
		 "crc32c crypto driver to use, e.g. crc32c-generic (default: the fastest, measured at load)");

#define SPF_CRC_BENCH_LEN	SZ_16K
#define SPF_CRC_BENCH_ROUNDS	4
/* Timing more drivers than this would say nothing new. */
#define SPF_CRC_CANDIDATES	2

static u32 spf_crc_run(struct crypto_shash *tfm, u32 crc, const void *buf,
		       size_t len)
{
	SHASH_DESC_ON_STACK(desc, tfm);
	u32 *state = shash_desc_ctx(desc);

	desc->tfm = tfm;
	*state = crc;
	/* A crc32c update cannot fail. */
	crypto_shash_update(desc, buf, len);
	return *state;
}

u32 spf_crc32c_update(u32 crc, const void *buf, size_t len)
{
	return spf_crc_run(spf_crc_tfm, crc, buf, len);
}

u64 spf_mib_per_s(u64 bytes, u64 ns)
{
	return max_t(u64, 1, div64_u64(bytes * NSEC_PER_SEC,
				       max_t(u64, ns, 1) << 20));
}

/* A crc32c shash whose context is the bare u32 state, or an ERR_PTR. */
static struct crypto_shash *spf_crc_alloc(const char *name)
{
	struct crypto_shash *tfm = crypto_alloc_shash(name, 0, 0);

	if (IS_ERR(tfm))
		return tfm;
	if (strcmp(crypto_tfm_alg_name(crypto_shash_tfm(tfm)), "crc32c") ||
	    crypto_shash_digestsize(tfm) != 4 ||
	    crypto_shash_descsize(tfm) != sizeof(u32)) {
		crypto_free_shash(tfm);
		return ERR_PTR(-EINVAL);
	}
	return tfm;
}

/* Best of a few rounds over @buf, in MiB/s (at least 1). */
static u64 spf_crc_speed(struct crypto_shash *tfm, const u8 *buf)
{
	u64 best = U64_MAX;
	int i;

	spf_crc_run(tfm, ~0U, buf, SPF_CRC_BENCH_LEN);	/* warm up */
	for (i = 0; i < SPF_CRC_BENCH_ROUNDS; i++) {
		u64 t = ktime_get_ns();

		spf_crc_run(tfm, ~0U, buf, SPF_CRC_BENCH_LEN);
		t = ktime_get_ns() - t;
		best = min(best, t);
	}
	return spf_mib_per_s(SPF_CRC_BENCH_LEN, best);
}

static int spf_crc_forced(void)
{
	struct crypto_shash *tfm = spf_crc_alloc(spf_crc_driver);

	if (IS_ERR(tfm)) {
		pr_err("crc32c=%s: %s\n", spf_crc_driver,
		       PTR_ERR(tfm) == -EINVAL ? "not a crc32c driver" :
		       "no such crypto driver");
		return -EINVAL;
	}
	spf_crc_tfm = tfm;
	strscpy(spf_crc_driver, crypto_shash_driver_name(tfm),
		sizeof(spf_crc_driver));
	pr_info("crc32c: %s, as asked\n", spf_crc_driver);
	return 0;
}

int spf_crc_init(void)
{
	static const char * const names[SPF_CRC_CANDIDATES] = {
		"crc32c",		/* the crypto API's choice */
		"crc32c-generic",	/* table driven: fastest when emulated */
	};
	struct crypto_shash *tfm[SPF_CRC_CANDIDATES] = {};
	u64 speed[SPF_CRC_CANDIDATES] = {};
	int i, best = -1, compared = 0;
	u8 *buf;

	if (spf_crc_driver[0])
		return spf_crc_forced();

	buf = kmalloc(SPF_CRC_BENCH_LEN, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < SPF_CRC_BENCH_LEN; i++)
		buf[i] = i * 131 + (i >> 8);

	for (i = 0; i < SPF_CRC_CANDIDATES; i++) {
		tfm[i] = spf_crc_alloc(names[i]);
		if (IS_ERR(tfm[i])) {
			tfm[i] = NULL;
			continue;
		}
		/* "crc32c" may already be crc32c-generic. */
		if (i && tfm[0] && !strcmp(crypto_shash_driver_name(tfm[0]),
					   crypto_shash_driver_name(tfm[i]))) {
			crypto_free_shash(tfm[i]);
			tfm[i] = NULL;
			continue;
		}
		speed[i] = spf_crc_speed(tfm[i], buf);
		if (best < 0 || speed[i] > speed[best])
			best = i;
	}
	kfree(buf);
	if (best < 0) {
		pr_err("crc32c: no crypto driver for crc32c\n");
		return -ENOENT;
	}

	spf_crc_tfm = tfm[best];
	strscpy(spf_crc_driver, crypto_shash_driver_name(spf_crc_tfm),
		sizeof(spf_crc_driver));
	for (i = 0; i < SPF_CRC_CANDIDATES; i++) {
		if (i == best)
			continue;
		if (tfm[i]) {
			pr_info("crc32c: %s, %llu MiB/s (%s: %llu MiB/s)\n",
				spf_crc_driver, speed[best],
				crypto_shash_driver_name(tfm[i]), speed[i]);
			compared++;
		}
		crypto_free_shash(tfm[i]);
	}
	if (!compared)
		pr_info("crc32c: %s, %llu MiB/s\n", spf_crc_driver,
			speed[best]);
	return 0;
}

void spf_crc_exit(void)
{
	crypto_free_shash(spf_crc_tfm);
	spf_crc_tfm = NULL;
}
