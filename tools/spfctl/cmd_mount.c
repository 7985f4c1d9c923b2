// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl mount and umount: take one file system out of a backup without
 * the attach / find the partition / mount / umount / detach dance.
 *
 * mount attaches the chain with autoclear (cmd_device.c's attach_chain()),
 * finds the file system with libblkid and mounts it read-only; umount
 * unmounts it and makes sure the device goes away.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <blkid.h>
#include <linux/spfblk.h>

#include "cmd.h"

#define GONE_WAIT_MS	5000

/* ---- mount ---- */

static const struct cmd_desc mount_desc = {
	"mount", "mount [OPTIONS] IMAGE [PARTITION] MOUNTPOINT",
};

static void mount_help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Attach the chain that ends at IMAGE (as attach --lazy: the device goes\n"
	       "away once unmounted) and mount one of its file systems on MOUNTPOINT,\n"
	       "read-only, nosuid and nodev.  PARTITION is N for /dev/spfXpN.\n"
	       "Without it: the only partition that holds a file system, or the whole\n"
	       "disk if it has no partitions; otherwise the partitions are listed and\n"
	       "PARTITION is needed.  The type comes from libblkid; ext3/ext4, xfs\n"
	       "and f2fs are mounted with norecovery and btrfs with\n"
	       "rescue=nologreplay, as a read-only device cannot replay a journal.\n"
	       "Undo with spfctl umount.\n\n"
	       "Options:\n"
	       "  -k, --key-file FILE  passphrase of an encrypted chain (- for stdin);\n"
	       "                       otherwise it is asked for on the terminal\n"
	       "      --chain FILE     one of the chain's images (repeat the option)\n"
	       "                       instead of finding them in IMAGE's directory\n"
	       "  -c, --cache SIZE     extent cache budget (e.g. 64M); default: the\n"
	       "                       module's\n"
	       "  -t, --type FSTYPE    file system type to mount as (default: detected)\n"
	       "  -o, --options OPTS   more file system options (comma-separated)\n"
	       "  -m, --mkdir          create MOUNTPOINT if it does not exist\n"
	       "  -h, --help           show this help\n",
	       mount_desc.usage);
}

struct mount_opts {
	const char *key_file, *type, *options;
	struct chain_args ca;
	u64 cache;
	bool mkdir;
};

/* What libblkid finds on one block device. */
struct probed {
	char type[32];
	bool fs;		/* USAGE=filesystem */
	bool ambiguous;
};

/*
 * O_NONBLOCK: to spfblk (as for udev's probe) this open is a probe, which
 * does not arm autoclear, so closing it does not remove the device.
 */
static void probe(const char *dev, struct probed *p)
{
	int fd = open(dev, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	blkid_probe pr = fd < 0 ? NULL : blkid_new_probe();
	const char *v;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!pr || blkid_probe_set_device(pr, fd, 0, 0)) {
		if (pr)
			blkid_free_probe(pr);
		if (fd >= 0)
			close(fd);
		return;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_USAGE);
	rc = blkid_do_safeprobe(pr);
	if (rc == -2) {
		p->ambiguous = true;
	} else if (!rc) {
		if (!blkid_probe_lookup_value(pr, "TYPE", &v, NULL))
			snprintf(p->type, sizeof(p->type), "%s", v);
		p->fs = !blkid_probe_lookup_value(pr, "USAGE", &v, NULL) &&
			!strcmp(v, "filesystem") && p->type[0];
	}
	blkid_free_probe(pr);
	close(fd);
}

/* Partition numbers of /dev/spfN (from sysfs), sorted. */
static unsigned int partitions(unsigned int idx, unsigned int **out)
{
	char *sys = xasprintf("/sys/block/spf%u", idx);
	char *prefix = xasprintf("spf%up", idx);
	unsigned int *v = NULL, n = 0, i, j, num;
	struct dirent *d;
	DIR *dp = opendir(sys);
	char extra;

	while (dp && (d = readdir(dp))) {
		if (strncmp(d->d_name, prefix, strlen(prefix)) ||
		    sscanf(d->d_name + strlen(prefix), "%u%c", &num,
			   &extra) != 1)
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		for (i = n++; i > 0 && v[i - 1] > num; i--)
			v[i] = v[i - 1];
		v[i] = num;
	}
	if (dp)
		closedir(dp);
	for (i = j = 0; i < n; i++)	/* no duplicates */
		if (!j || v[j - 1] != v[i])
			v[j++] = v[i];
	free(sys);
	free(prefix);
	*out = v;
	return j;
}

