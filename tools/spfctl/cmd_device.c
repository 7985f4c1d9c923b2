// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl attach, detach and list: /dev/spfN devices through the spfblk
 * driver's /dev/spf-control (include/uapi/linux/spfblk.h) and its sysfs
 * files under /sys/block/spfN/spf/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <libsmartcols.h>
#include <openssl/crypto.h>

#include <linux/keyctl.h>
#include <linux/spfblk.h>

#include "cmd.h"
#include "libchain.h"
#include "libcodec.h"
#include "libseal.h"

#define CONTROL_PATH	"/dev/" SPF_CONTROL_NAME
/* SPFCTL_SYSFS_BLOCK overrides /sys/block, for tests without the driver. */
static const char *sys_block(void)
{
	const char *s = getenv("SPFCTL_SYSFS_BLOCK");

	return s && *s ? s : "/sys/block";
}
#define ATTACH_WAIT_MS	10000

/* ---- shared ---- */

int open_control(void)
{
	int fd = open(CONTROL_PATH, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
		err_msg(CONTROL_PATH,
			"no such device; load the driver with `modprobe spfblk`");
	else
		err_sys(CONTROL_PATH, errno, "cannot open");
	return -1;
}

/* Read a sysfs file, trailing newlines removed; NULL if absent. */
static char *sysfs_read(unsigned int idx, const char *name)
{
	char *path = xasprintf("%s/spf%u/%s", sys_block(), idx, name);
	char *buf = xmalloc(65536);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read_full(fd, buf, 65535);

	if (fd >= 0)
		close(fd);
	free(path);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return buf;
}

bool sysfs_u64(unsigned int idx, const char *name, u64 *v)
{
	char *s = sysfs_read(idx, name), *end;
	bool ok = false;

	if (s) {
		*v = strtoull(s, &end, 10);
		ok = end != s;
	}
	free(s);
	return ok;
}

/* The last line of a multi-line value. */
static const char *last_line(const char *s)
{
	const char *nl = strrchr(s, '\n');

	return nl ? nl + 1 : s;
}

static int idx_cmp(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

/* Indexes of the spfN devices that have the spf/ sysfs group, sorted. */
static unsigned int list_devices(unsigned int **out)
{
	unsigned int *v = NULL, n = 0, idx;
	struct dirent *d;
	char extra;
	DIR *dp = opendir(sys_block());

	if (!dp) {
		*out = NULL;
		return 0;
	}
	while ((d = readdir(dp))) {
		char *p;
		struct stat st;

		if (sscanf(d->d_name, "spf%u%c", &idx, &extra) != 1)
			continue;
		p = xasprintf("%s/%s/spf", sys_block(), d->d_name);
		if (!stat(p, &st) && S_ISDIR(st.st_mode)) {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = idx;
		}
		free(p);
	}
	closedir(dp);
	if (n)
		qsort(v, n, sizeof(*v), idx_cmp);
	*out = v;
	return n;
}

bool overlay_attached(dev_t dev, ino_t ino, unsigned int *idx)
{
	unsigned int *v, n = list_devices(&v), i;
	bool found = false;
	struct stat st;

	for (i = 0; i < n && !found; i++) {
		char *path = sysfs_read(v[i], "spf/overlay");

		if (path && *path && !stat(path, &st) && st.st_dev == dev &&
		    st.st_ino == ino) {
			found = true;
			*idx = v[i];
		}
		free(path);
	}
	free(v);
	return found;
}

/* ---- attach ---- */

static const struct cmd_desc attach_desc = {
	"attach", "attach [OPTIONS] IMAGE",
};

static void attach_help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Map the chain that ends at IMAGE onto a new read-only /dev/spfN and\n"
	       "print its name once the device and its partitions exist.  The chain\n"
	       "is found and checked as for export; the kernel checks it again.\n"
	       "With --writable the device is writable: the chain is never written,\n"
	       "every write goes to the overlay OVERLAY (created if missing, else\n"
	       "continued), which `spfctl detach` seals into a new incremental on top\n"
	       "of IMAGE.\n\n"
	       "Options:\n"
	       "  -k, --key-file FILE  passphrase of an encrypted chain (- for stdin);\n"
	       "                       otherwise it is asked for on the terminal\n"
	       "      --key-via HOW    how the data keys reach the driver: keyring\n"
	       "                       (logon keys in the kernel keyring; the default\n"
	       "                       when the driver can) or ioctl (in the attach call)\n"
	       "      --chain FILE...  the chain's images (any order) instead of finding\n"
	       "                       them in IMAGE's directory; repeat the option or\n"
	       "                       list files before IMAGE\n"
	       "  -P, --no-partscan    do not scan for partitions (/dev/spfNpM)\n"
	       "  -L, --lazy           detach automatically on last close\n"
	       "  -c, --cache SIZE     extent cache budget (e.g. 64M); default: the\n"
	       "                       module's\n"
	       "      --verify MODE    when the driver checks a chunk's crc32c:\n"
	       "                       once (the default): at its first read, and\n"
	       "                       again only after its extent left the cache;\n"
	       "                       always: at every read; never: not at all, so\n"
	       "                       a raw chunk's bit rot reaches the reader, for\n"
	       "                       images `spfctl verify` has checked (encrypted\n"
	       "                       chunks are authenticated in every mode)\n"
	       "      --no-verify      the same as --verify=never\n"
	       "  -w, --writable       a writable device; needs --overlay\n"
	       "  -o, --overlay FILE   the write-back overlay (a new file, or one\n"
	       "                       left by an earlier writable attach of IMAGE)\n"
	       "      --compress CODEC[:LEVEL]  codec of a new overlay's chunks: none,\n"
	       "                       deflate, zstd or lz4 (default: IMAGE's)\n"
	       "      --log-compress   compress each write's chunk as it is written:\n"
	       "                       a smaller overlay, slower writes (by default\n"
	       "                       chunks are written raw and compressed when the\n"
	       "                       overlay is sealed)\n"
	       "  -h, --help           show this help\n",
	       attach_desc.usage);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static bool is_blkdev(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISBLK(st.st_mode);
}

/* Do /dev/spfN and the /dev node of every partition in sysfs exist? */
static bool nodes_ready(unsigned int idx)
{
	char *dev = xasprintf("/dev/spf%u", idx);
	char *sys = xasprintf("%s/spf%u", sys_block(), idx);
	char *prefix = xasprintf("spf%up", idx);
	bool ready = is_blkdev(dev);
	struct dirent *d;
	DIR *dp = ready ? opendir(sys) : NULL;

	while (dp && ready && (d = readdir(dp))) {
		char *part;

		if (strncmp(d->d_name, prefix, strlen(prefix)))
			continue;
		part = xasprintf("/dev/%s", d->d_name);
		ready = is_blkdev(part);
		free(part);
	}
	if (dp)
		closedir(dp);
	free(dev);
	free(sys);
	free(prefix);
	return ready;
}

static int wait_nodes(unsigned int idx)
{
	long long end = now_ms() + ATTACH_WAIT_MS;
	struct timespec pause = { 0, 20 * 1000000 };

	while (!nodes_ready(idx)) {
		if (now_ms() > end)
			return -1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/*
 * When udevd runs (it has its control socket), let it finish the device's
 * events, so that its symlinks (/dev/disk/by-id/spf-*, see
 * contrib/udev/60-spfblk.rules) exist when attach returns.  Without udevd
 * the /dev nodes, which devtmpfs makes, are all there is to wait for.
 */
#define UDEV_SETTLE_SECONDS	"60"

static void wait_udev(const char *dev)
{
	char *argv[] = { "udevadm", "settle",
			 "--timeout=" UDEV_SETTLE_SECONDS, NULL };
	posix_spawn_file_actions_t fa;
	int status, ret;
	pid_t pid;

	if (access("/run/udev/control", F_OK))
		return;
	/* Its messages are not spfctl's: stdout carries the device name. */
	if (posix_spawn_file_actions_init(&fa))
		return;
	ret = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) ||
	      posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) ||
	      posix_spawnp(&pid, "udevadm", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		return;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, PROG ": %s: udev did not settle within " UDEV_SETTLE_SECONDS " s; its /dev/disk/by-id links may appear later\n",
			dev);
}

static void detach_index(int ctl, unsigned int idx)
{
	struct spf_detach d = { .index = idx };

	ioctl(ctl, SPF_IOC_DETACH, &d);
}

static void attach_error(const char *image, int err)
{
	if (err == -ENOTTY)
		err_msg(CONTROL_PATH,
			"attach failed: the driver does not know this command (spfblk too old?)");
	else if (err == -EPERM || err == -EACCES)
		err_sys(image, -err, "attach failed (needs CAP_SYS_ADMIN)");
	else
		err_sys(image, -err, "attach failed (the kernel log says why)");
}

/*
 * How the data keys reach the driver: cmd_attach's --key-via; mount (and
 * any other caller of attach_chain()) gets the default.
 */
enum key_via { KEY_VIA_AUTO, KEY_VIA_IOCTL, KEY_VIA_KEYRING };
static enum key_via attach_key_via = KEY_VIA_AUTO;

/* attach --verify: when the driver checks a chunk's crc32c. */
enum verify_mode { VERIFY_AUTO, VERIFY_ALWAYS, VERIFY_ONCE, VERIFY_NEVER };
static enum verify_mode attach_verify = VERIFY_AUTO;

static u64 driver_features(int ctl)
{
	struct spf_features f;

	memset(&f, 0, sizeof(f));
	return ioctl(ctl, SPF_IOC_GET_FEATURES, &f) ? 0 : f.features;
}

/*
 * The keyring way: each unlocked layer's data key becomes a "logon" key
 * (whose payload user space cannot read back) in this process's keyring,
 * named "spfblk:UUID:RANDOM"; the attach call carries only the names.
 * The keys are revoked and unlinked as soon as the call returns, and the
 * process keyring dies with the process in any case.
 */
static int keyring_add_one(const char *path, const u8 *uuid_bin,
			   const u8 *key, struct spf_layer_keydesc *d,
			   long *idp)
{
	char uuid[37];
	u8 rnd[8];
	long id;

	if (random_bytes(rnd, sizeof(rnd))) {
		err_msg(path, "cannot name its key: no random bytes");
		return -1;
	}
	uuid_format(uuid_bin, uuid);
	snprintf(d->desc, sizeof(d->desc),
		 "spfblk:%s:%02x%02x%02x%02x%02x%02x%02x%02x", uuid,
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
		 rnd[7]);
	id = syscall(SYS_add_key, "logon", d->desc, key,
		     (size_t)SPF_KEY_SIZE, KEY_SPEC_PROCESS_KEYRING);
	if (id < 0) {
		err_sys(path, errno, "cannot add its key to the kernel keyring");
		return -1;
	}
	*idp = id;
	return 0;
}

/* The layers' keys, then (element nr_layers) the overlay's. */
static int keyring_add(struct spf_chain *c, const struct overlay *ov,
		       struct spf_layer_keydesc *d, long *ids)
{
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		struct spf_layer *l = c->layer[i];

		if (l->unlocked && keyring_add_one(l->path, l->img.uuid,
						   l->keys.data, &d[i],
						   &ids[i]))
			return -1;
	}
	if (ov && ov->unlocked)
		return keyring_add_one(ov->path, ov->hdr->uuid, ov->keys.data,
				       &d[c->n], &ids[c->n]);
	return 0;
}

