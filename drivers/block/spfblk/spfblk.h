/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spfblk: a blk-mq device over a chain of SPF backup images, read only or
 * writable through a write-back overlay.
 *
 * Where a request goes, one file per step:
 *
 *   control.c     /dev/spf-control: attach, detach, info, features
 *   device.c      the gendisk: add, open/release, detach, autoclear
 *   chain.c       open and validate every layer at attach
 *   request.c     queue_rq, worker contexts, and the worker serving a read
 *   write.c       the worker serving a write, write zeroes, discard, flush
 *   overlay.c     the write-back overlay: open, replay, map, append, fsync
 *   compress.c    deflate, zstd and lz4 encoders for overlay records
 *   extent.c      per-device extent cache: chunk -> where its data lies
 *   index.c       one layer's B+tree walk, on an extent cache miss
 *   chunk.c       loading a chunk; the shared cache of decoded chunks
 *   verify.c      verify-once: the stored chunks that passed their check
 *   read.c        reads from the backing files
 *   decrypt.c     AES-256-GCM of encrypted chunks and overlay records
 *   decompress.c  deflate, zstd and lz4
 *   sysfs.c       /sys/block/spfN/spf/
 *   format.c      the on-disk validator shared with spfctl
 *
 * Locks, outermost first:
 *
 *   spf_ctl_mutex (device.c)   the device IDR and attach/detach decisions
 *   disk->open_mutex (block)   held by the block layer around open/release
 *   spf_device.lock            open count, lifecycle state, autoclear
 *   spf_overlay.chunk_lock[h]  (write.c) one chunk's read-modify-write,
 *                              append and publish; one held at a time
 *   spf_overlay.append_lock    the overlay file's tail, next seq, broken
 *   spf_overlay.map's xa_lock  the overlay map's slots (xa_store)
 *   spf_cache.xa's xa_lock     the extent cache's LRU list and count
 *   spf_chunk_cache.lock       the decoded-chunk cache's slot states
 *   spf_device.queue_lock      the requests waiting for a worker
 *   spf_layer.marks' xa_lock   (verify.c) publishing a page of marks
 *
 * A worker takes a request off the queue (queue_lock, dropped at once)
 * before a chunk lock; under a chunk lock it may wait for a decoded-chunk
 * slot and then takes append_lock.  No lock is held across the fsync of a
 * flush.
 */
#ifndef SPFBLK_H
#define SPFBLK_H

#include <linux/atomic.h>
#include <linux/blk-mq.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/scatterlist.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <linux/zlib.h>
#include <linux/zstd.h>

#include "format.h"
#include "compat.h"

struct spf_attach;
struct spf_info;
struct spf_layer_key;

#define SPF_DISK_NAME		"spf"
#define SPF_PART_SHIFT		4	/* 16 minors per device */
#define SPF_MAX_DEVICES		(1U << (MINORBITS - SPF_PART_SHIFT))
#define SPF_MAX_LAYERS		(SPF_MAX_DEPTH + 1)
#define SPF_QUEUE_DEPTH		128
#define SPF_MAX_REQ_SECTORS	2048	/* 1 MiB per request */
/* Write zeroes and discard: 64 MiB per request, at most 64 MiB to zero. */
#define SPF_MAX_ZERO_SECTORS	BIT(17)

/* Module parameters (main.c); read when a device is attached. */
struct spf_config {
	unsigned int max_devices;	/* devices at once, 1 .. 65536 */
	unsigned int cache_mb;		/* default extent cache budget, MiB */
	unsigned int nr_workers;	/* worker contexts per device, max */
};

extern struct spf_config spf_config;
extern int spf_major;
extern struct workqueue_struct *spf_ctl_wq;

/*
 * One image of the chain; layer 0 is the full image.  A writable device
 * has one more, layers[nr_layers]: the overlay, whose extents the overlay
 * map gives (overlay.c).
 */
