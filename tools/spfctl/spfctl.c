// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl: create, inspect, verify and export SPF backup images, and map
 * chains of them onto /dev/spfN through the spfblk driver.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#define VERSION_LINE	"spfctl " SPFCTL_VERSION " (SPF format version 1)"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "create", cmd_create, "write a full or incremental image of a disk" },
	{ "info",   cmd_info,   "show what an image is" },
	{ "verify", cmd_verify, "check every checksum of a chain of images" },
	{ "export", cmd_export, "write a chain's virtual disk as raw bytes" },
	{ "merge",  cmd_merge,  "consolidate a run of a chain into one image" },
	{ "attach", cmd_attach, "map a chain onto /dev/spfN (read-only or writable)" },
	{ "detach", cmd_detach, "remove /dev/spfN devices (sealing an overlay)" },
	{ "list",   cmd_list,   "list attached devices" },
	{ "mount",  cmd_mount,  "attach a chain and mount a file system of it" },
	{ "umount", cmd_umount, "unmount it and detach its device" },
	{ "recover", cmd_recover, "seal a write-back overlay left behind" },
};

static void main_help(void)
{
	size_t i;

	printf("Usage: spfctl COMMAND [OPTIONS] [ARGS]\n"
	       "       spfctl help [COMMAND]\n"
	       "       spfctl --version\n\n"
	       "Create, inspect, verify and export SPF backup images (.spf full,\n"
	       ".spi incremental), and attach chains of them as block devices:\n"
	       "read-only, or writable with the writes kept in an overlay that\n"
	       "becomes a new incremental at detach.\n\nCommands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		printf("  %-8s %s\n", commands[i].name, commands[i].summary);
	printf("\nOptions:\n"
	       "  -h, --help     show this help\n"
	       "  -V, --version  show the version\n"
	       "\nRun 'spfctl COMMAND --help' for a command's options.\n"
	       "Exit status: 0 success, 1 failure (or damage found), 2 usage error.\n"
	       "This is " VERSION_LINE ".\n");
}

int usage_error(const struct cmd_desc *d, const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: spfctl %s\n"
		"Try 'spfctl %s --help' for more information.\n",
		d->usage, d->name);
	return EXIT_USAGE;
}

int bad_option(const struct cmd_desc *d, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return usage_error(d, "option '%s' requires an argument", arg);
	if (optopt && optopt < 256 && arg[0] == '-' && arg[1] != '-')
		return usage_error(d, "invalid option -- '%c'", optopt);
	return usage_error(d, "unrecognized option '%s'", arg);
}

void chain_args_add(struct chain_args *ca, const char *file)
{
	ca->files = xrealloc(ca->files, (ca->n + 1) * sizeof(*ca->files));
	ca->files[ca->n++] = (char *)file;
	ca->given = true;
}

void chain_args_free(struct chain_args *ca)
{
	free(ca->files);
	ca->files = NULL;
	ca->n = 0;
}

int take_args(const struct cmd_desc *d, int argc, char **argv, int need,
	      struct chain_args *ca, char **out)
{
	int have = argc - optind, i;

	if (have < need)
		return usage_error(d, have ? "missing argument" :
				   "missing arguments");
	if (have > need && !(ca && ca->given))
		return usage_error(d, "unexpected argument '%s'",
				   argv[optind + need]);
	for (i = optind; i < argc - need; i++)
		chain_args_add(ca, argv[i]);
	for (i = 0; i < need; i++)
		out[i] = argv[argc - need + i];
	return 0;
}

int parse_threads(const struct cmd_desc *d, const char *arg,
		  unsigned int *out)
{
	u64 v;

	if (parse_uint(arg, 1, 1024, &v))
		return usage_error(d, "invalid thread count '%s' (1 to 1024)",
				   arg);
	*out = v;
	return 0;
}

static int run(const char *name, int argc, char **argv)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].fn(argc, argv);
	fprintf(stderr, PROG ": unknown command '%s'\n"
		"Try 'spfctl --help' for more information.\n", name);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	signals_init();
	opterr = 0;
	if (!cmd) {
		fprintf(stderr, PROG ": missing command\n"
			"Usage: spfctl COMMAND [OPTIONS] [ARGS]\n"
			"Try 'spfctl --help' for more information.\n");
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		main_help();
		return EXIT_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf(VERSION_LINE "\n");
		return EXIT_OK;
	}
	if (!strcmp(cmd, "help")) {
		if (argc < 3) {
			main_help();
			return EXIT_OK;
		}
		{
			char *args[] = { argv[2], "--help", NULL };

			return run(argv[2], 2, args);
		}
	}
	if (cmd[0] == '-') {
		fprintf(stderr, PROG ": unrecognized option '%s'\n"
			"Usage: spfctl COMMAND [OPTIONS] [ARGS]\n"
			"Try 'spfctl --help' for more information.\n", cmd);
		return EXIT_USAGE;
	}
	return run(cmd, argc - 1, argv + 1);
}
