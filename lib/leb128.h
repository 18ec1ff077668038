/* leb128.h: DWARF LEB128 numbers from a bounded buffer, shared by the
 * .eh_frame unwinder and the .debug_line decoder. Private to lib/.
 * Async-signal-safe; a number of any length is consumed, bits past 64 are
 * dropped; running off the end returns -1 with *pp at end. */
#ifndef LULL_LEB128_H
#define LULL_LEB128_H

#include <stdint.h>

static inline int leb128_read(const unsigned char **pp, const unsigned char *end, int is_signed,
			      uint64_t *out)
{
	const unsigned char *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;

	while (p < end) {
		unsigned char b = *p++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if (shift < 64)
			shift += 7;
		if (!(b & 0x80)) {
			if (is_signed && shift < 64 && (b & 0x40))
				v |= ~UINT64_C(0) << shift;
			*pp = p;
			*out = v;
			return 0;
		}
	}
	*pp = end;
	*out = 0;
	return -1;
}

#endif
