/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A minimal unit test harness: CHECK() records a failure and goes on;
 * UNIT_RUN() runs one test function; unit_done() prints the totals and
 * gives the exit status (0 all passed, 1 otherwise).
 */
#ifndef VOFIRM_UNIT_H
#define VOFIRM_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static unsigned unit_checks, unit_failed;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		unit_checks++;                                                                   \
		if (!(cond)) {                                                                   \
			unit_failed++;                                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                                \
	} while (0)

#define CHECK_EQ(a, b)                                               \
	do {                                                         \
		unsigned long long a_ = (unsigned long long)(a);     \
		unsigned long long b_ = (unsigned long long)(b);     \
		unit_checks++;                                       \
		if (a_ != b_) {                                      \
			unit_failed++;                               \
			fprintf(stderr,                              \
				"%s:%d: CHECK failed: %s == %s "     \
				"(%llu != %llu)\n",                  \
				__FILE__, __LINE__, #a, #b, a_, b_); \
		}                                                    \
	} while (0)

#define CHECK_STR(a, b)                                                                          \
	do {                                                                                     \
		const char *a_ = (a), *b_ = (b);                                                 \
		unit_checks++;                                                                   \
		if (!a_ || !b_ || strcmp(a_, b_)) {                                              \
			unit_failed++;                                                           \
			fprintf(stderr,                                                          \
				"%s:%d: CHECK failed: %s == \"%s\" "                             \
				"(got \"%s\")\n",                                                \
				__FILE__, __LINE__, #a, b_ ? b_ : "(null)", a_ ? a_ : "(null)"); \
		}                                                                                \
	} while (0)

#define UNIT_RUN(fn)                                                         \
	do {                                                                 \
		unsigned f_ = unit_failed;                                   \
		fn();                                                        \
		printf("%s %s\n", unit_failed == f_ ? "ok  " : "FAIL", #fn); \
	} while (0)

static inline int unit_done(void)
{
	printf("%u checks, %u failed\n", unit_checks, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
