// SPDX-License-Identifier: GPL-2.0
/*
 * spfctl info: what one image is.  One list of fields drives both the
 * human output and --json.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "libchain.h"
#include "libjson.h"
#include "libseal.h"

static const struct cmd_desc desc = {
	"info", "info [--json] [--key-file FILE] IMAGE",
};

static void help(void)
{
	printf("Usage: spfctl %s\n\n"
	       "Show what IMAGE is: its disk, chunks, codec, storage, encryption,\n"
	       "identity, place in its chain, and whether it was finalised.  Only\n"
	       "IMAGE is read, not its chain.\n\n"
	       "Options:\n"
	       "  -J, --json           typed JSON output\n"
	       "  -k, --key-file FILE  check the passphrase in FILE (- for stdin)\n"
	       "                       against an encrypted image\n"
	       "  -h, --help           show this help\n\n"
	       "IMAGE may also be an unsealed write-back overlay (spfctl attach\n"
	       "--writable): its records are replayed and summarised.\n\n"
	       "Exit status: 0 for a sealed image or an overlay, 1 if it cannot be\n"
	       "read or was not finalised (its header is still shown), 2 for a usage\n"
	       "error.\n",
	       desc.usage);
}

/* A field sink: aligned "name: value" lines, or JSON members. */
struct emit {
	bool json;
	struct json j;
};

#define NAME_WIDTH	20

