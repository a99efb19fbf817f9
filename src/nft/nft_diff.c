/* nft_diff: the incremental transaction between two plans (nft_diff.h):
 * which elements and chains differ, and the messages that change only
 * those. */
#include "config.h"

#include "nft_build_int.h"
#include "nft_diff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

static int str_cmp0(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

bool nft_diff_possible(const struct plan *old, const struct plan *new, char *why, size_t len)
{
	if (old->mode != new->mode) {
		snprintf(why, len, "the mode changes (engine / kernel-only)");
		return false;
	}
	if (old->nsets != new->nsets) {
		snprintf(why, len, "the layout changes (%zu maps, now %zu)", old->nsets, new->nsets);
		return false;
	}
	for (size_t i = 0; i < old->nsets; i++) {
		const struct plan_set *a = &old->sets[i], *b = &new->sets[i];

		if (strcmp(a->name, b->name) || a->nfields != b->nfields ||
		    memcmp(a->fields, b->fields, a->nfields * sizeof(a->fields[0])) ||
		    a->interval != b->interval || a->counter != b->counter ||
		    a->binding != b->binding || a->attempts != b->attempts ||
		    a->meter != b->meter || (a->meter && (a->rate != b->rate || a->unit != b->unit ||
							  a->burst != b->burst ||
							  a->timeout != b->timeout))) {
			snprintf(why, len, "the layout changes (map %s becomes %s, or its key or flags change)",
				 a->name, b->name);
			return false;
		}
	}
	for (size_t i = 0; i < old->nchains; i++)
		for (size_t j = 0; j < new->nchains; j++)
			if (strcmp(old->chains[i].name, new->chains[j].name) == 0 &&
			    (old->chains[i].hook != new->chains[j].hook ||
			     old->chains[i].policy_drop != new->chains[j].policy_drop)) {
				snprintf(why, len, "base chain %s changes its hook or policy",
					 old->chains[i].name);
				return false;
			}
	for (size_t k = 0; k < 2; k++) {
		const struct plan *x = k ? new : old, *y = k ? old : new;

		for (size_t i = 0; i < x->nchains; i++) {
			bool both = false;

			for (size_t j = 0; j < y->nchains && !both; j++)
				both = strcmp(x->chains[i].name, y->chains[j].name) == 0;
			if (!both && x->chains[i].hook != PH_NONE) {
				snprintf(why, len, "base chain %s %s", x->chains[i].name,
					 k ? "is new" : "goes");
				return false;
			}
		}
	}
	return true;
}

/* --- elements ------------------------------------------------------------- */

int nft_names_of(struct nft_names *nm, const struct policy *pol)
{
	size_t n = pol ? pol->nrules : 0;

	nm->n = 0;
	if (!(nm->v = malloc((n + 1) * sizeof(*nm->v))))
		return -1;
	for (size_t i = 0; i < n; i++)
		nm->v[i] = pol->rules[i].name;
	nm->n = n;
	return 0;
}

void nft_names_fini(struct nft_names *nm)
{
	free(nm->v);
	nm->v = NULL;
	nm->n = 0;
}

struct side {
	const struct plan_set *s;
	const struct nft_names *names;
};

static const char *elem_name(const struct side *x, const struct plan_elem *e)
{
	return e->rule < x->names->n && x->names->v[e->rule] ? x->names->v[e->rule] : "";
}

static int u128_cmp(u128 a, u128 b)
{
	return a < b ? -1 : a > b;
}

/* Order of elements: key, verdict, the name of their rule (their comment). */
static int elem_cmp(const struct side *x, const struct plan_elem *a, const struct side *y,
		    const struct plan_elem *b)
{
	int c = 0;

	for (size_t f = 0; f < x->s->nfields && !c; f++)
		c = u128_cmp(a->lo[f], b->lo[f]) ? u128_cmp(a->lo[f], b->lo[f]) :
		    u128_cmp(a->hi[f], b->hi[f]);
	if (!c)
		c = (int)a->verdict.kind - (int)b->verdict.kind;
	if (!c && (a->verdict.kind == PV_GOTO || a->verdict.kind == PV_JUMP))
		c = str_cmp0(a->verdict.chain, b->verdict.chain);
	if (!c)
		c = strcmp(elem_name(x, a), elem_name(y, b));
	return c;
}

static int idx_cmp(const void *a, const void *b, void *arg)
{
	const struct side *x = arg;

	return elem_cmp(x, &x->s->elems[*(const size_t *)a], x, &x->s->elems[*(const size_t *)b]);
}

static size_t *sorted(const struct side *x)
{
	size_t *v = malloc((x->s->nelems + 1) * sizeof(*v));

	if (!v)
		return NULL;
	bool in_order = true;

	for (size_t i = 0; i < x->s->nelems; i++) {
		v[i] = i;
		in_order = in_order && (!i || elem_cmp(x, &x->s->elems[i - 1], x, &x->s->elems[i]) <= 0);
	}
	/* compiled maps mostly come out in key order already */
	if (!in_order)
		qsort_r(v, x->s->nelems, sizeof(*v), idx_cmp, (void *)x);
	return v;
}

/* Elements of old not in new (*gone), and of new not in old (*come),
 * each a list of indices into its own set: 0; 1 as soon as more than
 * budget of them differ (the lists stop there); -1 on OOM. */
static int elem_diff(const struct side *o, const struct side *n, size_t budget, size_t **gone,
		     size_t *ngone, size_t **come, size_t *ncome, size_t *kept)
{
	size_t *a = sorted(o), *b = sorted(n), i = 0, j = 0;

	*gone = malloc((o->s->nelems + 1) * sizeof(**gone));
	*come = malloc((n->s->nelems + 1) * sizeof(**come));
	*ngone = *ncome = 0;
	if (!a || !b || !*gone || !*come) {
		free(a);
		free(b);
		return -1;
	}
	while (i < o->s->nelems || j < n->s->nelems) {
		int c = i == o->s->nelems ? 1 : j == n->s->nelems ? -1 :
			elem_cmp(o, &o->s->elems[a[i]], n, &n->s->elems[b[j]]);

		if (c < 0)
			(*gone)[(*ngone)++] = a[i++];
		else if (c > 0)
			(*come)[(*ncome)++] = b[j++];
		else
			i++, j++, (*kept)++;
		if (*ngone + *ncome > budget)
			break;
	}
	free(a);
	free(b);
	return *ngone + *ncome > budget;
}

/* Delete the elements sel of old set si: their keys (a single-field
 * interval: its start and its end element). */
static int del_elems(struct nft_batch *b, size_t si, const size_t *sel, size_t nsel)
{
	const struct plan_set *s = &b->old->sets[si];
	struct nftnl_set_elem *el = nftnl_set_elem_alloc();
	size_t k = 0;
	int ret = 0;

	if (!el)
		return nftb_oom(b);
	while (k < nsel && !ret) {
		struct nlmsghdr *nlh = nftb_msg_start(b, NFT_MSG_DELSETELEM, 0);
		struct nlattr *list = nftb_elems_start(nlh, s->name, nftb_set_id(si));
		struct origin o = { .kind = O_OLD_ELEMS, .type = NFT_MSG_DELSETELEM,
				    .obj = (uint32_t)si, .idx = (uint32_t)k };
		int index = 1;

		for (; k < nsel; k++) {
			const struct plan_elem *e = &s->elems[sel[k]];
			char *tail = mnl_nlmsg_get_payload_tail(nlh);
			uint8_t key[64];
			size_t klen;

			if ((size_t)(tail - (char *)list) + 4 * KEY_ELEM_MAX > ELEMS_NEST_MAX)
				break;
			nftnl_set_elem_unset(el, NFTNL_SET_ELEM_KEY_END);
			nftnl_set_elem_unset(el, NFTNL_SET_ELEM_FLAGS);
			klen = nftb_encode_key(s, e->lo, key);
			nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen);
			if (s->interval && !nftb_single_interval(s)) {
				nftb_encode_key(s, e->hi, key);
				nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY_END, key, (uint32_t)klen);
			}
			nftnl_set_elem_nlmsg_build(nlh, el, index++);
			if (nftb_single_interval(s)) {
				nftb_encode_key(s, e->hi, key);
				if (nftb_key_next(key, klen)) {
					nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen);
					nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS,
							       NFT_SET_ELEM_INTERVAL_END);
					nftnl_set_elem_nlmsg_build(nlh, el, index++);
				}
			}
		}
		mnl_attr_nest_end(nlh, list);
		o.nmarks = k - o.idx;
		ret = nftb_msg_done(b, o);
	}
	nftnl_set_elem_free(el);
	return ret;
}

