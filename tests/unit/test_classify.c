/* Property tests: the disjoint classes decide exactly as the ordered
 * rules do, for random policies and random packets. */
#include "config.h"

#include "classify.h"
#include "gen.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static u128 pick_addr(const struct gen_opts *o, enum addr_family f, uint64_t *s)
{
	u128 base = f == AF4 ? (u128)0x0a000000 : (u128)0xfd00 << 112;

	/* mostly inside the generated span, sometimes just outside or far away */
	switch (gen_rand(s) % 10) {
	case 0:
		return (u128)gen_rand(s) << (f == AF4 ? 0 : 64);
	default:
		return base + gen_rand(s) % (o->addr_span + 40);
	}
}

static struct packet_key pick_packet(const struct gen_opts *o, uint64_t *s)
{
	static const unsigned protos[] = { 6, 17, 1, 58, 50, 47, 132 };
	struct packet_key k = { 0 };
	unsigned p = protos[gen_rand(s) % 7];

	k.dir = gen_rand(s) % 4 ? DIR_IN : DIR_OUT;
	k.fam = o->use_v6 && gen_rand(s) % 3 == 0 ? AF6 : AF4;
	k.peer = pick_addr(o, k.fam, s);
	k.local = pick_addr(o, k.fam, s);
	k.key = KEY(p, (p == 6 || p == 17) ? 1 + gen_rand(s) % (o->port_span + 30) : 0);
	return k;
}

static void check_disjoint(const struct classes *c)
{
	/* boxes are sorted; only neighbours in (dir, fam) can overlap, but the
	 * honest check is pairwise on these small policies */
	for (size_t i = 0; i < c->nboxes; i++)
		for (size_t j = i + 1; j < c->nboxes; j++) {
			const struct class_box *a = &c->boxes[i], *b = &c->boxes[j];

			if (a->dir != b->dir || a->fam != b->fam)
				continue;
			if (!(a->peer_hi < b->peer_lo || b->peer_hi < a->peer_lo ||
			      a->key_hi < b->key_lo || b->key_hi < a->key_lo ||
			      a->local_hi < b->local_lo || b->local_hi < a->local_lo))
				cr_assert_fail("boxes %zu and %zu overlap", i, j);
		}
}

static size_t run_property(const struct gen_opts *o, uint64_t seed, size_t packets)
{
	uint64_t s = seed;
	struct policy *p = gen_policy(o, &s);
	struct classes *c = classify(p, CLASSIFY_ANALYSE);
	size_t checked = 0;

	cr_assert_not_null(c);
	check_disjoint(c);
	for (size_t i = 0; i < packets; i++) {
		struct packet_key k = pick_packet(o, &s);
		uint32_t want = classify_eval_rules(p, &k), got = classify_lookup(c, &k);

		/* Criterion reports every passing assertion to its runner, which
		 * is slow at this count: assert only on a mismatch */
		if (got != want)
			cr_assert_fail("seed %llu packet %zu: classes say rule %u, rules say %u",
				 (unsigned long long)seed, i, got, want);
		checked++;
	}
	classes_free(c);
	policy_free(p);
	return checked;
}

Test(classify, random_policies_agree_with_ordered_rules)
{
	struct gen_opts o = { .nrules = 40, .addr_span = 64, .port_span = 40,
			      .use_v6 = true, .wide_pct = 20 };
	size_t total = 0;

	for (uint64_t seed = 1; seed <= 60; seed++)
		total += run_property(&o, seed * 7919, 1000);
	o.use_local = true;
	for (uint64_t seed = 1; seed <= 40; seed++)
		total += run_property(&o, seed * 104729, 1000);
	o.use_local = false;
	o.nrules = 300;
	o.addr_span = 256;
	o.port_span = 100;
	for (uint64_t seed = 1; seed <= 5; seed++)
		total += run_property(&o, seed * 31, 4000);
	cr_assert_geq(total, 100000, "only %zu packets checked", total);
}

/* Removing a rule the classifier calls redundant changes no decision, and
 * a rule it says never matches is never the first match. */
