#include "config.h"

#include "sa_match.h"

#include <stdio.h>
#include <string.h>

/* A port or protocol of the rule the SA selector admits (first one). */
static void pick_key(const struct rule *r, const struct xfrm_sel *sel, struct decide_pkt *p)
{
	uint32_t k = r->nkeys ? r->keys[0].lo : KEY(6, 0);

	for (size_t i = 0; sel->set && sel->proto && i < r->nkeys; i++) {
		uint32_t lo = r->keys[i].lo, hi = r->keys[i].hi;
		uint32_t want = KEY(sel->proto, sel->dport & sel->dport_mask);

		if (want >= lo && want <= hi) {
			k = want;
			break;
		}
		if (KEY_PROTO(lo) <= sel->proto && KEY_PROTO(hi) >= sel->proto) {
			k = lo > KEY(sel->proto, 0) ? lo : KEY(sel->proto, 0);
			break;
		}
	}
	p->proto = KEY_PROTO(k);
	p->dport = KEY_PORT(k);
	p->key.key = k;
}

/* Tunnel mode: the inner source the SA claims (its selector), else an
 * inner address of a gateway of the rule that the SA's peer is. */
static void pick_inner(const struct rule *r, const struct xfrm_sa *sa, struct decide_pkt *p)
{
	p->key.fam = sa->sel.set ? sa->sel.fam : sa->fam;
	p->key.peer = sa->sel.set ? sa->sel.saddr : sa->saddr;
	p->key.local = sa->sel.set && sa->sel.plen_d ? sa->sel.daddr : sa->daddr;
	if (sa->sel.set && sa->sel.plen_s)
		return;
	for (size_t i = 0; i < r->ipsec.ngateways; i++) {
		const struct ipsec_gateway *g = &r->ipsec.gateways[i];

		if (addr_set_contains(&g->gateway, sa->fam, sa->saddr) && g->inner.n) {
			p->key.fam = g->inner.v[0].fam;
			p->key.peer = g->inner.v[0].lo;
			return;
		}
	}
}

enum decide_reason sa_match_rule(const struct rule *r, const struct xfrm_sa *sa,
				 uint64_t now, struct decide_pkt *pkt)
{
	return sa_match_rule_ident(r, sa, now, pkt, NULL, NULL);
}

enum decide_reason sa_match_rule_ident(const struct rule *r, const struct xfrm_sa *sa,
				       uint64_t now, struct decide_pkt *pkt,
				       sa_ident_lookup_fn lookup, void *lctx)
{
	struct decide_ctx ctx = { .ident_lookup = lookup, .ident_ctx = lctx };
	struct decide_pkt p;

	memset(&p, 0, sizeof(p));
	p.key.dir = r->dir;
	if (sa->mode == XFRM_SA_TUNNEL) {
		pick_inner(r, sa, &p);
	} else {
		p.key.fam = sa->fam;
		p.key.peer = sa->saddr;
		p.key.local = sa->daddr;
	}
	pick_key(r, &sa->sel, &p);
	if (pkt)
		*pkt = p;
	return decide_check_sa(&ctx, r, sa, &p, now);
}

void sa_match_algs(char *buf, size_t len, const struct xfrm_sa *sa)
{
	const struct xfrm_alg *a[3] = { &sa->aead, &sa->crypt, &sa->auth };
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < 3 && used < len; i++) {
		if (!a[i]->present)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s/%u", used ? " + " : "",
					 a[i]->name, a[i]->key_bits);
		if (a[i]->icv_bits && used < len)
			used += (size_t)snprintf(buf + used, len - used, "/icv%u", a[i]->icv_bits);
	}
	if (!used)
		snprintf(buf, len, "none");
}

static long long left(uint64_t start, uint64_t secs, uint64_t now)
{
	if (!secs || !start)
		return -1;
	return start + secs > now ? (long long)(start + secs - now) : 0;
}

long long sa_match_time_left(const struct xfrm_sa *sa, uint64_t now, bool soft)
{
	long long a = left(sa->life.add_time, soft ? sa->life.soft_add : sa->life.hard_add, now);
	long long u = left(sa->life.use_time, soft ? sa->life.soft_use : sa->life.hard_use, now);

	if (a < 0)
		return u;
	return u < 0 || a < u ? a : u;
}

