#include "config.h"

#include "compile.h"
#include "icmp.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kctx {
	const struct policy *pol;
	const struct classes *cls;
	struct plan *plan;
	const char **verdict_chain;	/* per rule: NULL, or the chain its elements goto */
	size_t max_elems;		/* 0: no limit */
	size_t nelems;			/* elements so far, added or not */
	struct plan_set *icmp;		/* the direction and family's df_icmp map, or
					   NULL when no box names ICMP types */
	uint16_t zone;			/* the interface zone whose maps are made */
	bool oom;
};

/* "in4", "out6", "fwd4", ...: the prefix of a direction and family's maps and chains */
static const char *df_name(char *buf, size_t len, enum direction d, enum addr_family f)
{
	snprintf(buf, len, "%s%d", d == DIR_IN ? "in" : d == DIR_OUT ? "out" : "fwd",
		 f == AF4 ? 4 : 6);
	return buf;
}

static const char *set_name(char *buf, size_t len, enum direction d,
			    enum addr_family f, const char *kind)
{
	char df[8];

	snprintf(buf, len, "%s_%s", df_name(df, sizeof(df), d, f), kind);
	return buf;
}

/* set_name of the zone being compiled: "in4_z1_ports" for zone 1 */
static const char *zname(const struct kctx *k, char *buf, size_t len, enum direction d,
			 enum addr_family f, const char *kind)
{
	char df[8];

	if (!k->zone)
		return set_name(buf, len, d, f, kind);
	snprintf(buf, len, "%s_z%u_%s", df_name(df, sizeof(df), d, f), (unsigned)k->zone, kind);
	return buf;
}

static void stmt(struct plan_rule *r, enum plan_stmt_kind k, uint32_t arg,
		 const char *str)
{
	r->stmts[r->nstmts++] = (struct plan_stmt){ .kind = k, .arg = arg, .str = str };
}

static bool is_port_proto(unsigned proto)
{
	return proto == 6 || proto == 17 || proto == 132;
}

/* Key fields of a direction / family's maps. */
static size_t key_fields(enum direction d, enum addr_family f, bool local,
			 bool ports, enum plan_field *out)
{
	enum plan_field src = f == AF4 ? PF_SADDR4 : PF_SADDR6;
	enum plan_field dst = f == AF4 ? PF_DADDR4 : PF_DADDR6;
	size_t n = 0;

	/* in and forward: the peer is the source */
	out[n++] = d != DIR_OUT ? src : dst;
	if (local)
		out[n++] = d != DIR_OUT ? dst : src;
	out[n++] = PF_L4PROTO;
	if (ports)
		out[n++] = PF_DPORT;
	return n;
}

/* Every element goes through here: past the limit it is only counted. */
static void elem_add(struct kctx *k, struct plan_set *s, const struct plan_elem *e)
{
	if (k->max_elems && k->nelems++ >= k->max_elems)
		return;
	if (plan_add_elem(s, e))
		k->oom = true;
}

static struct plan_verdict rule_verdict(struct kctx *k, uint32_t rule)
{
	const struct rule *r = &k->pol->rules[rule];

	if (k->verdict_chain[rule])
		return (struct plan_verdict){ PV_GOTO, k->verdict_chain[rule], 0, 0 };
	return (struct plan_verdict){ r->action == ACT_PERMIT ? PV_ACCEPT : PV_DROP,
				      NULL, 0, 0 };
}

static void add_elem(struct kctx *k, struct plan_set *s, const struct class_box *b,
		     bool local, unsigned plo, unsigned phi, unsigned portlo,
		     unsigned porthi)
{
	struct plan_elem e = { .rule = b->rule };
	size_t n = 0;

	e.lo[n] = b->peer_lo;
	e.hi[n++] = b->peer_hi;
	if (local) {
		e.lo[n] = b->local_lo;
		e.hi[n++] = b->local_hi;
	}
	e.lo[n] = plo;
	e.hi[n++] = phi;
	if (s->nfields > n) {
		e.lo[n] = portlo;
		e.hi[n] = porthi;
	}
	e.verdict = rule_verdict(k, b->rule);
	elem_add(k, s, &e);
}

/* ICMP of the other family never occurs: no element for it. */
static bool foreign_icmp(unsigned proto, enum addr_family f)
{
	return (proto == 1 && f == AF6) || (proto == 58 && f == AF4);
}

/* Protocols [plo, phi] without ports go to the protos map, skipping tcp,
 * udp and sctp, whose ports the ports map covers. */
static void add_protos(struct kctx *k, struct plan_set *protos,
		       const struct class_box *b, bool local, unsigned plo,
		       unsigned phi)
{
	unsigned start = plo;

	for (unsigned p = plo; p <= phi + 1; p++) {
		if (p <= phi && !is_port_proto(p) && !foreign_icmp(p, b->fam))
			continue;
		if (start < p)
			add_elem(k, protos, b, local, start, p - 1, 0, 0);
		start = p + 1;
	}
}

/* The ICMP types [*lo, *hi] of protocol p that box b covers when they are
 * some types of this family's ICMP but not all of them: the pieces that
 * go to the df_icmp map.  Keys past 255 belong to no packet. */
