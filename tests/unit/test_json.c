// SPDX-License-Identifier: GPL-2.0-or-later
/* The JSON reader vofirmctl uses for QMP and the stats. */
#include "vofirm/json.h"
#include "unit.h"

static void test_values(void)
{
	const char *why = NULL;
	struct jv *v = json_parse(" {\"return\": {\"size\": 268435456, \"slots\": 4, "
				  "\"ok\": true, \"n\": null, \"s\": \"a\\\"b\\u00e9\\n\", "
				  "\"arr\": [1, -2.5e3, [], {}]}} ", &why);

	CHECK(v != NULL);
	struct jv *r = json_get(v, "return");

	CHECK_EQ(json_int(json_get(r, "size"), 0), 268435456);
	CHECK_EQ(json_int(json_get(r, "slots"), 0), 4);
	CHECK(json_get(r, "ok")->t == J_BOOL && json_get(r, "ok")->b);
	CHECK(json_get(r, "n")->t == J_NULL);
	CHECK_STR(json_str(json_get(r, "s")), "a\"b\xc3\xa9\n");
	CHECK_EQ(json_get(r, "arr")->n, 4);
	CHECK_EQ(json_int(json_get(r, "arr")->items[1], 0), (uint64_t)(int64_t)-2500);
	CHECK(json_get(r, "missing") == NULL);
	CHECK_EQ(json_int(json_get(r, "s"), 7), 7);
	json_free(v);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"", "{", "[1,", "{\"a\" 1}", "{\"a\":}", "[1 2]", "\"abc", "{} x", "tru",
		"{\"a\":1,}", "\"\\q\"", "\"\\u12g4\"", "{1: 2}",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]"
		"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		struct jv *v = json_parse(bad[i], &why);

		if (v)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(v == NULL);
		CHECK(why != NULL);
	}
}

static void test_escape(void)
{
	GString *s = g_string_new(NULL);

	json_escape(s, "a\"b\\c\n");
	CHECK_STR(s->str, "\"a\\\"b\\\\c\\u000a\"");
	g_string_free(s, TRUE);
}

int main(void)
{
	UNIT_RUN(test_values);
	UNIT_RUN(test_malformed);
	UNIT_RUN(test_escape);
	return unit_done();
}
