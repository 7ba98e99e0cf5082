// SPDX-License-Identifier: GPL-2.0-or-later
/* The option tables both daemons are made of: every kind of row on the
 * command line and in a file, precedence, messages, --help. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <glib.h>

#include "unit.h"
#include "vofirm/config.h"
#include "vofirm/log.h"

struct t_settings {
	unsigned n;
	uint64_t size, ms;
	bool flag, on;
	char *str;
	int level;
	GString *list;	 /* "[item]" per item */
	unsigned clears; /* list emptied */
	GString *acts;	 /* "(value)" per action */
	int answered;
};

static int t_add(void *settings, const char *item, const char *origin)
{
	struct t_settings *s = settings;

	if (!strcmp(item, "bad")) {
		vf_err("%s: item 'bad' refused", origin);
		return -EINVAL;
	}
	g_string_append_printf(s->list, "[%s]", item);
	return 0;
}

static void t_clear(void *settings)
{
	struct t_settings *s = settings;

	g_string_truncate(s->list, 0);
	s->clears++;
}

static int t_act(void *settings, const char *value)
{
	struct t_settings *s = settings;

	g_string_append_printf(s->acts, "(%s)", value ? value : "-");
	return value && !strcmp(value, "fail") ? -EINVAL : 0;
}

static int t_answer(void *settings, const char *value)
{
	((struct t_settings *)settings)->answered++;
	return 0;
}

#define AT(field) offsetof(struct t_settings, field)

static const struct vf_opt t_opt[] = {
	{ "number", 'n', VF_OPT_UINT, AT(n), .lo = 1, .hi = 100, .def = "7", .metavar = "N",
	  .help = "a number" },
	{ "size", 's', VF_OPT_SIZE, AT(size), .lo = 1, .hi = 16 << 20, .def = "64K",
	  .metavar = "SIZE", .help = "a size" },
	{ "wait", 0, VF_OPT_DURATION, AT(ms), .def = "2s", .metavar = "T",
	  .help = "a duration that may be 0" },
	{ "flag", 0, VF_OPT_BOOL, AT(flag), .help = "a flag" },
	{ "on", 0, VF_OPT_BOOL, AT(on), .off = true, .def = "true", .help = "turns it off" },
	{ "str", 0, VF_OPT_STRING, AT(str), .hi = 8, .metavar = "S", .help = "a string" },
	{ "log-level", 0, VF_OPT_LOG_LEVEL, AT(level), .def = "info", .metavar = "LEVEL",
	  .help = "a level" },
	{ "item", 'i', VF_OPT_LIST, .add = t_add, .clear = t_clear, .metavar = "X",
	  .help = "an item (repeatable)" },
	{ "config", 'c', VF_OPT_CONFIG, .metavar = "FILE", .help = "a file" },
	{ "go", 'g', VF_OPT_ACTION, .act = t_act, .help = "an action without a value" },
	{ NULL, 'o', VF_OPT_ACTION, .act = t_act, .metavar = "OPTS",
	  .help = "a short option only, with a long help text that has to be wrapped "
		  "onto a second line" },
	{ "help", 'h', VF_OPT_ANSWER, .act = t_answer, .help = "answers" },
	{ NULL },
};

static const struct vf_opts t_opts = { "test", t_opt };

static char dir[] = "/tmp/vofirm-test-config-XXXXXX";

