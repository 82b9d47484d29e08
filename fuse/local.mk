## fuse/local.mk - in-process FUSE front end (libfuse3); built unless --disable-fuse.
if ENABLE_FUSE
noinst_LIBRARIES += %D%/libgs_fuse.a
%C%_libgs_fuse_a_SOURCES = %D%/fs.c %D%/fs.h
GS_FUSE_LIB = %D%/libgs_fuse.a
else
GS_FUSE_LIB =
endif