struct spf_layer {
	struct file *file;		/* our own reference, read only */
	char *path;			/* at attach time, for sysfs and logs */
	struct spf_image img;		/* validated header and trailer */
	struct spf_summary *summary;	/* validated summary block */
	struct crypto_aead *tfm;	/* keyed gcm(aes); NULL if plain */
	struct xarray marks;		/* verify.c: checked index entries */
};

/*
 * Where a chunk's data lies: what a chain walk found, and the value of an
 * extent cache entry.  state is an SPF_CHUNK_*; SPF_CHUNK_ZERO also
 * stands for "no layer has an entry".  leaf and entry say where the
 * index entry that gave it lies (the leaf block's number from the
 * layer's index_offset, and the entry's place in it): verify-once's marks
 * are kept by that place (verify.c).  An overlay record, or a chunk no
 * layer has, has leaf SPF_NO_LEAF.  verified is set only in the copy
 * spf_extent_lookup() returns: the stored bytes passed their crc32c check
 * since attach.
 */
struct spf_extent {
	u64 offset;			/* stored data, bytes into the file */
	u32 length;			/* stored bytes, incl. the GCM tag */
	u32 crc;			/* crc32c of the stored bytes */
	u32 layer;			/* index into spf_device.layers */
	u32 leaf;			/* index leaf, or SPF_NO_LEAF */
	u8 entry;			/* in the leaf, < SPF_LEAF_ENTRIES */
	u8 state;			/* enum spf_chunk_state */
	bool verified;			/* a lookup's copy: checked before */
};

#define SPF_NO_LEAF		U32_MAX

/* An overlay map entry: the latest record of a chunk (overlay.c). */
struct spf_ovl_entry {
	struct rcu_head rcu;
	struct spf_extent ext;		/* immutable once published */
};

#define SPF_OVL_CHUNK_LOCKS	64

/*
 * The write-back overlay of a writable device (overlay.c, write.c).
 *
 * map: chunk -> struct spf_ovl_entry of its latest record.  Lookups are
 * lockless (RCU); a writer replaces an entry with xa_store() under the
 * chunk's lock, after its record is in the file, and frees the old one
 * after a grace period.
 *
 * append_lock protects tail, next_seq and broken, and is held across the
 * write of one record and its stored bytes, so records are in seq order
 * with no holes.  chunk_lock[chunk % SPF_OVL_CHUNK_LOCKS] serialises the
 * read-modify-write of one chunk against other writes of it.
 */
struct spf_overlay {
	struct xarray map;		/* chunk -> struct spf_ovl_entry */
	struct mutex append_lock;
	u64 tail;			/* end of the last record */
	u64 next_seq;
	bool broken;			/* a failed append: writes fail */
	atomic64_t records;		/* replayed plus written */
	struct mutex chunk_lock[SPF_OVL_CHUNK_LOCKS];
};

/*
 * The per-device extent cache: chunk -> struct spf_extent, in an xarray.
 *
 * Lookups are lockless (RCU): xa_load() plus a copy, so a hit costs the
 * same at any chain depth.  The xarray's own spinlock (xa_lock) also
 * protects the LRU list and nr, so inserting, evicting and shrinking take
 * one lock.  A hit only sets the entry's referenced bit (second chance);
 * entries are freed after an RCU grace period.
 */
struct spf_cache {
	struct xarray xa;		/* chunk -> struct spf_cache_entry */
	struct list_head lru;		/* most recent first; xa_lock */
	unsigned long nr;		/* entries; written under xa_lock */
	unsigned long max;		/* budget / SPF_CACHE_ENTRY_COST */
	u64 budget;			/* bytes */
	atomic64_t hits;
	atomic64_t misses;
	struct spf_shrinker shrinker;
};

/* One codec's preallocated workspace in a worker context. */
struct spf_codec_ws {
	void *mem;			/* vmalloc'ed, the codec's size */
	union {
		struct z_stream_s zs;	/* deflate */
		zstd_dctx *dctx;	/* zstd, inside mem */
	};
};

/*
 * A worker context: every buffer one request needs, allocated at attach
 * so that serving a request never allocates, and the work item of the
 * worker that owns it (request.c).
 */
