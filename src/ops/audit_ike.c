/* audit_ike: a policy's require-ipsec rules against what strongSwan's
 * charon has loaded (its connections and children) and negotiated (the
 * CHILD_SAs that are up).
 *
 * A child "carries" a rule's traffic when its traffic selectors meet the
 * rule's peers and ports on the right sides; it carries it acceptably
 * when its mode is one the rule admits (transport, or tunnel from one of
 * the rule's gateways).  Peers that no child carries acceptably can never
 * reach the rule; a child that carries the traffic in a refused mode
 * negotiates SAs sagated drops.  charon's list-conns does not show a
 * child's ESP proposals, so algorithms are judged on the SAs that are up,
 * with the same check sagated applies to their kernel SAs.
 */
#include "config.h"

#include "audit.h"
#include "sa_match.h"

#include <stdlib.h>
#include <string.h>

#define LIST_MAX 4		/* uncovered peer ranges named in one finding */

/* Concrete sets: "any" expanded into both families' whole ranges. */
static int set_concrete(const struct addr_set *in, struct addr_set *out)
{
	*out = (struct addr_set){ 0 };
	if (in->any || !in->n) {
		if (addr_set_push(out, AF4, 0, addr_max(AF4)) < 0 || addr_set_push(out, AF6, 0, addr_max(AF6)) < 0)
			return -1;
		return 0;
	}
	for (size_t i = 0; i < in->n; i++)
		if (addr_set_push(out, in->v[i].fam, in->v[i].lo, in->v[i].hi) < 0)
			return -1;
	return addr_set_normalize(out);
}

/* a ∩ b, both concrete and normalised, appended to out. */
static int set_meet(const struct addr_set *a, const struct addr_set *b, struct addr_set *out)
{
	for (size_t i = 0; i < a->n; i++)
		for (size_t j = 0; j < b->n; j++) {
			const struct addr_range *x = &a->v[i], *y = &b->v[j];
			u128 lo = x->lo > y->lo ? x->lo : y->lo, hi = x->hi < y->hi ? x->hi : y->hi;

			if (x->fam == y->fam && lo <= hi && addr_set_push(out, x->fam, lo, hi) < 0)
				return -1;
		}
	return 0;
}

/* a \ b, both concrete and normalised, into out (normalised). */
static int set_minus(const struct addr_set *a, const struct addr_set *b, struct addr_set *out)
{
	*out = (struct addr_set){ 0 };
	for (size_t i = 0; i < a->n; i++) {
		enum addr_family fam = a->v[i].fam;
		u128 lo = a->v[i].lo, hi = a->v[i].hi;
		bool left = true;

		for (size_t j = 0; j < b->n && left; j++) {
			const struct addr_range *y = &b->v[j];

			if (y->fam != fam || y->hi < lo || y->lo > hi)
				continue;
			if (y->lo > lo && addr_set_push(out, fam, lo, y->lo - 1) < 0)
				return -1;
			if (y->hi >= hi)
				left = false;
			else
				lo = y->hi + 1;
		}
		if (left && addr_set_push(out, fam, lo, hi) < 0)
			return -1;
	}
	return addr_set_normalize(out);
}

static bool set_within(const struct addr_set *a, const struct addr_set *b)
{
	struct addr_set rest;
	bool in;

	if (set_minus(a, b, &rest) < 0)
		return false;
	in = rest.n == 0;
	addr_set_fini(&rest);
	return in;
}

/* The side of a child that holds the rule's peers, and the side whose
 * ports are the rule's: inbound and forwarded rules key on this side's
 * (destination) port, outbound ones on the peer's. */
static bool keys_on_remote(const struct rule *r)
{
	return r->dir == DIR_OUT;
}

