/* xmonctl's HTTP/1.1 client: one request per connection, an answer with a
 * Content-Length (what xmond sends), read to a bound and a deadline. It is
 * strict on purpose: a status line that is not "HTTP/1.x NNN", a header
 * line without a colon, a chunked body, two different Content-Lengths or
 * an answer over HTTPC_RESP_MAX are refused, not guessed at.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lull/prog.h"
#include "lull/resolve.h"
#include "lull/time.h"
#include "xmonctl.h"

int httpc_parse_url(const char *url, char *host, size_t hcap, uint16_t *port, char *prefix, size_t pcap)
{
	char hp[300];
	const char *p, *slash;
	size_t n;

	if (strncmp(url, "http://", 7))
		return -EINVAL;
	p = url + 7;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (n == 0 || n + 4 > sizeof(hp))
		return -EINVAL;
	memcpy(hp, p, n);
	hp[n] = '\0';
	/* no port: 80 (a bracketed v6 address ends in ']', a name has no colon) */
	if (hp[n - 1] == ']' || !strchr(hp, ':'))
		memcpy(hp + n, ":80", 4);
	if (resolve_split(hp, host, hcap, port) < 0)
		return -EINVAL;
	if (host[0] == '\0' || strpbrk(hp, "@?#"))
		return -EINVAL;
	p = slash ? slash : "";
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (n >= pcap || memchr(p, '?', n) || memchr(p, '#', n) || strpbrk(p, " \r\n"))
		return -EINVAL;
	memcpy(prefix, p, n);
	prefix[n] = '\0';
	return 0;
}

