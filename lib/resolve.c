/* resolve.c: host names to addresses without NSS. No global state.
 *
 * getaddrinfo() is the resolver: in static musl it reads /etc/hosts and
 * /etc/resolv.conf itself (no NSS modules to load, which is what breaks
 * static glibc); in the glibc sanitizer build it is the usual one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lull/resolve.h"

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

int resolve_host(const char *host, uint16_t port, struct resolve_result *r)
{
	struct addrinfo hints, *res = NULL, *ai;
	char service[8];
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
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
