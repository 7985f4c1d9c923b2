/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spfctl commands and the small helpers they share for parsing their
 * command lines.
 */
#ifndef SPF_CMD_H
#define SPF_CMD_H

#include <getopt.h>

#include "libutil.h"

#ifndef SPFCTL_VERSION
#define SPFCTL_VERSION "0.1"
#endif

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_recover(int argc, char **argv);

/* parse_opts() result: --help was printed, exit 0. */
#define CMD_HELP_SHOWN	(-2)

/* What a command needs to print its usage errors. */
struct cmd_desc {
	const char *name;
	const char *usage;		/* after "Usage: spfctl " */
};

/*
 * "spfctl: MSG", the usage line and "Try 'spfctl CMD --help' for more
 * information." on stderr.  Returns EXIT_USAGE.
 */
int usage_error(const struct cmd_desc *d, const char *fmt, ...)
	__printf(2, 3);
/* The same for getopt's '?' and ':' results. */
int bad_option(const struct cmd_desc *d, int c, char **argv);

/* --chain FILE (repeatable), plus extra positionals. */
struct chain_args {
	char **files;
	unsigned int n;
	bool given;
};

void chain_args_add(struct chain_args *ca, const char *file);
void chain_args_free(struct chain_args *ca);
/*
 * Take exactly @need positional arguments from argv[optind..].  With
 * --chain, arguments before the last @need are more chain files.
 * Returns 0 or EXIT_USAGE (printed).
 */
int take_args(const struct cmd_desc *d, int argc, char **argv, int need,
	      struct chain_args *ca, char **out);

/* Shared option values. */
int parse_threads(const struct cmd_desc *d, const char *arg,
		  unsigned int *out);

/*
 * cmd_device.c, shared with cmd_mount.c.  attach_chain() attaches the chain
 * ending at @image (SPF_ATTACH_F_* @flags), waits for /dev/spfN, its
 * partitions and udev, and stores N in *@index; errors are printed.
 */
int open_control(void);
bool sysfs_u64(unsigned int idx, const char *name, u64 *v);
int attach_chain(const char *image, struct chain_args *ca,
		 const char *key_file, u32 flags, u64 cache, unsigned int *index);
int detach_one(int ctl, unsigned int idx, bool lazy);
/* Is the file (@dev, @ino) the overlay of an attached device?  *@idx: N. */
bool overlay_attached(dev_t dev, ino_t ino, unsigned int *idx);

/*
 * cmd_recover.c, shared with detach.  overlay_open_msg() opens @path as
 * an overlay, printing "spfctl: PATH: WHAT: REASON" when it is not one.
 * overlay_finish() replays the overlay @path, reports a torn tail and
 * (unless @check) seals it on top of @parent (NULL: its parent_name
 * hint); exit status.  An overlay attached right now is refused unless
 * @detached (detach has just removed its device).
 */
struct overlay;
struct overlay *overlay_open_msg(const char *path, int oflags,
				 const char *what);
int overlay_finish(const char *path, const char *parent,
		   const char *key_file, bool check, bool detached);

#endif /* SPF_CMD_H */
