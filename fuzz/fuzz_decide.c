/* fuzz_decide: libFuzzer target for decide(), sagated's verdict on one
 * queued packet, with its invariants checked against a reference written
 * here, plainly, from the documented semantics (decide.h, xfrm.h,
 * sagate.json(5)).
 *
 * The input is read as numbers (fuzz_bytes.h) that build, in turn: a
 * policy of up to 8 rules over a small address pool (so that rules,
 * SAs and packets meet), its classes, up to 4 SAs in a cache, a clock, a
 * packet (built from fields, built and then damaged, or raw bytes) and
 * the packet mark.  Checked for every verdict:
 *   - the class: once the headers parse, the rule decide() found is the
 *     first rule of the policy, in file order, that matches the packet;
 *   - an accept comes from an inbound require-ipsec rule and an SA in the
 *     cache that carries the marked SPI and satisfies every requirement
 *     of that rule for this packet (origin, mode, selector, encryption,
 *     each transform listed, reqid, alive);
 *   - a drop for a reason about the SA names an SA that really fails;
 *   - a packet built from fields parses to those fields. */
#include "config.h"

#include "classify.h"
#include "decide.h"
#include "fuzz_bytes.h"
#include "model.h"
#include "xfrm.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RULES 8
#define MAX_SAS 4
#define POOL 8		/* addresses per family the input picks from */
#define BASE_NOW 1700000000u

static void fail(const char *what, const struct verdict *v)
{
	fprintf(stderr, "fuzz_decide: %s (reason %s, rule %u, spi 0x%08x)\n", what,
		decide_reason_name(v->reason), v->rule, v->spi);
	abort();
}

static u128 pool_addr(enum addr_family f, unsigned i)
{
	return (f == AF4 ? (u128)0x0a000000 : (u128)0xfd00 << 112) + (i % POOL);
}

/* --- the policy ------------------------------------------------------ */

/* Every address of both families: what the parser makes of "any". */
static void set_any(struct addr_set *s)
{
	s->v = calloc(2, sizeof(*s->v));
	if (!s->v)
		abort();
	s->v[0] = (struct addr_range){ AF4, 0, addr_max(AF4) };
	s->v[1] = (struct addr_range){ AF6, 0, addr_max(AF6) };
	s->n = 2;
	s->any = true;
}

static void gen_addrs(struct fbytes *b, struct addr_set *s, bool may_be_any)
{
	size_t n;

	if (may_be_any && fb_u8(b) % 4 == 0) {
		set_any(s);
		return;
	}
	n = 1 + fb_below(b, 3);
	s->v = calloc(n, sizeof(*s->v));
	if (!s->v)
		abort();
	for (size_t i = 0; i < n; i++) {
		uint8_t x = fb_u8(b);
		enum addr_family f = x & 1 ? AF6 : AF4;
		u128 lo = pool_addr(f, x >> 1);
		unsigned span = fb_below(b, 4) == 0 ? fb_below(b, POOL) : 0;

		s->v[s->n++] = (struct addr_range){ f, lo, lo + span };
	}
	if (addr_set_normalize(s) < 0)
		abort();
}

static void gen_keys(struct fbytes *b, struct rule *r)
{
	static const uint8_t protos[] = { 6, 17, 132, 1, 58, 50, 47 };
	size_t n = 1 + fb_below(b, 3);

	r->keys = calloc(n, sizeof(*r->keys));
	if (!r->keys)
		abort();
	for (size_t i = 0; i < n; i++) {
		uint8_t kind = fb_u8(b) % 8, p = protos[fb_below(b, sizeof(protos))];

		if (kind == 0) {
			r->keys[r->nkeys++] = (struct key_range){ 0, KEY_MAX };
		} else if (kind == 1 || !(p == 6 || p == 17 || p == 132)) {
			r->keys[r->nkeys++] = (struct key_range){ KEY(p, 0), KEY(p, 0xffff) };
		} else {
			unsigned lo = 1 + fb_below(b, 8), hi = lo + (fb_u8(b) % 4 ? 0 : fb_below(b, 8));

			r->keys[r->nkeys++] = (struct key_range){ KEY(p, lo), KEY(p, hi) };
		}
	}
	r->nkeys = key_ranges_normalize(r->keys, r->nkeys);
}

