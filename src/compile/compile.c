#include "config.h"

#include "compile.h"
#include "compile_int.h"
#include "icmp.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "in4", "out6", "fwd4", ...: the prefix of a direction and family's maps and chains */
const char *compile_df_name(char *buf, size_t len, enum direction d, enum addr_family f)
{
	snprintf(buf, len, "%s%d", d == DIR_IN ? "in" : d == DIR_OUT ? "out" : "fwd",
		 f == AF4 ? 4 : 6);
	return buf;
}

const char *compile_set_name(char *buf, size_t len, enum direction d,
			     enum addr_family f, const char *kind)
{
	char df[8];

	snprintf(buf, len, "%s_%s", compile_df_name(df, sizeof(df), d, f), kind);
	return buf;
}

/* compile_set_name of the zone being compiled: "in4_z1_ports" for zone 1 */
static const char *zname(const struct kctx *k, char *buf, size_t len, enum direction d,
			 enum addr_family f, const char *kind)
{
	char df[8];

	if (!k->zone)
		return compile_set_name(buf, len, d, f, kind);
	snprintf(buf, len, "%s_z%u_%s", compile_df_name(df, sizeof(df), d, f), (unsigned)k->zone, kind);
	return buf;
}

/* Key fields of a direction / family's maps.  The protocol is in every
 * key, and the maps keyed by port (_exact, _ports) hold elements of tcp,
 * udp and sctp only, so their lookups need no "meta l4proto { tcp, udp,
 * sctp }" before them: th dport of another protocol (ICMP's type and
 * code, say) comes with that protocol in the key and matches nothing, and
 * a packet without a transport header ends the rule (the payload
 * expression fails), as the guard would have.  Each guard was a set
 * lookup of its own on every new flow (BENCHMARKS.md, "Interval
 * classes"). */
size_t compile_key_fields(enum direction d, enum addr_family f, bool local,
			  bool ports, enum plan_field *out)
{
	enum plan_field src = f == AF4 ? PF_SADDR4 : PF_SADDR6;
	enum plan_field dst = f == AF4 ? PF_DADDR4 : PF_DADDR6;
	size_t n = 0;

	/* in and forward: the peer is the source */
	out[n++] = d != DIR_OUT ? src : dst;
	if (local)
		out[n++] = d != DIR_OUT ? dst : src;
	out[n++] = PF_L4PROTO;
	if (ports)
		out[n++] = PF_DPORT;
	return n;
}

/* Every element goes through here: past the limit it is only counted. */
void compile_elem_add(struct kctx *k, struct plan_set *s, const struct plan_elem *e)
{
	if (k->max_elems && k->nelems++ >= k->max_elems)
		return;
	if (plan_add_elem(s, e))
		k->oom = true;
}

static struct plan_verdict rule_verdict(struct kctx *k, uint32_t rule)
{
	const struct rule *r = &k->pol->rules[rule];

	if (k->verdict_chain[rule])
		return (struct plan_verdict){ PV_GOTO, k->verdict_chain[rule], 0, 0 };
	return (struct plan_verdict){ r->action == ACT_PERMIT ? PV_ACCEPT : PV_DROP,
				      NULL, 0, 0 };
}

static void add_elem(struct kctx *k, struct plan_set *s, const struct class_box *b,
		     bool local, unsigned plo, unsigned phi, unsigned portlo,
		     unsigned porthi)
{
	struct plan_elem e = { .rule = b->rule };
	size_t n = 0;

	e.lo[n] = b->peer_lo;
	e.hi[n++] = b->peer_hi;
	if (local) {
		e.lo[n] = b->local_lo;
		e.hi[n++] = b->local_hi;
	}
	e.lo[n] = plo;
	e.hi[n++] = phi;
	if (s->nfields > n) {
		e.lo[n] = portlo;
		e.hi[n] = porthi;
	}
	e.verdict = rule_verdict(k, b->rule);
	compile_elem_add(k, s, &e);
}

/* ICMP of the other family never occurs: no element for it. */
static bool foreign_icmp(unsigned proto, enum addr_family f)
{
	return (proto == 1 && f == AF6) || (proto == 58 && f == AF4);
}

/* Protocols [plo, phi] without ports go to the protos map, skipping tcp,
 * udp and sctp, whose ports the ports map covers. */
