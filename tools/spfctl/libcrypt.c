// SPDX-License-Identifier: GPL-2.0
/*
 * Passphrases, key wrapping and chunk cryptography.
 *
 * KEK = Argon2id(passphrase, salt, t, m, p); wrapped_keys || wrap_tag =
 * AES-256-GCM(KEK, wrap_nonce, AAD = image uuid, data key || digest key);
 * key_check = GCM tag of the empty message under the data key, nonce
 * SPF_NONCE_KEY_CHECK, AAD = image uuid.  Chunks: AES-256-GCM under the
 * data key, nonce = le64(chunk) || 0000, AAD = struct spf_chunk_aad.
 * Write-back overlay records: the same under the record's own nonce.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "libcrypt.h"

int random_bytes(void *buf, size_t len)
{
	return RAND_priv_bytes(buf, len) == 1 ? 0 : -EIO;
}

/* ---- passphrases ---- */

void pass_free(struct pass *p)
{
	if (p->buf) {
		OPENSSL_cleanse(p->buf, PASS_MAX + 1);
		free(p->buf);
	}
	p->buf = NULL;
	p->len = 0;
}

static int pass_from_file(const char *key_file, const char *obj,
			  struct pass *out)
{
	bool is_stdin = !strcmp(key_file, "-");
	const char *name = is_stdin ? "stdin" : key_file;
	int fd = is_stdin ? STDIN_FILENO : open(key_file, O_RDONLY | O_CLOEXEC);
	u8 *buf;
	ssize_t n;

	if (fd < 0) {
		err_sys(key_file, errno, "cannot open key file");
		return -1;
	}
	buf = xmalloc(KEYFILE_MAX + 1);
	n = read_full(fd, buf, KEYFILE_MAX + 1);
	if (!is_stdin)
		close(fd);
	if (n < 0 || n > KEYFILE_MAX) {
		if (n < 0)
			err_sys(name, n, "cannot read key file");
		else
			err_msg(name, "key file is larger than %u bytes",
				KEYFILE_MAX);
		OPENSSL_cleanse(buf, KEYFILE_MAX + 1);
		free(buf);
		return -1;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > PASS_MAX) {
		err_msg(name, "passphrase is longer than %u bytes", PASS_MAX);
		n = -1;
	} else if (!n) {
		err_msg(obj, "empty passphrase in %s", name);
		n = -1;
	} else {
		out->buf = xzalloc(PASS_MAX + 1);
		memcpy(out->buf, buf, n);
		out->len = n;
	}
	OPENSSL_cleanse(buf, KEYFILE_MAX + 1);
	free(buf);
	return n < 0 ? -1 : 0;
}

/* Read one line from the terminal on stdin with echo off. */
static int pass_prompt_once(const char *prompt, char *buf, size_t *len)
{
	struct termios old, noecho;
	size_t n = 0;
	int ret = 0;
	char c;

	if (tcgetattr(STDIN_FILENO, &old))
		return -errno;
	noecho = old;
	noecho.c_lflag &= ~(ECHO | ECHONL);
	noecho.c_lflag |= ICANON;
	signals_set_termios(&old);
	/*
	 * Echo off before the prompt: TCSAFLUSH drops what was typed before
	 * it, so only what is typed after the prompt is read.
	 */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho)) {
		ret = -errno;
		goto out;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	for (;;) {
		ssize_t r = read(STDIN_FILENO, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? -errno : -ENODATA;
			break;
		}
		if (c == '\n')
			break;
		if (n >= PASS_MAX) {
			ret = -E2BIG;
			continue;	/* drain the line */
		}
		buf[n++] = c;
	}
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
out:
	signals_set_termios(NULL);
	fputc('\n', stderr);
	c = 0;
	*len = n;
	return ret;
}

