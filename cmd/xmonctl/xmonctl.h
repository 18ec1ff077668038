/* xmonctl's parts: the protocol verbs live in main.c, the API verbs in
 * api.c over a small HTTP/1.1 client (http.c) and JSON reader (json.c).
 * Everything here is for one short-lived command-line process: failures
 * end it through prog_die() with 100 (usage, permanent, HTTP 4xx) or 111
 * (temporary: unreachable, timeout, HTTP 5xx, a malformed answer). */
#ifndef XMONCTL_H
#define XMONCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest answer read from the API; a longer one is refused (111). */
#define HTTPC_RESP_MAX (64u << 20)
/* Longest status line plus headers. */
#define HTTPC_HEAD_MAX 16384
/* Longest bearer token file line. */
#define TOKEN_MAX 4096

struct httpc_answer {
	int status; /* 200, 404, ... */
	char *body; /* NUL-terminated, owned (free()) */
	size_t len; /* bytes in body, without the NUL */
};

/* Split an API base URL "http://HOST[:PORT][/PREFIX]" (port 80 if absent).
 * Returns 0 or -EINVAL. host gets hcap bytes, prefix pcap (without a
 * trailing slash, "" for none). */
int httpc_parse_url(const char *url, char *host, size_t hcap, uint16_t *port, char *prefix, size_t pcap);

/* One request (Connection: close) with `token` as a bearer token (NULL:
 * none); the whole exchange, name lookup excepted, ends by timeout_ns.
 * Returns the answer or dies (111: cannot connect, timeout, malformed or
 * oversized answer; 100: a name that does not exist). */
void httpc_request(const char *url, const char *method, const char *path, const char *token, int64_t timeout_ns,
		   struct httpc_answer *ans);

/* Parse an HTTP response head and tell how long the body is. Returns the
 * head's length (through the blank line), 0 if more bytes are needed, or
 * -1 with *why set for a malformed head. Exposed for the tests. */
long httpc_parse_head(const char *buf, size_t n, int *status, size_t *body_len, const char **why);

/* A JSON value, read from an API answer. */
enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };
struct jv {
	enum jv_type type;
	bool b;
	char *s;          /* JV_STR: decoded UTF-8 (NUL-terminated); JV_NUM: its text */
	size_t n;         /* JV_ARR, JV_OBJ: number of items */
	char **keys;      /* JV_OBJ: n keys */
	struct jv *items; /* n values */
};

/* Parse text (len bytes) into *v. Returns 0 or -1 (malformed, nested
 * deeper than 64, or out of memory). */
int jv_parse(const char *text, size_t len, struct jv *v);
void jv_free(struct jv *v);
/* The member `key` of an object, or NULL. */
const struct jv *jv_get(const struct jv *obj, const char *key);
/* A member as text for a table: strings as they are, numbers as written,
 * true/false, "-" for null or absent. */
const char *jv_text(const struct jv *obj, const char *key);

struct api_opts {
	const char *url;   /* --api */
	const char *token; /* the token file's first line, or NULL */
	int64_t timeout_ns;
	bool json;
};

int api_alerts(struct api_opts *o, int argc, char **argv);
int api_show(struct api_opts *o, int argc, char **argv);
int api_bin(struct api_opts *o, int argc, char **argv);
int api_instances(struct api_opts *o, int argc, char **argv);

/* The first line of a token file (without its newline), malloc'd, or
 * prog_die(100). */
char *token_read(const char *path);

#endif
