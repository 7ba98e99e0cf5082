// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdlib.h>
#include <string.h>

#include "vofirm/json.h"

struct parser {
	const char *p;
	const char *err;
	int depth;
};

static void ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static struct jv *value(struct parser *ps);

static char *string(struct parser *ps)
{
	GString *s = g_string_new(NULL);

	ps->p++; /* " */
	while (*ps->p && *ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;

		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			g_string_append_c(s, (char)c);
			continue;
		}
		switch (*ps->p++) {
		case '"': g_string_append_c(s, '"'); break;
		case '\\': g_string_append_c(s, '\\'); break;
		case '/': g_string_append_c(s, '/'); break;
		case 'b': g_string_append_c(s, '\b'); break;
		case 'f': g_string_append_c(s, '\f'); break;
		case 'n': g_string_append_c(s, '\n'); break;
		case 'r': g_string_append_c(s, '\r'); break;
		case 't': g_string_append_c(s, '\t'); break;
		case 'u': {
			unsigned cp = 0;

			for (int i = 0; i < 4; i++) {
				char h = *ps->p++;

				cp <<= 4;
				if (h >= '0' && h <= '9')
					cp |= (unsigned)(h - '0');
				else if (h >= 'a' && h <= 'f')
					cp |= (unsigned)(h - 'a' + 10);
				else if (h >= 'A' && h <= 'F')
					cp |= (unsigned)(h - 'A' + 10);
				else
					goto bad;
			}
			g_string_append_unichar(s, cp);
			break;
		}
		default:
			goto bad;
		}
	}
	if (*ps->p != '"')
		goto bad;
	ps->p++;
	return g_string_free(s, FALSE);
bad:
	ps->err = "bad string";
	g_string_free(s, TRUE);
	return NULL;
}

static struct jv *container(struct parser *ps, bool obj)
{
	struct jv *v = g_new0(struct jv, 1);
	GPtrArray *items = g_ptr_array_new(), *keys = g_ptr_array_new();
	bool ok = false;

	v->t = obj ? J_OBJ : J_ARR;
	if (++ps->depth > 64) {
		ps->err = "nested too deep";
		goto out;
	}
	ps->p++;
	ws(ps);
	if (*ps->p == (obj ? '}' : ']')) {
		ps->p++;
		ok = true;
		goto out;
	}
	for (;;) {
		ws(ps);
		if (obj) {
			char *k;

			if (*ps->p != '"' || !(k = string(ps))) {
				ps->err = ps->err ? ps->err : "object key expected";
				goto out;
			}
			g_ptr_array_add(keys, k);
			ws(ps);
			if (*ps->p++ != ':') {
				ps->err = "':' expected";
				goto out;
			}
		}
		struct jv *item = value(ps);

		if (!item)
			goto out;
		g_ptr_array_add(items, item);
		ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == (obj ? '}' : ']')) {
			ps->p++;
			ok = true;
			break;
		}
		ps->err = "',' or end expected";
		goto out;
	}
out:
	ps->depth--;
	/* a key whose value failed has no item: free it here */
	for (guint i = items->len; i < keys->len; i++)
		g_free(keys->pdata[i]);
	g_ptr_array_set_size(keys, obj ? items->len : 0);
	v->n = items->len;
	v->items = (struct jv **)g_ptr_array_free(items, FALSE);
	if (obj)
		v->keys = (char **)g_ptr_array_free(keys, FALSE);
	else
		g_ptr_array_free(keys, TRUE);
	if (ok)
		return v;
	json_free(v);
	return NULL;
}

static struct jv *value(struct parser *ps)
{
	struct jv *v;
	char *end;

	ws(ps);
	switch (*ps->p) {
	case '{':
		return container(ps, true);
	case '[':
		return container(ps, false);
	case '"': {
		char *s = string(ps);

		if (!s)
			return NULL;
		v = g_new0(struct jv, 1);
		v->t = J_STR;
		v->s = s;
		return v;
	}
	}
	v = g_new0(struct jv, 1);
	if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
		v->t = J_BOOL;
		v->b = ps->p[0] == 't';
		ps->p += v->b ? 4 : 5;
		return v;
	}
	if (!strncmp(ps->p, "null", 4)) {
		ps->p += 4;
		return v;
	}
	v->num = g_ascii_strtod(ps->p, &end);
	if (end == ps->p) {
		ps->err = "value expected";
		g_free(v);
		return NULL;
	}
	v->t = J_NUM;
	ps->p = end;
	return v;
}

struct jv *json_parse(const char *text, const char **err)
{
	struct parser ps = { .p = text };
	struct jv *v = value(&ps);

	if (v) {
		ws(&ps);
		if (*ps.p) {
			ps.err = "text after the value";
			json_free(v);
			v = NULL;
		}
	}
	if (!v && err)
		*err = ps.err ? ps.err : "malformed";
	return v;
}

void json_free(struct jv *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		json_free(v->items[i]);
		if (v->keys)
			g_free(v->keys[i]);
	}
	g_free(v->items);
	g_free(v->keys);
	g_free(v->s);
	g_free(v);
}

struct jv *json_get(const struct jv *obj, const char *key)
{
	if (!obj || obj->t != J_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->items[i];
	return NULL;
}

const char *json_str(const struct jv *v)
{
	return v && v->t == J_STR ? v->s : NULL;
}

int64_t json_int(const struct jv *v, int64_t dflt)
{
	return v && v->t == J_NUM ? (int64_t)v->num : dflt;
}

void json_escape(GString *out, const char *s)
{
	g_string_append_c(out, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			g_string_append_printf(out, "\\%c", c);
		else if (c < 0x20)
			g_string_append_printf(out, "\\u%04x", c);
		else
			g_string_append_c(out, (char)c);
	}
	g_string_append_c(out, '"');
}
