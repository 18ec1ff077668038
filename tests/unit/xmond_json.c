/* Unit tests for cmd/xmond/json.h: exact escapes of every special byte and
 * of each kind of ill-formed UTF-8; random byte strings checked against a
 * reference decoder written apart from json.c (code points first, then the
 * rules) and, when python3 is there, against Python's json module and its
 * "replace" decoder (the same maximal-subpart rule); the writer's commas,
 * nesting, misuse and caps; RFC 3339 times against gmtime_r.
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
		TAP_TEST(test_python),
		TAP_TEST(writer),
		TAP_TEST(test_times),
	};
	const char *seed = getenv("LULL_SEED");

	rng_state = seed ? strtoull(seed, NULL, 0) : 0x5eed2026;
	diag("seed 0x%" PRIx64 " (LULL_SEED)", rng_state);
	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