static void keyring_remove(unsigned int n, const long *ids)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (!ids[i])
			continue;
		syscall(SYS_keyctl, KEYCTL_REVOKE, ids[i]);
		syscall(SYS_keyctl, KEYCTL_UNLINK, ids[i],
			KEY_SPEC_PROCESS_KEYRING);
	}
}

/* 0, -errno of the attach call, or 1 when the error is already printed. */
static int do_attach(int ctl, struct spf_chain *c, struct overlay *ov,
		     u32 flags, u64 cache, unsigned int *index)
{
	unsigned int nk = c->n + (ov ? 1 : 0);
	bool can_keyring = driver_features(ctl) & SPF_FEAT_KEYRING;
	struct spf_layer_keydesc *descs = NULL;
	struct spf_layer_key *keys = NULL;
	enum key_via via = attach_key_via;
	struct spf_attach a;
	long *ids = NULL;
	unsigned int i;
	__s32 *fds;
	int ret;

	if (via == KEY_VIA_AUTO)
		via = can_keyring ? KEY_VIA_KEYRING : KEY_VIA_IOCTL;
	switch (attach_verify) {
	case VERIFY_AUTO:
		/* once where the driver can, else at every read */
		if (driver_features(ctl) & SPF_FEAT_VERIFY_ONCE)
			flags |= SPF_ATTACH_F_VERIFY_ONCE;
		break;
	case VERIFY_ONCE:
		if (!(driver_features(ctl) & SPF_FEAT_VERIFY_ONCE)) {
			err_msg(CONTROL_PATH,
				"the driver checks chunk checksums at every read (spfblk too old?); attach with --verify=always");
			return 1;
		}
		flags |= SPF_ATTACH_F_VERIFY_ONCE;
		break;
	case VERIFY_NEVER:
		flags |= SPF_ATTACH_F_NO_VERIFY;
		break;
	case VERIFY_ALWAYS:
		break;
	}
	if ((flags & SPF_ATTACH_F_NO_VERIFY) &&
	    !(driver_features(ctl) & SPF_FEAT_NO_VERIFY)) {
		err_msg(CONTROL_PATH,
			"the driver always checks chunk checksums (spfblk too old?); attach without --no-verify or --verify=never");
		return 1;
	}
	if ((flags & SPF_ATTACH_F_LOG_COMPRESS) &&
	    !(driver_features(ctl) & SPF_FEAT_LOG_COMPRESS)) {
		err_msg(CONTROL_PATH,
			"the driver cannot compress overlay chunks as it writes them (spfblk too old?); attach without --log-compress");
		return 1;
	}
	if (c->any_encrypted && via == KEY_VIA_KEYRING && !can_keyring) {
		err_msg(CONTROL_PATH,
			"the driver cannot take keys from the keyring (spfblk too old?); use --key-via ioctl");
		return 1;
	}
	memset(&a, 0, sizeof(a));
	if (c->any_encrypted && via == KEY_VIA_KEYRING) {
		descs = xzalloc(nk * sizeof(*descs));
		ids = xzalloc(nk * sizeof(*ids));
		a.keys = (__u64)(uintptr_t)descs;
		flags |= SPF_ATTACH_F_KEYRING;
	} else if (c->any_encrypted) {
		keys = xzalloc(nk * sizeof(*keys));
		for (i = 0; i < c->n; i++)
			if (c->layer[i]->unlocked)
				memcpy(keys[i].key, c->layer[i]->keys.data,
				       SPF_KEY_SIZE);
		if (ov && ov->unlocked)
			memcpy(keys[c->n].key, ov->keys.data, SPF_KEY_SIZE);
		a.keys = (__u64)(uintptr_t)keys;
	}
	fds = xzalloc(c->n * sizeof(*fds));
	for (i = 0; i < c->n; i++)
		fds[i] = c->layer[i]->fd;
	a.fds = (__u64)(uintptr_t)fds;
	a.nr_layers = c->n;
	a.flags = flags;
	a.cache_bytes = cache;
	if (ov) {
		a.flags |= SPF_ATTACH_F_WRITABLE;
		a.overlay_fd = ov->fd;
	}
	if (descs && keyring_add(c, ov, descs, ids))
		ret = 1;
	else
		ret = ioctl(ctl, SPF_IOC_ATTACH, &a) ? -errno : 0;
	if (ids)
		keyring_remove(nk, ids);
	if (keys) {
		OPENSSL_cleanse(keys, nk * sizeof(*keys));
		free(keys);
	}
	free(descs);
	free(ids);
	free(fds);
	*index = a.index;
	return ret;
}