static void add_protos(struct kctx *k, struct plan_set *protos,
		       const struct class_box *b, bool local, unsigned plo,
		       unsigned phi)
{
	unsigned start = plo;

	for (unsigned p = plo; p <= phi + 1; p++) {
		if (p <= phi && !is_port_proto(p) && !foreign_icmp(p, b->fam))
			continue;
		if (start < p)
			add_elem(k, protos, b, local, start, p - 1, 0, 0);
		start = p + 1;
	}
}

/* The ICMP types [*lo, *hi] of protocol p that box b covers when they are
 * some types of this family's ICMP but not all of them: the pieces that
 * go to the df_icmp map.  Keys past 255 belong to no packet. */
static bool icmp_piece(const struct class_box *b, unsigned p, unsigned *lo,
		       unsigned *hi)
{
	*lo = p == KEY_PROTO(b->key_lo) ? KEY_PORT(b->key_lo) : 0;
	*hi = p == KEY_PROTO(b->key_hi) ? KEY_PORT(b->key_hi) : 0xffff;
	if (!icmp_is_icmp(p) || (*lo == 0 && *hi == 0xffff))
		return false;
	if (*hi > ICMP_TYPE_MAX)
		*hi = ICMP_TYPE_MAX;
	return true;
}

/* ICMP types of a box: an element of df_icmp, or of df_protos when they
 * are every type there is. */
static void icmp_elements(struct kctx *k, const struct class_box *b, bool local,
			  struct plan_set *protos, unsigned p, unsigned lo, unsigned hi)
{
	struct plan_elem e = { .rule = b->rule };
	size_t n = 0;

	if (lo > hi || foreign_icmp(p, b->fam))
		return;
	if (lo == 0 && hi == ICMP_TYPE_MAX) {
		add_elem(k, protos, b, local, p, p, 0, 0);
		return;
	}
	if (!k->icmp) {		/* icmp_map_needed() disagrees: a bug */
		k->oom = true;
		return;
	}
	e.lo[n] = b->peer_lo;
	e.hi[n++] = b->peer_hi;
	if (local) {
		e.lo[n] = b->local_lo;
		e.hi[n++] = b->local_hi;
	}
	e.lo[n] = lo;
	e.hi[n] = hi;
	e.verdict = rule_verdict(k, b->rule);
	compile_elem_add(k, k->icmp, &e);
}

/* One class box becomes one or more elements: its key interval is split
 * per protocol field (an interval in a concatenation is per field). */
void compile_box_elements(struct kctx *k, const struct class_box *b, bool local,
			  struct plan_set *exact, struct plan_set *ports,
			  struct plan_set *protos)
{
	unsigned p0 = KEY_PROTO(b->key_lo), p1 = KEY_PROTO(b->key_hi), tlo, thi;

	for (unsigned p = p0; p <= p1; p++) {
		unsigned lo = p == p0 ? KEY_PORT(b->key_lo) : 0;
		unsigned hi = p == p1 ? KEY_PORT(b->key_hi) : 0xffff;

		if (icmp_piece(b, p, &tlo, &thi)) {
			icmp_elements(k, b, local, protos, p, tlo, thi);
			continue;
		}
		if (is_port_proto(p)) {
			bool single = lo == hi && b->peer_lo == b->peer_hi &&
				      (!local || b->local_lo == b->local_hi);

			add_elem(k, single ? exact : ports, b, local, p, p, lo, hi);
			continue;
		}
		/* a run of port-less protocols: one element for the run */
		unsigned q = p;

		while (q < p1 && !is_port_proto(q + 1) && !icmp_piece(b, q + 1, &tlo, &thi))
			q++;
		add_protos(k, protos, b, local, p, q);
		p = q;
	}
}

/* --- ICMP types ------------------------------------------------------------ */

/* Does some box of d and f cover some types of f's ICMP, but not all? */
static bool icmp_map_needed(const struct kctx *k, enum direction d, enum addr_family f)
{
	unsigned p = f == AF4 ? 1 : 58, lo, hi;

	for (size_t i = 0; i < k->cls->nboxes; i++) {
		const struct class_box *b = &k->cls->boxes[i];

		if (b->dir == d && b->fam == f && b->zone == k->zone && KEY_PROTO(b->key_lo) <= p &&
		    KEY_PROTO(b->key_hi) >= p && icmp_piece(b, p, &lo, &hi) &&
		    lo <= hi && !(lo == 0 && hi == ICMP_TYPE_MAX))
			return true;
	}
	return false;
}

