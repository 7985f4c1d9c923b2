// SPDX-License-Identifier: GPL-2.0
/*
 * Ordered worker pool.  Jobs are numbered; slot = number % depth.
 *
 *   head <= next <= tail:  [head, next) taken by workers (running or done),
 *                          [next, tail) queued.
 */
#include <pthread.h>
#include <stdlib.h>

#include "libpool.h"

struct pool_worker {
	struct pool *pool;
	pthread_t thread;
	void *wctx;
	bool started;
};

struct pool {
	const struct pool_ops *ops;
	void *arg;
	unsigned int depth;
	unsigned int nr_workers;
	struct pool_worker *workers;

	pthread_mutex_t lock;		/* protects everything below */
	pthread_cond_t work_cv;		/* a job was queued, or stop */
	pthread_cond_t done_cv;		/* a job finished */
	u64 head, next, tail;
	bool *done;			/* per slot */
	bool stop;
};

static void *pool_thread(void *data)
{
	struct pool_worker *w = data;
	struct pool *p = w->pool;
	unsigned int slot;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->next == p->tail)
			pthread_cond_wait(&p->work_cv, &p->lock);
		if (p->stop)
			break;
		slot = p->next++ % p->depth;
		pthread_mutex_unlock(&p->lock);

		p->ops->work(w->wctx, slot, p->arg);

		pthread_mutex_lock(&p->lock);
		p->done[slot] = true;
		pthread_cond_signal(&p->done_cv);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct pool *pool_new(unsigned int workers, unsigned int depth,
		      const struct pool_ops *ops, void *arg)
{
	struct pool *p = xzalloc(sizeof(*p));
	unsigned int i;

	p->ops = ops;
	p->arg = arg;
	p->depth = depth;
	p->nr_workers = workers;
	p->done = xzalloc(depth * sizeof(*p->done));
	p->workers = xzalloc(workers * sizeof(*p->workers));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);

	for (i = 0; i < workers; i++) {
		struct pool_worker *w = &p->workers[i];

		w->pool = p;
		w->wctx = ops->wctx_new(arg);
		if (!w->wctx)
			goto fail;
		if (pthread_create(&w->thread, NULL, pool_thread, w)) {
			err_msg(NULL, "cannot start worker threads");
			goto fail;
		}
		w->started = true;
	}
	return p;
fail:
	pool_free(p);
	return NULL;
}

void pool_free(struct pool *p)
{
	unsigned int i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nr_workers; i++) {
		struct pool_worker *w = &p->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		if (w->wctx)
			p->ops->wctx_free(w->wctx);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	free(p->workers);
	free(p->done);
	free(p);
}

int pool_next_slot(struct pool *p)
{
	int slot = -1;

	pthread_mutex_lock(&p->lock);
	if (p->tail - p->head < p->depth)
		slot = p->tail % p->depth;
	pthread_mutex_unlock(&p->lock);
	return slot;
}

void pool_submit(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->done[p->tail % p->depth] = false;
	p->tail++;
	pthread_cond_signal(&p->work_cv);
	pthread_mutex_unlock(&p->lock);
}

int pool_wait_oldest(struct pool *p)
{
	int slot = -1;

	pthread_mutex_lock(&p->lock);
	if (p->head != p->tail) {
		slot = p->head % p->depth;
		while (!p->done[slot])
			pthread_cond_wait(&p->done_cv, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return slot;
}

void pool_release(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->done[p->head % p->depth] = false;
	p->head++;
	pthread_mutex_unlock(&p->lock);
}

unsigned int pool_in_flight(struct pool *p)
{
	unsigned int n;

	pthread_mutex_lock(&p->lock);
	n = p->tail - p->head;
	pthread_mutex_unlock(&p->lock);
	return n;
}

int pool_pump(struct pool *p, int (*fill)(void *arg, unsigned int slot),
	      int (*consume)(void *arg, unsigned int slot), void *arg)
{
	int slot, ret = 0;

	if (!p)
		return -1;
	for (;;) {
		while ((slot = pool_next_slot(p)) >= 0) {
			ret = fill(arg, slot);
			if (ret)
				break;
			pool_submit(p);
		}
		if (ret < 0)
			break;
		ret = 0;
		slot = pool_wait_oldest(p);
		if (slot < 0)
			break;
		ret = consume(arg, slot);
		pool_release(p);
		if (ret)
			break;
	}
	pool_free(p);
	return ret;
}