struct spf_ctx {
	struct work_struct work;	/* spf_work() on spf_device.wq */
	struct spf_device *dev;
	unsigned long active;		/* bit 0: work queued or running */
	u8 *stored;			/* stored bytes: chunk size + tag */
	u8 *block;			/* one index block */
	struct bio_vec *bvec;		/* a chunk's span of a request */
	unsigned int nr_bvec;

	/* Decryption, only when some layer is encrypted. */
	struct aead_request *aead;	/* sized for every layer's tfm */
	struct scatterlist *sg;		/* aad, then stored's pages */
	struct spf_chunk_aad aad;
	u8 iv[SPF_GCM_NONCE_LEN];

	struct spf_codec_ws codec[SPF_CODEC_MAX];

	/* Writing, only when the device is writable (compress.c). */
	u8 *rmw;			/* a chunk's new content */
	void *enc_mem;			/* the overlay codec's encoder */
	union {
		struct z_stream_s enc_zs;	/* deflate */
		zstd_cctx *enc_cctx;		/* zstd, inside enc_mem */
	};
	zstd_parameters enc_zp;

	/* The reason the last step failed, and in which layer. */
	u32 err_layer;
	struct spf_msg msg;
};

enum spf_slot_state {
	SPF_SLOT_EMPTY,
	SPF_SLOT_LOADING,		/* its loader is decoding into buf */
	SPF_SLOT_VALID,
};

/* One decoded chunk in the shared cache (chunk.c). */
struct spf_slot {
	u64 chunk;			/* these five: spf_chunk_cache.lock */
	u64 offset;			/* the extent's: overlay records differ */
	u32 layer;
	u8 state;			/* enum spf_slot_state */
	bool referenced;		/* used since the clock hand passed */
	unsigned int users;		/* references; a used slot stays */
	u8 *buf;			/* chunk_size bytes, see chunk.c */
};

/*
 * The decoded-chunk cache: a few recently decoded chunks that every
 * worker context shares, so a chunk many small requests read at once is
 * decoded once.  lock protects every slot's fields and hand.
 */
struct spf_chunk_cache {
	spinlock_t lock;		/* slots' fields, hand */
	wait_queue_head_t wait;		/* a LOADING slot settled */
	struct spf_slot *slots;
	unsigned int nr;
	unsigned int hand;		/* clock replacement */
	atomic64_t hits;
	atomic64_t misses;
};

/* A reference to a decoded chunk (spf_chunk_get/put). */
struct spf_chunk_ref {
	const u8 *data;			/* chunk_size bytes; NULL: zeros */
	struct spf_slot *slot;		/* the reference held, if any */
};

/*
 * Where a worker is in a request: the bio and the position in it.  A
 * request is its bios' segments in order, each a run of bytes in a page.
 */
struct spf_cursor {
	struct bio *bio;
	struct bvec_iter iter;
};

/* The per-request PDU (tag_set.cmd_size). */
struct spf_cmd {
	struct list_head node;		/* in spf_device.queue */
};

enum spf_state {
	SPF_STATE_SETUP,		/* being attached: not armed */
	SPF_STATE_LIVE,
	SPF_STATE_DYING,		/* detach committed: opens fail */
};

/* One attached chain: /dev/spfN. */
struct spf_device {
	int index;			/* N of spfN */

	/* Protects open_count, state, autoclear and armed. */
	struct mutex lock;
	unsigned int open_count;	/* whole-disk open()s minus release()s */
	enum spf_state state;
	bool autoclear;			/* detach on last close... */
	bool armed;			/* ...once opened by a real user */
	bool partscan;			/* set at attach, then read only */
	bool verify;			/* same; check stored chunks' crc32c */
	bool verify_once;		/* same; only until a check passed */
	bool log_compress;		/* same; compress overlay records */
	struct work_struct clear_work;	/* autoclear, on spf_ctl_wq */

	struct gendisk *disk;
	struct blk_mq_tag_set tag_set;
	struct workqueue_struct *wq;	/* runs reads */