/* --writable --overlay FILE [--compress CODEC[:LEVEL]] */
struct ovl_opts {
	const char *path;
	int codec, level;		/* -1: IMAGE's */
	bool created;			/* out: a new overlay */
};

static void ovl_refuse(const char *path, const char *why)
{
	err_msg(path, "cannot use as overlay: %s", why);
}

/*
 * Open (or first create) the overlay for a writable attach of @c and
 * check that it belongs on top of the chain's top image.
 */
static struct overlay *ovl_prepare(struct spf_chain *c, struct ovl_opts *oo,
				   const struct pass *pass)
{
	const struct spf_layer *top = chain_top(c);
	struct overlay *o;
	struct spf_msg msg;
	unsigned int i, idx;
	struct stat st;

	if (!lstat(oo->path, &st)) {
		for (i = 0; i < c->n; i++) {
			if (c->layer[i]->dev == st.st_dev &&
			    c->layer[i]->ino == st.st_ino) {
				ovl_refuse(oo->path, "is an image of the chain");
				return NULL;
			}
		}
	} else if (errno == ENOENT) {
		if (overlay_create(oo->path, top, oo->codec, oo->level, pass))
			return NULL;
		oo->created = true;
	} else {
		err_sys(oo->path, errno, "cannot stat");
		return NULL;
	}
	o = overlay_open_msg(oo->path, O_RDWR, "cannot use as overlay");
	if (!o)
		return NULL;
	if (!oo->created && oo->codec >= 0) {
		ovl_refuse(oo->path, "--compress is only for a new overlay");
		goto fail;
	}
	if (memcmp(o->img.chain_uuid, top->img.chain_uuid, 16)) {
		ovl_refuse(oo->path, "belongs to another chain");
		goto fail;
	}
	if (spf_check_link(&o->img, &top->img, &msg)) {
		char *why = xasprintf("its parent is not %s: %s", top->path,
				      msg.text);

		ovl_refuse(oo->path, why);
		free(why);
		goto fail;
	}
	if (overlay_attached(o->dev, o->ino, &idx)) {
		char *why = xasprintf("already attached as /dev/spf%u", idx);

		ovl_refuse(oo->path, why);
		free(why);
		goto fail;
	}
	if (o->img.encrypted && overlay_unlock(o, pass))
		goto fail;
	return o;
fail:
	overlay_close(o);
	return NULL;
}

