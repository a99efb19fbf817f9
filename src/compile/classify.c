#include "config.h"

#include "classify.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/*
 * The algorithm, per (direction, family, set of local-address rules):
 *
 * Service keys are cut into elementary columns at every rule's key
 * boundary, and a segment tree is built over the columns.  Each rule box
 * (peer interval x key interval) is stored at the O(log n) tree nodes
 * that exactly cover its key interval.  A leaf column's rules are then
 * the union of the items on its root-to-leaf path.
 *
 * Walking the tree from the root, we carry the first-match resolution of
 * the ancestors' items as a list of disjoint address pieces, each with
 * its winner and runner-up (the rule that would decide without the
 * winner: that makes redundancy exact).  At a node we overlay its own
 * items.  Pieces that no rule further down touches (outside the
 * children's address coverage) are final for the node's whole column
 * range and are emitted there; only the rest is passed down, clipped to
 * the coverage.  The work is therefore proportional to the rules and the
 * output, not to columns x rules.
 */

struct piece {
	u128 lo, hi;
	uint32_t w1, w2;	/* winner, runner-up (CLASS_NONE if none) */
};

struct pvec {
	struct piece *v;
	size_t n, cap;
};

struct ivl {
	u128 lo, hi;
};

struct ivec {
	struct ivl *v;
	size_t n, cap;
};

struct item {
	u128 lo, hi;
	uint32_t rule;
};

struct node {
	struct item *own;
	size_t nown, capown;
	struct ivec cov;	/* union of the subtree's item addresses */
};

struct cctx {
	const struct policy *p;
	struct classes *out;
	size_t outcap;
	bool over;		/* past out->max_elements; oom is set too, to end the walk */
	bool oom;
	enum direction dir;
	enum addr_family fam;
	uint16_t zone;		/* the zone being classified, and its interface */
	const char *zone_name;	/* (NULL for zone 0) */
	const struct ivl *locals;	/* local pieces the current group emits for */
	size_t nlocals;
	uint32_t *cuts;
	size_t ncuts;
	struct node *nodes;
	bool track_next;	/* second pass: runner-ups for the analysis */
	bool *differs;		/* per rule: some box would change without it */
};

static void pv_push(struct cctx *c, struct pvec *pv, u128 lo, u128 hi,
		    uint32_t w1, uint32_t w2)
{
	struct piece *last = pv->n ? &pv->v[pv->n - 1] : NULL;

	if (last && last->w1 == w1 && last->w2 == w2 && last->hi < hi &&
	    last->hi + 1 == lo) {
		last->hi = hi;
		return;
	}
	/* hot: a call per piece only when the vector must grow */
	if (pv->n == pv->cap && grow_array(&pv->v, &pv->cap, pv->n + 1, sizeof(*pv->v))) {
		c->oom = true;
		return;
	}
	pv->v[pv->n++] = (struct piece){ lo, hi, w1, w2 };
}

static void iv_push(struct cctx *c, struct ivec *iv, u128 lo, u128 hi)
{
	struct ivl *last = iv->n ? &iv->v[iv->n - 1] : NULL;

	if (last && (lo <= last->hi || lo - 1 == last->hi)) {
		if (hi > last->hi)
			last->hi = hi;
		return;
	}
	if (iv->n == iv->cap && grow_array(&iv->v, &iv->cap, iv->n + 1, sizeof(*iv->v))) {
		c->oom = true;
		return;
	}
	iv->v[iv->n++] = (struct ivl){ lo, hi };
}

/* The two smallest distinct rule indices of two (winner, runner-up) pairs. */
static void top2(uint32_t a1, uint32_t a2, uint32_t b1, uint32_t b2,
		 uint32_t *w1, uint32_t *w2)
{
	uint32_t v[4] = { a1, a2, b1, b2 }, m1 = CLASS_NONE, m2 = CLASS_NONE;

	for (int i = 0; i < 4; i++)
		if (v[i] < m1)
			m1 = v[i];
	for (int i = 0; i < 4; i++)
		if (v[i] != m1 && v[i] < m2)
			m2 = v[i];
	*w1 = m1;
	*w2 = m2;
}

/* Union of two sorted piece lists; where both cover, top-2 of both. */
static void overlay(struct cctx *c, const struct pvec *a, const struct pvec *b,
		    struct pvec *out)
{
	size_t i = 0, j = 0;
	u128 alo = a->n ? a->v[0].lo : 0, blo = b->n ? b->v[0].lo : 0;

	while (i < a->n && j < b->n) {
		const struct piece *x = &a->v[i], *y = &b->v[j];
		u128 end;

		if (alo < blo) {
			end = x->hi < blo - 1 ? x->hi : blo - 1;
			pv_push(c, out, alo, end, x->w1, x->w2);
		} else if (blo < alo) {
			end = y->hi < alo - 1 ? y->hi : alo - 1;
			pv_push(c, out, blo, end, y->w1, y->w2);
		} else {
			uint32_t w1, w2;

			end = x->hi < y->hi ? x->hi : y->hi;
			top2(x->w1, x->w2, y->w1, y->w2, &w1, &w2);
			if (!c->track_next)
				w2 = CLASS_NONE;
			pv_push(c, out, alo, end, w1, w2);
		}
		if (alo <= end) {
			if (end == x->hi && ++i < a->n)
				alo = a->v[i].lo;
			else if (end != x->hi)
				alo = end + 1;
		}
		if (blo <= end) {
			if (end == y->hi && ++j < b->n)
				blo = b->v[j].lo;
			else if (end != y->hi)
				blo = end + 1;
		}
	}
	for (; i < a->n; i++, alo = i < a->n ? a->v[i].lo : 0)
		pv_push(c, out, alo, a->v[i].hi, a->v[i].w1, a->v[i].w2);
	for (; j < b->n; j++, blo = j < b->n ? b->v[j].lo : 0)
		pv_push(c, out, blo, b->v[j].hi, b->v[j].w1, b->v[j].w2);
}

/* Pieces of t inside (keep=true) or outside (keep=false) the intervals. */
static void clip(struct cctx *c, const struct pvec *t, const struct ivec *cov,
		 bool keep, struct pvec *out)
{
	size_t j = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct piece *x = &t->v[i];
		u128 pos = x->lo;
		bool done = false;

		while (j < cov->n && cov->v[j].hi < x->lo)
			j++;
		for (size_t k = j; k < cov->n && cov->v[k].lo <= x->hi && !done; k++) {
			const struct ivl *v = &cov->v[k];
			u128 lo = v->lo > pos ? v->lo : pos;
			u128 hi = v->hi < x->hi ? v->hi : x->hi;

			if (!keep && lo > pos)
				pv_push(c, out, pos, lo - 1, x->w1, x->w2);
			if (keep)
				pv_push(c, out, lo, hi, x->w1, x->w2);
			if (hi == x->hi)
				done = true;
			else
				pos = hi + 1;
		}
		if (!keep && !done)
			pv_push(c, out, pos, x->hi, x->w1, x->w2);
	}
}

