#!/usr/bin/env bash
# cli.sh - command-line exit codes and messages of the real binary.
. "$TOP_SRCDIR/tests/lib/common.sh"

run() { out=$("$GOSTREAM" "$@" 2>"$T/err"); rc=$?; err=$(cat "$T/err"); }

run --help;            expect_eq "--help status" "$rc" 0; expect_match "--help" "$out" "usage: gostream"
run help;              expect_eq "help status" "$rc" 0; expect_match "help" "$out" "check-config"
run bogus;             expect_eq "unknown command status" "$rc" 2
expect_match "unknown command" "$err" 'unknown command "bogus"'
run version;           expect_eq "version status" "$rc" 0
expect_match "version" "$out" "^gostream [0-9]+\.[0-9]+\.[0-9]+"
expect_match "version libtorrent" "$out" "libtorrent-rasterbar 2\."
expect_match "version mhd" "$out" "libmicrohttpd [0-9]"
expect_match "version build" "$out" "build: fuse="
run version extra;     expect_eq "version extra arg" "$rc" 2
run --version;         expect_eq "--version" "$rc" 0
for c in run demo check-config version; do
	run "$c" --help
	expect_eq "$c --help status" "$rc" 0
	expect_match "$c --help" "$out" "usage: gostream"
done
run run --bogus;       expect_eq "bad option" "$rc" 2; expect_match "bad option" "$err" "unknown option --bogus"
run run --config;      expect_eq "--config without file" "$rc" 2; expect_match "--config" "$err" "needs a FILE"
run check-config stray; expect_eq "stray argument" "$rc" 2; expect_match "stray" "$err" 'unexpected argument "stray"'
run check-config --config "$T/missing.json"
expect_eq "missing config status" "$rc" 3
expect_match "missing config" "$err" "$T/missing.json: cannot open: No such file"
run run --config "$T/missing.json"
expect_eq "run with missing config" "$rc" 3
note "$checks checks"
