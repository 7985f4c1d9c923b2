// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/spf-control: the ioctls that attach, detach and describe devices.
 *
 * Every input is checked here before anything else sees it: the command,
 * CAP_SYS_ADMIN, flags, reserved fields and counts.  docs/ioctl-ABI.md
 * describes each command.
 *
 * Data keys come in the attach call or, with SPF_ATTACH_F_KEYRING, from
 * logon keys in the caller's keyrings; either way this file's copy is
 * wiped before the call returns, and the keyed transforms hold the rest.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/key.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/spfblk.h>
#include <keys/user-type.h>

#include "spfblk.h"

static_assert(sizeof(struct spf_layer_key) == 32);
static_assert(sizeof(struct spf_layer_keydesc) == SPF_KEYDESC_SIZE);
static_assert(sizeof(struct spf_attach) == 72);
static_assert(sizeof(struct spf_detach) == 32);
static_assert(sizeof(struct spf_info) == 112);
static_assert(sizeof(struct spf_features) == 64);

static bool spf_is_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

static void spf_put_files(struct file **files, u32 n)
{
	while (n--)
		fput(files[n]);
}

/* Take a reference to each descriptor; -EBADF if one is not open. */
static int spf_get_files(const s32 *fds, struct file **files, u32 n)
{
	u32 i;

	for (i = 0; i < n; i++) {
		files[i] = fget(fds[i]);
		if (!files[i]) {
			pr_err("attach: layer %u: descriptor %d is not open\n",
			       i, fds[i]);
			spf_put_files(files, i);
			return -EBADF;
		}
	}
	return 0;
}

/* Keys: one per layer, and one more for the overlay when writable. */
static u32 spf_nr_keys(const struct spf_attach *a)
{
	return a->nr_layers + !!(a->flags & SPF_ATTACH_F_WRITABLE);
}

/* The keys of a direct attach: a copy of the caller's array. */
static int spf_keys_copy(const struct spf_attach *a, struct spf_layer_key *keys)
{
	if (copy_from_user(keys, u64_to_user_ptr(a->keys),
			   spf_nr_keys(a) * sizeof(*keys)))
		return -EFAULT;
	return 0;
}

#if IS_ENABLED(CONFIG_KEYS)
#define SPF_ATTACH_F_OK		SPF_ATTACH_F_ALL
#define SPF_FEAT_KEYS		SPF_FEAT_KEYRING

static const char *spf_key_strerror(int err)
{
	switch (err) {
	case -ENOKEY:
		return "no such logon key";
	case -EKEYREVOKED:
		return "key revoked";
	case -EKEYEXPIRED:
		return "key expired";
	case -EACCES:
		return "key not searchable";
	default:
		return "look-up failed";
	}
}

/*
 * What the log calls key @i of a keyring attach: "layer N", or "overlay"
 * for the last one of a writable attach (index nr_layers).
 */
static const char *spf_key_owner(const struct spf_attach *a, u32 i,
				 char *buf, size_t size)
{
	if (a->flags & SPF_ATTACH_F_WRITABLE && i == a->nr_layers)
		return "overlay";
	snprintf(buf, size, "layer %u", i);
	return buf;
}

/*
 * Copy the payload of the logon key @desc, the data key of @what (layer N
 * or the overlay, whose file is @file), into @out.  The payload is read
 * under the key's semaphore, which keeps an update or a revocation from
 * freeing it meanwhile; request_key() searches the calling process's
 * keyrings (thread, process, session) and never calls out to user space
 * without callout data.
 */
static int spf_key_lookup(const char *what, struct file *file,
			  const char *desc, u8 *out)
{
	const struct user_key_payload *payload;
	unsigned int len = 0;
	struct key *key;
	int ret = 0;

	key = request_key(&key_type_logon, desc, NULL);
	if (IS_ERR(key)) {
		ret = PTR_ERR(key);
		pr_err("attach: %s (%pD): key \"%s\": %s (%d)\n", what,
		       file, desc, spf_key_strerror(ret), ret);
		return ret;
	}
	down_read(&key->sem);
	payload = user_key_payload_locked(key);
	if (!payload)
		ret = -EKEYREVOKED;
	else if (payload->datalen != SPF_KEY_SIZE)
		len = payload->datalen;
	else
		memcpy(out, payload->data, SPF_KEY_SIZE);
	up_read(&key->sem);
	key_put(key);
	if (ret) {
		pr_err("attach: %s (%pD): key \"%s\": %s (%d)\n", what,
		       file, desc, spf_key_strerror(ret), ret);
	} else if (len) {
		pr_err("attach: %s (%pD): key \"%s\" has %u bytes, not %d\n",
		       what, file, desc, len, SPF_KEY_SIZE);
		ret = -EINVAL;
	}
	return ret;
}

