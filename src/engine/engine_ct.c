/* engine_ct: the review of established require-ipsec flows when an SA of
 * their reqid appears, so that a flow admitted over an SA that encrypts
 * does not go on over a weaker one that took its reqid (or its very SPI).
 *
 * The kernel holds an admitted flow to its reqid alone: its conntrack
 * mark is reqid | PLAN_CT_MARK_IPSEC, and "ct mark . ipsec in reqid"
 * must be in the ipsec_bound set.  Nothing in the kernel can tell an SA's
 * transforms, so sagated does: for each conntrack entry bound to the
 * reqid (a ctnetlink dump filtered by mark), it finds the flow's rule in
 * the live policy and checks every SA of the cache with that reqid that
 * could carry the flow (decide_check_sa).  When one fails the rule by
 * what it is (encryption, algorithms, mode, reqid) rather than by whom
 * or when it carries, the entry's mark becomes REVOKED_MARK: the flag
 * stays, so the binding rule still applies, but no kernel-made binding
 * pairs with it (those are (r | flag) . r), so the flow's next inbound
 * packet is dropped.  The entry is kept, not deleted: a deleted entry
 * would be re-created by the next packet either way, and one made by
 * this host's own reply would pass the peer's packets as an
 * established flow of no binding at all. */
#include "config.h"

#include "engine_int.h"
#include "plan.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define REVOKED_MARK 0xffffffffu
#define CT_BUF (1 << 16)
#define TUPLE_MAX 256		/* a CTA_TUPLE_ORIG as the kernel sends it: ~100 bytes */

/* One bound flow, as the dump gave it. */
struct ct_flow {
	uint8_t family;		/* nfgen_family */
	uint8_t proto;
	uint16_t dport;		/* host order */
	enum addr_family fam;
	u128 src, dst;		/* the original direction: the peer, then us */
	uint32_t mark;
	uint16_t zone;		/* network order, as sent */
	bool has_zone;
	uint16_t tlen;
	char tuple[TUPLE_MAX];	/* CTA_TUPLE_ORIG, header included */
};

struct ct_list {
	struct ct_flow *v;
	size_t n, cap;
};

static u128 addr_of(const struct nlattr *a, unsigned bytes)
{
	const uint8_t *p = mnl_attr_get_payload(a);
	u128 v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Every attribute of a nest, by type (none past max). */
static void nest(const struct nlattr *n, const struct nlattr **tb, unsigned max)
{
	const struct nlattr *a;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	mnl_attr_for_each_nested(a, n)
		if (mnl_attr_get_type(a) <= max)
			tb[mnl_attr_get_type(a)] = a;
}

/* The original tuple of an entry into f; false when it is not one we can
 * judge (then it is left alone: only a flow we can judge is revoked). */
static bool read_tuple(const struct nlattr *t, struct ct_flow *f)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];

	if (mnl_attr_get_len(t) > TUPLE_MAX)
		return false;
	nest(t, tb, CTA_TUPLE_MAX);
	if (!tb[CTA_TUPLE_IP] || !tb[CTA_TUPLE_PROTO])
		return false;
	nest(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX);
	nest(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX);
	if (ip[CTA_IP_V4_SRC] && ip[CTA_IP_V4_DST] &&
	    mnl_attr_get_payload_len(ip[CTA_IP_V4_SRC]) == 4 &&
	    mnl_attr_get_payload_len(ip[CTA_IP_V4_DST]) == 4) {
		f->fam = AF4;
		f->src = addr_of(ip[CTA_IP_V4_SRC], 4);
		f->dst = addr_of(ip[CTA_IP_V4_DST], 4);
	} else if (ip[CTA_IP_V6_SRC] && ip[CTA_IP_V6_DST] &&
		   mnl_attr_get_payload_len(ip[CTA_IP_V6_SRC]) == 16 &&
		   mnl_attr_get_payload_len(ip[CTA_IP_V6_DST]) == 16) {
		f->fam = AF6;
		f->src = addr_of(ip[CTA_IP_V6_SRC], 16);
		f->dst = addr_of(ip[CTA_IP_V6_DST], 16);
	} else {
		return false;
	}
	if (!pr[CTA_PROTO_NUM] || mnl_attr_get_payload_len(pr[CTA_PROTO_NUM]) < 1)
		return false;
	f->proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
	if (pr[CTA_PROTO_DST_PORT] && mnl_attr_get_payload_len(pr[CTA_PROTO_DST_PORT]) >= 2)
		f->dport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));
	f->tlen = (uint16_t)mnl_attr_get_len(t);
	memcpy(f->tuple, t, f->tlen);
	return true;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_list *l = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *orig = NULL, *mark = NULL, *zone = NULL;
	struct ct_flow f;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*g))
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		switch (mnl_attr_get_type(a)) {
		case CTA_TUPLE_ORIG:
			orig = a;
			break;
		case CTA_MARK:
			mark = mnl_attr_get_payload_len(a) >= 4 ? a : NULL;
			break;
		case CTA_ZONE:
			zone = mnl_attr_get_payload_len(a) >= 2 ? a : NULL;
			break;
		}
	}
	memset(&f, 0, sizeof(f));
	if (!orig || !mark || !read_tuple(orig, &f))
		return MNL_CB_OK;
	f.family = g->nfgen_family;
	f.mark = ntohl(mnl_attr_get_u32(mark));
	if (!(f.mark & PLAN_CT_MARK_IPSEC) || f.mark == REVOKED_MARK)
		return MNL_CB_OK;	/* the filter is the kernel's; we check anyway */
	if (zone) {
		f.has_zone = true;
		f.zone = mnl_attr_get_u16(zone);
	}
	if (grow_array(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return MNL_CB_ERROR;
	l->v[l->n++] = f;
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_msg(char *buf, uint8_t type, uint16_t flags, uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

/* Send one request and read its answers through cb.  0 or -1 (errno). */
static int ct_talk(struct mnl_socket *nl, char *buf, struct nlmsghdr *nlh,
		   mnl_cb_t cb, void *data)
{
	uint32_t seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int rc;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		n = mnl_socket_recvfrom(nl, buf, CT_BUF);
		if (n < 0)
			return -1;
		rc = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
	} while (rc > 0);
	return rc < 0 ? -1 : 0;
}

/* The entries bound to reqid (or to any, with all) into l. */
static int ct_dump(struct mnl_socket *nl, char *buf, bool all, uint32_t reqid, struct ct_list *l)
{
	struct nlmsghdr *nlh = ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC);

	mnl_attr_put_u32(nlh, CTA_MARK, htonl(all ? PLAN_CT_MARK_IPSEC : reqid | PLAN_CT_MARK_IPSEC));
	mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(all ? PLAN_CT_MARK_IPSEC : 0xffffffffu));
	return ct_talk(nl, buf, nlh, dump_cb, l);
}

