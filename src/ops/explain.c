#include "config.h"

#include "decide.h"
#include "engine_probe.h"
#include "explain.h"
#include "icmp.h"
#include "plan_sim.h"
#include "sa_match.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void put_be(uint8_t *p, u128 v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[n - 1 - i] = (uint8_t)(v >> (8 * i));
}

/* The transport header the engine insists on seeing (decide.c l4_need). */
static size_t l4_header(uint8_t *l4, uint8_t proto, uint16_t dport)
{
	switch (proto) {
	case 6:
		l4[0] = 0x9c; l4[1] = 0x40;	/* source port 40000 */
		l4[2] = (uint8_t)(dport >> 8); l4[3] = (uint8_t)dport;
		l4[12] = 0x50;			/* data offset 5 */
		l4[13] = 0x02;			/* SYN */
		return 20;
	case 17: case 136: case 132: case 33:
		l4[0] = 0x9c; l4[1] = 0x40;
		l4[2] = (uint8_t)(dport >> 8); l4[3] = (uint8_t)dport;
		return proto == 132 || proto == 33 ? 12 : 8;
	case 1:		/* an ICMP key's port half is its type */
		l4[0] = (uint8_t)dport;
		return 8;
	case 58:
		l4[0] = (uint8_t)dport;
		return 4;
	default:
		return 0;
	}
}

/* The inbound packet the request describes, as NFQUEUE would copy it. */
static size_t build_packet(uint8_t *b, const struct packet_key *k)
{
	uint8_t proto = KEY_PROTO(k->key);
	size_t hl = k->fam == AF4 ? 20 : 40;
	size_t l4 = l4_header(b + hl, proto, KEY_PORT(k->key));

	if (k->fam == AF4) {
		b[0] = 0x45;
		b[2] = (uint8_t)((hl + l4) >> 8); b[3] = (uint8_t)(hl + l4);
		b[8] = 64; b[9] = proto;
		put_be(b + 12, k->peer, 4);
		put_be(b + 16, k->local, 4);
	} else {
		b[0] = 0x60;
		b[4] = (uint8_t)(l4 >> 8); b[5] = (uint8_t)l4;
		b[6] = proto; b[7] = 64;
		put_be(b + 8, k->peer, 16);
		put_be(b + 24, k->local, 16);
	}
	if (!l4 && k->fam == AF6 && proto != 59) {
		b[4] = 0; b[5] = 8;	/* a payload: decide refuses empty IPv6 packets */
		return hl + 8;
	}
	return hl + l4;
}

static void add_check(json_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_check(json_t *a, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(a, json_string(buf));
}

json_t *explain_rule_checks(const struct rule *r)
{
	const struct ipsec_req *q = &r->ipsec;
	json_t *a = json_array();
	char algs[512];

	add_check(a, "lifetime: the SA is neither hard- nor soft-expired (a rekey-due SA admits no new flow)");
	if (q->mode != MODE_TUNNEL)
		add_check(a, "transport mode: the SA's peer is the packet's source and one of the rule's peers");
	if (q->mode != MODE_TRANSPORT)
		add_check(a, q->ngateways ? "tunnel mode: the SA's peer is a gateway the rule lists for the packet's inner source" :
			  "tunnel mode: no gateway listed, so no tunnel-mode SA can satisfy the rule");
	add_check(a, "selector: the packet lies inside the SA's own traffic selector");
	add_check(a, q->encryption == ENC_REQUIRED ?
		  "encryption: the SA encrypts (not AH, ESP-null or AES-GMAC)" :
		  "encryption: integrity-only SAs (AH, ESP-null) are accepted");
	model_alg_list(algs, sizeof(algs), q->algorithms);
	add_check(a, "algorithms: every transform of the SA is one of %s", algs);
	if (q->has_reqid)
		add_check(a, "reqid: the SA has reqid %u", q->reqid);
	return a;
}

/* "icmp_type": nft's name of an ICMP packet's type, or its number */
static void explain_icmp_type(json_t *j, unsigned proto, unsigned type)
{
	const char *n = icmp_type_name(proto, type);

	json_object_set_new(j, "icmp_type", n ? json_string(n) : json_integer(type));
}

static json_t *packet_json(const struct explain_req *q)
{
	char peer[64], local[64], ipsec[48] = "none";
	const struct packet_key *k = &q->key;
	uint8_t proto = KEY_PROTO(k->key);
	const char *pn = model_proto_name(proto);
	bool in = k->dir != DIR_OUT;	/* in and forward: the peer sends */
	json_t *j;

	addr_format(k->fam, k->peer, peer, sizeof(peer));
	addr_format(k->fam, k->local, local, sizeof(local));
	if (q->ipsec == EXPLAIN_IPSEC_SPI)
		snprintf(ipsec, sizeof(ipsec), "spi=0x%08x", q->spi);
	else if (q->ipsec == EXPLAIN_IPSEC_REQID)
		snprintf(ipsec, sizeof(ipsec), "reqid=%u", q->reqid);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:i, s:i, s:s}",
		      "direction", direction_name(k->dir), "family", k->fam == AF4 ? "ipv4" : "ipv6",
		      "from", in ? peer : (q->local_given ? local : "(this host)"),
		      "to", in ? (q->local_given ? local : "(this host)") : peer,
		      "protocol", pn, "protocol_number", proto,
		      "port", icmp_is_icmp(proto) ? 0 : KEY_PORT(k->key), "ipsec", ipsec);
	if (j && icmp_is_icmp(proto))
		explain_icmp_type(j, proto, KEY_PORT(k->key));
	if (j && k->iface)
		json_object_set_new(j, "interface", json_string(k->iface));
	return j;
}

