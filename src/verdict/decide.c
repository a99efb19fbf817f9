#include "config.h"

#include "decide.h"

#include <string.h>

#define IP6_HOPOPTS 0
#define IP6_ROUTING 43
#define IP6_FRAGMENT 44
#define IP6_AH 51
#define IP6_NONE 59
#define IP6_DSTOPTS 60

static const char *const reason_names[DECIDE_REASON_COUNT] = {
	[DECIDE_ACCEPT_OK] = "accept",
	[DECIDE_DROP_TRUNCATED] = "drop-truncated",
	[DECIDE_DROP_MALFORMED] = "drop-malformed",
	[DECIDE_DROP_NO_RULE] = "drop-no-rule",
	[DECIDE_DROP_NO_SPI] = "drop-no-spi",
	[DECIDE_DROP_SA_UNKNOWN] = "drop-sa-unknown",
	[DECIDE_DROP_SA_AMBIGUOUS] = "drop-sa-ambiguous",
	[DECIDE_DROP_SA_EXPIRED] = "drop-sa-expired",
	[DECIDE_DROP_SA_PEER] = "drop-sa-peer",
	[DECIDE_DROP_TUNNEL_GATEWAY] = "drop-tunnel-gateway",
	[DECIDE_DROP_MODE] = "drop-mode",
	[DECIDE_DROP_SELECTOR] = "drop-selector",
	[DECIDE_DROP_NOT_ENCRYPTED] = "drop-not-encrypted",
	[DECIDE_DROP_ALGORITHM] = "drop-algorithm",
	[DECIDE_DROP_REQID] = "drop-reqid",
	[DECIDE_DROP_NO_IDENTITY] = "drop-no-identity",
	[DECIDE_DROP_IDENTITY] = "drop-identity",
};