/* The df_icmp map, keyed by peer (and local) address and ICMP type, when
 * a rule of d names ICMP types of f: a policy without them compiles as
 * before.  Set last: any later plan_add_set moves it. */
void compile_icmp_map(struct kctx *k, enum direction d, enum addr_family f, bool local)
{
	struct plan_set *s;
	char name[32];
	size_t n;

	k->icmp = NULL;
	if (!icmp_map_needed(k, d, f))
		return;
	if (!(s = plan_add_set(k->plan, zname(k, name, sizeof(name), d, f, "icmp")))) {
		k->oom = true;
		return;
	}
	n = compile_key_fields(d, f, local, false, s->fields) - 1;	/* not meta l4proto */
	s->fields[n++] = f == AF4 ? PF_ICMP_TYPE : PF_ICMPV6_TYPE;
	s->nfields = n;
	s->interval = true;
	s->counter = true;
	k->icmp = s;
}

/* meta l4proto icmp|ipv6-icmp <key> vmap @df_icmp, when there is one */
void compile_icmp_lookup(struct kctx *k, enum addr_family f, struct plan_chain *chain)
{
	struct plan_rule *r;

	if (!k->icmp || k->oom)
		return;
	if (!(r = plan_add_rule(chain, NULL))) {
		k->oom = true;
		return;
	}
	stmt(r, PS_L4PROTO_IS, f == AF4 ? 1 : 58, NULL);
	stmt(r, PS_VMAP, 0, plan_strdup(k->plan, k->icmp->name));
	k->icmp = NULL;
}

static void add_lookups(struct kctx *k, enum direction d, enum addr_family f,
			struct plan_chain *chain)
{
	static const char *const kinds[] = { "exact", "ports", "protos" };
	bool local = k->cls->uses_local[d];
	struct plan_set *sets[3];
	char name[32];

	/* interface zones: the plain layout, one per zone */
	if (!local && !k->cls->nzones[d] && compile_bucket_lookups(k, d, f, chain))
		return;
	for (int i = 0; i < 3; i++) {
		sets[i] = plan_add_set(k->plan, zname(k, name, sizeof(name), d, f, kinds[i]));
		if (!sets[i]) {
			k->oom = true;
			return;
		}
	}
	compile_icmp_map(k, d, f, local);
	/* plan_add_set may move earlier sets: look them up again */
	for (int i = 0; i < 3 && !k->oom; i++) {
		sets[i] = plan_find_set(k->plan, zname(k, name, sizeof(name), d, f, kinds[i]));
		sets[i]->nfields = compile_key_fields(d, f, local, i < 2, sets[i]->fields);
		sets[i]->interval = i > 0;
		sets[i]->counter = true;
	}
	for (size_t i = 0; i < k->cls->nboxes && !k->oom; i++) {
		const struct class_box *b = &k->cls->boxes[i];

		if (b->dir == d && b->fam == f && b->zone == k->zone)
			compile_box_elements(k, b, local, sets[0], sets[1], sets[2]);
	}
	for (int i = 0; i < 3 && !k->oom; i++) {
		struct plan_rule *r;

		/* empty maps stay: the kernel rule count is the same for every policy */
		r = plan_add_rule(chain, NULL);
		if (!r) {
			k->oom = true;
			return;
		}
		/* by a copy of the name: later sets may move this one */
		stmt(r, PS_VMAP, 0, plan_strdup(k->plan, sets[i]->name));
	}
	compile_icmp_lookup(k, f, chain);
}

