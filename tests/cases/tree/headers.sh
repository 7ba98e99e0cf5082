#!/usr/bin/env bash
# Every header compiles on its own (make headers), and a header that does
# not is caught: one that uses uint32_t without <stdint.h> must fail.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

make -s -C "$TOP" headers >headers.log 2>&1 || { cat headers.log; fail "make headers failed"; }
cat headers.log
grep -q 'compile on their own' headers.log || fail "make headers checked nothing"

step "the check is real: a header missing an include fails it"
mkdir -p bad/include/vofirm
echo 'struct broken { uint32_t a; };' >bad/include/vofirm/broken.h
expect_exit 2 make -s -C "$TOP" headers HEADERS="$WORK/bad/include/vofirm/broken.h"
grep -q "broken.h does not compile on its own" <<<"$OUT" || fail "no message naming the header: $OUT"
