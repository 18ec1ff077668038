/* resolve.c: host names to addresses without NSS. No global state.
 *
 * getaddrinfo() is the resolver: in static musl it reads /etc/hosts and
 * /etc/resolv.conf itself (no NSS modules to load, which is what breaks
 * static glibc); in the glibc sanitizer build it is the usual one.
 * resolve_query_start() runs it in a detached helper thread so that a loop
 * never blocks on a name server (see lull/resolve.h for why a thread and
 * not a stub resolver).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "internal.h" /* the thread hooks: declarations, no module linked */
#include "lull/resolve.h"

void (*lull_resolve_test_hook)(const char *host);

int resolve_split(const char *hostport, char *host, size_t hcap, uint16_t *port)
{
	const char *h = hostport, *colon;
	size_t hlen;
	char *end;
	long p;

	if (!hostport)
		return -EINVAL;
	if (h[0] == '[') {
		const char *rb = strchr(h, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h++;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(h, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - h);
	}
	if (hlen == 0)
		return -EINVAL;
	if (hlen >= hcap)
		return -ENAMETOOLONG;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 1 || p > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int lookup(const char *host, uint16_t port, struct resolve_result *r, int flags)
{
	struct addrinfo hints, *res = NULL, *ai;
	char service[8];
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | flags;
	snprintf(service, sizeof(service), "%u", port);
	r->n = 0;
	e = getaddrinfo(host, service, &hints, &res);
	switch (e) {
	case 0: break;
	case EAI_AGAIN: return -EAGAIN;
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
		return -ENOENT;
	case EAI_MEMORY: return -ENOMEM;
	case EAI_SYSTEM: return errno ? -errno : -EIO;
	default: return -EAGAIN;   /* EAI_FAIL and friends: try again later */
	}
	for (ai = res; ai && r->n < RESOLVE_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(r->addr[0]))
			continue;
		memcpy(&r->addr[r->n], ai->ai_addr, ai->ai_addrlen);
		r->len[r->n] = ai->ai_addrlen;
		r->n++;
	}
	freeaddrinfo(res);
	return r->n ? 0 : -ENOENT;
}

int resolve_host(const char *host, uint16_t port, struct resolve_result *r)
{
	return lookup(host, port, r, 0);
}

/* ---- lookups in a helper thread ---- */

struct resolve_query {
	atomic_int refs;            /* the caller's and the helper's */
	atomic_bool done;           /* result and res are written (release) */
	int efd;
	int result;
	uint16_t port;
	char host[256];             /* a DNS name is at most 253 bytes */
	struct resolve_result res;
};

static void query_unref(struct resolve_query *q)
{
	if (atomic_fetch_sub(&q->refs, 1) != 1)
		return;
	close(q->efd);
	free(q);
}

static void query_finish(struct resolve_query *q, int result)
{
	uint64_t one = 1;

	q->result = result;
	atomic_store_explicit(&q->done, true, memory_order_release);
	/* An eventfd write of 1 cannot fail short of 2^64 - 2 writes. */
	if (write(q->efd, &one, sizeof(one)) < 0) {
	}
}

static void *query_thread(void *arg)
{
	struct resolve_query *q = arg;

	prctl(PR_SET_NAME, "resolve");   /* what ps, wakeups(1) and the tests see */
	/* The alternate signal stack crash_init() gives every loop thread
	 * (the hook is NULL without it), so that a stack overflow here is
	 * reported too. A leaf has no log to warn in if it fails: the lookup
	 * goes on, as it did before. */
	if (lull_thread_start_hook)
		(void)lull_thread_start_hook();
	if (lull_resolve_test_hook)
		lull_resolve_test_hook(q->host);
	query_finish(q, lookup(q->host, q->port, &q->res, 0));
	query_unref(q);
	if (lull_thread_exit_hook)
		lull_thread_exit_hook();
	return NULL;
}

struct resolve_query *resolve_query_start(const char *host, uint16_t port)
{
	struct resolve_query *q;
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int e;

	if (strlen(host) >= sizeof(q->host)) {
		errno = EINVAL;
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		e = errno;
		free(q);
		errno = e;
		return NULL;
	}
	strcpy(q->host, host);
	q->port = port;
	atomic_init(&q->refs, 1);
	/* A numeric address: converted here, no thread, no wait. */
	e = lookup(host, port, &q->res, AI_NUMERICHOST);
	if (e != -ENOENT) {
		query_finish(q, e);
		return q;
	}
	/* The helper takes no process-directed signal (the loops' stop
	 * signal included: nothing interrupts or waits for it), only the
	 * synchronous crash signals, so a fault in it is still reported. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGABRT);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_store(&q->refs, 2);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&t, &attr, query_thread, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (e) {
		close(q->efd);
		free(q);
		errno = e;
		return NULL;
	}
	return q;
}

int resolve_query_fd(const struct resolve_query *q)
{
	return q->efd;
}

int resolve_query_result(const struct resolve_query *q, struct resolve_result *r)
{
	if (!atomic_load_explicit(&q->done, memory_order_acquire))
		return -EINPROGRESS;
	if (q->result == 0)
		*r = q->res;
	return q->result;
}

void resolve_query_free(struct resolve_query *q)
{
	if (q)
		query_unref(q);
}

const char *resolve_addr_str(const struct sockaddr *sa, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, cap, "%s:%u", a, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, cap, "[%s]:%u", a, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, cap, "(family %d)", sa->sa_family);
	}
	return buf;
}