/* 0: got one, 1: empty and @allow_empty, -1: error (printed). */
static int pass_prompt(const char *obj, bool new_pass, bool allow_empty,
		       struct pass *out)
{
	char *prompt = new_pass ?
		xasprintf("Enter a new passphrase for %s: ", obj) :
		allow_empty ?
		xasprintf("Enter passphrase for %s (empty: skip the checks that need it): ", obj) :
		xasprintf("Enter passphrase for %s: ", obj);
	char *again = xzalloc(PASS_MAX + 1);
	size_t len2 = 0;
	int ret;

	out->buf = xzalloc(PASS_MAX + 1);
	ret = pass_prompt_once(prompt, out->buf, &out->len);
	if (!ret && new_pass && out->len)
		ret = pass_prompt_once("Verify passphrase: ", again, &len2);
	free(prompt);
	if (ret == -E2BIG)
		err_msg(obj, "passphrase is longer than %u bytes", PASS_MAX);
	else if (ret)
		err_sys(obj, ret, "cannot read passphrase");
	else if (!out->len && allow_empty)
		ret = 2;
	else if (!out->len)
		err_msg(obj, "empty passphrase");
	else if (new_pass && (len2 != out->len ||
			      memcmp(again, out->buf, len2)))
		err_msg(obj, "passphrases do not match");
	else
		ret = 1;
	OPENSSL_cleanse(again, PASS_MAX + 1);
	free(again);
	if (ret != 1) {
		pass_free(out);
		return ret == 2 ? 1 : -1;
	}
	return 0;
}

int pass_get(const char *key_file, const char *obj, bool new_pass,
	     struct pass *out)
{
	out->buf = NULL;
	out->len = 0;
	if (key_file)
		return pass_from_file(key_file, obj, out);
	if (!isatty(STDIN_FILENO)) {
		err_msg(obj, "no passphrase: the image is encrypted; use --key-file FILE (stdin is not a terminal)");
		return -1;
	}
	return pass_prompt(obj, new_pass, false, out);
}

int pass_get_optional(const char *obj, struct pass *out)
{
	out->buf = NULL;
	out->len = 0;
	return pass_prompt(obj, false, true, out);
}

/* ---- key wrapping ---- */

/*
 * Argon2id is slow on purpose, and every image of a chain shares one salt
 * and parameter set, so the KEKs derived in this process are remembered
 * (keyed by the parameters and a hash of the passphrase) and wiped at exit.
 */
#define KEK_CACHE_SIZE	4

struct kek_cache_entry {
	bool valid;
	u8 salt[SPF_SALT_LEN];
	u32 t_cost, m_cost, parallelism;
	u8 pass_hash[SPF_SEAL_LEN];
	u8 kek[SPF_KEY_LEN];
};

static struct kek_cache_entry kek_cache[KEK_CACHE_SIZE];
static unsigned int kek_cache_next;

static void kek_cache_wipe(void)
{
	OPENSSL_cleanse(kek_cache, sizeof(kek_cache));
}

static struct kek_cache_entry *kek_cache_find(const struct spf_crypt *c,
					      const u8 *pass_hash)
{
	unsigned int i;

	for (i = 0; i < KEK_CACHE_SIZE; i++) {
		struct kek_cache_entry *e = &kek_cache[i];

		if (e->valid && !memcmp(e->salt, c->salt, SPF_SALT_LEN) &&
		    e->t_cost == le32_to_cpu(c->kdf_t_cost) &&
		    e->m_cost == le32_to_cpu(c->kdf_m_cost) &&
		    e->parallelism == le32_to_cpu(c->kdf_parallelism) &&
		    !CRYPTO_memcmp(e->pass_hash, pass_hash, SPF_SEAL_LEN))
			return e;
	}
	return NULL;
}