const char *decide_reason_name(enum decide_reason r)
{
	return (unsigned)r < DECIDE_REASON_COUNT ? reason_names[r] : "drop-unknown-reason";
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static u128 be_addr(const uint8_t *p, unsigned n)
{
	u128 v = 0;

	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* The ports decide the class only for these, as in the compiled maps. */
static bool key_has_port(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132;
}

/* Fixed transport header we insist on seeing; 0 for protocols whose
 * header neither the class nor an SA selector looks into. */
static size_t l4_need(uint8_t proto)
{
	switch (proto) {
	case 6:		/* tcp */
		return 20;
	case 17:	/* udp */
	case 136:	/* udplite */
	case 1:		/* icmp */
		return 8;
	case 132:	/* sctp */
	case 33:	/* dccp */
		return 12;
	case 58:	/* icmpv6 */
		return 4;
	default:
		return 0;
	}
}

/* Does [off, off + n) lie inside the packet (end: its length by its own
 * header) and inside what was copied (len)?  The packet's own lengths are
 * checked first: a short packet is malformed, a short copy truncated. */
static enum decide_reason need(size_t off, size_t n, size_t end, size_t len)
{
	if (off + n > end)
		return DECIDE_DROP_MALFORMED;
	if (off + n > len)
		return DECIDE_DROP_TRUNCATED;
	return DECIDE_ACCEPT_OK;
}

static enum decide_reason parse_ip4(const uint8_t *p, size_t len, struct decide_pkt *out,
				    size_t *end)
{
	size_t ihl;
	uint16_t frag;

	if (len < 20)
		return DECIDE_DROP_TRUNCATED;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	*end = be16(p + 2);
	if (ihl < 20 || *end < ihl)
		return DECIDE_DROP_MALFORMED;
	if (len < ihl)
		return DECIDE_DROP_TRUNCATED;
	frag = be16(p + 6);
	if (frag & 0x1fff)
		return DECIDE_DROP_MALFORMED;	/* not the first fragment */
	out->fragment = (frag & 0x2000) != 0;
	out->proto = p[9];
	out->key.fam = AF4;
	out->key.peer = be_addr(p + 12, 4);
	out->key.local = be_addr(p + 16, 4);
	out->l4off = ihl;
	return DECIDE_ACCEPT_OK;
}

static enum decide_reason parse_ip6(const uint8_t *p, size_t len, struct decide_pkt *out,
				    size_t *end)
{
	enum decide_reason r;
	uint8_t nh;
	size_t off = 40;
	bool seen_frag = false;

	if (len < 40)
		return DECIDE_DROP_TRUNCATED;
	/* payload length 0 is a jumbogram, or nothing at all */
	if (be16(p + 4) == 0)
		return DECIDE_DROP_MALFORMED;
	*end = 40 + (size_t)be16(p + 4);
	nh = p[6];
	out->key.fam = AF6;
	out->key.peer = be_addr(p + 8, 16);
	out->key.local = be_addr(p + 24, 16);
	/* each header is at least 8 bytes and end is below 2^16 + 40:
	 * the walk is bounded without a counter */
	for (;;) {
		size_t hl;

		switch (nh) {
		case IP6_HOPOPTS:
			if (off != 40)
				return DECIDE_DROP_MALFORMED;	/* only right after the IPv6 header */
			/* fall through */
		case IP6_ROUTING:
		case IP6_DSTOPTS:
		case IP6_AH:
			if ((r = need(off, 2, *end, len)) != DECIDE_ACCEPT_OK)
				return r;
			hl = nh == IP6_AH ? ((size_t)p[off + 1] + 2) * 4 :
					    ((size_t)p[off + 1] + 1) * 8;
			if ((r = need(off, hl, *end, len)) != DECIDE_ACCEPT_OK)
				return r;
			nh = p[off];
			off += hl;
			continue;
		case IP6_FRAGMENT:
			if ((r = need(off, 8, *end, len)) != DECIDE_ACCEPT_OK)
				return r;
			if (seen_frag || (be16(p + off + 2) & 0xfff8))
				return DECIDE_DROP_MALFORMED;	/* not the first fragment */
			seen_frag = true;
			out->fragment = (p[off + 3] & 1) != 0;
			nh = p[off];
			off += 8;
			continue;
		case IP6_NONE:
			return DECIDE_DROP_MALFORMED;		/* nothing to decide on */
		default:
			break;
		}
		break;
	}
	out->proto = nh;
	out->l4off = off;
	return DECIDE_ACCEPT_OK;
}

enum decide_reason decide_parse(const void *data, size_t len, struct decide_pkt *out)
{
	const uint8_t *p = data;
	enum decide_reason r;
	size_t end = 0;
	const uint8_t *l4;

	memset(out, 0, sizeof(*out));
	out->key.dir = DIR_IN;
	if (!p || len < 1)
		return DECIDE_DROP_TRUNCATED;
	switch (p[0] >> 4) {
	case 4:
		r = parse_ip4(p, len, out, &end);
		break;
	case 6:
		r = parse_ip6(p, len, out, &end);
		break;
	default:
		return DECIDE_DROP_MALFORMED;
	}
	if (r != DECIDE_ACCEPT_OK)
		return r;
	/* a first fragment must carry the whole fixed transport header */
	if ((r = need(out->l4off, l4_need(out->proto), end, len)) != DECIDE_ACCEPT_OK)
		return r;
	l4 = p + out->l4off;
	switch (out->proto) {
	case 6:
		if ((l4[12] >> 4) < 5)
			return DECIDE_DROP_MALFORMED;	/* data offset below the header */
		/* fall through */
	case 17:
	case 132:
	case 33:
	case 136:
		out->sport = be16(l4);
		out->dport = be16(l4 + 2);
		break;
	case 1:
	case 58:
		out->sport = l4[0];	/* type and code, where XFRM selectors keep them */
		out->dport = l4[1];
		break;
	default:
		break;
	}
	out->key.key = KEY(out->proto, key_has_port(out->proto) ? out->dport : 0);
	return DECIDE_ACCEPT_OK;
}

uint32_t decide_rule_lookup(const struct decide_ctx *ctx, const struct packet_key *k)
{
	if (ctx->lookup)
		return ctx->lookup(ctx->index, k);
	return ctx->classes ? classify_lookup(ctx->classes, k) : CLASS_NONE;
}

static bool prefix_match(u128 a, u128 b, unsigned plen, enum addr_family fam)
{
	unsigned bits = fam == AF4 ? 32 : 128;

	if (plen == 0)
		return true;
	if (plen > bits)
		return false;
	return (a >> (bits - plen)) == (b >> (bits - plen));
}

bool decide_selector_match(const struct xfrm_sel *s, const struct decide_pkt *p)
{
	if (!s->set)
		return true;
	/* the kernel matches a selector against the packet's family; only a
	 * selector without prefixes can match a packet of another family */
	if (s->fam != p->key.fam && (s->plen_s || s->plen_d))
		return false;
	return prefix_match(s->saddr, p->key.peer, s->plen_s, p->key.fam) &&
	       prefix_match(s->daddr, p->key.local, s->plen_d, p->key.fam) &&
	       (s->proto == 0 || s->proto == p->proto) &&
	       !((p->sport ^ s->sport) & s->sport_mask) &&
	       !((p->dport ^ s->dport) & s->dport_mask);
}

/* Who vouches for the packet: in transport mode the SA's peer is the
 * packet's source itself; in tunnel mode a listed gateway that may carry
 * this inner source. */
static enum decide_reason check_origin(const struct rule *r, const struct xfrm_sa *sa,
				       const struct decide_pkt *p)
{
	const struct ipsec_req *q = &r->ipsec;

	switch (sa->mode) {
	case XFRM_SA_TRANSPORT:
		if (q->mode == MODE_TUNNEL)
			return DECIDE_DROP_MODE;
		if (sa->fam != p->key.fam || sa->saddr != p->key.peer ||
		    !addr_set_contains(&r->peers, sa->fam, sa->saddr))
			return DECIDE_DROP_SA_PEER;
		return DECIDE_ACCEPT_OK;
	case XFRM_SA_TUNNEL:
		if (q->mode == MODE_TRANSPORT)
			return DECIDE_DROP_MODE;
		for (size_t i = 0; i < q->ngateways; i++)
			if (addr_set_contains(&q->gateways[i].gateway, sa->fam, sa->saddr) &&
			    addr_set_contains(&q->gateways[i].inner, p->key.fam, p->key.peer))
				return DECIDE_ACCEPT_OK;
		return DECIDE_DROP_TUNNEL_GATEWAY;
	case XFRM_SA_OTHER:
		break;
	}
	return DECIDE_DROP_MODE;
}

static bool alg_allowed(const struct xfrm_alg *a, uint32_t allowed)
{
	return a->present && a->bit && (a->bit & allowed) == a->bit;
}

/* Every transform must be listed; a missing one (ESP without integrity,
 * an SA still without keys) fails as well. */
static bool algorithms_allowed(const struct xfrm_sa *sa, uint32_t allowed)
{
	if (sa->proto == XFRM_PROTO_AH)
		return alg_allowed(&sa->auth, allowed);
	if (sa->proto != XFRM_PROTO_ESP)
		return false;
	if (sa->aead.present)
		return alg_allowed(&sa->aead, allowed) && !sa->crypt.present &&
		       !sa->auth.present;
	return alg_allowed(&sa->crypt, allowed) && alg_allowed(&sa->auth, allowed);
}

long decide_ident_match(const struct rule *r, const struct sa_ident *id)
{
	if (!id)
		return -1;
	for (size_t i = 0; i < r->ipsec.nidents; i++)
		if (ident_pat_match(&r->ipsec.idents[i], id->id,
				    (const char *const *)id->sans, id->cert_subject))
			return (long)i;
	return -1;
}

const struct sa_ident *decide_ident_of(const struct decide_ctx *ctx, const struct xfrm_sa *sa)
{
	return ctx && ctx->ident_lookup ? ctx->ident_lookup(ctx->ident_ctx, sa->spi, sa->reqid) :
					  NULL;
}

static enum decide_reason check_sa(const struct decide_ctx *ctx, const struct rule *r,
				   const struct xfrm_sa *sa, const struct decide_pkt *p,
				   uint64_t now)
{
	const struct ipsec_req *q = &r->ipsec;
	enum decide_reason why;

	if (xfrm_sa_expired(sa, now) || (!ctx->admit_dying && xfrm_sa_dying(sa, now)))
		return DECIDE_DROP_SA_EXPIRED;
	if ((why = check_origin(r, sa, p)) != DECIDE_ACCEPT_OK)
		return why;
	if (!decide_selector_match(&sa->sel, p))
		return DECIDE_DROP_SELECTOR;
	if (q->encryption == ENC_REQUIRED && !xfrm_sa_encrypts(sa))
		return DECIDE_DROP_NOT_ENCRYPTED;
	if (!algorithms_allowed(sa, q->algorithms))
		return DECIDE_DROP_ALGORITHM;
	if (q->has_reqid && sa->reqid != q->reqid)
		return DECIDE_DROP_REQID;
	/* last: everything the kernel's SA says must hold before asking who
	 * negotiated it */
	if (q->nidents) {
		const struct sa_ident *id = decide_ident_of(ctx, sa);

		if (!id)
			return DECIDE_DROP_NO_IDENTITY;
		if (decide_ident_match(r, id) < 0)
			return DECIDE_DROP_IDENTITY;
	}
	return DECIDE_ACCEPT_OK;
}

enum decide_reason decide_check_sa(const struct decide_ctx *ctx, const struct rule *r,
				   const struct xfrm_sa *sa, const struct decide_pkt *p,
				   uint64_t now)
{
	return check_sa(ctx, r, sa, p, now);
}

struct verdict decide(const struct decide_ctx *ctx, const void *data, size_t len,
		      uint32_t mark, uint64_t now)
{
	return decide_dir(ctx, DIR_IN, data, len, mark, now);
}

struct verdict decide_dir(const struct decide_ctx *ctx, enum direction dir, const void *data,
			  size_t len, uint32_t mark, uint64_t now)
{
	struct verdict v = { .accept = false, .rule = CLASS_NONE };
	const struct rule *r;
	const struct xfrm_sa *sa = NULL;
	size_t n;

	v.reason = decide_parse(data, len, &v.pkt);
	if (v.reason != DECIDE_ACCEPT_OK)
		return v;
	v.reason = DECIDE_DROP_NO_RULE;
	v.pkt.key.dir = dir;
	v.rule = decide_rule_lookup(ctx, &v.pkt.key);
	if (v.rule == CLASS_NONE || !ctx->policy || v.rule >= ctx->policy->nrules) {
		v.rule = CLASS_NONE;
		return v;
	}
	r = &ctx->policy->rules[v.rule];
	if (r->action != ACT_REQUIRE_IPSEC || r->dir != dir)
		return v;
	v.spi = xfrm_spi_from_handover(mark);
	if (v.spi == 0) {
		v.reason = DECIDE_DROP_NO_SPI;
		return v;
	}
	n = ctx->sas ? xfrm_cache_lookup(ctx->sas, v.spi, v.pkt.key.fam,
					 v.pkt.key.local, &sa) : 0;
	if (n != 1) {
		v.reason = n ? DECIDE_DROP_SA_AMBIGUOUS : DECIDE_DROP_SA_UNKNOWN;
		return v;
	}
	v.sa = sa;
	v.reason = check_sa(ctx, r, sa, &v.pkt, now);
	if (r->ipsec.nidents)
		v.ident = decide_ident_of(ctx, sa);
	v.accept = v.reason == DECIDE_ACCEPT_OK;
	return v;
}
