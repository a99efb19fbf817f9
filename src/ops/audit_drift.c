#include "config.h"

#include "audit.h"
#include "nft_build.h"
#include "plan_print.h"

#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct snap_chain *snap_chain(const struct nft_snap *s, const char *name)
{
	for (size_t i = 0; i < s->nchains; i++)
		if (strcmp(s->chains[i].name, name) == 0)
			return &s->chains[i];
	return NULL;
}

static const struct snap_set *snap_set(const struct nft_snap *s, const char *name)
{
	for (size_t i = 0; i < s->nsets; i++)
		if (strcmp(s->sets[i].name, name) == 0)
			return &s->sets[i];
	return NULL;
}

static size_t count_str(char *const *v, size_t n, const char *s)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += strcmp(v[i], s) == 0;
	return c;
}

/* A rule's signature as nft_snap gives it: its comment, else the map it
 * looks up; then the verdict it ends with. */
static const char *plan_sig(const struct plan_rule *r, char *buf, size_t len)
{
	char name[64] = "", v[96];

	for (size_t i = 0; i < r->nstmts; i++)
		if (r->stmts[i].kind == PS_VMAP && r->stmts[i].str)
			snprintf(name, sizeof(name), "vmap @%s", r->stmts[i].str);
	plan_format_verdict(v, sizeof(v), &r->verdict);
	snprintf(buf, len, "%s%s%s", r->comment && *r->comment ? r->comment : name,
		 *v ? " -> " : "", v);
	return buf;
}

static size_t plan_count(const struct plan_chain *c, const char *sig)
{
	char buf[512];
	size_t n = 0;

	for (size_t i = 0; i < c->nrules; i++)
		n += strcmp(plan_sig(&c->rules[i], buf, sizeof(buf)), sig) == 0;
	return n;
}

/* Rules by comment: what the plan has that the kernel lacks, and back. */
static void chain_rules(const struct plan_chain *pc, const struct snap_chain *sc,
			struct audit_list *out)
{
	char obj[64];

	snprintf(obj, sizeof(obj), "chain %s", pc->name);
	for (size_t i = 0; i < pc->nrules; i++) {
		char b1[512], b2[512];
		const char *c = plan_sig(&pc->rules[i], b1, sizeof(b1));
		size_t want = plan_count(pc, c), have = count_str(sc->comments, sc->nrules, c);
		bool first = true;

		for (size_t k = 0; k < i && first; k++)	/* report each once */
			first = strcmp(plan_sig(&pc->rules[k], b2, sizeof(b2)), c) != 0;
		if (first && have < want)
			audit_add(out, AUDIT_ERROR, "drift-rule-removed", NULL, obj,
				  "%zu of %zu rule(s) \"%s\" missing from the live chain", want - have,
				  want, *c ? c : "(no comment, no map)");
	}
	for (size_t i = 0; i < sc->nrules; i++) {
		const char *c = sc->comments[i];
		size_t have = count_str(sc->comments, sc->nrules, c), want = plan_count(pc, c);

		if (have > want && count_str(sc->comments, i, c) == 0)
			audit_add(out, AUDIT_ERROR, "drift-rule-added", NULL, obj,
				  "%zu rule(s) \"%s\" in the live chain that the policy does not compile to",
				  have - want, *c ? c : "(no comment, no map)");
	}
}

static void chains(const struct plan *p, const struct nft_snap *s, struct audit_list *out)
{
	char obj[64];

	for (size_t i = 0; i < p->nchains; i++) {
		const struct plan_chain *pc = &p->chains[i];
		const struct snap_chain *sc = snap_chain(s, pc->name);

		snprintf(obj, sizeof(obj), "chain %s", pc->name);
		if (!sc) {
			audit_add(out, AUDIT_ERROR, "drift-chain-removed", NULL, obj,
				  "the policy compiles to chain %s; the live table has none", pc->name);
			continue;
		}
		if ((pc->hook != PH_NONE) != sc->has_hook ||
		    (pc->hook != PH_NONE && (nft_hooknum(pc->hook) != sc->hooknum ||
					     pc->policy_drop != sc->policy_drop)))
			audit_add(out, AUDIT_ERROR, "drift-chain-changed", NULL, obj,
				  "hook or policy differ from the compiled chain (policy %s live, %s compiled)",
				  sc->policy_drop ? "drop" : "accept", pc->policy_drop ? "drop" : "accept");
		chain_rules(pc, sc, out);
	}
	for (size_t i = 0; i < s->nchains; i++) {
		bool known = false;

		for (size_t k = 0; k < p->nchains && !known; k++)
			known = strcmp(p->chains[k].name, s->chains[i].name) == 0;
		if (!known) {
			snprintf(obj, sizeof(obj), "chain %s", s->chains[i].name);
			audit_add(out, AUDIT_ERROR, "drift-chain-added", NULL, obj,
				  "chain %s (%zu rules) is live but not compiled from the policy",
				  s->chains[i].name, s->chains[i].nrules);
		}
	}
}