static int attach_chain_ovl(const char *image, struct chain_args *ca,
			    const char *key_file, u32 flags, u64 cache,
			    struct ovl_opts *oo, unsigned int *index)
{
	struct spf_chain *c = NULL;
	struct overlay *ov = NULL;
	struct pass pass = { 0 };
	unsigned int idx;
	char devname[32];
	int ctl = -1, ret = EXIT_FAIL;

	/* A writable attach checks its overlay first, driver or not. */
	if (!oo) {
		ctl = open_control();
		if (ctl < 0)
			return EXIT_FAIL;
	}
	raise_nofile_limit();
	c = chain_open(image, ca->files, ca->n);
	if (!c)
		goto out;
	if (oo ? chain_unlock_keep(c, key_file, &pass) :
		 chain_unlock(c, key_file, false))
		goto out;
	if (c->n > SPF_MAX_DEPTH + 1) {
		err_msg(image, "chain of %u images is too deep", c->n);
		goto out;
	}
	if (oo) {
		ov = ovl_prepare(c, oo, &pass);
		if (!ov)
			goto out;
		ctl = open_control();
		if (ctl < 0)
			goto out;
	}
	ret = do_attach(ctl, c, ov, flags, cache, &idx);
	if (ret) {
		if (ret < 0)
			attach_error(image, ret);
		ret = EXIT_FAIL;
		goto out;
	}
	if (wait_nodes(idx)) {
		err_msg(image, "timed out waiting for /dev/spf%u and its partitions; detached",
			idx);
		detach_index(ctl, idx);
		ret = EXIT_FAIL;
		goto out;
	}
	snprintf(devname, sizeof(devname), "/dev/spf%u", idx);
	wait_udev(devname);
	*index = idx;
	ret = EXIT_OK;
out:
	/* A new overlay the kernel never took holds nothing: remove it. */
	if (ret && oo && oo->created)
		unlink(oo->path);
	overlay_close(ov);
	pass_free(&pass);
	chain_close(c);		/* wipes the unwrapped keys */
	if (ctl >= 0)
		close(ctl);
	return ret;
}

int attach_chain(const char *image, struct chain_args *ca,
		 const char *key_file, u32 flags, u64 cache, unsigned int *index)
{
	return attach_chain_ovl(image, ca, key_file, flags, cache, NULL,
				index);
}

static int attach(const char *image, struct chain_args *ca,
		  const char *key_file, u32 flags, u64 cache,
		  struct ovl_opts *oo)
{
	unsigned int idx;
	int ret = attach_chain_ovl(image, ca, key_file, flags, cache, oo,
				   &idx);

	if (!ret)
		printf("/dev/spf%u\n", idx);
	if (!ret && oo)
		fprintf(stderr, PROG ": /dev/spf%u: writable; writes go to %s%s; `spfctl detach /dev/spf%u` seals it\n",
			idx, oo->path, oo->created ? " (new)" : "", idx);
	return ret;
}

