#include "config.h"

#include "plan_print.h"
#include "plan_sim.h"

#include <stdio.h>
#include <string.h>

#define SIM_MAX_DEPTH 16

/* The packet's value for one key field, or false when the field does
 * not apply (another family). */
static bool field_value(enum plan_field f, const struct plan_sim_pkt *k, u128 *v)
{
	bool in = k->key.dir != DIR_OUT;	/* forward: peer is the source too */

	switch (f) {
	case PF_SADDR4:
	case PF_SADDR6:
		*v = in ? k->key.peer : k->key.local;
		return (f == PF_SADDR4) == (k->key.fam == AF4);
	case PF_DADDR4:
	case PF_DADDR6:
		*v = in ? k->key.local : k->key.peer;
		return (f == PF_DADDR4) == (k->key.fam == AF4);
	case PF_L4PROTO:
		*v = KEY_PROTO(k->key.key);
		return true;
	case PF_DPORT:
		*v = KEY_PORT(k->key.key);
		return true;
	case PF_IIFNAME:	/* its interface, when it is one a rule names */
	case PF_OIFNAME:
		*v = k->key.iface ? plan_ifname_value(k->key.iface) : 0;
		return k->key.iface != NULL;
	case PF_ICMP_TYPE:	/* an ICMP packet's type is its key's port half */
	case PF_ICMPV6_TYPE:
		*v = KEY_PORT(k->key.key);
		return KEY_PROTO(k->key.key) == (f == PF_ICMP_TYPE ? 1 : 58);
	}
	return false;
}

static const struct plan_elem *set_lookup(const struct plan_set *s, const struct plan_sim_pkt *k)
{
	for (size_t e = 0; e < s->nelems; e++) {
		size_t f;

		for (f = 0; f < s->nfields; f++) {
			u128 v;

			if (!field_value(s->fields[f], k, &v) || v < s->elems[e].lo[f] ||
			    v > s->elems[e].hi[f])
				break;
		}
		if (f == s->nfields)
			return &s->elems[e];
	}
	return NULL;
}

/* Does one match statement hold for the first packet of a new flow? */
static bool stmt_holds(const struct plan_stmt *s, const struct plan_sim_pkt *k,
		       struct plan_sim_result *res)
{
	uint8_t proto = KEY_PROTO(k->key.key);

	switch (s->kind) {
	case PS_IIF_LO:
	case PS_OIF_LO:
	case PS_CT_MARK_SET_BIT:	/* a new flow carries no mark yet */
	case PS_ICMPV6_ND:		/* explain knows no ICMP types */
		return false;
	case PS_CT_STATE:
		return (s->arg & PLAN_CT_NEW) != 0;
	case PS_CT_DIRECTION:	/* the first packet goes the original way */
		return s->arg != PLAN_CT_REPLY;
	case PS_SECPATH_MISSING:
	case PS_RT_IPSEC_MISSING:
		return !k->secpath;
	case PS_IPSEC_REQID_NE:
		if (!k->reqid_known) {
			res->reqid_unknown = true;
			return false;
		}
		return k->reqid != s->arg;
	case PS_L4PROTO_PORTS:
		return proto == 6 || proto == 17 || proto == 132;
	case PS_L4PROTO_IS:
		return proto == s->arg;
	case PS_METER_OVER:	/* explained as a source under its limit */
	case PS_LIMIT:		/* and a log under its rate */
		return false;
	case PS_ATTEMPT_UPDATE:	/* loading an address checks the family */
		return strcmp(s->str, k->key.fam == AF4 ? PLAN_ATTEMPTS4 : PLAN_ATTEMPTS6) == 0;
	default:
		return true;	/* actions: counter, log, limit, marks; vmap apart */
	}
}

/* Text of a rule's match statements, enough to recognise it. */
static void rule_text(char *buf, size_t len, const struct plan_rule *r)
{
	static const char *const names[] = {
		[PS_IIF_LO] = "iif lo", [PS_OIF_LO] = "oif lo", [PS_CT_STATE] = "ct state",
		[PS_CT_MARK_SET_BIT] = "ct mark bit", [PS_SECPATH_MISSING] = "meta ipsec missing",
		[PS_RT_IPSEC_MISSING] = "rt ipsec missing", [PS_IPSEC_REQID_NE] = "ipsec in reqid !=",
		[PS_ICMPV6_ND] = "icmpv6 nd", [PS_L4PROTO_PORTS] = "l4proto {tcp,udp,sctp}",
		[PS_L4PROTO_IS] = "l4proto icmp",
		[PS_VMAP] = "vmap", [PS_COUNTER] = "counter", [PS_LIMIT] = "limit rate over",
		[PS_LOG] = "log", [PS_CT_MARK_OR] = "ct mark set ct mark |",
		[PS_PRIORITY_SET_SPI] = "meta priority set ipsec in spi",
		[PS_CT_MARK_SET_REQID] = "ct mark set ipsec in reqid",
		[PS_BIND_ADD] = "add @" PLAN_BOUND_SET " { ct mark . ipsec in reqid }",
		[PS_BIND_MISSING] = ("ct mark . ipsec in reqid != @" PLAN_BOUND_SET),
		[PS_ATTEMPT_UPDATE] = "update", [PS_CT_DIRECTION] = "ct direction",
		[PS_METER_OVER] = "limit per source",
	};
	/* the same two, for the SA the flow leaves through */
	static const char *const names_out[] = {
		[PS_CT_MARK_SET_REQID] = "ct mark set ipsec out reqid",
		[PS_BIND_ADD] = "add @" PLAN_BOUND_SET " { ct mark . ipsec out reqid }",
	};
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->nstmts && used < len; i++) {
		const struct plan_stmt *s = &r->stmts[i];
		bool out = (s->kind == PS_CT_MARK_SET_REQID || s->kind == PS_BIND_ADD) &&
			   (s->arg & PLAN_DIR_OUT);

		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? " " : "",
					 out ? names_out[s->kind] :
					 (unsigned)s->kind < sizeof(names) / sizeof(names[0]) &&
					 names[s->kind] ? names[s->kind] : "?");
		if (used < len && (s->kind == PS_VMAP || s->kind == PS_ATTEMPT_UPDATE ||
				   s->kind == PS_IPSEC_REQID_NE))
			used += (size_t)(s->kind != PS_IPSEC_REQID_NE ?
				 snprintf(buf + used, len - used, " @%s", s->str) :
				 snprintf(buf + used, len - used, " %u", s->arg));
		else if (used < len && s->kind == PS_CT_MARK_OR)
			used += (size_t)snprintf(buf + used, len - used, " 0x%08x", s->arg);
	}
	if (r->comment && used < len)
		snprintf(buf + used, len - used, "%scomment \"%s\"", used ? " " : "", r->comment);
}

