#include "config.h"

#include "qrange.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

/* A decimal 0-65535 without sign or blanks; *end after it. */
static int num(const char *s, const char **end, unsigned long *v)
{
	char *e;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoul(s, &e, 10);
	if (errno || *v > 65535)
		return -1;
	*end = e;
	return 0;
}

int qrange_parse(const char *s, uint16_t *first, unsigned *count)
{
	unsigned long a, b;
	const char *p;

	if (!s || num(s, &p, &a) < 0)
		return -1;
	b = a;
	if (*p == '-' && num(p + 1, &p, &b) < 0)
		return -1;
	if (*p || b < a || b - a + 1 > QRANGE_MAX)
		return -1;
	*first = (uint16_t)a;
	*count = (unsigned)(b - a + 1);
	return 0;
}