/* "  /dev/spfNpM  TYPE" for each partition, on stderr. */
static void list_partitions(unsigned int idx, const unsigned int *parts,
			    unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		char *dev = xasprintf("/dev/spf%up%u", idx, parts[i]);
		struct probed p;

		probe(dev, &p);
		fprintf(stderr, "  %-2u %-16s %s\n", parts[i], dev,
			p.ambiguous ? "(ambiguous)" :
			p.type[0] ? p.type : "(no file system)");
		free(dev);
	}
}

/*
 * Choose the device to mount: /dev/spfNpM for @part (0: choose).  Returns
 * the path (to free) with its probe in *@p, or NULL (printed).
 */
static char *choose(unsigned int idx, unsigned int part, struct probed *p)
{
	unsigned int *parts, n = partitions(idx, &parts), i, nfs = 0, pick = 0;
	char *disk = xasprintf("/dev/spf%u", idx), *dev = NULL;

	if (part) {
		for (i = 0; i < n && parts[i] != part; i++)
			;
		if (i == n) {
			if (n) {
				err_msg(disk, "no partition %u; it has:", part);
				list_partitions(idx, parts, n);
			} else {
				err_msg(disk, "no partition %u: the disk has no partitions",
					part);
			}
			goto out;
		}
		dev = xasprintf("/dev/spf%up%u", idx, part);
		probe(dev, p);
		goto out;
	}
	if (!n) {
		dev = xstrdup(disk);
		probe(dev, p);
		if (!p->fs && !p->ambiguous) {
			err_msg(disk, "cannot mount: no partitions and no file system on the whole disk");
			free(dev);
			dev = NULL;
		}
		goto out;
	}
	for (i = 0; i < n; i++) {
		char *pd = xasprintf("/dev/spf%up%u", idx, parts[i]);
		struct probed q;

		probe(pd, &q);
		if (q.fs) {
			nfs++;
			pick = parts[i];
		}
		free(pd);
	}
	if (nfs == 1) {
		dev = xasprintf("/dev/spf%up%u", idx, pick);
		probe(dev, p);
		goto out;
	}
	if (nfs)
		err_msg(disk, "cannot choose a partition: %u hold a file system; give PARTITION, one of:",
			nfs);
	else
		err_msg(disk, "cannot mount: none of its %u partitions holds a file system:",
			n);
	list_partitions(idx, parts, n);
out:
	free(parts);
	free(disk);
	return dev;
}