static bool child_meets_keys(const struct rule *r, const struct ike_child_cfg *ch)
{
	const struct ike_ts_list *l = keys_on_remote(r) ? &ch->remote : &ch->local;

	for (size_t t = 0; t < l->n; t++)
		for (size_t k = 0; k < r->nkeys || (!r->nkeys && k == 0); k++) {
			uint32_t lo = r->nkeys ? r->keys[k].lo : 0, hi = r->nkeys ? r->keys[k].hi : KEY_MAX;

			if (ike_ts_meets_keys(&l->v[t], lo, hi))
				return true;
		}
	return false;
}

/* The rule's peers this child's remote selectors name, into out. */
static int child_peers(const struct ike_conn_cfg *c, const struct ike_child_cfg *ch,
		       const struct addr_set *peers, struct addr_set *out)
{
	struct addr_set ts = { 0 }, cts;
	int rc = 0;

	*out = (struct addr_set){ 0 };
	for (size_t t = 0; t < ch->remote.n && rc == 0; t++)
		rc = ike_ts_addrs(&ch->remote.v[t], c, true, &ts);
	if (rc == 0 && (rc = set_concrete(&ts, &cts)) == 0) {
		rc = set_meet(&cts, peers, out);
		addr_set_fini(&cts);
	}
	addr_set_fini(&ts);
	return rc < 0 ? -1 : addr_set_normalize(out);
}

/* Why the rule refuses the child's mode, or NULL when it admits it;
 * *inner narrows the peers a tunnel may carry to its gateway's. */
static const char *mode_refused(const struct rule *r, const struct ike_conn_cfg *c,
				const struct ike_child_cfg *ch, const struct addr_set **inner)
{
	struct addr_set remote;

	*inner = NULL;
	if (!ike_mode_tunnel(ch->mode))
		return r->ipsec.mode == MODE_TUNNEL ? "it requires tunnel mode" : NULL;
	if (r->ipsec.mode == MODE_TRANSPORT)
		return "it requires transport mode";
	if (set_concrete(&c->remote, &remote) < 0)
		return "out of memory";
	for (size_t g = 0; g < r->ipsec.ngateways; g++) {
		struct addr_set gw;

		if (set_concrete(&r->ipsec.gateways[g].gateway, &gw) < 0)
			break;
		if (!c->remote.any && c->remote.n && set_within(&remote, &gw)) {
			addr_set_fini(&gw);
			addr_set_fini(&remote);
			*inner = &r->ipsec.gateways[g].inner;
			return NULL;
		}
		addr_set_fini(&gw);
	}
	addr_set_fini(&remote);
	return "its remote addresses are not all gateways the rule lists, so a tunnel from them is refused";
}

static void format_ranges(const struct addr_set *s, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n && i < LIST_MAX; i++) {
		char one[128];

		addr_range_format(&s->v[i], one, sizeof(one));
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
					 i ? ", " : "", one);
	}
	if (s->n > LIST_MAX && used < len)
		snprintf(buf + used, len - used, " and %zu more", s->n - LIST_MAX);
}

/* One child against one rule: adds what it carries acceptably to
 * *covered, and an "ike-mode" finding when it carries in a refused mode. */
static int audit_child(const struct rule *r, const struct ike_conn_cfg *c,
		       const struct ike_child_cfg *ch, const struct addr_set *peers,
		       struct addr_set *covered, struct audit_list *out)
{
	const struct addr_set *inner;
	struct addr_set carried, cinner;
	const char *why;
	char obj[256];
	int rc = 0;

	if (!child_meets_keys(r, ch))
		return 0;
	if (child_peers(c, ch, peers, &carried) < 0)
		return -1;
	if (!carried.n) {
		addr_set_fini(&carried);
		return 0;
	}
	snprintf(obj, sizeof(obj), "connection %s child %s", c->name, ch->name);
	if ((why = mode_refused(r, c, ch, &inner))) {
		char who[512];

		format_ranges(&carried, who, sizeof(who));
		audit_add(out, AUDIT_WARNING, "ike-mode", r->name, obj,
			  "negotiates %s SAs for traffic of peers %s, which rule \"%s\" refuses: %s",
			  ch->mode ? ch->mode : "?", who, r->name, why);
	} else if (inner) {
		if ((rc = set_concrete(inner, &cinner)) == 0) {
			rc = set_meet(&carried, &cinner, covered);
			addr_set_fini(&cinner);
		}
	} else {
		rc = set_meet(&carried, peers, covered);
	}
	addr_set_fini(&carried);
	return rc;
}

