// SPDX-License-Identifier: GPL-2.0
/*
 * spfkeys: the key hygiene tests' helper (tests/vm/guest/75-keys.sh and
 * tests/user/75-keys.sh).
 *
 *   spfkeys datakey PASSFILE IMAGE
 *         the image's data key in hex; every buffer that held the
 *         passphrase, the KEK or a key is wiped before exit
 *   spfkeys scan [-a] HEXKEY [FILE]
 *         count the copies of the key (8 to 256 bytes, in hex) in FILE, or without FILE in
 *         physical memory through /proc/kcore: the slab pages (by
 *         /proc/kpageflags), or with -a all of RAM (slow under TCG);
 *         prints one "at [phys ]ADDRESS" line per copy (at most 8), then
 *         "M MiB scanned" (memory only) and "N copies".
 *         The key is kept inverted in memory, so the scanner holds no
 *         copy of its own for the scan to find.
 *   spfkeys attach PASSFILE IMAGE MODE...
 *         for each MODE, SPF_IOC_ATTACH with SPF_ATTACH_F_KEYRING of a
 *         one-image chain, the data key a logon key "spfkeys:MODE:PID" in
 *         this process's keyring set up as MODE; prints "MODE ok N" (N of
 *         /dev/spfN, left attached) or "MODE ENAME", one a line:
 *           ok        the right key                      -> ok N
 *           missing   a description with no key          -> ENOKEY
 *           revoked   the key revoked before the call    -> EKEYREVOKED
 *           expired   the key expired before the call    -> EKEYEXPIRED
 *           short     a 16-byte payload                  -> EINVAL
 *           user      a "user" key, not a "logon" one    -> ENOKEY
 *           unterminated  a description without its NUL  -> EINVAL
 *           wrongkey  a 32-byte payload that is not the key -> EKEYREJECTED
 *           nokeys    SPF_ATTACH_F_KEYRING with keys = 0  -> EINVAL
 *   spfkeys readback
 *         add a logon key and try to read its payload back (KEYCTL_READ):
 *         prints "read: ENAME"; exit 0 only when the read is refused
 *
 * attach exits 1 when an attach failed.
 */
#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <linux/keyctl.h>
#include <linux/spfblk.h>
#include <linux/spf_format.h>

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("spfkeys: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void die_errno(const char *what, int err) __attribute__((noreturn));
static void die_errno(const char *what, int err)
{
	const char *name = strerrorname_np(err);

	fprintf(stderr, "spfkeys: %s: %s (%s)\n", what, name ? name : "?",
		strerror(err));
	exit(1);
}

/* ---- the data key, wiping every copy ---- */

static void derive_data_key(const char *image, const char *passfile,
			    uint8_t key[SPF_KEY_SIZE])
{
	uint8_t kek[32], out[2 * SPF_KEY_LEN + 16];
	struct spf_header h;
	char pass[1024];
	int fd, n, len, ok;
	EVP_CIPHER_CTX *ctx;

	fd = open(image, O_RDONLY);
	if (fd < 0)
		die_errno(image, errno);
	if (pread(fd, &h, sizeof(h), 0) != sizeof(h))
		die("%s: short header", image);
	close(fd);
	if (memcmp(h.magic, SPF_MAGIC, SPF_MAGIC_LEN) ||
	    !(le64toh(h.incompat) & SPF_INCOMPAT_ENCRYPTED))
		die("%s: not an encrypted SPF image", image);
	fd = open(passfile, O_RDONLY);
	if (fd < 0)
		die_errno(passfile, errno);
	len = read(fd, pass, sizeof(pass));
	close(fd);
	if (len < 0)
		die_errno(passfile, errno);
	if (len > 0 && pass[len - 1] == '\n')
		len--;
	ok = argon2id_hash_raw(le32toh(h.crypt.kdf_t_cost),
			       le32toh(h.crypt.kdf_m_cost),
			       le32toh(h.crypt.kdf_parallelism), pass, len,
			       h.crypt.salt, SPF_SALT_LEN, kek, sizeof(kek)) ==
	     ARGON2_OK;
	OPENSSL_cleanse(pass, sizeof(pass));
	if (!ok)
		die("%s: argon2id failed", image);
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx &&
	     EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kek,
				h.crypt.wrap_nonce) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &n, h.uuid, 16) == 1 &&
	     EVP_DecryptUpdate(ctx, out, &n, h.crypt.wrapped_keys,
			       sizeof(h.crypt.wrapped_keys)) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SPF_GCM_TAG_LEN,
				 h.crypt.wrap_tag) == 1 &&
	     EVP_DecryptFinal_ex(ctx, out + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (ok)
		memcpy(key, out, SPF_KEY_SIZE);
	OPENSSL_cleanse(out, sizeof(out));
	if (!ok)
		die("%s: wrong passphrase", image);
}