static const char *elem_comment(const struct policy *pol, const struct plan_elem *e)
{
	return pol && e->rule < pol->nrules ? pol->rules[e->rule].name : "";
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Run of equal strings starting at v[*i]: its length; *i moves past it. */
static size_t run(const char **v, size_t n, size_t *i)
{
	size_t start = *i;

	while (*i < n && strcmp(v[*i], v[start]) == 0)
		(*i)++;
	return *i - start;
}

/* Elements per comment (the policy rule's name), both sides sorted: maps
 * that cannot be compared key by key may still be large. */
static void set_elems(const struct policy *pol, const struct plan_set *ps,
		      const struct snap_set *ss, struct audit_list *out)
{
	const char **want = calloc(ps->nelems + 1, sizeof(*want));
	const char **have = calloc(ss->nelems + 1, sizeof(*have));
	size_t i = 0, j = 0;
	char obj[64];

	if (!want || !have) {
		out->oom = true;
		goto out;
	}
	snprintf(obj, sizeof(obj), "set %s", ps->name);
	for (size_t k = 0; k < ps->nelems; k++)
		want[k] = elem_comment(pol, &ps->elems[k]);
	for (size_t k = 0; k < ss->nelems; k++)
		have[k] = ss->comments[k];
	qsort(want, ps->nelems, sizeof(*want), str_cmp);
	qsort(have, ss->nelems, sizeof(*have), str_cmp);
	while (i < ps->nelems || j < ss->nelems) {
		int c = i == ps->nelems ? 1 : j == ss->nelems ? -1 : strcmp(want[i], have[j]);
		const char *name = c <= 0 ? want[i] : have[j];
		size_t w = c <= 0 ? run(want, ps->nelems, &i) : 0;
		size_t h = c >= 0 ? run(have, ss->nelems, &j) : 0;

		if (h < w)
			audit_add(out, AUDIT_ERROR, "drift-element-removed", *name ? name : NULL, obj,
				  "%zu of %zu element(s) of rule \"%s\" are missing from the live map",
				  w - h, w, name);
		else if (h > w)
			audit_add(out, AUDIT_ERROR, "drift-element-added", *name ? name : NULL, obj,
				  "%zu element(s) %s%s%s in the live map that the policy does not compile to",
				  h - w, *name ? "named \"" : "without a policy rule's name", name,
				  *name ? "\"" : "");
	}
out:
	free(want);
	free(have);
}

/* The kernel fills the binding set as it admits require-ipsec flows:
 * its elements are not the policy's.  Each must pair a conntrack mark
 * with the reqid it was made from; any other pair would let a flow move
 * to an SA it was not admitted through. */
static void binding_elems(const struct snap_set *ss, struct audit_list *out)
{
	for (size_t i = 0; i < ss->nelems; i++) {
		const struct snap_elem *e = &ss->elems[i];
		uint32_t mark, reqid;

		if (e->key_len != PLAN_BOUND_KEY_LEN)
			continue;
		if (!plan_bound_key_is_kernels(e->key, &mark, &reqid))
			audit_add(out, AUDIT_ERROR, "drift-binding-forged", NULL, "set " PLAN_BOUND_SET,
				  "binding 0x%08x . %u was not made by the kernel (the mark of a flow admitted through reqid %u is 0x%08x): it lets flows move to SAs they were not admitted through",
				  mark, reqid, reqid, reqid | PLAN_CT_MARK_IPSEC);
	}
}

static void sets(const struct plan *p, const struct policy *pol, const struct nft_snap *s,
		 struct audit_list *out)
{
	char obj[64];

	for (size_t i = 0; i < p->nsets; i++) {
		const struct snap_set *ss = snap_set(s, p->sets[i].name);

		snprintf(obj, sizeof(obj), "set %s", p->sets[i].name);
		if (!ss)
			audit_add(out, AUDIT_ERROR, "drift-set-removed", NULL, obj,
				  "the policy compiles to map %s; the live table has none", p->sets[i].name);
		else if (p->sets[i].binding)
			binding_elems(ss, out);
		else if (p->sets[i].attempts)
			continue;	/* the packet path's records: audit_attempts */
		else if (p->sets[i].meter)
			continue;	/* the packet path's per-source limits */
		else if (audit_elems_comparable(&p->sets[i], ss))
			audit_set_exact(pol, &p->sets[i], ss, out);
		else
			set_elems(pol, &p->sets[i], ss, out);
	}
	for (size_t i = 0; i < s->nsets; i++) {
		bool known = false;

		for (size_t k = 0; k < p->nsets && !known; k++)
			known = strcmp(p->sets[k].name, s->sets[i].name) == 0;
		snprintf(obj, sizeof(obj), "set %s", s->sets[i].name);
		if (!known)
			audit_add(out, AUDIT_ERROR, "drift-set-added", NULL, obj,
				  "set %s (%zu elements) is live but not compiled from the policy",
				  s->sets[i].name, s->sets[i].nelems);
	}
}

/* Our base chain's priority on a hook (0 when we have none). */
static int32_t our_prio(const struct nft_snap *s, uint32_t hook, bool *have)
{
	*have = false;
	for (size_t i = 0; i < s->nchains; i++)
		if (s->chains[i].has_hook && s->chains[i].hooknum == hook) {
			*have = true;
			return s->chains[i].prio;
		}
	return 0;
}

static void foreign(const struct nft_snap *s, struct audit_list *out)
{
	char obj[256];

	for (size_t i = 0; i < s->nforeign; i++) {
		const struct snap_chain *c = &s->foreign[i];
		bool have;
		int32_t ours = our_prio(s, c->hooknum, &have);

		if (!have || c->prio >= ours || (c->policy_drop && !c->accepts))
			continue;
		snprintf(obj, sizeof(obj), "chain %s %s %s", c->family, c->table, c->name);
		audit_add(out, AUDIT_WARNING, "foreign-chain-before", NULL, obj,
			  "%s base chain at priority %d runs before table inet sagate (priority %d) and %s: its accept ends only its own chain, but its marks, conntrack and NAT changes apply before sagate decides",
			  c->hooknum == NF_INET_LOCAL_IN ? "input" :
			  c->hooknum == NF_INET_FORWARD ? "forward" : "output", c->prio, ours,
			  c->accepts ? "has rules that accept" : "has policy accept");
	}
}

bool audit_same_policy(const char *live, const char *plan)
{
	const char *a = live ? strstr(live, " sha256 ") : NULL;
	const char *b = plan ? strstr(plan, " sha256 ") : NULL;

	/* the digest is the last word; a path with " sha256 " in it comes before */
	while (a && strstr(a + 1, " sha256 "))
		a = strstr(a + 1, " sha256 ");
	while (b && strstr(b + 1, " sha256 "))
		b = strstr(b + 1, " sha256 ");
	return a && b && strcmp(a, b) == 0;
}

void audit_drift(const struct plan *plan, const struct policy *p, const struct nft_snap *s,
		 struct audit_list *out)
{
	if (!s->present) {
		audit_add(out, AUDIT_ERROR, "table-missing", NULL, "table inet sagate",
			  "table inet sagate is not loaded: nothing of the policy is enforced");
		return;
	}
	if (!audit_same_policy(s->comment, plan->comment))
		audit_add(out, AUDIT_ERROR, "digest-mismatch", NULL, "table inet sagate",
			  "the live table says \"%s\", the policy compiles to \"%s\"",
			  s->comment ? s->comment : "", plan->comment ? plan->comment : "");
	chains(plan, s, out);
	sets(plan, p, s, out);
	foreign(s, out);
}