static void step(json_t *steps, const char *chain, size_t idx, const char *match,
		 const struct plan_verdict *v)
{
	char vt[96];

	if (!steps)
		return;
	plan_format_verdict(vt, sizeof(vt), v);
	json_array_append_new(steps, json_pack("{s:s, s:I, s:s, s:s}", "chain", chain,
					       "rule", (json_int_t)idx, "match", match,
					       "verdict", *vt ? vt : "continue"));
}

/* One rule: does it match, and with which verdict (a map's or its own)? */
static bool rule_matches(const struct plan *p, const struct plan_rule *r,
			 const struct plan_sim_pkt *k, struct plan_sim_result *res,
			 struct plan_verdict *v, char *txt, size_t len)
{
	*v = r->verdict;
	rule_text(txt, len, r);
	for (size_t i = 0; i < r->nstmts; i++) {
		const struct plan_stmt *s = &r->stmts[i];
		const struct plan_set *set;
		const struct plan_elem *e;
		char key[256];

		if (s->kind != PS_VMAP) {
			if (!stmt_holds(s, k, res))
				return false;
			continue;
		}
		if (!(set = plan_set_named(p, s->str)) || !(e = set_lookup(set, k)))
			return false;
		plan_format_elem_key(key, sizeof(key), set, e);
		snprintf(txt, len, "map %s element %s", set->name, key);
		*v = e->verdict;
		res->rule = e->rule;
	}
	return true;
}

/* Walk chain c; 1 with res->verdict set when a verdict ends the walk,
 * 0 when the chain ran out (return to the caller), -1 on a loop. */
static int walk(const struct plan *p, const struct plan_chain *c, const struct plan_sim_pkt *k,
		struct plan_sim_result *res, json_t *steps, int depth)
{
	for (size_t i = 0; i < c->nrules; i++) {
		struct plan_verdict v;
		char txt[512];
		int rc;

		if (!rule_matches(p, &c->rules[i], k, res, &v, txt, sizeof(txt)))
			continue;
		step(steps, c->name, i, txt, &v);
		switch (v.kind) {
		case PV_NONE:
			continue;
		case PV_ACCEPT:
		case PV_DROP:
		case PV_QUEUE:
			res->verdict = v.kind;
			res->queue = v.queue;
			return 1;
		case PV_GOTO:
		case PV_JUMP:
			if (depth >= SIM_MAX_DEPTH || !v.chain || !plan_chain_named(p, v.chain))
				return -1;
			rc = walk(p, plan_chain_named(p, v.chain), k, res, steps, depth + 1);
			if (rc != 0 || v.kind == PV_GOTO)
				return rc;	/* goto: running out returns past this chain */
			continue;
		}
	}
	return 0;
}

int plan_sim_run(const struct plan *p, const struct plan_sim_pkt *k,
		 struct plan_sim_result *res, json_t *steps)
{
	enum plan_hook hook = k->key.dir == DIR_IN ? PH_INPUT :
			      k->key.dir == DIR_OUT ? PH_OUTPUT : PH_FORWARD;

	memset(res, 0, sizeof(*res));
	res->rule = CLASS_NONE;
	for (size_t i = 0; i < p->nchains; i++) {
		const struct plan_chain *c = &p->chains[i];
		int rc;

		if (c->hook != hook)
			continue;
		rc = walk(p, c, k, res, steps, 0);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			res->by_policy = true;
			res->verdict = c->policy_drop ? PV_DROP : PV_ACCEPT;
			if (steps)
				json_array_append_new(steps, json_pack("{s:s, s:s, s:s}", "chain",
					c->name, "match", "end of chain: its policy",
					"verdict", c->policy_drop ? "drop" : "accept"));
		}
		return 0;
	}
	res->verdict = PV_ACCEPT;	/* no base chain: nothing filters */
	res->by_policy = true;
	return 0;
}

const char *plan_sim_verdict_name(enum plan_verdict_kind v)
{
	switch (v) {
	case PV_ACCEPT: return "accept";
	case PV_DROP: return "drop";
	case PV_QUEUE: return "queue";
	default: return "continue";
	}
}
