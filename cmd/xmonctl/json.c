/* xmonctl's JSON reader: a recursive-descent parser into a small tree, for
 * the API's answers (RFC 8259; depth bounded; \u escapes decoded to UTF-8,
 * a lone surrogate to U+FFFD). Only what a table needs: no number math.
 */
#include <stdlib.h>
#include <string.h>

#include "xmonctl.h"

#define DEPTH_MAX 64

struct jp {
	const char *p, *end;
};

static void ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at j->p (at its opening quote), decoded into a malloc'd buffer. */
static char *str(struct jp *j)
{
	const char *s = ++j->p;
	char *out, *o;

	while (j->p < j->end && *j->p != '"') {
		if ((unsigned char)*j->p < 0x20)
			return NULL;
		j->p += *j->p == '\\' ? 2 : 1;
	}
	if (j->p >= j->end)
		return NULL;
	/* decoding never grows the text: \uXXXX (6 bytes) is at most 3, a pair 4 */
	if (!(o = out = malloc((size_t)(j->p - s) + 1)))
		return NULL;
	for (const char *p = s; p < j->p; p++) {
		unsigned cp, lo;

		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		switch (*++p) {
		case '"':
		case '\\':
		case '/':
			*o++ = *p;
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			if (j->p - p < 5 || hex4(p + 1, &cp) < 0)
				goto bad;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && j->p - p >= 7 && p[1] == '\\' && p[2] == 'u' &&
			    hex4(p + 3, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;
			}
			o += utf8_put(o, cp);
			break;
		default:
			goto bad;
		}
	}
	*o = '\0';
	j->p++;
	return out;
bad:
	free(out);
	return NULL;
}

static int value(struct jp *j, struct jv *v, int depth);

static int push(struct jv *v, char *key, struct jv *item)
{
	if ((v->n & (v->n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to double */
		size_t cap = v->n ? v->n * 2 : 1;
		struct jv *ni = realloc(v->items, cap * sizeof(*ni));

		if (!ni)
			return -1;
		v->items = ni;
		if (v->type == JV_OBJ) {
			char **nk = realloc(v->keys, cap * sizeof(*nk));

			if (!nk)
				return -1;
			v->keys = nk;
		}
	}
	if (v->type == JV_OBJ)
		v->keys[v->n] = key;
	v->items[v->n++] = *item;
	return 0;
}

static int container(struct jp *j, struct jv *v, int depth)
{
	char close = *j->p == '{' ? '}' : ']';

	v->type = close == '}' ? JV_OBJ : JV_ARR;
	j->p++;
	ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		struct jv item = { 0 };
		char *key = NULL;

		ws(j);
		if (v->type == JV_OBJ) {
			if (j->p >= j->end || *j->p != '"' || !(key = str(j)))
				return -1;
			ws(j);
			if (j->p >= j->end || *j->p++ != ':') {
				free(key);
				return -1;
			}
		}
		if (value(j, &item, depth + 1) < 0 || push(v, key, &item) < 0) {
			free(key);
			jv_free(&item);
			return -1;
		}
		ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		return -1;
	}
}

static int lit(struct jp *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
		return -1;
	j->p += n;
	return 0;
}

static int value(struct jp *j, struct jv *v, int depth)
{
	const char *s;

	memset(v, 0, sizeof(*v));
	if (depth > DEPTH_MAX)
		return -1;
	ws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '{':
	case '[':
		return container(j, v, depth);
	case '"':
		v->type = JV_STR;
		return (v->s = str(j)) ? 0 : -1;
	case 't':
		v->type = JV_BOOL;
		v->b = true;
		return lit(j, "true");
	case 'f':
		v->type = JV_BOOL;
		return lit(j, "false");
	case 'n':
		return lit(j, "null");
	default:
		s = j->p;
		if (j->p < j->end && *j->p == '-')
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return -1;
		while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || (*j->p && strchr(".eE+-", *j->p))))
			j->p++;
		v->type = JV_NUM;
		if (!(v->s = malloc((size_t)(j->p - s) + 1)))
			return -1;
		memcpy(v->s, s, (size_t)(j->p - s));
		v->s[j->p - s] = '\0';
		return 0;
	}
}

int jv_parse(const char *text, size_t len, struct jv *v)
{
	struct jp j = { text, text + len };

	if (value(&j, v, 0) < 0) {
		jv_free(v);
		return -1;
	}
	ws(&j);
	if (j.p != j.end) {
		jv_free(v);
		return -1;
	}
	return 0;
}

void jv_free(struct jv *v)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->keys)
			free(v->keys[i]);
		jv_free(&v->items[i]);
	}
	free(v->keys);
	free(v->items);
	free(v->s);
	memset(v, 0, sizeof(*v));
}

const struct jv *jv_get(const struct jv *obj, const char *key)
{
	if (!obj || obj->type != JV_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return &obj->items[i];
	return NULL;
}

const char *jv_text(const struct jv *obj, const char *key)
{
	const struct jv *v = jv_get(obj, key);

	if (!v)
		return "-";
	switch (v->type) {
	case JV_STR:
	case JV_NUM:
		return v->s;
	case JV_BOOL:
		return v->b ? "true" : "false";
	default:
		return "-";
	}
}
