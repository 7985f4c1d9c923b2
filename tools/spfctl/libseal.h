/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Write-back overlays (docs/format.md section 11): create one on top of
 * an image, replay its records with the shared validator, and seal it
 * into the standard incremental its header announces.
 */
#ifndef SPF_LIBSEAL_H
#define SPF_LIBSEAL_H

#include <sys/types.h>

#include "format.h"
#include "libcrypt.h"
#include "libutil.h"

struct spf_layer;

/* One accepted record. */
struct ovl_rec {
	u64 seq;
	u64 chunk;
	u64 data_off;			/* of its stored bytes */
	u32 len;
	u32 crc;
	u8 state;
	u8 nonce[SPF_GCM_NONCE_LEN];
};

struct overlay {
	char *path;			/* as shown in messages */
	int fd;
	dev_t dev;
	ino_t ino;
	mode_t mode;
	u64 size;
	struct spf_header *hdr;
	struct spf_image img;
	bool unlocked;
	struct spf_keys keys;		/* valid once unlocked */
	/* overlay_replay(): the records up to the torn tail. */
	struct ovl_rec *rec;
	u64 nr, cap;
	u64 end;			/* end of the last good record */
	u64 data_bytes;			/* stored bytes of the good records */
	u64 distinct;			/* chunks with a record */
	char torn_why[sizeof(struct spf_msg)];	/* "" if none */
};

/*
 * Open an overlay (@oflags O_RDONLY or O_RDWR) and check its header with
 * the shared validator.  0, or -errno with the reason in @why (the text
 * after "spfctl: PATH: ").
 */
int overlay_open(const char *path, int oflags, struct overlay **out,
		 char *why, size_t why_len);
void overlay_close(struct overlay *o);

/*
 * Read every record in order, as the kernel does: stop at the first one
 * that fails (the torn tail; o->torn_why says why).  Errors reading the
 * file are printed: 0 or -1.
 */
int overlay_replay(struct overlay *o);
/* Bytes of torn tail after o->end. */
static inline u64 overlay_torn_bytes(const struct overlay *o)
{
	return o->size - o->end;
}
/* "dropped N bytes of torn tail after record S: WHY" on stderr, if any. */
void overlay_report_torn(const struct overlay *o);

/* Unwrap the overlay's keys; prints "cannot unlock" errors.  0 or -1. */
int overlay_unlock(struct overlay *o, const struct pass *pass);

/*
 * Create the overlay @path (O_EXCL, 0600) on top of @top: the header
 * `create --parent` would write for an incremental, incompat OVERLAY set,
 * with @codec/@level (-1: @top's).  An encrypted @top must be unlocked;
 * @pass wraps the new data key.  Fsyncs the file and its directory.
 * Errors are printed.  0 or -1.
 */
int overlay_create(const char *path, const struct spf_layer *top,
		   int codec, int level, const struct pass *pass);

struct seal_stats {
	u64 records;			/* replayed */
	u64 superseded;			/* records a later one replaced */
	u64 entries;			/* written to the incremental */
	u64 unchanged;			/* left out: the chain has them */
	u64 compressed;			/* raw records compressed when sealed */
	u64 recompressed;		/* records recompressed at the header's level */
	bool chain;			/* the chain below could be opened */
};

/*
 * Seal a replayed (and, if encrypted, unlocked) overlay into the
 * incremental its header announces, written to a temporary file beside
 * it and renamed over it.  @parent is the image below (NULL: the
 * header's parent_name hint in the overlay's directory); when that chain
 * opens, entries it already resolves to are left out.  Errors are
 * printed; on failure the overlay is untouched.  0 or -1.
 */
int overlay_seal(struct overlay *o, const char *parent,
		 struct seal_stats *st);

#endif /* SPF_LIBSEAL_H */
