// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the boot test's inner guest (tests/boot/mkbootdisk builds it
 * into the initramfs): x86-64 only, no libc, raw system calls, a few KiB.
 *
 * Mounts proc and devtmpfs, prints
 *
 *	SPF-BOOT-MARKER cmdline=C initrd=I
 *
 * on /dev/console (C: the spf.token=C word of /proc/cmdline, "none" if
 * there is none; I: the first line of /etc/spf-token), then restarts the
 * machine (reboot(2) RESTART: the kernel prints "reboot: Restarting
 * system"; qemu -no-reboot exits on it, no ACPI needed).
 *
 * Built by mkbootdisk with gcc -Os -static -nostdlib -ffreestanding
 * -fno-stack-protector -fno-pie -no-pie.
 */

#define SYS_read	0
#define SYS_write	1
#define SYS_open	2
#define SYS_close	3
#define SYS_mkdir	83
#define SYS_mount	165
#define SYS_reboot	169
#define SYS_pause	34

#define O_RDONLY	0
#define O_WRONLY	1

static long sys3(long nr, long a, long b, long c)
{
	long ret;

	asm volatile ("syscall"
		      : "=a" (ret)
		      : "0" (nr), "D" (a), "S" (b), "d" (c)
		      : "rcx", "r11", "memory");
	return ret;
}

static long sys5(long nr, long a, long b, long c, long d, long e)
{
	register long r10 asm("r10") = d;
	register long r8 asm("r8") = e;
	long ret;

	asm volatile ("syscall"
		      : "=a" (ret)
		      : "0" (nr), "D" (a), "S" (b), "d" (c), "r" (r10), "r" (r8)
		      : "rcx", "r11", "memory");
	return ret;
}

/* Read up to size - 1 bytes of path into buf, NUL-terminated; 0 if none. */
static long slurp(const char *path, char *buf, long size)
{
	long fd, n, got = 0;

	fd = sys3(SYS_open, (long)path, O_RDONLY, 0);
	if (fd < 0) {
		buf[0] = 0;
		return 0;
	}
	while (got < size - 1) {
		n = sys3(SYS_read, fd, (long)(buf + got), size - 1 - got);
		if (n <= 0)
			break;
		got += n;
	}
	sys3(SYS_close, fd, 0, 0);
	buf[got] = 0;
	return got;
}

/* Append the word at s (up to a blank or NUL) to the line at *p. */
static void add_word(char **p, const char *s)
{
	while (*s && *s != ' ' && *s != '\n' && *s != '\t')
		*(*p)++ = *s++;
}

static void add_str(char **p, const char *s)
{
	while (*s)
		*(*p)++ = *s++;
}

static char cmdline[4096], token[256], line[4096 + 512];

void spf_main(void)
{
	static const char key[] = "spf.token=";
	const char *ctok = "none", *c;
	char *p = line;
	long fd, i;

	sys3(SYS_mkdir, (long)"/proc", 0555, 0);
	sys5(SYS_mount, (long)"proc", (long)"/proc", (long)"proc", 0, 0);
	sys3(SYS_mkdir, (long)"/dev", 0755, 0);
	sys5(SYS_mount, (long)"devtmpfs", (long)"/dev", (long)"devtmpfs", 0, 0);

	slurp("/proc/cmdline", cmdline, sizeof(cmdline));
	for (c = cmdline; *c; c++) {
		if (c != cmdline && c[-1] != ' ')
			continue;
		for (i = 0; key[i] && c[i] == key[i]; i++)
			;
		if (!key[i]) {
			ctok = c + i;
			break;
		}
	}
	slurp("/etc/spf-token", token, sizeof(token));

	add_str(&p, "SPF-BOOT-MARKER cmdline=");
	add_word(&p, ctok);
	add_str(&p, " initrd=");
	add_word(&p, token);
	*p++ = '\n';

	fd = sys3(SYS_open, (long)"/dev/console", O_WRONLY, 0);
	if (fd < 0)
		fd = 1;	/* the console the kernel opened for init, if any */
	sys3(SYS_write, fd, (long)line, p - line);

	/* LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART */
	sys5(SYS_reboot, 0xfee1dead, 672274793, 0x01234567, 0, 0);
	for (;;)
		sys3(SYS_pause, 0, 0, 0);
}

/* The entry point: a 16-byte aligned stack, then spf_main(). */
asm(".text\n"
	".global _start\n"
	"_start:\n"
	"xor %ebp, %ebp\n"
	"and $-16, %rsp\n"
	"call spf_main\n"
	"hlt\n");