static void gen_ipsec(struct fbytes *b, struct ipsec_req *q)
{
	uint8_t x = fb_u8(b);

	q->encryption = x & 1 ? ENC_INTEGRITY_OK : ENC_REQUIRED;
	q->algorithms = x & 2 ? fb_u16(b) & ((1u << ALG_COUNT_BITS) - 1) : ALG_DEFAULT_SET;
	q->mode = (enum ipsec_mode)((x >> 2) % 3);
	q->has_reqid = x & 0x20;
	q->reqid = 1 + fb_below(b, 3);
	q->ngateways = fb_below(b, 3);
	if (q->ngateways) {
		q->gateways = calloc(q->ngateways, sizeof(*q->gateways));
		if (!q->gateways)
			abort();
		for (size_t i = 0; i < q->ngateways; i++) {
			gen_addrs(b, &q->gateways[i].gateway, false);
			gen_addrs(b, &q->gateways[i].inner, true);
		}
	}
}

static struct policy *gen_policy(struct fbytes *b)
{
	struct policy *p = policy_alloc();
	size_t n = 1 + fb_below(b, MAX_RULES);

	if (!p || !(p->file = strdup("fuzz")) || !(p->rules = calloc(n, sizeof(*p->rules))))
		abort();
	p->defaults[DIR_IN] = ACT_BLOCK;
	p->defaults[DIR_OUT] = ACT_PERMIT;
	p->defaults[DIR_FWD] = ACT_BLOCK;
	for (size_t i = 0; i < n; i++) {
		struct rule *r = &p->rules[p->nrules++];
		uint8_t x = fb_u8(b);

		if (asprintf(&r->name, "r%zu", i) < 0 || !(r->file = strdup("fuzz")) ||
		    asprintf(&r->path, "rules[%zu]", i) < 0)
			abort();
		r->action = x % 4 == 3 ? ACT_REQUIRE_IPSEC : (enum action)(x % 4);
		r->dir = (x & 0x50) == 0x50 ? DIR_OUT : (x & 0x50) == 0x40 ? DIR_FWD : DIR_IN;
		gen_addrs(b, &r->peers, true);
		if (x & 0x20)
			gen_addrs(b, &r->local, false);
		else
			set_any(&r->local);
		gen_keys(b, r);
		r->ipsec.encryption = ENC_REQUIRED;
		r->ipsec.algorithms = ALG_DEFAULT_SET;
		if (r->action == ACT_REQUIRE_IPSEC)
			gen_ipsec(b, &r->ipsec);
	}
	return p;
}

/* --- the SAs ----------------------------------------------------------- */

struct alg_pick {
	enum xfrm_alg_kind kind;
	const char *name;
	uint32_t key_bits, icv_bits;
};

/* Real transforms, with right and wrong key and ICV sizes. */
static const struct alg_pick algs[] = {
	{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 160, 128 },
	{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 224, 128 },
	{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 288, 128 },
	{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 160, 64 },
	{ XFRM_ALG_AEAD, "rfc4543(gcm(aes))", 160, 128 },
	{ XFRM_ALG_AEAD, "rfc7539esp(chacha20,poly1305)", 288, 128 },
	{ XFRM_ALG_CRYPT, "cbc(aes)", 128, 0 },
	{ XFRM_ALG_CRYPT, "cbc(aes)", 256, 0 },
	{ XFRM_ALG_CRYPT, "cbc(aes)", 192, 0 },
	{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 160, 0 },
	{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 224, 0 },
	{ XFRM_ALG_CRYPT, "ecb(cipher_null)", 0, 0 },
	{ XFRM_ALG_CRYPT, "cbc(des3_ede)", 192, 0 },
	{ XFRM_ALG_AUTH, "hmac(sha1)", 160, 96 },
	{ XFRM_ALG_AUTH, "hmac(sha256)", 256, 128 },
	{ XFRM_ALG_AUTH, "hmac(sha256)", 256, 96 },
	{ XFRM_ALG_AUTH, "hmac(sha384)", 384, 192 },
	{ XFRM_ALG_AUTH, "hmac(sha512)", 512, 256 },
	{ XFRM_ALG_AUTH, "hmac(md5)", 128, 96 },
};

