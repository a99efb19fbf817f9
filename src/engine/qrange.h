/* qrange: the --queue argument of sagated: "N" or "N-M", 0-65535. */
#ifndef SAGATE_QRANGE_H
#define SAGATE_QRANGE_H

#include <stdint.h>

/** The most queues one sagated serves (one thread each). */
#define QRANGE_MAX 64

/** Parse s into its first queue and the number of queues (1 for "N").
 *  Returns 0, or -1 for anything else (empty, signs, spaces, reversed,
 *  out of range, more than QRANGE_MAX queues). */
int qrange_parse(const char *s, uint16_t *first, unsigned *count);

#endif
