/* Rules that name only one family's addresses of a host group that has
 * both: the other family's traffic of those hosts falls to a later rule
 * or the default.  Rules keep addresses, not group names: the groups are
 * the policy's (struct policy groups), for the applied policy those its
 * bundle recorded at apply time.  No file is read here: the policy file
 * the applied one came from may have been edited since. */
#include "config.h"

#include "audit.h"

#include <stdlib.h>
#include <string.h>

static size_t family_count(const struct addr_set *s, enum addr_family f)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->v[i].fam == f;
	return n;
}

/* Are all of the rule's intervals of family f inside the group? */
static bool inside(const struct addr_set *rule, const struct addr_set *grp, enum addr_family f)
{
	for (size_t j = 0; j < rule->n; j++) {
		bool in = false;

		if (rule->v[j].fam != f)
			continue;
		for (size_t i = 0; i < grp->n && !in; i++)
			in = grp->v[i].fam == f && grp->v[i].lo <= rule->v[j].lo &&
			     rule->v[j].hi <= grp->v[i].hi;
		if (!in)
			return false;
	}
	return true;
}

/* Rules of only ICMP (a family's own protocol) are exempt. */
static bool icmp_only(const struct rule *r)
{
	for (size_t i = 0; i < r->nkeys; i++)
		if (KEY_PROTO(r->keys[i].lo) != KEY_PROTO(r->keys[i].hi) ||
		    (KEY_PROTO(r->keys[i].lo) != 1 && KEY_PROTO(r->keys[i].lo) != 58))
			return false;
	return r->nkeys > 0;
}

static void check_rule(const struct rule *r, const struct host_group *const *g, size_t ng,
		       struct audit_list *out)
{
	enum addr_family has = family_count(&r->peers, AF4) ? AF4 : AF6;
	const struct host_group *best = NULL;
	char other[128] = "";
	size_t other_n = 0;

	if (r->peers.any || !r->peers.n || family_count(&r->peers, has) != r->peers.n ||
	    icmp_only(r))
		return;
	for (size_t i = 0; i < ng; i++)
		if (family_count(&g[i]->set, !has) && inside(&r->peers, &g[i]->set, has) &&
		    (!best || family_count(&g[i]->set, has) < family_count(&best->set, has)))
			best = g[i];
	if (!best)
		return;
	other_n = family_count(&best->set, !has);
	for (size_t i = 0; i < best->set.n && !*other; i++)
		if (best->set.v[i].fam != has)
			addr_range_format(&best->set.v[i], other, sizeof(other));
	audit_add(out, AUDIT_WARNING, "family-counterpart", r->name, NULL,
		  "%s: names only the %s addresses of host group \"%s\", which also has %s ones (%s%s): their %s traffic falls to a later rule or the default",
		  r->path, has == AF4 ? "IPv4" : "IPv6", best->name, has == AF4 ? "IPv6" : "IPv4",
		  other, other_n > 1 ? ", ..." : "", has == AF4 ? "IPv6" : "IPv4");
}

/* The groups of p that have both families, in p's order. */
static const struct host_group **mixed_groups(const struct policy *p, size_t *n, bool *oom)
{
	const struct host_group **v = calloc(p->ngroups, sizeof(*v));

	*n = 0;
	if (!v) {
		*oom = true;
		return NULL;
	}
	for (size_t i = 0; i < p->ngroups; i++)
		if (family_count(&p->groups[i].set, AF4) &&
		    family_count(&p->groups[i].set, AF6))
			v[(*n)++] = &p->groups[i];
	return v;
}

void audit_families(const struct policy *p, struct audit_list *out)
{
	const struct host_group **g = NULL;
	size_t ng = 0;

	if (p->ngroups)
		g = mixed_groups(p, &ng, &out->oom);
	for (size_t i = 0; ng && i < p->nrules; i++)
		check_rule(&p->rules[i], g, ng, out);
	free(g);
}
