/* nflog_msg: an nfnetlink_log packet message read strictly into a log
 * record.  Every attribute is checked for its length before it is read;
 * the payload's headers only as far as the bytes the kernel copied. */
#include "config.h"

#include "nflog_msg.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <stdio.h>
#include <string.h>

#define HOOK_IN 1	/* NF_INET_LOCAL_IN */
#define HOOK_FWD 2
#define HOOK_OUT 3

struct attrs {
	const struct nlattr *a[NFULA_MAX + 1];
	const char *why;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct attrs *t = data;
	uint16_t type = mnl_attr_get_type(attr);
	size_t len = mnl_attr_get_payload_len(attr);

	if (type > NFULA_MAX)
		return MNL_CB_OK;	/* newer kernels' attributes: not ours */
	switch (type) {
	case NFULA_PACKET_HDR:
		if (len < sizeof(struct nfulnl_msg_packet_hdr))
			t->why = "a packet header attribute too short";
		break;
	case NFULA_IFINDEX_INDEV:
	case NFULA_IFINDEX_OUTDEV:
		if (len < sizeof(uint32_t))
			t->why = "an interface index attribute too short";
		break;
	case NFULA_PREFIX:
		if (len == 0 || len > NFLOG_PREFIX_MAX ||
		    memchr(mnl_attr_get_payload(attr), '\0', len) == NULL)
			t->why = "a prefix that is no string of at most 128 bytes";
		break;
	default:
		break;
	}
	if (t->why)
		return MNL_CB_ERROR;
	t->a[type] = attr;
	return MNL_CB_OK;
}

static bool is_port_proto(uint8_t p)
{
	return p == IPPROTO_TCP || p == IPPROTO_UDP || p == 132 || p == 136;
}

/* The transport header at l4 (n bytes available). */
static void transport(struct nflog_rec *r, const uint8_t *l4, size_t n)
{
	if (is_port_proto(r->proto) && n >= 4) {
		r->has_ports = true;
		r->sport = (uint16_t)(l4[0] << 8 | l4[1]);
		r->dport = (uint16_t)(l4[2] << 8 | l4[3]);
	} else if ((r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6) && n >= 2) {
		r->has_icmp = true;
		r->icmp_type = l4[0];
		r->icmp_code = l4[1];
	}
}

/* IPv6 extension headers sagate walks over to the transport: hop-by-hop,
 * routing, destination options (each 8 + 8 * len bytes). */
static bool ext_header(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 60;
}

static const char *payload(struct nflog_rec *r, const uint8_t *p, size_t n)
{
	if (n < 1)
		return "no payload";
	if ((p[0] >> 4) == 4) {
		size_t ihl = (size_t)(p[0] & 0x0f) * 4;

		if (n < 20 || ihl < 20)
			return "an IPv4 header too short";
		r->family = 4;
		r->length = (uint32_t)(p[2] << 8 | p[3]);
		r->proto = p[9];
		memcpy(r->saddr, p + 12, 4);
		memcpy(r->daddr, p + 16, 4);
		/* a later fragment holds no transport header */
		if ((p[6] & 0x1f) == 0 && p[7] == 0 && n > ihl)
			transport(r, p + ihl, n - ihl);
		return NULL;
	}
	if ((p[0] >> 4) == 6) {
		size_t off = 40;
		uint8_t nh;

		if (n < 40)
			return "an IPv6 header too short";
		r->family = 6;
		r->length = 40u + (uint32_t)(p[4] << 8 | p[5]);
		nh = p[6];
		memcpy(r->saddr, p + 8, 16);
		memcpy(r->daddr, p + 24, 16);
		for (int i = 0; i < 8 && ext_header(nh) && off + 8 <= n; i++) {
			uint8_t next = p[off];

			off += 8 + 8 * (size_t)p[off + 1];
			nh = next;
		}
		r->proto = nh;
		if (!ext_header(nh) && off < n)
			transport(r, p + off, n - off);
		return NULL;
	}
	return "a payload that is neither IPv4 nor IPv6";
}