static int kdf_derive(const struct spf_crypt *c, const struct pass *pass,
		      u8 kek[SPF_KEY_LEN])
{
	static bool registered;
	struct kek_cache_entry *e;
	u8 pass_hash[SPF_SEAL_LEN];
	int ret;

	if (!EVP_Digest(pass->buf, pass->len, pass_hash, NULL, EVP_sha256(),
			NULL))
		return -EIO;
	e = kek_cache_find(c, pass_hash);
	if (e) {
		memcpy(kek, e->kek, SPF_KEY_LEN);
		OPENSSL_cleanse(pass_hash, sizeof(pass_hash));
		return 0;
	}
	ret = argon2id_hash_raw(le32_to_cpu(c->kdf_t_cost),
				le32_to_cpu(c->kdf_m_cost),
				le32_to_cpu(c->kdf_parallelism),
				pass->buf, pass->len, c->salt,
				SPF_SALT_LEN, kek, SPF_KEY_LEN);
	if (ret != ARGON2_OK) {
		OPENSSL_cleanse(pass_hash, sizeof(pass_hash));
		return ret == ARGON2_MEMORY_ALLOCATION_ERROR ? -ENOMEM : -EINVAL;
	}
	if (!registered)
		registered = !atexit(kek_cache_wipe);
	e = &kek_cache[kek_cache_next++ % KEK_CACHE_SIZE];
	e->valid = true;
	memcpy(e->salt, c->salt, SPF_SALT_LEN);
	e->t_cost = le32_to_cpu(c->kdf_t_cost);
	e->m_cost = le32_to_cpu(c->kdf_m_cost);
	e->parallelism = le32_to_cpu(c->kdf_parallelism);
	memcpy(e->pass_hash, pass_hash, SPF_SEAL_LEN);
	memcpy(e->kek, kek, SPF_KEY_LEN);
	OPENSSL_cleanse(pass_hash, sizeof(pass_hash));
	return 0;
}

/*
 * One-shot AES-256-GCM.  @in may be NULL with @len 0 (key check).  On
 * decrypt @tag is checked; returns -EKEYREJECTED on a mismatch.
 */
static int gcm_once(bool enc, const u8 *key, const u8 *nonce,
		    const u8 *aad, size_t aad_len, const u8 *in, size_t len,
		    u8 *out, u8 *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce,
			       enc) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &n, aad, aad_len) == 1 &&
	     (!len || EVP_CipherUpdate(ctx, out, &n, in, len) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
					 SPF_GCM_TAG_LEN, tag) == 1;
	if (ok && EVP_CipherFinal_ex(ctx, out + len, &n) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return enc ? -EIO : -EKEYREJECTED;
	}
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
					 SPF_GCM_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static int key_check(const u8 *data_key, const u8 *uuid, u8 tag[16])
{
	u8 dummy[16];

	return gcm_once(true, data_key, (const u8 *)SPF_NONCE_KEY_CHECK,
			uuid, 16, NULL, 0, dummy, tag);
}

int keys_wrap(struct spf_header *h, const struct pass *pass,
	      const struct spf_keys *keys, const struct kdf_params *kdf,
	      const struct spf_crypt *inherit)
{
	struct spf_crypt *c = &h->crypt;
	u8 kek[SPF_KEY_LEN];
	int ret = 0;

	memset(c, 0, sizeof(*c));
	c->kdf = cpu_to_le32(SPF_KDF_ARGON2ID);
	if (inherit) {
		c->kdf_t_cost = inherit->kdf_t_cost;
		c->kdf_m_cost = inherit->kdf_m_cost;
		c->kdf_parallelism = inherit->kdf_parallelism;
		memcpy(c->salt, inherit->salt, SPF_SALT_LEN);
	} else {
		c->kdf_t_cost = cpu_to_le32(kdf->t_cost);
		c->kdf_m_cost = cpu_to_le32(kdf->m_cost);
		c->kdf_parallelism = cpu_to_le32(kdf->parallelism);
		ret = random_bytes(c->salt, SPF_SALT_LEN);
	}
	if (!ret)
		ret = random_bytes(c->wrap_nonce, SPF_GCM_NONCE_LEN);
	if (!ret)
		ret = kdf_derive(c, pass, kek);
	if (!ret)
		ret = gcm_once(true, kek, c->wrap_nonce, h->uuid, 16,
			       (const u8 *)keys, sizeof(*keys),
			       c->wrapped_keys, c->wrap_tag);
	if (!ret)
		ret = key_check(keys->data, h->uuid, c->key_check);
	OPENSSL_cleanse(kek, sizeof(kek));
	return ret;
}

