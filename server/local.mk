## server/local.mk - the daemon core: config, logging, HTTP core, API, status, CLI.
noinst_LIBRARIES += %D%/libgs_server.a
%C%_libgs_server_a_SOURCES = \
	%D%/api.c %D%/api.h \
	%D%/cancel.c %D%/cancel.h \
	%D%/cfg.c %D%/cfg.h \
	%D%/cli_opts.c %D%/cli_opts.h \
	%D%/daemon.c %D%/daemon.h \
	%D%/demo.c %D%/demo.h \
	%D%/http_server.c %D%/http_server.h \
	%D%/log.c %D%/log.h \
	%D%/mem.c %D%/mem.h \
	%D%/status.c %D%/status.h

bin_PROGRAMS += gostream
gostream_SOURCES = %D%/main.c
# The libtorrent shim is C++: link with the C++ driver.
nodist_EXTRA_gostream_SOURCES = %D%/link_cxx.cc
gostream_LDADD = %D%/libgs_server.a $(GS_LIBS)
