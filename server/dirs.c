/* dirs.c - mkdir -p (see dirs.h). */
#include "dirs.h"

#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new directory's entry is durable once its parent is fsynced. */
static void sync_parent(const char *p)
{
	const char *slash = strrchr(p, '/');
	char *parent = slash && slash != p ? xstrndup(p, (size_t)(slash - p))
					   : xstrdup(slash ? "/" : ".");
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(parent);
}

int dirs_make(const char *path, mode_t last_mode, bool durable)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, c ? 0755 : last_mode) == 0) {
			if (durable)
				sync_parent(p);
		} else if (errno != EEXIST) {
			rc = -errno;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}
