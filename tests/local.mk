## tests/local.mk - `make check`: unit programs (tests/unit) and integration scripts
## (tests/integration) that start the real binary. Exit 77 = skipped with a reason.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	GOSTREAM='$(abs_top_builddir)/gostream'; export GOSTREAM; \
	TOP_SRCDIR='$(abs_top_srcdir)'; export TOP_SRCDIR; \
	TOP_BUILDDIR='$(abs_top_builddir)'; export TOP_BUILDDIR; \
	BUILD_DIR='$(abs_top_builddir)'; export BUILD_DIR;

GS_TEST_LDADD = server/libgs_server.a server/libgs_base.a $(GS_LIBS)

check_PROGRAMS += tests/unit/cfg_test tests/unit/catalog_test tests/unit/library_test \
	tests/integration/catalog_driver tests/integration/stream_driver \
	tests/unit/racache_test tests/unit/warmup_test tests/integration/warmup_driver
tests_unit_racache_test_SOURCES = tests/unit/racache_test.c tests/unit/testlib.h
tests_unit_racache_test_LDADD = $(GS_TEST_LDADD)
tests_unit_warmup_test_SOURCES = tests/unit/warmup_test.c tests/unit/testlib.h
tests_unit_warmup_test_LDADD = $(GS_TEST_LDADD)
tests_integration_warmup_driver_SOURCES = tests/integration/warmup_driver.c
tests_integration_warmup_driver_LDADD = $(GS_TEST_LDADD)
tests_unit_cfg_test_SOURCES = tests/unit/cfg_test.c tests/unit/testlib.h
tests_unit_cfg_test_LDADD = $(GS_TEST_LDADD)
tests_unit_catalog_test_SOURCES = tests/unit/catalog_test.c tests/unit/testlib.h
tests_unit_catalog_test_LDADD = $(GS_TEST_LDADD)
tests_unit_library_test_SOURCES = tests/unit/library_test.c tests/unit/testlib.h
tests_unit_library_test_LDADD = $(GS_TEST_LDADD)
tests_integration_catalog_driver_SOURCES = tests/integration/catalog_driver.c
tests_integration_catalog_driver_LDADD = $(GS_TEST_LDADD)
check_PROGRAMS += tests/unit/http_range_test tests/unit/dav_xml_test
tests_unit_http_range_test_SOURCES = tests/unit/http_range_test.c tests/unit/testlib.h
tests_unit_http_range_test_LDADD = $(GS_TEST_LDADD)
tests_unit_dav_xml_test_SOURCES = tests/unit/dav_xml_test.c tests/unit/testlib.h
tests_unit_dav_xml_test_LDADD = $(GS_TEST_LDADD)
# webhook_test includes webhook.c and stubs the stream layer and the engine registry.
check_PROGRAMS += tests/unit/webhook_test
tests_unit_webhook_test_SOURCES = tests/unit/webhook_test.c tests/unit/testlib.h
tests_unit_webhook_test_LDADD = server/libgs_server.a server/libgs_engine.a server/libgs_base.a \
	$(GS_LIBS)
TESTS += tests/unit/webhook_test

check_PROGRAMS += tests/unit/bt_test tests/integration/bt_driver
GS_ENGINE_TEST_LDADD = server/libgs_server.a server/libgs_engine.a server/libgs_base.a \
	$(LIBTORRENT_LIBS) $(GS_LIBS)
tests_unit_bt_test_SOURCES = tests/unit/bt_test.c tests/unit/testlib.h
nodist_EXTRA_tests_unit_bt_test_SOURCES = tests/link_cxx.cc
tests_unit_bt_test_LDADD = $(GS_ENGINE_TEST_LDADD)
tests_integration_bt_driver_SOURCES = tests/integration/bt_driver.c
nodist_EXTRA_tests_integration_bt_driver_SOURCES = tests/link_cxx.cc
tests_integration_bt_driver_LDADD = $(GS_ENGINE_TEST_LDADD)
tests_integration_stream_driver_SOURCES = tests/integration/stream_driver.c
nodist_EXTRA_tests_integration_stream_driver_SOURCES = tests/link_cxx.cc
tests_integration_stream_driver_LDADD = $(GS_ENGINE_TEST_LDADD)

