#include "config.h"

#include "xfrm_policy.h"
#include "xfrm_int.h"

#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <string.h>
#include <sys/socket.h>

static int tmpl_of(const struct xfrm_user_tmpl *t, uint16_t selfam,
		   struct xfrm_spd_tmpl *out, struct diag_list *d)
{
	unsigned family = t->family ? t->family : selfam;

	memset(out, 0, sizeof(*out));
	out->proto = t->id.proto;
	out->mode = t->mode == XFRM_MODE_TRANSPORT ? XFRM_SA_TRANSPORT :
		    t->mode == XFRM_MODE_TUNNEL ? XFRM_SA_TUNNEL : XFRM_SA_OTHER;
	out->reqid = t->reqid;
	out->optional = t->optional != 0;
	if (family == AF_UNSPEC)
		return 0;
	if (xfrm_family_from(family, &out->fam) < 0)
		return xfrm_fail(d, "policy template family %u is neither AF_INET nor AF_INET6",
				 family);
	out->saddr = xfrm_addr_from(&t->saddr, out->fam);
	out->daddr = xfrm_addr_from(&t->id.daddr, out->fam);
	return 0;
}

/* XFRMA_TMPL: an array of templates, its length a whole multiple. */
static int tmpls_of(const struct nlattr *a, uint16_t selfam, struct xfrm_spd *out,
		    struct diag_list *d)
{
	size_t len = mnl_attr_get_payload_len(a), n = len / sizeof(struct xfrm_user_tmpl);
	const struct xfrm_user_tmpl *t = mnl_attr_get_payload(a);

	if (len % sizeof(struct xfrm_user_tmpl))
		return xfrm_fail(d, "XFRMA_TMPL is %zu bytes, not a multiple of the %zu-byte template",
				 len, sizeof(struct xfrm_user_tmpl));
	if (n > XFRM_SPD_MAX_TMPL)
		return xfrm_fail(d, "XFRMA_TMPL holds %zu templates, more than the kernel's %d",
				 n, XFRM_SPD_MAX_TMPL);
	for (size_t i = 0; i < n; i++) {
		struct xfrm_user_tmpl copy;

		memcpy(&copy, t + i, sizeof(copy));	/* attribute payloads are 4-aligned only */
		if (tmpl_of(&copy, selfam, &out->tmpl[i], d) < 0)
			return -1;
	}
	out->ntmpl = n;
	return 0;
}

int xfrm_parse_policy(const struct nlmsghdr *nlh, struct xfrm_spd *out,
		      struct diag_list *d)
{
	struct xfrm_userpolicy_info info;
	size_t hdr = MNL_ALIGN(sizeof(info));
	const struct nlattr *a;

	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_type != XFRM_MSG_NEWPOLICY && nlh->nlmsg_type != XFRM_MSG_UPDPOLICY)
		return xfrm_fail(d, "message type %u is not NEWPOLICY / UPDPOLICY",
				 nlh->nlmsg_type);
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + hdr)
		return xfrm_fail(d, "policy message of %u bytes is shorter than its %zu-byte header",
				 nlh->nlmsg_len, (size_t)MNL_NLMSG_HDRLEN + hdr);
	memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof(info));
	if (xfrm_sel_from(&info.sel, "policy selector", &out->sel, d) < 0)
		return -1;
	out->dir = info.dir;
	out->block = info.action == XFRM_POLICY_BLOCK;
	out->priority = info.priority;
	out->index = info.index;
	/* mnl_attr_for_each stops at the first attribute that overruns */
	mnl_attr_for_each(a, nlh, hdr) {
		if (mnl_attr_get_type(a) == XFRMA_TMPL &&
		    tmpls_of(a, info.sel.family, out, d) < 0)
			return -1;
	}
	return 0;
}

static bool prefix_has(u128 net, unsigned plen, enum addr_family fam, u128 a)
{
	unsigned bits = fam == AF4 ? 32 : 128;

	return plen == 0 || (plen <= bits && (net >> (bits - plen)) == (a >> (bits - plen)));
}

bool xfrm_spd_covers_peer(const struct xfrm_spd *p, enum addr_family fam, u128 peer)
{
	if (!p->sel.set)
		return true;
	if (p->sel.fam != fam)
		return false;
	if (p->dir == XFRM_SPD_IN || p->dir == XFRM_SPD_FWD)
		return prefix_has(p->sel.saddr, p->sel.plen_s, fam, peer);
	return prefix_has(p->sel.daddr, p->sel.plen_d, fam, peer);
}

bool xfrm_spd_requires(const struct xfrm_spd *p)
{
	for (size_t i = 0; i < p->ntmpl; i++)
		if (!p->tmpl[i].optional)
			return true;
	return false;
}

const char *xfrm_spd_dir_name(uint8_t dir)
{
	switch (dir) {
	case XFRM_SPD_IN: return "in";
	case XFRM_SPD_OUT: return "out";
	case XFRM_SPD_FWD: return "fwd";
	default: return "socket";
	}
}