	/* The chain; set at attach, then read only. */
	struct spf_layer *layers;	/* nr_layers + 1, see spf_layer */
	u32 nr_layers;
	u32 chunk_shift;
	u32 chunk_size;
	u64 disk_size;			/* the top layer's */
	bool encrypted;			/* some layer is */
	unsigned int codecs;		/* BIT(codec) of every layer's codec */
	unsigned int aead_reqsize;	/* max over the layers' tfms */

	/*
	 * Requests waiting for a worker, and the workers: one per context.
	 * queue_lock protects queue.
	 */
	spinlock_t queue_lock;
	struct list_head queue;		/* struct spf_cmd, oldest first */
	struct spf_ctx **ctxs;
	unsigned int nr_ctx;

	struct spf_cache cache;
	struct spf_chunk_cache chunks;
	atomic64_t corrupt_chunks;
	atomic64_t checks_skipped;	/* verify_once: reads not checked */
	atomic64_t verified_chunks;	/* verify_once: marks set (verify.c) */
	atomic_long_t mark_pages;	/* verify_once: pages of marks */

	struct spf_overlay *ovl;	/* NULL: read only */
};

static inline struct spf_layer *spf_ovl_layer(struct spf_device *dev)
{
	return &dev->layers[dev->nr_layers];
}

/* control.c */
int spf_control_init(void);
void spf_control_exit(void);

/* device.c */
int spf_dev_attach(const struct spf_attach *a, struct file **files,
		   struct file *overlay, const struct spf_layer_key *keys,
		   u32 *index);
int spf_dev_detach(u32 index, u32 flags);
int spf_dev_info(struct spf_info *info);
int spf_dev_open(struct gendisk *disk, bool probe);
void spf_dev_release(struct gendisk *disk);

/* chain.c */
int spf_chain_open(struct spf_device *dev, struct file **files,
		   const struct spf_layer_key *keys, u32 nr_layers);
void spf_chain_close(struct spf_device *dev);
char *spf_file_path(struct file *file, char *buf);
int spf_layer_key_init(struct spf_device *dev, struct spf_layer *l,
		       const struct spf_header *hdr, const u8 *key,
		       const char *what, struct spf_msg *msg);

/* overlay.c */
int spf_overlay_open(struct spf_device *dev, struct file *file,
		     const struct spf_layer_key *key);
void spf_overlay_close(struct spf_device *dev);
bool spf_overlay_lookup(struct spf_device *dev, u64 chunk,
			struct spf_extent *ext);
int spf_overlay_nonce(struct spf_device *dev, struct spf_ctx *ctx,
		      u64 chunk, const struct spf_extent *ext, u8 *nonce);
int spf_overlay_append(struct spf_device *dev, struct spf_ctx *ctx,
		       u64 chunk, u8 state, const void *data, u32 len,
		       const u8 *nonce);
int spf_overlay_sync(struct spf_device *dev);
u64 spf_overlay_bytes(struct spf_device *dev);
u64 spf_overlay_records(struct spf_device *dev);

/* write.c */
blk_status_t spf_write_serve(struct spf_device *dev, struct spf_ctx *ctx,
			     struct request *rq);

/* compress.c */
int spf_compress_ctx_init(struct spf_device *dev, struct spf_ctx *ctx);
void spf_compress_ctx_free(struct spf_ctx *ctx);
u32 spf_compress(struct spf_device *dev, struct spf_ctx *ctx, const u8 *src,
		 u8 *dst, u32 cap);

/* request.c */
extern const struct blk_mq_ops spf_mq_ops;
int spf_ctx_pool_init(struct spf_device *dev);
void spf_ctx_pool_free(struct spf_device *dev);
void spf_cursor_init(struct spf_cursor *c, struct request *rq);
bool spf_cursor_peek(struct spf_cursor *c, struct bio_vec *bv);
void spf_cursor_advance(struct spf_cursor *c, unsigned int n);