static bool icmp_piece(const struct class_box *b, unsigned p, unsigned *lo,
		       unsigned *hi)
{
	*lo = p == KEY_PROTO(b->key_lo) ? KEY_PORT(b->key_lo) : 0;
	*hi = p == KEY_PROTO(b->key_hi) ? KEY_PORT(b->key_hi) : 0xffff;
	if (!icmp_is_icmp(p) || (*lo == 0 && *hi == 0xffff))
		return false;
	if (*hi > ICMP_TYPE_MAX)
		*hi = ICMP_TYPE_MAX;
	return true;
}

/* ICMP types of a box: an element of df_icmp, or of df_protos when they
 * are every type there is. */
static void icmp_elements(struct kctx *k, const struct class_box *b, bool local,
			  struct plan_set *protos, unsigned p, unsigned lo, unsigned hi)
{
	struct plan_elem e = { .rule = b->rule };
	size_t n = 0;

	if (lo > hi || foreign_icmp(p, b->fam))
		return;
	if (lo == 0 && hi == ICMP_TYPE_MAX) {
		add_elem(k, protos, b, local, p, p, 0, 0);
		return;
	}
	if (!k->icmp) {		/* icmp_map_needed() disagrees: a bug */
		k->oom = true;
		return;
	}
	e.lo[n] = b->peer_lo;
	e.hi[n++] = b->peer_hi;
	if (local) {
		e.lo[n] = b->local_lo;
		e.hi[n++] = b->local_hi;
	}
	e.lo[n] = lo;
	e.hi[n] = hi;
	e.verdict = rule_verdict(k, b->rule);
	elem_add(k, k->icmp, &e);
}

/* One class box becomes one or more elements: its key interval is split
 * per protocol field (an interval in a concatenation is per field). */
static void box_elements(struct kctx *k, const struct class_box *b, bool local,
			 struct plan_set *exact, struct plan_set *ports,
			 struct plan_set *protos)
{
	unsigned p0 = KEY_PROTO(b->key_lo), p1 = KEY_PROTO(b->key_hi), tlo, thi;

	for (unsigned p = p0; p <= p1; p++) {
		unsigned lo = p == p0 ? KEY_PORT(b->key_lo) : 0;
		unsigned hi = p == p1 ? KEY_PORT(b->key_hi) : 0xffff;

		if (icmp_piece(b, p, &tlo, &thi)) {
			icmp_elements(k, b, local, protos, p, tlo, thi);
			continue;
		}
		if (is_port_proto(p)) {
			bool single = lo == hi && b->peer_lo == b->peer_hi &&
				      (!local || b->local_lo == b->local_hi);

			add_elem(k, single ? exact : ports, b, local, p, p, lo, hi);
			continue;
		}
		/* a run of port-less protocols: one element for the run */
		unsigned q = p;

		while (q < p1 && !is_port_proto(q + 1) && !icmp_piece(b, q + 1, &tlo, &thi))
			q++;
		add_protos(k, protos, b, local, p, q);
		p = q;
	}
}

/* --- ICMP types ------------------------------------------------------------ */

/* Does some box of d and f cover some types of f's ICMP, but not all? */
static bool icmp_map_needed(const struct kctx *k, enum direction d, enum addr_family f)
{
	unsigned p = f == AF4 ? 1 : 58, lo, hi;

	for (size_t i = 0; i < k->cls->nboxes; i++) {
		const struct class_box *b = &k->cls->boxes[i];

		if (b->dir == d && b->fam == f && b->zone == k->zone && KEY_PROTO(b->key_lo) <= p &&
		    KEY_PROTO(b->key_hi) >= p && icmp_piece(b, p, &lo, &hi) &&
		    lo <= hi && !(lo == 0 && hi == ICMP_TYPE_MAX))
			return true;
	}
	return false;
}

/* The df_icmp map, keyed by peer (and local) address and ICMP type, when
 * a rule of d names ICMP types of f: a policy without them compiles as
 * before.  Set last: any later plan_add_set moves it. */
static void icmp_map(struct kctx *k, enum direction d, enum addr_family f, bool local)
{
	struct plan_set *s;
	char name[32];
	size_t n;

	k->icmp = NULL;
	if (!icmp_map_needed(k, d, f))
		return;
	if (!(s = plan_add_set(k->plan, zname(k, name, sizeof(name), d, f, "icmp")))) {
		k->oom = true;
		return;
	}
	n = key_fields(d, f, local, false, s->fields) - 1;	/* not meta l4proto */
	s->fields[n++] = f == AF4 ? PF_ICMP_TYPE : PF_ICMPV6_TYPE;
	s->nfields = n;
	s->interval = true;
	s->counter = true;
	k->icmp = s;
}

/* meta l4proto icmp|ipv6-icmp <key> vmap @df_icmp, when there is one */
static void icmp_lookup(struct kctx *k, enum addr_family f, struct plan_chain *chain)
{
	struct plan_rule *r;

	if (!k->icmp || k->oom)
		return;
	if (!(r = plan_add_rule(chain, NULL))) {
		k->oom = true;
		return;
	}
	stmt(r, PS_L4PROTO_IS, f == AF4 ? 1 : 58, NULL);
	stmt(r, PS_VMAP, 0, plan_strdup(k->plan, k->icmp->name));
	k->icmp = NULL;
}

/* --- the bucket layout (large policies) ----------------------------------- */

