#include "config.h"

#include "nft_udata.h"

#include <linux/netfilter/nf_tables.h>
#include <linux/xfrm.h>

/* nftables' include/datatype.h, enum datatypes */
enum {
	TYPE_INTEGER = 4,
	TYPE_IPADDR = 7,
	TYPE_IP6ADDR = 8,
	TYPE_INET_PROTOCOL = 12,
	TYPE_INET_SERVICE = 13,
	TYPE_ICMP_TYPE = 14,
	TYPE_MARK = 19,
	TYPE_ICMP6_TYPE = 29,
	TYPE_IFNAME = 41,
};
#define TYPE_BITS 6	/* include/datatype.h: bits per field of a concatenation */

/* include/datatype.h, enum byteorder */
enum { BYTEORDER_INVALID = 0, BYTEORDER_HOST_ENDIAN = 1, BYTEORDER_BIG_ENDIAN = 2 };

/* include/expression.h, enum expr_types */
enum { EXPR_CT = 12, EXPR_CONCAT = 13, EXPR_XFRM = 27 };

/* The user data of each kind, numbered as src/expression.c, src/ct.c and
 * src/xfrm.c number them. */
enum { CONCAT_SUB_TYPE = 0, CONCAT_SUB_DATA = 1 };
enum { CT_KEY = 0, CT_DIR = 1 };
enum { XFRM_KEY = 0, XFRM_SPNUM = 1, XFRM_DIR = 2 };

/* What nft types a field as, and its byte order in a key. */
static uint32_t field_type(enum plan_field f)
{
	switch (f) {
	case PF_SADDR4:
	case PF_DADDR4: return TYPE_IPADDR;
	case PF_SADDR6:
	case PF_DADDR6: return TYPE_IP6ADDR;
	case PF_L4PROTO: return TYPE_INET_PROTOCOL;
	case PF_DPORT: return TYPE_INET_SERVICE;
	case PF_ICMP_TYPE: return TYPE_ICMP_TYPE;
	case PF_ICMPV6_TYPE: return TYPE_ICMP6_TYPE;
	case PF_IIFNAME:
	case PF_OIFNAME: return TYPE_IFNAME;
	}
	return 0;
}

static uint32_t field_byteorder(enum plan_field f)
{
	/* meta l4proto is a host-order byte, names are strings; the rest
	 * come from headers */
	return f == PF_L4PROTO || f == PF_IIFNAME || f == PF_OIFNAME ?
	       BYTEORDER_HOST_ENDIAN : BYTEORDER_BIG_ENDIAN;
}

/* Attach ud to ns as its user data; ud is freed either way. */
static int set_udata(struct nftnl_set *ns, struct nftnl_udata_buf *ud, bool ok)
{
	ok = ok && nftnl_set_set_data(ns, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
				      nftnl_udata_buf_len(ud)) == 0;
	nftnl_udata_buf_free(ud);
	return ok ? 0 : -1;
}

int nftu_set_fields(struct nftnl_set *ns, const enum plan_field *f, size_t n, bool map)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTU_USERDATA_MAX);
	uint32_t type = 0;

	if (!ud)
		return -1;
	for (size_t i = 0; i < n; i++)
		type = type << TYPE_BITS | field_type(f[i]);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, type);
	return set_udata(ns, ud,
			 nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
					     n == 1 ? field_byteorder(f[0]) : BYTEORDER_INVALID) &&
			 (!map || nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER,
						      BYTEORDER_INVALID)));
}

/* One typeof expression of kind, with its own user data attrs[0..n). */
static bool put_typeof_part(struct nftnl_udata_buf *ud, uint8_t index, uint32_t kind,
			    const uint32_t *attrs, uint8_t n)
{
	struct nftnl_udata *part = nftnl_udata_nest_start(ud, index), *data = NULL;
	bool ok = part && nftnl_udata_put_u32(ud, CONCAT_SUB_TYPE, kind) &&
		  (data = nftnl_udata_nest_start(ud, CONCAT_SUB_DATA));

	for (uint8_t i = 0; ok && i < n; i++)
		ok = nftnl_udata_put_u32(ud, i, attrs[i]);
	if (ok) {
		nftnl_udata_nest_end(ud, data);
		nftnl_udata_nest_end(ud, part);
	}
	return ok;
}

int nftu_set_bound(struct nftnl_set *ns)
{
	static const uint32_t ct[] = { [CT_KEY] = NFT_CT_MARK, [CT_DIR] = (uint32_t)-1 };
	static const uint32_t xfrm[] = { [XFRM_KEY] = NFT_XFRM_KEY_REQID, [XFRM_SPNUM] = 0,
					 [XFRM_DIR] = XFRM_POLICY_IN };
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTU_USERDATA_MAX);
	struct nftnl_udata *t = NULL, *data = NULL;
	bool ok;

	if (!ud)
		return -1;
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, TYPE_MARK << TYPE_BITS | TYPE_INTEGER);
	ok = nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, BYTEORDER_INVALID) &&
	     (t = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_KEY_TYPEOF)) &&
	     nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, EXPR_CONCAT) &&
	     (data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA)) &&
	     put_typeof_part(ud, 0, EXPR_CT, ct, 2) &&
	     put_typeof_part(ud, 1, EXPR_XFRM, xfrm, 3);
	if (ok) {
		nftnl_udata_nest_end(ud, data);
		nftnl_udata_nest_end(ud, t);
	}
	return set_udata(ns, ud, ok);
}

int nftu_set_anon(struct nftnl_set *ns, enum nftu_anon a)
{
	static const enum plan_field l4proto = PF_L4PROTO;
	struct nftnl_udata_buf *ud;

	if (a == NFTU_ANON_L4PROTO)
		return nftu_set_fields(ns, &l4proto, 1, false);
	if (!(ud = nftnl_udata_buf_alloc(NFTU_USERDATA_MAX)))
		return -1;
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, TYPE_ICMP6_TYPE);
	return set_udata(ns, ud, nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
						     BYTEORDER_BIG_ENDIAN));
}

struct nftnl_udata_buf *nftu_comment(uint8_t type, const char *s)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTU_USERDATA_MAX);

	if (ud && !nftnl_udata_put_strz(ud, type, s)) {
		nftnl_udata_buf_free(ud);
		return NULL;
	}
	return ud;
}