/* The head of a base chain: loopback, invalid, established flows. */
static void base_head(struct kctx *k, struct plan_chain *c, enum direction d)
{
	struct plan_rule *r;

	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, d == DIR_IN ? PS_IIF_LO : PS_OIF_LO, 0, NULL);
		r->verdict.kind = PV_ACCEPT;
	}
	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, PS_CT_STATE, PLAN_CT_INVALID, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	r = rule_or_oom(k, c, d == DIR_IN ? "require-ipsec flow: packet arrived in cleartext" :
			"require-ipsec flow: packet would leave in cleartext");
	if (r) {
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		stmt(r, PS_CT_MARK_SET_BIT, PLAN_CT_MARK_IPSEC, NULL);
		stmt(r, d == DIR_IN ? PS_SECPATH_MISSING : PS_RT_IPSEC_MISSING, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	/* decrypted, but by an SA of another binding than the flow's own:
	 * a peer with an SA of its own must not take over a flow admitted
	 * through someone else's */
	if (d == DIR_IN && (r = rule_or_oom(k, c, "require-ipsec flow: packet arrived through an SA of another binding (reqid)"))) {
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		stmt(r, PS_CT_MARK_SET_BIT, PLAN_CT_MARK_IPSEC, NULL);
		stmt(r, PS_BIND_MISSING, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		r->verdict.kind = PV_ACCEPT;
	}
	if ((r = rule_or_oom(k, c, "IPv6 neighbour discovery"))) {
		stmt(r, PS_ICMPV6_ND, 0, NULL);
		r->verdict.kind = PV_ACCEPT;
	}
}

/* The head of the forward chain: invalid, established flows.  A
 * require-ipsec flow routed through this host arrives through IPsec the
 * way it was admitted (original direction, held to its binding) and its
 * replies leave through IPsec. */
static void forward_head(struct kctx *k, struct plan_chain *c)
{
	static const struct { uint32_t dir; enum plan_stmt_kind check; const char *comment; } est[] = {
		{ 0, PS_SECPATH_MISSING, "require-ipsec flow: forwarded packet arrived in cleartext" },
		{ 0, PS_BIND_MISSING, "require-ipsec flow: forwarded packet arrived through an SA of another binding (reqid)" },
		{ PLAN_CT_REPLY, PS_RT_IPSEC_MISSING, "require-ipsec flow: forwarded reply would leave in cleartext" },
	};
	struct plan_rule *r;

	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, PS_CT_STATE, PLAN_CT_INVALID, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	for (size_t i = 0; i < sizeof(est) / sizeof(est[0]); i++) {
		if (!(r = rule_or_oom(k, c, est[i].comment)))
			return;
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		stmt(r, PS_CT_MARK_SET_BIT, PLAN_CT_MARK_IPSEC, NULL);
		stmt(r, PS_CT_DIRECTION, est[i].dir, NULL);
		stmt(r, est[i].check, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		r->verdict.kind = PV_ACCEPT;
	}
}

/* A require-ipsec flow being admitted: its conntrack mark becomes the
 * reqid of the SA it came (or goes) through, with the require-ipsec bit,
 * and that pair joins the set of bindings the established check knows. */
static void admit_marks(struct plan_rule *r, uint32_t dir)
{
	stmt(r, PS_COUNTER, 0, NULL);
	stmt(r, PS_CT_MARK_SET_REQID, dir, NULL);
	stmt(r, PS_CT_MARK_OR, PLAN_CT_MARK_IPSEC, NULL);
	stmt(r, PS_BIND_ADD, dir, NULL);
}

static void binding_set(struct kctx *k)
{
	struct plan_set *s = plan_add_set(k->plan, PLAN_BOUND_SET);

	if (!s)
		k->oom = true;
	else
		s->binding = true;
}

/* Who tries require-ipsec ports in cleartext, and when last: for audit
 * (the drop itself is the next rule's).  Only protocols with ports. */
static void attempt_sets(struct kctx *k, struct plan_chain *in)
{
	static const struct { const char *name, *comment; enum plan_field addr; } fam[] = {
		{ PLAN_ATTEMPTS4, "require-ipsec: cleartext attempt recorded (IPv4)", PF_SADDR4 },
		{ PLAN_ATTEMPTS6, "require-ipsec: cleartext attempt recorded (IPv6)", PF_SADDR6 },
	};

	for (size_t i = 0; i < 2; i++) {
		struct plan_set *s = plan_add_set(k->plan, fam[i].name);
		struct plan_rule *r;
		const char *name = s ? plan_strdup(k->plan, fam[i].name) : NULL;

		if (!s || !name) {
			k->oom = true;
			return;
		}
		s->attempts = true;
		s->fields[0] = fam[i].addr;
		s->fields[1] = PF_L4PROTO;
		s->fields[2] = PF_DPORT;
		s->nfields = 3;
		if ((r = rule_or_oom(k, in, fam[i].comment))) {
			stmt(r, PS_SECPATH_MISSING, 0, NULL);
			stmt(r, PS_L4PROTO_PORTS, 0, NULL);
			stmt(r, PS_ATTEMPT_UPDATE, 0, name);
		}
	}
}

static void ipsec_chains(struct kctx *k)
{
	struct plan_chain *in = plan_add_chain(k->plan, "ipsec_in", PH_NONE);
	struct plan_rule *r;

	attempt_sets(k, in);
	if ((r = rule_or_oom(k, in, "require-ipsec: arrived in cleartext"))) {
		stmt(r, PS_SECPATH_MISSING, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, in, k->plan->mode == PLAN_ENGINE ?
			     "to sagated with the carrying SA's SPI; no bypass: fail closed" :
			     "kernel-only mode: any secpath admits"))) {
		admit_marks(r, 0);
		if (k->plan->mode == PLAN_ENGINE) {
			/* the SPI travels in skb->priority, not the mark: the
			 * mark may be strongSwan's (mark_in), a route-based
			 * VPN's or the admin's, and must leave as it came.
			 * sagated sets the priority back to 0. */
			stmt(r, PS_PRIORITY_SET_SPI, 0, NULL);
			r->verdict = (struct plan_verdict){ PV_QUEUE, NULL, k->plan->queue,
							    k->plan->queue_count };
		} else {
			r->verdict.kind = PV_ACCEPT;
		}
	}
	struct plan_chain *out = plan_add_chain(k->plan, "ipsec_out", PH_NONE);

	if ((r = rule_or_oom(k, out, "require-ipsec: no SA would protect it"))) {
		stmt(r, PS_RT_IPSEC_MISSING, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, out, NULL))) {
		admit_marks(r, PLAN_DIR_OUT);
		r->verdict.kind = PV_ACCEPT;
	}
}

/* Kernel-only mode: a chain per pinned reqid, shared by rules pinning it. */
static const char *reqid_chain(struct kctx *k, uint32_t reqid)
{
	char name[32], comment[64];
	struct plan_chain *c;
	struct plan_rule *r;

	snprintf(name, sizeof(name), "ipsec_in_reqid_%u", reqid);
	if (plan_find_chain(k->plan, name))
		return plan_strdup(k->plan, name);
	c = plan_add_chain(k->plan, name, PH_NONE);
	snprintf(comment, sizeof(comment), "SA must have reqid %u", reqid);
	if ((r = rule_or_oom(k, c, comment))) {
		stmt(r, PS_IPSEC_REQID_NE, reqid, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, c, NULL)))
		r->verdict = (struct plan_verdict){ PV_GOTO, plan_strdup(k->plan, "ipsec_in"), 0, 0 };
	return plan_strdup(k->plan, name);
}

