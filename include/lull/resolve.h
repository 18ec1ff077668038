/* lull/resolve.h: host names to addresses in static binaries.
 *
 * Static musl has no NSS: its resolver reads /etc/hosts, then asks the
 * name servers of /etc/resolv.conf over UDP/TCP itself, for IPv4 and
 * IPv6. lull wraps it so callers get every address (to try in turn), a
 * temporary-or-permanent verdict, and numeric addresses without any
 * lookup. resolve_host() blocks for as long as the name servers take
 * (musl: `timeout` x `attempts` of resolv.conf): call it from a command-line
 * tool, never from a loop. A loop uses resolve_query_start(), which hands
 * the lookup to a detached helper thread and the answer back through an
 * fd the loop watches (the xmon loop does).
 */
#ifndef LULL_RESOLVE_H
#define LULL_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RESOLVE_MAX 16

struct resolve_result {
	int n;
	struct sockaddr_storage addr[RESOLVE_MAX];
	socklen_t len[RESOLVE_MAX];
};

/* Split "host:port" (at the last colon) or "[v6]:port" into host (hcap
 * bytes with the NUL) and port. Returns 0, -ENAMETOOLONG when the host
 * does not fit in hcap, or -EINVAL for a malformed string or a port
 * outside 1..65535. */
int resolve_split(const char *hostport, char *host, size_t hcap, uint16_t *port);

/* Every address of host (numeric or a name), IPv4 and IPv6, in the
 * resolver's order. Returns 0, -EAGAIN for a temporary failure (retry
 * later), -ENOENT for a name that does not exist, -errno otherwise. */
int resolve_host(const char *host, uint16_t port, struct resolve_result *r);

/* A lookup that never blocks its caller. Why a helper thread and not a
 * stub resolver over UDP driven by the caller's reactor: static musl has
 * no NSS, so getaddrinfo() already reads /etc/hosts and resolv.conf
 * itself, with search domains, ndots, every name server in parallel, TCP
 * on truncation and IPv6; a stub would repeat all of it, plus a DNS
 * parser that reads untrusted bytes (fuzzing, compression loops), to save
 * one short-lived thread per lookup of a name. Numeric addresses need no
 * thread at all.
 *
 * The query is shared by the caller and the helper (a reference count):
 * the caller may free it at any time, and a helper still blocked in the
 * resolver then frees it when it returns. Nothing ever waits for a helper,
 * so termination does not either. */
struct resolve_query;

/* Start resolving host (numeric or a name) and port. A numeric address is
 * converted at once and the query is done on return; a name is resolved
 * by resolve_host() in a detached thread that blocks every signal but the
 * synchronous crash signals. Returns the query, or NULL with errno set
 * (EINVAL: host too long; ENOMEM, EAGAIN, EMFILE: no thread or no fd). */
struct resolve_query *resolve_query_start(const char *host, uint16_t port);

/* An fd (close-on-exec eventfd, owned by the query) that becomes readable
 * when the answer is in, and stays readable. Watch it for EPOLLIN/POLLIN
 * and stop watching before resolve_query_free(). */
int resolve_query_fd(const struct resolve_query *q);

/* The answer: -EINPROGRESS while the lookup runs, otherwise what
 * resolve_host() returned, with the addresses copied into r on success. */
int resolve_query_result(const struct resolve_query *q, struct resolve_result *r);

/* Drop the caller's hold (NULL is a no-op). Never waits. */
void resolve_query_free(struct resolve_query *q);

/* "1.2.3.4:5" or "[::1]:5" into buf; returns buf. */
const char *resolve_addr_str(const struct sockaddr *sa, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