static void iv_union(struct cctx *c, const struct ivec *a, const struct ivec *b,
		     struct ivec *out)
{
	size_t i = 0, j = 0;

	/* one allocation of the most it can hold, not a doubling series */
	if (a->n + b->n > out->cap &&
	    grow_array(&out->v, &out->cap, out->n + a->n + b->n, sizeof(*out->v))) {
		c->oom = true;
		return;
	}

	while (i < a->n || j < b->n) {
		if (j >= b->n || (i < a->n && a->v[i].lo <= b->v[j].lo)) {
			iv_push(c, out, a->v[i].lo, a->v[i].hi);
			i++;
		} else {
			iv_push(c, out, b->v[j].lo, b->v[j].hi);
			j++;
		}
	}
}

static void add_shadower(struct class_rule_info *in, uint32_t who)
{
	for (int i = 0; i < 3; i++) {
		if (in->shadowed_by[i] == who)
			return;
		if (in->shadowed_by[i] == CLASS_NONE) {
			in->shadowed_by[i] = who;
			return;
		}
	}
}

static bool same_as_default(const struct policy *p, const struct rule *r)
{
	return r->action == p->defaults[r->dir] && !r->log;
}

/* Analysis pass: a piece decided by w1 that w2 (or the default) would
 * decide without it. */