/* --compress CODEC[:LEVEL] */
static int parse_compress(const char *arg, struct ovl_opts *oo)
{
	char *name = xstrdup(arg), *colon = strchr(name, ':');
	int min, max, ret = 0;
	u64 v;

	if (colon)
		*colon++ = '\0';
	oo->codec = codec_from_name(name);
	if (oo->codec < 0) {
		ret = usage_error(&attach_desc, "invalid codec '%s' (none, deflate, zstd or lz4)",
				  name);
	} else if (colon && (!codec_level_range(oo->codec, &min, &max) ||
			     parse_uint(colon, min, max, &v))) {
		ret = codec_level_range(oo->codec, &min, &max) ?
		      usage_error(&attach_desc, "invalid level '%s' for %s (%d to %d)",
				  colon, name, min, max) :
		      usage_error(&attach_desc, "%s takes no level", name);
	} else if (colon) {
		oo->level = v;
	}
	free(name);
	return ret;
}

int cmd_attach(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key-file",	 required_argument, NULL, 'k' },
		{ "chain",	 required_argument, NULL, 'C' },
		{ "no-partscan", no_argument,       NULL, 'P' },
		{ "lazy",	 no_argument,       NULL, 'L' },
		{ "cache",	 required_argument, NULL, 'c' },
		{ "key-via",	 required_argument, NULL, 'V' },
		{ "writable",	 no_argument,       NULL, 'w' },
		{ "overlay",	 required_argument, NULL, 'o' },
		{ "compress",	 required_argument, NULL, 'Z' },
		{ "no-verify",	 no_argument,       NULL, 'N' },
		{ "verify",	 required_argument, NULL, 'Y' },
		{ "log-compress", no_argument,      NULL, 'G' },
		{ "help",	 no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ovl_opts oo = { .codec = -1, .level = -1 };
	struct chain_args ca = { 0 };
	const char *key_file = NULL;
	bool writable = false, compress = false;
	u32 flags = 0;
	u64 cache = 0;
	char *image;
	int c, ret = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, ":k:PLc:wo:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'k': key_file = optarg; break;
		case 'w': writable = true; break;
		case 'o': oo.path = optarg; break;
		case 'Z':
			compress = true;
			if (parse_compress(optarg, &oo))
				goto out;
			break;
		case 'C': chain_args_add(&ca, optarg); break;
		case 'P': flags |= SPF_ATTACH_F_NO_PARTSCAN; break;
		case 'L': flags |= SPF_ATTACH_F_AUTOCLEAR; break;
		case 'N': attach_verify = VERIFY_NEVER; break;
		case 'Y':
			if (!strcmp(optarg, "always")) {
				attach_verify = VERIFY_ALWAYS;
			} else if (!strcmp(optarg, "once")) {
				attach_verify = VERIFY_ONCE;
			} else if (!strcmp(optarg, "never")) {
				attach_verify = VERIFY_NEVER;
			} else {
				usage_error(&attach_desc, "invalid --verify '%s' (always, once or never)",
					    optarg);
				goto out;
			}
			break;
		case 'G': flags |= SPF_ATTACH_F_LOG_COMPRESS; break;
		case 'c':
			if (parse_size(optarg, &cache)) {
				usage_error(&attach_desc, "invalid cache size '%s'",
					    optarg);
				goto out;
			}
			break;
		case 'V':
			if (!strcmp(optarg, "keyring")) {
				attach_key_via = KEY_VIA_KEYRING;
			} else if (!strcmp(optarg, "ioctl")) {
				attach_key_via = KEY_VIA_IOCTL;
			} else {
				usage_error(&attach_desc, "invalid --key-via '%s' (keyring or ioctl)",
					    optarg);
				goto out;
			}
			break;
		case 'h':
			attach_help();
			ret = EXIT_OK;
			goto out;
		default:
			bad_option(&attach_desc, c, argv);
			goto out;
		}
	}
	if (take_args(&attach_desc, argc, argv, 1, &ca, &image))
		goto out;
	if (writable != !!oo.path) {
		usage_error(&attach_desc, writable ? "--writable needs --overlay FILE" :
			    "--overlay needs --writable");
		goto out;
	}
	if (compress && !writable) {
		usage_error(&attach_desc, "--compress needs --writable --overlay");
		goto out;
	}
	if ((flags & SPF_ATTACH_F_LOG_COMPRESS) && !writable) {
		usage_error(&attach_desc, "--log-compress needs --writable --overlay");
		goto out;
	}
	if (writable && (flags & SPF_ATTACH_F_AUTOCLEAR)) {
		usage_error(&attach_desc, "--lazy cannot be used with --writable (the overlay is sealed by spfctl detach)");
		goto out;
	}
	ret = attach(image, &ca, key_file, flags, cache,
		     writable ? &oo : NULL);
out:
	chain_args_free(&ca);
	return ret;
}

/* ---- detach ---- */

static const struct cmd_desc detach_desc = {
	"detach", "detach [--lazy] [--discard] [--key-file FILE] DEVICE|IMAGE... | --all",
};

