/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Passphrases, key wrapping (Argon2id + AES-256-GCM), and the per-thread
 * chunk AEAD and content digest.
 */
#ifndef SPF_LIBCRYPT_H
#define SPF_LIBCRYPT_H

#include "format.h"
#include "libutil.h"

/* Argon2id defaults; --kdf-time/--kdf-memory override the first two. */
#define KDF_T_DEFAULT		3
#define KDF_M_DEFAULT		65536		/* KiB */
#define KDF_P_DEFAULT		4
#define PASS_MAX		4096		/* bytes */
#define KEYFILE_MAX		(64 * 1024)	/* bytes */

struct kdf_params {
	u32 t_cost;
	u32 m_cost;			/* KiB */
	u32 parallelism;
};

/* An image's keys: its data key and the chain's digest key. */
struct spf_keys {
	u8 data[SPF_KEY_LEN];
	u8 digest[SPF_KEY_LEN];
};

struct pass {
	char *buf;
	size_t len;
};

/*
 * Get a passphrase from @key_file ("-": stdin) or, without one, from a
 * no-echo prompt when stdin is a terminal.  @new_pass asks twice.
 * Errors are printed against @obj.  0 or -1.
 */
int pass_get(const char *key_file, const char *obj, bool new_pass,
	     struct pass *out);
/* Prompt on the terminal; an empty answer returns 1 (skip). */
int pass_get_optional(const char *obj, struct pass *out);
void pass_free(struct pass *p);

/*
 * Fill h->crypt: wrapped keys under a fresh random nonce, and the key
 * check.  A new chain gets a random salt and @kdf's parameters; an
 * incremental passes its parent's @inherit so the whole chain shares one
 * salt and one Argon2id derivation.
 */
int keys_wrap(struct spf_header *h, const struct pass *pass,
	      const struct spf_keys *keys, const struct kdf_params *kdf,
	      const struct spf_crypt *inherit);
/*
 * Unwrap an image's keys.  0, -EKEYREJECTED for a wrong passphrase,
 * -EUCLEAN when the key check fails, other -errno.
 */
int keys_unwrap(const struct spf_header *h, const struct pass *pass,
		struct spf_keys *keys);
int random_bytes(void *buf, size_t len);

/* One thread's cipher and digest contexts. */
struct crypt_ws;

struct crypt_ws *crypt_ws_new(const u8 *digest_key);
void crypt_ws_free(struct crypt_ws *ws);
/* Switch the keyed-BLAKE2b digest key (no-op when it is already loaded). */
int crypt_ws_digest_key(struct crypt_ws *ws, const u8 *digest_key);

/* @out gets @len bytes of ciphertext followed by the 16-byte tag. */
int chunk_encrypt(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		  u64 chunk, const u8 *in, size_t len, u8 *out);
/* Decrypt @len bytes (tag included) in place; 0, or -1 on a bad tag. */
int chunk_decrypt(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		  u64 chunk, u8 *buf, size_t len);
/*
 * The same for a write-back overlay's record (docs/format.md section 11):
 * its own random @nonce (SPF_GCM_NONCE_LEN bytes) instead of the chunk's.
 */
int record_encrypt(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		   u64 chunk, const u8 *nonce, const u8 *in, size_t len,
		   u8 *out);
int record_decrypt(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		   u64 chunk, const u8 *nonce, u8 *buf, size_t len);
/* Content digest: keyed BLAKE2b for encrypted images, else BLAKE2b. */
int chunk_digest(struct crypt_ws *ws, bool keyed, const u8 *buf,
		 size_t len, u8 out[SPF_DIGEST_LEN]);

#endif /* SPF_LIBCRYPT_H */