/* Where a rule's elements send packets, unless plain accept / drop. */
const char *compile_target_chain(struct kctx *k, const struct rule *r)
{
	if (r->action != ACT_REQUIRE_IPSEC)
		return NULL;
	if (r->dir == DIR_OUT)
		return plan_strdup(k->plan, "ipsec_out");
	/* in and forward alike: the packet must have been decrypted here */
	if (k->plan->mode == PLAN_KERNEL_ONLY && r->ipsec.has_reqid)
		return reqid_chain(k, r->ipsec.reqid);
	return plan_strdup(k->plan, "ipsec_in");
}


/* A rule's meter set, keyed by the source of family f. */
static const char *meter_set(struct kctx *k, size_t i, enum addr_family f)
{
	const struct rule_limit *l = &k->pol->rules[i].limit;
	struct plan_set *s;
	char name[32];

	snprintf(name, sizeof(name), "limit_%zu_%d", i, f == AF4 ? 4 : 6);
	if (!(s = plan_add_set(k->plan, name))) {
		k->oom = true;
		return NULL;
	}
	s->meter = true;
	s->fields[0] = f == AF4 ? PF_SADDR4 : PF_SADDR6;
	s->nfields = 1;
	s->rate = l->rate;
	s->unit = l->unit;
	s->burst = l->burst;
	/* a source idle this long has its whole burst again anyway: its
	 * element may go, and the set keeps only the sources that count */
	s->timeout = l->unit * ((l->burst + 2 * l->rate - 1) / l->rate);
	return plan_strdup(k->plan, name);
}

/* Rules with "limit": a chain each, limit_N, that drops the new flows of
 * a source past its rate (one meter set per family), then goes on as the
 * rule's elements would have (accept, or its log chain).  The maps stay
 * as they are: one lookup still decides, and only the rule's own flows
 * pay for the meter. */
static void limit_chains(struct kctx *k)
{
	for (size_t i = 0; i < k->pol->nrules && !k->oom; i++) {
		const struct rule *r = &k->pol->rules[i];
		const char *then = k->verdict_chain[i];
		struct plan_chain *c;
		struct plan_rule *pr;
		char name[32];

		if (!r->limit.rate || !k->cls->info[i].boxes)
			continue;
		snprintf(name, sizeof(name), "limit_%zu", i);
		for (int f = 0; f < AF_COUNT && !k->oom; f++) {
			const char *set = meter_set(k, i, (enum addr_family)f);

			c = plan_find_chain(k->plan, name);
			if (!c)
				c = plan_add_chain(k->plan, name, PH_NONE);
			if (set && (pr = rule_or_oom(k, c, r->name))) {
				stmt(pr, PS_METER_OVER, 0, set);
				stmt(pr, PS_COUNTER, 0, NULL);
				pr->verdict.kind = PV_DROP;
			}
		}
		if ((pr = rule_or_oom(k, plan_find_chain(k->plan, name), r->name)))
			pr->verdict = then ? (struct plan_verdict){ PV_GOTO, then, 0, 0 } :
					     (struct plan_verdict){ PV_ACCEPT, NULL, 0, 0 };
		k->verdict_chain[i] = plan_strdup(k->plan, name);
	}
}

/* --- interface zones ------------------------------------------------------ */

/* A direction whose rules name interfaces: a hash map from the packet's
 * interface (iifname in input and forward, oifname in output) to a chain
 * per named interface, "in_z1", ..., with the maps of that zone's classes
 * (the rules for that interface and those for every one); a packet on
 * another interface goes on to the base chain's own maps (zone 0). */
static void zone_dispatch(struct kctx *k, enum direction d, const char *base)
{
	const char *dn = d == DIR_IN ? "in" : d == DIR_OUT ? "out" : "fwd";
	struct plan_set *s;
	struct plan_rule *r;
	char name[32], chain[32];

	snprintf(name, sizeof(name), "%s_ifaces", dn);
	if (!(s = plan_add_set(k->plan, name))) {
		k->oom = true;
		return;
	}
	s->fields[0] = d == DIR_OUT ? PF_OIFNAME : PF_IIFNAME;
	s->nfields = 1;
	for (size_t z = 1; z <= k->cls->nzones[d] && !k->oom; z++) {
		struct plan_elem e = { .rule = PLAN_NO_RULE };

		snprintf(chain, sizeof(chain), "%s_z%zu", dn, z);
		e.lo[0] = e.hi[0] = plan_ifname_value(k->cls->zones[d][z - 1]);
		e.verdict = (struct plan_verdict){ PV_GOTO, plan_strdup(k->plan, chain), 0, 0 };
		if (!plan_add_chain(k->plan, chain, PH_NONE))
			k->oom = true;
		else
			compile_elem_add(k, plan_find_set(k->plan, name), &e);
		k->zone = (uint16_t)z;
		for (int f = 0; f < AF_COUNT && !k->oom; f++)
			add_lookups(k, d, (enum addr_family)f, plan_find_chain(k->plan, chain));
		k->zone = 0;
	}
	if (!k->oom && (r = rule_or_oom(k, plan_find_chain(k->plan, base), NULL)))
		stmt(r, PS_VMAP, 0, plan_strdup(k->plan, name));
}

char *compile_table_comment(const char *source, const char *sha256)
{
	const char *slash = strrchr(source, '/');
	char *esc = malloc(PLAN_ESCAPE_MAX(strlen(source))), *c = NULL;
	char base[81];

	if (!esc)
		return NULL;
	plan_escape(esc, PLAN_ESCAPE_MAX(strlen(source)), source);
	/* nft refuses comments over 128 bytes: a long path keeps its file name */
	if (asprintf(&c, "sagate policy %s sha256 %.16s", esc, sha256) < 0) {
		c = NULL;
	} else if (strlen(c) > 127) {
		free(c);
		plan_escape(base, sizeof(base), slash ? slash + 1 : source);
		if (asprintf(&c, "sagate policy .../%s sha256 %.16s", base, sha256) < 0)
			c = NULL;
	}
	free(esc);
	return c;
}