/* "limit": the rule's per-source limit, {"rate": "6/minute", "burst": 3,
 * "per": "source", "over": "drop"}; the kernel path is the one of a
 * source under it */
static void explain_limit(json_t *j, const struct rule_limit *l)
{
	char rate[48];

	snprintf(rate, sizeof(rate), "%u/%s", l->rate, l->unit == 1 ? "second" :
		 l->unit == 60 ? "minute" : l->unit == 3600 ? "hour" : "day");
	json_object_set_new(j, "limit", json_pack("{s:s, s:I, s:s, s:s}", "rate", rate,
						  "burst", (json_int_t)l->burst, "per", "source",
						  "over", "drop"));
}

static json_t *rule_json(const struct explain_ctx *c, const struct packet_key *k)
{
	uint32_t i = classify_lookup(c->cls, k), ref = classify_eval_rules(c->pol, k);
	enum action dflt = c->pol->defaults[k->dir];
	json_t *j;

	if (k->dir == DIR_FWD && !c->pol->forward_covered)
		return json_pack("{s:n, s:s, s:s, s:b, s:s}", "rule", "decided_by", "not-covered",
				 "action", "permit", "agrees_with_first_match", ref == CLASS_NONE,
				 "why", "the policy has no forward rule and no defaults.forward: sagate leaves forwarded traffic alone");
	if (i == CLASS_NONE)
		return json_pack("{s:n, s:s, s:s, s:b}", "rule", "decided_by", "default",
				 "action", action_name(dflt), "agrees_with_first_match", ref == CLASS_NONE);
	const struct rule *r = &c->pol->rules[i];

	j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:b}", "rule", r->name, "index", (json_int_t)i,
		      "decided_by", "rule", "action", action_name(r->action),
		      "file", r->file ? r->file : "", "path", r->path ? r->path : "",
		      "agrees_with_first_match", ref == i);
	if (r->comment)
		json_object_set_new(j, "comment", json_string(r->comment));
	if (j && r->limit.rate)
		explain_limit(j, &r->limit);
	return j;
}

static const char *sa_text(char *buf, size_t len, const struct xfrm_sa *sa)
{
	char s[64], d[64], a[256];

	addr_format(sa->fam, sa->saddr, s, sizeof(s));
	addr_format(sa->fam, sa->daddr, d, sizeof(d));
	sa_match_algs(a, sizeof(a), sa);
	snprintf(buf, len, "%s %s -> %s spi 0x%08x reqid %u %s mode, %s", xfrm_proto_name(sa->proto),
		 s, d, sa->spi, sa->reqid, xfrm_mode_name(sa->mode), a);
	return buf;
}

static const char *presence_name(enum engine_presence p)
{
	return p == ENGINE_SERVING ? "serving" :
	       p == ENGINE_NOT_RUNNING ? "not-running" : "queue-unbound";
}

/* What sagated would decide, by decide() itself on a packet built from q;
 * live (c->proc), nothing at all when no sagated serves the queue. */