/* Options that keep a read-only mount from replaying a journal. */
static const char *norecovery(const char *type)
{
	static const struct {
		const char *type, *opt;
	} t[] = {
		{ "ext3", "norecovery" }, { "ext4", "norecovery" },
		{ "xfs", "norecovery" },  { "f2fs", "norecovery" },
		{ "btrfs", "rescue=nologreplay" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++)
		if (!strcmp(type, t[i].type))
			return t[i].opt;
	return NULL;
}

/*
 * mount(2) @dev read-only, nosuid, nodev (a backup's set-uid files and
 * device nodes stay inert); ntfs tries ntfs3 first.  0 or -errno.
 */
static int do_mount(const char *dev, const char *type, const char *mp,
		    const char *extra, const char **used)
{
	const char *types[2] = { type, NULL };
	const char *nr = norecovery(type);
	char *data;
	int i, ret = -ENODEV;

	if (!strcmp(type, "ntfs")) {
		types[0] = "ntfs3";
		types[1] = "ntfs";
	}
	data = xasprintf("%s%s%s", nr ? nr : "", nr && extra ? "," : "",
			 extra ? extra : "");
	for (i = 0; i < 2 && types[i]; i++) {
		*used = types[i];
		ret = mount(dev, mp, types[i],
			    MS_RDONLY | MS_NOSUID | MS_NODEV,
			    *data ? data : NULL) ? -errno : 0;
		if (ret != -ENODEV)
			break;
	}
	free(data);
	return ret;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Wait up to @ms for /sys/block/spfN to go (autoclear works in the
 * background); true if it is gone.
 */
static bool wait_gone(unsigned int idx, int ms)
{
	char *sys = xasprintf("/sys/block/spf%u", idx);
	long long end = now_ms() + ms;
	struct timespec pause = { 0, 20 * 1000000 };
	bool gone;

	while (!(gone = access(sys, F_OK) != 0) && now_ms() < end)
		nanosleep(&pause, NULL);
	free(sys);
	return gone;
}

/* Detach @idx after a failed mount, if autoclear has not already. */
static void undo_attach(unsigned int idx)
{
	int ctl = open_control();
	struct spf_detach d = { .index = idx };

	if (ctl < 0)
		return;
	ioctl(ctl, SPF_IOC_DETACH, &d);
	close(ctl);
}

static int mount_image(const char *image, const char *part_arg,
		       const char *mp, struct mount_opts *o)
{
	unsigned int idx, part = 0;
	const char *used = NULL;
	struct probed p;
	bool made = false;
	struct stat st;
	u64 v;
	char *dev;
	int ret;

	if (part_arg) {
		if (parse_uint(part_arg, 1, 4096, &v))
			return usage_error(&mount_desc,
					   "invalid partition '%s' (a number from 1)",
					   part_arg);
		part = v;
	}
	if (stat(mp, &st)) {
		if (errno != ENOENT || !o->mkdir) {
			err_sys(mp, errno, errno == ENOENT ?
				"mount point missing (--mkdir creates it)" :
				"cannot stat the mount point");
			return EXIT_FAIL;
		}
		if (mkdir(mp, 0755)) {
			err_sys(mp, errno, "cannot create the mount point");
			return EXIT_FAIL;
		}
		made = true;
	} else if (!S_ISDIR(st.st_mode)) {
		err_msg(mp, "mount failed: not a directory");
		return EXIT_FAIL;
	}
	ret = attach_chain(image, &o->ca, o->key_file,
			   SPF_ATTACH_F_AUTOCLEAR, o->cache, &idx);
	if (ret)
		goto fail;
	ret = EXIT_FAIL;
	dev = choose(idx, part, &p);
	if (!dev)
		goto fail_attached;
	if (!o->type && !p.fs) {
		if (p.ambiguous)
			err_msg(dev, "cannot mount: several file system signatures (use --type)");
		else if (p.type[0])
			err_msg(dev, "cannot mount: '%s' is not a file system",
				p.type);
		else
			err_msg(dev, "cannot mount: no file system found");
		goto fail_dev;
	}
	ret = do_mount(dev, o->type ? o->type : p.type, mp, o->options,
		       &used);
	if (ret) {
		err_sys(dev, -ret, "mount on %s as %s failed", mp, used);
		ret = EXIT_FAIL;
		goto fail_dev;
	}
	if (strchr(dev + strlen("/dev/spf"), 'p'))
		printf("%s on %s type %s (ro, partition %s of /dev/spf%u)\n",
		       dev, mp, used, strrchr(dev, 'p') + 1, idx);
	else
		printf("%s on %s type %s (ro, whole disk)\n", dev, mp, used);
	free(dev);
	return EXIT_OK;
fail_dev:
	free(dev);
fail_attached:
	undo_attach(idx);
	wait_gone(idx, GONE_WAIT_MS);
fail:
	if (made)
		rmdir(mp);
	return EXIT_FAIL;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key-file",	required_argument, NULL, 'k' },
		{ "chain",	required_argument, NULL, 'C' },
		{ "cache",	required_argument, NULL, 'c' },
		{ "type",	required_argument, NULL, 't' },
		{ "options",	required_argument, NULL, 'o' },
		{ "mkdir",	no_argument,       NULL, 'm' },
		{ "help",	no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mount_opts o = { 0 };
	int c, n, ret = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, ":k:c:t:o:mh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'k': o.key_file = optarg; break;
		case 'C': chain_args_add(&o.ca, optarg); break;
		case 't': o.type = optarg; break;
		case 'o': o.options = optarg; break;
		case 'm': o.mkdir = true; break;
		case 'c':
			if (parse_size(optarg, &o.cache)) {
				usage_error(&mount_desc, "invalid cache size '%s'",
					    optarg);
				goto out;
			}
			break;
		case 'h':
			mount_help();
			ret = EXIT_OK;
			goto out;
		default:
			bad_option(&mount_desc, c, argv);
			goto out;
		}
	}
	n = argc - optind;
	if (n < 2)
		usage_error(&mount_desc, n ? "missing argument" :
			    "missing arguments");
	else if (n > 3)
		usage_error(&mount_desc, "unexpected argument '%s'",
			    argv[optind + 3]);
	else
		ret = mount_image(argv[optind], n == 3 ? argv[optind + 1] : NULL,
				  argv[argc - 1], &o);
out:
	chain_args_free(&o.ca);
	return ret;
}

/* ---- umount ---- */

static const struct cmd_desc umount_desc = {
	"umount", "umount MOUNTPOINT",
};

static void umount_help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Unmount a file system that spfctl mount (or mount(8)) mounted from an\n"
	       "spf device, and detach the device: at once, or when its last user\n"
	       "closes it if another partition of it is still mounted.  Refuses a\n"
	       "mount point whose device is not /dev/spfN or /dev/spfNpM.\n\n"
	       "Options:\n"
	       "  -h, --help  show this help\n",
	       umount_desc.usage);
}

