/* disc_torrentio.h - Torrentio's stream lists for a film (stream/movie/{imdb}.json) or an
 * episode (stream/series/{imdb}:{s}:{e}.json), read into plain values: info-hash, file
 * index, release name, the seeders and size written in the title, trackers from
 * "sources", and the quality and score (disc_score.h). Sync thread only. */
#ifndef GS_DISC_TORRENTIO_H
#define GS_DISC_TORRENTIO_H

#include "disc_net.h"
#include "disc_score.h"

#include <stddef.h>
#include <stdint.h>

struct disc_stream {
	char hash[41];                  /* lowercase */
	int file_idx;                   /* -1 = Torrentio gave none */
	char *release;                  /* first line of the title: the torrent's name */
	char *file;                     /* the file's name for a pack ("" otherwise) */
	int seeders;                    /* -1 = unknown */
	int64_t size;                   /* bytes, -1 = unknown */
	char **trackers;                /* NULL-terminated tracker URLs */
	struct disc_quality q;
	int score;
	int pack_season;                /* season the release is a full pack of, 0 = not */
};

struct disc_torrentio {
	disc_net *net;
	struct disc_svc svc;
	const char *base;
};

/* Streams for a film (season 0) or an episode. *v is the caller's (disc_streams_free).
 * 0 (possibly none) or -errno with the message in err. */
int torrentio_streams(struct disc_torrentio *t, const char *imdb, int season, int episode,
		      struct disc_stream **v, size_t *n, char *err, size_t errlen);
void disc_streams_free(struct disc_stream *v, size_t n);

/* A magnet for s with its trackers; the caller frees. */
char *disc_stream_magnet(const struct disc_stream *s, const char *name);

#endif
