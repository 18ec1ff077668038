/* xmonctl's API verbs: alerts, show, bin, instances. Each makes one request
 * to xmond's JSON API (docs/xmond.md) and prints a table for people, or
 * with --json the API's JSON as it came, for scripts. Text from daemons is
 * printed with control characters escaped (\n, \xNN, \u00NN), so that an
 * alert message cannot move the cursor or retitle the terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lull/prog.h"
#include "xmonctl.h"

#define CELL_MAX 48     /* code points of a table cell but the last */
#define FILTER_MAX 1024 /* bytes of a filter value */

char *token_read(const char *path)
{
	char buf[TOKEN_MAX + 2], *nl;
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		prog_die(PROG_EXIT_USAGE, "cannot read the token file %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((nl = strchr(buf, '\n')))
		*nl = '\0';
	else if (n > TOKEN_MAX)
		prog_die(PROG_EXIT_USAGE, "the token in %s is longer than %d bytes", path, TOKEN_MAX);
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if (n == 0)
		prog_die(PROG_EXIT_USAGE, "the token file %s has an empty first line", path);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x21 || buf[i] == 0x7f)
			prog_die(PROG_EXIT_USAGE, "the token in %s has a space or a control character", path);
	return strdup(buf);
}

/* s for a terminal: controls escaped, cut to max code points (0: no cut)
 * with "~" marking the cut; *width gets the code points. malloc'd. */
static char *cell(const char *s, size_t max, size_t *width)
{
	size_t cap = strlen(s) * 6 + 8, cp = 0;
	char *out = malloc(cap), *o = out;

	if (!out)
		prog_die(PROG_EXIT_TEMP, "out of memory");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (max && cp >= max) {
			if (o > out && cp > 0) {
				/* replace the last code point by the mark */
				do
					o--;
				while (o > out && ((unsigned char)*o & 0xc0) == 0x80);
				*o++ = '~';
			}
			break;
		}
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			*o++ = '\\';
			*o++ = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
			cp += 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			o += sprintf(o, "\\x%02x", *p);
			cp += 4;
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) { /* C1 controls */
			o += sprintf(o, "\\u00%02x", p[1]);
			p++;
			cp += 6;
		} else {
			*o++ = (char)*p;
			if ((*p & 0xc0) != 0x80)
				cp++;
		}
	}
	*o = '\0';
	if (width)
		*width = cp;
	return out;
}

/* "2026-11-28T06:51:24.621Z" as "2026-11-28 06:51:24" */
static const char *when(const char *t, char *buf, size_t cap)
{
	if (strlen(t) < 19 || t[10] != 'T')
		return t;
	snprintf(buf, cap, "%.10s %.8s", t, t + 11);
	return buf;
}

struct table {
	size_t ncol, nrow;
	const char *head[8];
	char **cells; /* nrow x ncol */
	size_t width[8];
};

static void table_add(struct table *t, const char *const *vals)
{
	char **nc = realloc(t->cells, (t->nrow + 1) * t->ncol * sizeof(*nc));

	if (!nc)
		prog_die(PROG_EXIT_TEMP, "out of memory");
	t->cells = nc;
	for (size_t c = 0; c < t->ncol; c++) {
		size_t w;

		nc[t->nrow * t->ncol + c] = cell(vals[c], c + 1 < t->ncol ? CELL_MAX : 0, &w);
		if (w > t->width[c])
			t->width[c] = w;
	}
	t->nrow++;
}

static void table_print(struct table *t)
{
	for (size_t c = 0; c < t->ncol; c++) {
		if (strlen(t->head[c]) > t->width[c])
			t->width[c] = strlen(t->head[c]);
	}
	for (size_t r = 0; r <= t->nrow; r++) {
		for (size_t c = 0; c < t->ncol; c++) {
			const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * t->ncol + c];
			size_t w = 0;

			if (c + 1 == t->ncol) {
				printf("%s\n", s);
				break;
			}
			for (const char *p = s; *p; p++)
				w += (*p & 0xc0) != 0x80;
			printf("%s%*s  ", s, (int)(t->width[c] - w), "");
		}
	}
	for (size_t i = 0; i < t->nrow * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* Append s percent-encoded (everything but RFC 3986's unreserved). */
static void qappend(char *q, size_t cap, const char *name, const char *s)
{
	size_t n = strlen(q);

	n += (size_t)snprintf(q + n, cap - n, "%s%s=", strchr(q, '?') ? "&" : "?", name);
	for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p))
			q[n++] = (char)*p;
		else
			n += (size_t)snprintf(q + n, cap - n, "%%%02X", *p);
	}
	q[n] = '\0';
}

