// SPDX-License-Identifier: GPL-2.0
/*
 * The spfblk control ABI (/dev/spf-control), tested with the kselftest
 * harness: every command, every malformed input, the CAP_SYS_ADMIN check,
 * and chains the kernel must refuse by itself when handed raw file
 * descriptors (spfctl's own checks bypassed), each with exactly one kernel
 * log line.
 *
 * Runs as root in the test VM with spfblk loaded.  Images come from the
 * fixture folder $SPF_FIX (tests/vm/mkfixtures):
 *   bad/good/a.spf bad/good/b.spi  a plain chain (4 KiB chunks)
 *   bad/enc/e.spf                  an encrypted full image
 *   bad/swapped/a.spf              another chain's full image
 *   bad/cidx/a.spf                 index root block corrupted
 *   bad/trunc/a.spf                truncated by one byte
 *   bad/shadow/a.spi               a ShadowProtect file
 *   bad/junk.bin                   64 KiB of random bytes
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/spfblk.h>
#include <linux/spf_format.h>

#include "kselftest_harness.h"

#define CTL_PATH "/dev/" SPF_CONTROL_NAME

static const char *fix(const char *rel, char *buf, size_t size)
{
	const char *d = getenv("SPF_FIX");

	snprintf(buf, size, "%s/%s", d ? d : "/nonexistent", rel);
	return buf;
}

/* Attach PATHS (opened read-only); 0 and *index, or the errno. */
static int attach_paths(int ctl, const char **paths, int n,
			const struct spf_layer_key *keys, __u32 flags,
			__u32 *index)
{
	struct spf_attach a;
	__s32 fds[8];
	int i, ret, err = 0;

	for (i = 0; i < n; i++) {
		fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			return -1000 - errno;	/* fixture missing */
	}
	memset(&a, 0, sizeof(a));
	a.fds = (uintptr_t)fds;
	a.keys = (uintptr_t)keys;
	a.nr_layers = n;
	a.flags = flags;
	ret = ioctl(ctl, SPF_IOC_ATTACH, &a);
	if (ret)
		err = errno;
	else if (index)
		*index = a.index;
	for (i = 0; i < n; i++)
		close(fds[i]);
	return err;
}

static int detach(int ctl, __u32 index, __u32 flags)
{
	struct spf_detach d = { .index = index, .flags = flags };

	return ioctl(ctl, SPF_IOC_DETACH, &d) ? errno : 0;
}

static int get_info(int ctl, __u32 index, struct spf_info *info)
{
	memset(info, 0, sizeof(*info));
	info->index = index;
	return ioctl(ctl, SPF_IOC_GET_INFO, info) ? errno : 0;
}

static const char *devpath(__u32 index, char *buf, size_t size)
{
	snprintf(buf, size, "/dev/spf%u", index);
	return buf;
}

/* Wait up to 5 s for /dev/spfN and its info to be gone. */
static int wait_gone(int ctl, __u32 index)
{
	struct spf_info info;
	char p[32];
	int i;

	for (i = 0; i < 100; i++) {
		if (get_info(ctl, index, &info) == ENXIO &&
		    access(devpath(index, p, sizeof(p)), F_OK))
			return 1;
		usleep(50000);
	}
	return 0;
}

/* /dev/kmsg, positioned at its end: what the kernel logs from now on. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Count new records containing NEEDLE; the last one's text into LAST.
 * "spfN: detached" lines are not counted: an earlier test's autoclear
 * removal finishes asynchronously and may log it at any time.
 */
static int kmsg_count(int fd, const char *needle, char *last, size_t size)
{
	char rec[8192];
	int n = 0;
	ssize_t r;

	if (last && size)
		last[0] = 0;
	for (;;) {
		r = read(fd, rec, sizeof(rec) - 1);
		if (r < 0 && errno == EPIPE)
			continue;
		if (r <= 0)
			break;
		rec[r] = 0;
		if (strstr(rec, needle) && !strstr(rec, ": detached")) {
			char *msg = strchr(rec, ';');
			char *nl;

			n++;
			msg = msg ? msg + 1 : rec;
			nl = strchr(msg, '\n');
			if (nl)
				*nl = 0;
			if (last)
				snprintf(last, size, "%.400s", msg);
		}
	}
	return n;
}

