## fuse/local.mk - in-process FUSE front end (libfuse3); built unless --disable-fuse.
## Nothing built yet: the mount arrives with the FUSE work.
