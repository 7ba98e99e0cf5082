#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds (normal, sanitizer, fuzzer) and runs tests/run.sh, whose
# last line is "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)" all asan fuzz >build.log 2>&1 || { tail -50 build.log; echo "build failed (build.log)"; exit 1; }
exec tests/run.sh "$@"
