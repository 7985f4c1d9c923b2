// SPDX-License-Identifier: GPL-2.0
/*
 * Progress bar.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "libprogress.h"

#define PROGRESS_INTERVAL_NS	200000000LL	/* redraw at most 5 times/s */
#define BAR_WIDTH		24

static long long ns_between(const struct timespec *a,
			    const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000000LL +
	       (b->tv_nsec - a->tv_nsec);
}

void progress_init(struct progress *p, const char *label, u64 total)
{
	memset(p, 0, sizeof(*p));
	p->on = isatty(STDERR_FILENO);
	p->label = label;
	p->total = total;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->last = p->start;
}

static void progress_draw(struct progress *p, long long elapsed)
{
	char done[32], total[32], rate[32], bar[BAR_WIDTH + 1];
	double secs = elapsed / 1e9;
	u64 bps = secs > 0 ? (u64)(p->done / secs) : 0;
	unsigned int fill, pct;

	size_human(p->done, done);
	size_human(bps, rate);
	if (!p->total) {
		fprintf(stderr, "\r%s: %s  %s/s\033[K", p->label, done, rate);
		fflush(stderr);
		return;
	}
	pct = p->done >= p->total ? 100 : (unsigned int)(p->done * 100 / p->total);
	fill = pct * BAR_WIDTH / 100;
	memset(bar, '#', fill);
	memset(bar + fill, '.', BAR_WIDTH - fill);
	bar[BAR_WIDTH] = '\0';
	size_human(p->total, total);
	fprintf(stderr, "\r%s: [%s] %3u%%  %s / %s  %s/s", p->label, bar, pct,
		done, total, rate);
	if (bps && p->done < p->total) {
		u64 eta = (p->total - p->done) / bps;

		fprintf(stderr, "  ETA %llu:%02llu", (unsigned long long)eta / 60,
			(unsigned long long)eta % 60);
	}
	fputs("\033[K", stderr);
	fflush(stderr);
}

void progress_update(struct progress *p, u64 done)
{
	struct timespec now;

	p->done = done;
	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ns_between(&p->last, &now) < PROGRESS_INTERVAL_NS)
		return;
	p->last = now;
	progress_draw(p, ns_between(&p->start, &now));
}

void progress_end(struct progress *p)
{
	if (p->on) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->on = false;
}
