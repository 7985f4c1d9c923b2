// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl recover: replay a write-back overlay left behind (a crash, or a
 * detach whose sealing failed) and seal it into an incremental.  The
 * sealing itself is libseal's; detach uses overlay_finish() too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "libchain.h"
#include "libseal.h"

static const struct cmd_desc desc = {
	"recover", "recover [--check] [--key-file FILE] OVERLAY",
};

static void help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Seal the write-back overlay OVERLAY (left by `spfctl attach --writable`\n"
	       "after a crash, or when sealing at detach failed) into the incremental\n"
	       "image it stands for, in place.  Its records are replayed in order as\n"
	       "the driver does; a torn tail (writes a crash interrupted) is dropped\n"
	       "and reported.  An overlay attached right now is refused.\n\n"
	       "Options:\n"
	       "  -n, --check          only replay and report; change nothing\n"
	       "  -k, --key-file FILE  passphrase of an encrypted chain (- for stdin);\n"
	       "                       otherwise it is asked for on the terminal\n"
	       "  -h, --help           show this help\n",
	       desc.usage);
}

struct overlay *overlay_open_msg(const char *path, int oflags,
				 const char *what)
{
	struct overlay *o;
	struct spf_layer *l;
	char why[256], why2[256];

	if (!overlay_open(path, oflags, &o, why, sizeof(why)))
		return o;
	layer_open(path, LAYER_HEADER_ONLY, &l, why2, sizeof(why2));
	if (l) {
		err_msg(path, "%s: is already a sealed image%s", what,
			oflags == O_RDWR ? "; choose a new overlay name" : "");
		layer_close(l);
	} else {
		err_msg(path, "%s: %s", what, why);
	}
	return NULL;
}

static void print_replay(const struct overlay *o)
{
	char b[32], *p = str_printable(o->hdr->parent_name);

	printf("%s: write-back overlay on %s: %llu records of %llu chunks, %s of data\n",
	       o->path, p, (unsigned long long)o->nr,
	       (unsigned long long)o->distinct, size_human(o->data_bytes, b));
	free(p);
}

int overlay_finish(const char *path, const char *parent,
		   const char *key_file, bool check, bool detached)
{
	struct seal_stats st;
	struct overlay *o;
	struct pass pass;
	unsigned int idx;
	int ret = EXIT_FAIL;

	o = overlay_open_msg(path, O_RDONLY, "cannot recover");
	if (!o)
		return EXIT_FAIL;
	/* detach has just removed its device: no sysfs race to lose. */
	if (!detached && overlay_attached(o->dev, o->ino, &idx)) {
		err_msg(path, "is attached as /dev/spf%u: detach it, which seals it",
			idx);
		goto out;
	}
	if (overlay_replay(o))
		goto out;
	overlay_report_torn(o);
	if (check) {
		print_replay(o);
		ret = EXIT_OK;
		goto out;
	}
	if (o->img.encrypted) {
		if (pass_get(key_file, path, false, &pass))
			goto out;
		ret = overlay_unlock(o, &pass) ? EXIT_FAIL : EXIT_OK;
		pass_free(&pass);
		if (ret)
			goto out;
		ret = EXIT_FAIL;
	} else if (key_file) {
		err_msg(path, "--key-file given but the overlay is not encrypted");
		goto out;
	}
	if (overlay_seal(o, parent, &st))
		goto out;
	{
		char *p = str_printable(o->hdr->parent_name);

		printf(PROG ": sealed %s: %llu chunks (%llu records, %llu superseded dropped",
		       path, (unsigned long long)st.entries,
		       (unsigned long long)st.records,
		       (unsigned long long)st.superseded);
		if (st.unchanged)
			printf(", %llu unchanged left out",
			       (unsigned long long)st.unchanged);
		if (st.compressed)
			printf(", %llu raw compressed",
			       (unsigned long long)st.compressed);
		if (st.recompressed)
			printf(", %llu recompressed",
			       (unsigned long long)st.recompressed);
		printf("), parent %s\n", p);
		free(p);
	}
	ret = EXIT_OK;
out:
	overlay_close(o);
	return ret;
}

int cmd_recover(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check",	no_argument,       NULL, 'n' },
		{ "dry-run",	no_argument,       NULL, 'n' },
		{ "key-file",	required_argument, NULL, 'k' },
		{ "help",	no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key_file = NULL;
	bool check = false;
	char *path;
	int c;

	while ((c = getopt_long(argc, argv, ":nk:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': check = true; break;
		case 'k': key_file = optarg; break;
		case 'h': help(); return EXIT_OK;
		default: return bad_option(&desc, c, argv);
		}
	}
	if (take_args(&desc, argc, argv, 1, NULL, &path))
		return EXIT_USAGE;
	if (check && key_file)
		return usage_error(&desc, "--check needs no --key-file");
	return overlay_finish(path, NULL, key_file, check, false);
}
