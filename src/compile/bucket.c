/* bucket: the bucket layout of large policies, where a direction and
 * family's interval boxes are split by peer address into buckets, each
 * with its own chain and interval maps, reached through one interval map
 * on the peer address (compile.h, "Large policies"). */
#include "config.h"

#include "compile_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kernel's concatenated interval maps cost time in proportion to
 * their size on every lookup, and quadratic time to load.  Above this
 * many boxes that need intervals, a direction and family splits them by
 * peer address into buckets of a few hundred boxes: an interval map on the
 * peer address and protocol (pipapo; see bucket_objects) jumps to the bucket's
 * chain, whose interval maps stay small.  Below it, one map is as fast
 * and the kernel rule count stays the same for every policy. */
#define BUCKET_LAYOUT_MIN 1024

/* Where buckets start is defined by content, not by position, so that an
 * edit of the policy moves at most the boundaries near it and an
 * incremental apply sends only those buckets again (with every 512th box
 * starting a bucket, one box more shifted every later boundary).  Boxes
 * are taken in peer order; a peer address where boxes start starts a
 * bucket when its bucket_hash() is higher than that of every other such
 * address less than BUCKET_WINDOW boxes before or after it: a local
 * maximum of the hash.
 *
 * Each boundary depends only on the addresses and box counts within
 * BUCKET_WINDOW boxes of it, never on where the bucket before it started:
 * an edit that adds, removes or re-cuts boxes at some addresses can move
 * only the boundaries less than BUCKET_WINDOW boxes away.  (A bucket that
 * started once its predecessor held enough addresses or boxes, as before,
 * passed every shift on to the next boundary until a cut point
 * happened to coincide: a port change at 100,000 rules renamed 44 of 431
 * maps.)
 *
 * Sizes: two local maxima have at least BUCKET_WINDOW boxes between
 * them, and a run of boxes holds one wherever its highest hash is more
 * than BUCKET_WINDOW boxes from both ends, so buckets hold from
 * BUCKET_WINDOW to a few times as many boxes, about 2 x BUCKET_WINDOW on
 * average, spread much less than the geometric sizes of a plain "hash
 * modulo N" cut (where addresses start more boxes than BUCKET_WINDOW
 * each, a bucket holds two or three of them).  A new flow costs
 * in proportion to the size of the bucket it lands in, and flows land in
 * big buckets more often (the mean a flow sees is sum s^2 / sum s): 208
 * gives the generated 100,000-rule policy (bench/gen-policy) 117 buckets
 * of 409 elements on average, 481 as a flow sees them, against 480 with
 * the cuts of before (BENCHMARKS.md, "Bucket layout under edits"). */
#define BUCKET_WINDOW 208

/* SAGATE_BUCKET_LAYOUT_MIN overrides the threshold (tests and tuning). */
static size_t bucket_layout_min(void)
{
	const char *s = getenv("SAGATE_BUCKET_LAYOUT_MIN");
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return BUCKET_LAYOUT_MIN;
	v = strtoull(s, &end, 10);
	return *end ? BUCKET_LAYOUT_MIN : (size_t)v;
}

/* A box that is one exact element: one peer, one port of tcp/udp/sctp. */
static bool box_is_exact(const struct class_box *b)
{
	return b->peer_lo == b->peer_hi && b->key_lo == b->key_hi &&
	       is_port_proto(KEY_PROTO(b->key_lo));
}

static int cmp_box_peer(const void *a, const void *b)
{
	const struct class_box *x = *(const struct class_box *const *)a;
	const struct class_box *y = *(const struct class_box *const *)b;

	return x->peer_lo < y->peer_lo ? -1 : x->peer_lo > y->peer_lo;
}

/* The boxes of one direction and family that need intervals, by peer. */
static const struct class_box **interval_boxes(struct kctx *k, enum direction d,
					       enum addr_family f, size_t *n)
{
	const struct class_box **v = malloc((k->cls->nboxes ? k->cls->nboxes : 1) * sizeof(*v));