static void gen_alg(struct fbytes *b, struct xfrm_alg *a, enum xfrm_alg_kind kind)
{
	uint8_t x = fb_u8(b);
	const struct alg_pick *p = &algs[(x >> 1) % (sizeof(algs) / sizeof(algs[0]))];

	if (!(x & 1))
		return;		/* absent */
	a->present = true;
	/* mostly a transform of the attribute it came in, as the kernel sends */
	if (p->kind != kind && fb_u8(b) % 4)
		return;
	snprintf(a->name, sizeof(a->name), "%s", p->name);
	a->key_bits = p->key_bits;
	a->icv_bits = p->icv_bits;
	a->bit = xfrm_alg_bit(kind, a->name, a->key_bits, a->icv_bits);	/* as the parser does */
}

static void gen_sel(struct fbytes *b, struct xfrm_sel *s)
{
	uint8_t x = fb_u8(b);

	if (!(x & 1))
		return;
	s->set = true;
	s->fam = x & 2 ? AF6 : AF4;
	s->saddr = pool_addr(s->fam, fb_u8(b));
	s->daddr = pool_addr(s->fam, fb_u8(b));
	s->plen_s = fb_u8(b) % 130;
	s->plen_d = fb_u8(b) % 130;
	s->proto = x & 4 ? (uint8_t[]){ 6, 17, 1, 58 }[fb_below(b, 4)] : 0;
	s->sport = fb_below(b, 32);
	s->dport = fb_below(b, 32);
	s->sport_mask = x & 8 ? 0xffff : 0;
	s->dport_mask = x & 16 ? 0xffff : 0;
}

static void gen_sa(struct fbytes *b, struct xfrm_sa *sa)
{
	uint8_t x = fb_u8(b), y = fb_u8(b);

	memset(sa, 0, sizeof(*sa));
	sa->fam = x & 1 ? AF6 : AF4;
	sa->saddr = pool_addr(sa->fam, fb_u8(b));
	sa->daddr = pool_addr(sa->fam, fb_u8(b));
	sa->spi = 0x100 + (x >> 1) % 4;
	sa->proto = (uint8_t[]){ XFRM_PROTO_ESP, XFRM_PROTO_ESP, XFRM_PROTO_AH, XFRM_PROTO_COMP }
		[(x >> 3) % 4];
	sa->mode = (enum xfrm_sa_mode)((x >> 5) % 3);
	sa->kmode = (uint8_t)sa->mode;
	sa->reqid = 1 + y % 3;
	sa->dir = (uint8_t)((y >> 2) % 3);
	sa->mark_v = y & 0x10 ? 1 : 0;
	sa->mark_m = sa->mark_v ? 0xffffffff : 0;
	gen_alg(b, &sa->aead, XFRM_ALG_AEAD);
	gen_alg(b, &sa->crypt, XFRM_ALG_CRYPT);
	gen_alg(b, &sa->auth, XFRM_ALG_AUTH);
	sa->life.add_time = BASE_NOW - fb_below(b, 4000);
	if (y & 0x20)
		sa->life.hard_add = fb_below(b, 4000);
	if (y & 0x40)
		sa->life.soft_add = fb_below(b, 4000);
	sa->life.soft_bytes = sa->life.hard_bytes = ~(uint64_t)0;
	sa->life.soft_packets = sa->life.hard_packets = ~(uint64_t)0;
	gen_sel(b, &sa->sel);
	if (y & 0x80) {
		if (fb_u8(b) & 1)
			sa->dying = true;
		else
			sa->expired = true, sa->expired_at = BASE_NOW;
	}
}

/* Steering, so that accepts are common enough to check: SA 0 made to
 * fit the first inbound require-ipsec rule (its first peer, its first
 * local address, transport, AES-GCM, its reqid), and the packet's
 * protocol and port its first key.  The rest of the input still varies
 * all of it. */
