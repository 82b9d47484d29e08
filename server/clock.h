/* clock.h - deadlines for pthread_cond_timedwait: a clock's now plus milliseconds, with
 * tv_nsec kept normalised. Header only; any thread. Condition variables here wait on
 * CLOCK_MONOTONIC (pthread_condattr_setclock) unless their module says otherwise. */
#ifndef GS_CLOCK_H
#define GS_CLOCK_H

#include <time.h>

/* Adds ms (>= 0) milliseconds to *ts. */
static inline void clock_add_ms(struct timespec *ts, long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* *ts = the clock's now + ms milliseconds. */
static inline void clock_deadline(clockid_t clock, long ms, struct timespec *ts)
{
	clock_gettime(clock, ts);
	clock_add_ms(ts, ms);
}

#endif