struct judge {
	const struct rule *r;
	const struct ct_flow *f;
	struct decide_pkt p;
	uint32_t reqid;
	uint64_t now;
	const struct xfrm_sa *bad;
	enum decide_reason why;
};

/* Does sa, of the flow's reqid, carry the flow while failing its rule by
 * what it is?  Whom it carries for (peer, gateway, selector) and when
 * (lifetime) say it is another SA's traffic, not this flow's. */
static void judge_sa(const struct xfrm_sa *sa, void *arg)
{
	struct judge *j = arg;
	struct decide_ctx ctx = { .admit_dying = true };
	enum decide_reason why;

	if (j->bad || sa->reqid != j->reqid || sa->dir == XFRM_SA_OUT)
		return;
	if (sa->mode == XFRM_SA_TRANSPORT &&
	    (sa->fam != j->f->fam || sa->saddr != j->f->src || sa->daddr != j->f->dst))
		return;
	why = decide_check_sa(&ctx, j->r, sa, &j->p, j->now);
	switch (why) {
	case DECIDE_ACCEPT_OK:
	case DECIDE_DROP_SA_EXPIRED:
	case DECIDE_DROP_SA_PEER:
	case DECIDE_DROP_TUNNEL_GATEWAY:
	case DECIDE_DROP_SELECTOR:
	/* who negotiated the SA does not change with it: a flow admitted by
	 * identity stays (charon restarting must not cut it) */
	case DECIDE_DROP_NO_IDENTITY:
	case DECIDE_DROP_IDENTITY:
		return;
	default:
		j->bad = sa;
		j->why = why;
	}
}

/* Which flows of l to revoke (under e->lock): marks the others' tlen 0.
 * Returns how many stay marked. */
