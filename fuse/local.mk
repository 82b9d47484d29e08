## fuse/local.mk - in-process FUSE front end (libfuse3); built unless --disable-fuse.
## The mount's tests live here too: they only exist in a FUSE build.
GS_FUSE_TESTS = \
	tests/integration/fuse_mount.sh \
	tests/integration/fuse_nonroot.sh \
	tests/integration/fuse_samba.sh
EXTRA_DIST += $(GS_FUSE_TESTS)

if ENABLE_FUSE
noinst_LIBRARIES += %D%/libgs_fuse.a
%C%_libgs_fuse_a_SOURCES = %D%/fs.c %D%/fs.h
GS_FUSE_LIB = %D%/libgs_fuse.a

# fs_test includes fs.c (to reach its statics), so it links the server, not libgs_fuse.a.
check_PROGRAMS += tests/unit/fs_test
tests_unit_fs_test_SOURCES = tests/unit/fs_test.c tests/unit/testlib.h
nodist_EXTRA_tests_unit_fs_test_SOURCES = tests/link_cxx.cc
tests_unit_fs_test_LDADD = server/libgs_server.a server/libgs_engine.a server/libgs_base.a \
	$(LIBTORRENT_LIBS) $(GS_LIBS)
TESTS += tests/unit/fs_test $(GS_FUSE_TESTS)
else
GS_FUSE_LIB =
endif
