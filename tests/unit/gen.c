#include "config.h"

#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t gen_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static u128 base(enum addr_family f)
{
	return f == AF4 ? (u128)0x0a000000 : (u128)0xfd00 << 112;
}

/* A host, CIDR or range inside the span. */
static struct addr_range gen_range(const struct gen_opts *o, enum addr_family f,
				   uint64_t *s)
{
	struct addr_range r = { .fam = f };
	uint32_t a = (uint32_t)(gen_rand(s) % o->addr_span);

	switch (gen_rand(s) % 4) {
	case 0:
	case 1:	/* single host */
		r.lo = r.hi = base(f) + a;
		break;
	case 2: {	/* CIDR of 2^k */
		unsigned k = (unsigned)(gen_rand(s) % 8);
		uint32_t size = 1u << k;

		a &= ~(size - 1);
		r.lo = base(f) + a;
		r.hi = r.lo + size - 1;
		break;
	}
	default:	/* range */
		r.lo = base(f) + a;
		r.hi = r.lo + gen_rand(s) % (o->addr_span / 4 + 1);
	}
	return r;
}

static void gen_addrs(const struct gen_opts *o, struct addr_set *set, uint64_t *s,
		      unsigned any_pct)
{
	size_t n;

	if (gen_rand(s) % 100 < any_pct) {
		set->v = calloc(2, sizeof(*set->v));
		set->v[0] = (struct addr_range){ AF4, 0, addr_max(AF4) };
		set->v[1] = (struct addr_range){ AF6, 0, addr_max(AF6) };
		set->n = 2;
		set->any = true;
		return;
	}
	n = 1 + gen_rand(s) % 3;
	set->v = calloc(n, sizeof(*set->v));
	for (size_t i = 0; i < n; i++)
		set->v[set->n++] = gen_range(o, o->use_v6 && gen_rand(s) % 3 == 0 ?
					     AF6 : AF4, s);
	addr_set_normalize(set);
}

/* A host has few addresses of its own: one or two of four IPv4
 * addresses, and one IPv6 address, so that every peer family can match. */
static void gen_local(struct addr_set *set, uint64_t *s)
{
	static const uint32_t mine[] = { 0x0a000005, 0x0a000006, 0x0a000007, 0x0a000020 };
	size_t n = 1 + gen_rand(s) % 2;
	u128 v6 = ((u128)0xfd00 << 112) + 5 + gen_rand(s) % 2;

	set->v = calloc(n + 1, sizeof(*set->v));
	for (size_t i = 0; i < n; i++) {
		u128 a = mine[gen_rand(s) % 4];

		set->v[set->n++] = (struct addr_range){ AF4, a, a };
	}
	set->v[set->n++] = (struct addr_range){ AF6, v6, v6 };
	addr_set_normalize(set);
}

static void gen_keys(const struct gen_opts *o, struct rule *r, uint64_t *s)
{
	static const unsigned protos[] = { 6, 17, 1, 58, 50 };
	unsigned kind = (unsigned)(gen_rand(s) % 100) < o->wide_pct ?
			(unsigned)(gen_rand(s) % 2) : 2;
	size_t n = 1 + gen_rand(s) % 3;

	r->keys = calloc(n, sizeof(*r->keys));
	if (kind == 0) {	/* any protocol */
		r->keys[0] = (struct key_range){ 0, KEY_MAX };
		r->nkeys = 1;
		return;
	}
	if (kind == 1) {	/* a protocol without ports */
		unsigned p = protos[2 + gen_rand(s) % 3];

		r->keys[0] = (struct key_range){ KEY(p, 0), KEY(p, 0xffff) };
		r->nkeys = 1;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned p = protos[gen_rand(s) % 2];
		unsigned lo = 1 + (unsigned)(gen_rand(s) % o->port_span);
		unsigned hi = gen_rand(s) % 3 ? lo : lo + (unsigned)(gen_rand(s) % 20);

		if (hi > 65535)
			hi = 65535;
		r->keys[r->nkeys++] = (struct key_range){ KEY(p, lo), KEY(p, hi) };
	}
	r->nkeys = key_ranges_normalize(r->keys, r->nkeys);
}

struct policy *gen_policy(const struct gen_opts *o, uint64_t *s)
{
	struct policy *p = policy_alloc();

	p->file = strdup("generated");
	p->rules = calloc(o->nrules ? o->nrules : 1, sizeof(*p->rules));
	for (size_t i = 0; i < o->nrules; i++) {
		struct rule *r = &p->rules[p->nrules++];

		if (asprintf(&r->name, "r%zu", i) < 0)
			abort();
		r->file = strdup("generated");
		r->path = NULL;
		if (asprintf(&r->path, "rules[%zu]", i) < 0)
			abort();
		r->action = (enum action)(gen_rand(s) % 3);
		r->dir = gen_rand(s) % 4 ? DIR_IN : DIR_OUT;
		r->ipsec.encryption = ENC_REQUIRED;
		r->ipsec.algorithms = ALG_DEFAULT_SET;
		r->ipsec.mode = MODE_ANY;
		if (r->action == ACT_REQUIRE_IPSEC && gen_rand(s) % 2) {
			r->ipsec.has_reqid = true;
			r->ipsec.reqid = 1 + (uint32_t)(gen_rand(s) % 2);
		}
		gen_keys(o, r, s);
		/* like real policies: "from anywhere" rules name a service, and
		 * "any protocol" rules name their peers */
		gen_addrs(o, &r->peers, s,
			  r->nkeys == 1 && r->keys[0].lo == 0 && r->keys[0].hi == KEY_MAX ?
			  0 : o->wide_pct);
		if (o->use_local && gen_rand(s) % 5 == 0) {
			gen_local(&r->local, s);
		} else {
			gen_addrs(o, &r->local, s, 100);
		}
	}
	return p;
}