static void detach_help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Remove /dev/spfN devices.  DEVICE is /dev/spfN or spfN; IMAGE removes\n"
	       "every device whose top image is that file.  A writable device's\n"
	       "overlay is sealed once the device is gone: it becomes an incremental\n"
	       "on top of the device's image, in place.  If sealing fails, the device\n"
	       "is still detached; `spfctl recover OVERLAY` finishes the job.\n\n"
	       "Options:\n"
	       "  -a, --all            remove every spf device\n"
	       "  -L, --lazy           detach on last close when a device is in use\n"
	       "                       (not for a writable device)\n"
	       "  -D, --discard        delete a writable device's overlay instead of\n"
	       "                       sealing it: its writes are lost\n"
	       "  -k, --key-file FILE  passphrase of an encrypted overlay (- for\n"
	       "                       stdin); otherwise it is asked for on the terminal\n"
	       "  -h, --help           show this help\n",
	       detach_desc.usage);
}

/* Whether /sys/block/spfN/@attr reads "1". */
static bool sysfs_read_flag(unsigned int idx, const char *attr)
{
	char *v = sysfs_read(idx, attr);
	bool set = v && v[0] == '1';

	free(v);
	return set;
}

int detach_one(int ctl, unsigned int idx, bool lazy)
{
	struct spf_detach d = { .index = idx };
	char dev[32];

	snprintf(dev, sizeof(dev), "/dev/spf%u", idx);
	if (lazy)
		d.flags = SPF_DETACH_F_LAZY;
	if (!ioctl(ctl, SPF_IOC_DETACH, &d))
		return 0;
	if (errno == EBUSY && !lazy && sysfs_read_flag(idx, "spf/writable"))
		err_msg(dev, "detach failed: device is in use (a writable device is detached, and its overlay sealed, once nothing uses it)");
	else if (errno == EBUSY)
		err_msg(dev, "detach failed: device is in use (use --lazy to detach on last close)");
	else if (errno == ENXIO || errno == ENODEV || errno == ENOENT)
		err_msg(dev, "detach failed: no such device");
	else
		err_sys(dev, errno, "detach failed");
	return -1;
}

struct detach_opts {
	bool lazy;
	bool discard;
	const char *key_file;
};

/* Detach N and, if it was writable, seal (or discard) its overlay. */
static int detach_dev(int ctl, unsigned int idx, const struct detach_opts *o)
{
	char *overlay = NULL, *files = NULL, *parent = NULL;
	u64 writable = 0;
	int ret;

	if (sysfs_u64(idx, "spf/writable", &writable) && writable) {
		overlay = sysfs_read(idx, "spf/overlay");
		if (!overlay || !*overlay) {
			err_msg(NULL, "/dev/spf%u: detach failed: cannot read its overlay's name from sysfs",
				idx);
			free(overlay);
			return -1;
		}
		if (o->lazy) {
			free(overlay);
			return usage_error(&detach_desc,
					   "/dev/spf%u is writable: --lazy would leave its overlay unsealed; detach it when it is no longer in use",
					   idx);
		}
		files = sysfs_read(idx, "spf/backing_files");
		if (files)
			parent = xstrdup(last_line(files));
	}
	ret = detach_one(ctl, idx, o->lazy);
	if (!ret && overlay) {
		if (o->discard) {
			if (unlink(overlay)) {
				err_sys(overlay, errno, "cannot delete the overlay");
				ret = -1;
			} else {
				printf(PROG ": discarded %s\n", overlay);
			}
		} else if (overlay_finish(overlay, parent, o->key_file,
					  false, true)) {
			err_msg(overlay, "not sealed (/dev/spf%u is detached); run spfctl recover %s",
				idx, overlay);
			ret = -1;
		}
	}
	free(overlay);
	free(files);
	free(parent);
	return ret;
}

/* "/dev/spfN" or "spfN" -> N. */
static int parse_device(const char *arg, unsigned int *idx)
{
	const char *name = strncmp(arg, "/dev/", 5) ? arg : arg + 5;
	char extra;

	return sscanf(name, "spf%u%c", idx, &extra) == 1 ? 0 : -1;
}

/* Devices whose top backing file is @image (same file). */
/* Results of several detaches: a usage error wins, then a failure. */
static int detach_merge(int a, int b)
{
	if (a == EXIT_USAGE || b == EXIT_USAGE)
		return EXIT_USAGE;
	return a || b ? -1 : 0;
}

static int detach_image(int ctl, const char *image,
			const struct detach_opts *o)
{
	unsigned int *v, n = list_devices(&v), i, found = 0;
	struct stat want, st;
	int ret = 0;

	if (stat(image, &want)) {
		err_sys(image, errno, "cannot stat");
		free(v);
		return -1;
	}
	for (i = 0; i < n; i++) {
		char *files = sysfs_read(v[i], "spf/backing_files");

		if (files && !stat(last_line(files), &st) &&
		    st.st_dev == want.st_dev && st.st_ino == want.st_ino) {
			found++;
			ret = detach_merge(ret, detach_dev(ctl, v[i], o));
		}
		free(files);
	}
	free(v);
	if (!found) {
		err_msg(image, "detach failed: not attached");
		return -1;
	}
	return ret;
}

static int detach_arg(int ctl, const char *arg, const struct detach_opts *o)
{
	unsigned int idx;
	struct stat st;

	if (!parse_device(arg, &idx))
		return detach_dev(ctl, idx, o);
	if (!stat(arg, &st) && S_ISBLK(st.st_mode)) {
		err_msg(arg, "detach failed: not an spf device");
		return -1;
	}
	return detach_image(ctl, arg, o);
}