static void audit_rule(const struct rule *r, const struct ike_view *v, struct audit_list *out)
{
	struct addr_set peers, covered = { 0 }, rest;
	char who[512];

	if (set_concrete(&r->peers, &peers) < 0) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < v->nconns; i++)
		for (size_t j = 0; j < v->conns[i].nchildren; j++)
			if (audit_child(r, &v->conns[i], &v->conns[i].children[j], &peers,
					&covered, out) < 0)
				out->oom = true;
	if (addr_set_normalize(&covered) < 0 || set_minus(&peers, &covered, &rest) < 0) {
		out->oom = true;
	} else {
		if (rest.n) {
			format_ranges(&rest, who, sizeof(who));
			audit_add(out, AUDIT_WARNING, "ike-uncovered", r->name, NULL,
				  "no connection loaded in charon has a child that carries this rule's traffic (%s) from peers %s in a mode it admits: no SA can ever satisfy it for them",
				  direction_name(r->dir), who);
		}
		addr_set_fini(&rest);
	}
	addr_set_fini(&covered);
	addr_set_fini(&peers);
}

/* The CHILD_SAs that are up, checked as sagated checks their kernel SAs
 * against each inbound rule whose peers they come from. */
struct sa_walk {
	const struct policy *p;
	const struct ike_child_sa *cs;
	uint64_t now;
	struct audit_list *out;
};

static bool sa_from_peers(const struct rule *r, const struct xfrm_sa *sa)
{
	if (sa->mode != XFRM_SA_TRANSPORT)
		return true;	/* a tunnel's inner sources are its selector's */
	return r->peers.any || addr_set_contains(&r->peers, sa->fam, sa->saddr);
}

static void check_kernel_sa(const struct xfrm_sa *sa, void *arg)
{
	const struct sa_walk *w = arg;
	char obj[256], text[512];

	if (sa->spi != w->cs->spi_in || sa->dir == 2)
		return;
	for (size_t j = 0; j < w->p->nrules; j++) {
		const struct rule *r = &w->p->rules[j];
		enum decide_reason why;

		if (r->action != ACT_REQUIRE_IPSEC || r->dir != DIR_IN || !sa_from_peers(r, sa))
			continue;
		why = sa_match_rule(r, sa, w->now, NULL);
		/* not this rule's SA at all: another rule's peer or selector */
		if (why == DECIDE_ACCEPT_OK || why == DECIDE_DROP_SA_PEER ||
		    why == DECIDE_DROP_TUNNEL_GATEWAY || why == DECIDE_DROP_SELECTOR)
			continue;
		sa_match_why(text, sizeof(text), r, sa, why, w->now);
		snprintf(obj, sizeof(obj), "connection %s child %s SPI 0x%08x",
			 w->cs->conn ? w->cs->conn : "?", w->cs->child ? w->cs->child : "?",
			 w->cs->spi_in);
		audit_add(w->out, AUDIT_WARNING, "ike-sa-refused", r->name, obj,
			  "charon negotiated an SA for this rule's peers that sagated drops: %s", text);
	}
}

void audit_ike(const struct policy *p, const struct ike_view *v, const struct xfrm_cache *sas,
	       uint64_t now, struct audit_list *out)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].action == ACT_REQUIRE_IPSEC)
			audit_rule(&p->rules[i], v, out);
	for (size_t i = 0; sas && i < v->nsas; i++) {
		struct sa_walk w = { p, &v->sas[i], now, out };

		xfrm_cache_foreach(sas, check_kernel_sa, &w);
	}
}
