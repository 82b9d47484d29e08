/* cancel.c - cancellation tokens (see cancel.h). The waker runs under the token's lock,
 * so cancel_clear_waker() returning means the waker is not running and will not run. */
#include "cancel.h"

void cancel_init(gs_cancel *c)
{
	atomic_init(&c->fired, false);
	pthread_mutex_init(&c->lock, NULL);
	c->wake = NULL;
	c->wake_arg = NULL;
}

void cancel_destroy(gs_cancel *c)
{
	pthread_mutex_destroy(&c->lock);
}

void cancel_fire(gs_cancel *c)
{
	if (!c)
		return;
	atomic_store_explicit(&c->fired, true, memory_order_release);
	pthread_mutex_lock(&c->lock);
	if (c->wake)
		c->wake(c->wake_arg);
	pthread_mutex_unlock(&c->lock);
}

void cancel_set_waker(gs_cancel *c, void (*wake)(void *arg), void *arg)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->wake = wake;
	c->wake_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

void cancel_clear_waker(gs_cancel *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->wake = NULL;
	c->wake_arg = NULL;
	pthread_mutex_unlock(&c->lock);
}

bool cancel_is_fired(gs_cancel *c)
{
	return cancel_fired(c);
}
