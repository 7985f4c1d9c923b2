/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * spfblk control ABI: ioctls on /dev/spf-control.
 *
 * Every structure is fixed-size and naturally aligned, with a reserved
 * tail that must be zero.  Pointers travel as __u64.  Every command needs
 * CAP_SYS_ADMIN.  Unknown flags or non-zero reserved bytes give -EINVAL,
 * an unknown command -ENOTTY.  docs/ioctl-ABI.md documents each command.
 */
#ifndef _UAPI_LINUX_SPFBLK_H
#define _UAPI_LINUX_SPFBLK_H

#include <linux/const.h>
#include <linux/types.h>
#include <linux/ioctl.h>

#define SPF_CONTROL_NAME	"spf-control"
#define SPF_IOC_MAGIC		0xF5

/* Attach flags (spf_attach.flags). */
#define SPF_ATTACH_F_NO_PARTSCAN	_BITUL(0)	/* no /dev/spfNpM */
#define SPF_ATTACH_F_AUTOCLEAR		_BITUL(1)	/* detach on last close */
#define SPF_ATTACH_F_KEYRING		_BITUL(2)	/* @keys: key descriptions */
#define SPF_ATTACH_F_WRITABLE		_BITUL(3)	/* @overlay_fd: writes */
#define SPF_ATTACH_F_NO_VERIFY		_BITUL(4)	/* no data crc32c check */
#define SPF_ATTACH_F_LOG_COMPRESS	_BITUL(5)	/* compress as written */
#define SPF_ATTACH_F_VERIFY_ONCE	_BITUL(6)	/* check a cached chunk once */
#define SPF_ATTACH_F_ALL		(SPF_ATTACH_F_NO_PARTSCAN | \
					 SPF_ATTACH_F_AUTOCLEAR | \
					 SPF_ATTACH_F_KEYRING | \
					 SPF_ATTACH_F_WRITABLE | \
					 SPF_ATTACH_F_NO_VERIFY | \
					 SPF_ATTACH_F_LOG_COMPRESS | \
					 SPF_ATTACH_F_VERIFY_ONCE)

/* Detach flags (spf_detach.flags). */
#define SPF_DETACH_F_LAZY		_BITUL(0)	/* detach on last close */
#define SPF_DETACH_F_ALL		SPF_DETACH_F_LAZY

/* Device state flags (spf_info.flags). */
#define SPF_INFO_F_AUTOCLEAR		_BITUL(0)
#define SPF_INFO_F_PARTSCAN		_BITUL(1)
#define SPF_INFO_F_ENCRYPTED		_BITUL(2)	/* some layer is */
#define SPF_INFO_F_WRITABLE		_BITUL(3)	/* has an overlay */
#define SPF_INFO_F_NO_VERIFY		_BITUL(4)	/* SPF_ATTACH_F_NO_VERIFY */
#define SPF_INFO_F_LOG_COMPRESS		_BITUL(5)	/* ..._F_LOG_COMPRESS */
#define SPF_INFO_F_VERIFY_ONCE		_BITUL(6)	/* ..._F_VERIFY_ONCE */

/* Features the driver has (spf_features.features). */
#define SPF_FEAT_DEFLATE		_BITULL(0)
#define SPF_FEAT_ZSTD			_BITULL(1)
#define SPF_FEAT_LZ4			_BITULL(2)
#define SPF_FEAT_AES_GCM		_BITULL(3)
#define SPF_FEAT_AUTOCLEAR		_BITULL(4)
#define SPF_FEAT_SHRINKER		_BITULL(5)
#define SPF_FEAT_KEYRING		_BITULL(6)	/* SPF_ATTACH_F_KEYRING */
#define SPF_FEAT_WRITABLE		_BITULL(7)	/* SPF_ATTACH_F_WRITABLE */
#define SPF_FEAT_NO_VERIFY		_BITULL(8)	/* SPF_ATTACH_F_NO_VERIFY */
#define SPF_FEAT_LOG_COMPRESS		_BITULL(9)	/* ..._F_LOG_COMPRESS */
#define SPF_FEAT_VERIFY_ONCE		_BITULL(10)	/* ..._F_VERIFY_ONCE */

#define SPF_KEY_SIZE			32	/* AES-256 data key */

