/* log.c - leveled log sink shared by every thread.
 * One mutex serialises lines so concurrent writers never interleave; the FILE* is
 * swapped under that mutex by log_reopen() (SIGHUP handling in the main loop). */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

volatile int log_current_level = LOG_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_sink;          /* NULL = stderr */
static char *log_path;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "?";
}

int log_open(const char *path, int level)
{
	FILE *f = NULL;

	if (path && *path) {
		f = fopen(path, "a");
		if (!f)
			return -errno;
		setvbuf(f, NULL, _IOLBF, 0);
	}
	pthread_mutex_lock(&log_lock);
	if (log_sink)
		fclose(log_sink);
	log_sink = f;
	free(log_path);
	log_path = path && *path ? strdup(path) : NULL;
	log_current_level = level;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

int log_reopen(void)
{
	int rc = 0;

	pthread_mutex_lock(&log_lock);
	if (log_path) {
		FILE *f = fopen(log_path, "a");
		if (f) {
			setvbuf(f, NULL, _IOLBF, 0);
			fclose(log_sink);
			log_sink = f;
		} else {
			rc = -errno;
		}
	}
	pthread_mutex_unlock(&log_lock);
	return rc;
}

void log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_sink)
		fclose(log_sink);
	log_sink = NULL;
	free(log_path);
	log_path = NULL;
	pthread_mutex_unlock(&log_lock);
}

void log_vwrite(int level, const char *file, int line, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);

	pthread_mutex_lock(&log_lock);
	FILE *out = log_sink ? log_sink : stderr;
	fprintf(out, "%s.%03ld %-5s ", stamp, ts.tv_nsec / 1000000, log_level_name(level));
	if (log_current_level >= LOG_DEBUG) {
		const char *base = strrchr(file, '/');
		fprintf(out, "%s:%d: ", base ? base + 1 : file, line);
	}
	/* strlen before the vfprintf: gcc with -fsanitize=address otherwise warns "null
	 * format string" (-Wformat-overflow), which breaks --enable-asan --enable-werror. */
	size_t n = strlen(fmt);
	va_list again;
	va_copy(again, ap);
	vfprintf(out, fmt, ap);
	bool nl = n == 0 || fmt[n - 1] != '\n';
	if (nl)
		fputc('\n', out);
	/* Errors also reach stderr when logging to a file, so a failed start is visible
	 * to whoever started us (a terminal, systemd's journal). */
	if (level == LOG_ERROR && out != stderr) {
		fprintf(stderr, "gostream: ");
		vfprintf(stderr, fmt, again);
		if (nl)
			fputc('\n', stderr);
	}
	va_end(again);
	pthread_mutex_unlock(&log_lock);
}

void log_write(int level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, file, line, fmt, ap);
	va_end(ap);
}
