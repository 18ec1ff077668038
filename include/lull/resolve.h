/* lull/resolve.h: host names to addresses in static binaries.
 *
 * Static musl has no NSS: its resolver reads /etc/hosts, then asks the
 * name servers of /etc/resolv.conf over UDP/TCP itself, for IPv4 and
 * IPv6. lull wraps it so callers get every address (to try in turn), a
 * temporary-or-permanent verdict, and numeric addresses without any
 * lookup. Resolution blocks: call it from a loop that owns the wait (the
 * xmon loop does), never from an application thread.
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

/* "1.2.3.4:5" or "[::1]:5" into buf; returns buf. */
const char *resolve_addr_str(const struct sockaddr *sa, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
