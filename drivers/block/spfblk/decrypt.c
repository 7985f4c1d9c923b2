// SPDX-License-Identifier: GPL-2.0
/*
 * AES-256-GCM of encrypted layers, with the crypto API's gcm(aes), which
 * uses AES-NI and PCLMULQDQ when the CPU has them.
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
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "spfblk.h"

#define SPF_AEAD_FLAGS	(CRYPTO_TFM_REQ_MAY_SLEEP | CRYPTO_TFM_REQ_MAY_BACKLOG)

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

	tfm = crypto_alloc_aead("gcm(aes)", 0, 0);
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