void sa_match_idents(char *buf, size_t len, const struct rule *r)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->ipsec.nidents && used < len; i++) {
		const struct ident_pat *p = &r->ipsec.idents[i];

		used += (size_t)snprintf(buf + used, len - used, "%s\"%s\"", i ? ", " : "", p->text);
		if (p->group && used < len && (i + 1 == r->ipsec.nidents ||
					       !r->ipsec.idents[i + 1].group ||
					       strcmp(r->ipsec.idents[i + 1].group, p->group)))
			used += (size_t)snprintf(buf + used, len - used, " (@%s)", p->group);
	}
}

void sa_match_why_ident(char *buf, size_t len, const struct rule *r, const struct xfrm_sa *sa,
			enum decide_reason why, uint64_t now, const struct sa_ident *id)
{
	char ids[512];
	long m;

	sa_match_idents(ids, sizeof(ids), r);
	switch (why) {
	case DECIDE_DROP_NO_IDENTITY:
		snprintf(buf, len, "no IKE identity known for this SA: rule \"%s\" admits only %s",
			 r->name, ids);
		return;
	case DECIDE_DROP_IDENTITY:
		snprintf(buf, len, "IKE identity \"%s\" (%s): fails rule \"%s\", which admits only %s",
			 id && id->id ? id->id : "?", id && id->auth ? id->auth : "?", r->name, ids);
		return;
	case DECIDE_ACCEPT_OK:
		if (id && (m = decide_ident_match(r, id)) >= 0) {
			snprintf(buf, len, "satisfies rule \"%s\" (IKE identity \"%s\" matches \"%s\")",
				 r->name, id->id ? id->id : "?", r->ipsec.idents[m].text);
			return;
		}
		break;
	default:
		break;
	}
	sa_match_why(buf, len, r, sa, why, now);
}

void sa_match_why(char *buf, size_t len, const struct rule *r,
		  const struct xfrm_sa *sa, enum decide_reason why, uint64_t now)
{
	char a[256], b[512], peer[64];

	sa_match_algs(a, sizeof(a), sa);
	addr_format(sa->fam, sa->saddr, peer, sizeof(peer));
	switch (why) {
	case DECIDE_ACCEPT_OK:
		snprintf(buf, len, "satisfies rule \"%s\"", r->name);
		break;
	case DECIDE_DROP_SA_EXPIRED:
		snprintf(buf, len, "%s: fails rule \"%s\", new flows need an SA that is not expiring",
			 xfrm_sa_expired(sa, now) ? "expired" : "soft-expired (rekey due)", r->name);
		break;
	case DECIDE_DROP_SA_PEER:
		snprintf(buf, len, "peer %s is not among the peers of rule \"%s\"", peer, r->name);
		break;
	case DECIDE_DROP_TUNNEL_GATEWAY:
		snprintf(buf, len, "tunnel from %s: rule \"%s\" lists no such gateway for the inner source",
			 peer, r->name);
		break;
	case DECIDE_DROP_MODE:
		snprintf(buf, len, "%s mode: fails rule \"%s\", which requires %s mode",
			 xfrm_mode_name(sa->mode), r->name, mode_name(r->ipsec.mode));
		break;
	case DECIDE_DROP_SELECTOR:
		snprintf(buf, len, "the SA's selector does not cover the traffic of rule \"%s\"", r->name);
		break;
	case DECIDE_DROP_NOT_ENCRYPTED:
		snprintf(buf, len, "integrity-only (%s %s): fails rule \"%s\", which requires encryption",
			 xfrm_proto_name(sa->proto), a, r->name);
		break;
	case DECIDE_DROP_ALGORITHM:
		model_alg_list(b, sizeof(b), r->ipsec.algorithms);
		snprintf(buf, len, "algorithms %s: fails rule \"%s\", which allows only %s",
			 a, r->name, b);
		break;
	case DECIDE_DROP_REQID:
		snprintf(buf, len, "reqid %u: fails rule \"%s\", which pins reqid %u",
			 sa->reqid, r->name, r->ipsec.reqid);
		break;
	default:
		snprintf(buf, len, "%s: fails rule \"%s\"", decide_reason_name(why), r->name);
		break;
	}
}