/* The kernel's concatenated interval maps cost time in proportion to
 * their size on every lookup, and quadratic time to load.  Above this
 * many boxes that need intervals, a direction and family splits them by
 * peer address into buckets of a few hundred boxes: an interval map on the
 * peer address (the kernel's rbtree: log(buckets)) jumps to the bucket's
 * chain, whose interval maps stay small.  Below it, one map is as fast
 * and the kernel rule count stays the same for every policy. */
#define BUCKET_LAYOUT_MIN 1024

/* Where buckets start is defined by content, not by position, so that an
 * edit of the policy moves at most the boundaries near it and an
 * incremental apply sends only those buckets again (with every 512th box
 * starting a bucket, one box more shifted every later boundary).  Boxes
 * are taken in peer order; a peer address where boxes start is a cut
 * point when bucket_hash() of it is 0 modulo BUCKET_CUT_ODDS.  A cut point
 * starts a new bucket once the current one holds BUCKET_MIN such
 * addresses (or BUCKET_MIN_BOXES boxes).  A bucket of BUCKET_SOFT_MAX
 * boxes is cut at an address whose hash is 0 modulo BUCKET_SOFT_ODDS as
 * well, and one of BUCKET_MAX boxes at its next address.
 *
 * Addresses, not boxes, are counted where they can be: a rule's new port
 * cuts the boxes of many other rules into more or fewer pieces (the
 * classifier's cuts follow every port boundary of the direction), which
 * changes how many boxes start at an address all over the address space,
 * but not which addresses they start at.  Box counts only bound the size
 * where addresses hold many boxes each.
 *
 * Why these numbers: a bucket holds BUCKET_MIN addresses plus a geometric
 * number with mean BUCKET_CUT_ODDS, 224 on average; the generated
 * 100,000-rule policy (bench/gen-policy) has about 2 boxes per address,
 * so about 460 boxes (the old layout's 512), spread by about 130.  A new
 * flow costs in proportion to the size of the bucket it lands in, and
 * flows land in big buckets more often: the mean a flow sees is
 * E[size^2] / E[size] = (130^2 + 460^2) / 460 = 497 boxes, no more than
 * with 512 in every bucket.  A larger BUCKET_CUT_ODDS (a smaller minimum)
 * would make an edit move a boundary less often (an edit of d addresses
 * moves the next one with chance about d / BUCKET_CUT_ODDS) but cost every
 * flow more.  With 2 boxes per address, 160 addresses are about 330
 * boxes, and a bucket reaches BUCKET_SOFT_MAX without a cut point with
 * chance (1 - 1/64)^(384 - 160), about 3%: box counts rarely decide a cut
 * there (lower box limits, 384 / 512 / 768 or 448 / 640 / 896, changed
 * 6,000 to 16,000 more elements than these on the 10-edit row of
 * bench/bucket-churn at 100,000 rules).  Where addresses hold many boxes
 * each, buckets end between BUCKET_SOFT_MAX and BUCKET_MAX boxes. */
#define BUCKET_MIN 160
#define BUCKET_CUT_ODDS 64
#define BUCKET_MIN_BOXES 512
#define BUCKET_SOFT_MAX 768
#define BUCKET_SOFT_ODDS 8
#define BUCKET_MAX 1024

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

/* Does a bucket of this many addresses and boxes end before address a? */
static bool bucket_cut(size_t addrs, size_t boxes, u128 a)
{
	uint64_t h = bucket_hash(a);

	if (addrs < BUCKET_MIN && boxes < BUCKET_MIN_BOXES)
		return false;
	return h % BUCKET_CUT_ODDS == 0 || (boxes >= BUCKET_SOFT_MAX && h % BUCKET_SOFT_ODDS == 0) ||
	       boxes >= BUCKET_MAX;
}

/* Bucket starts (see BUCKET_MIN): the first bucket starts at address 0,
 * so its name does not depend on the lowest box either. */