int keys_unwrap(const struct spf_header *h, const struct pass *pass,
		struct spf_keys *keys)
{
	const struct spf_crypt *c = &h->crypt;
	u8 kek[SPF_KEY_LEN], check[SPF_GCM_TAG_LEN];
	u8 tag[SPF_GCM_TAG_LEN];
	int ret;

	memcpy(tag, c->wrap_tag, sizeof(tag));
	ret = kdf_derive(c, pass, kek);
	if (!ret)
		ret = gcm_once(false, kek, c->wrap_nonce, h->uuid, 16,
			       c->wrapped_keys, sizeof(c->wrapped_keys),
			       (u8 *)keys, tag);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (!ret)
		ret = key_check(keys->data, h->uuid, check);
	if (!ret && CRYPTO_memcmp(check, c->key_check, sizeof(check)))
		ret = -EUCLEAN;
	if (ret)
		OPENSSL_cleanse(keys, sizeof(*keys));
	return ret;
}

/* ---- per-thread chunk crypto ---- */

struct crypt_ws {
	EVP_CIPHER_CTX *gcm;
	u8 digest_key[SPF_KEY_LEN];	/* key loaded in @hmac */
	u8 key[SPF_KEY_LEN];		/* key loaded in @gcm */
	int mode;			/* -1 none, 0 decrypt, 1 encrypt */
	EVP_MD_CTX *sha;
	EVP_MAC_CTX *hmac;
};

struct crypt_ws *crypt_ws_new(const u8 *digest_key)
{
	struct crypt_ws *ws = xzalloc(sizeof(*ws));
	EVP_MAC *mac;

	ws->mode = -1;
	ws->gcm = EVP_CIPHER_CTX_new();
	ws->sha = EVP_MD_CTX_new();
	mac = EVP_MAC_fetch(NULL, "BLAKE2BMAC", NULL);
	if (mac)
		ws->hmac = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	if (!ws->gcm || !ws->sha || !ws->hmac)
		goto fail;
	/* A zero key until a real one is set: keyed digests need one. */
	if (EVP_MAC_init(ws->hmac, ws->digest_key, SPF_KEY_LEN, NULL) != 1)
		goto fail;
	if (digest_key && crypt_ws_digest_key(ws, digest_key))
		goto fail;
	return ws;
fail:
	crypt_ws_free(ws);
	return NULL;
}

int crypt_ws_digest_key(struct crypt_ws *ws, const u8 *digest_key)
{
	if (!memcmp(ws->digest_key, digest_key, SPF_KEY_LEN))
		return 0;
	if (EVP_MAC_init(ws->hmac, digest_key, SPF_KEY_LEN, NULL) != 1)
		return -1;
	memcpy(ws->digest_key, digest_key, SPF_KEY_LEN);
	return 0;
}

void crypt_ws_free(struct crypt_ws *ws)
{
	if (!ws)
		return;
	EVP_CIPHER_CTX_free(ws->gcm);
	EVP_MD_CTX_free(ws->sha);
	EVP_MAC_CTX_free(ws->hmac);
	OPENSSL_cleanse(ws->key, sizeof(ws->key));
	OPENSSL_cleanse(ws->digest_key, sizeof(ws->digest_key));
	free(ws);
}

