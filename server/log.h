/* log.h - leveled, timestamped logging for the whole daemon.
 * Owns the log sink (stderr or log_file); any thread may log; SIGHUP reopens the file.
 * Levels are checked before arguments are evaluated; debug lines carry file:line. */
#ifndef GS_LOG_H
#define GS_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern volatile int log_current_level;

/* Parses "error|warn|info|debug"; returns the level or -EINVAL. */
int log_level_parse(const char *name);
const char *log_level_name(int level);

/* path NULL or "" = stderr. Returns 0 or -errno (sink unchanged on error). */
int log_open(const char *path, int level);
/* Reopen the same path (logrotate); safe to call from the main loop after SIGHUP. */
int log_reopen(void);
void log_close(void);

void log_write(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void log_vwrite(int level, const char *file, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#define log_at(lvl, ...) do { if ((lvl) <= log_current_level) \
	log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif
