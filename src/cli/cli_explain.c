/* sagate explain: one packet through the policy, the kernel and the
 * engine, step by step. */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "explain.h"
#include "icmp.h"
#include "state.h"
#include "xfrm_dump.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sagate explain: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static int one_addr(const char *opt, const char *s, struct addr_range *r)
{
	if (addr_parse(s, r) != ADDR_OK || r->lo != r->hi) {
		fprintf(stderr, "sagate explain: %s takes one IPv4 or IPv6 address, not \"%s\"\n",
			opt, s);
		return -1;
	}
	return 0;
}

/* v, the number of a name, or when there is none (-1) s as a number
 * 0-255; -1 when it is neither */
static long named_byte(long v, const char *s)
{
	char *end;

	if (v < 0 && *s >= '0' && *s <= '9') {
		v = strtol(s, &end, 10);
		if (*end || v > 255)
			v = -1;
	}
	return v;
}

static int parse_proto(const char *s, uint8_t *out)
{
	long v = named_byte(model_proto_number(s), s);

	if (v < 0)
		return -1;
	*out = (uint8_t)v;
	return 0;
}

static int parse_ipsec(const char *s, struct explain_req *q)
{
	char *end;
	unsigned long v;

	if (!s || strcmp(s, "none") == 0) {
		q->ipsec = EXPLAIN_IPSEC_NONE;
		return 0;
	}
	if (strncmp(s, "spi=", 4) == 0) {
		v = strtoul(s + 4, &end, 0);
		q->ipsec = EXPLAIN_IPSEC_SPI;
		q->spi = (uint32_t)v;
	} else if (strncmp(s, "reqid=", 6) == 0) {
		v = strtoul(s + 6, &end, 0);
		q->ipsec = EXPLAIN_IPSEC_REQID;
		q->reqid = (uint32_t)v;
	} else {
		return -1;
	}
	return *end || end == strchr(s, '=') + 1 || v > UINT32_MAX ||
	       (q->ipsec == EXPLAIN_IPSEC_SPI && v == 0) ? -1 : 0;
}

