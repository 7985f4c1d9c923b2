/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal JSON writer for one flat or nested object: typed values,
 * proper escaping, invalid UTF-8 replaced by U+FFFD.
 */
#ifndef SPF_LIBJSON_H
#define SPF_LIBJSON_H

#include <stdio.h>

#include "libutil.h"

struct json {
	FILE *f;
	int depth;
	bool need_comma;
};

void json_begin(struct json *j, FILE *f);
void json_end(struct json *j);
void json_object(struct json *j, const char *key);	/* key NULL: value */
void json_object_end(struct json *j);
void json_str(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, u64 val);
void json_double(struct json *j, const char *key, double val);
void json_bool(struct json *j, const char *key, bool val);
void json_null(struct json *j, const char *key);
/* Print @s as a JSON string. */
void json_print_string(FILE *f, const char *s);

#endif /* SPF_LIBJSON_H */