	*n = 0;
	if (!v) {
		k->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < k->cls->nboxes; i++) {
		const struct class_box *b = &k->cls->boxes[i];

		if (b->dir == d && b->fam == f && !box_is_exact(b))
			v[(*n)++] = b;
	}
	qsort(v, *n, sizeof(*v), cmp_box_peer);
	return v;
}

/* SplitMix64's output function (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", 2014): fixed constants, no seed, so a
 * policy cuts into the same buckets on every run and machine. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The hash of a peer address that decides the cut points:
 * mix64(low 64 bits ^ mix64(high 64 bits)); IPv4 addresses are the
 * values 0 .. 2^32-1, so their high half is 0. */
static uint64_t bucket_hash(u128 a)
{
	return mix64((uint64_t)a ^ mix64((uint64_t)(a >> 64)));
}

/* A bucket's id, the middle of its names (df_bID, df_bID_ports): the hex
 * of its first address for IPv4 (8 digits), and for IPv6, whose 32 digits
 * would not fit a plan name, 16 hex digits of a second hash of it.  The
 * id depends only on where the bucket starts, so a bucket an edit does
 * not touch keeps its name. */
static void bucket_id(char *buf, size_t len, enum addr_family f, u128 start)
{
	if (f == AF4)
		snprintf(buf, len, "%08x", (unsigned)start);
	else
		snprintf(buf, len, "%016llx", (unsigned long long)mix64(~bucket_hash(start)));
}

/* A cut at this address would give a bucket the id of an earlier one of
 * the same family (two IPv6 starts whose 64-bit ids collide)? */
static bool bucket_id_taken(const u128 *st, size_t nb, enum addr_family f, u128 a)
{
	char id[24], other[24];

	if (f == AF4)
		return false;
	bucket_id(id, sizeof(id), f, a);
	for (size_t i = 0; i < nb; i++) {
		bucket_id(other, sizeof(other), f, st[i]);
		if (!strcmp(id, other))
			return true;
	}
	return false;
}

/* The distinct peer addresses where boxes start, with how many boxes
 * start before each (pre[i]; pre[m] = n) and their hashes. */
struct bucket_addrs {
	u128 *addr;
	size_t *pre;
	uint64_t *hash;
	size_t m;
};

static bool bucket_addrs(const struct class_box **v, size_t n, struct bucket_addrs *a)
{
	a->m = 0;
	a->addr = malloc((n ? n : 1) * sizeof(*a->addr));
	a->pre = malloc((n + 1) * sizeof(*a->pre));
	a->hash = malloc((n ? n : 1) * sizeof(*a->hash));
	if (!a->addr || !a->pre || !a->hash)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && v[i]->peer_lo == v[i - 1]->peer_lo)
			continue;
		a->addr[a->m] = v[i]->peer_lo;
		a->hash[a->m] = bucket_hash(v[i]->peer_lo);
		a->pre[a->m++] = i;
	}
	a->pre[a->m] = n;
	return true;
}

/* Is address i the highest hash within BUCKET_WINDOW boxes of it?  Ties
 * (two IPv6 addresses whose hashes collide) go to the lower address.  The
 * ends of the family count as higher than any hash: no bucket starts
 * within BUCKET_WINDOW boxes of them, so a family with fewer than twice
 * as many boxes keeps one bucket whatever its edits. */
static bool bucket_local_max(const struct bucket_addrs *a, size_t i)
{
	size_t n = a->pre[a->m];

	if (a->pre[i] < BUCKET_WINDOW || n - a->pre[i + 1] < BUCKET_WINDOW)
		return false;
	for (size_t j = i; j-- > 0 && a->pre[i] - a->pre[j + 1] < BUCKET_WINDOW;)
		if (a->hash[j] >= a->hash[i])
			return false;
	for (size_t j = i + 1; j < a->m && a->pre[j] - a->pre[i + 1] < BUCKET_WINDOW; j++)
		if (a->hash[j] > a->hash[i])
			return false;
	return true;
}

/* Bucket starts (see BUCKET_WINDOW): the first bucket starts at address
 * 0, so its name does not depend on the lowest box either. */
