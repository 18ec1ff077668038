/* Unit tests for cmd/xmond/json.h: exact escapes of every special byte and
 * of each kind of ill-formed UTF-8; random byte strings checked against a
 * reference decoder written apart from json.c (code points first, then the
 * rules) and, when python3 is there, against Python's json module and its
 * "replace" decoder (the same maximal-subpart rule); the writer's commas,
 * nesting, misuse and caps; RFC 3339 times against gmtime_r. The fast path
 * (eight plain bytes at a time, digit pairs, the cached second) against the
 * reference on mostly-ASCII strings, every byte at every word offset, and
 * against snprintf and json_format_time.
 *
 * Random inputs come from a fixed seed (printed; LULL_SEED overrides it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../cmd/xmond/json.h"
#include "tap.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static char *esc(const void *s, size_t n)
{
	static char out[4096];
	size_t k = json_escape(out, s, n);

	out[k] = 0;
	return out;
}

#define ESC(lit, want) is_str(esc(lit, sizeof(lit) - 1), want, "escape " #lit)

static void exact_escapes(void)
{
	ESC("", "\"\"");
	ESC("plain text 123", "\"plain text 123\"");
	ESC("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	ESC("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	ESC("\x00\x01\x1f\x7f", "\"\\u0000\\u0001\\u001f\x7f\"");
	ESC("<script>&amp;</script>", "\"\\u003cscript\\u003e\\u0026amp;\\u003c/script\\u003e\"");
	ESC("\xe2\x80\xa8|\xe2\x80\xa9", "\"\\u2028|\\u2029\"");
	ESC("\xe2\x80\xa7\xe2\x80\xaa", "\"\xe2\x80\xa7\xe2\x80\xaa\"");   /* neighbours pass */
	ESC("caf\xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd", "\"caf\xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd\"");
	ESC("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
	    "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
	/* ill-formed: one U+FFFD per maximal subpart */
	ESC("\x80", "\"\\ufffd\"");
	ESC("\xbf\x80", "\"\\ufffd\\ufffd\"");
	ESC("\xc0\x80", "\"\\ufffd\\ufffd\"");                 /* overlong NUL */
	ESC("\xc1\xbf", "\"\\ufffd\\ufffd\"");
	ESC("\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\"");     /* overlong */
	ESC("\xe0\x9f\xbf", "\"\\ufffd\\ufffd\\ufffd\"");
	ESC("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");     /* surrogate */
	ESC("\xed\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\"");
	ESC("\xf0\x8f\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	ESC("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  /* > U+10FFFF */
	ESC("\xf5\x80", "\"\\ufffd\\ufffd\"");
	ESC("\xff\xfe", "\"\\ufffd\\ufffd\"");
	ESC("\xf0\x9f\x98", "\"\\ufffd\"");                   /* truncated at the end */
	ESC("\xf0\x9f\x98x", "\"\\ufffdx\"");                 /* truncated by ASCII */
	ESC("\xe2\x82<", "\"\\ufffd\\u003c\"");
	ESC("\xe2\x82\xe2\x82\xac", "\"\\ufffd\xe2\x82\xac\"");  /* resync on a lead byte */
	ESC("\xc3", "\"\\ufffd\"");
	ESC("a\xc3\xa9\xa9", "\"a\xc3\xa9\\ufffd\"");
}

/* ---------------------------------------------------------------- reference */

/* Reference: decode a code point per WHATWG's UTF-8 decoder steps, then
 * emit per the rules; written without json.c's tables. */
static size_t ref_escape(char *out, const uint8_t *s, size_t n)
{
	size_t o = 0, i = 0;

	out[o++] = '"';
	while (i < n) {
		uint32_t cp;
		size_t need = 0, k;
		uint8_t lo = 0x80, hi = 0xbf, c = s[i];

		if (c < 0x80) {
			cp = c;
			i++;
		} else {
			if (c >= 0xc2 && c <= 0xdf) {
				need = 1;
				cp = c & 0x1f;
			} else if (c >= 0xe0 && c <= 0xef) {
				need = 2;
				lo = c == 0xe0 ? 0xa0 : 0x80;
				hi = c == 0xed ? 0x9f : 0xbf;
				cp = c & 0xf;
			} else if (c >= 0xf0 && c <= 0xf4) {
				need = 3;
				lo = c == 0xf0 ? 0x90 : 0x80;
				hi = c == 0xf4 ? 0x8f : 0xbf;
				cp = c & 0x7;
			} else {
				cp = 0xfffd;
			}
			i++;
			for (k = 0; k < need; k++) {
				if (i >= n || s[i] < lo || s[i] > hi) {
					cp = 0xfffd;
					break;
				}
				cp = cp << 6 | (s[i] & 0x3f);
				lo = 0x80;
				hi = 0xbf;
				i++;
			}
			if (k < need)
				cp = 0xfffd;
		}
		if (cp == '"' || cp == '\\') {
			out[o++] = '\\';
			out[o++] = (char)cp;
		} else if (cp == '\n' || cp == '\r' || cp == '\t' || cp == '\b' || cp == '\f') {
			out[o++] = '\\';
			out[o++] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : cp == '\t' ? 't' : cp == '\b' ? 'b' : 'f';
		} else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&' || cp == 0x2028 || cp == 0x2029 ||
			   (cp == 0xfffd && !(i >= 3 && s[i - 3] == 0xef && s[i - 2] == 0xbf && s[i - 1] == 0xbd))) {
			o += (size_t)sprintf(out + o, "\\u%04" PRIx32, cp);
		} else if (cp < 0x80) {
			out[o++] = (char)cp;
		} else if (cp < 0x800) {
			out[o++] = (char)(0xc0 | cp >> 6);
			out[o++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			out[o++] = (char)(0xe0 | cp >> 12);
			out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		} else {
			out[o++] = (char)(0xf0 | cp >> 18);
			out[o++] = (char)(0x80 | (cp >> 12 & 0x3f));
			out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	out[o++] = '"';
	return o;
}

/* Random strings, biased towards what matters: specials, valid and broken
 * multi-byte sequences. */
static size_t random_bytes(uint8_t *b, size_t max)
{
	static const char *const pieces[] = {
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xef\xbf\xbd",
		"\xed\xa0\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xf4\x90\x80\x80", "<", ">", "&", "\"", "\\",
		"\n", "\x7f", "\xf0\x9f", "\xe2\x82", "\xc3",
	};
	size_t n = rnd() % max, i = 0;

	while (i < n) {
		uint64_t k = rnd() % 4;

		if (k == 0) {
			b[i++] = (uint8_t)rnd();
		} else if (k == 1) {
			b[i++] = (uint8_t)(0x20 + rnd() % 95);
		} else {
			const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
			size_t l = strlen(p);

			if (i + l > n)
				break;
			memcpy(b + i, p, l);
			i += l;
		}
	}
	return i;
}

static void against_reference(int rounds)
{
	static uint8_t in[512];
	static char got[6 * 512 + 2], want[6 * 512 + 2];
	int bad = 0;

	for (int r = 0; r < rounds; r++) {
		size_t n = random_bytes(in, sizeof(in)), g = json_escape(got, in, n), w = ref_escape(want, in, n);

		if (g != w || memcmp(got, want, g) != 0) {
			if (bad++ < 3) {
				diag("mismatch on %zu bytes:", n);
				for (size_t i = 0; i < n; i++)
					printf("%02x", in[i]);
				printf("\n");
			}
		}
		if (g > json_escaped_max(n))
			bad++;
	}
	ok(bad == 0, "%d random strings escaped as the reference does (%d differ)", rounds, bad);
}

/* The fast path: mostly plain ASCII in long runs (what alert texts are),
 * with a special byte now and then, at every offset of the 8-byte words
 * the writer scans, from unaligned starts; through json_escape, json_strn
 * (after a comma, in an array) and json_key, each against ref_escape. */
static size_t ascii_bytes(uint8_t *b, size_t max)
{
	static const uint8_t specials[] = { '"', '\\', '<', '>', '&', '\n', '\t', 0, 0x1f, 0x20, 0x7f, 0x80,
					    0xc3, 0xa9, 0xe2, 0xff, '=', '$', '\'', '?', '%', ';' };
	size_t n = rnd() % max;
	uint64_t every = 1 + rnd() % 64;

	for (size_t i = 0; i < n; i++)
		b[i] = rnd() % every ? (uint8_t)(0x20 + rnd() % 95) : specials[rnd() % sizeof(specials)];
	return n;
}

static bool same_as_reference(const uint8_t *in, size_t n, char *got, char *want)
{
	size_t g = json_escape(got, in, n), w = ref_escape(want, in, n);

	return g == w && memcmp(got, want, g) == 0;
}

static void fast_path(int rounds)
{
	static uint8_t buf[520];
	static char got[6 * 520 + 2], want[6 * 520 + 2], doc[6 * 520 + 64];
	int bad = 0, wbad = 0, kbad = 0, cells = 0;

	/* every byte value at every position of strings of 1..24 'a's */
	for (size_t len = 1; len <= 24; len++)
		for (size_t pos = 0; pos < len; pos++)
			for (unsigned b = 0; b < 256; b++) {
				memset(buf, 'a', len);
				buf[pos] = (uint8_t)b;
				cells++;
				if (!same_as_reference(buf, len, got, want) && bad++ < 3)
					diag("byte %02x at %zu of %zu differs", b, pos, len);
			}
	ok(bad == 0, "each of 256 bytes at each place of 1..24-byte strings (%d) as the reference", cells);

	bad = 0;
	for (int r = 0; r < rounds; r++) {
		size_t off = rnd() % 8, n = ascii_bytes(buf + off, sizeof(buf) - 8), k, len;
		const uint8_t *in = buf + off;
		struct json_writer w;
		char *text;

		if (!same_as_reference(in, n, got, want) && bad++ < 3) {
			diag("mismatch on %zu bytes at offset %zu:", n, off);
			for (size_t i = 0; i < n; i++)
				printf("%02x", in[i]);
			printf("\n");
		}
		/* the writer: ["x",<string>] and {<string as key>:1} */
		k = ref_escape(want, in, n);
		json_init(&w, 1 << 20);
		json_arr_begin(&w);
		json_str(&w, "x");
		json_strn(&w, in, n);
		json_arr_end(&w);
		text = json_take(&w, &len);
		snprintf(doc, sizeof(doc), "[\"x\",%.*s]", (int)k, want);
		if ((!text || len != strlen(doc) || memcmp(text, doc, len)) && wbad++ < 3)
			diag("writer: %s", text ? text : "NULL");
		free(text);
		if (memchr(in, 0, n))
			continue;   /* a key is a C string */
		memcpy(got, in, n);
		got[n] = 0;
		json_obj_begin(&w);
		json_kint(&w, got, 1);
		json_obj_end(&w);
		text = json_take(&w, &len);
		snprintf(doc, sizeof(doc), "{%.*s:1}", (int)k, want);
		if ((!text || len != strlen(doc) || memcmp(text, doc, len)) && kbad++ < 3)
			diag("key: %s", text ? text : "NULL");
		free(text);
	}
	ok(bad == 0, "%d mostly-ASCII strings at unaligned starts escaped as the reference does (%d differ)", rounds,
	   bad);
	ok(wbad == 0, "... and written as values by json_strn (%d differ)", wbad);
	ok(kbad == 0, "... and as keys by json_key (%d differ)", kbad);
}

/* Numbers and times that the writer formats itself (a digit-pair table, a
 * cached second) against snprintf and json_format_time. */
static void numbers_and_times(int rounds)
{
	int bad = 0, tbad = 0;

	for (int r = 0; r < rounds; r++) {
		struct json_writer w;
		uint64_t u = rnd() >> (rnd() % 64);
		int64_t i = (int64_t)(rnd() >> (rnd() % 64)) * (rnd() % 2 ? -1 : 1);
		char want[128], *text;
		size_t len;

		if (r < 64) {   /* the edges of each digit count */
			u = 1;
			for (int k = 0; k < r % 20; k++)
				u *= 10;
			u -= r & 1;
			i = r == 62 ? INT64_MIN : r == 63 ? INT64_MAX : -(int64_t)u;
		}
		json_init(&w, 4096);
		json_arr_begin(&w);
		json_uint(&w, u);
		json_int(&w, i);
		json_ustr(&w, u);
		json_arr_end(&w);
		text = json_take(&w, &len);
		snprintf(want, sizeof(want), "[%" PRIu64 ",%" PRId64 ",\"%" PRIu64 "\"]", u, i, u);
		if ((!text || strcmp(text, want)) && bad++ < 3)
			diag("got %s, want %s", text ? text : "NULL", want);
		free(text);
	}
	ok(bad == 0, "%d random numbers formatted as snprintf does", rounds);

	/* runs of times in the same second, the next second, far away, and
	 * out of the 0000-9999 range, through one writer (its cache) */
	for (int r = 0; r < rounds / 100; r++) {
		struct json_writer w;
		int64_t t = (int64_t)rnd(), ts[64];
		char want[64 * 30], *o = want, *text;
		size_t len;

		json_init(&w, 1 << 16);
		json_arr_begin(&w);
		*o++ = '[';
		for (int k = 0; k < 64; k++) {
			uint64_t how = rnd() % 5;

			t = how == 0 ? (int64_t)rnd() : how == 1 ? t + (int64_t)(rnd() % 1000000000) :
			    how == 2 ? t - (int64_t)(rnd() % 2000000000) : how == 3 ? (int64_t)(rnd() % 4000000000) - 2000000000 :
			    t + 1;
			ts[k] = t;
			json_time(&w, t);
			if (k)
				*o++ = ',';
			*o++ = '"';
			o += json_format_time(ts[k], o);
			*o++ = '"';
		}
		*o++ = ']';
		*o = 0;
		json_arr_end(&w);
		text = json_take(&w, &len);
		if ((!text || strcmp(text, want)) && tbad++ < 3)
			diag("got %s\nwant %s", text ? text : "NULL", want);
		free(text);
	}
	ok(tbad == 0, "%d runs of 64 times through one writer as json_format_time gives each", rounds / 100);

	{
		struct json_writer w;
		char *text;
		size_t len;

		json_init(&w, 64);
		json_obj_begin(&w);
		json_obj_end(&w);
		text = json_take_line(&w, &len);
		ok(text && len == 3 && !strcmp(text, "{}\n"), "json_take_line ends the text with a newline");
		free(text);
		json_init(&w, 3);
		json_obj_begin(&w);
		json_obj_end(&w);
		ok(!json_take_line(&w, &len) && errno == ENOBUFS, "... which counts against the cap");
	}
}

/* The same strings through python3: json.loads gives back the input as
 * Python decodes it with errors="replace", and the text holds none of the
 * characters that must be escaped. */
static void against_python(int rounds)
{
	char dir[] = "/tmp/xmond_json.XXXXXX", path_in[64], path_out[64], cmd[512];
	static const char script[] =
		"import json,sys\n"
		"ins=[bytes.fromhex(l.strip()) for l in open(sys.argv[1])]\n"
		"raw=open(sys.argv[2],'rb').read()\n"
		"txt=raw.decode('utf-8')\n"
		"bad=[c for c in txt if ord(c)<0x20 or c in '<>&\\u2028\\u2029']\n"
		"outs=json.loads(txt)\n"
		"n=sum(1 for a,b in zip(ins,outs) if a.decode('utf-8','replace')!=b)\n"
		"print(len(outs) if len(outs)==len(ins) and not bad and n==0 else -1-n)\n";
	FILE *fi, *fo, *py;
	struct json_writer w;
	uint8_t in[300];
	char line[64];
	long res = -99;

	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		ok(1, "# SKIP python3 not found");
		return;
	}
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path_in, sizeof(path_in), "%s/in", dir);
	snprintf(path_out, sizeof(path_out), "%s/out", dir);
	fi = fopen(path_in, "w");
	fo = fopen(path_out, "w");
	json_init(&w, 64 << 20);
	json_arr_begin(&w);
	for (int r = 0; r < rounds; r++) {
		size_t n = random_bytes(in, sizeof(in));

		for (size_t i = 0; i < n; i++)
			fprintf(fi, "%02x", in[i]);
		fputc('\n', fi);
		json_strn(&w, in, n);
	}
	json_arr_end(&w);
	{
		size_t len;
		char *text = json_take(&w, &len);

		if (text)
			fwrite(text, 1, len, fo);
		free(text);
	}
	fclose(fi);
	fclose(fo);
	snprintf(cmd, sizeof(cmd), "python3 -c \"$XMOND_JSON_PY\" %s %s", path_in, path_out);
	setenv("XMOND_JSON_PY", script, 1);
	py = popen(cmd, "r");
	if (py && fgets(line, sizeof(line), py))
		res = strtol(line, NULL, 10);
	if (py)
		pclose(py);
	if (!ok(res == rounds, "python3 json.loads reads %d random strings back as bytes.decode('utf-8','replace')",
		rounds))
		diag("python said %ld", res);
	unlink(path_in);
	unlink(path_out);
	rmdir(dir);
}

/* ---------------------------------------------------------------- writer */

static char *take(struct json_writer *w)
{
	static char keep[4096];
	size_t len;
	char *p = json_take(w, &len);

	if (!p)
		return NULL;
	snprintf(keep, sizeof(keep), "%s", p);
	free(p);
	return keep;
}

static void writer(void)
{
	struct json_writer w;

	json_init(&w, 1 << 20);
	json_obj_begin(&w);
	json_kstr(&w, "key", "v<1>");
	json_kint(&w, "n", -42);
	json_kbool(&w, "b", true);
	json_key(&w, "none");
	json_null(&w);
	json_key(&w, "arr");
	json_arr_begin(&w);
	json_int(&w, INT64_MIN);
	json_int(&w, INT64_MAX);
	json_uint(&w, UINT64_MAX);
	json_int(&w, 0);
	json_arr_begin(&w);
	json_arr_end(&w);
	json_obj_begin(&w);
	json_obj_end(&w);
	json_str(&w, NULL);
	json_raw(&w, "{\"x\":1}", 7);
	json_arr_end(&w);
	json_ktime(&w, "t", 0);
	json_kstrn(&w, "bytes", "a\0b", 3);
	json_obj_end(&w);
	is_str(take(&w),
	       "{\"key\":\"v\\u003c1\\u003e\",\"n\":-42,\"b\":true,\"none\":null,\"arr\":[-9223372036854775808,"
	       "9223372036854775807,18446744073709551615,0,[],{},null,{\"x\":1}],\"t\":\"1970-01-01T00:00:00.000Z\","
	       "\"bytes\":\"a\\u0000b\"}",
	       "nested document");

	json_str(&w, "top");
	is_str(take(&w), "\"top\"", "a string alone is a document; the writer is reusable after take");

	/* misuse is sticky and ends in NULL/EINVAL */
	json_obj_begin(&w);
	json_int(&w, 1);
	ok(json_error(&w) == -EINVAL && !take(&w) && errno == EINVAL, "value where a key is due: EINVAL");
	json_arr_begin(&w);
	json_key(&w, "k");
	ok(json_error(&w) == -EINVAL, "key in an array: EINVAL");
	json_free(&w);
	json_init(&w, 1 << 20);
	json_obj_begin(&w);
	json_key(&w, "k");
	json_obj_end(&w);
	ok(json_error(&w) == -EINVAL, "object closed after a key: EINVAL");
	json_free(&w);
	json_init(&w, 1 << 20);
	json_arr_begin(&w);
	json_obj_end(&w);
	ok(json_error(&w) == -EINVAL, "mismatched close: EINVAL");
	json_free(&w);
	json_init(&w, 1 << 20);
	json_arr_begin(&w);
	ok(!take(&w) && errno == EINVAL, "open container at take: EINVAL");
	ok(!take(&w) && errno == EINVAL, "nothing written: EINVAL");
	json_int(&w, 1);
	json_int(&w, 2);
	ok(json_error(&w) == -EINVAL, "two top-level values: EINVAL");
	json_free(&w);
	json_init(&w, 1 << 20);
	for (int i = 0; i < JSON_DEPTH_MAX; i++)
		json_arr_begin(&w);
	ok(json_error(&w) == 0, "JSON_DEPTH_MAX levels");
	json_arr_begin(&w);
	ok(json_error(&w) == -EINVAL, "one more: EINVAL");
	json_free(&w);

	/* the cap */
	json_init(&w, 16);
	json_str(&w, "0123456789012");   /* 15 bytes + NUL: fits exactly */
	{
		size_t len;
		char *p = json_take(&w, &len);

		ok(p && len == 15, "a text of cap - 1 bytes fits (the worst-case reservation falls back)");
		free(p);
	}
	json_init(&w, 16);
	json_str(&w, "01234567890123");
	ok(json_error(&w) == -ENOBUFS && !take(&w) && errno == ENOBUFS, "one byte more: ENOBUFS");
	json_init(&w, 64);
	json_arr_begin(&w);
	for (int i = 0; i < 100; i++)
		json_int(&w, i);
	json_arr_end(&w);
	ok(json_error(&w) == -ENOBUFS, "the cap holds across many calls");
	json_free(&w);

	/* big output through doubling */
	json_init(&w, 64 << 20);
	json_arr_begin(&w);
	for (int i = 0; i < 100000; i++) {
		json_obj_begin(&w);
		json_kstr(&w, "message", "disk <full> & \xff");
		json_ktime(&w, "t", (int64_t)i * 1000000007);
		json_obj_end(&w);
	}
	json_arr_end(&w);
	{
		size_t len;
		char *p = json_take(&w, &len);

		ok(p && len > 100000 * 60 && p[len] == 0 && p[len - 1] == ']', "100 000 objects (%zu bytes)", len);
		free(p);
	}
}

/* ---------------------------------------------------------------- time */

static void times(int rounds)
{
	char buf[JSON_TIME_LEN + 1];
	int bad = 0;

	is_int(json_format_time(0, buf), JSON_TIME_LEN, "time length");
	is_str(buf, "1970-01-01T00:00:00.000Z", "epoch");
	json_format_time(INT64_C(1795841467) * 1000000000 + 123456789, buf);
	is_str(buf, "2026-11-28T04:51:07.123Z", "a time in 2026, milliseconds truncated");
	json_format_time(-1, buf);
	is_str(buf, "1969-12-31T23:59:59.999Z", "1 ns before the epoch");
	json_format_time(INT64_C(951782400) * 1000000000, buf);
	is_str(buf, "2000-02-29T00:00:00.000Z", "leap day 2000");
	json_format_time(INT64_MAX, buf);
	is_str(buf, "2262-04-11T23:47:16.854Z", "INT64_MAX ns");
	json_format_time(INT64_MIN, buf);
	is_str(buf, "1677-09-21T00:12:43.145Z", "INT64_MIN ns");

	for (int r = 0; r < rounds; r++) {
		int64_t ns = (int64_t)rnd();
		int64_t s = ns / 1000000000 - (ns % 1000000000 < 0);
		time_t t = (time_t)s;
		struct tm tm;
		char want[64];
		int64_t ms = (ns - s * 1000000000) / 1000000;

		gmtime_r(&t, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
		json_format_time(ns, buf);
		if (strcmp(buf, want) != 0 && bad++ < 3)
			diag("%" PRId64 ": got %s, want %s", ns, buf, want);
	}
	ok(bad == 0, "%d random times agree with gmtime_r", rounds);
}

static void test_exact_escapes(void)
{
	exact_escapes();
}

static void test_reference(void)
{
	against_reference(50000);
}

static void test_fast_path(void)
{
	fast_path(50000);
}

static void test_numbers_and_times(void)
{
	numbers_and_times(100000);
}

static void test_python(void)
{
	against_python(20000);
}

static void test_times(void)
{
	times(100000);
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_exact_escapes),
		TAP_TEST(test_reference),
		TAP_TEST(test_fast_path),
		TAP_TEST(test_numbers_and_times),
		TAP_TEST(test_python),
		TAP_TEST(writer),
		TAP_TEST(test_times),
	};
	const char *seed = getenv("LULL_SEED");

	rng_state = seed ? strtoull(seed, NULL, 0) : 0x5eed2026;
	diag("seed 0x%" PRIx64 " (LULL_SEED)", rng_state);
	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