GS_INTEGRATION_TESTS = \
	tests/integration/api_rem_busy.sh \
	tests/integration/api_torrents.sh \
	tests/integration/catalog_crash.sh \
	tests/integration/cli.sh \
	tests/integration/config_files.sh \
	tests/integration/daemon_lifecycle.sh \
	tests/integration/demo.sh \
	tests/integration/engine_badinput.sh \
	tests/integration/engine_dial.sh \
	tests/integration/engine_evict.sh \
	tests/integration/engine_links.sh \
	tests/integration/engine_pack.sh \
	tests/integration/engine_reconnect.sh \
	tests/integration/engine_rss_1g.sh \
	tests/integration/engine_shield.sh \
	tests/integration/engine_single.sh \
	tests/integration/http_ffprobe.sh \
	tests/integration/http_hostile.sh \
	tests/integration/http_load.sh \
	tests/integration/http_range.sh \
	tests/integration/webdav_davfs.sh \
	tests/integration/webdav_litmus.sh \
	tests/integration/webdav_many.sh \
	tests/integration/webdav_props.sh \
	tests/integration/webdav_rclone.sh \
	tests/integration/warmup_crash.sh \
	tests/integration/stream_patterns.sh \
	tests/integration/stream_scan_warm.sh \
	tests/integration/stream_rss4.sh \
	tests/integration/stream_probe_burst.sh \
	tests/integration/webhook_plex.sh \
	tests/integration/metrics_health.sh

TESTS += tests/unit/cfg_test tests/unit/catalog_test tests/unit/library_test \
	tests/unit/racache_test tests/unit/warmup_test tests/unit/bt_test \
	tests/unit/http_range_test tests/unit/dav_xml_test \
	$(GS_INTEGRATION_TESTS)
EXTRA_DIST += tests/lib/common.sh tests/lib/mkmedia.sh tests/lib/seeder.py tests/lib/bt_testlib.sh \
	tests/lib/webhook_client.py tests/lib/prom_check.py tests/lib/scan_check.py \
	$(GS_INTEGRATION_TESTS)

# The API issue: /settings, upload, TorrServer streaming, access control, fuzz, CLI client.
check_PROGRAMS += tests/unit/auth_test
tests_unit_auth_test_SOURCES = tests/unit/auth_test.c tests/unit/testlib.h
tests_unit_auth_test_LDADD = $(GS_TEST_LDADD)
GS_API_TESTS = tests/integration/api_settings.sh tests/integration/api_stream.sh \
	tests/integration/api_auth.sh tests/integration/api_fuzz.sh \
	tests/integration/cli_client.sh
TESTS += tests/unit/auth_test $(GS_API_TESTS)
EXTRA_DIST += $(GS_API_TESTS)

# `make bench`: the benchmarks of tests/bench (not part of make check); prints the table,
# writes tests/bench/out/results.json and, for a full run, BENCHMARKS.md.
bench: all
	$(AM_TESTS_ENVIRONMENT) $(SHELL) $(top_srcdir)/tests/bench/run.sh
.PHONY: bench
EXTRA_DIST += tests/bench/B10_fuse_cached.sh tests/bench/B12_blocklist.sh \
	tests/bench/B1_http_warm.sh \
	tests/bench/B2_ttfb_warm.sh \
	tests/bench/B3_ttfb_asleep.sh \
	tests/bench/B4_stream_swarm.sh \
	tests/bench/B5_seeks.sh \
	tests/bench/B6_scan.sh \
	tests/bench/B7_listing.sh \
	tests/bench/B8_memory.sh \
	tests/bench/B9_cpu.sh \
	tests/bench/bench.py \
	tests/bench/lib.sh \
	tests/bench/ranges.lua \
	tests/bench/run.sh

# Discovery (issue 16): pure rules unit-tested; the syncs against fake TMDB/Torrentio/Plex
# services (tests/lib/fake_services.py, fixtures in tests/fixtures/discovery) and real
# loopback seeders.
check_PROGRAMS += tests/unit/disc_score_test tests/unit/disc_torrentio_test
tests_unit_disc_score_test_SOURCES = tests/unit/disc_score_test.c tests/unit/testlib.h
tests_unit_disc_score_test_LDADD = $(GS_TEST_LDADD)
# disc_torrentio_test includes disc_torrentio.c (its stream parser is static).
tests_unit_disc_torrentio_test_SOURCES = tests/unit/disc_torrentio_test.c tests/unit/testlib.h
tests_unit_disc_torrentio_test_LDADD = $(GS_TEST_LDADD)
GS_DISC_TESTS = tests/integration/discovery_movies.sh tests/integration/discovery_tv.sh \
	tests/integration/discovery_sched.sh