static const char *conf(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void t_init(struct t_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->list = g_string_new(NULL);
	s->acts = g_string_new(NULL);
	vf_opts_defaults(&t_opts, s);
}

static void t_free(struct t_settings *s)
{
	free(s->str);
	g_string_free(s->list, TRUE);
	g_string_free(s->acts, TRUE);
}

/* What the daemon logs (stderr) while fn runs. */
static int saved_fd = -1;
static FILE *captured;

static void capture(void)
{
	captured = tmpfile();
	fflush(stderr);
	saved_fd = dup(STDERR_FILENO);
	dup2(fileno(captured), STDERR_FILENO);
}

static char *captured_text(void)
{
	static char buf[4096];
	size_t n;

	fflush(stderr);
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	rewind(captured);
	n = fread(buf, 1, sizeof(buf) - 1, captured);
	buf[n] = '\0';
	fclose(captured);
	return buf;
}

/* vf_opts_set(key, value) fails with a message that contains want. */
static void refused(const char *key, const char *value, const char *want)
{
	struct t_settings s;
	char *msg;
	int ret;

	t_init(&s);
	capture();
	ret = vf_opts_set(&t_opts, &s, key, value, "origin");
	msg = captured_text();
	CHECK_EQ(ret, -EINVAL);
	if (!strstr(msg, want)) {
		fprintf(stderr, "%s='%s': message '%s' does not say '%s'\n", key, value, msg, want);
		CHECK(strstr(msg, want));
	}
	t_free(&s);
}

static void test_defaults(void)
{
	struct t_settings s;

	t_init(&s);
	CHECK_EQ(s.n, 7);
	CHECK_EQ(s.size, 64 << 10);
	CHECK_EQ(s.ms, 2000);
	CHECK(!s.flag);
	CHECK(s.on);
	CHECK(s.str == NULL);
	CHECK_EQ(s.level, LOG_INFO);
	t_free(&s);
}

static void test_values(void)
{
	struct t_settings s;

	t_init(&s);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "number", "100", "t"), 0);
	CHECK_EQ(s.n, 100);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "size", "16M", "t"), 0);
	CHECK_EQ(s.size, 16 << 20);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "wait", "0", "t"), 0);
	CHECK_EQ(s.ms, 0);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "wait", "500ms", "t"), 0);
	CHECK_EQ(s.ms, 500);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "flag", "Yes", "t"), 0);
	CHECK(s.flag);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "on", "0", "t"), 0); /* the key, not --no-on */
	CHECK(!s.on);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "str", "abc", "t"), 0);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "str", "12345678", "t"), 0);
	CHECK_STR(s.str, "12345678");
	CHECK_EQ(vf_opts_set(&t_opts, &s, "log-level", "debug", "t"), 0);
	CHECK_EQ(s.level, LOG_DEBUG);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "item", "a", "t"), 0);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "item", "b", "t"), 0); /* one more item */
	CHECK_STR(s.list->str, "[a][b]");
	CHECK_EQ(s.clears, 0);
	t_free(&s);
}

/* Every refusal names where the value came from, the key, the value and
 * what is wrong; nothing changes. */
static void test_refusals(void)
{
	struct t_settings s;

	refused("number", "0", "origin: number '0': must be a number from 1 to 100");
	refused("number", "101", "number '101': must be a number from 1 to 100");
	refused("number", "-1", "number '-1': must be a number");
	refused("number", "5x", "number '5x': must be a number");
	refused("number", "", "number '': must be a number");
	refused("number", "99999999999999999999", "must be a number from 1 to 100");
	refused("size", "12Q", "origin: size '12Q': unknown unit suffix");
	refused("size", "0", "origin: size must be more than 0, not '0'");
	refused("size", "17M", "origin: size '17M': at most 16 MiB");
	refused("size", "99999999999999999999T", "size '99999999999999999999T': size too large");
	refused("wait", "soon", "origin: wait 'soon': duration must be a whole number");
	refused("wait", "5x", "wait '5x': unknown duration unit");
	refused("flag", "maybe", "origin: flag 'maybe': not a boolean (true or false)");
	refused("str", "", "origin: str is empty");
	refused("str", "123456789", "origin: str '123456789': longer than 8 characters");
	refused("log-level", "loud", "origin: log-level 'loud': use error, warning");
	refused("item", "bad", "origin: item 'bad' refused");
	refused("bogus", "1", "origin: unknown setting 'bogus'");
	/* command-line-only rows are not settings */
	refused("config", "x", "unknown setting 'config'");
	refused("go", "x", "unknown setting 'go'");
	refused("help", "1", "unknown setting 'help'");

	t_init(&s);
	vf_log_set_level(LOG_CRIT);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "number", "0", "t"), -EINVAL);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "size", "17M", "t"), -EINVAL);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "flag", "maybe", "t"), -EINVAL);
	CHECK_EQ(vf_opts_set(&t_opts, &s, "log-level", "loud", "t"), -EINVAL);
	vf_log_set_level(LOG_WARNING);
	CHECK_EQ(s.n, 7);
	CHECK_EQ(s.size, 64 << 10);
	CHECK(!s.flag);
	CHECK_EQ(s.level, LOG_INFO);
	t_free(&s);
}

