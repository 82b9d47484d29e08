/* disc_sched.c - schedules and the one sync worker (see disc_sched.h). The worker wakes
 * every second (or at once on a request or stop), takes a requested sync first, then
 * the first kind that is due; since it is the only thread that runs syncs, two never
 * overlap. Calendar schedules are in local time; a due check compares the last start
 * with the most recent calendar time, so any number of missed times cost one run. */
#include "disc_sched.h"

#include "log.h"
#include "mem.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kind_names[DISC_KINDS] = { "movies", "tv", "watchlist" };

const char *disc_kind_name(int kind)
{
	return kind >= 0 && kind < DISC_KINDS ? kind_names[kind] : "?";
}

int disc_kind_parse(const char *s)
{
	for (int k = 0; s && k < DISC_KINDS; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return k;
	return -EINVAL;
}

int disc_sched_parse(const char *s, struct disc_schedule *out, char *why, size_t n)
{
	static const char *const days[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };
	const char *p = s;

	memset(out, 0, sizeof *out);
	while (*p == ' ')
		p++;
	if (!*p || strcasecmp(p, "off") == 0)
		return 0;
	if (strcasecmp(p, "hourly") == 0) {
		out->type = SCHED_HOURLY;
		return 0;
	}
	if (strncasecmp(p, "every ", 6) == 0) {
		char *end;
		long v = strtol(p + 6, &end, 10);
		long mult = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 0;
		if (v <= 0 || !mult || end[1] || v > 7L * 24 * 3600 / mult) {
			snprintf(why, n, "must be \"every N\" with N followed by s, m or h (at most a "
				 "week)");
			return -EINVAL;
		}
		out->type = SCHED_INTERVAL;
		out->interval_s = v * mult;
		return 0;
	}
	/* DAYS HH:MM */
	const char *sp = strchr(p, ' ');
	int hh, mm, used = 0;
	if (!sp || sscanf(sp + 1, "%d:%d%n", &hh, &mm, &used) != 2 || sp[1 + used] ||
	    hh < 0 || hh > 23 || mm < 0 || mm > 59)
		goto bad;
	if ((size_t)(sp - p) == 5 && strncasecmp(p, "daily", 5) == 0) {
		out->days = 0x7f;
	} else {
		for (const char *d = p; d < sp;) {
			int found = -1;
			for (int i = 0; i < 7; i++)
				if (strncasecmp(d, days[i], 3) == 0)
					found = i;
			if (found < 0 || (d + 3 != sp && d[3] != ','))
				goto bad;
			out->days |= 1u << found;
			d += 4;
		}
	}
	out->type = SCHED_DAYS;
	out->hour = hh;
	out->minute = mm;
	return 0;
bad:
	snprintf(why, n, "must be \"off\", \"hourly\", \"every N(s|m|h)\" or \"DAYS HH:MM\" with "
		 "DAYS \"daily\" or a list like mon,thu");
	return -EINVAL;
}

int disc_sched_check(const char *v, char *why, size_t n)
{
	struct disc_schedule s;

	return disc_sched_parse(v, &s, why, n);
}

/* Local midnight-relative time of day d days from now's date, or -1. */
static time_t at_day(time_t now, int d, int hour, int minute, int *wday)
{
	struct tm tm;

	localtime_r(&now, &tm);
	tm.tm_mday += d;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	*wday = tm.tm_wday;
	return t;
}

/* The most recent calendar time <= now (0 = none within 8 days). */
static time_t prev_time(const struct disc_schedule *s, time_t now)
{
	if (s->type == SCHED_HOURLY) {
		struct tm tm;
		localtime_r(&now, &tm);
		tm.tm_min = 0;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		return mktime(&tm);
	}
	for (int d = 0; d <= 8; d++) {
		int wday;
		time_t t = at_day(now, -d, s->hour, s->minute, &wday);
		if (t <= now && (s->days & (1u << wday)))
			return t;
	}
	return 0;
}

bool disc_sched_due(const struct disc_schedule *s, time_t now, time_t last)
{
	switch (s->type) {
	case SCHED_OFF:
		return false;
	case SCHED_INTERVAL:
		return now >= last + s->interval_s;
	default:
		return last < prev_time(s, now);
	}
}

time_t disc_sched_next(const struct disc_schedule *s, time_t now, time_t last)
{
	if (s->type == SCHED_OFF)
		return 0;
	if (disc_sched_due(s, now, last))
		return now;
	if (s->type == SCHED_INTERVAL)
		return last + s->interval_s;
	if (s->type == SCHED_HOURLY)
		return prev_time(s, now) + 3600;
	for (int d = 0; d <= 8; d++) {
		int wday;
		time_t t = at_day(now, d, s->hour, s->minute, &wday);
		if (t > now && (s->days & (1u << wday)))
			return t;
	}
	return 0;
}

struct disc_sched {
	struct disc_schedule sched[DISC_KINDS];
	struct disc_sched_ops ops;
	char *state_file;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	time_t last[DISC_KINDS];
	/* the request queue: one at most */
	bool requested;
	int req_kind, req_id;
	bool req_dry;
	int running_id;                 /* 0 = idle */
	int next_id;
	unsigned long runs;
};

static void state_save(disc_sched *s)
{
	cJSON *o = cJSON_CreateObject();
	char *tmp = xasprintf("%s.tmp", s->state_file);
	int fd;

	for (int k = 0; k < DISC_KINDS; k++)
		cJSON_AddNumberToObject(o, kind_names[k], (double)s->last[k]);
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0 ||
	    close(fd) < 0 || rename(tmp, s->state_file) < 0) {
		log_warn("discovery: cannot write %s: %s", s->state_file, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	}
	free(text);
	free(tmp);
}

static void state_load(disc_sched *s, time_t now)
{
	FILE *f = fopen(s->state_file, "r");
	char buf[4096];
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	cJSON *o;

	if (f)
		fclose(f);
	buf[n] = '\0';
	o = n ? cJSON_Parse(buf) : NULL;
	if (n && !o)
		log_warn("discovery: %s is not JSON: schedules start afresh", s->state_file);
	for (int k = 0; k < DISC_KINDS; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, kind_names[k]);
		s->last[k] = cJSON_IsNumber(v) && v->valuedouble > 0 ? (time_t)v->valuedouble : now;
	}
	cJSON_Delete(o);
	state_save(s);
}