static int detach_all(int ctl, const struct detach_opts *o)
{
	unsigned int *v, n = list_devices(&v), i;
	int ret = 0;

	for (i = 0; i < n; i++)
		ret = detach_merge(ret, detach_dev(ctl, v[i], o));
	free(v);
	return ret;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all",	no_argument, NULL, 'a' },
		{ "lazy",	no_argument, NULL, 'L' },
		{ "discard",	no_argument, NULL, 'D' },
		{ "key-file",	required_argument, NULL, 'k' },
		{ "help",	no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct detach_opts o = { 0 };
	bool all = false;
	int c, i, ctl, ret = 0;

	while ((c = getopt_long(argc, argv, ":aLDk:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'L': o.lazy = true; break;
		case 'D': o.discard = true; break;
		case 'k': o.key_file = optarg; break;
		case 'h': detach_help(); return EXIT_OK;
		default: return bad_option(&detach_desc, c, argv);
		}
	}
	if (all == (optind < argc))
		return usage_error(&detach_desc, all ?
				   "--all takes no other argument" :
				   "missing argument");
	if (o.lazy && o.discard)
		return usage_error(&detach_desc, "--discard cannot be used with --lazy");
	ctl = open_control();
	if (ctl < 0)
		return EXIT_FAIL;
	if (all)
		ret = detach_all(ctl, &o);
	for (i = optind; i < argc; i++)
		ret = detach_merge(ret, detach_arg(ctl, argv[i], &o));
	close(ctl);
	return ret == EXIT_USAGE ? EXIT_USAGE : ret ? EXIT_FAIL : EXIT_OK;
}

/* ---- list ---- */

static const struct cmd_desc list_desc = {
	"list", "list [--json] [--bytes] [--noheadings]",
};

static void list_help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "List the attached spf devices: DEVICE, IMAGE (the top image), DEPTH\n"
	       "(images in the chain), SIZE, CODEC (of each image, base first),\n"
	       "ENCRYPTED, VERIFY (0 if attached with --verify=never), VERIFY-MODE\n"
	       "(always, once or never), CACHE (extent cache in use / budget),\n"
	       "WRITABLE and OVERLAY (a writable device's write-back overlay, else\n"
	       "-).\n\n"
	       "Options:\n"
	       "  -J, --json        typed JSON output (cache as two numbers)\n"
	       "  -b, --bytes       sizes in bytes\n"
	       "  -n, --noheadings  no header line\n"
	       "  -h, --help        show this help\n",
	       list_desc.usage);
}

struct list_opts {
	bool json, bytes, noheadings;
};

enum { COL_DEVICE, COL_IMAGE, COL_DEPTH, COL_SIZE, COL_CODEC, COL_ENC,
       COL_VERIFY, COL_VERIFY_MODE, COL_CACHE, COL_CACHE_BYTES,
       COL_CACHE_BUDGET, COL_WRITABLE, COL_OVERLAY, NR_COLS };