static void test_file(void)
{
	struct t_settings s;
	const char *p = conf("good.conf", "# comment\n[test]\nnumber = 9\nitem = a; ;b;\n"
					  "on = false\nflag=true\n[other]\nx=1\n");
	char *msg;

	t_init(&s);
	t_add(&s, "old", "t");
	capture();
	CHECK_EQ(vf_opts_load(&t_opts, &s, p), 0);
	msg = captured_text();
	CHECK(strstr(msg, "group [other] is not for this program; ignored"));
	CHECK_EQ(s.n, 9);
	CHECK_STR(s.list->str, "[a][b]"); /* a file's list replaces the list so far */
	CHECK_EQ(s.clears, 1);
	CHECK(!s.on);
	CHECK(s.flag);

	vf_log_set_level(LOG_CRIT);
	CHECK_EQ(vf_opts_load(&t_opts, &s, "/nonexistent/t.conf"), -ENOENT);
	CHECK_EQ(vf_opts_load(&t_opts, &s, conf("nogroup.conf", "[other]\nnumber=1\n")), -EINVAL);
	CHECK_EQ(vf_opts_load(&t_opts, &s, conf("syntax.conf", "[test\nnumber=1\n")), -EINVAL);
	CHECK_EQ(vf_opts_load(&t_opts, &s, conf("go.conf", "[test]\ngo=1\n")), -EINVAL);
	CHECK_EQ(vf_opts_load(&t_opts, &s, conf("baditem.conf", "[test]\nitem=c;bad;d\n")),
		 -EINVAL);
	CHECK_STR(s.list->str, "[c]"); /* stopped at the first refusal */
	vf_log_set_level(LOG_WARNING);

	capture();
	CHECK_EQ(vf_opts_load(&t_opts, &s, conf("badsize.conf", "[test]\nsize = 12Q\n")), -EINVAL);
	msg = captured_text();
	CHECK(strstr(msg, "badsize.conf: size '12Q': unknown unit suffix"));
	t_free(&s);
}

/* argv is NULL-terminated. */
static int parse_argv(struct t_settings *s, int *operands, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return vf_opts_parse_args(&t_opts, s, argc, argv, operands);
}

#define parse(s, operands, ...) parse_argv(s, operands, (char *[]){ "t", __VA_ARGS__, NULL })

static void test_command_line(void)
{
	struct t_settings s;
	const char *p = conf("base.conf", "[test]\nnumber=9\nsize=1M\nitem=x;y\n");
	int ops = -1;

	t_init(&s);
	CHECK_EQ(parse(&s, &ops, "op1", "-n", "3", "--config", (char *)p, "--size=2M", "--item",
		       "a", "-ib", "--no-on", "--flag", "-g", "-o", "rw", "op2"),
		 0);
	CHECK_EQ(s.n, 3); /* the command line wins over the file ... */
	CHECK_EQ(s.size, 2 << 20);
	CHECK_STR(s.list->str, "[a][b]"); /* ... and its list replaces the file's */
	CHECK_EQ(s.clears, 2);		  /* once by the file, once by the first --item */
	CHECK(!s.on);
	CHECK(s.flag);
	CHECK_STR(s.acts->str, "(-)(rw)");
	CHECK_EQ(ops, 14); /* the operands, moved behind the options */
	t_free(&s);

	/* the file alone; an abbreviation is the option */
	t_init(&s);
	CHECK_EQ(parse(&s, &ops, "--conf", (char *)p), 0);
	CHECK_EQ(s.n, 9);
	CHECK_STR(s.list->str, "[x][y]");
	CHECK_EQ(ops, 3);
	t_free(&s);

	/* the last --config is the one read */
	t_init(&s);
	CHECK_EQ(parse(&s, &ops, "-c", "/nonexistent", "-c", (char *)p), 0);
	CHECK_EQ(s.n, 9);
	t_free(&s);
}

