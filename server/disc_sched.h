/* disc_sched.h - when discovery syncs run: schedule strings ("mon,thu 03:00", "hourly",
 * "every 30m", "off"), and one worker thread that runs the syncs one at a time, the ones
 * the API asks for and the ones that are due, a run missed while gostream was down done
 * once after start-up. Owns the thread and <state>/discovery/schedule.json (the last
 * scheduled start of each kind). Any thread may request, query or stop. */
#ifndef GS_DISC_SCHED_H
#define GS_DISC_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum disc_kind { DISC_MOVIES = 0, DISC_TV = 1, DISC_WATCHLIST = 2, DISC_KINDS = 3 };

const char *disc_kind_name(int kind);            /* "movies", "tv", "watchlist" */
int disc_kind_parse(const char *s);              /* kind or -EINVAL */

struct disc_schedule {
	enum { SCHED_OFF, SCHED_INTERVAL, SCHED_DAYS, SCHED_HOURLY } type;
	long interval_s;
	unsigned days;                  /* bit 0 = Sunday ... bit 6 = Saturday */
	int hour, minute;
};

/* Parses a schedule; 0, or -EINVAL with why ("must be ..."). */
int disc_sched_parse(const char *s, struct disc_schedule *out, char *why, size_t n);
/* cfg check function for the schedule keys. */
int disc_sched_check(const char *v, char *why, size_t n);
/* Whether a sync last started at `last` (0 = never) is due at now: an interval has
 * passed, or a calendar time came after last. */
bool disc_sched_due(const struct disc_schedule *s, time_t now, time_t last);
/* The next time it will be due after now (0 = never). Local time. */
time_t disc_sched_next(const struct disc_schedule *s, time_t now, time_t last);

typedef struct disc_sched disc_sched;

struct disc_sched_ops {
	/* Runs one sync in the worker thread; returns when done or stopped. */
	void (*run)(void *arg, int kind, bool dry_run, const char *trigger, int run_id);
	/* Whether a kind may run on schedule (its keys are set). */
	bool (*enabled)(void *arg, int kind);
	/* Asks a running sync to end now (any thread). */
	void (*interrupt)(void *arg);
	void *arg;
};

/* Starts the worker. schedules[kind] must stay valid. state_file: where last starts are
 * kept. A scheduled kind whose last start is missing from the file counts as started now
 * (a fresh install does not sync at once). Returns 0 or -errno. */
int disc_sched_start(const struct disc_schedule schedules[DISC_KINDS], const char *state_file,
		     const struct disc_sched_ops *ops, disc_sched **out);
/* Interrupts a running sync, joins the worker. */
void disc_sched_stop(disc_sched *s);

/* Queues a sync; 0 with its run id, or -EBUSY (one is running or queued: *busy_id). */
int disc_sched_request(disc_sched *s, int kind, bool dry_run, int *run_id, int *busy_id);

struct disc_sched_info {
	bool scheduled;                 /* schedule set and keys present */
	time_t last;                    /* last scheduled start, 0 = none */
	time_t next;                    /* next due, 0 = none */
};
void disc_sched_get(disc_sched *s, int kind, struct disc_sched_info *out);
/* Runs started by the worker since start-up, and whether one runs now. */
void disc_sched_counts(disc_sched *s, unsigned long *runs, bool *running);

#endif