static void account(struct cctx *c, uint32_t w1, uint32_t w2)
{
	const struct rule *r = &c->p->rules[w1];
	struct class_rule_info *in = &c->out->info[w1];
	bool same = w2 == CLASS_NONE ? same_as_default(c->p, r) :
		    rule_same_decision(r, &c->p->rules[w2]);

	if (!same)
		c->differs[w1] = true;
	else if (in->redundant_with == CLASS_NONE)
		in->redundant_with = w2;
	if (w2 != CLASS_NONE)
		add_shadower(&c->out->info[w2], w1);
}

static int cmp_u128(u128 a, u128 b)
{
	return a < b ? -1 : a > b;
}

/* With a limit, the walk keeps at most this many boxes before merging
 * them: the merged boxes, not the tree's pieces, are what the limit
 * counts, and the memory stays in proportion to the limit. */
static size_t raw_limit(size_t max_elements)
{
	return max_elements > SIZE_MAX / 4 ? SIZE_MAX : 4 * max_elements;
}

static void emit(struct cctx *c, const struct pvec *t, size_t col_a, size_t col_b)
{
	if (c->track_next) {
		for (size_t i = 0; i < t->n; i++)
			account(c, t->v[i].w1, t->v[i].w2);
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		for (size_t l = 0; l < c->nlocals; l++) {
			struct class_box *b;

			if (c->out->max_elements &&
			    c->out->nboxes == raw_limit(c->out->max_elements)) {
				/* merged, far more than the limit is left: stop */
				classify_merge(c->out);
				if (c->out->nboxes > raw_limit(c->out->max_elements) / 2) {
					c->over = c->oom = true;
					return;
				}
			}
			if (grow_array(&c->out->boxes, &c->outcap, c->out->nboxes + 1,
				       sizeof(*b))) {
				c->oom = true;
				return;
			}
			b = &c->out->boxes[c->out->nboxes++];
			b->dir = c->dir;
			b->fam = c->fam;
			b->peer_lo = t->v[i].lo;
			b->peer_hi = t->v[i].hi;
			b->local_lo = c->locals[l].lo;
			b->local_hi = c->locals[l].hi;
			b->key_lo = c->cuts[col_a];
			b->key_hi = c->cuts[col_b] - 1;
			b->zone = c->zone;
			b->rule = t->v[i].w1;
			b->next = t->v[i].w2;
		}
	}
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Binary heap of items ordered by rule, for the own-items sweep. */
struct heap {
	const struct item **v;
	size_t n;
};

static void heap_push(struct heap *h, const struct item *it)
{
	size_t i = h->n++;

	while (i && h->v[(i - 1) / 2]->rule > it->rule) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = it;
}

static const struct item *heap_pop(struct heap *h)
{
	const struct item *top = h->v[0], *last = h->v[--h->n];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, m = l;

		if (l >= h->n)
			break;
		if (l + 1 < h->n && h->v[l + 1]->rule < h->v[l]->rule)
			m = l + 1;
		if (h->v[m]->rule >= last->rule)
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

/* Drop heap tops that end before pos. */
static const struct item *heap_top(struct heap *h, u128 pos)
{
	while (h->n && h->v[0]->hi < pos)
		heap_pop(h);
	return h->n ? h->v[0] : NULL;
}

/* First-match segmentation (with runner-up) of one node's own items,
 * which are sorted by address. */
static void own_segments(struct cctx *c, const struct node *nd, struct pvec *out)
{
	struct heap h = { calloc(nd->nown, sizeof(*h.v)), 0 };
	size_t next = 0;
	u128 pos;

	if (!h.v) {
		c->oom = true;
		return;
	}
	pos = nd->nown ? nd->own[0].lo : 0;
	while (next < nd->nown || h.n) {
		const struct item *a, *b;
		u128 end;

		while (next < nd->nown && nd->own[next].lo <= pos)
			heap_push(&h, &nd->own[next++]);
		a = heap_top(&h, pos);
		if (!a) {
			if (next >= nd->nown)
				break;
			pos = nd->own[next].lo;
			continue;
		}
		/* the piece ends where the winner ends, another item starts, or
		 * the runner-up ends */
		heap_pop(&h);
		b = heap_top(&h, pos);
		heap_push(&h, a);
		end = a->hi;
		if (b && c->track_next && b->hi < end)
			end = b->hi;
		if (next < nd->nown && nd->own[next].lo - 1 < end)
			end = nd->own[next].lo - 1;
		pv_push(c, out, pos, end, a->rule,
			b && c->track_next ? b->rule : CLASS_NONE);
		if (end == ~(u128)0)
			break;
		pos = end + 1;
	}
	free(h.v);
}

static void resolve(struct cctx *c, size_t idx, size_t l, size_t r,
		    const struct pvec *in)
{
	struct node *nd = &c->nodes[idx];
	struct pvec own = { 0 }, t = { 0 }, rest = { 0 };
	struct ivec both = { 0 };
	size_t mid = (l + r) / 2;

	own_segments(c, nd, &own);
	overlay(c, in, &own, &t);
	free(own.v);
	if (r - l == 1 || c->oom) {
		emit(c, &t, l, r);
		free(t.v);
		return;
	}
	const struct ivec *cl = &c->nodes[2 * idx].cov, *cr = &c->nodes[2 * idx + 1].cov;

	/* final for [l, r): nothing below touches these addresses */
	iv_union(c, cl, cr, &both);
	clip(c, &t, &both, false, &rest);
	emit(c, &rest, l, r);
	free(both.v);
	/* touched only by the right subtree: final for the left half, and
	 * vice versa */
	for (int side = 0; side < 2; side++) {
		const struct ivec *mine = side ? cr : cl, *other = side ? cl : cr;
		struct pvec in_other = { 0 }, only_other = { 0 }, down = { 0 };

		clip(c, &t, other, true, &in_other);
		clip(c, &in_other, mine, false, &only_other);
		emit(c, &only_other, side ? mid : l, side ? r : mid);
		clip(c, &t, mine, true, &down);
		if (mine->n)
			resolve(c, 2 * idx + side, side ? mid : l, side ? r : mid, &down);
		free(in_other.v);
		free(only_other.v);
		free(down.v);
	}
	free(rest.v);
	free(t.v);
}

static void tree_insert(struct cctx *c, size_t idx, size_t l, size_t r,
			size_t a, size_t b, const struct item *it)
{
	struct node *nd = &c->nodes[idx];

	if (a <= l && r <= b) {
		if (grow_array(&nd->own, &nd->capown, nd->nown + 1, sizeof(*it))) {
			c->oom = true;
			return;
		}
		nd->own[nd->nown++] = *it;
		return;
	}
	size_t mid = (l + r) / 2;

	if (a < mid)
		tree_insert(c, 2 * idx, l, mid, a, b, it);
	if (b > mid)
		tree_insert(c, 2 * idx + 1, mid, r, a, b, it);
}

/* *arr (of *cap elements of esz bytes) cut to n elements; a failed
 * shrink keeps the larger array. */
static void shrink(void *arr, size_t *cap, size_t n, size_t esz)
{
	void **p = arr, *q;

	if (n == 0 || n >= *cap || !(q = realloc(*p, n * esz)))
		return;
	*p = q;
	*cap = n;
}

/* Sort own items and compute coverage bottom-up. */
static void tree_finish(struct cctx *c, size_t idx, size_t l, size_t r)
{
	struct node *nd = &c->nodes[idx];
	struct ivec own = { 0 }, kids = { 0 };

	if (nd->nown > 1)
		qsort(nd->own, nd->nown, sizeof(*nd->own), cmp_item);
	for (size_t i = 0; i < nd->nown; i++)
		iv_push(c, &own, nd->own[i].lo, nd->own[i].hi);
	if (r - l > 1) {
		size_t mid = (l + r) / 2;

		tree_finish(c, 2 * idx, l, mid);
		tree_finish(c, 2 * idx + 1, mid, r);
		iv_union(c, &c->nodes[2 * idx].cov, &c->nodes[2 * idx + 1].cov, &kids);
	}
	iv_union(c, &own, &kids, &nd->cov);
	free(own.v);
	free(kids.v);
	/* both arrays stay until the walk ends, with room for more that
	 * never comes (a doubling series; a union sized for no overlap):
	 * cut them to what they hold */
	shrink(&nd->own, &nd->capown, nd->nown, sizeof(*nd->own));
	shrink(&nd->cov.v, &nd->cov.cap, nd->cov.n, sizeof(*nd->cov.v));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static size_t cut_index(const struct cctx *c, uint32_t key)
{
	size_t lo = 0, hi = c->ncuts;

	while (lo < hi) {
		size_t m = (lo + hi) / 2;

		if (c->cuts[m] < key)
			lo = m + 1;
		else
			hi = m;
	}
	return lo;
}

static bool rule_in_group(const struct cctx *c, const struct rule *r, enum direction dir,
			  enum addr_family fam)
{
	bool p = false, l = false;

	if (r->dir != dir || r->nkeys == 0 || !rule_on_iface(r, c->zone_name))
		return false;
	for (size_t i = 0; i < r->peers.n; i++)
		p |= r->peers.v[i].fam == fam;
	for (size_t i = 0; i < r->local.n; i++)
		l |= r->local.v[i].fam == fam;
	return p && l;
}

/* Classify the given rules (indices, in order) for the current group. */
static void classify_rules(struct cctx *c, const uint32_t *rules, size_t n)
{
	size_t ncuts = 0, nnodes;
	struct pvec empty = { 0 };

	c->cuts = NULL;
	for (size_t i = 0; i < n; i++)
		ncuts += 2 * c->p->rules[rules[i]].nkeys;
	if (ncuts == 0)
		return;
	c->cuts = malloc(ncuts * sizeof(*c->cuts));
	if (!c->cuts) {
		c->oom = true;
		return;
	}
	ncuts = 0;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = &c->p->rules[rules[i]];

		for (size_t k = 0; k < r->nkeys; k++) {
			c->cuts[ncuts++] = r->keys[k].lo;
			c->cuts[ncuts++] = r->keys[k].hi + 1;
		}
	}
	qsort(c->cuts, ncuts, sizeof(*c->cuts), cmp_u32);
	c->ncuts = 0;
	for (size_t i = 0; i < ncuts; i++)
		if (c->ncuts == 0 || c->cuts[c->ncuts - 1] != c->cuts[i])
			c->cuts[c->ncuts++] = c->cuts[i];
	nnodes = 4 * c->ncuts + 4;
	c->nodes = calloc(nnodes, sizeof(*c->nodes));
	if (!c->nodes) {
		c->oom = true;
		goto out;
	}
	for (size_t i = 0; i < n && !c->oom; i++) {
		const struct rule *r = &c->p->rules[rules[i]];

		for (size_t k = 0; k < r->nkeys; k++) {
			size_t a = cut_index(c, r->keys[k].lo);
			size_t b = cut_index(c, r->keys[k].hi + 1);

			for (size_t j = 0; j < r->peers.n; j++) {
				struct item it = { r->peers.v[j].lo, r->peers.v[j].hi,
						   rules[i] };

				if (r->peers.v[j].fam == c->fam)
					tree_insert(c, 1, 0, c->ncuts - 1, a, b, &it);
			}
		}
	}
	if (!c->oom)
		tree_finish(c, 1, 0, c->ncuts - 1);
	if (!c->oom && c->nodes[1].cov.n)
		resolve(c, 1, 0, c->ncuts - 1, &empty);
out:
	for (size_t i = 0; c->nodes && i < nnodes; i++) {
		free(c->nodes[i].own);
		free(c->nodes[i].cov.v);
	}
	free(c->nodes);
	c->nodes = NULL;
	free(c->cuts);
	c->cuts = NULL;
}

/* Local-address pieces: the rules restricted to "local" split each
 * family's local space into elementary pieces; pieces covered by the same
 * restricted rules classify the same way, so they form one group. */
struct local_piece {
	struct ivl range;
	uint32_t *rules;	/* restricted rules covering it, in order */
	size_t nrules;
	bool done;
};

static void local_pieces(struct cctx *c, enum direction dir, enum addr_family fam,
			 struct local_piece **out, size_t *nout)
{
	u128 *b = NULL, max = addr_max(fam);
	size_t nb = 0, capb = 0, np = 0;
	struct local_piece *lp = NULL;

	*out = NULL;
	*nout = 0;
	if (grow_array(&b, &capb, 1, sizeof(*b)))
		goto oom;
	b[nb++] = 0;
	for (size_t i = 0; i < c->p->nrules; i++) {
		const struct rule *r = &c->p->rules[i];

		if (r->local.any || !rule_in_group(c, r, dir, fam))
			continue;
		for (size_t k = 0; k < r->local.n; k++) {
			if (r->local.v[k].fam != fam)
				continue;
			if (grow_array(&b, &capb, nb + 2, sizeof(*b)))
				goto oom;
			b[nb++] = r->local.v[k].lo;
			if (r->local.v[k].hi != max)
				b[nb++] = r->local.v[k].hi + 1;
		}
	}
	/* insertion sort is fine: few rules name local addresses */
	for (size_t i = 1; i < nb; i++)
		for (size_t j = i; j && b[j - 1] > b[j]; j--) {
			u128 t = b[j];

			b[j] = b[j - 1];
			b[j - 1] = t;
		}
	lp = calloc(nb, sizeof(*lp));
	if (!lp)
		goto oom;
	for (size_t i = 0; i < nb; i++) {
		if (i && b[i] == b[i - 1])
			continue;
		lp[np].range.lo = b[i];
		lp[np].range.hi = max;
		if (np)
			lp[np - 1].range.hi = b[i] - 1;
		np++;
	}
	for (size_t i = 0; i < np; i++) {
		lp[i].rules = calloc(c->p->nrules ? c->p->nrules : 1, sizeof(uint32_t));
		if (!lp[i].rules) {
			*out = lp;
			*nout = i;
			goto oom;
		}
		for (size_t r = 0; r < c->p->nrules; r++) {
			const struct rule *ru = &c->p->rules[r];

			if (!ru->local.any && rule_in_group(c, ru, dir, fam) &&
			    addr_set_contains(&ru->local, fam, lp[i].range.lo))
				lp[i].rules[lp[i].nrules++] = (uint32_t)r;
		}
	}
	free(b);
	*out = lp;
	*nout = np;
	return;
oom:
	free(b);
	c->oom = true;
}

static bool same_rules(const struct local_piece *a, const struct local_piece *b)
{
	return a->nrules == b->nrules &&
	       (a->nrules == 0 ||
		memcmp(a->rules, b->rules, a->nrules * sizeof(*a->rules)) == 0);
}

static void classify_group(struct cctx *c, enum direction dir, enum addr_family fam)
{
	struct local_piece *lp;
	size_t np;
	uint32_t *rules = calloc(c->p->nrules ? c->p->nrules : 1, sizeof(*rules));
	struct ivl *locals = calloc(1, sizeof(*locals));
	size_t caploc = 1;

	c->dir = dir;
	c->fam = fam;
	local_pieces(c, dir, fam, &lp, &np);
	if (!rules || !locals || c->oom)
		goto out;
	for (size_t i = 0; i < np && !c->oom; i++) {
		size_t n = 0, nl = 0;

		if (lp[i].done)
			continue;
		for (size_t j = i; j < np; j++)
			if (!lp[j].done && same_rules(&lp[i], &lp[j])) {
				lp[j].done = true;
				if (grow_array(&locals, &caploc, nl + 1, sizeof(*locals))) {
					c->oom = true;
					goto out;
				}
				locals[nl++] = lp[j].range;
			}
		/* any-local rules and this group's restricted rules, in order */
		for (size_t r = 0, k = 0; r < c->p->nrules; r++) {
			const struct rule *ru = &c->p->rules[r];

			if (k < lp[i].nrules && lp[i].rules[k] == r) {
				rules[n++] = (uint32_t)r;
				k++;
			} else if (ru->local.any && rule_in_group(c, ru, dir, fam)) {
				rules[n++] = (uint32_t)r;
			}
		}
		c->locals = locals;
		c->nlocals = nl;
		classify_rules(c, rules, n);
	}
out:
	for (size_t i = 0; i < np; i++)
		free(lp[i].rules);
	free(lp);
	free(rules);
	free(locals);
}

static int cmp_box(const void *a, const void *b)
{
	const struct class_box *x = a, *y = b;
	int d;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if (x->fam != y->fam)
		return x->fam < y->fam ? -1 : 1;
	if (x->zone != y->zone)
		return x->zone < y->zone ? -1 : 1;
	if ((d = cmp_u128(x->local_lo, y->local_lo)))
		return d;
	if (x->key_lo != y->key_lo)
		return x->key_lo < y->key_lo ? -1 : 1;
	return cmp_u128(x->peer_lo, y->peer_lo);
}

/* Turn the analysis pass's findings into per-rule results. */
static void analyse_finish(struct cctx *c)
{
	struct classes *cl = c->out;

	for (size_t i = 0; i < cl->nboxes; i++)
		cl->info[cl->boxes[i].rule].boxes++;
	for (size_t i = 0; i < cl->nrules; i++) {
		struct class_rule_info *in = &cl->info[i];

		in->redundant = c->track_next && in->boxes && !c->differs[i];
		if (!in->redundant)
			in->redundant_with = CLASS_NONE;
		if (in->boxes)
			for (int k = 0; k < 3; k++)
				in->shadowed_by[k] = CLASS_NONE;
	}
}

static void run_pass(struct cctx *c)
{
	for (int d = 0; d < DIR_COUNT && !c->oom; d++)
		for (size_t z = 0; z <= c->out->nzones[d] && !c->oom; z++) {
			c->zone = (uint16_t)z;
			c->zone_name = z ? c->out->zones[d][z - 1] : NULL;
			for (int f = 0; f < AF_COUNT && !c->oom; f++)
				classify_group(c, (enum direction)d, (enum addr_family)f);
		}
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each direction's interface names, sorted and unique: its zones. */
static int find_zones(const struct policy *p, struct classes *cl)
{
	for (int d = 0; d < DIR_COUNT; d++) {
		size_t n = 0, k = 0;

		for (size_t i = 0; i < p->nrules; i++)
			if (p->rules[i].dir == (enum direction)d)
				n += p->rules[i].nifaces;
		if (!n)
			continue;
		if (!(cl->zones[d] = calloc(n, sizeof(char *))))
			return -1;
		for (size_t i = 0; i < p->nrules; i++)
			for (size_t j = 0; p->rules[i].dir == (enum direction)d &&
			     j < p->rules[i].nifaces; j++)
				cl->zones[d][k++] = p->rules[i].ifaces[j];
		qsort(cl->zones[d], n, sizeof(char *), cmp_name);
		for (size_t i = 0; i < n; i++) {
			if (cl->nzones[d] && strcmp(cl->zones[d][cl->nzones[d] - 1],
						    cl->zones[d][i]) == 0)
				continue;
			cl->zones[d][cl->nzones[d]] = cl->zones[d][i];
			cl->nzones[d]++;
		}
		/* own copies: the classes need not die with the policy */
		for (size_t i = 0; i < cl->nzones[d]; i++)
			if (!(cl->zones[d][i] = strdup(cl->zones[d][i]))) {
				cl->nzones[d] = i;
				return -1;
			}
	}
	return 0;
}

uint16_t classify_zone(const struct classes *c, enum direction d, const char *name)
{
	for (size_t i = 0; name && i < c->nzones[d]; i++)
		if (strcmp(c->zones[d][i], name) == 0)
			return (uint16_t)(i + 1);
	return 0;
}

/* a * b, at most SIZE_MAX */
static size_t mul_sat(size_t a, size_t b)
{
	return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

size_t classify_estimate(const struct policy *p)
{
	size_t sum = 0;

	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		size_t n = mul_sat(mul_sat(r->peers.any || !r->peers.n ? 1 : r->peers.n,
					   r->local.any || !r->local.n ? 1 : r->local.n),
				   r->nkeys ? r->nkeys : 1);

		sum = n > SIZE_MAX - sum ? SIZE_MAX : sum + n;
	}
	return sum;
}

struct classes *classify(const struct policy *p, unsigned flags)
{
	struct classes *cl = calloc(1, sizeof(*cl));
	struct cctx c = { .p = p, .out = cl };

	if (!cl)
		return NULL;
	cl->nrules = p->nrules;
	cl->info = calloc(p->nrules ? p->nrules : 1, sizeof(*cl->info));
	c.differs = calloc(p->nrules ? p->nrules : 1, sizeof(*c.differs));
	if (!cl->info || !c.differs)
		goto fail;
	for (size_t i = 0; i < p->nrules; i++) {
		cl->info[i].redundant_with = CLASS_NONE;
		for (int k = 0; k < 3; k++)
			cl->info[i].shadowed_by[k] = CLASS_NONE;
		if (!p->rules[i].local.any)
			cl->uses_local[p->rules[i].dir] = true;
	}
	if (find_zones(p, cl) < 0)
		goto fail;
	if (flags & CLASSIFY_LIMIT)
		cl->max_elements = p->max_elements;
	c.over = cl->max_elements && classify_estimate(p) > cl->max_elements;
	/* pass 1 decides by winner only, so boxes merge as far as possible;
	 * pass 2 tracks runner-ups, which split pieces, and keeps no boxes */
	if (!c.over)
		run_pass(&c);
	if (!c.over && !c.oom) {
		classify_merge(cl);
		c.over = cl->max_elements && cl->nboxes > cl->max_elements;
	}
	if (c.over) {
		free(cl->boxes);
		cl->boxes = NULL;
		cl->nboxes = 0;
		cl->over_limit = true;
		free(c.differs);
		return cl;
	}
	if (!c.oom && (flags & CLASSIFY_ANALYSE)) {
		c.track_next = true;
		run_pass(&c);
	}
	if (c.oom)
		goto fail;
	if (cl->nboxes > 1)
		qsort(cl->boxes, cl->nboxes, sizeof(*cl->boxes), cmp_box);
	analyse_finish(&c);
	cl->analysed = flags & CLASSIFY_ANALYSE;
	free(c.differs);
	return cl;
fail:
	free(c.differs);
	classes_free(cl);
	return NULL;
}

void classes_free(struct classes *c)
{
	if (!c)
		return;
	free(c->boxes);
	free(c->info);
	for (int d = 0; d < DIR_COUNT; d++) {
		for (size_t i = 0; i < c->nzones[d]; i++)
			free(c->zones[d][i]);
		free(c->zones[d]);
	}
	free(c);
}

static bool key_matches(const struct rule *r, uint32_t key)
{
	for (size_t i = 0; i < r->nkeys; i++)
		if (r->keys[i].lo <= key && key <= r->keys[i].hi)
			return true;
	return false;
}

uint32_t classify_eval_rules(const struct policy *p, const struct packet_key *k)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->dir == k->dir && key_matches(r, k->key) && rule_on_iface(r, k->iface) &&
		    addr_set_contains(&r->peers, k->fam, k->peer) &&
		    addr_set_contains(&r->local, k->fam, k->local))
			return (uint32_t)i;
	}
	return CLASS_NONE;
}

uint32_t classify_lookup(const struct classes *c, const struct packet_key *k)
{
	uint16_t zone = classify_zone(c, k->dir, k->iface);

	for (size_t i = 0; i < c->nboxes; i++) {
		const struct class_box *b = &c->boxes[i];

		if (b->dir == k->dir && b->fam == k->fam && b->zone == zone &&
		    b->peer_lo <= k->peer && k->peer <= b->peer_hi &&
		    b->local_lo <= k->local && k->local <= b->local_hi &&
		    b->key_lo <= k->key && k->key <= b->key_hi)
			return b->rule;
	}
	return CLASS_NONE;
}
