/* bench/xmon_common.h: what the xmon_* benchmarks share.
 *
 * - Timing and nearest-rank percentiles (as term_driver does).
 * - The baseline: the hand-off the agent's pipe replaced. A raise formats
 *   the same record as lib/xmon.c's submit() into a stack buffer, logs the
 *   same line, then copies the record into a malloc'd node and pushes it on
 *   a list under a pthread mutex and signals a condition variable; one
 *   consumer thread waits on the condition variable, takes the whole list
 *   at once (the strongest form of that design: one lock hold per wakeup,
 *   as the agent's loop drains the whole pipe per wakeup) and hands each
 *   node to a callback, which frees it.
 *
 * Global state: the baseline queue `bq` (its mutex protects the list) and
 * the app type name used in log lines, set before any thread starts.
 */
#ifndef BENCH_XMON_COMMON_H
#define BENCH_XMON_COMMON_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lull/log.h"
#include "lull/xmon.h"

#define BENCH_APP_TYPE "bench.critical"
#define BENCH_TRUNC_MARK "...[truncated]"   /* lib/xmon.c's TRUNC_MARK */

static inline int64_t bench_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[n], q in (0, 1]. */
static int64_t bench_pct(const int64_t *v, size_t n, double q)
{
	size_t k = (size_t)(q * (double)n + 0.999999);

	return v[(k < 1 ? 1 : k) - 1];
}

/* ---- the baseline: mutex + condition variable queue --------------------------- */

/* The same record header as lib/xmon.c's pipe record. */
struct bq_hdr {
	int64_t id;
	int64_t quiet_ns;
	uint32_t type;
	uint8_t app;
	uint8_t binnable;
	uint16_t len;
};

struct bq_node {
	struct bq_node *next;
	struct bq_hdr h;
	char msg[];
};

typedef void (*bq_consume_fn)(struct bq_node *n);   /* takes ownership */

static struct bq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct bq_node *head, **tail;
	_Atomic int64_t next_id;
	bq_consume_fn consume;
} bq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &bq.head, 1, NULL };

static void *bq_consumer(void *arg)
{
	(void)arg;
	log_set_thread_name("bq-consumer");
	for (;;) {
		struct bq_node *list;

		pthread_mutex_lock(&bq.mu);
		while (!bq.head)
			pthread_cond_wait(&bq.cv, &bq.mu);
		list = bq.head;
		bq.head = NULL;
		bq.tail = &bq.head;
		pthread_mutex_unlock(&bq.mu);
		while (list) {
			struct bq_node *n = list;

			list = n->next;
			bq.consume(n);
		}
	}
	return NULL;
}

/* Start the consumer; `consume` runs on it for every node. 0 or -1. */
static int bq_start(bq_consume_fn consume)
{
	pthread_t th;

	bq.consume = consume;
	return pthread_create(&th, NULL, bq_consumer, NULL) ? -1 : 0;
}

/* A binnable raise through the baseline: lib/xmon.c's xmon_raise() and
 * submit() line for line, with the pipe write replaced by the queue push. */
static int64_t bq_raise(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t bq_raise(const char *fmt, ...)
{
	char rec[PIPE_BUF];
	struct bq_hdr *h = (struct bq_hdr *)rec;
	char *msg = rec + sizeof(*h);
	int64_t id = atomic_fetch_add(&bq.next_id, 1);
	struct bq_node *node;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, XMON_MESSAGE_MAX + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > XMON_MESSAGE_MAX) {
		memcpy(msg + XMON_MESSAGE_MAX - (sizeof(BENCH_TRUNC_MARK) - 1), BENCH_TRUNC_MARK,
		       sizeof(BENCH_TRUNC_MARK) - 1);
		n = XMON_MESSAGE_MAX;
	}
	h->id = id;
	h->quiet_ns = 0;
	h->type = 0x4;   /* XMON_CREATE */
	h->app = XMON_PARENT;
	h->binnable = 1;
	h->len = (uint16_t)n;
	log_write(LOG_LEVEL_ERROR, "alert %lld%s (%s): %.*s", (long long)id, "", BENCH_APP_TYPE, n, msg);
	node = malloc(sizeof(*node) + (size_t)n);
	if (!node)
		return -ENOMEM;
	node->h = *h;
	memcpy(node->msg, msg, (size_t)n);
	node->next = NULL;
	pthread_mutex_lock(&bq.mu);
	*bq.tail = node;
	bq.tail = &node->next;
	pthread_cond_signal(&bq.cv);
	pthread_mutex_unlock(&bq.mu);
	return id;
}

#endif
