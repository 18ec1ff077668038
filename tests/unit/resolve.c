/* Unit tests for lull/resolve.h: splitting "host:port", numeric addresses
 * (no lookup, so no /etc/hosts or DNS involved: names are the system
 * test's job, tests/sys/resolve.t), and formatting addresses back. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lull/resolve.h"
#include "tap.h"

struct split_case {
	const char *in;
	int r; /* 0, -EINVAL or -ENAMETOOLONG */
	const char *host;
	uint16_t port;
};

static const struct split_case split_cases[] = {
	{ "127.0.0.1:7777", 0, "127.0.0.1", 7777 },
	{ "localhost:1", 0, "localhost", 1 },
	{ "a:65535", 0, "a", 65535 },
	{ "[::1]:80", 0, "::1", 80 },
	{ "[fe80::1%eth0]:80", 0, "fe80::1%eth0", 80 },
	{ "::1:80", 0, "::1", 80 }, /* the last colon splits */
	{ "host:0", -EINVAL, NULL, 0 },
	{ "host:65536", -EINVAL, NULL, 0 },
	{ "host:99999999999999999999", -EINVAL, NULL, 0 },
	{ "host:-1", -EINVAL, NULL, 0 },
	{ "host:12x", -EINVAL, NULL, 0 },
	{ "host:", -EINVAL, NULL, 0 },
	{ "host", -EINVAL, NULL, 0 },
	{ ":80", -EINVAL, NULL, 0 },
	{ "[]:80", -EINVAL, NULL, 0 },
	{ "[::1]80", -EINVAL, NULL, 0 },
	{ "[::1:80", -EINVAL, NULL, 0 },
	{ "", -EINVAL, NULL, 0 },
};

static void test_split(void)
{
	for (size_t i = 0; i < TAP_COUNT(split_cases); i++) {
		const struct split_case *c = &split_cases[i];
		char host[64] = "untouched";
		uint16_t port = 4242;
		int r = resolve_split(c->in, host, sizeof(host), &port);

		if (c->r == 0)
			ok(r == 0 && !strcmp(host, c->host) && port == c->port, "split '%s': '%s' port %u", c->in,
			   c->host, c->port);
		else
			ok(r == c->r && port == 4242, "split '%s': %d, port untouched", c->in, c->r);
	}
	is_int(resolve_split(NULL, NULL, 0, NULL), -EINVAL, "split NULL: -EINVAL");
}

static void test_split_host_limit(void)
{
	char in[300], host[16];
	uint16_t port = 0;

	/* 15 bytes fit a 16-byte buffer, 16 do not */
	snprintf(in, sizeof(in), "%s:1", "abcdefghijklmno");
	ok(resolve_split(in, host, sizeof(host), &port) == 0 && strlen(host) == 15, "a 15-byte host fits 16 bytes");
	snprintf(in, sizeof(in), "%s:1", "abcdefghijklmnop");
	is_int(resolve_split(in, host, sizeof(host), &port), -ENAMETOOLONG, "a 16-byte host: -ENAMETOOLONG");
	snprintf(in, sizeof(in), "[%s]:1", "abcdefghijklmnop");
	is_int(resolve_split(in, host, sizeof(host), &port), -ENAMETOOLONG, "a 16-byte [host]: -ENAMETOOLONG");
}

static void test_numeric(void)
{
	struct resolve_result r;
	char buf[80];

	ok(resolve_host("127.0.0.1", 7, &r) == 0 && r.n == 1, "numeric IPv4: one address");
	is_str(resolve_addr_str((struct sockaddr *)&r.addr[0], buf, sizeof(buf)), "127.0.0.1:7",
	       "  formatted back as 127.0.0.1:7");
	is_int(r.len[0], sizeof(struct sockaddr_in), "  with the length of a sockaddr_in");
	ok(resolve_host("::1", 65535, &r) == 0 && r.n == 1, "numeric IPv6: one address");
	is_str(resolve_addr_str((struct sockaddr *)&r.addr[0], buf, sizeof(buf)), "[::1]:65535",
	       "  formatted back as [::1]:65535");
	is_int(r.len[0], sizeof(struct sockaddr_in6), "  with the length of a sockaddr_in6");
}

static void test_addr_str(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(1) };
	struct sockaddr sa = { .sa_family = AF_UNIX };
	char buf[80], tiny[6];

	inet_pton(AF_INET, "10.1.2.3", &in.sin_addr);
	is_str(resolve_addr_str((struct sockaddr *)&in, buf, sizeof(buf)), "10.1.2.3:1", "IPv4 address and port");
	is_str(resolve_addr_str((struct sockaddr *)&in, tiny, sizeof(tiny)), "10.1.", "cut to the buffer, terminated");
	is_str(resolve_addr_str(&sa, buf, sizeof(buf)), "(family 1)", "another family is named, not guessed");
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_split),
		TAP_TEST(test_split_host_limit),
		TAP_TEST(test_numeric),
		TAP_TEST(test_addr_str),
	};

	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