static u128 *bucket_starts(const struct class_box **v, size_t n, size_t *nb)
{
	struct bucket_addrs a = { 0 };
	u128 *st = NULL;

	*nb = 0;
	if (!bucket_addrs(v, n, &a) || !(st = malloc((a.m + 1) * sizeof(*st))))
		goto out;
	st[(*nb)++] = 0;
	for (size_t i = 0; i < a.m; i++)
		if (a.addr[i] != 0 && bucket_local_max(&a, i) &&
		    !bucket_id_taken(st, *nb, v[0]->fam, a.addr[i]))
			st[(*nb)++] = a.addr[i];
out:
	free(a.addr);
	free(a.pre);
	free(a.hash);
	return st;
}

/* A box over more buckets than this goes to the direction's shared
 * ports / protos maps instead of into every bucket it spans: a few wide
 * rules (a /8, "any") must not fill every bucket. */
#define BUCKET_SPAN_MAX 2

struct bucket_sets {
	size_t exact, map, ports, protos;	/* plan set indices */
	size_t first;				/* bucket i: first + 2i, +1 */
};

static void bucket_chain(struct kctx *k, const char *name, const char *ports,
			 const char *protos)
{
	struct plan_chain *c = plan_add_chain(k->plan, name, PH_NONE);
	struct plan_rule *r;

	if (!c || !(r = plan_add_rule(c, NULL))) {
		k->oom = true;
		return;
	}
	stmt(r, PS_VMAP, 0, plan_strdup(k->plan, ports));
	if (!(r = plan_add_rule(c, NULL))) {
		k->oom = true;
		return;
	}
	stmt(r, PS_VMAP, 0, plan_strdup(k->plan, protos));
}

/* The maps and chains: name_exact, name_bucket, and per bucket a chain
 * name_bID with maps name_bID_ports and name_bID_protos (bucket_id). */
static void bucket_objects(struct kctx *k, enum direction d, enum addr_family f,
			   const u128 *st, size_t nb, struct bucket_sets *bs)
{
	char base[16], id[24], name[32], ports[32], protos[32];
	struct plan_set *s;

	compile_df_name(base, sizeof(base), d, f);
	bs->exact = k->plan->nsets;
	bs->ports = bs->exact + 1;
	bs->protos = bs->exact + 2;
	bs->map = bs->exact + 3;
	bs->first = bs->exact + 4;
	if (!plan_add_set(k->plan, compile_set_name(name, sizeof(name), d, f, "exact")) ||
	    !plan_add_set(k->plan, compile_set_name(name, sizeof(name), d, f, "ports")) ||
	    !plan_add_set(k->plan, compile_set_name(name, sizeof(name), d, f, "protos")) ||
	    !plan_add_set(k->plan, compile_set_name(name, sizeof(name), d, f, "bucket"))) {
		k->oom = true;
		return;
	}
	for (size_t i = 0; i < nb && !k->oom; i++) {
		bucket_id(id, sizeof(id), f, st[i]);
		snprintf(name, sizeof(name), "%s_b%s", base, id);
		snprintf(ports, sizeof(ports), "%s_ports", name);
		snprintf(protos, sizeof(protos), "%s_protos", name);
		if (!plan_add_set(k->plan, ports) || !plan_add_set(k->plan, protos))
			k->oom = true;
		bucket_chain(k, name, ports, protos);
	}
	for (size_t i = bs->exact; i < k->plan->nsets && !k->oom; i++) {
		bool with_port = i == bs->exact || i == bs->ports ||
				 (i >= bs->first && (i - bs->first) % 2 == 0);

		s = &k->plan->sets[i];
		s->counter = i != bs->map;
		s->interval = i != bs->exact;
		s->nfields = compile_key_fields(d, f, false, with_port, s->fields);
	}
	if (k->oom)
		return;
	/* Keyed by the peer address and the protocol, every protocol in each
	 * element: a concatenation, which the kernel keeps as pipapo (with
	 * AVX2 where the CPU has it).  The peer address alone would make a
	 * single-field interval map, kept as an rbtree, whose lookup cost
	 * new flows of the bucketed classes twice what pipapo's does
	 * (BENCHMARKS.md, "Interval classes"). */
	s = &k->plan->sets[bs->map];
	s->nfields = compile_key_fields(d, f, false, false, s->fields);
	for (size_t i = 0; i < nb && !k->oom; i++) {
		struct plan_elem e = { .rule = PLAN_NO_RULE };

		e.lo[0] = st[i];
		e.hi[0] = i + 1 < nb ? st[i + 1] - 1 : addr_max(f);
		e.lo[1] = 0;
		e.hi[1] = 255;
		bucket_id(id, sizeof(id), f, st[i]);
		snprintf(name, sizeof(name), "%s_b%s", base, id);
		e.verdict = (struct plan_verdict){ PV_JUMP, plan_strdup(k->plan, name), 0, 0 };
		compile_elem_add(k, s, &e);
	}
}