static int cmd_datakey(int argc, char **argv)
{
	uint8_t key[SPF_KEY_SIZE];
	char hex[2 * SPF_KEY_SIZE + 2];
	int i;

	if (argc != 2)
		die("usage: datakey PASSFILE IMAGE");
	derive_data_key(argv[1], argv[0], key);
	for (i = 0; i < SPF_KEY_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[2 * SPF_KEY_SIZE] = '\n';
	hex[2 * SPF_KEY_SIZE + 1] = 0;
	OPENSSL_cleanse(key, sizeof(key));
	if (write(STDOUT_FILENO, hex, strlen(hex)) < 0)
		die_errno("stdout", errno);
	return 0;
}

/* ---- the scanner ---- */

/* The key, each byte inverted: never the key itself in this process. */
#define NEEDLE_MAX	256
static volatile uint8_t inv_key[NEEDLE_MAX];
static int klen;

/*
 * The byte memchr() looks for: one that is neither 0x00 nor 0xff, which
 * fill free and poisoned memory, so that the scan runs at memchr's speed.
 */
static int anchor;

static void parse_inverted(const char *s)
{
	unsigned int v;
	int i;

	klen = strlen(s) / 2;
	if (strlen(s) % 2 || klen < 8 || klen > NEEDLE_MAX)
		die("a needle is 16 to %d hex digits", 2 * NEEDLE_MAX);
	for (i = 0; i < klen; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			die("bad hex key");
		inv_key[i] = (uint8_t)~v;
	}
	v = 0;
	for (anchor = 0; anchor < klen - 1; anchor++)
		if (inv_key[anchor] != 0 && inv_key[anchor] != 0xff)
			break;
}

static bool match_at(const uint8_t *p)
{
	int i;

	for (i = 0; i < klen; i++)
		if ((uint8_t)(p[i] ^ inv_key[i]) != 0xff)
			return false;
	return true;
}

#define SCAN_BUF	(4 << 20)

struct scan {
	uint8_t *buf;
	uint64_t copies;
	uint64_t bytes;
};

/* Scan [@off, @off + @len) of @fd; @tag names the region in reports. */
static void scan_range(struct scan *s, int fd, uint64_t off, uint64_t len,
		       const char *tag, uint64_t base)
{
	const size_t keep = klen - 1;
	uint64_t pos = 0;
	size_t have = 0;

	while (pos < len) {
		size_t want = SCAN_BUF - have, i;
		ssize_t n;

		if (want > len - pos)
			want = len - pos;
		n = pread(fd, s->buf + have, want, off + pos);
		if (n <= 0) {
			/* A hole (offline or reserved memory): skip a page. */
			pos = (pos | 4095) + 1;
			have = 0;
			continue;
		}
		have += n;
		pos += n;
		for (i = anchor; i + klen - anchor <= have; i++) {
			uint8_t *p = memchr(s->buf + i, (uint8_t)~inv_key[anchor],
					    have - (klen - anchor) + 1 - i);

			if (!p)
				break;
			i = p - s->buf;
			if (!match_at(p - anchor))
				continue;
			if (s->copies++ < 8)
				printf("at %s%#" PRIx64 "\n", tag,
				       base + pos - have + i - anchor);
		}
		if (have > keep) {
			memmove(s->buf, s->buf + have - keep, keep);
			have = keep;
		}
	}
	fflush(stdout);
}

#define KPF_SLAB	7		/* include/uapi/linux/kernel-page-flags.h */
#define PAGE_SZ		4096ULL

/*
 * Scan the slab pages of the direct-map segment @ph of /proc/kcore (@fd),
 * or all of it with @all.  Slab pages (from /proc/kpageflags) are where
 * every kernel copy of a key lives: the crypto transform's context, the
 * ioctl's key array, the logon key's payload, all kmalloc()ed.  A copy
 * freed without being wiped stays in its slab page.
 */
static void scan_segment(struct scan *s, int fd, int kpf,
			 const Elf64_Phdr *ph, bool all)
{
	uint64_t first = ph->p_paddr / PAGE_SZ;
	uint64_t end = (ph->p_paddr + ph->p_memsz) / PAGE_SZ, pfn, run = 0;
	static uint64_t flags[4096];
	size_t nf = 0, k = 0;

	if (all) {
		scan_range(s, fd, ph->p_offset, ph->p_memsz, "phys ",
			   ph->p_paddr);
		s->bytes += ph->p_memsz;
		return;
	}
	for (pfn = first; pfn <= end; pfn++) {
		bool slab = false;

		if (pfn < end) {
			if (k == nf) {
				ssize_t n = pread(kpf, flags, sizeof(flags),
						  pfn * sizeof(flags[0]));

				if (n < (ssize_t)sizeof(flags[0]))
					die_errno("/proc/kpageflags", n < 0 ? errno : EIO);
				nf = n / sizeof(flags[0]);
				k = 0;
			}
			slab = flags[k++] >> KPF_SLAB & 1;
		}
		if (slab) {
			run++;
			continue;
		}
		if (!run)
			continue;
		scan_range(s, fd, ph->p_offset + (pfn - run) * PAGE_SZ -
			   ph->p_paddr, run * PAGE_SZ, "phys ",
			   (pfn - run) * PAGE_SZ);
		s->bytes += run * PAGE_SZ;
		run = 0;
	}
}

static int cmd_scan(int argc, char **argv)
{
	bool all = argc > 0 && !strcmp(argv[0], "-a");
	const char *path;
	struct scan s = { 0 };
	int fd, kpf = -1;

	argc -= all;
	argv += all;
	if (argc < 1)
		die("usage: scan [-a] HEXKEY [FILE]");
	path = argc > 1 ? argv[1] : "/proc/kcore";
	parse_inverted(argv[0]);
	s.buf = malloc(SCAN_BUF);
	if (!s.buf)
		die("out of memory");
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die_errno(path, errno);
	if (argc > 1) {
		off_t size = lseek(fd, 0, SEEK_END);

		scan_range(&s, fd, 0, size, "", 0);
	} else {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
		int i;

		if (!all) {
			kpf = open("/proc/kpageflags", O_RDONLY);
			if (kpf < 0)
				die_errno("/proc/kpageflags", errno);
		}
		if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
		    memcmp(eh.e_ident, ELFMAG, SELFMAG))
			die("%s: not an ELF file", path);
		/*
		 * The direct map of RAM: segments with a physical address,
		 * except the kernel image's (its pages are in the direct
		 * map too).  vmalloc, vmemmap and modules have none (-1).
		 */
		for (i = 0; i < eh.e_phnum; i++) {
			if (pread(fd, &ph, sizeof(ph),
				  eh.e_phoff + i * sizeof(ph)) != sizeof(ph))
				die("%s: short program header", path);
			if (ph.p_type != PT_LOAD || ph.p_paddr == (uint64_t)-1 ||
			    ph.p_vaddr >= 0xffffffff80000000ULL)
				continue;
			scan_segment(&s, fd, kpf, &ph, all);
		}
		if (kpf >= 0)
			close(kpf);
		printf("%" PRIu64 " MiB scanned\n", s.bytes >> 20);
	}
	close(fd);
	OPENSSL_cleanse(s.buf, SCAN_BUF);
	free(s.buf);
	printf("%" PRIu64 " copies\n", s.copies);
	return 0;
}

