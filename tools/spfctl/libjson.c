// SPDX-License-Identifier: GPL-2.0
/*
 * Minimal JSON writer.
 */
#include <string.h>

#include "libjson.h"

/* Length of a valid UTF-8 sequence at @p, or 0. */
static int utf8_len(const unsigned char *p)
{
	int n, i;

	if (*p < 0x80)
		return 1;
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if ((*p & 0xf0) == 0xe0)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void json_print_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		int n = utf8_len(p);

		if (!n) {
			fputs("\\ufffd", f);
			p++;
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p == '\n') {
			fputs("\\n", f);
			p++;
		} else if (*p == '\t') {
			fputs("\\t", f);
			p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p++);
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
	fputc('"', f);
}

static void json_key(struct json *j, const char *key)
{
	if (j->need_comma)
		fputc(',', j->f);
	fprintf(j->f, "\n%*s", 2 * j->depth, "");
	if (key) {
		json_print_string(j->f, key);
		fputs(": ", j->f);
	}
	j->need_comma = true;
}

void json_begin(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 1;
	j->need_comma = false;
	fputc('{', f);
}

void json_end(struct json *j)
{
	fputs("\n}\n", j->f);
}

void json_object(struct json *j, const char *key)
{
	json_key(j, key);
	fputc('{', j->f);
	j->depth++;
	j->need_comma = false;
}

void json_object_end(struct json *j)
{
	j->depth--;
	fprintf(j->f, "\n%*s}", 2 * j->depth, "");
	j->need_comma = true;
}

void json_str(struct json *j, const char *key, const char *val)
{
	json_key(j, key);
	json_print_string(j->f, val);
}

void json_u64(struct json *j, const char *key, u64 val)
{
	json_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)val);
}

void json_double(struct json *j, const char *key, double val)
{
	json_key(j, key);
	fprintf(j->f, "%.3f", val);
}

void json_bool(struct json *j, const char *key, bool val)
{
	json_key(j, key);
	fputs(val ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	json_key(j, key);
	fputs("null", j->f);
}