/* One request; a 2xx answer parsed into *v (unless --json: then printed
 * and NULL returned). Anything else ends the program: 4xx 100, else 111. */
static struct jv *call(struct api_opts *o, const char *method, const char *path, struct jv *v)
{
	struct httpc_answer a;

	httpc_request(o->url, method, path, o->token, o->timeout_ns, &a);
	if (a.status / 100 != 2) {
		struct jv e;
		const char *msg = "";

		if (jv_parse(a.body, a.len, &e) == 0 && jv_get(&e, "error"))
			msg = jv_text(&e, "error");
		char *m = cell(msg, 200, NULL);
		prog_die(a.status / 100 == 4 ? PROG_EXIT_USAGE : PROG_EXIT_TEMP, "%s %s: HTTP %d%s%s%s", method, path,
			 a.status, *m ? ": " : "", m,
			 a.status == 401 ? " (give the token with --token-file or XMON_TOKEN_FILE)" : "");
	}
	if (o->json) {
		fwrite(a.body, 1, a.len, stdout);
		if (a.len == 0 || a.body[a.len - 1] != '\n')
			putchar('\n');
		free(a.body);
		return NULL;
	}
	if (jv_parse(a.body, a.len, v) < 0)
		prog_die(PROG_EXIT_TEMP, "%s %s: the answer is not JSON", method, path);
	free(a.body);
	return v;
}

/* --json anywhere in a verb's arguments; returns the other arguments
 * compacted at the front. */
static int take_json(struct api_opts *o, int argc, char **argv)
{
	int n = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			o->json = true;
		else
			argv[n++] = argv[i];
	}
	return n;
}

static const char *key_arg(int argc, char **argv, const char *verb)
{
	if (argc != 1)
		prog_usage("%s takes one alert KEY", verb);
	if (!argv[0][0] || strlen(argv[0]) > 20 || strspn(argv[0], "0123456789") != strlen(argv[0]))
		prog_usage("bad alert KEY '%.40s' (the number in the KEY column of `xmonctl alerts`)", argv[0]);
	return argv[0];
}

int api_alerts(struct api_opts *o, int argc, char **argv)
{
	char path[4 * FILTER_MAX + 64] = "/api/alerts";
	const char *state = "open";
	struct jv v;
	struct table t = { .ncol = 8,
			   .head = { "KEY", "STATE", "APP TYPE", "INSTANCE", "ID", "BIN", "UPDATED", "MESSAGE" } };

	argc = take_json(o, argc, argv);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--all")) {
			state = "all";
		} else if (i + 1 < argc &&
			   (!strcmp(a, "--app-type") || !strcmp(a, "--instance") || !strcmp(a, "--query"))) {
			const char *val = prog_str(argv[++i], a, FILTER_MAX);

			qappend(path, sizeof(path),
				!strcmp(a, "--app-type")   ? "app_type"
				: !strcmp(a, "--instance") ? "instance"
							   : "q",
				val);
		} else {
			prog_usage("unknown or incomplete option '%s' for alerts", a);
		}
	}
	qappend(path, sizeof(path), "state", state);
	if (!call(o, "GET", path, &v))
		return 0;
	const struct jv *list = jv_get(&v, "alerts");
	if (!list || list->type != JV_ARR)
		prog_die(PROG_EXIT_TEMP, "GET %s: no \"alerts\" list in the answer", path);
	for (size_t i = 0; i < list->n; i++) {
		const struct jv *a = &list->items[i];
		char tb[32];
		const struct jv *b = jv_get(a, "binnable");
		const char *row[8] = { jv_text(a, "key"),
				       jv_text(a, "state"),
				       jv_text(a, "app_type"),
				       jv_text(a, "instance"),
				       jv_text(a, "alert_id"),
				       b && b->type == JV_BOOL && b->b ? "yes" : "no",
				       when(jv_text(a, "updated"), tb, sizeof(tb)),
				       jv_text(a, "message") };

		table_add(&t, row);
	}
	if (list->n)
		table_print(&t);
	printf("%zu%s alert%s\n", list->n, strcmp(state, "open") ? "" : " open", list->n == 1 ? "" : "s");
	jv_free(&v);
	return 0;
}

