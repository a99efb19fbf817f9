#include "config.h"

#include "audit.h"
#include "findings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Is every interval of b inside one interval of a (a is merged)? */
static bool addr_subset(const struct addr_set *a, const struct addr_set *b)
{
	for (size_t j = 0; j < b->n; j++) {
		bool in = false;

		for (size_t i = 0; i < a->n && !in; i++)
			in = a->v[i].fam == b->v[j].fam && a->v[i].lo <= b->v[j].lo &&
			     b->v[j].hi <= a->v[i].hi;
		if (!in)
			return false;
	}
	return true;
}

static bool keys_subset(const struct rule *a, const struct rule *b)
{
	for (size_t j = 0; j < b->nkeys; j++) {
		bool in = false;

		for (size_t i = 0; i < a->nkeys && !in; i++)
			in = a->keys[i].lo <= b->keys[j].lo && b->keys[j].hi <= a->keys[i].hi;
		if (!in)
			return false;
	}
	return true;
}

/* An earlier rule a that matches everything b matches, deciding otherwise. */
static bool contradicts(const struct rule *a, const struct rule *b)
{
	return a->dir == b->dir && a->action != b->action && b->peers.n && b->nkeys &&
	       addr_subset(&a->peers, &b->peers) && addr_subset(&a->local, &b->local) &&
	       keys_subset(a, b);
}

static void contradiction(const struct rule *a, const struct rule *b, struct audit_list *out)
{
	audit_add(out, AUDIT_ERROR, "contradiction", b->name, NULL,
		  "%s: rule \"%s\" (%s) says %s for the same peers and ports, and comes first: \"%s\" never decides anything",
		  b->path, a->name, a->path, action_name(a->action), b->name);
}

/* Flags the rules found contradicting.  Only a rule that decides nothing
 * (no box) can be contradicted, and the earlier rule that covers it is
 * among those the classifier found shadowing it; without that analysis,
 * every earlier rule is a candidate. */
static void contradictions(const struct policy *p, const struct classes *c, bool *dead,
			   struct audit_list *out)
{
	for (size_t j = 0; j < p->nrules; j++) {
		const struct class_rule_info *in = &c->info[j];

		if (in->boxes)
			continue;
		for (int k = 0; c->analysed && k < 3 && !dead[j]; k++) {
			uint32_t i = in->shadowed_by[k];

			if (i != CLASS_NONE && i < j && contradicts(&p->rules[i], &p->rules[j])) {
				dead[j] = true;
				contradiction(&p->rules[i], &p->rules[j], out);
			}
		}
		for (size_t i = 0; !c->analysed && i < j && !dead[j]; i++)
			if (contradicts(&p->rules[i], &p->rules[j])) {
				dead[j] = true;
				contradiction(&p->rules[i], &p->rules[j], out);
			}
	}
}

/* A peer interval wider than a /16 (IPv4) or a /32 (IPv6). */
static bool wide(const struct addr_set *s, char *buf, size_t len)
{
	for (size_t i = 0; i < s->n; i++) {
		u128 size = s->v[i].hi - s->v[i].lo;	/* one less than the count */

		if ((s->v[i].fam == AF4 && size >= ((u128)1 << 16)) ||
		    (s->v[i].fam == AF6 && size >= ((u128)1 << 96))) {
			addr_range_format(&s->v[i], buf, len);
			return true;
		}
	}
	return false;
}

/* A service key range with ports, other than IKE's own. */
static bool port_key(const struct key_range *k)
{
	uint8_t lo = KEY_PROTO(k->lo), hi = KEY_PROTO(k->hi);
	bool ike = (k->lo == KEY(17, 500) || k->lo == KEY(17, 4500)) && k->lo == k->hi;

	if (ike)
		return false;
	for (unsigned pr = lo; pr <= hi; pr++)
		if (pr == 6 || pr == 17 || pr == 132)
			return true;
	return false;
}

