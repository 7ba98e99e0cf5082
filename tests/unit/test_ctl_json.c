// SPDX-License-Identifier: GPL-2.0-or-later
/* vofirmctl's JSON: QMP commands as text, and sizes read strictly. */
#include <errno.h>
#include <string.h>

#include "../../src/ctl/jv.h"
#include "../../src/ctl/qmp.h"
#include "unit.h"

/* Names and paths that only correct escaping keeps inside their string. */
static void test_message_escaping(void)
{
	static const char id[] = "a\"b\\c";
	static const char path[] = "/mnt/\"vm\"\\x\n\t\x01\x1f\x7f/caf\xc3\xa9";
	JsonObject *args = json_object_new();
	JsonNode *back;
	char *m, *err = NULL;

	json_object_set_string_member(args, "id", id);
	json_object_set_string_member(args, "mem-path", path);
	json_object_set_int_member(args, "size", 1 << 30);
	json_object_set_boolean_member(args, "share", TRUE);
	m = qmp_message("object-add", args, "vofirmctl-1");
	json_object_unref(args);
	CHECK_STR(m, "{\"execute\":\"object-add\",\"arguments\":{\"id\":\"a\\\"b\\\\c\","
		     "\"mem-path\":\"/mnt/\\\"vm\\\"\\\\x\\n\\t\\u0001\\u001f\\u007f/caf\xc3\xa9\","
		     "\"size\":1073741824,\"share\":true},\"id\":\"vofirmctl-1\"}\n");
	/* one line, as QMP reads it: no raw control character but the end */
	for (const char *c = m; c && *c; c++)
		CHECK((unsigned char)*c >= 0x20 || (*c == '\n' && !c[1]));
	back = m ? jv_parse(m, &err) : NULL;
	CHECK(back != NULL);
	CHECK_STR(jv_str(jv_get(back, "execute")), "object-add");
	CHECK_STR(jv_str(jv_get(jv_get(back, "arguments"), "id")), id);
	CHECK_STR(jv_str(jv_get(jv_get(back, "arguments"), "mem-path")), path);
	if (back)
		json_node_unref(back);
	g_free(err);
	g_free(m);

	m = qmp_message("query-name", NULL, "x");
	CHECK_STR(m, "{\"execute\":\"query-name\",\"id\":\"x\"}\n");
	g_free(m);

	/* JSON text is UTF-8: a path that is not cannot be sent */
	args = json_object_new();
	json_object_set_string_member(args, "mem-path", "/mnt/bad\xff\xfe");
	m = qmp_message("object-add", args, "vofirmctl-2");
	CHECK(m == NULL);
	g_free(m);
	json_object_unref(args);
}

static void test_sizes(void)
{
	static const struct {
		const char *key;
		int ret;
		uint64_t v;
		const char *why;
	} cases[] = {
		{ "ok", 0, 268435456, NULL },
		{ "zero", 0, 0, NULL },
		{ "max", 0, INT64_MAX, NULL },
		{ "over", -EPROTO, 0, "negative or too large" },   /* 2^63 */
		{ "u64max", -EPROTO, 0, "negative or too large" }, /* 2^64 - 1 */
		{ "neg", -EPROTO, 0, "negative or too large" },
		{ "float", -EPROTO, 0, "not an integer" },
		{ "whole_float", -EPROTO, 0, "not an integer" },
		{ "inf", -EPROTO, 0, "not an integer" },
		{ "str", -EPROTO, 0, "not a number" },
		{ "bool", -EPROTO, 0, "not a number" },
		{ "null", -EPROTO, 0, "not a number" },
		{ "obj", -EPROTO, 0, "not a number" },
		{ "arr", -EPROTO, 0, "not a number" },
		{ "absent", -EPROTO, 0, "missing" },
	};
	char *err = NULL;
	JsonNode *v = jv_parse("{\"ok\": 268435456, \"zero\": 0, \"max\": 9223372036854775807, "
			       "\"over\": 9223372036854775808, \"u64max\": 18446744073709551615, "
			       "\"neg\": -1, "
			       "\"float\": 1.5, \"whole_float\": 1.0, \"inf\": 1e400, "
			       "\"str\": \"12\", \"bool\": true, \"null\": null, \"obj\": {}, "
			       "\"arr\": [1]}",
			       &err);

	CHECK(v != NULL);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = 777;
		const char *why = NULL;
		int ret = jv_uint(jv_get(v, cases[i].key), &got, &why);

		if (ret != cases[i].ret)
			fprintf(stderr, "%s: %d, not %d\n", cases[i].key, ret, cases[i].ret);
		CHECK_EQ(ret, cases[i].ret);
		CHECK_EQ(got, ret ? 777 : cases[i].v);
		if (cases[i].why)
			CHECK_STR(why, cases[i].why);
	}
	if (v)
		json_node_unref(v);
	g_free(err);
}

