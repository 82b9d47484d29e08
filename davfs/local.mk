## davfs/local.mk - WebDAV front end: read-only PROPFIND/OPTIONS/LOCK emulation over
## libxml2, called by the stream port's routes (server/http_files.c).
noinst_LIBRARIES += %D%/libgs_davfs.a
%C%_libgs_davfs_a_SOURCES = \
	%D%/dav.c %D%/dav.h \
	%D%/dav_xml.c %D%/dav_xml.h
