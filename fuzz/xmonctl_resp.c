/* fuzz/xmonctl_resp.c: libFuzzer harness for what xmonctl reads from the
 * API (cmd/xmonctl): the response head parser httpc_parse_head() and the
 * JSON reader jv_parse(), both fed bytes from whatever answers at --api.
 *
 * For each input:
 *  1. httpc_parse_head() on the whole input: a head length h > 0 is at most
 *     the input's length, with a status 100..599 and a body length within
 *     HTTPC_RESP_MAX; every prefix shorter than h asks for more bytes (0)
 *     or is refused for the same length bound, never parsed differently.
 *  2. jv_parse() on the whole input; when it succeeds, every member of the
 *     top-level object is read through jv_get()/jv_text() (the table code's
 *     path), and the tree is freed (ASan finds leaks and overreads).
 * Any broken invariant aborts. Seeds: fuzz/corpus/xmonctl_resp/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/xmonctl/http.c"
#include "../cmd/xmonctl/json.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	int status = 0;
	size_t blen = 0;
	const char *why = "";
	long h;
	struct jv v;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	h = httpc_parse_head(buf, size, &status, &blen, &why);
	if (h > 0) {
		if ((size_t)h > size || status < 100 || status > 599 || blen > HTTPC_RESP_MAX)
			abort();
		for (size_t k = 0; k < (size_t)h; k += 1 + k / 8) {
			int s2 = 0;
			size_t b2 = 0;
			long h2 = httpc_parse_head(buf, k, &s2, &b2, &why);

			if (h2 != 0 && !(h2 < 0 && k >= HTTPC_HEAD_MAX))
				abort();
		}
	} else if (h < 0 && !why[0]) {
		abort();
	}
	if (jv_parse(buf, size, &v) == 0) {
		for (size_t i = 0; v.type == JV_OBJ && i < v.n; i++) {
			if (jv_get(&v, v.keys[i]) == NULL)
				abort();
			(void)strlen(jv_text(&v, v.keys[i]));
		}
		jv_free(&v);
	}
	free(buf);
	return 0;
}