static void read_header(const char *path, struct spf_header *h)
{
	int fd = open(path, O_RDONLY);

	memset(h, 0, sizeof(*h));
	if (fd >= 0) {
		if (pread(fd, h, sizeof(*h), 0) != sizeof(*h))
			memset(h, 0, sizeof(*h));
		close(fd);
	}
}

FIXTURE(ctl) {
	int fd;
	int kmsg;
	char a[512], b[512];	/* the good chain */
};

FIXTURE_SETUP(ctl)
{
	self->fd = open(CTL_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", CTL_PATH, strerror(errno));
	self->kmsg = kmsg_open();
	fix("bad/good/a.spf", self->a, sizeof(self->a));
	fix("bad/good/b.spi", self->b, sizeof(self->b));
}

FIXTURE_TEARDOWN(ctl)
{
	close(self->fd);
	if (self->kmsg >= 0)
		close(self->kmsg);
}

/* ---- features ---- */

TEST_F(ctl, features)
{
	struct spf_features f;
	const __u64 want = SPF_FEAT_DEFLATE | SPF_FEAT_ZSTD | SPF_FEAT_LZ4 |
			   SPF_FEAT_AES_GCM | SPF_FEAT_AUTOCLEAR |
			   SPF_FEAT_KEYRING | SPF_FEAT_WRITABLE |
			   SPF_FEAT_NO_VERIFY | SPF_FEAT_LOG_COMPRESS |
			   SPF_FEAT_VERIFY_ONCE;
	unsigned int i;

	memset(&f, 0xa5, sizeof(f));
	ASSERT_EQ(0, ioctl(self->fd, SPF_IOC_GET_FEATURES, &f))
		TH_LOG("GET_FEATURES: %s", strerror(errno));
	EXPECT_EQ(want, f.features & want);
	EXPECT_EQ((__u64)SPF_ATTACH_F_ALL, f.attach_flags);
	EXPECT_EQ((__u64)SPF_INCOMPAT_SUPPORTED, f.incompat);
	EXPECT_LE(101U, f.max_layers);
	EXPECT_LE(8U, f.max_devices);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0ULL, f.reserved[i]);
}

/* ---- malformed attach ---- */

static int attach_raw(int ctl, struct spf_attach *a)
{
	return ioctl(ctl, SPF_IOC_ATTACH, a) ? errno : 0;
}

static void good_attach(struct spf_attach *a, __s32 *fd, const char *path)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	memset(a, 0, sizeof(*a));
	a->fds = (uintptr_t)fd;
	a->nr_layers = 1;
}

/* Unknown flags, WRITABLE or LOG_COMPRESS with no overlay, and
 * VERIFY_ONCE with NO_VERIFY. */
TEST_F(ctl, attach_unknown_flags)
{
	__u32 bad[] = { SPF_ATTACH_F_WRITABLE, SPF_ATTACH_F_LOG_COMPRESS,
			SPF_ATTACH_F_LOG_COMPRESS | SPF_ATTACH_F_NO_VERIFY,
			SPF_ATTACH_F_VERIFY_ONCE | SPF_ATTACH_F_NO_VERIFY,
			1U << 16, 1U << 31, ~0U };
	struct spf_attach a;
	unsigned int i;
	__s32 fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		good_attach(&a, &fd, self->a);
		ASSERT_LE(0, fd);
		a.flags = bad[i];
		EXPECT_EQ(EINVAL, attach_raw(self->fd, &a))
			TH_LOG("flags %#x", bad[i]);
		close(fd);
	}
}

/* SPF_ATTACH_F_KEYRING: keys must point to NUL-terminated, zero-padded
 * descriptions (tests/vm/guest/75-keys.sh covers the key look-ups). */