static const struct {
	const char *name;
	double width;
	int flags;
	int json_type;
} cols[NR_COLS] = {
	[COL_DEVICE]	   = { "DEVICE", 0.1, 0, SCOLS_JSON_STRING },
	[COL_IMAGE]	   = { "IMAGE", 0.4, SCOLS_FL_NOEXTREMES,
			       SCOLS_JSON_STRING },
	[COL_DEPTH]	   = { "DEPTH", 0.05, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[COL_SIZE]	   = { "SIZE", 0.1, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[COL_CODEC]	   = { "CODEC", 0.1, 0, SCOLS_JSON_STRING },
	[COL_ENC]	   = { "ENCRYPTED", 0.05, SCOLS_FL_RIGHT,
			       SCOLS_JSON_BOOLEAN },
	[COL_VERIFY]	   = { "VERIFY", 0.05, SCOLS_FL_RIGHT,
			       SCOLS_JSON_BOOLEAN },
	[COL_VERIFY_MODE]  = { "VERIFY-MODE", 0.05, 0, SCOLS_JSON_STRING },
	[COL_CACHE]	   = { "CACHE", 0.15, SCOLS_FL_RIGHT, SCOLS_JSON_STRING },
	[COL_CACHE_BYTES]  = { "CACHE-BYTES", 0.1, SCOLS_FL_RIGHT,
			       SCOLS_JSON_NUMBER },
	[COL_CACHE_BUDGET] = { "CACHE-BUDGET", 0.1, SCOLS_FL_RIGHT,
			       SCOLS_JSON_NUMBER },
	[COL_WRITABLE]	   = { "WRITABLE", 0.05, SCOLS_FL_RIGHT,
			       SCOLS_JSON_BOOLEAN },
	[COL_OVERLAY]	   = { "OVERLAY", 0.3, SCOLS_FL_NOEXTREMES,
			       SCOLS_JSON_STRING },
};

static bool col_shown(const struct list_opts *o, int col)
{
	if (col == COL_CACHE)
		return !o->json;
	if (col == COL_CACHE_BYTES || col == COL_CACHE_BUDGET)
		return o->json;
	return true;
}

static char *fmt_size(const struct list_opts *o, u64 v)
{
	char buf[32];

	if (o->bytes || o->json)
		return xasprintf("%llu", (unsigned long long)v);
	return xstrdup(size_human(v, buf));
}

/* Distinct codecs, base first: "zstd" or "zstd,lz4". */
static char *codecs_of(unsigned int idx)
{
	char *s = sysfs_read(idx, "spf/codecs"), *out, *tok, *save = NULL;
	size_t len = 0;

	if (!s)
		return xstrdup("-");
	out = xzalloc(strlen(s) + 2);
	for (tok = strtok_r(s, "\n", &save); tok;
	     tok = strtok_r(NULL, "\n", &save)) {
		char *hit = strstr(out, tok);
		size_t tl = strlen(tok);

		if (hit && (hit == out || hit[-1] == ',') &&
		    (hit[tl] == ',' || !hit[tl]))
			continue;
		len += sprintf(out + len, "%s%s", len ? "," : "", tok);
	}
	free(s);
	return out;
}

static char *cell(const struct list_opts *o, unsigned int idx, int col)
{
	char *s, b1[32], b2[32];
	u64 v = 0, w = 0;

	switch (col) {
	case COL_DEVICE:
		return xasprintf("/dev/spf%u", idx);
	case COL_IMAGE:
		s = sysfs_read(idx, "spf/backing_files");
		if (s) {
			char *top = xstrdup(last_line(s));

			free(s);
			return top;
		}
		return xstrdup("-");
	case COL_DEPTH:
		sysfs_u64(idx, "spf/nr_layers", &v);
		return xasprintf("%llu", (unsigned long long)v);
	case COL_SIZE:
		sysfs_u64(idx, "size", &v);
		return fmt_size(o, v * 512);
	case COL_CODEC:
		return codecs_of(idx);
	case COL_ENC:
		sysfs_u64(idx, "spf/encrypted", &v);
		return xstrdup(v ? "1" : "0");
	case COL_VERIFY:
		/* A driver without the attribute always verifies. */
		v = 1;
		sysfs_u64(idx, "spf/verify", &v);
		return xstrdup(v ? "1" : "0");
	case COL_VERIFY_MODE:
		v = 1;
		sysfs_u64(idx, "spf/verify", &v);
		sysfs_u64(idx, "spf/verify_once", &w);
		return xstrdup(!v ? "never" : w ? "once" : "always");
	case COL_CACHE:
		sysfs_u64(idx, "spf/cache_bytes", &v);
		sysfs_u64(idx, "spf/cache_budget", &w);
		if (o->bytes)
			return xasprintf("%llu/%llu", (unsigned long long)v,
					 (unsigned long long)w);
		return xasprintf("%s/%s", size_human(v, b1),
				 size_human(w, b2));
	case COL_CACHE_BYTES:
		sysfs_u64(idx, "spf/cache_bytes", &v);
		return xasprintf("%llu", (unsigned long long)v);
	case COL_CACHE_BUDGET:
		sysfs_u64(idx, "spf/cache_budget", &v);
		return xasprintf("%llu", (unsigned long long)v);
	case COL_WRITABLE:
		sysfs_u64(idx, "spf/writable", &v);
		return xstrdup(v ? "1" : "0");
	case COL_OVERLAY:
		s = sysfs_read(idx, "spf/overlay");
		if (s && *s)
			return s;
		free(s);
		return o->json ? NULL : xstrdup("-");
	}
	return xstrdup("");
}

static int list_build(struct libscols_table *tb, const struct list_opts *o)
{
	unsigned int *v, n = list_devices(&v), i;
	int col, k, ret = 0;

	for (i = 0; i < n && !ret; i++) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);

		if (!ln) {
			ret = -ENOMEM;
			break;
		}
		for (col = 0, k = 0; col < NR_COLS; col++) {
			if (!col_shown(o, col))
				continue;
			if (scols_line_refer_data(ln, k++, cell(o, v[i], col)))
				ret = -ENOMEM;
		}
	}
	free(v);
	return ret;
}

static int list(const struct list_opts *o)
{
	struct libscols_table *tb = scols_new_table();
	int col, ret = -ENOMEM;

	if (!tb)
		goto fail;
	scols_table_enable_json(tb, o->json);
	scols_table_set_name(tb, "spfdevices");
	scols_table_enable_noheadings(tb, o->noheadings);
	for (col = 0; col < NR_COLS; col++) {
		struct libscols_column *cl;

		if (!col_shown(o, col))
			continue;
		cl = scols_table_new_column(tb, cols[col].name,
					    cols[col].width, cols[col].flags);
		if (!cl)
			goto fail;
		scols_column_set_json_type(cl, cols[col].json_type);
	}
	ret = list_build(tb, o);
	if (!ret)
		ret = scols_print_table(tb);
fail:
	scols_unref_table(tb);
	if (ret) {
		err_sys(NULL, ret, "cannot print the device list");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument, NULL, 'J' },
		{ "bytes",	no_argument, NULL, 'b' },
		{ "noheadings",	no_argument, NULL, 'n' },
		{ "help",	no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct list_opts o = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, ":Jbnh", longopts, NULL)) != -1) {
		switch (c) {
		case 'J': o.json = true; break;
		case 'b': o.bytes = true; break;
		case 'n': o.noheadings = true; break;
		case 'h': list_help(); return EXIT_OK;
		default: return bad_option(&list_desc, c, argv);
		}
	}
	if (optind < argc)
		return usage_error(&list_desc, "unexpected argument '%s'",
				   argv[optind]);
	return list(&o);
}