static size_t ct_judge(struct engine *e, struct ct_list *l, uint32_t *reqid, enum decide_reason *why)
{
	const struct engine_bank *b = engine_live_bank(e);
	struct decide_ctx ctx = { b->pol, b->cls, NULL, NULL, e->sas, false,
				  e->ident_lookup, e->ident_ctx };
	size_t keep = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct ct_flow *f = &l->v[i];
		struct judge j = { .f = f, .reqid = f->mark & ~PLAN_CT_MARK_IPSEC,
				   .now = (uint64_t)time(NULL) };
		uint32_t rule;

		memset(&j.p, 0, sizeof(j.p));
		/* iface NULL: require-ipsec rules name no interface */
		j.p.key = (struct packet_key){ DIR_IN, f->fam, f->src, f->dst,
					       KEY(f->proto, (f->proto == 6 || f->proto == 17 ||
							      f->proto == 132) ? f->dport : 0), NULL };
		j.p.proto = f->proto;
		j.p.dport = f->dport;
		/* a flow to this host, or one routed through it */
		for (int d = 0; d < 2 && !j.r; d++) {
			j.p.key.dir = d ? DIR_FWD : DIR_IN;
			rule = b->pol && b->cls ? decide_rule_lookup(&ctx, &j.p.key) : CLASS_NONE;
			if (rule != CLASS_NONE && rule < b->pol->nrules &&
			    b->pol->rules[rule].action == ACT_REQUIRE_IPSEC &&
			    b->pol->rules[rule].dir == j.p.key.dir)
				j.r = &b->pol->rules[rule];
		}
		if (j.r && e->sas)
			xfrm_cache_foreach(e->sas, judge_sa, &j);
		if (!j.bad) {
			f->tlen = 0;
			continue;
		}
		*reqid = j.reqid;
		*why = j.why;
		keep++;
	}
	return keep;
}

/* Give f the revoked mark.  0 or -1 (errno). */
static int ct_revoke(struct mnl_socket *nl, char *buf, const struct ct_flow *f)
{
	struct nlmsghdr *nlh = ct_msg(buf, IPCTNL_MSG_CT_NEW, NLM_F_ACK, f->family);
	char *tail = mnl_nlmsg_get_payload_tail(nlh);

	/* the tuple as the kernel sent it names the entry */
	memcpy(tail, f->tuple, f->tlen);
	nlh->nlmsg_len += MNL_ALIGN(f->tlen);
	if (f->has_zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, f->zone);
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(REVOKED_MARK));
	return ct_talk(nl, buf, nlh, NULL, NULL);
}

/* Review the flows bound to one reqid, or to any with all. */
static void review(struct engine *e, struct mnl_socket *nl, char *buf, bool all, uint32_t reqid)
{
	struct ct_list l = { 0 };
	uint32_t rq = reqid;
	enum decide_reason why = DECIDE_ACCEPT_OK;
	size_t n, done = 0;

	if (ct_dump(nl, buf, all, reqid, &l) < 0) {
		engine_msg("warning", "cannot list the flows bound to reqid %u: %s", reqid,
			   strerror(errno));
		free(l.v);
		return;
	}
	pthread_rwlock_rdlock(&e->lock);
	n = ct_judge(e, &l, &rq, &why);
	pthread_rwlock_unlock(&e->lock);
	for (size_t i = 0; n && i < l.n; i++) {
		if (!l.v[i].tlen)
			continue;
		if (ct_revoke(nl, buf, &l.v[i]) == 0)
			done++;
		else if (errno != ENOENT)	/* gone meanwhile: nothing to revoke */
			engine_msg("error", "cannot end a flow bound to reqid %u: %s",
				   l.v[i].mark & ~PLAN_CT_MARK_IPSEC, strerror(errno));
	}
	if (done)
		engine_event(json_pack("{s:s, s:I, s:I, s:s}", "event", "flows-revoked",
				       "reqid", (json_int_t)rq, "flows", (json_int_t)done,
				       "reason", decide_reason_name(why)));
	free(l.v);
}

void engine_ct_review(struct engine *e)
{
	uint32_t todo[sizeof e->review / sizeof e->review[0]];
	unsigned n;
	bool all;
	struct mnl_socket *nl;
	char *buf;

	pthread_mutex_lock(&e->xmu);
	n = e->nreview;
	all = e->review_all;
	memcpy(todo, e->review, n * sizeof(*todo));
	e->nreview = 0;
	e->review_all = false;
	pthread_mutex_unlock(&e->xmu);
	if (!n && !all)
		return;
	buf = malloc(CT_BUF);
	nl = buf ? mnl_socket_open(NETLINK_NETFILTER) : NULL;
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		engine_msg("error", "cannot review the flows bound to a new SA: %s", strerror(errno));
		if (nl)
			mnl_socket_close(nl);
		free(buf);
		return;
	}
	if (all)
		review(e, nl, buf, true, 0);
	for (unsigned i = 0; !all && i < n; i++)
		review(e, nl, buf, false, todo[i]);
	mnl_socket_close(nl);
	free(buf);
}