TEST_F(ctl, attach_keyring_malformed)
{
	struct spf_layer_keydesc d;
	struct spf_attach a;
	__s32 fd;

	good_attach(&a, &fd, self->a);
	ASSERT_LE(0, fd);
	a.flags = SPF_ATTACH_F_KEYRING;
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("keys = 0");
	a.keys = (uintptr_t)&d;
	memset(&d, 'x', sizeof(d));
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("no NUL");
	memset(&d, 0, sizeof(d));
	strcpy(d.desc, "spfabi:test");
	d.desc[SPF_KEYDESC_SIZE - 1] = 'x';
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("bytes after the NUL");
	d.desc[SPF_KEYDESC_SIZE - 1] = 0;
	EXPECT_EQ(ENOKEY, attach_raw(self->fd, &a)) TH_LOG("no such key");
	a.keys = 8;
	EXPECT_EQ(EFAULT, attach_raw(self->fd, &a)) TH_LOG("bad pointer");
	close(fd);
}

TEST_F(ctl, attach_nonzero_reserved)
{
	struct spf_attach a;
	int i;
	__s32 fd;

	good_attach(&a, &fd, self->a);
	ASSERT_LE(0, fd);
	a.overlay_fd = 1;
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("overlay_fd without SPF_ATTACH_F_WRITABLE");
	for (i = 0; i < 4; i++) {
		a.overlay_fd = 0;
		memset(a.reserved, 0, sizeof(a.reserved));
		a.reserved[i] = 1ULL << 40;
		EXPECT_EQ(EINVAL, attach_raw(self->fd, &a))
			TH_LOG("reserved[%d]", i);
	}
	a.index = 7;	/* an output: ignored on input */
	memset(a.reserved, 0, sizeof(a.reserved));
	close(fd);
}

TEST_F(ctl, attach_zero_layers)
{
	struct spf_attach a;
	__s32 fd;

	good_attach(&a, &fd, self->a);
	a.nr_layers = 0;
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a));
	close(fd);
}

TEST_F(ctl, attach_too_many_layers)
{
	struct spf_features f;
	struct spf_attach a;
	__s32 fd;

	memset(&f, 0, sizeof(f));
	ASSERT_EQ(0, ioctl(self->fd, SPF_IOC_GET_FEATURES, &f));
	good_attach(&a, &fd, self->a);
	a.nr_layers = f.max_layers + 1;
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("max_layers + 1");
	a.nr_layers = SPF_MAX_DEPTH + 2;
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("SPF_MAX_DEPTH + 2");
	a.nr_layers = ~0U;
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("2^32 - 1");
	close(fd);
}

TEST_F(ctl, attach_bad_fd)
{
	struct spf_attach a;
	__s32 fds[2] = { -1, -1 };
	int good;

	memset(&a, 0, sizeof(a));
	a.fds = (uintptr_t)fds;
	a.nr_layers = 1;
	EXPECT_EQ(EBADF, attach_raw(self->fd, &a)) TH_LOG("fd -1");
	fds[0] = 1000;	/* not open */
	EXPECT_EQ(EBADF, attach_raw(self->fd, &a)) TH_LOG("fd 1000");
	good = open(self->a, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, good);
	fds[0] = good;
	fds[1] = 1001;
	a.nr_layers = 2;
	EXPECT_EQ(EBADF, attach_raw(self->fd, &a)) TH_LOG("second fd not open");
	close(good);
}

TEST_F(ctl, attach_bad_pointers)
{
	struct spf_attach a;
	__s32 fd;
	int e;

	good_attach(&a, &fd, self->a);
	a.fds = 0;
	e = attach_raw(self->fd, &a);
	EXPECT_TRUE(e == EINVAL || e == EFAULT) TH_LOG("fds = NULL: %s", strerror(e));
	a.fds = 16;	/* unmapped */
	EXPECT_EQ(EFAULT, attach_raw(self->fd, &a)) TH_LOG("fds unmapped");
	a.fds = (uintptr_t)&fd;
	a.keys = 16;
	EXPECT_EQ(EFAULT, attach_raw(self->fd, &a)) TH_LOG("keys unmapped");
	EXPECT_EQ(EFAULT, ioctl(self->fd, SPF_IOC_ATTACH, (void *)16) ? errno : 0)
		TH_LOG("argument unmapped");
	close(fd);
}