struct steer {
	bool on;
	enum direction dir;	/* the rule's: the queue the packet comes from */
	uint8_t proto;
	uint16_t dport;
};

static void steer(const struct policy *p, struct xfrm_sa *sa, struct steer *st)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->action != ACT_REQUIRE_IPSEC || r->dir == DIR_OUT || r->peers.any)
			continue;
		if (sa->fam != r->peers.v[0].fam)
			sa->daddr = pool_addr(r->peers.v[0].fam, (unsigned)sa->daddr);
		sa->fam = r->peers.v[0].fam;
		sa->saddr = r->peers.v[0].lo;
		if (!r->local.any && r->local.v[0].fam == sa->fam)
			sa->daddr = r->local.v[0].lo;
		sa->mode = XFRM_SA_TRANSPORT;
		sa->proto = XFRM_PROTO_ESP;
		sa->dir = 0;
		memset(&sa->crypt, 0, sizeof(sa->crypt));
		memset(&sa->auth, 0, sizeof(sa->auth));
		sa->aead = (struct xfrm_alg){ true, "rfc4106(gcm(aes))", 160, 128,
					      xfrm_alg_bit(XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 160, 128) };
		sa->expired = sa->dying = false;
		sa->life.hard_add = sa->life.soft_add = 0;
		sa->sel.set = false;
		if (r->ipsec.has_reqid)
			sa->reqid = r->ipsec.reqid;
		st->on = true;
		st->dir = r->dir;
		st->proto = KEY_PROTO(r->keys[0].lo);
		st->dport = KEY_PORT(r->keys[0].lo);
		return;
	}
}

/* --- the packet -------------------------------------------------------- */

struct built {
	bool from_fields;	/* built from fields and not damaged: must parse to them */
	struct packet_key key;
};

static void put_addr(uint8_t *p, u128 a, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(a >> (8 * (n - 1 - i)));
}

/* A packet, mostly from the peer and to the destination of one of the
 * SAs (so that accepts happen), else from the pool. */
static size_t gen_packet(struct fbytes *b, uint8_t *pkt, size_t cap, struct built *out,
			 const struct xfrm_sa *sas, size_t nsas, const struct steer *st)
{
	static const uint8_t protos[] = { 6, 17, 132, 1, 58, 50, 47, 33 };
	uint8_t how = fb_u8(b), x = fb_u8(b);
	enum addr_family f = x & 1 ? AF6 : AF4;
	uint8_t proto = protos[(x >> 1) % sizeof(protos)];
	u128 src = pool_addr(f, fb_u8(b)), dst = pool_addr(f, fb_u8(b));
	uint8_t follow = fb_u8(b);
	uint16_t sport = fb_below(b, 10), dport = fb_below(b, 10);
	size_t l3 = f == AF4 ? 20 : 40, l4 = 20, len = l3 + l4;

	if (st->on && follow % 2 && memchr(protos, st->proto, sizeof(protos))) {
		proto = st->proto;
		dport = st->dport;
	}
	if (nsas && follow % 4) {
		const struct xfrm_sa *sa = &sas[st->on && follow % 2 ? 0 : follow % nsas];

		f = sa->fam;
		src = sa->saddr;
		dst = sa->daddr;
		l3 = f == AF4 ? 20 : 40;
		len = l3 + l4;
	}
	memset(out, 0, sizeof(*out));
	if (how % 4 == 3) {	/* raw bytes */
		size_t n;
		const uint8_t *raw = fb_take(b, fb_below(b, (unsigned)cap), &n);

		memcpy(pkt, raw, n);
		return n;
	}
	memset(pkt, 0, len);
	if (f == AF4) {
		pkt[0] = 0x45;
		pkt[2] = (uint8_t)(len >> 8);
		pkt[3] = (uint8_t)len;
		pkt[8] = 64;
		pkt[9] = proto;
		put_addr(pkt + 12, src, 4);
		put_addr(pkt + 16, dst, 4);
	} else {
		pkt[0] = 0x60;
		pkt[4] = (uint8_t)(l4 >> 8);
		pkt[5] = (uint8_t)l4;
		pkt[6] = proto;
		pkt[7] = 64;
		put_addr(pkt + 8, src, 16);
		put_addr(pkt + 24, dst, 16);
	}
	if (proto == 1 || proto == 58) {
		pkt[l3] = (uint8_t)sport;
		pkt[l3 + 1] = (uint8_t)dport;
	} else {
		pkt[l3] = (uint8_t)(sport >> 8);
		pkt[l3 + 1] = (uint8_t)sport;
		pkt[l3 + 2] = (uint8_t)(dport >> 8);
		pkt[l3 + 3] = (uint8_t)dport;
		pkt[l3 + 12] = 0x50;	/* tcp data offset 5 */
	}
	out->key.dir = DIR_IN;	/* decide_dir sets the queue's */
	out->key.fam = f;
	out->key.peer = src;
	out->key.local = dst;
	out->key.key = KEY(proto, proto == 6 || proto == 17 || proto == 132 ? dport : 0);
	out->from_fields = how % 4 != 2;
	if (how % 4 == 2) {	/* damaged: a few bytes overwritten, maybe cut short */
		for (unsigned i = fb_below(b, 4) + 1; i; i--)
			pkt[fb_below(b, (unsigned)len)] = fb_u8(b);
		len -= fb_below(b, (unsigned)len);
	}
	return len;
}