/* One layer's key, for an encrypted layer; all zero for a plain one. */
struct spf_layer_key {
	__u8 key[SPF_KEY_SIZE];
};

#define SPF_KEYDESC_SIZE		128	/* with the terminating NUL */

/*
 * With SPF_ATTACH_F_KEYRING, one layer's key as the description of a
 * "logon" key (type logon, so "prefix:rest") in the caller's keyrings,
 * whose payload is the 32-byte data key.  NUL-terminated, the bytes after
 * the NUL zero; all zero for a plain layer.
 */
struct spf_layer_keydesc {
	char desc[SPF_KEYDESC_SIZE];
};

/*
 * SPF_IOC_ATTACH: map a chain onto a new /dev/spfN.
 * @fds:	user pointer to __s32[nr_layers], the full image first, each
 *		open for reading; the kernel takes its own references.
 * @keys:	user pointer to struct spf_layer_key[nr_layers], or 0 when no
 *		layer is encrypted.  The kernel wipes its copy on detach.
 *		With SPF_ATTACH_F_KEYRING: user pointer to struct
 *		spf_layer_keydesc[nr_layers] (not 0); the kernel looks each
 *		key up with request_key() and wipes its copy of the payload.
 *		With SPF_ATTACH_F_WRITABLE the array has nr_layers + 1
 *		elements, the last one the overlay's key.
 * @nr_layers:	1 .. SPF_MAX_DEPTH + 1.
 * @flags:	SPF_ATTACH_F_*.  SPF_ATTACH_F_VERIFY_ONCE: check a stored
 *		chunk's crc32c at its first read only, as long as its extent
 *		stays in the extent cache; not with SPF_ATTACH_F_NO_VERIFY.
 * @cache_bytes: extent cache budget in bytes; 0 for the module default.
 * @index:	out: N of /dev/spfN.
 * @overlay_fd:	with SPF_ATTACH_F_WRITABLE, the write-back overlay (see
 *		docs/format.md), open for reading and writing, whose header
 *		links to the top layer: the device is writable and every
 *		write is appended there.  Its records are replayed and a torn
 *		tail is cut off first.  0 without the flag.
 */
struct spf_attach {
	__u64 fds;
	__u64 keys;
	__u32 nr_layers;
	__u32 flags;
	__u64 cache_bytes;
	__u32 index;
	__s32 overlay_fd;
	__u64 reserved[4];
};					/* 72 bytes */

/* SPF_IOC_DETACH: remove /dev/spfN; -EBUSY while open unless LAZY. */
struct spf_detach {
	__u32 index;
	__u32 flags;
	__u64 reserved[3];
};					/* 32 bytes */

/* SPF_IOC_GET_INFO: one device's state; @index in, the rest out. */
struct spf_info {
	__u32 index;
	__u32 flags;			/* SPF_INFO_F_* */
	__u64 disk_size;		/* bytes */
	__u32 nr_layers;
	__u32 chunk_size;		/* bytes */
	__u64 cache_budget;		/* bytes */
	__u64 cache_bytes;		/* bytes in use */
	__u64 cache_hits;
	__u64 cache_misses;
	__u64 corrupt_chunks;
	__u8  top_uuid[16];
	__u64 overlay_bytes;		/* the overlay's size, if writable */
	__u64 overlay_records;		/* records in it, replayed or written */
	__u64 reserved[2];
};					/* 112 bytes */

/* SPF_IOC_GET_FEATURES: what this driver supports. */
struct spf_features {
	__u64 features;			/* SPF_FEAT_* */
	__u64 attach_flags;		/* SPF_ATTACH_F_ALL */
	__u64 incompat;			/* SPF_INCOMPAT_SUPPORTED */
	__u32 max_layers;
	__u32 max_devices;
	__u64 reserved[4];
};					/* 64 bytes */

#define SPF_IOC_ATTACH		_IOWR(SPF_IOC_MAGIC, 0x00, struct spf_attach)
#define SPF_IOC_DETACH		_IOW(SPF_IOC_MAGIC, 0x01, struct spf_detach)
#define SPF_IOC_GET_INFO	_IOWR(SPF_IOC_MAGIC, 0x02, struct spf_info)
#define SPF_IOC_GET_FEATURES	_IOR(SPF_IOC_MAGIC, 0x03, struct spf_features)

#endif /* _UAPI_LINUX_SPFBLK_H */