static int ms_left(int64_t deadline)
{
	int64_t left = (deadline - time_mono_ns()) / LULL_NSEC_PER_MSEC;

	return left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

/* Wait for `events` on fd; 0 ready, -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int ms = ms_left(deadline);
		int r;

		if (ms == 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* A connected non-blocking socket to one of the host's addresses, or die. */
static int connect_any(const char *url, const char *host, uint16_t port, int64_t deadline)
{
	struct resolve_result res;
	char why[512] = "", addr[80];
	size_t wl = 0;
	int r = resolve_host(host, port, &res);

	if (r < 0)
		prog_die(r == -ENOENT ? PROG_EXIT_USAGE : PROG_EXIT_TEMP, "cannot resolve %s: %s", host,
			 r == -ENOENT ? "no such host" : strerror(-r));
	for (int i = 0; i < res.n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&res.addr[i];
		int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int err = errno, w;

		if (fd >= 0) {
			err = 0;
			if (connect(fd, sa, res.len[i]) < 0) {
				err = errno;
				if (err == EINPROGRESS) {
					socklen_t sl = sizeof(err);

					err = -wait_fd(fd, POLLOUT, deadline);
					if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
						err = errno;
				}
			}
			if (!err)
				return fd;
			close(fd);
		}
		w = snprintf(why + wl, sizeof(why) - wl, "%s%s: %s", wl ? ", " : "",
			     resolve_addr_str(sa, addr, sizeof(addr)), strerror(err));
		if (w > 0 && (size_t)w < sizeof(why) - wl)
			wl += (size_t)w;
	}
	prog_die(PROG_EXIT_TEMP, "cannot connect to %s (%s)", url, why);
}

static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

long httpc_parse_head(const char *buf, size_t n, int *status, size_t *body_len, const char **why)
{
	const char *end = NULL, *p, *eol;
	bool have_len = false;
	size_t len = 0;

	for (size_t i = 0; i + 3 < n; i++)
		if (buf[i] == '\r' && !memcmp(buf + i, "\r\n\r\n", 4)) {
			end = buf + i + 2; /* the last header line's CRLF is its own */
			break;
		}
	if (!end) {
		*why = "the answer's head is too long";
		return n >= HTTPC_HEAD_MAX ? -1 : 0;
	}
	if (end - buf + 2 > HTTPC_HEAD_MAX) {
		*why = "the answer's head is too long";
		return -1;
	}
	/* HTTP/1.x NNN[ reason] */
	if (end - buf < 14 || memcmp(buf, "HTTP/1.", 7) || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
	    buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9' ||
	    (buf[12] != ' ' && buf[12] != '\r')) {
		*why = "not an HTTP/1.x status line";
		return -1;
	}
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	p = memchr(buf, '\n', (size_t)(end - buf));
	if (!p || p[-1] != '\r') {
		*why = "a bare LF in the status line";
		return -1;
	}
	for (p = p + 1; p < end; p = eol + 1) {
		const char *colon, *v, *ve;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol || eol == p || eol[-1] != '\r') {
			*why = "a header line not ending in CRLF";
			return -1;
		}
		for (colon = p; colon < eol - 1 && is_token_char(*colon); colon++)
			;
		if (colon == p || *colon != ':') {
			*why = "a malformed header line";
			return -1;
		}
		for (v = colon + 1; v < eol - 1 && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol - 1; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		if ((size_t)(colon - p) == 17 && !strncasecmp(p, "Transfer-Encoding", 17)) {
			*why = "a Transfer-Encoding (only Content-Length answers are read)";
			return -1;
		}
		if ((size_t)(colon - p) == 14 && !strncasecmp(p, "Content-Length", 14)) {
			size_t l = 0;

			if (v == ve || ve - v > 12) {
				*why = "a bad Content-Length";
				return -1;
			}
			for (const char *d = v; d < ve; d++) {
				if (*d < '0' || *d > '9') {
					*why = "a bad Content-Length";
					return -1;
				}
				l = l * 10 + (size_t)(*d - '0');
			}
			if (have_len && l != len) {
				*why = "two different Content-Lengths";
				return -1;
			}
			have_len = true;
			len = l;
		}
	}
	if (!have_len) {
		if (*status == 204 || *status == 304 || *status / 100 == 1) {
			len = 0;
		} else {
			*why = "no Content-Length";
			return -1;
		}
	}
	if (len > HTTPC_RESP_MAX) {
		*why = "the answer is larger than the limit";
		return -1;
	}
	*body_len = len;
	return (long)(end - buf + 2);
}

void httpc_request(const char *url, const char *method, const char *path, const char *token, int64_t timeout_ns,
		   struct httpc_answer *ans)
{
	char host[256], prefix[1024], *req = NULL, *buf = NULL;
	uint16_t port;
	int64_t deadline;
	size_t cap = 65536, have = 0, body_len = 0;
	long head = 0;
	int fd, n, status = 0;
	const char *why = "";

	if (httpc_parse_url(url, host, sizeof(host), &port, prefix, sizeof(prefix)) < 0)
		prog_usage("bad --api '%s' (want http://HOST[:PORT][/PREFIX])", url);
	deadline = time_deadline_in(timeout_ns);
	fd = connect_any(url, host, port, deadline);
	n = asprintf(&req,
		     "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: xmonctl\r\nAccept: application/json\r\n"
		     "%s%s%sContent-Length: 0\r\nConnection: close\r\n\r\n",
		     method, prefix, path, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
		     (unsigned)port, token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
	if (n < 0)
		prog_die(PROG_EXIT_TEMP, "out of memory");
	for (size_t off = 0; off < (size_t)n;) {
		ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w > 0) {
			off += (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				prog_die(PROG_EXIT_TEMP, "%s: timed out sending the request", url);
		} else {
			prog_die(PROG_EXIT_TEMP, "%s: %s", url, strerror(errno));
		}
	}
	free(req);
	if (!(buf = malloc(cap + 1)))
		prog_die(PROG_EXIT_TEMP, "out of memory");
	for (;;) {
		ssize_t r;

		if (head > 0 && have >= (size_t)head + body_len)
			break;
		if (have == cap) {
			size_t want = head > 0 ? (size_t)head + body_len : cap * 2;
			char *nb = realloc(buf, want + 1);

			if (!nb)
				prog_die(PROG_EXIT_TEMP, "out of memory");
			buf = nb;
			cap = want;
		}
		r = recv(fd, buf + have, cap - have, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLIN, deadline) < 0)
				prog_die(PROG_EXIT_TEMP, "%s: no complete answer in time", url);
			continue;
		}
		if (r < 0)
			prog_die(PROG_EXIT_TEMP, "%s: %s", url, strerror(errno));
		if (r == 0)
			prog_die(PROG_EXIT_TEMP, "%s: the connection closed before the answer was complete", url);
		have += (size_t)r;
		if (head == 0) {
			head = httpc_parse_head(buf, have, &status, &body_len, &why);
			if (head < 0)
				prog_die(PROG_EXIT_TEMP, "%s: malformed answer: %s", url, why);
			if (head > 0 && status / 100 == 1)
				prog_die(PROG_EXIT_TEMP, "%s: unexpected interim answer %d", url, status);
		}
	}
	close(fd);
	memmove(buf, buf + head, body_len);
	buf[body_len] = '\0';
	ans->status = status;
	ans->body = buf;
	ans->len = body_len;
}