/* --icmp-type: a name of proto's types or a number; echo-request when absent */
static int parse_icmp_type(const char *s, uint8_t proto, unsigned *out)
{
	long v;

	if (!s)
		s = "echo-request";
	v = named_byte(icmp_type_number(proto, s), s);
	if (v < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* The command line -> the question. */
static int request(const struct cli_opts *o, struct explain_req *q)
{
	struct addr_range from = { 0 }, to = { 0 };
	const char *peer_opt = o->out ? "--to" : "--from";
	const char *peer = o->out ? o->to : o->from, *local = o->out ? o->from : o->to;
	uint8_t proto;
	unsigned port = 0;
	bool ports;

	memset(q, 0, sizeof(*q));
	if (o->forward && o->out)
		return bad("--forward and --out exclude each other");
	if (o->forward && (!o->from || !o->to))
		return bad("--forward needs --from ADDR, the source, and --to ADDR, the destination behind this host");
	if (!peer)
		return bad("%s", o->out ? "--out needs --to ADDR, the peer" : "needs --from ADDR, the peer");
	if (!o->proto)
		return bad("needs --proto (tcp, udp, icmp, ... or a number)");
	if (parse_proto(o->proto, &proto) < 0)
		return bad("--proto: unknown protocol \"%s\"", o->proto);
	ports = proto == 6 || proto == 17 || proto == 132;
	if (ports && o->port < 0)
		return bad("--proto %s needs --port N", o->proto);
	if (!ports && o->port >= 0)
		return bad("--port applies to tcp, udp and sctp only, not to \"%s\"", o->proto);
	if (o->icmp_type && !icmp_is_icmp(proto))
		return bad("--icmp-type applies to icmp and icmpv6 only, not to \"%s\"", o->proto);
	if (icmp_is_icmp(proto) && parse_icmp_type(o->icmp_type, proto, &port) < 0)
		return bad("--icmp-type: unknown %s type \"%s\" (a name as nft spells it, or 0-255)",
			   model_proto_name(proto), o->icmp_type);
	if (parse_ipsec(o->ipsec, q) < 0)
		return bad("--ipsec takes none, spi=0xSPI (not 0) or reqid=N, not \"%s\"", o->ipsec);
	if (one_addr(peer_opt, peer, &from) < 0 ||
	    (local && one_addr(o->out ? "--from" : "--to", local, &to) < 0))
		return EXIT_USAGE;
	if (local && to.fam != from.fam)
		return bad("--from and --to are of different families");
	q->key.dir = o->out ? DIR_OUT : o->forward ? DIR_FWD : DIR_IN;
	q->key.fam = from.fam;
	q->key.peer = from.lo;
	q->key.local = local ? to.lo : 0;
	q->local_given = local != NULL;
	q->key.iface = o->iface;
	q->key.key = KEY(proto, ports ? (unsigned)o->port : port);
	return EXIT_OK;
}

/* does the explained packet leave this host? */
static bool o_out(json_t *pk)
{
	return strcmp(json_string_value(json_object_get(pk, "direction")), "out") == 0;
}

static void print_text(json_t *j)
{
	json_t *pk = json_object_get(j, "packet"), *po = json_object_get(j, "policy");
	json_t *k = json_object_get(j, "kernel"), *e = json_object_get(j, "engine"), *x;
	size_t i, n = 1;

	printf("packet: %s %s -> %s %s", json_string_value(json_object_get(pk, "direction")),
	       json_string_value(json_object_get(pk, "from")),
	       json_string_value(json_object_get(pk, "to")),
	       json_string_value(json_object_get(pk, "protocol")) ?
	       json_string_value(json_object_get(pk, "protocol")) : "?");
	if (json_integer_value(json_object_get(pk, "port")))
		printf(" port %lld", (long long)json_integer_value(json_object_get(pk, "port")));
	if ((x = json_object_get(pk, "icmp_type")))
		json_is_string(x) ? printf(" type %s", json_string_value(x)) :
				    printf(" type %lld", (long long)json_integer_value(x));
	if ((x = json_object_get(pk, "interface")))
		printf(" %s %s", o_out(pk) ? "via" : "on", json_string_value(x));
	printf(", ipsec %s\n", json_string_value(json_object_get(pk, "ipsec")));
	if ((x = json_object_get(po, "why")))
		printf("%zu. policy: not covered: %s\n", n++, json_string_value(x));
	else if (json_is_null(json_object_get(po, "rule")))
		printf("%zu. policy: no rule matches; the default decides: %s\n", n++,
		       json_string_value(json_object_get(po, "action")));
	else
		printf("%zu. policy: rule \"%s\" (%s %s) decides: %s\n", n++,
		       json_string_value(json_object_get(po, "rule")),
		       json_string_value(json_object_get(po, "file")),
		       json_string_value(json_object_get(po, "path")),
		       json_string_value(json_object_get(po, "action")));
	if ((x = json_object_get(po, "limit")))
		printf("   limit: %s new flows per source, burst %lld; past it the flow is dropped (the path below is a source under it)\n",
		       json_string_value(json_object_get(x, "rate")),
		       (long long)json_integer_value(json_object_get(x, "burst")));
	if (!json_is_true(json_object_get(po, "agrees_with_first_match")))
		printf("   BUG: the compiled classes disagree with first-match evaluation\n");
	printf("%zu. kernel (%s mode):\n", n++, json_string_value(json_object_get(j, "mode")));
	json_array_foreach(json_object_get(k, "steps"), i, x)
		printf("   chain %s: %s -> %s\n", json_string_value(json_object_get(x, "chain")),
		       json_string_value(json_object_get(x, "match")),
		       json_string_value(json_object_get(x, "verdict")));
	printf("   kernel verdict: %s\n", json_string_value(json_object_get(k, "verdict")));
	if (json_is_true(json_object_get(k, "reqid_assumed")))
		printf("   (a reqid test was assumed to pass: give --ipsec reqid=N or spi=)\n");
	if (json_object_get(e, "checks")) {
		printf("%zu. engine checks for this rule%s:\n", n++,
		       json_is_true(json_object_get(e, "queued")) ? "" :
		       strcmp(json_string_value(json_object_get(j, "mode")), "engine") ?
		       " (kernel-only mode: sagated checks none of these)" :
		       " (not reached: the kernel decided)");
		json_array_foreach(json_object_get(e, "checks"), i, x)
			printf("   - %s\n", json_string_value(x));
	}
	if ((x = json_object_get(e, "sa")))
		printf("   SA: %s\n", json_string_value(x));
	if ((x = json_object_get(e, "sagated")))
		printf("   sagated: %s\n", json_string_value(x));
	if ((x = json_object_get(e, "verdict")))
		printf("   engine verdict: %s (%s)%s%s\n", json_string_value(x),
		       json_string_value(json_object_get(e, "reason")),
		       json_object_get(e, "why") ? ": " : "",
		       json_object_get(e, "why") ? json_string_value(json_object_get(e, "why")) : "");
	if ((x = json_object_get(e, "note")))
		printf("   %s\n", json_string_value(x));
	printf("outcome: %s\n", json_string_value(json_object_get(j, "outcome")));
	if ((x = json_object_get(j, "note")))
		printf("note: %s\n", json_string_value(x));
}

int cli_explain(const struct cli_opts *o, const char *file)
{
	struct explain_req q;
	struct loaded l;
	struct state_meta m;
	struct xfrm_cache *sas = NULL;
	json_t *j;
	int rc = request(o, &q);

	if (rc != EXIT_OK)
		return rc;
	rc = cli_load_either(o, file, false, &l, &m);
	if (rc == EXIT_OK && q.ipsec == EXPLAIN_IPSEC_SPI &&
	    (!(sas = xfrm_cache_alloc()) || xfrm_dump_sas(sas, &l.diags) < 0)) {
		xfrm_cache_free(sas);
		sas = NULL;	/* explained without the live SA */
	}
	if (rc == EXIT_OK) {
		/* the applied policy: whether sagated serves its queue counts */
		struct explain_ctx c = { l.pol, l.cls, l.plan, sas, (uint64_t)time(NULL),
					 file ? NULL : "/proc" };

		j = explain_packet(&c, &q);
		if (!j)
			rc = EXIT_SYSTEM;
		else if (o->json)
			rc = cli_dump_json(j) < 0 ? EXIT_SYSTEM : EXIT_OK;
		else {
			print_text(j);
			json_decref(j);
		}
	}
	cli_print_errors(stderr, &l.diags);
	xfrm_cache_free(sas);
	state_meta_fini(&m);
	cli_unload(&l);
	return rc;
}
