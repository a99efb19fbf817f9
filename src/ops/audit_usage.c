#include "config.h"

#include "audit.h"
#include "engine_probe.h"
#include "handover.h"
#include "sa_match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Does the plan hand packets to a queue (engine mode)?  *v gets its
 * verdict (the first queue, and how many). */
static bool plan_queues(const struct plan *p, struct plan_verdict *v)
{
	for (size_t i = 0; i < p->nchains; i++)
		for (size_t k = 0; k < p->chains[i].nrules; k++)
			if (p->chains[i].rules[k].verdict.kind == PV_QUEUE) {
				*v = p->chains[i].rules[k].verdict;
				return true;
			}
	for (size_t i = 0; i < p->nsets; i++)
		for (size_t k = 0; k < p->sets[i].nelems; k++)
			if (p->sets[i].elems[k].verdict.kind == PV_QUEUE) {
				*v = p->sets[i].elems[k].verdict;
				return true;
			}
	return false;
}

void audit_engine(const struct plan *plan, const char *proc, struct audit_list *out)
{
	struct plan_verdict v;
	enum engine_presence e = ENGINE_SERVING;
	unsigned q = 0;

	if (!plan_queues(plan, &v))
		return;
	/* fanout hands any queue of the range a share of the flows: each
	 * must be bound; the first that is not is named */
	for (unsigned i = 0; e == ENGINE_SERVING && i < (v.queues > 1 ? v.queues : 1u); i++)
		e = engine_presence(proc, (uint16_t)(q = v.queue + i));
	if (e == ENGINE_NOT_RUNNING)
		audit_add(out, AUDIT_ERROR, "engine-not-running", NULL, "sagated",
			  "the policy queues new require-ipsec flows to sagated (queue %u), but no sagated process runs: those flows are all dropped",
			  q);
	else if (e == ENGINE_QUEUE_UNBOUND)
		audit_add(out, AUDIT_ERROR, "queue-unbound", NULL, "sagated",
			  "sagated runs, but no program is bound to queue %u in this network namespace (%s/net/netfilter/nfnetlink_queue): require-ipsec flows are dropped",
			  q, proc);
}

void audit_engine_served(const char *dir, struct audit_list *out)
{
	unsigned gen = state_generation(dir, STATE_CURRENT);
	char path[4096], why[512];
	struct state_meta m;
	struct diag_list d;
	json_t *j;

	diag_list_init(&d);
	if (gen && state_read_meta(dir, gen, &m, &d) == 0) {
		j = handover_counters(path, sizeof(path));
		if (handover_check(j, &m, why, sizeof(why)) == HANDOVER_MISMATCH)
			audit_add(out, AUDIT_ERROR, "engine-policy-mismatch", NULL, "sagated", "%s", why);
		json_decref(j);
		state_meta_fini(&m);
	}
	diag_list_fini(&d);
}

/* Which policy rules have elements in the plan; NULL on OOM. */
static bool *compiled_rules(const struct plan *plan, size_t nrules)
{
	bool *v = calloc(nrules + 1, sizeof(*v));

	for (size_t s = 0; v && s < plan->nsets; s++)
		for (size_t e = 0; e < plan->sets[s].nelems; e++)
			if (plan->sets[s].elems[e].rule < nrules)
				v[plan->sets[s].elems[e].rule] = true;
	return v;
}

static int count_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct nft_count *const *)a)->comment,
		      (*(const struct nft_count *const *)b)->comment);
}

/* The live counters sorted by comment, for bsearch; NULL on OOM. */
static const struct nft_count **count_index(const struct nft_live *live)
{
	const struct nft_count **v = calloc(live->nelems + 1, sizeof(*v));

	for (size_t i = 0; v && i < live->nelems; i++)
		v[i] = &live->elems[i];
	if (v)
		qsort(v, live->nelems, sizeof(*v), count_cmp);
	return v;
}

static void never_hit(const struct plan *plan, const struct policy *p,
		      const struct nft_live *live, struct audit_list *out)
{
	bool *compiled = compiled_rules(plan, p->nrules);
	const struct nft_count **ix = count_index(live);

	for (size_t i = 0; compiled && ix && i < p->nrules; i++) {
		struct nft_count key = { .comment = p->rules[i].name };
		const struct nft_count *kp = &key, *const *c;

		if (!compiled[i])
			continue;
		c = bsearch(&kp, ix, live->nelems, sizeof(*ix), count_cmp);
		if (!c || (*c)->packets == 0)
			audit_add(out, AUDIT_INFO, "never-hit", p->rules[i].name, NULL,
				  "no packet has matched this rule since the table was loaded");
	}
	if (!compiled || !ix)
		out->oom = true;
	free(compiled);
	free(ix);
}

static bool drops_cleartext(const struct plan_rule *r)
{
	for (size_t i = 0; i < r->nstmts; i++)
		if ((r->stmts[i].kind == PS_SECPATH_MISSING || r->stmts[i].kind == PS_RT_IPSEC_MISSING) &&
		    r->verdict.kind == PV_DROP)
			return true;
	return false;
}

/* Policy rules whose elements lead into chain c, comma-separated (the
 * first few: a bucketed plan may send thousands there). */
