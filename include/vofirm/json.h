/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small, strict JSON reader for QMP replies and vofirm-fs stats. */
#ifndef VOFIRM_JSON_H
#define VOFIRM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	bool b;
	double num;
	char *s;            /* J_STR */
	size_t n;           /* J_ARR, J_OBJ: entries */
	struct jv **items;  /* J_ARR, J_OBJ values */
	char **keys;        /* J_OBJ */
};

/* Parses one JSON value (and nothing after it but white space).
 * NULL with *err set on malformed input. */
struct jv *json_parse(const char *text, const char **err);
void json_free(struct jv *v);

struct jv *json_get(const struct jv *obj, const char *key); /* NULL: none */
const char *json_str(const struct jv *v);                    /* NULL: not a string */
int64_t json_int(const struct jv *v, int64_t dflt);          /* dflt: not a number */
void json_escape(GString *out, const char *s);               /* appends "..." */

#endif