int api_show(struct api_opts *o, int argc, char **argv)
{
	char path[64], tb[32];
	struct jv v;
	const char *key;
	static const char *const fields[][2] = {
		{ "key", "key" },           { "app_type", "app type" }, { "instance", "instance" },
		{ "alert_id", "alert id" }, { "state", "state" },       { "binnable", "binnable" },
		{ "source", "source" },     { "form", "form" },         { "created", "created" },
		{ "updated", "updated" },   { "closed", "closed" },     { "notice_pending", "notice pending" },
		{ "message", "message" },
	};

	argc = take_json(o, argc, argv);
	key = key_arg(argc, argv, "show");
	snprintf(path, sizeof(path), "/api/alerts/%s", key);
	if (!call(o, "GET", path, &v))
		return 0;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *s = jv_text(&v, fields[i][0]);
		char *c = cell(fields[i][0][0] == 'c' || fields[i][0][0] == 'u' ? when(s, tb, sizeof(tb)) : s, 0, NULL);

		printf("%-15s %s\n", fields[i][1], c);
		free(c);
	}
	const struct jv *h = jv_get(&v, "history");
	struct table t = { .ncol = 4, .head = { "TIME", "EVENT", "BY", "MESSAGE" } };
	for (size_t i = 0; h && h->type == JV_ARR && i < h->n; i++) {
		const struct jv *e = &h->items[i];
		const char *row[4] = { when(jv_text(e, "time"), tb, sizeof(tb)), jv_text(e, "event"), jv_text(e, "by"),
				       jv_get(e, "message") ? jv_text(e, "message") : "" };

		table_add(&t, row);
	}
	printf("\nhistory\n");
	table_print(&t);
	jv_free(&v);
	return 0;
}

int api_bin(struct api_opts *o, int argc, char **argv)
{
	char path[64];
	struct jv v;
	const char *key;

	argc = take_json(o, argc, argv);
	key = key_arg(argc, argv, "bin");
	snprintf(path, sizeof(path), "/api/alerts/%s/bin", key);
	if (!call(o, "POST", path, &v))
		return 0;
	char *inst = cell(jv_text(&v, "instance"), 0, NULL), *id = cell(jv_text(&v, "alert_id"), 0, NULL);
	char *type = cell(jv_text(&v, "app_type"), 0, NULL);
	printf("binned %s (%s %s, id %s)\n", key, type, inst, id);
	free(inst);
	free(id);
	free(type);
	jv_free(&v);
	return 0;
}

int api_instances(struct api_opts *o, int argc, char **argv)
{
	struct jv v;
	struct table t = { .ncol = 6, .head = { "APP TYPE", "INSTANCE", "STATE", "SINCE", "OPEN", "PEER" } };

	argc = take_json(o, argc, argv);
	if (argc != 0)
		prog_usage("instances takes no argument but --json");
	if (!call(o, "GET", "/api/instances", &v))
		return 0;
	const struct jv *list = jv_get(&v, "instances");
	if (!list || list->type != JV_ARR)
		prog_die(PROG_EXIT_TEMP, "GET /api/instances: no \"instances\" list in the answer");
	for (size_t i = 0; i < list->n; i++) {
		const struct jv *in = &list->items[i];
		char tb[32];
		const char *row[6] = { jv_text(in, "app_type"),    jv_text(in, "instance"),
				       jv_text(in, "state"),       when(jv_text(in, "since"), tb, sizeof(tb)),
				       jv_text(in, "open_alerts"), jv_text(in, "peer") };

		table_add(&t, row);
	}
	if (list->n)
		table_print(&t);
	printf("%zu instance%s\n", list->n, list->n == 1 ? "" : "s");
	jv_free(&v);
	return 0;
}