/* /proc/self/mountinfo's octal escapes (\040 ...), in place. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0');
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * The device (major:minor) and source of the topmost mount on @path.
 * Returns 0, or -1 if @path is not a mount point.
 */
static int find_mount(const char *path, dev_t *devno, char **source)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int ret = -1;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		unsigned int maj, min;
		char mp[PATH_MAX + 1], src[PATH_MAX + 1], *dash;

		if (sscanf(line, "%*u %*u %u:%u %*s %4096s", &maj, &min,
			   mp) != 3)
			continue;
		unescape(mp);
		if (strcmp(mp, path))
			continue;
		dash = strstr(line, " - ");
		if (!dash || sscanf(dash, " - %*s %4096s", src) != 1)
			strcpy(src, "?");
		unescape(src);
		*devno = makedev(maj, min);
		free(*source);
		*source = xstrdup(src);
		ret = 0;
	}
	free(line);
	fclose(f);
	return ret;
}

/* spfN for a dev_t of /dev/spfN or /dev/spfNpM with an spf/ group. */
static int spf_index_of(dev_t devno, unsigned int *idx)
{
	char *link = xasprintf("/sys/dev/block/%u:%u", major(devno),
			       minor(devno));
	char buf[PATH_MAX], *name, *grp;
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	unsigned int part;
	char extra;
	int ret = -1;

	free(link);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	name = strrchr(buf, '/');
	name = name ? name + 1 : buf;
	if (sscanf(name, "spf%u%c", idx, &extra) != 1 &&
	    sscanf(name, "spf%up%u%c", idx, &part, &extra) != 2)
		return -1;
	grp = xasprintf("/sys/block/spf%u/spf", *idx);
	if (!access(grp, F_OK))
		ret = 0;
	free(grp);
	return ret;
}

static int umount_path(const char *arg)
{
	char *path = realpath(arg, NULL), *source = NULL;
	unsigned int idx;
	dev_t devno;
	int ctl, ret = EXIT_FAIL;
	u64 autoclear = 0;

	if (!path) {
		err_sys(arg, errno, "umount failed");
		return EXIT_FAIL;
	}
	if (find_mount(path, &devno, &source)) {
		err_msg(arg, "umount failed: not a mount point");
		goto out;
	}
	if (spf_index_of(devno, &idx)) {
		err_msg(arg, "umount refused: %s is not an spf device", source);
		goto out;
	}
	/* Before the unmount: an autoclear device may be gone right after. */
	sysfs_u64(idx, "spf/autoclear", &autoclear);
	if (umount2(path, 0)) {
		err_sys(arg, errno, "umount failed");
		goto out;
	}
	ret = EXIT_OK;
	if (!autoclear && !wait_gone(idx, 0)) {
		/* Lazy: now if closed, else when its last user closes it. */
		ctl = open_control();
		if (ctl < 0 || detach_one(ctl, idx, true))
			ret = EXIT_FAIL;
		if (ctl >= 0)
			close(ctl);
	}
	if (!ret && !wait_gone(idx, GONE_WAIT_MS))
		fprintf(stderr, PROG ": /dev/spf%u: still in use; it is detached when its last user closes it\n",
			idx);
out:
	free(source);
	free(path);
	return ret;
}

int cmd_umount(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': umount_help(); return EXIT_OK;
		default: return bad_option(&umount_desc, c, argv);
		}
	}
	if (optind == argc)
		return usage_error(&umount_desc, "missing argument");
	if (argc - optind > 1)
		return usage_error(&umount_desc, "unexpected argument '%s'",
				   argv[optind + 1]);
	return umount_path(argv[optind]);
}
