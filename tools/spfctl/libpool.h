/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An ordered worker pool: the caller fills job slots in sequence, workers
 * process them in parallel, and the caller takes them back in the same
 * sequence.  At most @depth jobs are in flight, which bounds memory and
 * keeps output strictly sequential.
 */
#ifndef SPF_LIBPOOL_H
#define SPF_LIBPOOL_H

#include "libutil.h"

struct pool;

struct pool_ops {
	/* Per-worker state, created on the calling thread; NULL = failure. */
	void *(*wctx_new)(void *arg);
	void (*wctx_free)(void *wctx);
	/* Process job @slot; must not touch other slots. */
	void (*work)(void *wctx, unsigned int slot, void *arg);
};

struct pool *pool_new(unsigned int workers, unsigned int depth,
		      const struct pool_ops *ops, void *arg);
/* Stops the workers after their current job and frees the pool. */
void pool_free(struct pool *p);

/* The slot to fill next, or -1 when @depth jobs are in flight. */
int pool_next_slot(struct pool *p);
void pool_submit(struct pool *p);
/* Wait for the oldest job; its slot, or -1 when none is in flight. */
int pool_wait_oldest(struct pool *p);
/* Done with the oldest job's results; its slot may be reused. */
void pool_release(struct pool *p);
unsigned int pool_in_flight(struct pool *p);

/*
 * Run @p to the end, then free it.  @fill fills job @slot and returns 0
 * to submit it, 1 when there is nothing more to submit, or a negative
 * error; @consume takes each job's results back, in order.  Returns 0 or
 * the first error.
 */
int pool_pump(struct pool *p, int (*fill)(void *arg, unsigned int slot),
	      int (*consume)(void *arg, unsigned int slot), void *arg);

#endif /* SPF_LIBPOOL_H */
