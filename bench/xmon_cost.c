/* xmon_cost: the cost of one raise in the calling thread, server down.
 *
 *   xmon_cost agent|queue|logonly THREADS RAISES LOGFILE
 *
 * agent: xmon_start() with a server address where nothing listens (a
 *   loopback port we keep bound but never listen on, so every connect is
 *   refused at once): the xmon loop is in reconnect back-off and drains the
 *   pipe. Each call is xmon_raise(XMON_PARENT, ...).
 * queue: the baseline of xmon_common.h (mutex + condvar queue, a consumer
 *   thread that frees the nodes: with the server down there is nowhere to
 *   send them).
 * logonly: xmon_start() with no server, so xmon_raise() only formats and
 *   logs: the floor under both, and the machine's noise (no lock, no
 *   hand-off, no other thread of ours).
 * All log every raise to LOGFILE (log_open(LOGFILE), e.g. /dev/null).
 *
 * RAISES in total are split among THREADS threads, which start together
 * after an untimed warm-up of 1 % of their share. Each call is timed on
 * CLOCK_MONOTONIC; around (outside) each timed call, getrusage(RUSAGE_THREAD)
 * tells whether the thread was switched out during it, so that calls over
 * 50 us can be attributed: over50_vol counts those during which the thread
 * switched out voluntarily (it blocked: a contended lock, ...), over50_invol
 * those with only involuntary switches (preempted: more runnable threads
 * than CPUs), over50_flt those with no switch but a page fault; the rest
 * saw none of these (interrupts, the hypervisor taking the vCPU, a lock
 * spun on in the kernel). Prints one line:
 *   mode=M threads=T raises=N median_ns=.. p99_ns=.. p999_ns=.. max_ns=..
 *   over50=K over50_vol=V over50_invol=I over50_flt=F dropped=D dropped_queue=Q seconds=S
 * (one line). dropped: requests the agent dropped because its pipe was
 * full (xmon_dropped()); dropped_queue: requests its loop drained but did
 * not keep because its own queue was full (stats.dropped_limit, read once
 * the loop has caught up): both 0 for the baseline. seconds: from the
 * start of the timed calls to the last join. Exit 0, 100 usage,
 * 111 setup. Global state: the arguments and the results array, set
 * before the threads start; each thread writes only its own slice.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lull/loop.h"
#include "xmon_common.h"

#define MAX_THREADS 64
#define OUTLIER_NS 50000

struct worker {
	pthread_t th;
	unsigned idx;
	size_t n;            /* timed raises */
	int64_t *lat;        /* n latencies, ns */
	unsigned long over, over_vol, over_invol, over_flt;   /* see above */
};

enum mode { AGENT, QUEUE, LOGONLY };
static enum mode mode;
static pthread_barrier_t go;

static void raise_one(unsigned t, unsigned long i)
{
	if (mode != QUEUE)
		xmon_raise(XMON_PARENT, "bench: request %lu from thread %u was malformed (%d bytes)", i, t, 512);
	else
		bq_raise("bench: request %lu from thread %u was malformed (%d bytes)", i, t, 512);
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	char name[16];
	size_t warm = w->n / 100;

	snprintf(name, sizeof(name), "raise-%u", w->idx % 10);
	log_set_thread_name(name);
	for (size_t i = 0; i < warm; i++)
		raise_one(w->idx, i);
	pthread_barrier_wait(&go);
	for (size_t i = 0; i < w->n; i++) {
		struct rusage r0, r1;
		int64_t t0, t1;

		getrusage(RUSAGE_THREAD, &r0);
		t0 = bench_ns();
		raise_one(w->idx, warm + i);
		t1 = bench_ns();
		getrusage(RUSAGE_THREAD, &r1);
		w->lat[i] = t1 - t0;
		if (t1 - t0 > OUTLIER_NS) {
			w->over++;
			if (r1.ru_nvcsw != r0.ru_nvcsw)
				w->over_vol++;
			else if (r1.ru_nivcsw != r0.ru_nivcsw)
				w->over_invol++;
			else if (r1.ru_minflt != r0.ru_minflt || r1.ru_majflt != r0.ru_majflt)
				w->over_flt++;
		}
	}
	return NULL;
}

/* A loopback port that refuses connections: bound, never listening, and
 * kept open so nobody else gets it. Returns the fd, the port in *port. */