/*
 * What json-glib's scanner would misread is refused before it: integers
 * beyond 64 bits (a negative one reads back as a small positive), octal,
 * hex and other numbers that are not JSON.
 */
static void test_numbers(void)
{
	static const char *const bad[] = {
		"18446744073709551616",
		"123456789012345678901234567890",
		"-9223372036854775809",
		"-18446744073709551615",
		"-123456789012345678901234567890",
		"[1, {\"size\": -18446744073709551616}]",
		"012",
		"-012",
		"0x10",
		".5",
		"- 1",
		"1.",
		"1e",
		"1e+",
		"1.2.3",
		"-",
		"00",
		"1_000",
	};
	static const char *const good[] = {
		"0",
		"-0",
		"18446744073709551615",
		"-9223372036854775808",
		"1e400",
		"-1e400",
		"123456789012345678901234567890.5",
		"123456789012345678901234567890e0",
		"0.5",
		"1E+2",
		"\"123456789012345678901234567890\"",
		"\"x\\\"123456789012345678901234567890\"",
		"{\"a-1\": [true, false, null, -1]}",
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err = NULL;
		JsonNode *v = jv_parse(bad[i], &err);

		if (v) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			json_node_unref(v);
		}
		CHECK(v == NULL);
		CHECK(err && (strstr(err, "beyond 64 bits") || strstr(err, "not a JSON number")));
		g_free(err);
	}
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *err = NULL;
		JsonNode *v = jv_parse(good[i], &err);

		if (!v)
			fprintf(stderr, "refused: %s: %s\n", good[i], err);
		CHECK(v != NULL);
		if (v)
			json_node_unref(v);
		g_free(err);
	}
}

/* Latencies are floats, shown in whole microseconds. */
static void test_floor(void)
{
	static const struct {
		const char *key;
		int ret;
		uint64_t v;
	} cases[] = {
		{ "f", 0, 12 },	       { "i", 0, 3 },	      { "neg", -EPROTO, 0 },
		{ "inf", -EPROTO, 0 }, { "str", -EPROTO, 0 }, { "absent", -EPROTO, 0 },
	};
	JsonNode *v = jv_parse(
		"{\"f\": 12.7, \"i\": 3, \"neg\": -0.5, \"inf\": 1e400, \"str\": \"1\"}", NULL);

	CHECK(v != NULL);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = 777;
		const char *why = NULL;
		int ret = jv_floor(jv_get(v, cases[i].key), &got, &why);

		CHECK_EQ(ret, cases[i].ret);
		CHECK_EQ(got, ret ? 777 : cases[i].v);
		CHECK(ret == 0 || why != NULL);
	}
	if (v)
		json_node_unref(v);
}

/* Values of the wrong type read as absent, and json-glib stays quiet. */
static void test_types(void)
{
	JsonNode *v = jv_parse("{\"s\": \"x\", \"n\": 1, \"a\": [], \"o\": {\"k\": \"v\"}}", NULL);

	CHECK(v != NULL);
	CHECK_STR(jv_str(jv_get(v, "s")), "x");
	CHECK(jv_str(jv_get(v, "n")) == NULL);
	CHECK(jv_str(jv_get(v, "o")) == NULL);
	CHECK(jv_str(NULL) == NULL);
	CHECK(jv_array(jv_get(v, "a")) != NULL);
	CHECK(jv_array(jv_get(v, "o")) == NULL);
	CHECK_STR(jv_str(jv_get(jv_get(v, "o"), "k")), "v");
	CHECK(jv_get(jv_get(v, "s"), "k") == NULL);
	CHECK(jv_get(jv_get(v, "a"), "k") == NULL);
	CHECK(jv_get(NULL, "k") == NULL);
	if (v)
		json_node_unref(v);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"",	 "   ",	 "{",	"[1,",	      "{\"a\" 1}", "{\"a\":}",	  "[1 2]",
		"\"abc", "{} x", "tru", "{\"a\":1,}", "{1: 2}",	   "\"bad\xff\"",
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err = NULL;
		JsonNode *v = jv_parse(bad[i], &err);

		if (v) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			json_node_unref(v);
		}
		CHECK(v == NULL);
		CHECK(err != NULL && *err);
		g_free(err);
	}
}

int main(void)
{
	/* a misused json-glib call warns and goes on: make it fail the test */
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
	UNIT_RUN(test_message_escaping);
	UNIT_RUN(test_sizes);
	UNIT_RUN(test_numbers);
	UNIT_RUN(test_floor);
	UNIT_RUN(test_types);
	UNIT_RUN(test_malformed);
	return unit_done();
}
