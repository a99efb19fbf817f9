/* box_merge: the classifier's boxes of one rule that continue each
 * other, in the key or in the peers, joined into one (classify_merge). */
#include "config.h"

#include "classify.h"

#include <stdlib.h>

static int cmp_u128(u128 a, u128 b)
{
	return a < b ? -1 : a > b;
}

/* Boxes of one rule side by side in the key (the same peers) or in the
 * peers (the same keys) become one.  The segment tree emits a rule's area
 * in pieces that follow the tree's nodes, and where the nodes fall depends
 * on every key boundary of the direction: one port more anywhere shifts
 * the columns and re-cuts the boxes of rules that have nothing to do with
 * it (92,000 kernel elements of 161,000 at 100,000 rules for one port
 * changed, bench/bucket-churn).  Merged, the boxes follow the decisions
 * rather than the tree, and an edit changes mostly the boxes near it:
 * what an incremental apply sends.  The merge is greedy (by key, then by
 * peers, until neither joins more), not a canonical form: a rule over a
 * wide range that others cut into is still cut differently across its
 * peers when an edit opens or closes one of its holes. */
/* Direction, family, zone and local addresses: boxes that can join */
static int cmp_place(const struct class_box *x, const struct class_box *y)
{
	int d;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if (x->fam != y->fam)
		return x->fam < y->fam ? -1 : 1;
	if (x->zone != y->zone)
		return x->zone < y->zone ? -1 : 1;
	if ((d = cmp_u128(x->local_lo, y->local_lo)))
		return d;
	return cmp_u128(x->local_hi, y->local_hi);
}

/* By peers, then key: boxes that continue each other in the key follow
 * each other */
static int cmp_merge_key(const void *a, const void *b)
{
	const struct class_box *x = a, *y = b;
	int d;

	if ((d = cmp_place(x, y)) || (d = cmp_u128(x->peer_lo, y->peer_lo)) ||
	    (d = cmp_u128(x->peer_hi, y->peer_hi)))
		return d;
	return x->key_lo < y->key_lo ? -1 : x->key_lo > y->key_lo;
}

/* By key, then peers */
static int cmp_merge_peer(const void *a, const void *b)
{
	const struct class_box *x = a, *y = b;
	int d;

	if ((d = cmp_place(x, y)))
		return d;
	if (x->key_lo != y->key_lo)
		return x->key_lo < y->key_lo ? -1 : 1;
	if (x->key_hi != y->key_hi)
		return x->key_hi < y->key_hi ? -1 : 1;
	return cmp_u128(x->peer_lo, y->peer_lo);
}

static bool same_group(const struct class_box *x, const struct class_box *y)
{
	return !cmp_place(x, y) && x->rule == y->rule && x->next == y->next;
}

/* One sweep: sorted by cmp, a box that continues the one before it (by
 * key, or by peer) joins it.  The number of merges. */
static size_t merge_sweep(struct classes *cl, bool by_key)
{
	struct class_box *v = cl->boxes;
	size_t out = 0, merged = 0;

	qsort(v, cl->nboxes, sizeof(*v), by_key ? cmp_merge_key : cmp_merge_peer);
	for (size_t i = 0; i < cl->nboxes; i++) {
		struct class_box *last = out ? &v[out - 1] : NULL;

		if (last && same_group(last, &v[i]) &&
		    (by_key ? last->peer_lo == v[i].peer_lo && last->peer_hi == v[i].peer_hi &&
			      last->key_hi + 1 == v[i].key_lo :
			      last->key_lo == v[i].key_lo && last->key_hi == v[i].key_hi &&
			      last->peer_hi + 1 == v[i].peer_lo)) {
			if (by_key)
				last->key_hi = v[i].key_hi;
			else
				last->peer_hi = v[i].peer_hi;
			merged++;
			continue;
		}
		v[out++] = v[i];
	}
	cl->nboxes = out;
	return merged;
}

void classify_merge(struct classes *cl)
{
	if (cl->nboxes < 2)
		return;
	/* alternate until neither direction merges more */
	for (int round = 0; round < 8; round++) {
		if (!merge_sweep(cl, true) && round)
			break;
		if (!merge_sweep(cl, false))
			break;
	}
}