static void human(const char *name, const char *fmt, ...) __printf(2, 3);
static void human(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%-*s", NAME_WIDTH, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* @name is "human name:json_key". */
static const char *jkey(const char *name)
{
	return strchr(name, ':') + 1;
}

static void hname(const char *name, char *out)
{
	size_t n = strchr(name, ':') - name;

	memcpy(out, name, n);
	out[n] = ':';
	out[n + 1] = '\0';
}

static void f_str(struct emit *e, const char *name, const char *val)
{
	char h[64];

	if (e->json) {
		if (val)
			json_str(&e->j, jkey(name), val);
		else
			json_null(&e->j, jkey(name));
		return;
	}
	hname(name, h);
	if (val) {
		char *safe = str_printable(val);

		human(h, "%s", safe);
		free(safe);
	} else {
		human(h, "-");
	}
}

static void f_u64(struct emit *e, const char *name, u64 v)
{
	char h[64];

	if (e->json) {
		json_u64(&e->j, jkey(name), v);
		return;
	}
	hname(name, h);
	human(h, "%llu", (unsigned long long)v);
}

static void f_size(struct emit *e, const char *name, u64 v)
{
	char h[64], s[32];

	if (e->json) {
		json_u64(&e->j, jkey(name), v);
		return;
	}
	hname(name, h);
	human(h, "%llu (%s)", (unsigned long long)v, size_human(v, s));
}

static void f_bool(struct emit *e, const char *name, bool v)
{
	char h[64];

	if (e->json) {
		json_bool(&e->j, jkey(name), v);
		return;
	}
	hname(name, h);
	human(h, "%s", v ? "yes" : "no");
}

static void f_uuid(struct emit *e, const char *name, const u8 *u, bool set)
{
	char s[37];

	uuid_format(u, s);
	f_str(e, name, set ? s : NULL);
}

static void f_time(struct emit *e, const char *name, u64 t, bool set)
{
	char s[32];

	time_format(t, s);
	f_str(e, name, set ? s : NULL);
}

static const char *image_type(const struct spf_image *img)
{
	if (img->consolidated)
		return "consolidated";
	return img->depth ? "incremental" : "full";
}

static void show_identity(struct emit *e, const struct spf_layer *l)
{
	const struct spf_image *img = &l->img;
	bool inc = img->depth > 0;

	f_uuid(e, "uuid:uuid", img->uuid, true);
	f_uuid(e, "chain uuid:chain_uuid", img->chain_uuid, true);
	f_u64(e, "depth:depth", img->depth);
	f_uuid(e, "parent uuid:parent_uuid", img->parent_uuid, inc);
	f_str(e, "parent name:parent_name",
	      l->hdr->parent_name[0] ? l->hdr->parent_name : NULL);
	if (inc)
		f_size(e, "parent disk size:parent_disk_size",
		       img->parent_disk_size);
	else
		f_str(e, "parent disk size:parent_disk_size", NULL);
	if (img->consolidated && img->sealed)
		f_uuid(e, "link uuid:link_uuid", img->link_uuid, true);
}

static void show_storage(struct emit *e, const struct spf_image *img)
{
	char ratio[32];
	double r = 0;

	if (!img->sealed)
		return;
	f_u64(e, "entries:entries", img->nr_entries);
	f_u64(e, "stored chunks:stored_chunks", img->nr_stored);
	f_u64(e, "zero chunks:zero_chunks", img->nr_entries - img->nr_stored);
	f_size(e, "stored bytes:stored_bytes", img->stored_bytes);
	if (img->stored_bytes)
		r = (double)img->nr_stored * img->chunk_size /
		    img->stored_bytes;
	if (e->json) {
		if (img->stored_bytes)
			json_double(&e->j, "compression_ratio", r);
		else
			json_null(&e->j, "compression_ratio");
	} else {
		snprintf(ratio, sizeof(ratio), "%.2f", r);
		human("compression ratio:", "%s",
		      img->stored_bytes ? ratio : "-");
	}
	f_u64(e, "index levels:index_levels", img->index_levels);
	f_u64(e, "index blocks:index_blocks", img->index_blocks);
}

static void show_crypt(struct emit *e, const struct spf_layer *l, int unlock)
{
	const struct spf_crypt *c = &l->hdr->crypt;
	u32 t = le32_to_cpu(c->kdf_t_cost), m = le32_to_cpu(c->kdf_m_cost);
	u32 p = le32_to_cpu(c->kdf_parallelism);

	f_bool(e, "encrypted:encrypted", l->img.encrypted);
	if (!l->img.encrypted)
		return;
	if (e->json) {
		json_str(&e->j, "cipher", "aes-256-gcm");
		json_object(&e->j, "kdf");
		json_str(&e->j, "algorithm", "argon2id");
		json_u64(&e->j, "time_cost", t);
		json_u64(&e->j, "memory_kib", m);
		json_u64(&e->j, "parallelism", p);
		json_object_end(&e->j);
	} else {
		human("cipher:", "aes-256-gcm");
		human("key derivation:", "argon2id (t=%u, m=%u KiB, p=%u)",
		      t, m, p);
	}
	if (unlock >= 0)
		f_bool(e, "passphrase ok:passphrase_ok", unlock == 0);
}

static void show(struct emit *e, const struct spf_layer *l, const char *why,
		 int unlock)
{
	const struct spf_image *img = &l->img;
	char state[300];

	if (img->sealed)
		snprintf(state, sizeof(state), "sealed");
	else
		snprintf(state, sizeof(state), "%s", why);
	f_str(e, "file:file", l->path);
	f_str(e, "type:type", image_type(img));
	f_u64(e, "format version:format_version", SPF_VERSION);
	f_size(e, "file size:file_size", img->file_size);
	f_size(e, "disk size:disk_size", img->disk_size);
	f_size(e, "chunk size:chunk_size", img->chunk_size);
	f_u64(e, "chunks:chunks", img->nr_chunks);
	f_str(e, "codec:codec", spf_codec_name(img->codec));
	f_u64(e, "codec level:codec_level", img->codec_level);
	show_storage(e, img);
	show_crypt(e, l, unlock);
	show_identity(e, l);
	f_str(e, "label:label", l->hdr->label[0] ? l->hdr->label : NULL);
	f_time(e, "created:created", img->create_time, true);
	f_bool(e, "sealed:sealed", img->sealed);
	f_time(e, "sealed at:sealed_at", img->seal_time, img->sealed);
	f_str(e, "state:state", state);
}

/* An unsealed write-back overlay: its header and a replay summary. */
static int info_overlay(struct overlay *o, bool json, const char *key_file)
{
	const struct spf_image *img = &o->img;
	struct emit e = { .json = json };
	int unlock = -1;
	struct pass pass;
	char state[400];

	if (overlay_replay(o))
		return EXIT_FAIL;
	if (key_file && img->encrypted) {
		unlock = 1;
		if (!pass_get(key_file, o->path, false, &pass)) {
			unlock = overlay_unlock(o, &pass) ? 1 : 0;
			pass_free(&pass);
		}
	}
	snprintf(state, sizeof(state), "unsealed write-back overlay: seal it by detaching its device, or with `spfctl recover %s`",
		 o->path);
	if (json)
		json_begin(&e.j, stdout);
	f_str(&e, "file:file", o->path);
	f_str(&e, "type:type", "overlay");
	f_u64(&e, "format version:format_version", SPF_VERSION);
	f_size(&e, "file size:file_size", o->size);
	f_size(&e, "disk size:disk_size", img->disk_size);
	f_size(&e, "chunk size:chunk_size", img->chunk_size);
	f_u64(&e, "chunks:chunks", img->nr_chunks);
	f_str(&e, "codec:codec", spf_codec_name(img->codec));
	f_u64(&e, "codec level:codec_level", img->codec_level);
	f_u64(&e, "records:records", o->nr);
	f_u64(&e, "record chunks:record_chunks", o->distinct);
	f_u64(&e, "superseded:superseded", o->nr - o->distinct);
	f_size(&e, "record bytes:record_bytes", o->data_bytes);
	f_size(&e, "torn tail:torn_tail_bytes", overlay_torn_bytes(o));
	f_str(&e, "torn tail reason:torn_tail_reason",
	      o->end == o->size ? NULL : o->torn_why);
	f_bool(&e, "encrypted:encrypted", img->encrypted);
	if (unlock >= 0)
		f_bool(&e, "passphrase ok:passphrase_ok", unlock == 0);
	f_uuid(&e, "uuid:uuid", img->uuid, true);
	f_uuid(&e, "chain uuid:chain_uuid", img->chain_uuid, true);
	f_u64(&e, "depth:depth", img->depth);
	f_uuid(&e, "parent uuid:parent_uuid", img->parent_uuid, true);
	f_str(&e, "parent name:parent_name",
	      o->hdr->parent_name[0] ? o->hdr->parent_name : NULL);
	f_time(&e, "created:created", img->create_time, true);
	f_bool(&e, "sealed:sealed", false);
	f_str(&e, "state:state", state);
	if (json)
		json_end(&e.j);
	if (fflush(stdout) || ferror(stdout)) {
		err_sys("stdout", errno, "write failed");
		return EXIT_FAIL;
	}
	return unlock > 0 ? EXIT_FAIL : EXIT_OK;
}

static int info(const char *path, bool json, const char *key_file)
{
	struct spf_layer *l;
	struct overlay *o;
	struct emit e = { .json = json };
	char why[256];
	int ret, unlock = -1;
	struct pass pass;

	if (!overlay_open(path, O_RDONLY, &o, why, sizeof(why))) {
		ret = info_overlay(o, json, key_file);
		overlay_close(o);
		return ret;
	}
	ret = layer_open(path, LAYER_HEADER_ONLY, &l, why, sizeof(why));
	if (!l) {
		err_msg(path, "%s", why);
		return EXIT_FAIL;
	}
	if (ret)
		err_msg(path, "%s", why);
	if (key_file && l->img.encrypted) {
		unlock = 1;
		if (!pass_get(key_file, path, false, &pass)) {
			unlock = layer_unlock(l, &pass) ? 1 : 0;
			pass_free(&pass);
		}
	}
	if (json)
		json_begin(&e.j, stdout);
	show(&e, l, why, unlock);
	if (json)
		json_end(&e.j);
	layer_close(l);
	if (fflush(stdout) || ferror(stdout)) {
		err_sys("stdout", errno, "write failed");
		return EXIT_FAIL;
	}
	return ret || unlock > 0 ? EXIT_FAIL : EXIT_OK;
}

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,       NULL, 'J' },
		{ "key-file",	required_argument, NULL, 'k' },
		{ "help",	no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key_file = NULL;
	bool json = false;
	char *image;
	int c;

	while ((c = getopt_long(argc, argv, ":Jk:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'J': json = true; break;
		case 'k': key_file = optarg; break;
		case 'h': help(); return EXIT_OK;
		default: return bad_option(&desc, c, argv);
		}
	}
	if (take_args(&desc, argc, argv, 1, NULL, &image))
		return EXIT_USAGE;
	return info(image, json, key_file);
}
