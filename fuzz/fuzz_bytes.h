/* fuzz_bytes: a fuzz input read as a stream of small numbers, for the
 * targets that build structured values (SAs, packets, rules) from it.
 * Past the end every read gives 0, so any input is a whole value. */
#ifndef SAGATE_FUZZ_BYTES_H
#define SAGATE_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fbytes {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fb_u8(struct fbytes *b)
{
	uint8_t v = 0;

	if (b->n) {
		v = *b->p++;
		b->n--;
	}
	return v;
}

static inline uint16_t fb_u16(struct fbytes *b)
{
	return (uint16_t)(fb_u8(b) | fb_u8(b) << 8);
}

static inline uint32_t fb_u32(struct fbytes *b)
{
	return (uint32_t)fb_u16(b) | (uint32_t)fb_u16(b) << 16;
}

/* A number below n (n > 0). */
static inline unsigned fb_below(struct fbytes *b, unsigned n)
{
	return n <= 256 ? fb_u8(b) % n : fb_u16(b) % n;
}

/* Up to want bytes of the input, taken whole: *len gets how many. */
static inline const uint8_t *fb_take(struct fbytes *b, size_t want, size_t *len)
{
	const uint8_t *p = b->p;

	*len = want < b->n ? want : b->n;
	b->p += *len;
	b->n -= *len;
	return p;
}

#endif