bool nflog_prefix_split(const char *prefix, struct nflog_rec *r)
{
	char w[4][64];
	int n = 0;
	const char *p = prefix;
	size_t len = strlen(prefix);

	/* "sagate A B: " or "sagate A B C: " */
	if (strncmp(p, "sagate ", 7) != 0 || len < 3 || strcmp(prefix + len - 2, ": ") != 0)
		return false;
	p += 7;
	while (*p && *p != ':' && n < 4) {
		size_t k = strcspn(p, " :");

		if (k == 0 || k >= sizeof(w[0]))
			return false;
		memcpy(w[n], p, k);
		w[n++][k] = '\0';
		p += k;
		if (*p == ' ')
			p++;
	}
	if (strcmp(p, ": ") != 0)
		return false;
	if (n == 2) {
		snprintf(r->rule, sizeof(r->rule), "%s", w[0]);
		snprintf(r->action, sizeof(r->action), "%s", w[1]);
		r->is_default = false;
	} else if (n == 3 && strcmp(w[0], "default") == 0 &&
		   (!strcmp(w[1], "in") || !strcmp(w[1], "out") || !strcmp(w[1], "forward"))) {
		snprintf(r->rule, sizeof(r->rule), "default");
		snprintf(r->dir, sizeof(r->dir), "%s", w[1]);
		snprintf(r->action, sizeof(r->action), "%s", w[2]);
		r->is_default = true;
	} else {
		return false;
	}
	return strcmp(r->action, "permit") == 0 || strcmp(r->action, "block") == 0 ||
	       strcmp(r->action, "require-ipsec") == 0;
}

const char *nflog_proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	case 132: return "sctp";
	case 136: return "udplite";
	case IPPROTO_ESP: return "esp";
	case IPPROTO_AH: return "ah";
	case IPPROTO_GRE: return "gre";
	default: return NULL;
	}
}

bool nflog_msg_ok(const struct nlmsghdr *nlh, int left)
{
	return left > 0 && mnl_nlmsg_ok(nlh, left) && nlh->nlmsg_len <= (uint32_t)left;
}

int nflog_msg_parse(const struct nlmsghdr *nlh, size_t len, struct nflog_rec *rec,
		    const char **why)
{
	struct attrs t = { { NULL }, NULL };
	const struct nfgenmsg *g;
	const struct nfulnl_msg_packet_hdr *ph;

	*why = NULL;
	memset(rec, 0, sizeof(*rec));
	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len) {
		*why = "a truncated netlink message";
		return -1;
	}
	if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
		return 0;
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*g))) {
		*why = "a packet message without its nfgenmsg header";
		return -1;
	}
	g = mnl_nlmsg_get_payload(nlh);
	rec->group = ntohs(g->res_id);
	if (mnl_attr_parse(nlh, sizeof(*g), attr_cb, &t) < 0) {
		*why = t.why ? t.why : "malformed attributes";
		return -1;
	}
	if (!t.a[NFULA_PACKET_HDR]) {
		*why = "a packet message without its packet header";
		return -1;
	}
	ph = mnl_attr_get_payload(t.a[NFULA_PACKET_HDR]);
	rec->hook = ph->hook;
	if (t.a[NFULA_IFINDEX_INDEV])
		rec->indev = ntohl(mnl_attr_get_u32(t.a[NFULA_IFINDEX_INDEV]));
	if (t.a[NFULA_IFINDEX_OUTDEV])
		rec->outdev = ntohl(mnl_attr_get_u32(t.a[NFULA_IFINDEX_OUTDEV]));
	if (t.a[NFULA_PREFIX])
		snprintf(rec->prefix, sizeof(rec->prefix), "%s",
			 mnl_attr_get_str(t.a[NFULA_PREFIX]));
	if (!t.a[NFULA_PAYLOAD]) {
		*why = "a packet message without payload (the group copies no packet bytes)";
		return -1;
	}
	if ((*why = payload(rec, mnl_attr_get_payload(t.a[NFULA_PAYLOAD]),
			    mnl_attr_get_payload_len(t.a[NFULA_PAYLOAD]))))
		return -1;
	if (!nflog_prefix_split(rec->prefix, rec)) {
		rec->rule[0] = rec->action[0] = rec->dir[0] = '\0';
		rec->is_default = false;
	}
	if (!rec->dir[0])
		snprintf(rec->dir, sizeof(rec->dir), "%s", rec->hook == HOOK_IN ? "in" :
			 rec->hook == HOOK_OUT ? "out" : rec->hook == HOOK_FWD ? "forward" : "");
	return 1;
}