static void rules_into(const struct plan *plan, const struct policy *p, const char *c,
		       char *buf, size_t len)
{
	bool *in = calloc(p->nrules + 1, sizeof(*in));
	size_t used = 0, n = 0;

	buf[0] = '\0';
	for (size_t s = 0; in && s < plan->nsets; s++)
		for (size_t e = 0; e < plan->sets[s].nelems; e++) {
			const struct plan_elem *x = &plan->sets[s].elems[e];

			if (x->rule < p->nrules && x->verdict.chain && strcmp(x->verdict.chain, c) == 0)
				in[x->rule] = true;
		}
	for (size_t i = 0; in && i < p->nrules; i++) {
		if (!in[i])
			continue;
		if (++n <= 8 && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
						 p->rules[i].name);
	}
	if (n > 8 && used < len)
		snprintf(buf + used, len - used, " and %zu more", n - 8);
	free(in);
}

static const struct nft_count *live_rule(const struct nft_live *l, const char *comment)
{
	for (size_t i = 0; comment && i < l->nrules; i++)
		if (strcmp(l->rules[i].comment, comment) == 0)
			return &l->rules[i];
	return NULL;
}

static void cleartext(const struct plan *plan, const struct policy *p,
		      const struct nft_live *live, struct audit_list *out)
{
	char names[1024], obj[64];

	for (size_t i = 0; i < plan->nchains; i++)
		for (size_t k = 0; k < plan->chains[i].nrules; k++) {
			const struct plan_rule *r = &plan->chains[i].rules[k];
			const struct nft_count *c = live_rule(live, r->comment);

			if (!drops_cleartext(r))
				continue;
			rules_into(plan, p, plan->chains[i].name, names, sizeof(names));
			snprintf(obj, sizeof(obj), "chain %s", plan->chains[i].name);
			audit_add(out, c && c->packets ? AUDIT_WARNING : AUDIT_INFO, "cleartext-dropped",
				  NULL, obj, "%llu packet(s) dropped for arriving or leaving without IPsec on require-ipsec flows (rules: %s)",
				  (unsigned long long)(c ? c->packets : 0),
				  *names ? names : "established flows admitted under require-ipsec");
		}
}

struct sa_count {
	const struct rule *r;
	uint64_t now;
	size_t n;
};

static void count_sa(const struct xfrm_sa *sa, void *arg)
{
	struct sa_count *c = arg;

	enum decide_reason d = sa_match_rule(c->r, sa, c->now, NULL);

	/* no identity source here: identity rules count the SAs that pass
	 * every other check */
	c->n += d == DECIDE_ACCEPT_OK || d == DECIDE_DROP_NO_IDENTITY;
}

void audit_usage(const struct plan *plan, const struct policy *p, const struct nft_live *live,
		 const struct xfrm_cache *sas, uint64_t now, struct audit_list *out)
{
	if (live && live->present) {
		never_hit(plan, p, live, out);
		cleartext(plan, p, live, out);
	}
	for (size_t i = 0; sas && i < p->nrules; i++) {
		struct sa_count c = { &p->rules[i], now, 0 };

		if (c.r->action != ACT_REQUIRE_IPSEC || c.r->dir == DIR_OUT)
			continue;
		xfrm_cache_foreach(sas, count_sa, &c);
		audit_add(out, AUDIT_INFO, "sas-in-use", c.r->name, NULL,
			  "%zu SA(s) in the kernel satisfy this rule now%s", c.n,
			  c.r->ipsec.nidents ? ", their IKE identities aside (audit cannot see them)" : "");
	}
}

static int by_packets(const void *a, const void *b)
{
	const struct nft_attempt *x = a, *y = b;

	if (x->packets != y->packets)
		return x->packets > y->packets ? -1 : 1;
	return x->idle_ms < y->idle_ms ? -1 : x->idle_ms > y->idle_ms;
}

static const char *proto_name(uint8_t p)
{
	return p == 6 ? "tcp" : p == 17 ? "udp" : p == 132 ? "sctp" : "?";
}

void audit_attempts(const struct policy *p, const struct classes *c,
		    const struct nft_attempt *v, size_t n, struct audit_list *out)
{
	struct nft_attempt *s = n ? malloc(n * sizeof(*s)) : NULL;
	uint64_t rest = 0;

	if (n && !s) {
		out->oom = true;
		return;
	}
	if (n) {	/* memcpy and qsort take no NULL, even for 0 bytes */
		memcpy(s, v, n * sizeof(*s));
		qsort(s, n, sizeof(*s), by_packets);
	}
	for (size_t i = 0; i < n; i++) {
		struct packet_key k = { .dir = DIR_IN, .fam = s[i].fam, .peer = s[i].src,
					.key = KEY(s[i].proto, s[i].port) };
		uint32_t r = classify_lookup(c, &k);
		char src[64], obj[128];

		if (i >= AUDIT_ATTEMPTS_MAX) {
			rest += s[i].packets;
			continue;
		}
		addr_format(s[i].fam, s[i].src, src, sizeof(src));
		snprintf(obj, sizeof(obj), "from %s to %s port %u", src, proto_name(s[i].proto), s[i].port);
		audit_add(out, AUDIT_WARNING, "cleartext-attempts",
			  r != CLASS_NONE && r < p->nrules ? p->rules[r].name : NULL, obj,
			  "%llu packet(s) without IPsec dropped, the last %llu s ago",
			  (unsigned long long)s[i].packets,
			  (unsigned long long)(s[i].idle_ms / 1000));
	}
	if (n > AUDIT_ATTEMPTS_MAX)
		audit_add(out, AUDIT_WARNING, "cleartext-attempts", NULL, "other sources",
			  "%zu more source(s) and port(s), %llu packet(s): sagate lists the %d with most packets",
			  n - AUDIT_ATTEMPTS_MAX, (unsigned long long)rest, AUDIT_ATTEMPTS_MAX);
	free(s);
}
