/* fuzz/json.c: libFuzzer harness for the string escaping of xmond's JSON
 * writer (cmd/xmond/json.c), which turns bytes any daemon sends into text
 * a browser parses and a page embeds.
 *
 * For each input (the bytes of one string):
 *  - the escaped text fits json_escaped_max(), is quoted, is valid UTF-8
 *    and holds none of the characters that must never appear raw (bytes
 *    below 0x20, '<', '>', '&', U+2028, U+2029, an unescaped '"' or '\');
 *  - read back by a JSON string decoder written here, it gives the input
 *    decoded as UTF-8 with each maximal ill-formed subpart replaced by
 *    U+FFFD (decoded here apart from json.c, code point by code point);
 *    for valid UTF-8 input, exactly the input;
 *  - through the writer (json_strn in an array, twice) the same text
 *    appears, and the document ends balanced;
 *  - the same bytes at every alignment give the same text (the fast path
 *    reads eight at a time), and so does json_key.
 * Any mismatch aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/xmond/json.c"
#include "feed.h"

static size_t put_cp(uint8_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (uint8_t)(0xf0 | cp >> 18);
	o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* The input as UTF-8 with U+FFFD for each maximal ill-formed subpart;
 * sets *valid if there was none. */
static size_t replace_decode(const uint8_t *s, size_t n, uint8_t *out, int *valid)
{
	size_t o = 0, i = 0;

	*valid = 1;
	while (i < n) {
		uint8_t c = s[i++], lo = 0x80, hi = 0xbf;
		uint32_t cp;
		size_t need = 0, k;

		if (c < 0x80) {
			out[o++] = c;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2, cp = c & 0xf;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3, cp = c & 7;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else {
			*valid = 0;
			o += put_cp(out + o, 0xfffd);
			continue;
		}
		for (k = 0; k < need; k++, i++) {
			if (i >= n || s[i] < lo || s[i] > hi)
				break;
			cp = cp << 6 | (s[i] & 0x3f);
			lo = 0x80;
			hi = 0xbf;
		}
		if (k < need) {
			*valid = 0;
			cp = 0xfffd;
		}
		o += put_cp(out + o, cp);
	}
	return o;
}

static int hex4(const char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else
			return 0;
	}
	return 1;
}

/* Check and decode the escaped text t (with its quotes) into out. */
static size_t read_back(const char *t, size_t n, uint8_t *out)
{
	size_t o = 0;
	int valid;

	CHECK(n >= 2 && t[0] == '"' && t[n - 1] == '"');
	/* valid UTF-8 as a whole */
	CHECK(replace_decode((const uint8_t *)t, n, out, &valid) == n && valid);
	for (size_t i = 1; i + 1 < n; i++) {
		uint8_t c = (uint8_t)t[i];

		CHECK(c >= 0x20 && c != '<' && c != '>' && c != '&' && c != '"');
		if (c == 0xe2 && i + 2 < n && (uint8_t)t[i + 1] == 0x80)
			CHECK((uint8_t)t[i + 2] != 0xa8 && (uint8_t)t[i + 2] != 0xa9);
		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		CHECK(i + 2 < n);
		switch (t[++i]) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			uint32_t v;

			CHECK(i + 5 < n && hex4(t + i + 1, &v));
			CHECK(v < 0x20 || v == '<' || v == '>' || v == '&' || v == 0x2028 || v == 0x2029 ||
			      v == 0xfffd);   /* nothing escaped without need */
			o += put_cp(out + o, v);
			i += 4;
			break;
		}
		default:
			CHECK(!"bad escape");
		}
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t = malloc(json_escaped_max(size));
	uint8_t *back = malloc(json_escaped_max(size) * 4 / 3 + 8), *want = malloc(size * 3 + 8);
	size_t n = json_escape(t, data, size), nb, nw;
	int valid;
	struct json_writer w;

	CHECK(t && back && want);
	CHECK(n <= json_escaped_max(size));
	nb = read_back(t, n, back);
	nw = replace_decode(data, size, want, &valid);
	CHECK(nb == nw && memcmp(back, want, nb) == 0);
	if (valid)
		CHECK(nb == size && memcmp(back, data, size) == 0);

	/* the writer gives the same text */
	json_init(&w, (size_t)1 << 30);
	json_arr_begin(&w);
	json_strn(&w, data, size);
	json_strn(&w, data, size);
	json_arr_end(&w);
	{
		size_t len;
		char *doc = json_take(&w, &len);

		CHECK(doc && len == 2 * n + 3 && doc[0] == '[' && doc[n + 1] == ',' && doc[len - 1] == ']');
		CHECK(memcmp(doc + 1, t, n) == 0 && memcmp(doc + n + 2, t, n) == 0 && doc[len] == 0);
		free(doc);
	}
	/* the fast path reads eight bytes at a time: the same text from every
	 * alignment of the input, and as an object's key (a C string) */
	{
		uint8_t *shifted = malloc(size + 8);
		char *t2 = malloc(json_escaped_max(size));

		CHECK(shifted && t2);
		for (size_t off = 1; off < 8; off++) {
			memcpy(shifted + off, data, size);
			CHECK(json_escape(t2, shifted + off, size) == n && memcmp(t2, t, n) == 0);
		}
		if (!memchr(data, 0, size)) {
			size_t len;
			char *doc;

			memcpy(shifted, data, size);
			shifted[size] = 0;
			json_obj_begin(&w);
			json_key(&w, (const char *)shifted);
			json_bool(&w, true);
			json_obj_end(&w);
			doc = json_take(&w, &len);
			CHECK(doc && len == n + 7 && doc[0] == '{' && memcmp(doc + 1, t, n) == 0 &&
			      memcmp(doc + 1 + n, ":true}", 6) == 0);
			free(doc);
		}
		free(shifted);
		free(t2);
	}
	free(t);
	free(back);
	free(want);
	return 0;
}
