// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>

#include "jv.h"

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EPROTO;
}

JsonNode *jv_parse(const char *text, char **err)
{
	JsonParser *p = json_parser_new();
	GError *gerr = NULL;
	JsonNode *root = NULL;

	if (!json_parser_load_from_data(p, text, -1, &gerr)) {
		if (err)
			*err = g_strdup(gerr->message);
		g_error_free(gerr);
	} else if (!(root = json_parser_steal_root(p))) {
		if (err)
			*err = g_strdup("no JSON value");
	}
	g_object_unref(p);
	return root;
}

char *jv_text(JsonNode *root)
{
	JsonGenerator *g = json_generator_new();
	GString *s = g_string_new(NULL);

	json_generator_set_root(g, root);
	json_generator_to_gstring(g, s);
	g_object_unref(g);
	/*
	 * json-glib escapes control characters below U+001F only, and writes
	 * U+001F as it is, which JSON does not allow; outside strings the
	 * text has no such byte.  JSON text is UTF-8, and json-glib copies
	 * strings through without checking.
	 */
	g_string_replace(s, "\x1f", "\\u001f", 0);
	if (!g_utf8_validate(s->str, (gssize)s->len, NULL)) {
		g_string_free(s, TRUE);
		return NULL;
	}
	return g_string_free(s, FALSE);
}

JsonNode *jv_get(JsonNode *obj, const char *key)
{
	if (!obj || !JSON_NODE_HOLDS_OBJECT(obj))
		return NULL;
	return json_object_get_member(json_node_get_object(obj), key);
}

const char *jv_str(JsonNode *v)
{
	if (!v || !JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(v);
}

JsonArray *jv_array(JsonNode *v)
{
	return v && JSON_NODE_HOLDS_ARRAY(v) ? json_node_get_array(v) : NULL;
}

/* A number's type: G_TYPE_INT64, G_TYPE_DOUBLE, or 0 for anything else. */
static GType number_type(JsonNode *v)
{
	GType t;

	if (!JSON_NODE_HOLDS_VALUE(v))
		return 0;
	t = json_node_get_value_type(v);
	return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE ? t : 0;
}

int jv_uint(JsonNode *v, uint64_t *out, const char **why)
{
	gint64 i;

	if (!v)
		return fail(why, "missing");
	if (!number_type(v))
		return fail(why, "not a number");
	/* json_node_get_int() would truncate a float, and 1e400 is a float */
	if (number_type(v) != G_TYPE_INT64)
		return fail(why, "not an integer");
	/* json-glib (1.6) wraps an integer above INT64_MAX to a negative, not an error */
	i = json_node_get_int(v);
	if (i < 0)
		return fail(why, "negative or too large");
	*out = (uint64_t)i;
	return 0;
}

int jv_floor(JsonNode *v, uint64_t *out, const char **why)
{
	double d;

	if (!v)
		return fail(why, "missing");
	if (!number_type(v))
		return fail(why, "not a number");
	d = json_node_get_double(v);
	/* also false for inf and NaN: the cast below is defined */
	if (!(d >= 0 && d < 0x1p63))
		return fail(why, "negative or too large");
	*out = (uint64_t)d;
	return 0;
}