/* --- the reference ----------------------------------------------------- */

static uint32_t first_match(const struct policy *p, const struct packet_key *k)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->dir != k->dir || !addr_set_contains(&r->peers, k->fam, k->peer) ||
		    !addr_set_contains(&r->local, k->fam, k->local))
			continue;
		for (size_t j = 0; j < r->nkeys; j++)
			if (r->keys[j].lo <= k->key && k->key <= r->keys[j].hi)
				return (uint32_t)i;
	}
	return CLASS_NONE;
}

/* The bit a transform stands for, from the table in xfrm.h's comment. */
static uint32_t ref_bit(enum xfrm_alg_kind kind, const struct xfrm_alg *a)
{
	static const struct { enum xfrm_alg_kind kind; const char *name; uint32_t key, icv, bit; } t[] = {
		{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 160, 128, ALG_AES128GCM16 },
		{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 224, 128, ALG_AES192GCM16 },
		{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 288, 128, ALG_AES256GCM16 },
		{ XFRM_ALG_AEAD, "rfc7539esp(chacha20,poly1305)", 288, 128, ALG_CHACHA20POLY1305 },
		{ XFRM_ALG_CRYPT, "cbc(aes)", 128, 0, ALG_AES128 },
		{ XFRM_ALG_CRYPT, "cbc(aes)", 192, 0, ALG_AES192 },
		{ XFRM_ALG_CRYPT, "cbc(aes)", 256, 0, ALG_AES256 },
		{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 160, 0, ALG_AES128CTR },
		{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 288, 0, ALG_AES256CTR },
		{ XFRM_ALG_CRYPT, "ecb(cipher_null)", ~0u, 0, ALG_NULL },
		{ XFRM_ALG_AUTH, "hmac(sha1)", ~0u, 96, ALG_SHA1 },
		{ XFRM_ALG_AUTH, "hmac(sha256)", ~0u, 128, ALG_SHA256 },
		{ XFRM_ALG_AUTH, "hmac(sha384)", ~0u, 192, ALG_SHA384 },
		{ XFRM_ALG_AUTH, "hmac(sha512)", ~0u, 256, ALG_SHA512 },
	};

	if (!a->present)
		return 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].kind == kind && strcmp(t[i].name, a->name) == 0 &&
		    (t[i].key == ~0u || t[i].key == a->key_bits) && t[i].icv == a->icv_bits)
			return t[i].bit;
	return 0;
}

static bool listed(enum xfrm_alg_kind kind, const struct xfrm_alg *a, uint32_t allowed)
{
	uint32_t bit = ref_bit(kind, a);

	return bit && (allowed & bit) == bit;
}

