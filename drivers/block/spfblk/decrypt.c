// SPDX-License-Identifier: GPL-2.0
/*
 * AES-256-GCM of encrypted layers, with the gcm(aes) implementation that
 * is fastest on this machine.
 *
 * The crypto API's first choice for gcm(aes) uses AES-NI and PCLMULQDQ
 * when the CPU has them.  Under an emulator that runs PCLMULQDQ bit by bit
 * (qemu TCG), GCM built from the CPU's ctr(aes) and the table-driven
 * ghash-generic can be faster.  So at module load spf_crypt_init() times
 * both on 16 KiB, as crc.c does for crc32c, and every layer then uses the
 * faster one.  The module parameter gcm_aes names a driver instead (its
 * driver name, as /proc/crypto shows it), and reads back the one in use.
 *
 * Each encrypted layer has one transform, keyed once at attach after the
 * key is checked against the header's key_check.  The driver keeps no
 * other copy of a key: the transform's context holds the expanded key and
 * the crypto API frees it with kfree_sensitive() on detach.
 *
 * Chunks are opened in place in the worker context's stored buffer, with
 * a request and a scatterlist built at attach.  Overlay records are sealed
 * (write.c) and opened the same way, with the random nonce of the record
 * instead of the chunk's.  The caller checks the
 * stored bytes' crc32c first, so a tag failure means a wrong key or data
 * altered with its checksum.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/aead.h>
#include <crypto/skcipher.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "spfblk.h"

#define SPF_AEAD_FLAGS	(CRYPTO_TFM_REQ_MAY_SLEEP | CRYPTO_TFM_REQ_MAY_BACKLOG)

/* Set once by spf_crypt_init(), before any device exists. */
static char spf_gcm_driver[CRYPTO_MAX_ALG_NAME];
module_param_string(gcm_aes, spf_gcm_driver, sizeof(spf_gcm_driver), 0444);
MODULE_PARM_DESC(gcm_aes,
		 "gcm(aes) crypto driver to use, e.g. gcm_base(ctr-aes-aesni,ghash-generic) (default: the fastest, measured at load)");

#define SPF_GCM_BENCH_LEN	SZ_16K
#define SPF_GCM_BENCH_ROUNDS	4
#define SPF_GCM_CANDIDATES	2

/* A gcm(aes) transform by name, keyed with zeros for timing, or ERR_PTR. */
static struct crypto_aead *spf_gcm_alloc(const char *name)
{
	static const u8 zero_key[SPF_KEY_LEN];
	struct crypto_aead *tfm = crypto_alloc_aead(name, 0, 0);
	int ret;

	if (IS_ERR(tfm))
		return tfm;
	ret = -EINVAL;
	if (strcmp(crypto_tfm_alg_name(crypto_aead_tfm(tfm)), "gcm(aes)"))
		goto fail;
	ret = crypto_aead_setkey(tfm, zero_key, SPF_KEY_LEN);
	if (!ret)
		ret = crypto_aead_setauthsize(tfm, SPF_GCM_TAG_LEN);
	if (!ret)
		return tfm;
fail:
	crypto_free_aead(tfm);
	return ERR_PTR(ret);
}

/*
 * Best of a few encryptions of 16 KiB at @buf, in MiB/s.  @buf has room
 * for the tag, then a zero nonce.
 */