static u128 *bucket_starts(const struct class_box **v, size_t n, size_t *nb)
{
	u128 *st = malloc((n / BUCKET_MIN + 2) * sizeof(*st));
	size_t addrs = 0, boxes = 0;	/* in the current bucket */

	*nb = 0;
	if (!st)
		return NULL;
	st[(*nb)++] = 0;
	for (size_t i = 0; i < n; i++, boxes++) {
		u128 a = v[i]->peer_lo;

		if (i > 0 && a == v[i - 1]->peer_lo)
			continue;
		if (bucket_cut(addrs, boxes, a) && !bucket_id_taken(st, *nb, v[i]->fam, a)) {
			st[(*nb)++] = a;
			addrs = boxes = 0;
		}
		addrs++;
	}
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
	stmt(r, PS_L4PROTO_PORTS, 0, NULL);
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

	df_name(base, sizeof(base), d, f);
	bs->exact = k->plan->nsets;
	bs->ports = bs->exact + 1;
	bs->protos = bs->exact + 2;
	bs->map = bs->exact + 3;
	bs->first = bs->exact + 4;
	if (!plan_add_set(k->plan, set_name(name, sizeof(name), d, f, "exact")) ||
	    !plan_add_set(k->plan, set_name(name, sizeof(name), d, f, "ports")) ||
	    !plan_add_set(k->plan, set_name(name, sizeof(name), d, f, "protos")) ||
	    !plan_add_set(k->plan, set_name(name, sizeof(name), d, f, "bucket"))) {
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
		s->nfields = key_fields(d, f, false, with_port, s->fields);
	}
	if (k->oom)
		return;
	s = &k->plan->sets[bs->map];
	s->nfields = 1;		/* the peer address */
	for (size_t i = 0; i < nb && !k->oom; i++) {
		struct plan_elem e = { .rule = PLAN_NO_RULE };

		e.lo[0] = st[i];
		e.hi[0] = i + 1 < nb ? st[i + 1] - 1 : addr_max(f);
		bucket_id(id, sizeof(id), f, st[i]);
		snprintf(name, sizeof(name), "%s_b%s", base, id);
		e.verdict = (struct plan_verdict){ PV_JUMP, plan_strdup(k->plan, name), 0, 0 };
		elem_add(k, s, &e);
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
			box_elements(k, b, false, &sets[bs->exact], NULL, NULL);
	}
	for (size_t x = 0; x < n && !k->oom; x++) {
		const struct class_box *b = v[x];
		size_t last = i;

		while (i + 1 < nb && st[i + 1] <= b->peer_lo)
			i++;
		while (last + 1 < nb && st[last + 1] <= b->peer_hi)
			last++;
		if (last - i + 1 > BUCKET_SPAN_MAX) {
			box_elements(k, b, false, &sets[bs->exact], &sets[bs->ports],
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
			box_elements(k, &cut, false, &sets[bs->exact], &sets[bs->first + 2 * q],
				     &sets[bs->first + 2 * q + 1]);
		}
	}
}

static void vmap_rule(struct kctx *k, struct plan_chain *chain, enum plan_stmt_kind guard,
		      const char *set)
{
	struct plan_rule *r = plan_add_rule(chain, NULL);

	if (!r) {
		k->oom = true;
		return;
	}
	if (guard)
		stmt(r, guard, 0, NULL);
	stmt(r, PS_VMAP, 0, plan_strdup(k->plan, set));
}

/* Large policies: exact boxes in one hash map, as before; the others
 * through the buckets.  false (nothing added) when the direction and
 * family has few interval boxes or names "local". */
static bool bucket_lookups(struct kctx *k, enum direction d, enum addr_family f,
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
		icmp_map(k, d, f, false);
	if (!k->oom)
		bucket_elements(k, v, n, st, nb, &bs);
	chain = &k->plan->chains[ci];	/* bucket chains may have moved it */
	if (!k->oom)
		vmap_rule(k, chain, PS_L4PROTO_PORTS, k->plan->sets[bs.exact].name);
	if (!k->oom)
		vmap_rule(k, chain, 0, k->plan->sets[bs.map].name);
	if (!k->oom)
		vmap_rule(k, chain, PS_L4PROTO_PORTS, k->plan->sets[bs.ports].name);
	if (!k->oom)
		vmap_rule(k, chain, 0, k->plan->sets[bs.protos].name);
	icmp_lookup(k, f, chain);
	free(st);
	free(v);
	return true;
}

static void add_lookups(struct kctx *k, enum direction d, enum addr_family f,
			struct plan_chain *chain)
{
	static const char *const kinds[] = { "exact", "ports", "protos" };
	bool local = k->cls->uses_local[d];
	struct plan_set *sets[3];
	char name[32];

	/* interface zones: the plain layout, one per zone */
	if (!local && !k->cls->nzones[d] && bucket_lookups(k, d, f, chain))
		return;
	for (int i = 0; i < 3; i++) {
		sets[i] = plan_add_set(k->plan, zname(k, name, sizeof(name), d, f, kinds[i]));
		if (!sets[i]) {
			k->oom = true;
			return;
		}
	}
	icmp_map(k, d, f, local);
	/* plan_add_set may move earlier sets: look them up again */
	for (int i = 0; i < 3 && !k->oom; i++) {
		sets[i] = plan_find_set(k->plan, zname(k, name, sizeof(name), d, f, kinds[i]));
		sets[i]->nfields = key_fields(d, f, local, i < 2, sets[i]->fields);
		sets[i]->interval = i > 0;
		sets[i]->counter = true;
	}
	for (size_t i = 0; i < k->cls->nboxes && !k->oom; i++) {
		const struct class_box *b = &k->cls->boxes[i];

		if (b->dir == d && b->fam == f && b->zone == k->zone)
			box_elements(k, b, local, sets[0], sets[1], sets[2]);
	}
	for (int i = 0; i < 3 && !k->oom; i++) {
		struct plan_rule *r;

		/* empty maps stay: the kernel rule count is the same for every policy */
		r = plan_add_rule(chain, NULL);
		if (!r) {
			k->oom = true;
			return;
		}
		if (i < 2)
			stmt(r, PS_L4PROTO_PORTS, 0, NULL);
		/* by a copy of the name: later sets may move this one */
		stmt(r, PS_VMAP, 0, plan_strdup(k->plan, sets[i]->name));
	}
	icmp_lookup(k, f, chain);
}

static struct plan_rule *rule_or_oom(struct kctx *k, struct plan_chain *c,
				     const char *comment)
{
	struct plan_rule *r = c ? plan_add_rule(c, comment) : NULL;

	if (!r)
		k->oom = true;
	return r;
}

/* The head of a base chain: loopback, invalid, established flows. */
static void base_head(struct kctx *k, struct plan_chain *c, enum direction d)
{
	struct plan_rule *r;

	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, d == DIR_IN ? PS_IIF_LO : PS_OIF_LO, 0, NULL);
		r->verdict.kind = PV_ACCEPT;
	}
	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, PS_CT_STATE, PLAN_CT_INVALID, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	r = rule_or_oom(k, c, d == DIR_IN ? "require-ipsec flow: packet arrived in cleartext" :
			"require-ipsec flow: packet would leave in cleartext");
	if (r) {
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		stmt(r, PS_CT_MARK_SET_BIT, PLAN_CT_MARK_IPSEC, NULL);
		stmt(r, d == DIR_IN ? PS_SECPATH_MISSING : PS_RT_IPSEC_MISSING, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	/* decrypted, but by an SA of another binding than the flow's own:
	 * a peer with an SA of its own must not take over a flow admitted
	 * through someone else's */
	if (d == DIR_IN && (r = rule_or_oom(k, c, "require-ipsec flow: packet arrived through an SA of another binding (reqid)"))) {
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		stmt(r, PS_CT_MARK_SET_BIT, PLAN_CT_MARK_IPSEC, NULL);
		stmt(r, PS_BIND_MISSING, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		r->verdict.kind = PV_ACCEPT;
	}
	if ((r = rule_or_oom(k, c, "IPv6 neighbour discovery"))) {
		stmt(r, PS_ICMPV6_ND, 0, NULL);
		r->verdict.kind = PV_ACCEPT;
	}
}

/* The head of the forward chain: invalid, established flows.  A
 * require-ipsec flow routed through this host arrives through IPsec the
 * way it was admitted (original direction, held to its binding) and its
 * replies leave through IPsec. */
static void forward_head(struct kctx *k, struct plan_chain *c)
{
	static const struct { uint32_t dir; enum plan_stmt_kind check; const char *comment; } est[] = {
		{ 0, PS_SECPATH_MISSING, "require-ipsec flow: forwarded packet arrived in cleartext" },
		{ 0, PS_BIND_MISSING, "require-ipsec flow: forwarded packet arrived through an SA of another binding (reqid)" },
		{ PLAN_CT_REPLY, PS_RT_IPSEC_MISSING, "require-ipsec flow: forwarded reply would leave in cleartext" },
	};
	struct plan_rule *r;

	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, PS_CT_STATE, PLAN_CT_INVALID, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	for (size_t i = 0; i < sizeof(est) / sizeof(est[0]); i++) {
		if (!(r = rule_or_oom(k, c, est[i].comment)))
			return;
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		stmt(r, PS_CT_MARK_SET_BIT, PLAN_CT_MARK_IPSEC, NULL);
		stmt(r, PS_CT_DIRECTION, est[i].dir, NULL);
		stmt(r, est[i].check, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, c, NULL))) {
		stmt(r, PS_CT_STATE, PLAN_CT_ESTABLISHED | PLAN_CT_RELATED, NULL);
		r->verdict.kind = PV_ACCEPT;
	}
}

/* A require-ipsec flow being admitted: its conntrack mark becomes the
 * reqid of the SA it came (or goes) through, with the require-ipsec bit,
 * and that pair joins the set of bindings the established check knows. */
static void admit_marks(struct plan_rule *r, uint32_t dir)
{
	stmt(r, PS_COUNTER, 0, NULL);
	stmt(r, PS_CT_MARK_SET_REQID, dir, NULL);
	stmt(r, PS_CT_MARK_OR, PLAN_CT_MARK_IPSEC, NULL);
	stmt(r, PS_BIND_ADD, dir, NULL);
}

static void binding_set(struct kctx *k)
{
	struct plan_set *s = plan_add_set(k->plan, PLAN_BOUND_SET);

	if (!s)
		k->oom = true;
	else
		s->binding = true;
}

/* Who tries require-ipsec ports in cleartext, and when last: for audit
 * (the drop itself is the next rule's).  Only protocols with ports. */
static void attempt_sets(struct kctx *k, struct plan_chain *in)
{
	static const struct { const char *name, *comment; enum plan_field addr; } fam[] = {
		{ PLAN_ATTEMPTS4, "require-ipsec: cleartext attempt recorded (IPv4)", PF_SADDR4 },
		{ PLAN_ATTEMPTS6, "require-ipsec: cleartext attempt recorded (IPv6)", PF_SADDR6 },
	};

	for (size_t i = 0; i < 2; i++) {
		struct plan_set *s = plan_add_set(k->plan, fam[i].name);
		struct plan_rule *r;
		const char *name = s ? plan_strdup(k->plan, fam[i].name) : NULL;

		if (!s || !name) {
			k->oom = true;
			return;
		}
		s->attempts = true;
		s->fields[0] = fam[i].addr;
		s->fields[1] = PF_L4PROTO;
		s->fields[2] = PF_DPORT;
		s->nfields = 3;
		if ((r = rule_or_oom(k, in, fam[i].comment))) {
			stmt(r, PS_SECPATH_MISSING, 0, NULL);
			stmt(r, PS_L4PROTO_PORTS, 0, NULL);
			stmt(r, PS_ATTEMPT_UPDATE, 0, name);
		}
	}
}

static void ipsec_chains(struct kctx *k)
{
	struct plan_chain *in = plan_add_chain(k->plan, "ipsec_in", PH_NONE);
	struct plan_rule *r;

	attempt_sets(k, in);
	if ((r = rule_or_oom(k, in, "require-ipsec: arrived in cleartext"))) {
		stmt(r, PS_SECPATH_MISSING, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, in, k->plan->mode == PLAN_ENGINE ?
			     "to sagated with the carrying SA's SPI; no bypass: fail closed" :
			     "kernel-only mode: any secpath admits"))) {
		admit_marks(r, 0);
		if (k->plan->mode == PLAN_ENGINE) {
			/* the SPI travels in skb->priority, not the mark: the
			 * mark may be strongSwan's (mark_in), a route-based
			 * VPN's or the admin's, and must leave as it came.
			 * sagated sets the priority back to 0. */
			stmt(r, PS_PRIORITY_SET_SPI, 0, NULL);
			r->verdict = (struct plan_verdict){ PV_QUEUE, NULL, k->plan->queue,
							    k->plan->queue_count };
		} else {
			r->verdict.kind = PV_ACCEPT;
		}
	}
	struct plan_chain *out = plan_add_chain(k->plan, "ipsec_out", PH_NONE);

	if ((r = rule_or_oom(k, out, "require-ipsec: no SA would protect it"))) {
		stmt(r, PS_RT_IPSEC_MISSING, 0, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, out, NULL))) {
		admit_marks(r, PLAN_DIR_OUT);
		r->verdict.kind = PV_ACCEPT;
	}
}