static bool in_prefix(u128 net, u128 a, unsigned plen, enum addr_family f)
{
	unsigned bits = f == AF4 ? 32 : 128;

	if (plen == 0)
		return true;
	if (plen > bits)
		return false;
	return (net >> (bits - plen)) == (a >> (bits - plen));
}

/* Does sa satisfy every requirement of rule r for packet p, queued from
 * the hook of direction dir? */
static bool ref_satisfies(const struct rule *r, enum direction dir, const struct xfrm_sa *sa,
			  const struct decide_pkt *p, uint64_t now, bool admit_dying)
{
	const struct ipsec_req *q = &r->ipsec;
	const struct xfrm_sel *s = &sa->sel;
	bool origin = false, encrypts, algs_ok;

	if (r->action != ACT_REQUIRE_IPSEC || r->dir != dir || sa->dir == XFRM_SA_OUT)
		return false;
	if (xfrm_sa_expired(sa, now) || (!admit_dying && xfrm_sa_dying(sa, now)))
		return false;
	if (sa->mode == XFRM_SA_TRANSPORT && q->mode != MODE_TUNNEL)
		/* the packet's own source and destination are the SA's */
		origin = sa->fam == p->key.fam && sa->saddr == p->key.peer &&
			 sa->daddr == p->key.local &&
			 addr_set_contains(&r->peers, sa->fam, sa->saddr);
	if (sa->mode == XFRM_SA_TUNNEL && q->mode != MODE_TRANSPORT)
		for (size_t i = 0; i < q->ngateways && !origin; i++)
			origin = addr_set_contains(&q->gateways[i].gateway, sa->fam, sa->saddr) &&
				 addr_set_contains(&q->gateways[i].inner, p->key.fam, p->key.peer);
	if (!origin)
		return false;
	if (s->set && (((s->plen_s || s->plen_d) && s->fam != p->key.fam) ||
		       !in_prefix(s->saddr, p->key.peer, s->plen_s, p->key.fam) ||
		       !in_prefix(s->daddr, p->key.local, s->plen_d, p->key.fam) ||
		       (s->proto && s->proto != p->proto) ||
		       ((p->sport ^ s->sport) & s->sport_mask) ||
		       ((p->dport ^ s->dport) & s->dport_mask)))
		return false;
	encrypts = sa->proto == XFRM_PROTO_ESP &&
		   (sa->aead.present ? strcmp(sa->aead.name, "rfc4543(gcm(aes))") != 0 :
		    sa->crypt.present && strcmp(sa->crypt.name, "ecb(cipher_null)") != 0);
	if (q->encryption == ENC_REQUIRED && !encrypts)
		return false;
	if (sa->proto == XFRM_PROTO_ESP)
		algs_ok = sa->aead.present ?
		       listed(XFRM_ALG_AEAD, &sa->aead, q->algorithms) &&
		       !sa->crypt.present && !sa->auth.present :
		       listed(XFRM_ALG_CRYPT, &sa->crypt, q->algorithms) &&
		       listed(XFRM_ALG_AUTH, &sa->auth, q->algorithms);
	else
		algs_ok = sa->proto == XFRM_PROTO_AH && listed(XFRM_ALG_AUTH, &sa->auth, q->algorithms);
	return algs_ok && (!q->has_reqid || sa->reqid == q->reqid);
}

struct in_cache {
	const struct xfrm_sa *want;
	bool found;
};

static void find_sa(const struct xfrm_sa *sa, void *arg)
{
	struct in_cache *f = arg;

	f->found |= sa == f->want;
}

static bool sa_reason(enum decide_reason r)
{
	return r >= DECIDE_DROP_SA_EXPIRED && r <= DECIDE_DROP_REQID;
}

/* FUZZ_DECIDE_STATS set: how many verdicts of each reason, at exit (to
 * see that a corpus reaches every one, accept included). */
static size_t reasons[DECIDE_REASON_COUNT];
static bool stats;