/* Every box in the buckets its peer interval overlaps, cut to each. */
static void bucket_elements(struct kctx *k, const struct class_box **v, size_t n,
			    const u128 *st, size_t nb, const struct bucket_sets *bs)
{
	struct plan_set *sets = k->plan->sets;
	size_t i = 0;

	for (size_t j = 0; j < k->cls->nboxes && !k->oom; j++) {
		const struct class_box *b = &k->cls->boxes[j];

		if (b->dir == v[0]->dir && b->fam == v[0]->fam && box_is_exact(b))
			compile_box_elements(k, b, false, &sets[bs->exact], NULL, NULL);
	}
	for (size_t x = 0; x < n && !k->oom; x++) {
		const struct class_box *b = v[x];
		size_t last = i;

		while (i + 1 < nb && st[i + 1] <= b->peer_lo)
			i++;
		while (last + 1 < nb && st[last + 1] <= b->peer_hi)
			last++;
		if (last - i + 1 > BUCKET_SPAN_MAX) {
			compile_box_elements(k, b, false, &sets[bs->exact], &sets[bs->ports],
					     &sets[bs->protos]);
			continue;
		}
		for (size_t q = i; q < nb && st[q] <= b->peer_hi && !k->oom; q++) {
			struct class_box cut = *b;
			u128 end = q + 1 < nb ? st[q + 1] - 1 : addr_max(b->fam);

			if (cut.peer_lo < st[q])
				cut.peer_lo = st[q];
			if (cut.peer_hi > end)
				cut.peer_hi = end;
			compile_box_elements(k, &cut, false, &sets[bs->exact],
					     &sets[bs->first + 2 * q],
					     &sets[bs->first + 2 * q + 1]);
		}
	}
}

static void vmap_rule(struct kctx *k, struct plan_chain *chain, const char *set)
{
	struct plan_rule *r = plan_add_rule(chain, NULL);

	if (!r) {
		k->oom = true;
		return;
	}
	stmt(r, PS_VMAP, 0, plan_strdup(k->plan, set));
}

/* Large policies: exact boxes in one hash map, as before; the others
 * through the buckets.  false (nothing added) when the direction and
 * family has few interval boxes or names "local". */
bool compile_bucket_lookups(struct kctx *k, enum direction d, enum addr_family f,
			    struct plan_chain *chain)
{
	size_t n, nb, ci = (size_t)(chain - k->plan->chains);
	const struct class_box **v = interval_boxes(k, d, f, &n);
	struct bucket_sets bs;
	u128 *st;

	if (!v || n == 0 || n < bucket_layout_min()) {
		free(v);
		return k->oom;
	}
	st = bucket_starts(v, n, &nb);
	if (!st) {
		free(v);
		k->oom = true;
		return true;
	}
	bucket_objects(k, d, f, st, nb, &bs);
	if (!k->oom)
		compile_icmp_map(k, d, f, false);
	if (!k->oom)
		bucket_elements(k, v, n, st, nb, &bs);
	chain = &k->plan->chains[ci];	/* bucket chains may have moved it */
	if (!k->oom)
		vmap_rule(k, chain, k->plan->sets[bs.exact].name);
	if (!k->oom)
		vmap_rule(k, chain, k->plan->sets[bs.map].name);
	if (!k->oom)
		vmap_rule(k, chain, k->plan->sets[bs.ports].name);
	if (!k->oom)
		vmap_rule(k, chain, k->plan->sets[bs.protos].name);
	compile_icmp_lookup(k, f, chain);
	free(st);
	free(v);
	return true;
}