/* A mistake is reported with the option as written, and stops the parse. */
static void bad_argv(const char *want, char **argv)
{
	struct t_settings s;
	char *msg;
	int ops, ret;

	t_init(&s);
	capture();
	ret = parse_argv(&s, &ops, argv);
	msg = captured_text();
	CHECK_EQ(ret, -EINVAL);
	if (!strstr(msg, want)) {
		fprintf(stderr, "%s: message '%s' does not say '%s'\n", argv[1], msg, want);
		CHECK(strstr(msg, want));
	}
	t_free(&s);
}

#define bad_line(want, ...) bad_argv(want, (char *[]){ "t", __VA_ARGS__, NULL })

static void test_bad_command_lines(void)
{
	bad_line("--number: number '0': must be a number from 1 to 100", "--number", "0");
	bad_line("--number: number '0': must be", "-n", "0");
	bad_line("--size: size '12Q': unknown unit suffix", "-s12Q");
	bad_line("unknown option '--bogus' (see --help)", "--bogus");
	bad_line("unknown option '-x' (see --help)", "-x");
	bad_line("unknown option '--on'", "--on"); /* only --no-on */
	bad_line("unknown option '--flag=1'", "--flag=1");
	/* a missing value, even with an operand before the option */
	bad_line("option --number needs a value (see --help)", "op", "--number");
	bad_line("option -n needs a value", "op", "-n");
	bad_line("config file /nonexistent/t.conf:", "--config", "/nonexistent/t.conf");
	bad_line("--item: item 'bad' refused", "-i", "bad");
	bad_line("", "-o", "fail"); /* an action's own refusal: its message is its own */
}

static void test_answer(void)
{
	struct t_settings s;
	int ops;

	/* answered before anything is read: no file, no mistake reported */
	t_init(&s);
	capture();
	CHECK_EQ(parse(&s, &ops, "--bogus", "-n", "0", "-c", "/nonexistent", "-h"), 1);
	CHECK_STR(captured_text(), "");
	CHECK_EQ(s.answered, 1);
	CHECK_EQ(s.n, 7);
	CHECK_EQ(parse(&s, &ops, "--he"), 1);
	CHECK_EQ(s.answered, 2);
	t_free(&s);
}

static void test_help(void)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	vf_opts_help(&t_opts, f);
	fclose(f);
	CHECK_STR(
		text,
		"  -n, --number N         a number (default 7)\n"
		"  -s, --size SIZE        a size (default 64K)\n"
		"      --wait T           a duration that may be 0 (default 2s)\n"
		"      --flag             a flag\n"
		"      --no-on            turns it off\n"
		"      --str S            a string\n"
		"      --log-level LEVEL  a level (default info)\n"
		"  -i, --item X           an item (repeatable)\n"
		"  -c, --config FILE      a file\n"
		"  -g, --go               an action without a value\n"
		"  -o OPTS                a short option only, with a long help text that has to\n"
		"                         be wrapped onto a second line\n"
		"  -h, --help             answers\n");
	free(text);
}

int main(void)
{
	vf_log_init("test_config", LOG_WARNING);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_defaults);
	UNIT_RUN(test_values);
	UNIT_RUN(test_refusals);
	UNIT_RUN(test_file);
	UNIT_RUN(test_command_line);
	UNIT_RUN(test_bad_command_lines);
	UNIT_RUN(test_answer);
	UNIT_RUN(test_help);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd)) {
			/* a leftover temp dir is harmless */
		}
	}
	return unit_done();
}