static int spf_gcm_speed(struct crypto_aead *tfm, u8 *buf, u64 *speed)
{
	u8 *nonce = buf + SPF_GCM_BENCH_LEN + SPF_GCM_TAG_LEN;
	DECLARE_CRYPTO_WAIT(wait);
	struct aead_request *req;
	struct scatterlist sg;
	u64 best = U64_MAX;
	int i, ret = 0;

	req = aead_request_alloc(tfm, GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	sg_init_one(&sg, buf, SPF_GCM_BENCH_LEN + SPF_GCM_TAG_LEN);
	aead_request_set_callback(req, SPF_AEAD_FLAGS, crypto_req_done, &wait);
	aead_request_set_ad(req, 0);
	/* A warm-up round, then the timed ones. */
	for (i = 0; i <= SPF_GCM_BENCH_ROUNDS && !ret; i++) {
		u64 t = ktime_get_ns();

		memset(nonce, 0, SPF_GCM_NONCE_LEN);
		aead_request_set_crypt(req, &sg, &sg, SPF_GCM_BENCH_LEN, nonce);
		ret = crypto_wait_req(crypto_aead_encrypt(req), &wait);
		t = ktime_get_ns() - t;
		if (i)
			best = min(best, t);
	}
	aead_request_free(req);
	*speed = spf_mib_per_s(SPF_GCM_BENCH_LEN, best);
	return ret;
}

static int spf_gcm_forced(void)
{
	struct crypto_aead *tfm = spf_gcm_alloc(spf_gcm_driver);

	if (IS_ERR(tfm)) {
		pr_err("gcm_aes=%s: %s\n", spf_gcm_driver,
		       PTR_ERR(tfm) == -EINVAL ? "not a gcm(aes) driver" :
		       "no such AEAD driver");
		return -EINVAL;
	}
	strscpy(spf_gcm_driver, crypto_aead_driver_name(tfm),
		sizeof(spf_gcm_driver));
	crypto_free_aead(tfm);
	pr_info("gcm(aes): %s, as asked\n", spf_gcm_driver);
	return 0;
}

/*
 * The driver name of GCM from this machine's ctr(aes) and ghash-generic.
 * A template instance is found by its driver name only, which names the
 * drivers it is built from: "gcm_base(ctr-aes-aesni,ghash-generic)".
 */
static int spf_gcm_table_name(char *name, size_t size)
{
	struct crypto_skcipher *ctr = crypto_alloc_skcipher("ctr(aes)", 0, 0);
	int ret;

	if (IS_ERR(ctr))
		return PTR_ERR(ctr);
	ret = snprintf(name, size, "gcm_base(%.*s,ghash-generic)",
		       CRYPTO_MAX_ALG_NAME - 32,
		       crypto_skcipher_driver_name(ctr));
	crypto_free_skcipher(ctr);
	return ret < size ? 0 : -ENAMETOOLONG;
}

/*
 * Choose the gcm(aes) implementation (module load).  Without one the
 * driver still loads: encrypted layers then fail to attach with "gcm(aes)
 * is not available".
 */
int spf_crypt_init(void)
{
	char names[SPF_GCM_CANDIDATES][CRYPTO_MAX_ALG_NAME] = {
		"gcm(aes)",	/* the crypto API's choice */
	};
	struct crypto_aead *tfm[SPF_GCM_CANDIDATES] = {};
	u64 speed[SPF_GCM_CANDIDATES] = {};
	int i, best = -1, compared = 0;
	u8 *buf;

	if (spf_gcm_driver[0])
		return spf_gcm_forced();

	/* Table-driven GHASH: the faster one when PCLMULQDQ is emulated. */
	spf_gcm_table_name(names[1], sizeof(names[1]));
	buf = kzalloc(SPF_GCM_BENCH_LEN + SPF_GCM_TAG_LEN + SPF_GCM_NONCE_LEN,
		      GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < SPF_GCM_CANDIDATES; i++) {
		if (!names[i][0])
			continue;
		tfm[i] = spf_gcm_alloc(names[i]);
		if (IS_ERR(tfm[i]) ||
		    (i && tfm[0] && !strcmp(crypto_aead_driver_name(tfm[0]),
					    crypto_aead_driver_name(tfm[i]))) ||
		    spf_gcm_speed(tfm[i], buf, &speed[i])) {
			if (!IS_ERR(tfm[i]))
				crypto_free_aead(tfm[i]);
			tfm[i] = NULL;
			continue;
		}
		if (best < 0 || speed[i] > speed[best])
			best = i;
	}
	kfree(buf);
	if (best < 0) {
		pr_warn("gcm(aes): not available: encrypted images will not attach\n");
		return 0;
	}
	strscpy(spf_gcm_driver, crypto_aead_driver_name(tfm[best]),
		sizeof(spf_gcm_driver));
	for (i = 0; i < SPF_GCM_CANDIDATES; i++) {
		if (i != best && tfm[i]) {
			pr_info("gcm(aes): %s, %llu MiB/s (%s: %llu MiB/s)\n",
				spf_gcm_driver, speed[best],
				crypto_aead_driver_name(tfm[i]), speed[i]);
			compared++;
		}
		if (tfm[i])
			crypto_free_aead(tfm[i]);
	}
	if (!compared)
		pr_info("gcm(aes): %s, %llu MiB/s\n", spf_gcm_driver,
			speed[best]);
	return 0;
}

/* The GCM tag of the empty message under @tfm must be @key_check. */
static int spf_key_check(struct crypto_aead *tfm, const u8 *uuid,
			 const u8 *key_check)
{
	DECLARE_CRYPTO_WAIT(wait);
	struct aead_request *req;
	struct scatterlist sg;
	u8 *buf;
	int ret;

	/* Associated data (the uuid), the tag (no ciphertext), the nonce. */
	buf = kmalloc(16 + SPF_GCM_TAG_LEN + SPF_GCM_NONCE_LEN, GFP_KERNEL);
	req = aead_request_alloc(tfm, GFP_KERNEL);
	if (!buf || !req) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(buf, uuid, 16);
	memcpy(buf + 16, key_check, SPF_GCM_TAG_LEN);
	memcpy(buf + 32, SPF_NONCE_KEY_CHECK, SPF_GCM_NONCE_LEN);
	sg_init_one(&sg, buf, 16 + SPF_GCM_TAG_LEN);
	aead_request_set_callback(req, SPF_AEAD_FLAGS, crypto_req_done, &wait);
	aead_request_set_ad(req, 16);
	aead_request_set_crypt(req, &sg, &sg, SPF_GCM_TAG_LEN, buf + 32);
	ret = crypto_wait_req(crypto_aead_decrypt(req), &wait);
	if (ret == -EBADMSG)
		ret = -EKEYREJECTED;
out:
	aead_request_free(req);
	kfree(buf);
	return ret;
}

int spf_crypt_layer_init(struct spf_layer *l, const u8 *key,
			 const u8 *key_check, struct spf_msg *msg)
{
	struct crypto_aead *tfm;
	int ret;

	tfm = crypto_alloc_aead(spf_gcm_driver[0] ? spf_gcm_driver : "gcm(aes)",
				0, 0);
	if (IS_ERR(tfm)) {
		snprintf(msg->text, sizeof(msg->text),
			 "gcm(aes) is not available (%ld)", PTR_ERR(tfm));
		return PTR_ERR(tfm);
	}
	ret = crypto_aead_setkey(tfm, key, SPF_KEY_LEN);
	if (!ret)
		ret = crypto_aead_setauthsize(tfm, SPF_GCM_TAG_LEN);
	if (!ret)
		ret = spf_key_check(tfm, l->img.uuid, key_check);
	if (ret) {
		snprintf(msg->text, sizeof(msg->text), "key set-up failed (%d)",
			 ret);
		crypto_free_aead(tfm);
		return ret;
	}
	l->tfm = tfm;
	return 0;
}

/* What a request for this layer's transform needs past its header. */
unsigned int spf_crypt_reqsize(const struct spf_layer *l)
{
	return crypto_aead_reqsize(l->tfm);
}

void spf_crypt_layer_free(struct spf_layer *l)
{
	if (l->tfm)
		crypto_free_aead(l->tfm);	/* wipes the expanded key */
	l->tfm = NULL;
}

/* A request and a scatterlist over the stored buffer, for one context. */
int spf_crypt_ctx_init(struct spf_device *dev, struct spf_ctx *ctx)
{
	unsigned int i, npages;

	if (!dev->encrypted)
		return 0;
	ctx->aead = kzalloc(sizeof(*ctx->aead) + dev->aead_reqsize,
			    GFP_KERNEL);
	if (!ctx->aead)
		return -ENOMEM;

	npages = DIV_ROUND_UP(dev->chunk_size + SPF_GCM_TAG_LEN, PAGE_SIZE);
	ctx->sg = kmalloc_array(npages + 1, sizeof(*ctx->sg), GFP_KERNEL);
	if (!ctx->sg)
		return -ENOMEM;
	sg_init_table(ctx->sg, npages + 1);
	sg_set_buf(&ctx->sg[0], &ctx->aad, sizeof(ctx->aad));
	for (i = 0; i < npages; i++)
		sg_set_page(&ctx->sg[i + 1],
			    vmalloc_to_page(ctx->stored + i * PAGE_SIZE),
			    PAGE_SIZE, 0);
	return 0;
}

void spf_crypt_ctx_free(struct spf_ctx *ctx)
{
	kfree_sensitive(ctx->aead);
	kfree(ctx->sg);
	ctx->aead = NULL;
	ctx->sg = NULL;
}

/* One AES-256-GCM operation in place in ctx->stored, AAD {uuid, chunk}. */
static int spf_aead(struct spf_ctx *ctx, const struct spf_layer *l,
		    u64 chunk, u32 len, bool encrypt)
{
	struct aead_request *req = ctx->aead;
	DECLARE_CRYPTO_WAIT(wait);

	memcpy(ctx->aad.uuid, l->img.uuid, sizeof(ctx->aad.uuid));
	ctx->aad.chunk = cpu_to_le64(chunk);
	aead_request_set_tfm(req, l->tfm);
	aead_request_set_callback(req, SPF_AEAD_FLAGS, crypto_req_done, &wait);
	aead_request_set_ad(req, sizeof(ctx->aad));
	aead_request_set_crypt(req, ctx->sg, ctx->sg, len, ctx->iv);
	return crypto_wait_req(encrypt ? crypto_aead_encrypt(req) :
				 crypto_aead_decrypt(req), &wait);
}

/*
 * Open chunk @chunk of layer @l: the @len stored bytes (ciphertext, then
 * the tag) in ctx->stored become the plaintext, @len - 16 bytes, in place.
 * -EBADMSG if the tag does not match.
 */
int spf_decrypt(struct spf_ctx *ctx, const struct spf_layer *l, u64 chunk,
		u32 len)
{
	__le64 c = cpu_to_le64(chunk);

	/* The nonce: le64(chunk), then four zero bytes. */
	memcpy(ctx->iv, &c, sizeof(c));
	memset(ctx->iv + 8, 0, SPF_GCM_NONCE_LEN - 8);
	return spf_aead(ctx, l, chunk, len, false);
}

/* The same for an overlay record of @chunk, sealed with its own @nonce. */
int spf_decrypt_record(struct spf_ctx *ctx, const struct spf_layer *l,
		       u64 chunk, u32 len, const u8 *nonce)
{
	memcpy(ctx->iv, nonce, SPF_GCM_NONCE_LEN);
	return spf_aead(ctx, l, chunk, len, false);
}

/*
 * Seal an overlay record of @chunk: the @len plaintext bytes in
 * ctx->stored become @len + 16 stored bytes (ciphertext, tag), in place.
 */
int spf_encrypt_record(struct spf_ctx *ctx, const struct spf_layer *l,
		       u64 chunk, u32 len, const u8 *nonce)
{
	memcpy(ctx->iv, nonce, SPF_GCM_NONCE_LEN);
	return spf_aead(ctx, l, chunk, len, true);
}
