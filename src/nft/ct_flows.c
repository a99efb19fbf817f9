#include "config.h"

#include "ct_flows.h"
#include "nft_talk.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* attribute tables: one slot per type the kernel may send, others skipped */
#define CT_ATTRS (CTA_MAX + 1)

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type < CT_ATTRS)	/* every table here is at least this big */
		tb[type] = a;
	return MNL_CB_OK;
}

static u128 addr_value(const uint8_t *b, size_t len)
{
	u128 v = 0;

	for (size_t i = 0; i < len; i++)
		v = (v << 8) | b[i];
	return v;
}

/* One tuple's addresses, protocol and destination port; false when it
 * lacks them (or they are of the wrong size: never trusted). */
static bool read_tuple(const struct nlattr *tuple, struct revoke_flow *f, u128 *src,
		       u128 *dst, uint16_t *sport)
{
	const struct nlattr *tb[CT_ATTRS] = { 0 }, *ip[CT_ATTRS] = { 0 }, *pr[CT_ATTRS] = { 0 };
	const struct nlattr *s, *t;
	size_t alen;

	if (mnl_attr_parse_nested(tuple, attr_cb, tb) < 0 || !tb[CTA_TUPLE_IP] ||
	    !tb[CTA_TUPLE_PROTO] ||
	    mnl_attr_parse_nested(tb[CTA_TUPLE_IP], attr_cb, ip) < 0 ||
	    mnl_attr_parse_nested(tb[CTA_TUPLE_PROTO], attr_cb, pr) < 0 || !pr[CTA_PROTO_NUM] ||
	    mnl_attr_get_payload_len(pr[CTA_PROTO_NUM]) < 1)
		return false;
	if (ip[CTA_IP_V4_SRC] && ip[CTA_IP_V4_DST]) {
		s = ip[CTA_IP_V4_SRC], t = ip[CTA_IP_V4_DST], alen = 4;
		f->fam = AF4;
	} else if (ip[CTA_IP_V6_SRC] && ip[CTA_IP_V6_DST]) {
		s = ip[CTA_IP_V6_SRC], t = ip[CTA_IP_V6_DST], alen = 16;
		f->fam = AF6;
	} else {
		return false;
	}
	if (mnl_attr_get_payload_len(s) != alen || mnl_attr_get_payload_len(t) != alen)
		return false;
	*src = addr_value(mnl_attr_get_payload(s), alen);
	*dst = addr_value(mnl_attr_get_payload(t), alen);
	f->proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
	f->dport = pr[CTA_PROTO_DST_PORT] && mnl_attr_get_payload_len(pr[CTA_PROTO_DST_PORT]) == 2 ?
		   ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT])) : 0;
	*sport = pr[CTA_PROTO_SRC_PORT] && mnl_attr_get_payload_len(pr[CTA_PROTO_SRC_PORT]) == 2 ?
		 ntohs(mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT])) : 0;
	return true;
}

/* The flow as the filter hooks saw its first packet: the original source,
 * and the destination after DNAT, which is the reply's source. */
static bool read_flow(const struct nlattr *const *tb, struct ct_flow *e)
{
	struct revoke_flow reply;
	u128 rsrc, rdst;
	uint16_t rsport, sport;

	if (tb[CTA_TUPLE_MASTER]) {
		/* a related flow (a helper's expectation) is its master's */
		e->related = true;
		return read_tuple(tb[CTA_TUPLE_MASTER], &e->flow, &e->flow.src, &e->flow.dst, &sport);
	}
	if (!tb[CTA_TUPLE_ORIG] ||
	    !read_tuple(tb[CTA_TUPLE_ORIG], &e->flow, &e->flow.src, &e->flow.dst, &e->sport))
		return false;
	e->orig_dst = e->flow.dst;
	e->orig_dport = e->flow.dport;
	if (tb[CTA_TUPLE_REPLY] && read_tuple(tb[CTA_TUPLE_REPLY], &reply, &rsrc, &rdst, &rsport) &&
	    reply.fam == e->flow.fam && reply.proto == e->flow.proto) {
		e->flow.dst = rsrc;
		if (rsport)
			e->flow.dport = rsport;
	}
	return true;
}