static int refusing_port(unsigned *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static void consume_free(struct bq_node *n)
{
	free(n);
}

int main(int argc, char **argv)
{
	struct worker w[MAX_THREADS];
	unsigned threads = argc == 5 ? (unsigned)atoi(argv[2]) : 0;
	unsigned long raises = argc == 5 ? strtoul(argv[3], NULL, 10) : 0;
	unsigned long over = 0, over_vol = 0, over_invol = 0, over_flt = 0;
	int64_t *all;
	size_t per, n = 0;

	if (threads < 1 || threads > MAX_THREADS || raises < threads ||
	    (strcmp(argv[1], "agent") && strcmp(argv[1], "queue") && strcmp(argv[1], "logonly"))) {
		fprintf(stderr, "usage: xmon_cost agent|queue|logonly THREADS RAISES LOGFILE\n");
		return 100;
	}
	mode = !strcmp(argv[1], "agent") ? AGENT : !strcmp(argv[1], "queue") ? QUEUE : LOGONLY;
	per = raises / threads;
	all = calloc(per * threads, sizeof(*all));
	if (!all || loop_init() < 0 || log_open(argv[4]) < 0) {
		fprintf(stderr, "xmon_cost: setup failed\n");
		return 111;
	}
	if (mode == LOGONLY) {
		struct xmon_config cfg = { .app_type = BENCH_APP_TYPE, .app_instance = "xmon_cost@bench" };

		if (xmon_start(&cfg) < 0) {
			fprintf(stderr, "xmon_cost: xmon_start failed\n");
			return 111;
		}
	} else if (mode == AGENT) {
		struct xmon_config cfg = { .app_type = BENCH_APP_TYPE, .app_instance = "xmon_cost@bench" };
		struct xmon_stats st;
		char server[64];
		unsigned port;

		if (refusing_port(&port) < 0) {
			perror("xmon_cost: socket");
			return 111;
		}
		snprintf(server, sizeof(server), "127.0.0.1:%u", port);
		cfg.server = server;
		if (xmon_start(&cfg) < 0) {
			fprintf(stderr, "xmon_cost: xmon_start failed\n");
			return 111;
		}
		/* Let the loop fail its first connect and enter back-off. */
		usleep(100000);
		xmon_stats(&st);
		if (st.connects || st.connected) {
			fprintf(stderr, "xmon_cost: the agent connected to %s: the server is not down\n", server);
			return 111;
		}
	} else if (bq_start(consume_free) < 0) {
		fprintf(stderr, "xmon_cost: cannot start the consumer\n");
		return 111;
	}
	pthread_barrier_init(&go, NULL, threads + 1);
	for (unsigned t = 0; t < threads; t++) {
		w[t] = (struct worker){ .idx = t, .n = per, .lat = all + t * per };
		if (pthread_create(&w[t].th, NULL, worker, &w[t])) {
			fprintf(stderr, "xmon_cost: pthread_create failed\n");
			return 111;
		}
	}
	pthread_barrier_wait(&go);
	int64_t t0 = bench_ns();
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(w[t].th, NULL);
		n += w[t].n;
		over += w[t].over;
		over_vol += w[t].over_vol;
		over_invol += w[t].over_invol;
		over_flt += w[t].over_flt;
	}
	double secs = (double)(bench_ns() - t0) / 1e9;
	uint64_t dq = 0;

	if (mode == AGENT) {
		/* Wait (up to 5 s) until the loop has drained the pipe. */
		struct xmon_stats st;

		xmon_stats(&st);
		for (int i = 0; i < 50; i++) {
			usleep(100000);
			dq = st.dropped_limit;
			xmon_stats(&st);
			if (st.dropped_limit == dq)
				break;
		}
		dq = st.dropped_limit;
	}
	qsort(all, n, sizeof(*all), bench_cmp_i64);
	printf("mode=%s threads=%u raises=%zu median_ns=%lld p99_ns=%lld p999_ns=%lld max_ns=%lld "
	       "over50=%lu over50_vol=%lu over50_invol=%lu over50_flt=%lu dropped=%llu dropped_queue=%llu "
	       "seconds=%.3f\n",
	       argv[1], threads, n, (long long)bench_pct(all, n, 0.5), (long long)bench_pct(all, n, 0.99),
	       (long long)bench_pct(all, n, 0.999), (long long)all[n - 1], over, over_vol, over_invol,
	       over_flt, (unsigned long long)xmon_dropped(), (unsigned long long)dq, secs);
	fflush(stdout);
	return 0;   /* the agent has no shutdown: its thread dies with us */
}