/* Kernel-only mode: a chain per pinned reqid, shared by rules pinning it. */
static const char *reqid_chain(struct kctx *k, uint32_t reqid)
{
	char name[32], comment[64];
	struct plan_chain *c;
	struct plan_rule *r;

	snprintf(name, sizeof(name), "ipsec_in_reqid_%u", reqid);
	if (plan_find_chain(k->plan, name))
		return plan_strdup(k->plan, name);
	c = plan_add_chain(k->plan, name, PH_NONE);
	snprintf(comment, sizeof(comment), "SA must have reqid %u", reqid);
	if ((r = rule_or_oom(k, c, comment))) {
		stmt(r, PS_IPSEC_REQID_NE, reqid, NULL);
		stmt(r, PS_COUNTER, 0, NULL);
		r->verdict.kind = PV_DROP;
	}
	if ((r = rule_or_oom(k, c, NULL)))
		r->verdict = (struct plan_verdict){ PV_GOTO, plan_strdup(k->plan, "ipsec_in"), 0, 0 };
	return plan_strdup(k->plan, name);
}

/* Where a rule's elements send packets, unless plain accept / drop. */
static const char *target_chain(struct kctx *k, const struct rule *r)
{
	if (r->action != ACT_REQUIRE_IPSEC)
		return NULL;
	if (r->dir == DIR_OUT)
		return plan_strdup(k->plan, "ipsec_out");
	/* in and forward alike: the packet must have been decrypted here */
	if (k->plan->mode == PLAN_KERNEL_ONLY && r->ipsec.has_reqid)
		return reqid_chain(k, r->ipsec.reqid);
	return plan_strdup(k->plan, "ipsec_in");
}