int ct_flow_parse(const struct nlmsghdr *nlh, struct ct_flow *e)
{
	const struct nlattr *tb[CT_ATTRS] = { 0 };
	const struct nfgenmsg *g;

	memset(e, 0, sizeof(*e));
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)) ||
	    mnl_attr_parse(nlh, sizeof(*g), attr_cb, tb) < 0)
		return 0;
	g = mnl_nlmsg_get_payload(nlh);
	if ((g->nfgen_family != NFPROTO_IPV4 && g->nfgen_family != NFPROTO_IPV6) ||
	    !tb[CTA_TUPLE_ORIG] || !read_flow(tb, e) ||
	    (e->flow.fam == AF4) != (g->nfgen_family == NFPROTO_IPV4))
		return 0;
	e->nfproto = g->nfgen_family;
	if (tb[CTA_MARK] && mnl_attr_get_payload_len(tb[CTA_MARK]) == 4)
		e->flow.mark = ntohl(mnl_attr_get_u32(tb[CTA_MARK]));
	if ((e->has_id = tb[CTA_ID] && mnl_attr_get_payload_len(tb[CTA_ID]) == 4))
		e->id = mnl_attr_get_u32(tb[CTA_ID]);
	if ((e->has_zone = tb[CTA_ZONE] && mnl_attr_get_payload_len(tb[CTA_ZONE]) == 2))
		e->zone = mnl_attr_get_u16(tb[CTA_ZONE]);
	e->orig_len = mnl_attr_get_payload_len(tb[CTA_TUPLE_ORIG]);
	if (!(e->orig = malloc(e->orig_len ? e->orig_len : 1)))
		return -1;
	memcpy(e->orig, mnl_attr_get_payload(tb[CTA_TUPLE_ORIG]), e->orig_len);
	return 1;
}

static int entry_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_table *t = data;
	struct ct_flow e;
	int rc = ct_flow_parse(nlh, &e);

	if (rc == 0) {
		t->skipped++;
		return MNL_CB_OK;
	}
	if (rc < 0 || grow_array(&t->v, &t->cap, t->n + 1, sizeof(*t->v)) < 0) {
		free(e.orig);
		errno = ENOMEM;
		return MNL_CB_ERROR;
	}
	t->v[t->n++] = e;
	return MNL_CB_OK;
}

/* A ctnetlink request of type for family in buf (zeroed). */
static struct nlmsghdr *ct_request(struct nft_talk *k, char *buf, uint16_t type,
				   uint8_t family, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++k->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

int ct_dump(struct ct_table *t, struct diag_list *d)
{
	char buf[NFT_TALK_REQ_BUF] = { 0 };
	struct nft_talk k = { 0 };
	int rc;

	memset(t, 0, sizeof(*t));
	if (nft_talk_open(&k) < 0) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "cannot open a netfilter netlink socket: %s",
			 strerror(errno));
		return -1;
	}
	/* AF_UNSPEC: both families; the kernel dumps this namespace's only */
	rc = nft_talk_run(&k, ct_request(&k, buf, IPCTNL_MSG_CT_GET, AF_UNSPEC, NLM_F_DUMP),
			  entry_cb, t);
	nft_talk_close(&k);
	if (rc < 0) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "cannot read the conntrack table: %s",
			 strerror(errno));
		ct_table_fini(t);
		return -1;
	}
	return 0;
}

void ct_table_fini(struct ct_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].orig);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

struct ct_conn {
	struct nft_talk k;
	struct mnl_socket *diag;	/* sock_diag: NULL when it cannot be had */
	uint32_t diag_portid, diag_seq;
};

struct ct_conn *ct_open(struct diag_list *d)
{
	struct ct_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "out of memory");
		return NULL;
	}
	if (nft_talk_open(&c->k) < 0) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "cannot open a netfilter netlink socket: %s",
			 strerror(errno));
		free(c);
		return NULL;
	}
	/* without sock_diag, flows are still ended: only the sockets stay */
	c->diag = mnl_socket_open(NETLINK_SOCK_DIAG);
	if (c->diag && mnl_socket_bind(c->diag, 0, MNL_SOCKET_AUTOPID) < 0) {
		mnl_socket_close(c->diag);
		c->diag = NULL;
	}
	if (c->diag) {
		c->diag_portid = mnl_socket_get_portid(c->diag);
		c->diag_seq = c->k.seq;
	}
	return c;
}

void ct_close(struct ct_conn *c)
{
	if (!c)
		return;
	nft_talk_close(&c->k);
	if (c->diag)
		mnl_socket_close(c->diag);
	free(c);
}

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

