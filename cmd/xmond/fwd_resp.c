/* fwd_resp.c: the HTTP/1.1 response parser of xmond's Alertmanager client
 * (forward.h). No I/O, no allocation, no global state: a streaming state
 * machine fed whatever bytes arrive, so that unit tests and the fuzzer
 * (fuzz/fwd_resp.c) drive it byte by byte.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "forward.h"

/* ---- HTTP/1.1 response parser ---------------------------------------------------- */

void fwd_resp_init(struct fwd_resp *p)
{
	memset(p, 0, offsetof(struct fwd_resp, line));
	p->body_len = 0;
	p->body[0] = '\0';
	p->state = FR_STATUS;
}

static void perr(struct fwd_resp *p, const char *why)
{
	p->state = FR_ERROR;
	p->error = why;
}

static void keep_body(struct fwd_resp *p, const char *b, size_t n)
{
	size_t k = FWD_BODY_KEEP - p->body_len;

	if (k > n)
		k = n;
	memcpy(p->body + p->body_len, b, k);
	p->body_len += k;
	p->body[p->body_len] = '\0';
}

static bool token_has(const char *v, const char *tok)
{
	size_t tl = strlen(tok);

	for (const char *s = v; *s;) {
		s += strspn(s, " \t,");
		size_t l = strcspn(s, " \t,;");

		if (l == tl && !strncasecmp(s, tok, tl))
			return true;
		s += l;
		s += strcspn(s, ",");
	}
	return false;
}

static void status_line(struct fwd_resp *p)
{
	const char *l = p->line;

	/* HTTP/1.x SP 3DIGIT [SP reason] */
	if (p->line_len < 12 || strncmp(l, "HTTP/1.", 7) || (l[7] != '0' && l[7] != '1') || l[8] != ' ' || l[9] < '1' ||
	    l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (p->line_len > 12 && l[12] != ' ')) {
		perr(p, "bad status line");
		return;
	}
	p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	p->close = l[7] == '0'; /* HTTP/1.0: closes unless it says keep-alive; we do not ask */
	p->state = FR_HEADER;
}

static void header_line(struct fwd_resp *p)
{
	char *l = p->line, *colon, *v, *e;

	if (p->line_len == 0) {
		if (p->status < 200) { /* 1xx: another status line follows */
			p->state = FR_STATUS;
			return;
		}
		if (p->head || p->status == 204 || p->status == 304) {
			p->state = FR_DONE;
		} else if (p->chunked) {
			p->state = FR_CHUNK_SIZE;
		} else if (p->have_len) {
			p->state = p->remaining ? FR_BODY_LEN : FR_DONE;
		} else {
			p->close = true;
			p->state = FR_BODY_CLOSE;
		}
		return;
	}
	if (*l == ' ' || *l == '\t') {
		perr(p, "folded header");
		return;
	}
	colon = memchr(l, ':', p->line_len);
	if (!colon || colon == l) {
		perr(p, "bad header line");
		return;
	}
	*colon = '\0';
	v = colon + 1;
	v += strspn(v, " \t");
	for (e = l + p->line_len; e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*e = '\0';
	if (!strcasecmp(l, "Content-Length")) {
		uint64_t n = 0;

		if (!*v) {
			perr(p, "bad Content-Length");
			return;
		}
		for (const char *s = v; *s; s++) {
			if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10) {
				perr(p, "bad Content-Length");
				return;
			}
			n = n * 10 + (uint64_t)(*s - '0');
		}
		if (p->have_len && n != p->remaining) {
			perr(p, "conflicting Content-Length");
			return;
		}
		p->have_len = true;
		p->remaining = n;
	} else if (!strcasecmp(l, "Transfer-Encoding")) {
		if (token_has(v, "chunked"))
			p->chunked = true;
		else {
			perr(p, "unsupported Transfer-Encoding");
			return;
		}
	} else if (!strcasecmp(l, "Connection")) {
		if (token_has(v, "close"))
			p->close = true;
		else if (token_has(v, "keep-alive"))
			p->close = false;
	}
}

static void chunk_size_line(struct fwd_resp *p)
{
	uint64_t n = 0;
	size_t i = 0;

	for (; i < p->line_len; i++) {
		char c = p->line[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;

		if (d < 0)
			break;
		if (n >> 60) {
			perr(p, "chunk size overflows");
			return;
		}
		n = n * 16 + (uint64_t)d;
	}
	if (i == 0 || (i < p->line_len && p->line[i] != ';' && p->line[i] != ' ' && p->line[i] != '\t')) {
		perr(p, "bad chunk size");
		return;
	}
	p->remaining = n;
	p->state = n ? FR_CHUNK_DATA : FR_TRAILER;
}

/* Collect one CRLF (or bare LF) line; returns true when complete. */
static bool take_line(struct fwd_resp *p, const char *buf, size_t n, size_t *i)
{
	while (*i < n) {
		char c = buf[(*i)++];

		if (c == '\n') {
			if (p->line_len && p->line[p->line_len - 1] == '\r')
				p->line_len--;
			p->line[p->line_len] = '\0';
			return true;
		}
		if (p->line_len >= FWD_LINE_MAX - 1) {
			perr(p, "line too long");
			return false;
		}
		p->line[p->line_len++] = c;
	}
	return false;
}

size_t fwd_resp_feed(struct fwd_resp *p, const char *buf, size_t n)
{
	size_t i = 0;

	while (i < n && p->state != FR_DONE && p->state != FR_ERROR) {
		switch (p->state) {
		case FR_STATUS:
		case FR_HEADER:
		case FR_CHUNK_SIZE:
		case FR_CHUNK_CRLF:
		case FR_TRAILER:
			if (!take_line(p, buf, n, &i))
				break;
			if (p->state == FR_STATUS)
				status_line(p);
			else if (p->state == FR_HEADER)
				header_line(p);
			else if (p->state == FR_CHUNK_SIZE)
				chunk_size_line(p);
			else if (p->state == FR_CHUNK_CRLF) {
				if (p->line_len)
					perr(p, "chunk not followed by CRLF");
				else
					p->state = FR_CHUNK_SIZE;
			} else if (p->line_len == 0) {
				p->state = FR_DONE;
			}
			p->line_len = 0;
			break;
		case FR_BODY_LEN:
		case FR_CHUNK_DATA: {
			size_t k = n - i;

			if (k > p->remaining)
				k = (size_t)p->remaining;
			keep_body(p, buf + i, k);
			i += k;
			p->remaining -= k;
			if (!p->remaining)
				p->state = p->state == FR_BODY_LEN ? FR_DONE : FR_CHUNK_CRLF;
			break;
		}
		case FR_BODY_CLOSE:
			keep_body(p, buf + i, n - i);
			i = n;
			break;
		default:
			break;
		}
	}
	return i;
}

int fwd_resp_finish(struct fwd_resp *p)
{
	if (p->state == FR_BODY_CLOSE)
		p->state = FR_DONE;
	return p->state == FR_DONE ? 0 : -1;
}