/* ---- keyring attach ---- */

static long add_key(const char *type, const char *desc, const void *p,
		    size_t len)
{
	long id = syscall(SYS_add_key, type, desc, p, len,
			  KEY_SPEC_PROCESS_KEYRING);

	if (id < 0)
		die_errno("add_key", errno);
	return id;
}

/* One keyring attach of @image set up as @mode; 0 and *@index, or errno. */
static int keyring_attach(int ctl, const char *mode, const char *image,
			  const uint8_t *data_key, uint32_t *index)
{
	struct spf_layer_keydesc desc;
	uint8_t key[SPF_KEY_SIZE];
	struct spf_attach a;
	int32_t fd;
	int err = 0;
	long id;

	memcpy(key, data_key, sizeof(key));
	memset(&desc, 0, sizeof(desc));
	snprintf(desc.desc, sizeof(desc.desc), "spfkeys:%s:%d", mode, getpid());
	if (!strcmp(mode, "ok") || !strcmp(mode, "unterminated") ||
	    !strcmp(mode, "nokeys")) {
		add_key("logon", desc.desc, key, sizeof(key));
	} else if (!strcmp(mode, "missing")) {
		/* no key */
	} else if (!strcmp(mode, "revoked")) {
		id = add_key("logon", desc.desc, key, sizeof(key));
		if (syscall(SYS_keyctl, KEYCTL_REVOKE, id))
			die_errno("keyctl revoke", errno);
	} else if (!strcmp(mode, "expired")) {
		id = add_key("logon", desc.desc, key, sizeof(key));
		if (syscall(SYS_keyctl, KEYCTL_SET_TIMEOUT, id, 1))
			die_errno("keyctl set_timeout", errno);
		sleep(2);
	} else if (!strcmp(mode, "short")) {
		add_key("logon", desc.desc, key, 16);
	} else if (!strcmp(mode, "user")) {
		add_key("user", desc.desc, key, sizeof(key));
	} else if (!strcmp(mode, "wrongkey")) {
		key[0] ^= 1;
		add_key("logon", desc.desc, key, sizeof(key));
	} else {
		die("unknown mode '%s'", mode);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (!strcmp(mode, "unterminated"))
		memset(desc.desc + strlen(desc.desc), 'x',
		       sizeof(desc.desc) - strlen(desc.desc));

	fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die_errno(image, errno);
	memset(&a, 0, sizeof(a));
	a.fds = (uintptr_t)&fd;
	a.keys = strcmp(mode, "nokeys") ? (uintptr_t)&desc : 0;
	a.nr_layers = 1;
	a.flags = SPF_ATTACH_F_KEYRING;
	if (ioctl(ctl, SPF_IOC_ATTACH, &a))
		err = errno;
	close(fd);
	*index = a.index;
	return err;
}

static int cmd_attach(int argc, char **argv)
{
	uint8_t key[SPF_KEY_SIZE];
	const char *ctl_path = getenv("SPF_CONTROL");
	int ctl, i, ret = 0;
	uint32_t index;

	if (argc < 3)
		die("usage: attach PASSFILE IMAGE MODE...");
	derive_data_key(argv[1], argv[0], key);
	ctl = open(ctl_path ? ctl_path : "/dev/" SPF_CONTROL_NAME,
		   O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		die_errno("/dev/" SPF_CONTROL_NAME, errno);
	for (i = 2; i < argc; i++) {
		int err = keyring_attach(ctl, argv[i], argv[1], key, &index);

		if (err)
			printf("%s %s\n", argv[i], strerrorname_np(err) ?: "?");
		else
			printf("%s ok %u\n", argv[i], index);
		fflush(stdout);
		ret |= !!err;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return ret;
}

static int cmd_readback(void)
{
	static const uint8_t payload[SPF_KEY_SIZE] = { 1, 2, 3 };
	uint8_t buf[64];
	long id, n;

	id = add_key("logon", "spfkeys:readback", payload, sizeof(payload));
	n = syscall(SYS_keyctl, KEYCTL_READ, id, buf, sizeof(buf));
	if (n >= 0) {
		printf("read: %ld bytes\n", n);
		return 1;
	}
	printf("read: %s\n", strerrorname_np(errno) ?: "?");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: spfkeys datakey|scan|attach|readback ...");
	if (!strcmp(argv[1], "datakey"))
		return cmd_datakey(argc - 2, argv + 2);
	if (!strcmp(argv[1], "scan"))
		return cmd_scan(argc - 2, argv + 2);
	if (!strcmp(argv[1], "attach"))
		return cmd_attach(argc - 2, argv + 2);
	if (!strcmp(argv[1], "readback"))
		return cmd_readback();
	die("unknown command '%s'", argv[1]);
}