/* A log chain's first two rules: past the policy's log rate, count the
 * line lost and decide (then); else log to the nflog group, and go on to
 * the rule that decides. */
static void log_head(struct kctx *k, struct plan_chain *c, const char *comment,
		     const char *prefix, struct plan_verdict then)
{
	const struct policy_logging *l = &k->pol->logging;
	char lost[160];
	struct plan_rule *pr;

	snprintf(lost, sizeof(lost), "log lines lost to the rate: %s", comment);
	if ((pr = rule_or_oom(k, c, lost))) {
		pr->stmts[pr->nstmts++] = (struct plan_stmt){ .kind = PS_LIMIT, .arg = l->rate,
							      .unit = l->unit, .burst = l->burst };
		stmt(pr, PS_COUNTER, 0, NULL);
		pr->verdict = then;
	}
	if ((pr = rule_or_oom(k, c, comment)))
		stmt(pr, PS_LOG, l->group, plan_strdup(k->plan, prefix));
	if ((pr = rule_or_oom(k, c, comment)))
		pr->verdict = then;
}

/* Rules with "log": a small chain each that logs (at most the policy's
 * log rate), then decides. */
static void rule_chains(struct kctx *k)
{
	for (size_t i = 0; i < k->pol->nrules && !k->oom; i++) {
		const struct rule *r = &k->pol->rules[i];
		const char *target = target_chain(k, r);
		char name[32], prefix[128];
		struct plan_verdict then = { PV_NONE, NULL, 0, 0 };

		if (!r->log || !k->cls->info[i].boxes) {
			k->verdict_chain[i] = target;
			continue;
		}
		snprintf(name, sizeof(name), "log_%zu", i);
		/* sagate(8) LOG LINES: "sagate RULE ACTION: ", read back by nflog_msg.c */
		snprintf(prefix, sizeof(prefix), "sagate %s %s: ", r->name,
			 action_name(r->action));
		if (target)
			then = (struct plan_verdict){ PV_GOTO, target, 0, 0 };
		else
			then.kind = r->action == ACT_PERMIT ? PV_ACCEPT : PV_DROP;
		log_head(k, plan_add_chain(k->plan, name, PH_NONE), r->name, prefix, then);
		k->verdict_chain[i] = plan_strdup(k->plan, name);
	}
}

