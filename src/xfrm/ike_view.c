/* ike_view: parses what charon prints about its connections and
 * CHILD_SAs (traffic selectors, address lists) into sagate's address and
 * key terms, and frees views. */
#include "config.h"

#include "ike_view.h"
#include <arpa/inet.h>

#include <ctype.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void ts_list_fini(struct ike_ts_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void ike_conn_cfg_fini(struct ike_conn_cfg *c)
{
	for (size_t j = 0; j < c->nchildren; j++) {
		free(c->children[j].name);
		free(c->children[j].mode);
		ts_list_fini(&c->children[j].local);
		ts_list_fini(&c->children[j].remote);
	}
	free(c->children);
	free(c->name);
	free(c->remote_id);
	free(c->remote_class);
	addr_set_fini(&c->remote);
	memset(c, 0, sizeof(*c));
}

void ike_child_sa_fini(struct ike_child_sa *sa)
{
	free(sa->conn);
	free(sa->child);
	free(sa->mode);
	free(sa->remote_id);
	memset(sa, 0, sizeof(*sa));
}

void ike_view_fini(struct ike_view *v)
{
	for (size_t i = 0; i < v->nconns; i++)
		ike_conn_cfg_fini(&v->conns[i]);
	for (size_t i = 0; i < v->nsas; i++)
		ike_child_sa_fini(&v->sas[i]);
	free(v->conns);
	free(v->sas);
	memset(v, 0, sizeof(*v));
}

/* A decimal number of at most max, all of s; -1 otherwise. */
static long small_number(const char *s, long max)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtol(s, &end, 10);
	return *end || v > max ? -1 : v;
}

static int parse_proto(const char *s, uint8_t *proto)
{
	long n = small_number(s, 255);
	struct protoent *pe;

	if (n >= 0) {
		*proto = (uint8_t)n;
		return 0;
	}
	if (!*s || !(pe = getprotobyname(s)) || pe->p_proto < 0 || pe->p_proto > 255)
		return -1;
	*proto = (uint8_t)pe->p_proto;
	return 0;
}

/* "80", "1000-2000" or a service name of protocol proto. */
static int parse_ports(const char *s, uint8_t proto, uint16_t *lo, uint16_t *hi)
{
	const char *dash = strchr(s, '-');
	struct protoent *pe;
	struct servent *se;
	long a, b;

	if (dash && isdigit((unsigned char)*s)) {
		char first[8];
		size_t n = (size_t)(dash - s);

		if (n >= sizeof(first))
			return -1;
		memcpy(first, s, n);
		first[n] = '\0';
		a = small_number(first, 65535);
		b = small_number(dash + 1, 65535);
		if (a < 0 || b < a)
			return -1;
		*lo = (uint16_t)a;
		*hi = (uint16_t)b;
		return 0;
	}
	if ((a = small_number(s, 65535)) >= 0) {
		*lo = *hi = (uint16_t)a;
		return 0;
	}
	pe = proto ? getprotobynumber(proto) : NULL;
	if (!*s || !pe || !(se = getservbyname(s, pe->p_name)))
		return -1;
	*lo = *hi = ntohs((uint16_t)se->s_port);
	return 0;
}

/* The "[...]" part: PROTO, PROTO/PORT or PROTO/LO-HI. */
static int parse_ts_suffix(const char *s, struct ike_ts *out)
{
	char buf[96], *slash;
	size_t n = strlen(s);

	if (n < 3 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof(buf))
		return -1;
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	if ((slash = strchr(buf, '/')))
		*slash = '\0';
	if (parse_proto(buf, &out->proto) < 0)
		return -1;
	return slash ? parse_ports(slash + 1, out->proto, &out->port_lo, &out->port_hi) : 0;
}

static int parse_ts_addr(const char *s, size_t n, struct ike_ts *out)
{
	char buf[128], *dots;

	if (n == 7 && !strncmp(s, "dynamic", 7)) {
		out->dynamic = true;
		return 0;
	}
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* charon writes a range that is no subnet "a..b"; addr_parse "a-b" */
	if ((dots = strstr(buf, ".."))) {
		*dots = '-';
		memmove(dots + 1, dots + 2, strlen(dots + 2) + 1);
	}
	return addr_parse(buf, &out->addr) == ADDR_OK ? 0 : -1;
}

int ike_ts_parse(const char *s, struct ike_ts *out)
{
	const char *br = strchr(s, '[');
	size_t n = br ? (size_t)(br - s) : strlen(s);

	*out = (struct ike_ts){ .port_lo = 0, .port_hi = 65535 };
	if (parse_ts_addr(s, n, out) < 0)
		return -1;
	return br ? parse_ts_suffix(br, out) : 0;
}

int ike_addrs_add(struct addr_set *s, const char *entry)
{
	struct addr_range r;

	if (addr_parse(entry, &r) != ADDR_OK) {
		/* %any, %any4, %any6, or a name charon resolves when it
		 * connects: the audit cannot narrow it down */
		s->any = true;
		return 0;
	}
	return addr_set_push(s, r.fam, r.lo, r.hi);
}

bool ike_mode_tunnel(const char *mode)
{
	return mode && !strncasecmp(mode, "TUNNEL", 6);
}

int ike_ts_addrs(const struct ike_ts *ts, const struct ike_conn_cfg *c, bool remote,
		 struct addr_set *out)
{
	const struct addr_set *from = &c->remote;
	struct addr_range *nv;
	size_t add;

	if (!ts->dynamic) {
		from = NULL;
		add = 1;
	} else if (!remote || from->any || !from->n) {
		out->any = true;
		return 0;
	} else {
		add = from->n;
	}
	if (!(nv = realloc(out->v, (out->n + add) * sizeof(*nv))))
		return -1;
	out->v = nv;
	if (from)
		memcpy(out->v + out->n, from->v, add * sizeof(*nv));
	else
		out->v[out->n] = ts->addr;
	out->n += add;
	return 0;
}

bool ike_ts_meets_keys(const struct ike_ts *ts, uint32_t lo, uint32_t hi)
{
	uint32_t a, b;

	if (!ts->proto)
		return true;	/* every protocol: ports of each are the ts's */
	a = KEY(ts->proto, ts->port_lo);
	b = KEY(ts->proto, ts->port_hi);
	return a <= hi && lo <= b;
}