int ct_delete(struct ct_conn *c, const struct ct_flow *f)
{
	char buf[NFT_TALK_REQ_BUF] = { 0 };
	struct nlmsghdr *nlh;

	if (mnl_nlmsg_size(sizeof(struct nfgenmsg)) + MNL_ATTR_HDRLEN * 3 +
	    MNL_ALIGN(f->orig_len) + 16 > sizeof(buf)) {
		errno = EMSGSIZE;
		return -1;
	}
	nlh = ct_request(&c->k, buf, IPCTNL_MSG_CT_DELETE, f->nfproto, NLM_F_ACK);
	mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, f->orig_len, f->orig);
	if (f->has_zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, f->zone);
	if (f->has_id)
		mnl_attr_put_u32(nlh, CTA_ID, f->id);
	if (nft_talk_run(&c->k, nlh, ack_cb, NULL) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

static void put_addr(__be32 *w, enum addr_family fam, u128 a)
{
	uint8_t *b = (uint8_t *)w;
	size_t len = fam == AF4 ? 4 : 16;

	for (size_t i = len; i-- > 0; a >>= 8)
		b[i] = (uint8_t)a;
}

int ct_abort_socket(struct ct_conn *c, const struct ct_flow *f, bool inbound)
{
	char buf[8192];	/* a request, or its ack (which quotes it) */
	struct inet_diag_req_v2 *q;
	struct nlmsghdr *nlh;
	ssize_t n;
	int rc;

	if (!c->diag || f->flow.proto != IPPROTO_TCP || f->related)
		return 0;
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DESTROY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++c->diag_seq;
	q = mnl_nlmsg_put_extra_header(nlh, sizeof(*q));
	q->sdiag_family = f->flow.fam == AF4 ? AF_INET : AF_INET6;
	q->sdiag_protocol = IPPROTO_TCP;
	q->idiag_states = ~0u;
	q->id.idiag_cookie[0] = q->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	/* the socket's own view: local end first; an inbound flow reached
	 * it after DNAT, an outbound one left it before */
	q->id.idiag_sport = htons(inbound ? f->flow.dport : f->sport);
	q->id.idiag_dport = htons(inbound ? f->sport : f->orig_dport);
	put_addr(q->id.idiag_src, f->flow.fam, inbound ? f->flow.dst : f->flow.src);
	put_addr(q->id.idiag_dst, f->flow.fam, inbound ? f->flow.src : f->orig_dst);
	if (mnl_socket_sendto(c->diag, nlh, nlh->nlmsg_len) < 0)
		return -1;
	n = mnl_socket_recvfrom(c->diag, buf, sizeof(buf));
	if (n < 0)
		return -1;
	rc = mnl_cb_run(buf, netlink_span(buf, (size_t)n), nlh->nlmsg_seq, c->diag_portid,
			NULL, NULL);
	if (rc >= 0)
		return 1;
	return errno == ENOENT || errno == EOPNOTSUPP ? 0 : -1;
}

static int add_range(struct addr_range **v, size_t *n, size_t *cap, enum addr_family fam,
		     u128 lo, u128 hi)
{
	if (grow_array(v, cap, *n + 1, sizeof(**v)) < 0)
		return -1;
	(*v)[(*n)++] = (struct addr_range){ fam, lo, hi };
	return 0;
}

int ct_local_addrs(struct addr_range **v, size_t *n, struct diag_list *d)
{
	struct ifaddrs *ifa = NULL;
	size_t cap = 0;
	int rc = 0;

	*v = NULL;
	*n = 0;
	/* getifaddrs asks the kernel over rtnetlink: this namespace's */
	if (getifaddrs(&ifa) < 0) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "cannot list this host's addresses: %s",
			 strerror(errno));
		return -1;
	}
	rc = add_range(v, n, &cap, AF4, (u128)127 << 24, ((u128)128 << 24) - 1) |
	     add_range(v, n, &cap, AF6, 1, 1);
	for (struct ifaddrs *i = ifa; i && rc == 0; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;
		u128 a;

		if (!sa)
			continue;
		if (sa->sa_family == AF_INET) {
			a = addr_value((const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
			rc = add_range(v, n, &cap, AF4, a, a);
		} else if (sa->sa_family == AF_INET6) {
			a = addr_value(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr, 16);
			rc = add_range(v, n, &cap, AF6, a, a);
		}
	}
	freeifaddrs(ifa);
	if (rc < 0) {
		free(*v);
		*v = NULL;
		*n = 0;
		diag_add(d, DIAG_ERROR, "", "", NULL, "out of memory");
	}
	return rc;
}