/* crc.c */
int spf_crc_init(void);
void spf_crc_exit(void);
/* Speed of @bytes in @ns, in MiB/s (at least 1): load-time timings. */
u64 spf_mib_per_s(u64 bytes, u64 ns);

/* extent.c */
int spf_extent_slab_init(void);
void spf_extent_slab_exit(void);
int spf_cache_init(struct spf_device *dev, u64 budget);
void spf_cache_free(struct spf_device *dev);
u64 spf_cache_bytes(struct spf_cache *c);
int spf_extent_lookup(struct spf_device *dev, struct spf_ctx *ctx,
		      u64 chunk, struct spf_extent *ext);
void spf_extent_verified(struct spf_device *dev, u64 chunk,
			 const struct spf_extent *ext);

/* index.c */
int spf_index_find(struct spf_device *dev, struct spf_ctx *ctx, u32 layer,
		   u64 chunk, struct spf_extent *ext);
void spf_extent_from_entry(const struct spf_index_entry *e, u32 layer,
			   u32 leaf, unsigned int entry,
			   struct spf_extent *ext);

/* verify.c */
void spf_marks_init(struct spf_layer *l);
void spf_marks_free(struct spf_layer *l);
bool spf_verified(const struct spf_device *dev, const struct spf_extent *ext);
void spf_mark_verified(struct spf_device *dev, u64 chunk,
		       const struct spf_extent *ext);
u64 spf_marks_bytes(const struct spf_device *dev);

/* chunk.c */
int spf_chunk_cache_init(struct spf_device *dev);
void spf_chunk_cache_free(struct spf_device *dev);
u64 spf_chunk_cache_bytes(const struct spf_device *dev);
int spf_chunk_get(struct spf_device *dev, struct spf_ctx *ctx, u64 chunk,
		  const struct spf_extent *ext, struct spf_chunk_ref *ref);
void spf_chunk_put(struct spf_device *dev, struct spf_chunk_ref *ref);
int spf_chunk_copy(struct spf_device *dev, struct spf_ctx *ctx, u64 chunk,
		   const struct spf_extent *ext, u8 *out);
bool spf_chunk_direct(const struct spf_device *dev,
		      const struct spf_extent *ext, u32 len);
int spf_chunk_read_direct(struct spf_device *dev, struct spf_ctx *ctx,
			  u64 chunk, const struct spf_extent *ext, u32 off,
			  u32 len, struct bio_vec *bv, unsigned int nr);

/* read.c */
int spf_read_at(struct file *file, void *buf, size_t len, u64 pos);
int spf_read_iter(struct file *file, struct iov_iter *iter, u64 pos);
int spf_write_at(struct file *file, const void *buf, size_t len, u64 pos);

/* decrypt.c */
int spf_crypt_init(void);
int spf_crypt_layer_init(struct spf_layer *layer, const u8 *key,
			 const u8 *key_check, struct spf_msg *msg);
unsigned int spf_crypt_reqsize(const struct spf_layer *layer);
void spf_crypt_layer_free(struct spf_layer *layer);
int spf_crypt_ctx_init(struct spf_device *dev, struct spf_ctx *ctx);
void spf_crypt_ctx_free(struct spf_ctx *ctx);
int spf_decrypt(struct spf_ctx *ctx, const struct spf_layer *layer,
		u64 chunk, u32 len);
int spf_decrypt_record(struct spf_ctx *ctx, const struct spf_layer *layer,
		       u64 chunk, u32 len, const u8 *nonce);
int spf_encrypt_record(struct spf_ctx *ctx, const struct spf_layer *layer,
		       u64 chunk, u32 len, const u8 *nonce);

/* decompress.c */
int spf_codec_ctx_init(struct spf_device *dev, struct spf_ctx *ctx);
void spf_codec_ctx_free(struct spf_ctx *ctx);
int spf_decompress(struct spf_ctx *ctx, unsigned int codec, const void *src,
		   u32 slen, void *dst, u32 dlen);

/* sysfs.c */
extern const struct attribute_group *spf_attr_groups[];

#endif /* SPFBLK_H */