Test(classify, redundant_and_shadowed_are_exact)
{
	struct gen_opts o = { .nrules = 30, .addr_span = 32, .port_span = 20, .wide_pct = 20 };
	size_t seen_redundant = 0, seen_shadowed = 0;

	for (uint64_t seed = 1; seed <= 80; seed++) {
		uint64_t s = seed * 65537;
		struct policy *p = gen_policy(&o, &s);
		struct classes *c = classify(p, CLASSIFY_ANALYSE);

		cr_assert_not_null(c);
		for (size_t r = 0; r < p->nrules; r++) {
			const struct class_rule_info *in = &c->info[r];

			if (!in->boxes)
				seen_shadowed++;
			if (!in->redundant)
				continue;
			seen_redundant++;
			for (int i = 0; i < 2000; i++) {
				struct packet_key k = pick_packet(&o, &s);
				uint32_t with = classify_eval_rules(p, &k), without;
				struct rule saved = p->rules[r];

				/* disable rule r by giving it an impossible direction */
				p->rules[r].dir = DIR_COUNT;
				without = classify_eval_rules(p, &k);
				p->rules[r] = saved;
				if (with != r)
					continue;
				if (!(without == CLASS_NONE ?
				      p->rules[r].action == p->defaults[p->rules[r].dir] :
				      rule_same_decision(&p->rules[r], &p->rules[without])))
					cr_assert_fail("rule %zu was called redundant but its removal changes a decision",
						 r);
			}
		}
		for (int i = 0; i < 2000; i++) {
			struct packet_key k = pick_packet(&o, &s);
			uint32_t w = classify_eval_rules(p, &k);

			if (w != CLASS_NONE && c->info[w].boxes == 0)
				cr_assert_fail("rule %u said to never match, but it decides a packet", w);
		}
		classes_free(c);
		policy_free(p);
	}
	cr_assert_gt(seen_redundant, 0, "the generator produced no redundant rule");
	cr_assert_gt(seen_shadowed, 0, "the generator produced no shadowed rule");
}

/* tcp 22 from any IPv4 peer, on interface iface (NULL: every one) */
static struct rule zone_rule(const char *name, enum action a, const char *iface)
{
	struct rule r = { 0 };

	r.name = strdup(name);
	r.action = a;
	r.dir = DIR_IN;
	r.peers.v = calloc(1, sizeof(*r.peers.v));
	r.peers.v[0] = (struct addr_range){ AF4, 0, addr_max(AF4) };
	r.peers.n = 1;
	r.local.v = calloc(1, sizeof(*r.local.v));
	r.local.v[0] = (struct addr_range){ AF4, 0, addr_max(AF4) };
	r.local.n = 1;
	r.local.any = true;
	r.keys = calloc(1, sizeof(*r.keys));
	r.keys[0] = (struct key_range){ KEY(6, 22), KEY(6, 22) };
	r.nkeys = 1;
	if (iface) {
		r.ifaces = calloc(1, sizeof(*r.ifaces));
		r.ifaces[0] = strdup(iface);
		r.nifaces = 1;
	}
	return r;
}

/* Interface zones: a rule for one interface decides there only; a later
 * rule for every interface still matches elsewhere, so it is neither
 * shadowed nor never-matching, and each zone's boxes hold both. */
Test(classify, interface_zones)
{
	struct policy *p = policy_alloc();
	struct packet_key k = { .dir = DIR_IN, .fam = AF4, .peer = 0x0a000001,
				.key = KEY(6, 22) };
	struct classes *c;

	p->rules = calloc(2, sizeof(*p->rules));
	p->rules[0] = zone_rule("block-eth1", ACT_BLOCK, "eth1");
	p->rules[1] = zone_rule("permit", ACT_PERMIT, NULL);
	p->nrules = 2;
	c = classify(p, CLASSIFY_ANALYSE);
	cr_assert_not_null(c);
	cr_assert_eq(c->nzones[DIR_IN], 1);
	cr_assert_str_eq(c->zones[DIR_IN][0], "eth1");
	cr_assert_eq(c->nzones[DIR_OUT], 0);
	cr_assert_eq(classify_lookup(c, &k), 1, "another interface: permit");
	cr_assert_eq(classify_eval_rules(p, &k), 1);
	k.iface = "eth1";
	cr_assert_eq(classify_lookup(c, &k), 0, "eth1: its own rule first");
	cr_assert_eq(classify_eval_rules(p, &k), 0);
	k.iface = "eth2";
	cr_assert_eq(classify_lookup(c, &k), 1, "a name no rule has is zone 0");
	cr_assert_gt(c->info[1].boxes, 0);
	cr_assert(!c->info[1].redundant);
	cr_assert_eq(c->info[1].shadowed_by[0], CLASS_NONE);
	classes_free(c);
	policy_free(p);
}