static void wide_permits(const struct policy *p, struct audit_list *out)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		char range[128];
		bool ports = false;

		if (r->action != ACT_PERMIT || r->dir == DIR_OUT || !wide(&r->peers, range, sizeof(range)))
			continue;
		for (size_t k = 0; k < r->nkeys && !ports; k++)
			ports = port_key(&r->keys[k]);
		if (ports)
			audit_add(out, AUDIT_WARNING, "cleartext-wide", r->name, NULL,
				  "%s: permits ports in cleartext from %s (wider than /16 or ::/32); consider require-ipsec or narrower peers",
				  r->path, r->peers.any ? "anyone" : range);
	}
}

static const char *finding_kind(const char *msg)
{
	if (strncmp(msg, "rule can never match", 20) == 0)
		return "shadowed";
	if (strncmp(msg, "rule is redundant", 17) == 0)
		return "redundant";
	return "policy-warning";
}

static bool is_dead(const struct policy *p, const bool *dead, const char *name)
{
	for (size_t i = 0; name && i < p->nrules; i++)
		if (dead[i] && strcmp(p->rules[i].name, name) == 0)
			return true;
	return false;
}

void audit_policy(const struct policy *p, const struct classes *c, enum plan_mode mode,
		  struct audit_list *out)
{
	struct diag_list d;
	bool *dead = calloc(p->nrules + 1, sizeof(*dead));

	if (!dead) {
		out->oom = true;
		return;
	}
	diag_list_init(&d);
	contradictions(p, c, dead, out);
	findings_add(p, c, mode, &d);
	for (size_t i = 0; i < d.count; i++) {
		const struct diag *x = &d.items[i];
		const char *kind = finding_kind(x->message ? x->message : "");

		if (strcmp(kind, "shadowed") == 0 && is_dead(p, dead, x->rule))
			continue;	/* said as a contradiction already */
		audit_add(out, AUDIT_WARNING, kind, x->rule, NULL, "%s%s%s",
			  x->path && *x->path ? x->path : "", x->path && *x->path ? ": " : "",
			  x->message ? x->message : "out of memory");
	}
	wide_permits(p, out);
	diag_list_fini(&d);
	free(dead);
}

/* The SPD entries of direction dir covering peer: required / optional. */
static void spd_cover(const struct xfrm_spd_list *spd, uint8_t dir, enum addr_family fam,
		      u128 peer, bool *req, bool *opt)
{
	*req = *opt = false;
	for (size_t i = 0; i < spd->n; i++) {
		const struct xfrm_spd *e = &spd->v[i];

		if (e->dir != dir || e->block || !e->ntmpl || !xfrm_spd_covers_peer(e, fam, peer))
			continue;
		if (xfrm_spd_requires(e))
			*req = true;
		else
			*opt = true;
	}
}

void audit_spd(const struct policy *p, const struct xfrm_spd_list *spd, struct audit_list *out)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		uint8_t dir = r->dir == DIR_IN ? XFRM_SPD_IN :
			      r->dir == DIR_FWD ? XFRM_SPD_FWD : XFRM_SPD_OUT;

		if (r->action != ACT_REQUIRE_IPSEC)
			continue;
		for (size_t k = 0; k < r->peers.n; k++) {
			const struct addr_range *a = &r->peers.v[k];
			char peer[128];
			bool req, opt, req2, opt2;

			/* its first and last address stand for the interval */
			spd_cover(spd, dir, a->fam, a->lo, &req, &opt);
			spd_cover(spd, dir, a->fam, a->hi, &req2, &opt2);
			req = req && req2;
			opt = (opt || req) && (opt2 || req2);
			addr_range_format(a, peer, sizeof(peer));
			if (!req && !opt)
				audit_add(out, AUDIT_WARNING, "spd-missing", r->name, NULL,
					  "no IPsec policy (SPD, dir %s) covers peer %s: no SA protects its traffic, so the rule drops all of it",
					  xfrm_spd_dir_name(dir), peer);
			else if (!req)
				audit_add(out, AUDIT_WARNING, "spd-optional", r->name, NULL,
					  "peer %s is covered only by IPsec policies at \"level use\" (dir %s): cleartext passes the SPD, only sagate stops it",
					  peer, xfrm_spd_dir_name(dir));
		}
	}
}
