#!/usr/bin/env bash
# The C sources match .clang-format (make format-check), and a file that
# does not is caught.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_cmd clang-format

make -s -C "$TOP" format-check >format.log 2>&1 || { head -60 format.log; fail "make format-check failed: run make format"; }
cat format.log

step "the check is real: a badly formatted file fails it"
printf 'int  f(void){return 1;}\n' >bad.c
cp "$TOP/.clang-format" .
expect_exit 2 make -s -C "$TOP" format-check FORMAT_FILES="$WORK/bad.c"