/* --- chains ---------------------------------------------------------------- */

static bool stmt_equal(const struct plan_stmt *a, const struct plan_stmt *b)
{
	return a->kind == b->kind && a->arg == b->arg && str_cmp0(a->str, b->str) == 0;
}

static bool rule_equal(const struct plan_rule *a, const struct plan_rule *b)
{
	if (a->nstmts != b->nstmts || a->verdict.kind != b->verdict.kind ||
	    a->verdict.queue != b->verdict.queue || str_cmp0(a->verdict.chain, b->verdict.chain) ||
	    str_cmp0(a->comment, b->comment))
		return false;
	for (size_t i = 0; i < a->nstmts; i++)
		if (!stmt_equal(&a->stmts[i], &b->stmts[i]))
			return false;
	return true;
}

static bool chain_equal(const struct plan_chain *a, const struct plan_chain *b)
{
	if (a->nrules != b->nrules)
		return false;
	for (size_t i = 0; i < a->nrules; i++)
		if (!rule_equal(&a->rules[i], &b->rules[i]))
			return false;
	return true;
}

/* DELRULE without a handle (every rule of the chain), or DELCHAIN; of
 * old chain ci. */
static int del_chain_msg(struct nft_batch *b, size_t ci, uint16_t type)
{
	const char *name = b->old->chains[ci].name;
	struct nlmsghdr *nlh;

	if (type == NFT_MSG_DELRULE) {
		struct nftnl_rule *r = nftnl_rule_alloc();

		if (!r || nftnl_rule_set_str(r, NFTNL_RULE_TABLE, PLAN_TABLE) < 0 ||
		    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, name) < 0) {
			if (r)
				nftnl_rule_free(r);
			return nftb_oom(b);
		}
		nlh = nftb_msg_start(b, type, 0);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
	} else {
		struct nftnl_chain *c = nftnl_chain_alloc();

		if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, PLAN_TABLE) < 0 ||
		    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0) {
			if (c)
				nftnl_chain_free(c);
			return nftb_oom(b);
		}
		nlh = nftb_msg_start(b, type, 0);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nftnl_chain_free(c);
	}
	return nftb_msg_done(b, (struct origin){ .kind = O_OLD_CHAIN, .type = type,
					    .obj = (uint32_t)ci });
}

