#!/usr/bin/env bash
# setup.sh - the two Quick start commands: install every Debian package gostream needs to
# build, run and test, build it, then either run the demo or the whole test suite.
#   bash scripts/setup.sh demo   # deps + build + `gostream demo`
#   bash scripts/setup.sh test   # deps + build (-Werror) + `make check`, `make
#                                # fuzz-check`, then `make check` of an ASan build; last
#                                # line "N passed, N failed, N skipped" (all three)
#   bash scripts/setup.sh deps   # only the packages
# Must run as root (apt-get) on Debian 12; safe to re-run.
set -euo pipefail

mode=${1:-demo}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

build_pkgs=(autoconf automake pkg-config make gcc g++ libtorrent-rasterbar-dev
	libmicrohttpd-dev libfuse3-dev libcjson-dev libcurl4-openssl-dev libnatpmp-dev
	libxml2-dev zlib1g-dev)
run_pkgs=(fuse3 ffmpeg ca-certificates iptables)
# samba-vfs-modules: the example share's `vfs objects = fileid` (a Recommends of samba,
# which --no-install-recommends leaves out).
test_pkgs=(curl python3 python3-libtorrent mkvtoolnix procps iproute2 util-linux
	rclone davfs2 litmus samba samba-vfs-modules smbclient python3-prometheus-client
	chromium fonts-dejavu-core)
# Node.js + npm for the browser tests' driver: the machine's own when it has one (e.g. a
# NodeSource nodejs, which bundles npm and conflicts with Debian's npm package), else
# Debian's.
command -v npm > /dev/null 2>&1 || test_pkgs+=(nodejs npm)
# clang with libFuzzer and the sanitizer runtimes: the fuzz targets (tests/fuzz).
test_pkgs+=(clang-14 libclang-rt-14-dev)

install_deps() {
	local pkgs=("${build_pkgs[@]}" "${run_pkgs[@]}")
	[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
	if [ "$(id -u)" != 0 ]; then
		echo "setup.sh: run as root (apt-get install needs it)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${pkgs[@]}"
	verify_pkgs "${pkgs[@]}"
}

# Fails loudly, naming them, when packages are not installed after the install step.
verify_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "setup.sh: packages the build or the tests need are not installed: ${missing[*]}" >&2
		exit 1
	fi
}

build() {
	local conf=()
	[ "$mode" = test ] && conf+=(--enable-werror)
	if [ ! -f Makefile ] || [ configure.ac -nt Makefile ] || [ "$mode" = test ]; then
		./autogen.sh
		./configure "${conf[@]}"
	fi
	make -j"$(nproc)"
}

# playwright-core (tests/lib/package.json, exact version) drives Debian's chromium in
# tests/integration/web_*.sh; unlike the playwright package it downloads no browser.
browser_driver() {
	(cd tests/lib && npm install --no-audit --no-fund --loglevel=error)
}

# make check in folder $1; adds its counts to P, F and S and prints the failures' logs.
# Returns make's status.
P=0 F=0 S=0
suite() {
	local dir=$1 log rc=0 pass fail err skip xpass
	log=$(mktemp)
	# Every package is installed now: a test that would skip for a missing one fails.
	(cd "$dir" && GS_NO_SKIP=1 make -j"$(nproc)" check) 2>&1 | tee "$log" || rc=$?
	pass=$(sed -n 's/^# PASS: *//p' "$log" | tail -n1)
	fail=$(sed -n 's/^# FAIL: *//p' "$log" | tail -n1)
	err=$(sed -n 's/^# ERROR: *//p' "$log" | tail -n1)
	xpass=$(sed -n 's/^# XPASS: *//p' "$log" | tail -n1)
	skip=$(sed -n 's/^# SKIP: *//p' "$log" | tail -n1)
	rm -f "$log"
	if [ "$rc" != 0 ] && [ -f "$dir/test-suite.log" ]; then
		echo "---- $dir/test-suite.log (failures) ----"
		cat "$dir/test-suite.log"
	fi
	if [ -z "$pass" ]; then
		F=$((F + 1))    # the suite did not run
		return 1
	fi
	P=$((P + pass))
	F=$((F + ${fail:-0} + ${err:-0} + ${xpass:-0}))
	S=$((S + ${skip:-0}))
	return "$rc"
}

run_tests() {
	local rc=0
	suite . || rc=$?

	# The fuzz targets (clang build in fuzz-build/): every corpus input replayed, then
	# FUZZ_CHECK_SECONDS of fuzzing each; one test per target in the counts.
	local flog frc=0 fpass ffail
	flog=$(mktemp)
	make -j"$(nproc)" fuzz-check 2>&1 | tee "$flog" || frc=$?
	fpass=$(grep -c '^FUZZ PASS:' "$flog" || true)
	ffail=$(grep -c '^FUZZ FAIL:' "$flog" || true)
	rm -f "$flog"
	if [ "$frc" != 0 ] && [ "$ffail" = 0 ]; then
		ffail=1         # the fuzz build itself failed
	fi
	P=$((P + fpass))
	F=$((F + ffail))
	[ "$frc" != 0 ] && rc=$frc

	# The whole suite again on a second build with ASan + UBSan (LeakSanitizer on; the
	# tests fail on any sanitizer report), from a copy of the sources in build-asan/
	# (this tree is configured in place, so no VPATH build beside it): the files git
	# tracks, as they are in the work tree (else the distributed ones), and the browser
	# driver installed above. No -Werror there: gcc's -Wformat-overflow misfires under
	# -fsanitize.
	echo "---- ASan + UBSan build (build-asan/) ----"
	rm -rf build-asan
	if { if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
		mkdir build-asan && git ls-files -z | xargs -0 cp -a --parents -t build-asan
	     else make distdir distdir=build-asan > /dev/null; fi; } &&
	   ln -s "$top/tests/lib/node_modules" build-asan/tests/lib/node_modules &&
	   (cd build-asan && ./autogen.sh > /dev/null 2>&1 && ./configure --enable-asan > /dev/null &&
	    make -j"$(nproc)" > /dev/null); then
		suite build-asan || rc=$?
	else
		echo "setup.sh: the ASan build failed" >&2
		F=$((F + 1))
		rc=1
	fi
	echo "$P passed, $F failed, $S skipped"
	return "$rc"
}

case "$mode" in
deps) install_deps ;;
demo) install_deps; build; exec ./gostream demo ;;
test) install_deps; build; browser_driver; run_tests ;;
*) echo "usage: $0 demo|test|deps" >&2; exit 2 ;;
esac