static void print_reasons(void)
{
	for (int i = 0; i < DECIDE_REASON_COUNT; i++)
		fprintf(stderr, "%-22s %zu\n", decide_reason_name((enum decide_reason)i), reasons[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (getenv("FUZZ_DECIDE_STATS")) {
		stats = true;
		atexit(print_reasons);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fbytes b = { data, size };
	struct policy *pol = gen_policy(&b);
	struct classes *cls = classify(pol, 0);
	struct xfrm_cache *cache = xfrm_cache_alloc();
	struct xfrm_sa sas[MAX_SAS];
	size_t nsas = fb_below(&b, MAX_SAS + 1);
	uint8_t pkt[256];
	struct built built;
	struct steer st = { false, DIR_IN, 0, 0 };
	enum direction qdir;
	struct decide_ctx ctx;
	struct verdict v;
	uint64_t now;
	uint32_t mark;
	size_t len;
	uint8_t x;

	if (!cls || !cache)
		abort();
	for (size_t i = 0; i < nsas; i++) {
		gen_sa(&b, &sas[i]);
		if (i == 0 && fb_u8(&b) % 2)
			steer(pol, &sas[0], &st);
		if (xfrm_cache_put(cache, &sas[i]) < 0)
			abort();
	}
	x = fb_u8(&b);
	now = BASE_NOW + fb_below(&b, 8000);
	len = gen_packet(&b, pkt, sizeof(pkt), &built, sas, nsas, &st);
	if (nsas && x % 4)
		mark = xfrm_sa_handover(&sas[fb_below(&b, (unsigned)nsas)]);
	else
		mark = x % 8 == 4 ? 0 : htonl(fb_u32(&b));
	ctx = (struct decide_ctx){ pol, cls, NULL, NULL, cache, x & 0x80 };
	/* the input queue or (x & 0x40) the forward one; steered: the rule's */
	qdir = st.on && x & 0x20 ? st.dir : x & 0x40 ? DIR_FWD : DIR_IN;
	v = qdir == DIR_IN && x & 0x10 ? decide(&ctx, pkt, len, mark, now) :
	    decide_dir(&ctx, qdir, pkt, len, mark, now);
	reasons[v.reason < DECIDE_REASON_COUNT ? v.reason : 0]++;
	if (stats)
		fprintf(stderr, "verdict: %s\n", decide_reason_name(v.reason));

	if (built.from_fields) {
		if (v.reason == DECIDE_DROP_TRUNCATED || v.reason == DECIDE_DROP_MALFORMED)
			fail("a well-formed packet refused", &v);
		if (v.pkt.key.fam != built.key.fam || v.pkt.key.peer != built.key.peer ||
		    v.pkt.key.local != built.key.local || v.pkt.key.key != built.key.key ||
		    v.pkt.key.dir != qdir)
			fail("a packet parsed to other fields than it was built from", &v);
	}
	if (v.reason != DECIDE_DROP_TRUNCATED && v.reason != DECIDE_DROP_MALFORMED &&
	    v.rule != first_match(pol, &v.pkt.key))
		fail("the rule found is not the first rule that matches", &v);
	if (v.accept) {
		struct in_cache f = { v.sa, false };

		if (v.reason != DECIDE_ACCEPT_OK || v.rule == CLASS_NONE || !v.sa)
			fail("an accept without a rule or an SA", &v);
		xfrm_cache_foreach(cache, find_sa, &f);
		if (!f.found)
			fail("an accept on an SA that is not in the cache", &v);
		if (v.sa->spi != xfrm_spi_from_handover(mark) || v.spi != v.sa->spi)
			fail("an accept on an SA of another SPI than the mark's", &v);
		if (!ref_satisfies(&pol->rules[v.rule], qdir, v.sa, &v.pkt, now, ctx.admit_dying))
			fail("an accept on an SA that does not satisfy the rule", &v);
	} else if (v.reason == DECIDE_ACCEPT_OK) {
		fail("a drop with the reason accept", &v);
	} else if (sa_reason(v.reason) && v.sa && v.rule != CLASS_NONE &&
		   ref_satisfies(&pol->rules[v.rule], qdir, v.sa, &v.pkt, now, ctx.admit_dying)) {
		fail("a drop on an SA that satisfies the rule", &v);
	}
	xfrm_cache_free(cache);
	classes_free(cls);
	policy_free(pol);
	return 0;
}
