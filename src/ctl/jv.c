// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdbool.h>

#include "jv.h"

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EPROTO;
}

/*
 * The number at *pp, by JSON's grammar, *pp moved past it: 0; -EINVAL if it
 * is not a JSON number; -ERANGE for an integer below INT64_MIN or above
 * UINT64_MAX.
 */
static int scan_number(const char **pp)
{
	const char *p = *pp;
	bool neg = *p == '-', is_int = true, wide = false;
	uint64_t mag = 0;
	int ret = -EINVAL;

	if (neg)
		p++;
	if (!g_ascii_isdigit(*p))
		goto out;
	if (*p == '0')
		p++; /* a leading zero stands alone: 012 is not JSON (the check below) */
	else
		for (; g_ascii_isdigit(*p); p++) {
			unsigned d = (unsigned)(*p - '0');

			if (mag > (UINT64_MAX - d) / 10)
				wide = true;
			else
				mag = mag * 10 + d;
		}
	if (*p == '.') {
		is_int = false;
		if (!g_ascii_isdigit(*++p))
			goto out;
		while (g_ascii_isdigit(*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		is_int = false;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!g_ascii_isdigit(*p))
			goto out;
		while (g_ascii_isdigit(*p))
			p++;
	}
	if (g_ascii_isalnum(*p) || *p == '.' || *p == '_')
		goto out; /* 0x10, 012, 1.2.3 */
	ret = is_int && (wide || (neg && mag > (uint64_t)INT64_MAX + 1)) ? -ERANGE : 0;
out:
	while (ret == -EINVAL && (g_ascii_isalnum(*p) || *p == '.' || *p == '-' || *p == '+'))
		p++; /* the rest of the token, for the message */
	*pp = p;
	return ret;
}

/*
 * json-glib 1.6 reads numbers with GScanner, which is not JSON: it takes 012
 * as octal (10), 0x10 as hex, .5 and "- 1", and an integer beyond 64 bits
 * without an error, a positive one as -1 and a negative one as a small
 * positive (-18446744073709551615 reads as 1).  So every number in the text
 * is checked here first: JSON's grammar, and an integer from INT64_MIN to
 * UINT64_MAX (json-glib keeps those bits; one above INT64_MAX reads as a
 * negative, which no size or count accepts).  One pass, no allocation.
 * NULL, or what is wrong (g_free it).
 */
static char *check_numbers(const char *text)
{
	const char *p = text;

	while (*p) {
		const char *start = p;
		int r;

		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p)
				p++;
		} else if (g_ascii_isalpha(*p) || *p == '_') { /* true, false, null, or an error */
			while (g_ascii_isalnum(*p) || *p == '_')
				p++;
		} else if (*p == '-' || *p == '.' || g_ascii_isdigit(*p)) {
			r = scan_number(&p);
			if (r)
				return g_strdup_printf(r == -ERANGE
							       ? "integer %.*s%s is beyond 64 bits"
							       : "'%.*s%s' is not a JSON number",
						       (int)MIN(p - start, 40), start,
						       p - start > 40 ? "..." : "");
		} else {
			p++;
		}
	}
	return NULL;
}

JsonNode *jv_parse(const char *text, char **err)
{
	JsonParser *p;
	GError *gerr = NULL;
	JsonNode *root = NULL;
	char *why = check_numbers(text);

	if (why) {
		if (err)
			*err = why;
		else
			g_free(why);
		return NULL;
	}
	p = json_parser_new();
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