/* defaults.log: the packets that reach the end of a base chain (a new
 * flow no rule matched) go to log_default_DIR, which logs them and
 * decides as the chain's policy would. */
static void default_log(struct kctx *k, enum direction d, const char *base)
{
	const char *dn = d == DIR_IN ? "in" : d == DIR_OUT ? "out" : "forward";
	char name[32], prefix[64], comment[48];
	struct plan_verdict then = { k->pol->defaults[d] == ACT_BLOCK ? PV_DROP : PV_ACCEPT,
				     NULL, 0, 0 };
	struct plan_rule *r;

	if (!k->pol->log_default[d])
		return;
	snprintf(name, sizeof(name), "log_default_%s", dn);
	snprintf(prefix, sizeof(prefix), "sagate default %s %s: ", dn,
		 action_name(k->pol->defaults[d]));
	snprintf(comment, sizeof(comment), "default %s", dn);
	log_head(k, plan_add_chain(k->plan, name, PH_NONE), comment, prefix, then);
	/* the add may have moved the base chain: found again */
	if ((r = rule_or_oom(k, plan_find_chain(k->plan, base), comment)))
		r->verdict = (struct plan_verdict){ PV_GOTO, plan_strdup(k->plan, name), 0, 0 };
}

/* A rule's meter set, keyed by the source of family f. */
static const char *meter_set(struct kctx *k, size_t i, enum addr_family f)
{
	const struct rule_limit *l = &k->pol->rules[i].limit;
	struct plan_set *s;
	char name[32];

	snprintf(name, sizeof(name), "limit_%zu_%d", i, f == AF4 ? 4 : 6);
	if (!(s = plan_add_set(k->plan, name))) {
		k->oom = true;
		return NULL;
	}
	s->meter = true;
	s->fields[0] = f == AF4 ? PF_SADDR4 : PF_SADDR6;
	s->nfields = 1;
	s->rate = l->rate;
	s->unit = l->unit;
	s->burst = l->burst;
	/* a source idle this long has its whole burst again anyway: its
	 * element may go, and the set keeps only the sources that count */
	s->timeout = l->unit * ((l->burst + 2 * l->rate - 1) / l->rate);
	return plan_strdup(k->plan, name);
}

/* Rules with "limit": a chain each, limit_N, that drops the new flows of
 * a source past its rate (one meter set per family), then goes on as the
 * rule's elements would have (accept, or its log chain).  The maps stay
 * as they are: one lookup still decides, and only the rule's own flows
 * pay for the meter. */
static void limit_chains(struct kctx *k)
{
	for (size_t i = 0; i < k->pol->nrules && !k->oom; i++) {
		const struct rule *r = &k->pol->rules[i];
		const char *then = k->verdict_chain[i];
		struct plan_chain *c;
		struct plan_rule *pr;
		char name[32];

		if (!r->limit.rate || !k->cls->info[i].boxes)
			continue;
		snprintf(name, sizeof(name), "limit_%zu", i);
		for (int f = 0; f < AF_COUNT && !k->oom; f++) {
			const char *set = meter_set(k, i, (enum addr_family)f);

			c = plan_find_chain(k->plan, name);
			if (!c)
				c = plan_add_chain(k->plan, name, PH_NONE);
			if (set && (pr = rule_or_oom(k, c, r->name))) {
				stmt(pr, PS_METER_OVER, 0, set);
				stmt(pr, PS_COUNTER, 0, NULL);
				pr->verdict.kind = PV_DROP;
			}
		}
		if ((pr = rule_or_oom(k, plan_find_chain(k->plan, name), r->name)))
			pr->verdict = then ? (struct plan_verdict){ PV_GOTO, then, 0, 0 } :
					     (struct plan_verdict){ PV_ACCEPT, NULL, 0, 0 };
		k->verdict_chain[i] = plan_strdup(k->plan, name);
	}
}

/* --- interface zones ------------------------------------------------------ */

/* A direction whose rules name interfaces: a hash map from the packet's
 * interface (iifname in input and forward, oifname in output) to a chain
 * per named interface, "in_z1", ..., with the maps of that zone's classes
 * (the rules for that interface and those for every one); a packet on
 * another interface goes on to the base chain's own maps (zone 0). */
static void zone_dispatch(struct kctx *k, enum direction d, const char *base)
{
	const char *dn = d == DIR_IN ? "in" : d == DIR_OUT ? "out" : "fwd";
	struct plan_set *s;
	struct plan_rule *r;
	char name[32], chain[32];

	snprintf(name, sizeof(name), "%s_ifaces", dn);
	if (!(s = plan_add_set(k->plan, name))) {
		k->oom = true;
		return;
	}
	s->fields[0] = d == DIR_OUT ? PF_OIFNAME : PF_IIFNAME;
	s->nfields = 1;
	for (size_t z = 1; z <= k->cls->nzones[d] && !k->oom; z++) {
		struct plan_elem e = { .rule = PLAN_NO_RULE };

		snprintf(chain, sizeof(chain), "%s_z%zu", dn, z);
		e.lo[0] = e.hi[0] = plan_ifname_value(k->cls->zones[d][z - 1]);
		e.verdict = (struct plan_verdict){ PV_GOTO, plan_strdup(k->plan, chain), 0, 0 };
		if (!plan_add_chain(k->plan, chain, PH_NONE))
			k->oom = true;
		else
			elem_add(k, plan_find_set(k->plan, name), &e);
		k->zone = (uint16_t)z;
		for (int f = 0; f < AF_COUNT && !k->oom; f++)
			add_lookups(k, d, (enum addr_family)f, plan_find_chain(k->plan, chain));
		k->zone = 0;
	}
	if (!k->oom && (r = rule_or_oom(k, plan_find_chain(k->plan, base), NULL)))
		stmt(r, PS_VMAP, 0, plan_strdup(k->plan, name));
}