static json_t *engine_json(const struct explain_ctx *c, const struct explain_req *q,
			   bool queued, uint16_t queue)
{
	json_t *j = json_pack("{s:b}", "queued", queued);
	struct decide_ctx dc = { .policy = c->pol, .classes = c->cls, .sas = c->sas };
	uint8_t pkt[128] = { 0 };
	size_t len;
	struct verdict v;
	char buf[512];
	uint32_t rule = classify_lookup(c->cls, &q->key);

	if (rule != CLASS_NONE && c->pol->rules[rule].action == ACT_REQUIRE_IPSEC)
		json_object_set_new(j, "checks", explain_rule_checks(&c->pol->rules[rule]));
	if (queued && c->proc) {
		enum engine_presence p = engine_presence(c->proc, queue);

		json_object_set_new(j, "sagated", json_string(presence_name(p)));
		if (p != ENGINE_SERVING) {
			/* whatever the SA, nobody answers the queue */
			json_object_set_new(j, "verdict", json_string("drop"));
			json_object_set_new(j, "reason", json_string("drop-no-sagated"));
			json_object_set_new(j, "why", json_string(engine_presence_why(p)));
			return j;
		}
	}
	if (queued && q->ipsec != EXPLAIN_IPSEC_SPI)
		json_object_set_new(j, "note", json_string("sagated decides by the SA that carried the packet: give --ipsec spi=0xSPI to check one"));
	if (!queued || q->ipsec != EXPLAIN_IPSEC_SPI)
		return j;
	if (!c->sas) {
		json_object_set_new(j, "note", json_string("the live SA table was not read"));
		return j;
	}
	len = build_packet(pkt, &q->key);
	v = decide_dir(&dc, q->key.dir, pkt, len, htonl(q->spi), c->now);
	json_object_set_new(j, "verdict", json_string(v.accept ? "accept" : "drop"));
	json_object_set_new(j, "reason", json_string(decide_reason_name(v.reason)));
	if (v.sa) {
		json_object_set_new(j, "sa", json_string(sa_text(buf, sizeof(buf), v.sa)));
		if (v.rule != CLASS_NONE) {
			sa_match_why(buf, sizeof(buf), &c->pol->rules[v.rule], v.sa, v.reason, c->now);
			json_object_set_new(j, "why", json_string(buf));
		}
	} else if (v.reason == DECIDE_DROP_SA_UNKNOWN) {
		snprintf(buf, sizeof(buf), "no SA with SPI 0x%08x in the kernel's SA table", q->spi);
		json_object_set_new(j, "why", json_string(buf));
	} else if (v.reason == DECIDE_DROP_SA_AMBIGUOUS) {
		json_object_set_new(j, "why", json_string("several SAs share this SPI: the engine cannot tell which carried the packet"));
	}
	return j;
}

/* The SA's reqid, when the request names an SA we can see. */
static void reqid_of(const struct explain_ctx *c, const struct explain_req *q,
		     struct plan_sim_pkt *sp)
{
	const struct xfrm_sa *sa = NULL;

	if (q->ipsec == EXPLAIN_IPSEC_REQID) {
		sp->reqid_known = true;
		sp->reqid = q->reqid;
	} else if (q->ipsec == EXPLAIN_IPSEC_SPI && c->sas &&
		   xfrm_cache_lookup(c->sas, q->spi, q->key.fam, q->key.local, &sa) == 1) {
		sp->reqid_known = true;
		sp->reqid = sa->reqid;
	}
}

json_t *explain_packet(const struct explain_ctx *c, const struct explain_req *q)
{
	struct plan_sim_pkt sp = { .key = q->key, .secpath = q->ipsec != EXPLAIN_IPSEC_NONE };
	struct plan_sim_result res;
	json_t *steps = json_array(), *kern, *eng, *j;
	const char *outcome;
	bool queued;

	reqid_of(c, q, &sp);
	if (plan_sim_run(c->plan, &sp, &res, steps) < 0) {
		json_decref(steps);
		return json_pack("{s:s, s:b, s:s}", "command", "explain", "ok", 0, "error",
				 "the compiled plan loops or nests deeper than 16 chains");
	}
	queued = res.verdict == PV_QUEUE;
	kern = json_pack("{s:o, s:s, s:b, s:b}", "steps", steps,
			 "verdict", plan_sim_verdict_name(res.verdict),
			 "by_chain_policy", res.by_policy, "reqid_assumed", res.reqid_unknown);
	if (queued)
		json_object_set_new(kern, "queue", json_integer(res.queue));
	if (res.rule != CLASS_NONE && res.rule < c->pol->nrules)
		json_object_set_new(kern, "element_rule", json_string(c->pol->rules[res.rule].name));
	eng = engine_json(c, q, queued, res.queue);
	if (!queued)
		outcome = plan_sim_verdict_name(res.verdict);
	else if (json_object_get(eng, "verdict"))
		outcome = json_string_value(json_object_get(eng, "verdict"));
	else
		outcome = "decided by sagated";
	j = json_pack("{s:s, s:b, s:o, s:o, s:s, s:o, s:o, s:s}", "command", "explain", "ok", 1,
		      "packet", packet_json(q), "policy", rule_json(c, &q->key),
		      "mode", c->plan->mode == PLAN_ENGINE ? "engine" : "kernel-only",
		      "kernel", kern, "engine", eng, "outcome", outcome);
	if (j && !q->local_given && c->cls->uses_local[q->key.dir])
		json_object_set_new(j, "note", json_string(
			"the policy has rules that name local addresses: give this host's address (--to, or --from with --out) for an exact answer"));
	return j;
}
