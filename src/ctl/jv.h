/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON for vofirmctl, over json-glib: text in and out, and values read with
 * their types checked (QEMU's replies and the mount's stats are input like
 * any other; a size is never taken from a float, a string or a negative).
 */
#ifndef VOFIRM_CTL_JV_H
#define VOFIRM_CTL_JV_H

#include <stdint.h>

#include <json-glib/json-glib.h>

/*
 * One JSON value (json_node_unref it), or NULL with *err (g_free it) if err.
 * A number that is not JSON or an integer beyond 64 bits is refused here:
 * json-glib would misread it.
 */
JsonNode *jv_parse(const char *text, char **err);

/* The compact JSON text of root (g_free it); NULL if a string in it is not UTF-8. */
char *jv_text(JsonNode *root);

/* These give NULL for a missing or NULL obj, or a value of another type. */
JsonNode *jv_get(JsonNode *obj, const char *key);
const char *jv_str(JsonNode *v);
JsonArray *jv_array(JsonNode *v);

/*
 * v as a size or a count: an integer from 0 to INT64_MAX.  0, or -EPROTO
 * with *why saying what is wrong ("missing", "not an integer", ...).
 */
int jv_uint(JsonNode *v, uint64_t *out, const char **why);

/* v, a number from 0 below 2^63 (a measurement: fractions allowed), rounded down. */
int jv_floor(JsonNode *v, uint64_t *out, const char **why);

#endif