char *compile_table_comment(const char *source, const char *sha256)
{
	const char *slash = strrchr(source, '/');
	char *esc = malloc(PLAN_ESCAPE_MAX(strlen(source))), *c = NULL;
	char base[81];

	if (!esc)
		return NULL;
	plan_escape(esc, PLAN_ESCAPE_MAX(strlen(source)), source);
	/* nft refuses comments over 128 bytes: a long path keeps its file name */
	if (asprintf(&c, "sagate policy %s sha256 %.16s", esc, sha256) < 0) {
		c = NULL;
	} else if (strlen(c) > 127) {
		free(c);
		plan_escape(base, sizeof(base), slash ? slash + 1 : source);
		if (asprintf(&c, "sagate policy .../%s sha256 %.16s", base, sha256) < 0)
			c = NULL;
	}
	free(esc);
	return c;
}

unsigned compile_queue_count(const struct policy *p, const struct compile_opts *o)
{
	unsigned n = o->queues ? o->queues : p && p->queues ? p->queues : 1;

	/* the callers validated it; never pass queue 65535 all the same */
	if (n > COMPILE_MAX_QUEUES)
		n = COMPILE_MAX_QUEUES;
	if (o->queue + n - 1 > 65535)
		n = 65536u - o->queue;
	return n;
}

struct plan *compile_plan(const struct policy *p, const struct classes *c,
			  const struct compile_opts *o)
{
	struct kctx k = { .pol = p, .cls = c };

	k.plan = plan_alloc(o->mode);
	k.verdict_chain = calloc(p->nrules ? p->nrules : 1, sizeof(*k.verdict_chain));
	if (!k.plan || !k.verdict_chain)
		goto fail;
	k.plan->queue = o->queue;
	k.plan->queue_count = (uint16_t)compile_queue_count(p, o);
	k.max_elems = c->max_elements;
	k.plan->comment = compile_table_comment(p->file, p->sha256);
	/* base chains first, so listings read top-down */
	if (!k.plan->comment || !plan_add_chain(k.plan, "input", PH_INPUT) ||
	    !plan_add_chain(k.plan, "output", PH_OUTPUT) ||
	    (p->forward_covered && !plan_add_chain(k.plan, "forward", PH_FORWARD)))
		goto fail;
	binding_set(&k);
	ipsec_chains(&k);
	rule_chains(&k);
	limit_chains(&k);
	for (int d = 0; d < DIR_COUNT && !k.oom; d++) {
		const char *base = d == DIR_IN ? "input" : d == DIR_OUT ? "output" : "forward";

		/* no forward word in the policy: no forward chain, the host
		 * forwards as it did before (sagate.json(5), FORWARDED TRAFFIC) */
		if (d == DIR_FWD && !p->forward_covered)
			continue;
		plan_find_chain(k.plan, base)->policy_drop = p->defaults[d] == ACT_BLOCK;
		if (d == DIR_FWD)
			forward_head(&k, plan_find_chain(k.plan, base));
		else
			base_head(&k, plan_find_chain(k.plan, base), (enum direction)d);
		if (c->nzones[d])
			zone_dispatch(&k, (enum direction)d, base);
		for (int f = 0; f < AF_COUNT && !k.oom; f++)
			add_lookups(&k, (enum direction)d, (enum addr_family)f,
				    plan_find_chain(k.plan, base));
		if (!k.oom)
			default_log(&k, (enum direction)d, base);
	}
	if (k.oom || !k.plan->comment)
		goto fail;
	if (k.max_elems && k.nelems > k.max_elems)
		k.plan->elems_needed = k.nelems;
	free(k.verdict_chain);
	return k.plan;
fail:
	free(k.verdict_chain);
	plan_free(k.plan);
	return NULL;
}

bool compile_over_limit(const struct policy *p, const struct classes *c,
			const struct plan *plan, struct diag_list *d)
{
	size_t est;

	if (plan && plan->elems_needed) {
		diag_add(d, DIAG_ERROR, p->file, "", NULL,
			 "the policy needs %zu kernel set elements, more than its limit of %zu; \"max-elements\" raises the limit",
			 plan->elems_needed, p->max_elements);
		return true;
	}
	if (!c->over_limit)
		return false;
	est = classify_estimate(p);
	if (est > p->max_elements)	/* the classifier did not start */
		diag_add(d, DIAG_ERROR, p->file, "", NULL,
			 "the rules name %zu combinations of addresses and ports, about as many kernel set elements, more than the policy's limit of %zu; \"max-elements\" raises the limit",
			 est, p->max_elements);
	else
		diag_add(d, DIAG_ERROR, p->file, "", NULL,
			 "the policy needs more than the %zu kernel set elements its limit allows; \"max-elements\" raises the limit",
			 p->max_elements);
	return true;
}