unsigned compile_queue_count(const struct policy *p, const struct compile_opts *o)
{
	unsigned n = o->queues ? o->queues : p && p->queues ? p->queues : 1;

	/* the callers validated it; never pass queue 65535 all the same */
	if (n > COMPILE_MAX_QUEUES)
		n = COMPILE_MAX_QUEUES;
	if (o->queue + n - 1 > 65535)
		n = 65536u - o->queue;
	return n;
}

struct plan *compile_plan(const struct policy *p, const struct classes *c,
			  const struct compile_opts *o)
{
	struct kctx k = { .pol = p, .cls = c };

	k.plan = plan_alloc(o->mode);
	k.verdict_chain = calloc(p->nrules ? p->nrules : 1, sizeof(*k.verdict_chain));
	if (!k.plan || !k.verdict_chain)
		goto fail;
	k.plan->queue = o->queue;
	k.plan->queue_count = (uint16_t)compile_queue_count(p, o);
	k.max_elems = c->max_elements;
	k.plan->comment = compile_table_comment(p->file, p->sha256);
	/* base chains first, so listings read top-down */
	if (!k.plan->comment || !plan_add_chain(k.plan, "input", PH_INPUT) ||
	    !plan_add_chain(k.plan, "output", PH_OUTPUT) ||
	    (p->forward_covered && !plan_add_chain(k.plan, "forward", PH_FORWARD)))
		goto fail;
	binding_set(&k);
	ipsec_chains(&k);
	compile_rule_chains(&k);
	limit_chains(&k);
	for (int d = 0; d < DIR_COUNT && !k.oom; d++) {
		const char *base = d == DIR_IN ? "input" : d == DIR_OUT ? "output" : "forward";

		/* no forward word in the policy: no forward chain, the host
		 * forwards as it did before (sagate.json(5), FORWARDED TRAFFIC) */
		if (d == DIR_FWD && !p->forward_covered)
			continue;
		plan_find_chain(k.plan, base)->policy_drop = p->defaults[d] == ACT_BLOCK;
		if (d == DIR_FWD)
			forward_head(&k, plan_find_chain(k.plan, base));
		else
			base_head(&k, plan_find_chain(k.plan, base), (enum direction)d);
		if (c->nzones[d])
			zone_dispatch(&k, (enum direction)d, base);
		for (int f = 0; f < AF_COUNT && !k.oom; f++)
			add_lookups(&k, (enum direction)d, (enum addr_family)f,
				    plan_find_chain(k.plan, base));
		if (!k.oom)
			compile_default_log(&k, (enum direction)d, base);
	}
	if (k.oom || !k.plan->comment)
		goto fail;
	if (k.max_elems && k.nelems > k.max_elems)
		k.plan->elems_needed = k.nelems;
	free(k.verdict_chain);
	return k.plan;
fail:
	free(k.verdict_chain);
	plan_free(k.plan);
	return NULL;
}

bool compile_over_limit(const struct policy *p, const struct classes *c,
			const struct plan *plan, struct diag_list *d)
{
	size_t est;

	if (plan && plan->elems_needed) {
		diag_add(d, DIAG_ERROR, p->file, "", NULL,
			 "the policy needs %zu kernel set elements, more than its limit of %zu; \"max-elements\" raises the limit",
			 plan->elems_needed, p->max_elements);
		return true;
	}
	if (!c->over_limit)
		return false;
	est = classify_estimate(p);
	if (est > p->max_elements)	/* the classifier did not start */
		diag_add(d, DIAG_ERROR, p->file, "", NULL,
			 "the rules name %zu combinations of addresses and ports, about as many kernel set elements, more than the policy's limit of %zu; \"max-elements\" raises the limit",
			 est, p->max_elements);
	else
		diag_add(d, DIAG_ERROR, p->file, "", NULL,
			 "the policy needs more than the %zu kernel set elements its limit allows; \"max-elements\" raises the limit",
			 p->max_elements);
	return true;
}