static void *worker(void *arg)
{
	disc_sched *s = arg;
	bool missed[DISC_KINDS];
	time_t t0 = time(NULL);

	pthread_mutex_lock(&s->lock);
	/* What is due right at start-up was missed while gostream was down. */
	for (int k = 0; k < DISC_KINDS; k++)
		missed[k] = s->ops.enabled(s->ops.arg, k) &&
			    disc_sched_due(&s->sched[k], t0, s->last[k]);
	while (!s->stop) {
		int kind = -1, id = 0;
		bool dry = false;
		const char *trigger = NULL;
		time_t now = time(NULL);

		if (s->requested) {
			kind = s->req_kind;
			id = s->req_id;
			dry = s->req_dry;
			s->requested = false;
			trigger = "api";
		} else {
			/* The due kind that waited longest goes first: a kind whose runs
			 * outlast its interval cannot starve the others. */
			for (int k = 0; k < DISC_KINDS; k++)
				if (s->ops.enabled(s->ops.arg, k) &&
				    disc_sched_due(&s->sched[k], now, s->last[k]) &&
				    (kind < 0 || s->last[k] < s->last[kind]))
					kind = k;
			if (kind >= 0) {
				id = ++s->next_id;
				trigger = missed[kind] ? "missed" : "schedule";
				missed[kind] = false;
				s->last[kind] = now;
				state_save(s);
			}
		}
		if (kind < 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (!s->requested && !s->stop)
				pthread_cond_timedwait(&s->cond, &s->lock, &ts);
			continue;
		}
		s->running_id = id;
		s->runs++;
		pthread_mutex_unlock(&s->lock);
		s->ops.run(s->ops.arg, kind, dry, trigger, id);
		pthread_mutex_lock(&s->lock);
		s->running_id = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int disc_sched_start(const struct disc_schedule schedules[DISC_KINDS], const char *state_file,
		     const struct disc_sched_ops *ops, disc_sched **out)
{
	disc_sched *s = xcalloc(1, sizeof *s);
	int rc;

	memcpy(s->sched, schedules, sizeof s->sched);
	s->ops = *ops;
	s->state_file = xstrdup(state_file);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	state_load(s, time(NULL));
	rc = -pthread_create(&s->thread, NULL, worker, s);
	if (rc < 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s->state_file);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void disc_sched_stop(disc_sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	s->ops.interrupt(s->ops.arg);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->state_file);
	free(s);
}

int disc_sched_request(disc_sched *s, int kind, bool dry_run, int *run_id, int *busy_id)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (s->requested || s->running_id) {
		*busy_id = s->requested ? s->req_id : s->running_id;
		rc = -EBUSY;
	} else {
		s->requested = true;
		s->req_kind = kind;
		s->req_dry = dry_run;
		s->req_id = *run_id = ++s->next_id;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void disc_sched_get(disc_sched *s, int kind, struct disc_sched_info *out)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&s->lock);
	out->scheduled = s->sched[kind].type != SCHED_OFF && s->ops.enabled(s->ops.arg, kind);
	out->last = s->last[kind];
	out->next = out->scheduled ? disc_sched_next(&s->sched[kind], now, s->last[kind]) : 0;
	pthread_mutex_unlock(&s->lock);
}

void disc_sched_counts(disc_sched *s, unsigned long *runs, bool *running)
{
	pthread_mutex_lock(&s->lock);
	*runs = s->runs;
	*running = s->running_id != 0;
	pthread_mutex_unlock(&s->lock);
}