/* --- the transaction ---------------------------------------------------------- */

struct sel {
	size_t *gone, ngone, *come, ncome;
};

static int put_diff(struct nft_batch *b, const struct nft_names *oldnames,
		    const struct nft_names *newnames, unsigned flags, uint32_t genid,
		    struct sel *sel, struct nft_diff *st)
{
	const struct plan *o = b->old, *n = b->plan;
	int ret = nftb_put_begin(b, genid);

	for (size_t i = 0; i < n->nchains && !ret; i++)
		if (!plan_chain_named(o, n->chains[i].name)) {
			st->chains_added++;
			ret = nftb_put_chain(b, i);
		}
	for (size_t i = 0; i < o->nchains && !ret; i++) {
		const struct plan_chain *nc = plan_chain_named(n, o->chains[i].name);

		if (nc && chain_equal(&o->chains[i], nc))
			continue;
		st->chains_replaced += nc != NULL;
		st->rules_deleted += o->chains[i].nrules;
		if (o->chains[i].nrules)
			ret = del_chain_msg(b, i, NFT_MSG_DELRULE);
	}
	size_t total = 0, budget = SIZE_MAX;

	for (size_t i = 0; i < o->nsets; i++)
		if (!o->sets[i].binding && !o->sets[i].attempts && !o->sets[i].meter)
			total += o->sets[i].nelems;
	/* bounded: more than one element in NFT_DIFF_MAX_SHARE of the old
	 * plan's (and 64) deleted and added, and the rest is not worked out */
	if (flags & NFT_DIFF_BOUNDED)
		budget = (total + 64 * NFT_DIFF_MAX_SHARE) / NFT_DIFF_MAX_SHARE;
	for (size_t i = 0; i < o->nsets && !ret; i++) {
		const struct side so = { &o->sets[i], oldnames }, sn = { &n->sets[i], newnames };
		size_t used = st->elems_deleted + st->elems_added;
		int over;

		if (o->sets[i].binding || o->sets[i].attempts || o->sets[i].meter)
			continue;	/* the packet path's: left as they are */
		over = elem_diff(&so, &sn, budget - used, &sel[i].gone, &sel[i].ngone,
				 &sel[i].come, &sel[i].ncome, &st->elems_kept);
		if (over < 0)
			return nftb_oom(b);
		st->elems_deleted += sel[i].ngone;
		st->elems_added += sel[i].ncome;
		if (over) {
			st->too_large = true;
			return nftb_fail(b, NULL,
					 "the difference deletes and adds more than %zu of %zu elements, more than 1 in %d: the full replace is faster",
					 budget, total, NFT_DIFF_MAX_SHARE);
		}
	}
	for (size_t i = 0; i < o->nsets && !ret; i++)
		ret = del_elems(b, i, sel[i].gone, sel[i].ngone);
	for (size_t i = 0; i < n->nsets && !ret; i++)
		if (sel[i].ncome)
			ret = nftb_put_elems_sel(b, i, sel[i].come, sel[i].ncome);
	for (size_t i = 0; i < n->nchains && !ret; i++) {
		const struct plan_chain *oc = plan_chain_named(o, n->chains[i].name);

		if (oc && chain_equal(oc, &n->chains[i]))
			continue;
		st->rules_added += n->chains[i].nrules;
		for (size_t j = 0; j < n->chains[i].nrules && !ret; j++)
			ret = nftb_put_rule(b, (uint32_t)i, (uint32_t)j);
	}
	for (size_t i = 0; i < o->nchains && !ret; i++)
		if (!plan_chain_named(n, o->chains[i].name)) {
			st->chains_deleted++;
			ret = del_chain_msg(b, i, NFT_MSG_DELCHAIN);
		}
	return ret ? ret : nftb_put_end(b, flags);
}

