## server/local.mk - the daemon core: config, HTTP core, API, status, CLI, the
## torrent engine (the one C++ file), catalog, library, caches and the stream layer.
noinst_LIBRARIES += %D%/libgs_server.a
%C%_libgs_server_a_SOURCES = \
	%D%/api.c %D%/api.h \
	%D%/api_play.c %D%/api_play.h \
	%D%/auth.c %D%/auth.h \
	%D%/bt.h %D%/bt_cli.c %D%/bt_cli.h \
	%D%/catalog.c %D%/catalog.h \
	%D%/cfg.c %D%/cfg.h \
	%D%/clock.h \
	%D%/cli_client.c %D%/cli_client.h \
	%D%/cli_opts.c %D%/cli_opts.h \
	%D%/curl_buf.c %D%/curl_buf.h %D%/torrent_fetch.c %D%/torrent_fetch.h \
	%D%/dirs.c %D%/dirs.h \
	%D%/disc_net.c %D%/disc_net.h %D%/disc_plex.c %D%/disc_plex.h \
	%D%/disc_sched.c %D%/disc_sched.h %D%/disc_score.c %D%/disc_score.h \
	%D%/disc_sync.c %D%/disc_sync.h %D%/disc_tmdb.c %D%/disc_tmdb.h \
	%D%/disc_torrentio.c %D%/disc_torrentio.h \
	%D%/http_files.c %D%/http_files.h \
	%D%/http_range.c %D%/http_range.h \
	%D%/http_server.c %D%/http_server.h \
	%D%/library.c %D%/library.h \
	%D%/naming.c %D%/naming.h \
	%D%/racache.c %D%/racache.h \
	%D%/settings.c %D%/settings.h \
	%D%/status.c %D%/status.h \
	%D%/stream.c %D%/stream.h %D%/stream_int.h %D%/stream_wake.c %D%/stream_pump.c \
	%D%/stream_fill.c \
	%D%/torrents.c %D%/torrents.h \
	%D%/warmup.c %D%/warmup.h %D%/warmup_int.h %D%/warmup_chunk.c %D%/warmup_writer.c \
	%D%/webhook.c %D%/webhook.h %D%/webhook_parse.c %D%/webhook_parse.h \
	%D%/web.c %D%/web.h \
	%D%/playability.c %D%/playability.h \
	%D%/blocklist.c %D%/blocklist.h \
	%D%/nat_pmp.c %D%/nat_pmp.h

# The libtorrent shim (server/bt_*.cc, the only C++, over the private bt_int.h) and the cancel token its reads take, in their
# own library so tests that do not need the engine link without libtorrent.
noinst_LIBRARIES += %D%/libgs_engine.a
%C%_libgs_engine_a_SOURCES = %D%/bt_shim.cc %D%/bt.h %D%/bt_int.h %D%/bt_store.cc \
	%D%/bt_plugins.cc %D%/bt_seeder.cc %D%/cancel.c %D%/cancel.h

# The base every layer above uses (the engine too): logging and the allocation wrappers.
noinst_LIBRARIES += %D%/libgs_base.a
%C%_libgs_base_a_SOURCES = %D%/log.c %D%/log.h %D%/mem.c %D%/mem.h

# The program: the entry points and the composition root (daemon.c builds every object and
# the route tables) sit on top of the libraries; each library is named once, each above
# the ones it uses (front ends, daemon core, engine, base), so a call from a lower layer
# up into a higher one does not link.
bin_PROGRAMS += gostream
gostream_SOURCES = %D%/main.c %D%/daemon.c %D%/daemon.h %D%/demo.c %D%/demo.h
# The shim is C++: link with the C++ driver.
nodist_EXTRA_gostream_SOURCES = %D%/link_cxx.cc
gostream_LDADD = davfs/libgs_davfs.a $(GS_FUSE_LIB) %D%/libgs_server.a %D%/libgs_engine.a \
	%D%/libgs_base.a $(LIBTORRENT_LIBS) $(GS_LIBS)