/* Start one AEAD operation: @nonce NULL means the chunk's own nonce. */
static int gcm_start(struct crypt_ws *ws, int enc, const u8 *key,
		     const u8 *uuid, u64 chunk, const u8 *nonce_in)
{
	struct spf_chunk_aad aad;
	u8 nonce[SPF_GCM_NONCE_LEN] = { 0 };
	__le64 c = cpu_to_le64(chunk);
	int n;

	if (nonce_in)
		memcpy(nonce, nonce_in, SPF_GCM_NONCE_LEN);
	else
		memcpy(nonce, &c, sizeof(c));
	memcpy(aad.uuid, uuid, 16);
	aad.chunk = c;
	if (ws->mode != enc || memcmp(ws->key, key, SPF_KEY_LEN)) {
		if (EVP_CipherInit_ex(ws->gcm, EVP_aes_256_gcm(), NULL, key,
				      NULL, enc) != 1)
			return -1;
		memcpy(ws->key, key, SPF_KEY_LEN);
		ws->mode = enc;
	}
	if (EVP_CipherInit_ex(ws->gcm, NULL, NULL, NULL, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ws->gcm, NULL, &n, (const u8 *)&aad,
			     sizeof(aad)) != 1)
		return -1;
	return 0;
}

static int gcm_seal(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		    u64 chunk, const u8 *nonce, const u8 *in, size_t len,
		    u8 *out)
{
	int n;

	if (gcm_start(ws, 1, key, uuid, chunk, nonce) ||
	    EVP_CipherUpdate(ws->gcm, out, &n, in, len) != 1 ||
	    EVP_CipherFinal_ex(ws->gcm, out + len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ws->gcm, EVP_CTRL_GCM_GET_TAG,
				SPF_GCM_TAG_LEN, out + len) != 1)
		return -1;
	return 0;
}

static int gcm_open(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		    u64 chunk, const u8 *nonce, u8 *buf, size_t len)
{
	size_t plen = len - SPF_GCM_TAG_LEN;
	int n;

	if (len < SPF_GCM_TAG_LEN ||
	    gcm_start(ws, 0, key, uuid, chunk, nonce) ||
	    EVP_CipherUpdate(ws->gcm, buf, &n, buf, plen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ws->gcm, EVP_CTRL_GCM_SET_TAG,
				SPF_GCM_TAG_LEN, buf + plen) != 1 ||
	    EVP_CipherFinal_ex(ws->gcm, buf + plen, &n) != 1)
		return -1;
	return 0;
}

int chunk_encrypt(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		  u64 chunk, const u8 *in, size_t len, u8 *out)
{
	return gcm_seal(ws, key, uuid, chunk, NULL, in, len, out);
}

int chunk_decrypt(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		  u64 chunk, u8 *buf, size_t len)
{
	return gcm_open(ws, key, uuid, chunk, NULL, buf, len);
}

int record_encrypt(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		   u64 chunk, const u8 *nonce, const u8 *in, size_t len,
		   u8 *out)
{
	return gcm_seal(ws, key, uuid, chunk, nonce, in, len, out);
}

int record_decrypt(struct crypt_ws *ws, const u8 *key, const u8 *uuid,
		   u64 chunk, const u8 *nonce, u8 *buf, size_t len)
{
	return gcm_open(ws, key, uuid, chunk, nonce, buf, len);
}

int chunk_digest(struct crypt_ws *ws, bool keyed, const u8 *buf,
		 size_t len, u8 out[SPF_DIGEST_LEN])
{
	u8 full[EVP_MAX_MD_SIZE];
	unsigned int n;
	size_t mlen;

	if (keyed) {
		if (EVP_MAC_init(ws->hmac, NULL, 0, NULL) != 1 ||
		    EVP_MAC_update(ws->hmac, buf, len) != 1 ||
		    EVP_MAC_final(ws->hmac, full, &mlen, sizeof(full)) != 1)
			return -1;
	} else if (EVP_DigestInit_ex(ws->sha, EVP_blake2b512(), NULL) != 1 ||
		   EVP_DigestUpdate(ws->sha, buf, len) != 1 ||
		   EVP_DigestFinal_ex(ws->sha, full, &n) != 1) {
		return -1;
	}
	memcpy(out, full, SPF_DIGEST_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}