TESTS += tests/unit/disc_score_test tests/unit/disc_torrentio_test $(GS_DISC_TESTS)
EXTRA_DIST += $(GS_DISC_TESTS) tests/lib/fake_services.py tests/lib/disc_testlib.sh \
	tests/fixtures/discovery/plex_watchlist.json \
	tests/fixtures/discovery/tmdb_discover_movie.json \
	tests/fixtures/discovery/tmdb_external_ids_603.json \
	tests/fixtures/discovery/tmdb_external_ids_693134.json \
	tests/fixtures/discovery/tmdb_external_ids_949.json \
	tests/fixtures/discovery/tmdb_external_ids_tv_95480.json \
	tests/fixtures/discovery/tmdb_now_playing.json \
	tests/fixtures/discovery/tmdb_on_the_air.json \
	tests/fixtures/discovery/tmdb_popular_movie.json \
	tests/fixtures/discovery/tmdb_search_matrix.json \
	tests/fixtures/discovery/tmdb_trending_movie.json \
	tests/fixtures/discovery/tmdb_tv_95480.json \
	tests/fixtures/discovery/torrentio_dune.json \
	tests/fixtures/discovery/torrentio_heat.json \
	tests/fixtures/discovery/torrentio_heat_better.json \
	tests/fixtures/discovery/torrentio_matrix.json \
	tests/fixtures/discovery/torrentio_matrix_4k.json \
	tests/fixtures/discovery/torrentio_sh_2_1.json \
	tests/fixtures/discovery/torrentio_sh_3_1.json \
	tests/fixtures/discovery/torrentio_sh_3_2.json

# The control panel and dashboard in Debian's chromium (playwright-core from
# tests/lib/package.json, installed by scripts/setup.sh test).
GS_WEB_TESTS = tests/integration/web_panel.sh tests/integration/web_login.sh tests/integration/web_sync.sh
TESTS += $(GS_WEB_TESTS)
EXTRA_DIST += $(GS_WEB_TESTS) tests/lib/web_browser.js tests/lib/package.json \
	tests/lib/package-lock.json
check_PROGRAMS += tests/unit/web_test
tests_unit_web_test_SOURCES = tests/unit/web_test.c tests/unit/testlib.h
nodist_EXTRA_tests_unit_web_test_SOURCES = tests/link_cxx.cc
tests_unit_web_test_LDADD = $(GS_ENGINE_TEST_LDADD)
TESTS += tests/unit/web_test

# The network issue: peer IP blocklist and NAT-PMP (unit test links the real engine).
check_PROGRAMS += tests/unit/blocklist_test
tests_unit_blocklist_test_SOURCES = tests/unit/blocklist_test.c tests/unit/testlib.h
nodist_EXTRA_tests_unit_blocklist_test_SOURCES = tests/link_cxx.cc
tests_unit_blocklist_test_LDADD = $(GS_ENGINE_TEST_LDADD)
GS_NET_TESTS = tests/integration/blocklist_filter.sh tests/integration/blocklist_default.sh \
	tests/integration/natpmp_gateway.sh
TESTS += tests/unit/blocklist_test $(GS_NET_TESTS)
EXTRA_DIST += $(GS_NET_TESTS) tests/lib/natpmp_gateway.py tests/lib/blocklist_server.py

# The module include graph has no cycle (issue 14).
TESTS += tests/unit/include_graph.sh
EXTRA_DIST += tests/unit/include_graph.sh tests/unit/include_graph.py

# `make soak` (issue 18; not part of make check): the daemon with its FUSE mount under
# mixed streams, scans, churn, webhooks, settings and seeder restarts for SOAK_SECONDS
# (default 1800); RSS, fds and threads must stay flat, every byte read exact.
soak: all
	$(AM_TESTS_ENVIRONMENT) $(SHELL) $(top_srcdir)/tests/soak/soak.sh
.PHONY: soak
EXTRA_DIST += tests/soak/soak.sh tests/soak/soak.py
# Faults (issue 18): kill -9 of the daemon under adds, warmup writes and streaming; a full
# and a read-only state dir; garbage and stalling seeders.
GS_FAULT_TESTS = tests/integration/fault_kill.sh tests/integration/fault_disk.sh \
	tests/integration/fault_seeder.sh
TESTS += $(GS_FAULT_TESTS)
EXTRA_DIST += $(GS_FAULT_TESTS)

# `make fuzz` (FUZZ_SECONDS per target, default 600) and `make fuzz-check` (corpus replay
# + FUZZ_CHECK_SECONDS per target, the CI's): the libFuzzer targets of tests/fuzz, built
# by clang into fuzz-build/ apart from this build (tests/fuzz/fuzz.mk, README.md there).
GS_FUZZ_MAKE = $(MAKE) -f $(abs_top_srcdir)/tests/fuzz/fuzz.mk \
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	PKG_CFLAGS='$(MHD_CFLAGS) $(XML_CFLAGS) $(CJSON_CFLAGS) $(CURL_CFLAGS) $(ZLIB_CFLAGS) $(FUSE_CFLAGS)' \
	FUZZ_FUSE='$(GS_FUSE_LIB)' \
	LT_CFLAGS='$(LIBTORRENT_CFLAGS)' PKG_LIBS='$(LIBTORRENT_LIBS) $(GS_LIBS)'
fuzz fuzz-check fuzz-build: config.h
	+$(GS_FUZZ_MAKE) $@
.PHONY: fuzz fuzz-check fuzz-build
EXTRA_DIST += tests/fuzz
clean-local: clean-fuzz
clean-fuzz:
	-rm -rf fuzz-build
.PHONY: clean-fuzz