struct nft_batch *nft_build_diff(const struct plan *old, const struct nft_names *oldnames,
				 const struct plan *new, const struct policy *newpol,
				 unsigned flags, uint32_t genid, struct nft_diff *st,
				 struct diag_list *d)
{
	struct nft_names newnames = { 0 };
	struct nft_batch *b;
	struct sel *sel;
	char why[256];
	int ret;

	memset(st, 0, sizeof(*st));
	if (!nft_diff_possible(old, new, why, sizeof(why))) {
		diag_add(d, DIAG_ERROR, newpol ? newpol->file : "nft", "", NULL,
			 "no incremental transaction: %s", why);
		return NULL;
	}
	if (!(b = nftb_batch_new(new, newpol, d)))
		return NULL;
	b->old = old;
	if (!(sel = calloc(new->nsets + 1, sizeof(*sel))))
		return nftb_finish(b, nftb_oom(b));
	ret = nft_names_of(&newnames, newpol) < 0 ? nftb_oom(b) :
	      put_diff(b, oldnames, &newnames, flags, genid, sel, st);
	nft_names_fini(&newnames);
	for (size_t i = 0; i < new->nsets; i++) {
		free(sel[i].gone);
		free(sel[i].come);
	}
	free(sel);
	return nftb_finish(b, ret);
}
