## davfs/local.mk - WebDAV front end (read-only PROPFIND/OPTIONS over libxml2).
## Nothing built yet: the WebDAV methods arrive with the HTTP/WebDAV work.
