/* nft_udata: what nft needs from us so that `nft list` prints our objects.
 *
 * The kernel keeps a set's key type and every object's user data without
 * reading them; nft reads them back to print a set's type ("type
 * ipv4_addr . inet_service", "typeof ct mark . ipsec in reqid"), its
 * elements ("{ tcp, udp }", "nd-router-solicit"), and comments.  All of it
 * is nftables' private encoding, and all of it is here.  Where each number
 * comes from, in nftables' source (1.0.x; stable since the formats came):
 *
 *   datatype numbers   include/datatype.h, enum datatypes: TYPE_INTEGER 4,
 *                      TYPE_IPADDR 7, TYPE_IP6ADDR 8, TYPE_INET_PROTOCOL 12,
 *                      TYPE_INET_SERVICE 13, TYPE_MARK 19, TYPE_ICMP6_TYPE 29
 *   concatenated type  include/datatype.h concat_subtype_add(): TYPE_BITS 6
 *                      bits per field, the first field highest
 *   byte orders        include/datatype.h, enum byteorder: INVALID 0, HOST 1,
 *                      BIG 2; in NFTNL_UDATA_SET_KEYBYTEORDER / DATABYTEORDER
 *                      (src/netlink.c, set user data; a concatenation has
 *                      no single byte order)
 *   typeof             src/netlink.c: NFTNL_UDATA_SET_KEY_TYPEOF nests the
 *                      expression kind (NFTNL_UDATA_SET_TYPEOF_EXPR) and the
 *                      expression's own user data (NFTNL_UDATA_SET_TYPEOF_DATA);
 *                      kinds from include/expression.h, enum expr_types:
 *                      EXPR_CT 12, EXPR_CONCAT 13, EXPR_XFRM 27
 *   a kind's own data  src/expression.c concat_expr_build_udata(): a nest per
 *                      part, numbered from 0, of its kind (0) and data (1);
 *                      src/ct.c ct_expr_build_udata(): key 0, direction 1
 *                      (-1: none); src/xfrm.c xfrm_expr_build_udata(): key 0,
 *                      spnum 1, direction 2
 *   comments           libnftnl's NFTNL_UDATA_*_COMMENT, as nft writes them
 *
 * nft writes more than this (a typeof for `type` sets too, the interval
 * flag of a map's data); what we write is a part of what nft writes, and
 * tests/netns/apply-smoke.sh checks it against nft's own, set by set.
 */
#ifndef SAGATE_NFT_UDATA_H
#define SAGATE_NFT_UDATA_H

#include "plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#define NFTU_USERDATA_MAX 256	/**< the kernel's NFT_USERDATA_MAXLEN */
/** Longest comment that fits: the user data less a TLV header and the NUL. */
#define NFTU_COMMENT_MAX (NFTU_USERDATA_MAX - 3)

/** The anonymous constant sets a rule looks up. */
enum nftu_anon {
	NFTU_ANON_L4PROTO,	/**< meta l4proto { tcp, udp, sctp } */
	NFTU_ANON_ICMPV6_TYPE,	/**< icmpv6 type { nd-router-solicit, ... } */
};

/** The key type and user data of a set keyed by fields f[0..n) (a
 *  concatenation when n > 1); map: its data are verdicts.  0, or -1
 *  when out of memory. */
int nftu_set_fields(struct nftnl_set *ns, const enum plan_field *f, size_t n, bool map);

/** The key type and user data of the PLAN_BOUND_SET, "typeof ct mark .
 *  ipsec in reqid".  0, or -1 when out of memory. */
int nftu_set_bound(struct nftnl_set *ns);

/** The key type and user data of an anonymous set of kind a.  0, or -1
 *  when out of memory. */
int nftu_set_anon(struct nftnl_set *ns, enum nftu_anon a);

/** A comment as user data of type (NFTNL_UDATA_TABLE_COMMENT, ...);
 *  NULL when it is longer than NFTU_COMMENT_MAX, or out of memory.  Free
 *  with nftnl_udata_buf_free. */
struct nftnl_udata_buf *nftu_comment(uint8_t type, const char *s);

#endif
