/* icmp: ICMP and ICMPv6 type names, nft's spelling, both ways. */
#include "config.h"

#include "icmp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct icmp_name {
	unsigned char type;
	const char *name;
};

/* nftables' src/proto.c icmp_type_tbl and icmp6_type_tbl */
static const struct icmp_name icmp4[] = {
	{ 0, "echo-reply" }, { 3, "destination-unreachable" }, { 4, "source-quench" },
	{ 5, "redirect" }, { 8, "echo-request" }, { 9, "router-advertisement" },
	{ 10, "router-solicitation" }, { 11, "time-exceeded" },
	{ 12, "parameter-problem" }, { 13, "timestamp-request" },
	{ 14, "timestamp-reply" }, { 15, "info-request" }, { 16, "info-reply" },
	{ 17, "address-mask-request" }, { 18, "address-mask-reply" },
};

static const struct icmp_name icmp6[] = {
	{ 1, "destination-unreachable" }, { 2, "packet-too-big" },
	{ 3, "time-exceeded" }, { 4, "parameter-problem" }, { 128, "echo-request" },
	{ 129, "echo-reply" }, { 130, "mld-listener-query" },
	{ 131, "mld-listener-report" }, { 132, "mld-listener-done" },
	{ 133, "nd-router-solicit" }, { 134, "nd-router-advert" },
	{ 135, "nd-neighbor-solicit" }, { 136, "nd-neighbor-advert" },
	{ 137, "nd-redirect" }, { 138, "router-renumbering" },
	{ 141, "ind-neighbor-solicit" }, { 142, "ind-neighbor-advert" },
	{ 143, "mld2-listener-report" },
};

static const struct icmp_name *table(unsigned proto, size_t *n)
{
	if (proto == 1) {
		*n = sizeof(icmp4) / sizeof(icmp4[0]);
		return icmp4;
	}
	*n = proto == 58 ? sizeof(icmp6) / sizeof(icmp6[0]) : 0;
	return proto == 58 ? icmp6 : NULL;
}

int icmp_is_icmp(unsigned proto)
{
	return proto == 1 || proto == 58;
}

int icmp_type_number(unsigned proto, const char *name)
{
	size_t n;
	const struct icmp_name *t = table(proto, &n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].type;
	return -1;
}

const char *icmp_type_name(unsigned proto, unsigned type)
{
	size_t n;
	const struct icmp_name *t = table(proto, &n);

	for (size_t i = 0; i < n; i++)
		if (t[i].type == type)
			return t[i].name;
	return NULL;
}

/* At most one insertion, deletion, substitution or swap apart. */
static int one_edit(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la < lb)
		return one_edit(b, a);
	if (la - lb > 1)
		return 0;
	while (*b && *a == *b) {
		a++;
		b++;
	}
	if (!*b)
		return 1;
	/* the first difference: skip it in a (a deletion) or in both, or
	 * two neighbours swapped */
	return strcmp(a + 1, b) == 0 || strcmp(a + 1, b + 1) == 0 ||
	       (la == lb && a[1] && a[0] == b[1] && a[1] == b[0] && strcmp(a + 2, b + 2) == 0);
}

const char *icmp_type_suggest(unsigned proto, const char *name)
{
	size_t n;
	const struct icmp_name *t = table(proto, &n);

	for (size_t i = 0; i < n; i++)
		if (strcasecmp(t[i].name, name) == 0 || one_edit(t[i].name, name))
			return t[i].name;
	return NULL;
}

void icmp_type_list(char *buf, size_t len, unsigned proto)
{
	size_t n, used = 0;
	const struct icmp_name *t = table(proto, &n);

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 i ? ", " : "", t[i].name);
}