TEST_F(ctl, attach_wrong_mode_fd)
{
	struct spf_attach a;
	__s32 fd;
	int e;

	/* A descriptor that cannot read. */
	fd = open(self->a, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		/* the fixture copy may be read-only: use a scratch file */
		char tmp[] = "/tmp/spfabi.XXXXXX";

		fd = mkstemp(tmp);
		ASSERT_LE(0, fd);
		unlink(tmp);
		close(fd);
		SKIP(return, "cannot open the image for writing");
	}
	memset(&a, 0, sizeof(a));
	a.fds = (uintptr_t)&fd;
	a.nr_layers = 1;
	e = attach_raw(self->fd, &a);
	EXPECT_NE(0, e) TH_LOG("a write-only descriptor was accepted");
	if (!e)
		detach(self->fd, a.index, 0);
	close(fd);
}

/* ---- unknown and malformed commands ---- */

TEST_F(ctl, unknown_cmd)
{
	struct { char c[16]; } small;
	char buf[256];
	unsigned long cmds[] = {
		_IO(SPF_IOC_MAGIC, 0x04),
		_IO(SPF_IOC_MAGIC, 0x7f),
		_IOWR(SPF_IOC_MAGIC, 0x00, small),	/* ATTACH, wrong size */
		_IOR(SPF_IOC_MAGIC, 0x03, __u64),	/* FEATURES, wrong size */
		_IOW(SPF_IOC_MAGIC, 0x02, struct spf_info), /* wrong direction */
		_IOWR('L', 0x82, int),
		BLKGETSIZE64,
		0,
	};
	unsigned int i;

	memset(buf, 0, sizeof(buf));
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i], buf)) TH_LOG("cmd %#lx", cmds[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("cmd %#lx: %s", cmds[i], strerror(errno));
	}
}

/* ---- detach and get_info on what does not exist ---- */

TEST_F(ctl, detach_unknown_index)
{
	__u32 idx[] = { 4095, 65535, 0x7fffffff, ~0U };
	unsigned int i;

	for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		__u32 v = idx[i];

		EXPECT_EQ(ENXIO, detach(self->fd, v, 0)) TH_LOG("index %u", v);
	}
}

TEST_F(ctl, detach_malformed)
{
	struct spf_detach d;
	int i;

	memset(&d, 0, sizeof(d));
	d.index = 4095;
	d.flags = 1U << 1;
	EXPECT_EQ(EINVAL, ioctl(self->fd, SPF_IOC_DETACH, &d) ? errno : 0)
		TH_LOG("unknown flag");
	d.flags = ~0U;
	EXPECT_EQ(EINVAL, ioctl(self->fd, SPF_IOC_DETACH, &d) ? errno : 0)
		TH_LOG("all flags");
	d.flags = 0;
	for (i = 0; i < 3; i++) {
		memset(d.reserved, 0, sizeof(d.reserved));
		d.reserved[i] = 1;
		EXPECT_EQ(EINVAL, ioctl(self->fd, SPF_IOC_DETACH, &d) ? errno : 0)
			TH_LOG("reserved[%d]", i);
	}
	EXPECT_EQ(EFAULT, ioctl(self->fd, SPF_IOC_DETACH, (void *)16) ? errno : 0);
}

