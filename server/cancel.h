/* cancel.h - a cancellation token passed down every blocking read.
 * A front end (HTTP connection closed, FUSE interrupt) fires it from any thread; the
 * blocked waiter registered a waker, which is called at once so the wait ends with -EINTR. */
#ifndef GS_CANCEL_H
#define GS_CANCEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct gs_cancel {
	atomic_bool fired;
	pthread_mutex_t lock;          /* guards wake/wake_arg */
	void (*wake)(void *arg);
	void *wake_arg;
} gs_cancel;

void cancel_init(gs_cancel *c);
void cancel_destroy(gs_cancel *c);
/* Marks the token fired and calls the registered waker (if any). Idempotent. */
void cancel_fire(gs_cancel *c);
static inline bool cancel_fired(gs_cancel *c)
{
	return c && atomic_load_explicit(&c->fired, memory_order_acquire);
}
/* The same, as a function: for C++ (the shim), which cannot include <stdatomic.h>. */
bool cancel_is_fired(gs_cancel *c);
/* A waiter registers how to wake it before it blocks, and clears it after.
 * Both tolerate c == NULL (an uncancellable read). After set, check cancel_fired()
 * before sleeping: a fire that happened before set will not call the waker. */
void cancel_set_waker(gs_cancel *c, void (*wake)(void *arg), void *arg);
void cancel_clear_waker(gs_cancel *c);

#endif
