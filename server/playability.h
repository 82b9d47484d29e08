/* playability.h - whether a title would play now, before anyone plays it: the film's
 * bitrate (its size over the duration read from the container in the SSD warmup head)
 * against the best swarm rate seen while the torrent was last awake, as "plays now",
 * "buffers" or "stalls" (or "unknown" with the reason). One process-wide table under its
 * own lock: the dashboard's sampler thread notes rates, HTTP threads (/torrents, the
 * library page) read verdicts. */
#ifndef GS_PLAYABILITY_H
#define GS_PLAYABILITY_H

#include "catalog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct gs_streams;

/* The stream layer whose warmup cache holds the heads (NULL: none, durations unknown).
 * Set at start-up and cleared before the stream layer goes. */
void playability_attach(struct gs_streams *s);

/* One sample of an awake torrent's download rate (bytes/s), every few seconds;
 * playability_asleep when it left the session (its last awake period is then kept). */
void playability_note_rate(const char *hash, double rate);
void playability_asleep(const char *hash);

/* Duration in seconds of a Matroska/WebM (Segment Info Duration) or MP4/MOV (mvhd)
 * file from its first bytes; -1 when the bytes do not say. Pure (tests). */
double playability_parse_duration(const void *buf, size_t len);

/* {"verdict": "plays now"|"buffers"|"stalls"|"unknown", "reason": ..., "bitrate": bytes/s,
 * "swarm_rate": bytes/s, "duration": s, "file_index": n} for the record's largest file.
 * May read the file's warmup head once (cached). Caller owns the result. */
struct cJSON *playability_json(const cat_record *r);

#endif
