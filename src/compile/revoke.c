#include "config.h"

#include "plan_sim.h"
#include "revoke.h"

#include <string.h>

static bool is_local(const struct addr_range *locals, size_t n, enum addr_family fam, u128 a)
{
	for (size_t i = 0; i < n; i++)
		if (locals[i].fam == fam && a >= locals[i].lo && a <= locals[i].hi)
			return true;
	return false;
}

/* Protocols whose ports the policy matches (model.h: tcp, udp, sctp). */
static bool has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132;
}

/* Conntrack tells neither the interface a flow came by nor (here) its
 * ICMP type: judge it on each interface the direction's rules name and
 * on any other, and for ICMP as each type, and keep the first way that
 * admits it; when none does, *sim is the plain way's (any other
 * interface, the type its key holds). */
static int sim_some_way(const struct plan *p, const struct policy *pol,
			struct plan_sim_pkt *k, struct plan_sim_result *sim)
{
	unsigned proto = KEY_PROTO(k->key.key);
	bool icmp = proto == 1 || proto == 58;
	struct plan_sim_pkt t = *k;
	struct plan_sim_result r;

	if (plan_sim_run(p, k, sim, NULL) < 0)
		return -1;
	for (size_t i = 0; i <= pol->nrules && sim->verdict == PV_DROP; i++) {
		const struct rule *ru = i ? &pol->rules[i - 1] : NULL;

		if (ru && ru->dir != k->key.dir)
			continue;
		for (size_t j = 0; j < (ru ? ru->nifaces : 1) && sim->verdict == PV_DROP; j++) {
			t.key.iface = ru ? ru->ifaces[j] : NULL;
			for (unsigned ty = 0; ty <= (icmp ? 255u : 0u); ty++) {
				if (icmp)
					t.key.key = KEY(proto, ty);
				if (plan_sim_run(p, &t, &r, NULL) < 0)
					return -1;
				if (r.verdict != PV_DROP) {
					*sim = r;
					break;
				}
			}
		}
	}
	return 0;
}

bool revoke_judge(const struct plan *p, const struct policy *pol,
		  const struct addr_range *locals, size_t nlocals,
		  const struct revoke_flow *f, struct revoke_result *res)
{
	bool src_local = is_local(locals, nlocals, f->fam, f->src);
	bool dst_local = is_local(locals, nlocals, f->fam, f->dst);
	bool bound = (f->mark & PLAN_CT_MARK_IPSEC) != 0;
	struct plan_sim_pkt k = { 0 };
	struct plan_sim_result sim;

	memset(res, 0, sizeof(*res));
	res->rule = CLASS_NONE;
	/* both ends here: over lo, accepted before any rule; neither:
	 * routed through, which the table does not hook */
	if (src_local == dst_local) {
		res->verdict = REVOKE_NOT_OURS;
		return false;
	}
	k.key.dir = dst_local ? DIR_IN : DIR_OUT;
	k.key.fam = f->fam;
	k.key.peer = dst_local ? f->src : f->dst;
	k.key.local = dst_local ? f->dst : f->src;
	k.key.key = KEY(f->proto, has_ports(f->proto) ? f->dport : 0);
	/* a bound flow is held to IPsec and to its reqid (the mark's low
	 * bits, as the table set them) by the kernel: its packets come
	 * with a secpath of that reqid, or not at all */
	k.secpath = bound;
	k.reqid_known = bound;
	k.reqid = f->mark & ~PLAN_CT_MARK_IPSEC;
	res->key = k.key;
	if (sim_some_way(p, pol, &k, &sim) < 0) {
		res->verdict = REVOKE_UNKNOWN;
		return false;
	}
	res->rule = sim.rule;
	/* queue: sagated judges a new flow by its SA; one the table bound
	 * already passed it, and stays held to that binding */
	if (sim.verdict != PV_DROP) {
		res->verdict = REVOKE_KEEP;
		return false;
	}
	if (sim.rule < pol->nrules && pol->rules[sim.rule].action == ACT_REQUIRE_IPSEC)
		res->verdict = bound ? REVOKE_OTHER_SA : REVOKE_CLEARTEXT;
	else
		res->verdict = REVOKE_BLOCKED;
	return true;
}

const char *revoke_verdict_name(enum revoke_verdict v)
{
	switch (v) {
	case REVOKE_KEEP: return "still admitted";
	case REVOKE_NOT_OURS: return "not decided by the policy";
	case REVOKE_BLOCKED: return "blocked";
	case REVOKE_CLEARTEXT: return "cleartext, now require-ipsec";
	case REVOKE_OTHER_SA: return "bound to an SA the rule no longer accepts";
	case REVOKE_UNKNOWN: return "undecided";
	}
	return "?";
}