/*
 * The keys of a keyring attach: each layer's logon key, named by the
 * caller's spf_layer_keydesc array, then the overlay's when writable
 * (@files has it last).  An empty description leaves the key zero (a
 * plain layer or overlay).
 */
static int spf_keys_lookup(const struct spf_attach *a, struct file **files,
			   struct spf_layer_key *keys)
{
	struct spf_layer_keydesc *d;
	char what[24];		/* "layer 4294967295" fits */
	size_t len;
	u32 i;
	int ret = 0;

	d = kvmalloc_array(spf_nr_keys(a), sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	if (copy_from_user(d, u64_to_user_ptr(a->keys),
			   spf_nr_keys(a) * sizeof(*d))) {
		ret = -EFAULT;
		goto out;
	}
	for (i = 0; i < spf_nr_keys(a); i++) {
		len = strnlen(d[i].desc, SPF_KEYDESC_SIZE);
		if (len == SPF_KEYDESC_SIZE ||
		    !spf_is_zero(d[i].desc + len, SPF_KEYDESC_SIZE - len)) {
			pr_err("attach: %s: key description not NUL-terminated and zero-padded\n",
			       spf_key_owner(a, i, what, sizeof(what)));
			ret = -EINVAL;
			goto out;
		}
	}
	for (i = 0; i < spf_nr_keys(a) && !ret; i++)
		if (d[i].desc[0])
			ret = spf_key_lookup(spf_key_owner(a, i, what,
							   sizeof(what)),
					     files[i], d[i].desc, keys[i].key);
out:
	kvfree(d);
	return ret;
}
#else
#define SPF_ATTACH_F_OK		(SPF_ATTACH_F_ALL & ~SPF_ATTACH_F_KEYRING)
#define SPF_FEAT_KEYS		0

static int spf_keys_lookup(const struct spf_attach *a, struct file **files,
			   struct spf_layer_key *keys)
{
	return -EOPNOTSUPP;
}
#endif

static int spf_ioctl_attach(struct spf_attach __user *uarg)
{
	struct spf_layer_key *keys = NULL;
	struct file **files;
	struct spf_attach a;
	size_t keys_len = 0;
	s32 *fds;
	u32 index;
	int ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.flags & ~SPF_ATTACH_F_OK ||
	    (a.overlay_fd && !(a.flags & SPF_ATTACH_F_WRITABLE)) ||
	    (a.flags & SPF_ATTACH_F_LOG_COMPRESS &&
	     !(a.flags & SPF_ATTACH_F_WRITABLE)) ||
	    (a.flags & SPF_ATTACH_F_VERIFY_ONCE &&
	     a.flags & SPF_ATTACH_F_NO_VERIFY) ||
	    !spf_is_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (!a.nr_layers || a.nr_layers > SPF_MAX_LAYERS || !a.fds)
		return -EINVAL;
	if (a.flags & SPF_ATTACH_F_KEYRING && !a.keys)
		return -EINVAL;

	fds = kvmalloc_array(a.nr_layers, sizeof(*fds), GFP_KERNEL);
	/* With SPF_ATTACH_F_WRITABLE, the overlay last. */
	files = kvcalloc(a.nr_layers + 1, sizeof(*files), GFP_KERNEL);
	if (!fds || !files) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (copy_from_user(fds, u64_to_user_ptr(a.fds),
			   a.nr_layers * sizeof(*fds))) {
		ret = -EFAULT;
		goto out_free;
	}
	ret = spf_get_files(fds, files, a.nr_layers);
	if (ret)
		goto out_free;
	if (a.flags & SPF_ATTACH_F_WRITABLE) {
		files[a.nr_layers] = fget(a.overlay_fd);
		if (!files[a.nr_layers]) {
			pr_err("attach: overlay: descriptor %d is not open\n",
			       a.overlay_fd);
			ret = -EBADF;
			goto out_files;
		}
	}
	if (a.keys) {
		keys_len = spf_nr_keys(&a) * sizeof(*keys);
		keys = kvzalloc(keys_len, GFP_KERNEL);
		if (!keys) {
			ret = -ENOMEM;
			goto out_files;
		}
		if (a.flags & SPF_ATTACH_F_KEYRING)
			ret = spf_keys_lookup(&a, files, keys);
		else
			ret = spf_keys_copy(&a, keys);
		if (ret)
			goto out_files;
	}

	ret = spf_dev_attach(&a, files, files[a.nr_layers], keys, &index);
	if (!ret && put_user(index, &uarg->index)) {
		/* The device exists; user space can still find it in sysfs. */
		ret = -EFAULT;
	}
out_files:
	if (files[a.nr_layers])
		fput(files[a.nr_layers]);
	spf_put_files(files, a.nr_layers);
	if (keys) {
		memzero_explicit(keys, keys_len);
		kvfree(keys);
	}
out_free:
	kvfree(files);
	kvfree(fds);
	return ret;
}

static int spf_ioctl_detach(struct spf_detach __user *uarg)
{
	struct spf_detach d;

	if (copy_from_user(&d, uarg, sizeof(d)))
		return -EFAULT;
	if (d.flags & ~SPF_DETACH_F_ALL ||
	    !spf_is_zero(d.reserved, sizeof(d.reserved)))
		return -EINVAL;
	return spf_dev_detach(d.index, d.flags);
}

static int spf_ioctl_get_info(struct spf_info __user *uarg)
{
	struct spf_info info;
	u32 index;
	int ret;

	if (get_user(index, &uarg->index) ||
	    copy_from_user(info.reserved, uarg->reserved,
			   sizeof(info.reserved)))
		return -EFAULT;
	if (!spf_is_zero(info.reserved, sizeof(info.reserved)))
		return -EINVAL;

	memset(&info, 0, sizeof(info));
	info.index = index;
	ret = spf_dev_info(&info);
	if (ret)
		return ret;
	if (copy_to_user(uarg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static int spf_ioctl_get_features(struct spf_features __user *uarg)
{
	struct spf_features f = {
		.features	= SPF_FEAT_DEFLATE | SPF_FEAT_ZSTD |
				  SPF_FEAT_LZ4 | SPF_FEAT_AES_GCM |
				  SPF_FEAT_AUTOCLEAR | SPF_FEAT_SHRINKER |
				  SPF_FEAT_KEYS | SPF_FEAT_WRITABLE |
				  SPF_FEAT_NO_VERIFY | SPF_FEAT_LOG_COMPRESS |
				  SPF_FEAT_VERIFY_ONCE,
		.attach_flags	= SPF_ATTACH_F_OK,
		.incompat	= SPF_INCOMPAT_SUPPORTED,
		.max_layers	= SPF_MAX_LAYERS,
		.max_devices	= spf_config.max_devices,
	};

	if (copy_to_user(uarg, &f, sizeof(f)))
		return -EFAULT;
	return 0;
}

static long spf_ctl_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case SPF_IOC_ATTACH:
	case SPF_IOC_DETACH:
	case SPF_IOC_GET_INFO:
	case SPF_IOC_GET_FEATURES:
		break;
	default:
		return -ENOTTY;
	}
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	switch (cmd) {
	case SPF_IOC_ATTACH:
		return spf_ioctl_attach(uarg);
	case SPF_IOC_DETACH:
		return spf_ioctl_detach(uarg);
	case SPF_IOC_GET_INFO:
		return spf_ioctl_get_info(uarg);
	default:
		return spf_ioctl_get_features(uarg);
	}
}

static const struct file_operations spf_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= spf_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice spf_misc = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= SPF_CONTROL_NAME,
	.fops		= &spf_ctl_fops,
	.mode		= 0600,
};

int spf_control_init(void)
{
	return misc_register(&spf_misc);
}

void spf_control_exit(void)
{
	misc_deregister(&spf_misc);
}