TEST_F(ctl, get_info_unknown_index)
{
	struct spf_info info;

	EXPECT_EQ(ENXIO, get_info(self->fd, 4095, &info));
	EXPECT_EQ(ENXIO, get_info(self->fd, ~0U, &info));
	memset(&info, 0, sizeof(info));
	info.index = 4095;
	info.reserved[1] = 1;
	EXPECT_EQ(EINVAL, ioctl(self->fd, SPF_IOC_GET_INFO, &info) ? errno : 0)
		TH_LOG("reserved[1]");
	EXPECT_EQ(EFAULT, ioctl(self->fd, SPF_IOC_GET_INFO, (void *)16) ? errno : 0);
}

/* ---- a real attach: get_info, read-only, detach ---- */

TEST_F(ctl, attach_get_info_detach)
{
	const char *paths[2] = { self->a, self->b };
	struct spf_header ha, hb;
	struct spf_info info;
	struct stat st;
	char dev[32], buf[4096];
	__u32 idx = ~0U;
	__u64 range[2] = { 0, 4096 };
	int e, dfd, ro = 0;
	unsigned long long size = 0;

	read_header(self->a, &ha);
	read_header(self->b, &hb);
	e = attach_paths(self->fd, paths, 2, NULL, 0, &idx);
	ASSERT_EQ(0, e) TH_LOG("attach good chain: %s", strerror(e < -999 ? -e - 1000 : e));
	ASSERT_EQ(0, get_info(self->fd, idx, &info));
	EXPECT_EQ(idx, info.index);
	EXPECT_EQ(2U, info.nr_layers);
	EXPECT_EQ(le64toh(hb.disk_size), info.disk_size);
	EXPECT_EQ(1U << le32toh(hb.chunk_shift), info.chunk_size);
	EXPECT_EQ(0, memcmp(info.top_uuid, hb.uuid, 16)) TH_LOG("top_uuid is not b.spi's uuid");
	EXPECT_NE(0U, info.flags & SPF_INFO_F_PARTSCAN);
	EXPECT_EQ(0U, info.flags & (SPF_INFO_F_ENCRYPTED | SPF_INFO_F_AUTOCLEAR));
	/* No flag: every read is checked. */
	EXPECT_EQ(0U, info.flags & (SPF_INFO_F_NO_VERIFY | SPF_INFO_F_VERIFY_ONCE));
	EXPECT_LT(0ULL, info.cache_budget);
	EXPECT_EQ(0ULL, info.corrupt_chunks);
	EXPECT_EQ(0ULL, info.reserved[0] | info.reserved[1]);
	EXPECT_EQ(0U, info.flags & SPF_INFO_F_WRITABLE);
	EXPECT_EQ(0ULL, info.overlay_bytes | info.overlay_records);

	devpath(idx, dev, sizeof(dev));
	ASSERT_EQ(0, stat(dev, &st)) TH_LOG("%s: %s", dev, strerror(errno));
	EXPECT_TRUE(S_ISBLK(st.st_mode));
	dfd = open(dev, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	EXPECT_EQ(0, ioctl(dfd, BLKROGET, &ro));
	EXPECT_EQ(1, ro) TH_LOG("BLKROGET says writable");
	EXPECT_EQ(0, ioctl(dfd, BLKGETSIZE64, &size));
	EXPECT_EQ(le64toh(hb.disk_size), size);
	EXPECT_EQ(4096, pread(dfd, buf, sizeof(buf), 0));
	EXPECT_NE(0, ioctl(dfd, BLKDISCARD, range)) TH_LOG("BLKDISCARD succeeded");
	close(dfd);
	dfd = open(dev, O_RDWR | O_CLOEXEC);
	if (dfd >= 0) {
		memset(buf, 0xee, sizeof(buf));
		EXPECT_GT(0, pwrite(dfd, buf, sizeof(buf), 0)) TH_LOG("a write succeeded");
		close(dfd);
	}

	EXPECT_EQ(0, detach(self->fd, idx, 0));
	EXPECT_EQ(ENXIO, get_info(self->fd, idx, &info));
	EXPECT_NE(0, access(dev, F_OK)) TH_LOG("%s still exists", dev);
	EXPECT_EQ(ENXIO, detach(self->fd, idx, 0)) TH_LOG("second detach");
}

TEST_F(ctl, attach_verify_once)
{
	const char *paths[1] = { self->a };
	struct spf_info info;
	__u32 idx;

	ASSERT_EQ(0, attach_paths(self->fd, paths, 1, NULL,
				  SPF_ATTACH_F_VERIFY_ONCE, &idx));
	EXPECT_EQ(0, get_info(self->fd, idx, &info));
	EXPECT_EQ((__u32)SPF_INFO_F_VERIFY_ONCE,
		  info.flags & (SPF_INFO_F_NO_VERIFY | SPF_INFO_F_VERIFY_ONCE));
	EXPECT_EQ(0, detach(self->fd, idx, 0));
}

TEST_F(ctl, attach_no_partscan)
{
	const char *paths[1] = { self->a };
	struct spf_info info;
	__u32 idx;

	ASSERT_EQ(0, attach_paths(self->fd, paths, 1, NULL,
				  SPF_ATTACH_F_NO_PARTSCAN, &idx));
	EXPECT_EQ(0, get_info(self->fd, idx, &info));
	EXPECT_EQ(0U, info.flags & SPF_INFO_F_PARTSCAN);
	EXPECT_EQ(1U, info.nr_layers);
	EXPECT_EQ(0, detach(self->fd, idx, 0));
}

TEST_F(ctl, attach_autoclear)
{
	const char *paths[2] = { self->a, self->b };
	struct spf_info info;
	char dev[32], buf[512];
	__u32 idx;
	int dfd;

	ASSERT_EQ(0, attach_paths(self->fd, paths, 2, NULL,
				  SPF_ATTACH_F_AUTOCLEAR, &idx));
	ASSERT_EQ(0, get_info(self->fd, idx, &info));
	EXPECT_NE(0U, info.flags & SPF_INFO_F_AUTOCLEAR);
	/* Not gone before its first user has been and gone. */
	usleep(300000);
	EXPECT_EQ(0, get_info(self->fd, idx, &info)) TH_LOG("vanished before any open");
	dfd = open(devpath(idx, dev, sizeof(dev)), O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, dfd) TH_LOG("%s: %s", dev, strerror(errno));
	EXPECT_EQ(512, pread(dfd, buf, sizeof(buf), 0));
	close(dfd);
	EXPECT_TRUE(wait_gone(self->fd, idx)) TH_LOG("%s still there 5 s after the last close", dev);
	if (!wait_gone(self->fd, idx))
		detach(self->fd, idx, 0);
}

TEST_F(ctl, detach_busy_then_lazy)
{
	const char *paths[2] = { self->a, self->b };
	struct spf_info info;
	char dev[32], buf[512];
	__u32 idx;
	int dfd;

	ASSERT_EQ(0, attach_paths(self->fd, paths, 2, NULL, 0, &idx));
	dfd = open(devpath(idx, dev, sizeof(dev)), O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	EXPECT_EQ(EBUSY, detach(self->fd, idx, 0));
	EXPECT_EQ(0, detach(self->fd, idx, SPF_DETACH_F_LAZY));
	EXPECT_EQ(0, get_info(self->fd, idx, &info)) TH_LOG("gone while still open");
	EXPECT_NE(0U, info.flags & SPF_INFO_F_AUTOCLEAR);
	EXPECT_EQ(512, pread(dfd, buf, sizeof(buf), 4096)) TH_LOG("read after lazy detach");
	close(dfd);
	EXPECT_TRUE(wait_gone(self->fd, idx)) TH_LOG("%s still there after the last close", dev);
	if (!wait_gone(self->fd, idx))
		detach(self->fd, idx, 0);
}

/* ---- CAP_SYS_ADMIN ---- */

/* In a child: every command on the already open FD must give EPERM. */
static int all_eperm(int fd, const char *a)
{
	struct spf_features f;
	struct spf_attach at;
	struct spf_detach d;
	struct spf_info info;
	__s32 ifd = open(a, O_RDONLY);
	int bad = 0;

	memset(&f, 0, sizeof(f));
	if (!ioctl(fd, SPF_IOC_GET_FEATURES, &f) || errno != EPERM)
		bad |= 1;
	memset(&at, 0, sizeof(at));
	at.fds = (uintptr_t)&ifd;
	at.nr_layers = 1;
	if (!ioctl(fd, SPF_IOC_ATTACH, &at) || errno != EPERM)
		bad |= 2;
	memset(&d, 0, sizeof(d));
	if (!ioctl(fd, SPF_IOC_DETACH, &d) || errno != EPERM)
		bad |= 4;
	memset(&info, 0, sizeof(info));
	if (!ioctl(fd, SPF_IOC_GET_INFO, &info) || errno != EPERM)
		bad |= 8;
	return bad;
}

TEST_F(ctl, eperm_unprivileged_user)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (!pid) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(100);
		_exit(all_eperm(self->fd, self->a));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("not EPERM for (1 features, 2 attach, 4 detach, 8 info): %d",
		       WEXITSTATUS(status));
}

TEST_F(ctl, eperm_root_without_cap_sys_admin)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (!pid) {
		struct __user_cap_header_struct h = {
			.version = _LINUX_CAPABILITY_VERSION_3,
		};
		struct __user_cap_data_struct d[2];

		if (syscall(SYS_capget, &h, d))
			_exit(100);
		d[CAP_SYS_ADMIN / 32].effective &= ~(1U << (CAP_SYS_ADMIN % 32));
		d[CAP_SYS_ADMIN / 32].permitted &= ~(1U << (CAP_SYS_ADMIN % 32));
		d[CAP_SYS_ADMIN / 32].inheritable &= ~(1U << (CAP_SYS_ADMIN % 32));
		if (syscall(SYS_capset, &h, d))
			_exit(101);
		_exit(all_eperm(self->fd, self->a));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("uid 0 without CAP_SYS_ADMIN: not EPERM for (1 features, 2 attach, 4 detach, 8 info): %d",
		       WEXITSTATUS(status));
}

/* ---- files that are not SPF images ---- */

TEST_F(ctl, non_spf_files)
{
	char junk[512], msg[512];
	struct spf_attach a;
	int pfd[2];
	__s32 fd;
	int e, n;

	/* random bytes */
	fd = open(fix("bad/junk.bin", junk, sizeof(junk)), O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", junk, strerror(errno));
	memset(&a, 0, sizeof(a));
	a.fds = (uintptr_t)&fd;
	a.nr_layers = 1;
	kmsg_count(self->kmsg, "", NULL, 0);
	EXPECT_EQ(EINVAL, e = attach_raw(self->fd, &a)) TH_LOG("random bytes: %s", strerror(e));
	n = kmsg_count(self->kmsg, "spfblk", msg, sizeof(msg));
	EXPECT_EQ(1, n) TH_LOG("%d log lines for random bytes; last: %s", n, msg);
	close(fd);

	/* a directory, a character device, a pipe */
	fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("a directory");
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("/dev/null");
	close(fd);
	ASSERT_EQ(0, pipe(pfd));
	fd = pfd[0];
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("a pipe");
	close(pfd[0]);
	close(pfd[1]);
	/* the control device itself */
	fd = self->fd;
	EXPECT_EQ(EINVAL, attach_raw(self->fd, &a)) TH_LOG("/dev/spf-control");
}

TEST_F(ctl, plain_layer_with_key)
{
	const char *paths[1] = { self->a };
	struct spf_layer_key key;

	memset(&key, 0x5a, sizeof(key));
	EXPECT_EQ(EINVAL, attach_paths(self->fd, paths, 1, &key, 0, NULL));
}

/* ---- raw bad chains: the kernel's own checks ---- */

/* Attach the fixtures RELS; expect ERR and exactly one spfblk log line. */
static void bad_chain(struct __test_metadata *_metadata, int ctl, int kmsg,
		      const char **rels, int n,
		      const struct spf_layer_key *keys, int err,
		      const char *want_text)
{
	char bufs[8][512], msg[512];
	const char *paths[8];
	__u32 idx;
	int i, e, lines;

	for (i = 0; i < n; i++)
		paths[i] = fix(rels[i], bufs[i], sizeof(bufs[i]));
	kmsg_count(kmsg, "", NULL, 0);
	e = attach_paths(ctl, paths, n, keys, 0, &idx);
	ASSERT_TRUE(e > -1000) TH_LOG("fixture %s missing", paths[n - 1]);
	lines = kmsg_count(kmsg, "spfblk", msg, sizeof(msg));
	if (!e) {
		detach(ctl, idx, 0);
		ASSERT_NE(0, e) TH_LOG("attached as /dev/spf%u: the kernel accepted it", idx);
	}
	EXPECT_EQ(err, e) TH_LOG("got %s (%d), expected %s", strerror(e), e, strerror(err));
	EXPECT_EQ(1, lines) TH_LOG("%d kernel log lines; last: %s", lines, msg);
	if (want_text)
		EXPECT_NE(NULL, strstr(msg, want_text)) TH_LOG("log line lacks '%s': %s", want_text, msg);
}

TEST_F(ctl, bad_chain_swapped_parent)
{
	const char *r[] = { "bad/swapped/a.spf", "bad/good/b.spi" };

	bad_chain(_metadata, self->fd, self->kmsg, r, 2, NULL, ENOLINK, NULL);
}

TEST_F(ctl, bad_chain_missing_parent)
{
	const char *r[] = { "bad/good/b.spi" };

	bad_chain(_metadata, self->fd, self->kmsg, r, 1, NULL, ENOLINK, NULL);
}

TEST_F(ctl, bad_chain_reversed)
{
	const char *r[] = { "bad/good/b.spi", "bad/good/a.spf" };

	bad_chain(_metadata, self->fd, self->kmsg, r, 2, NULL, ENOLINK, NULL);
}

TEST_F(ctl, bad_chain_same_image_twice)
{
	const char *r[] = { "bad/good/a.spf", "bad/good/a.spf" };

	bad_chain(_metadata, self->fd, self->kmsg, r, 2, NULL, ENOLINK, NULL);
}

TEST_F(ctl, bad_chain_wrong_key)
{
	const char *r[] = { "bad/enc/e.spf" };
	struct spf_layer_key key;
	unsigned int i;

	for (i = 0; i < sizeof(key.key); i++)
		key.key[i] = i * 37 + 1;
	bad_chain(_metadata, self->fd, self->kmsg, r, 1, &key, EKEYREJECTED, NULL);
}

TEST_F(ctl, bad_chain_encrypted_without_key)
{
	const char *r[] = { "bad/enc/e.spf" };

	bad_chain(_metadata, self->fd, self->kmsg, r, 1, NULL, ENOKEY, NULL);
}

TEST_F(ctl, bad_chain_truncated)
{
	const char *r[] = { "bad/trunc/a.spf" };

	bad_chain(_metadata, self->fd, self->kmsg, r, 1, NULL, EBADMSG, "not finalised");
}

TEST_F(ctl, bad_chain_shadowprotect)
{
	const char *r[] = { "bad/shadow/a.spi" };

	bad_chain(_metadata, self->fd, self->kmsg, r, 1, NULL, EINVAL, "ShadowProtect");
}

TEST_F(ctl, bad_chain_corrupt_index)
{
	const char *r[] = { "bad/cidx/a.spf" };

	bad_chain(_metadata, self->fd, self->kmsg, r, 1, NULL, EUCLEAN, "index");
}

TEST_F(ctl, bad_chain_summary_past_disk)
{
	const char *r[] = { "bad/summ/a.spf" };

	bad_chain(_metadata, self->fd, self->kmsg, r, 1, NULL, EUCLEAN,
		  "summary marks region 32000 past the disk");
}

TEST_HARNESS_MAIN
