/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A one-line progress bar on stderr (bytes, percentage, rate, ETA), shown
 * only when stderr is a terminal.
 */
#ifndef SPF_LIBPROGRESS_H
#define SPF_LIBPROGRESS_H

#include <time.h>

#include "libutil.h"

struct progress {
	bool on;
	const char *label;
	u64 total;			/* 0: unknown */
	u64 done;
	struct timespec start;
	struct timespec last;
};

void progress_init(struct progress *p, const char *label, u64 total);
void progress_update(struct progress *p, u64 done);
/* Erase the bar. */
void progress_end(struct progress *p);

#endif /* SPF_LIBPROGRESS_H */
