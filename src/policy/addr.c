#include "config.h"

#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned addr_bits[AF_COUNT] = { 32, 128 };

u128 addr_max(enum addr_family fam)
{
	return fam == AF4 ? (u128)UINT32_MAX : ~(u128)0;
}

static bool parse_one(const char *s, enum addr_family *fam, u128 *v)
{
	unsigned char b[16];

	if (inet_pton(AF_INET, s, b) == 1) {
		*fam = AF4;
		*v = ((u128)b[0] << 24) | ((u128)b[1] << 16) | ((u128)b[2] << 8) | b[3];
		return true;
	}
	if (inet_pton(AF_INET6, s, b) == 1) {
		*fam = AF6;
		*v = 0;
		for (int i = 0; i < 16; i++)
			*v = (*v << 8) | b[i];
		return true;
	}
	return false;
}

static enum addr_parse_error parse_cidr(char *s, char *slash, struct addr_range *out)
{
	unsigned long plen;
	u128 mask;
	char *end;

	*slash = '\0';
	if (!parse_one(s, &out->fam, &out->lo))
		return ADDR_BAD_SYNTAX;
	if (slash[1] < '0' || slash[1] > '9')
		return ADDR_BAD_PREFIX;
	plen = strtoul(slash + 1, &end, 10);
	if (*end || plen > addr_bits[out->fam] || end - (slash + 1) > 3)
		return ADDR_BAD_PREFIX;
	mask = plen == addr_bits[out->fam] ? 0 :
	       addr_max(out->fam) >> plen;
	out->hi = out->lo | mask;
	if (out->lo & mask) {
		out->lo &= ~mask;
		out->hi = out->lo | mask;
		return ADDR_HOST_BITS;
	}
	return ADDR_OK;
}

enum addr_parse_error addr_parse(const char *s, struct addr_range *out)
{
	char buf[128], *sep;
	enum addr_family f2;

	memset(out, 0, sizeof(*out));
	if (strlen(s) >= sizeof(buf))
		return ADDR_BAD_SYNTAX;
	strcpy(buf, s);
	if ((sep = strchr(buf, '/')))
		return parse_cidr(buf, sep, out);
	if ((sep = strchr(buf, '-'))) {
		*sep = '\0';
		if (!parse_one(buf, &out->fam, &out->lo) ||
		    !parse_one(sep + 1, &f2, &out->hi))
			return ADDR_BAD_SYNTAX;
		if (f2 != out->fam)
			return ADDR_RANGE_MIXED;
		return out->lo > out->hi ? ADDR_RANGE_REVERSED : ADDR_OK;
	}
	if (!parse_one(buf, &out->fam, &out->lo))
		return ADDR_BAD_SYNTAX;
	out->hi = out->lo;
	return ADDR_OK;
}

void addr_format(enum addr_family fam, u128 v, char *buf, size_t len)
{
	unsigned char b[16];

	if (fam == AF4) {
		uint32_t x = htonl((uint32_t)v);

		inet_ntop(AF_INET, &x, buf, (socklen_t)len);
		return;
	}
	for (int i = 15; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
	inet_ntop(AF_INET6, b, buf, (socklen_t)len);
}

/* Length of the prefix that [lo, hi] is exactly, or -1. */
static int range_prefix_len(const struct addr_range *r)
{
	u128 span = r->hi - r->lo;
	unsigned bits = addr_bits[r->fam];
	int host = 0;

	if (r->lo == 0 && r->hi == addr_max(r->fam))
		return 0;
	if ((span & (span + 1)) != 0 || (r->lo & span) != 0)
		return -1;
	while (span) {
		span >>= 1;
		host++;
	}
	return (int)bits - host;
}

void addr_range_format(const struct addr_range *r, char *buf, size_t len)
{
	char a[64], b[64];
	int plen = range_prefix_len(r);

	addr_format(r->fam, r->lo, a, sizeof(a));
	if (r->lo == r->hi)
		snprintf(buf, len, "%s", a);
	else if (plen >= 0)
		snprintf(buf, len, "%s/%d", a, plen);
	else {
		addr_format(r->fam, r->hi, b, sizeof(b));
		snprintf(buf, len, "%s-%s", a, b);
	}
}

size_t addr_range_cidrs(const struct addr_range *r,
			void (*fn)(enum addr_family, u128 net, unsigned plen, void *),
			void *arg)
{
	unsigned bits = addr_bits[r->fam];
	u128 cur = r->lo;
	size_t n = 0;

	for (;;) {
		unsigned host = 0;

		/* widest aligned block that starts at cur and stays inside */
		while (host < bits) {
			u128 mask = host + 1 >= 128 ? ~(u128)0 :
				    ((u128)1 << (host + 1)) - 1;

			if ((cur & mask) || mask > r->hi - cur)
				break;
			host++;
		}
		fn(r->fam, cur, bits - host, arg);
		n++;
		if (host >= 128)
			break;
		if (((u128)1 << host) - 1 >= r->hi - cur)
			break;
		cur += (u128)1 << host;
	}
	return n;
}
