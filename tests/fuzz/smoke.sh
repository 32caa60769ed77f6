#!/bin/sh
# SPDX-License-Identifier: MIT
# The `fuzz` suite: run one libFuzzer target for a bounded time on its seed
# corpus and regression inputs. New inputs and crash artifacts go to a
# scratch directory in the build tree, never into the source tree.
# usage: smoke.sh FUZZER SECONDS WORKDIR CORPUS_DIR...
set -eu
fuzzer=$1
secs=$2
work=$3
shift 3
rm -rf "$work"
mkdir -p "$work/new" "$work/artifacts"
exec "$fuzzer" -max_total_time="$secs" -timeout=10 -max_len=4096 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-artifact_prefix="$work/artifacts/" -print_final_stats=1 \
	"$work/new" "$@"
