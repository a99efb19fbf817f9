/* nft_rule: a plan's chain rules built as nftnl expressions, with the
 * policy rule's name as their userdata. */
#include "config.h"

#include "nft_build.h"
#include "nft_build_int.h"
#include "util.h"

#include <arpa/inet.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/xfrm.h>

/* --- rules ---------------------------------------------------------------- */

/* A rule being built: expressions, and which statement each came from.
 * Every function below adds one diagnostic and returns -1 (or NULL) when
 * it fails, and the rule is given up. */
struct rb {
	struct nft_batch *b;
	struct nftnl_rule *r;
	uint32_t chain, rule;
	uint32_t stmt;
	uint32_t owner[MAX_EXPRS];
	uint8_t kind[MAX_EXPRS];
	size_t n;
};

static struct nftnl_expr *rb_add(struct rb *rb, uint8_t kind)
{
	struct nftnl_expr *e;

	if (rb->n == MAX_EXPRS) {
		nftb_rule_fail(rb->b, rb->chain, rb->rule, rb->stmt,
			       "more than %d nf_tables expressions, the most one rule is built with",
			       MAX_EXPRS);
		return NULL;
	}
	if (!(e = nftnl_expr_alloc(expr_names[kind]))) {
		nftb_oom(rb->b);
		return NULL;
	}
	nftnl_rule_add_expr(rb->r, e);
	rb->owner[rb->n] = rb->stmt;
	rb->kind[rb->n++] = kind;
	return e;
}

/* A string attribute of e; only its copy can fail. */
static int x_str(struct rb *rb, struct nftnl_expr *e, uint16_t attr, const char *s)
{
	return nftnl_expr_set_str(e, attr, s) < 0 ? nftb_oom(rb->b) : 0;
}

/* A concatenation is loaded into consecutive 32-bit slots; nft names a
 * slot by its 128-bit register when it starts one (netlink_put_register). */
static uint32_t reg_of_slot(uint32_t slot)
{
	return slot % 4 == 0 ? REG_FIRST + slot / 4 : NFT_REG32_00 + slot;
}

static int x_meta_load(struct rb *rb, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rb_add(rb, X_META);

	if (!e)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	return 0;
}

static int x_meta_set(struct rb *rb, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = rb_add(rb, X_META);

	if (!e)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
	return 0;
}

static int x_cmp(struct rb *rb, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = rb_add(rb, X_CMP);

	if (!e)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, REG_FIRST);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	return 0;
}

static int x_cmp_u32(struct rb *rb, uint32_t op, uint32_t v)
{
	return x_cmp(rb, op, &v, sizeof(v));
}

static int x_cmp_u8(struct rb *rb, uint32_t op, uint8_t v)
{
	return x_cmp(rb, op, &v, sizeof(v));
}

/* reg 1 = (reg 1 & mask) ^ xor on 4 bytes; nft writes the op attribute
 * for a binary operation but not for a flag test (ct state). */
static int x_bitwise(struct rb *rb, uint32_t mask, uint32_t xor, bool with_op)
{
	struct nftnl_expr *e = rb_add(rb, X_BITWISE);

	if (!e)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, REG_FIRST);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, REG_FIRST);
	if (with_op)
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, sizeof(xor));
	return 0;
}

static int x_payload(struct rb *rb, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = rb_add(rb, X_PAYLOAD);

	if (!e)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	return 0;
}

static int x_ct(struct rb *rb, uint32_t key, uint16_t reg_attr)
{
	struct nftnl_expr *e = rb_add(rb, X_CT);

	if (!e)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, reg_attr, REG_FIRST);
	return 0;
}

/* ipsec in|out key of the outermost SA into dreg */
static int x_xfrm_dir(struct rb *rb, uint32_t key, uint8_t dir, uint32_t dreg)
{
	struct nftnl_expr *e = rb_add(rb, X_XFRM);

	if (!e)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_XFRM_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_XFRM_KEY, key);
	nftnl_expr_set_u8(e, NFTNL_EXPR_XFRM_DIR, dir);
	nftnl_expr_set_u32(e, NFTNL_EXPR_XFRM_SPNUM, 0);
	return 0;
}

static int x_xfrm(struct rb *rb, uint32_t key)
{
	return x_xfrm_dir(rb, key, XFRM_POLICY_IN, REG_FIRST);
}

static struct nftnl_expr *x_lookup(struct rb *rb, const char *set, uint32_t id, bool vmap)
{
	struct nftnl_expr *e = rb_add(rb, X_LOOKUP);

	if (!e)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, REG_FIRST);
	if (vmap)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	if (x_str(rb, e, NFTNL_EXPR_LOOKUP_SET, set))
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
	return e;
}

/* add or update @set with the key in register 1 */
/* the dynset expression, or NULL (reported) */
static struct nftnl_expr *x_dynset_expr(struct rb *rb, uint32_t op, const char *set,
					uint32_t id)
{
	struct nftnl_expr *e = rb_add(rb, X_DYNSET);

	if (!e)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, REG_FIRST);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, op);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, id);
	return x_str(rb, e, NFTNL_EXPR_DYNSET_SET_NAME, set) ? NULL : e;
}

static int x_dynset(struct rb *rb, uint32_t op, const char *set, uint32_t id)
{
	return x_dynset_expr(rb, op, set, id) ? 0 : -1;
}

/* An anonymous constant set of one-byte keys, sent before the rule that
 * looks it up (the kernel binds it to that rule), then the lookup. */
static int x_lookup_anon(struct rb *rb, enum nftu_anon kind, const uint8_t *keys, size_t n)
{
	struct nft_batch *b = rb->b;
	struct nftnl_set *ns = nftnl_set_alloc();
	struct origin o = { .kind = O_ANON, .type = NFT_MSG_NEWSET, .obj = rb->chain,
			    .idx = rb->rule };
	uint32_t id = b->next_anon_id++;
	struct nlmsghdr *nlh;
	int ret = -1;

	if (!ns || nftnl_set_set_str(ns, NFTNL_SET_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_set_set_str(ns, NFTNL_SET_NAME, "__set%d") < 0 ||
	    nftu_set_anon(ns, kind) < 0) {
		nftb_oom(b);
		goto out;
	}
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, 1);
	nftnl_set_set_u32(ns, NFTNL_SET_ID, id);
	nftnl_set_set_u32(ns, NFTNL_SET_DESC_SIZE, (uint32_t)n);
	nlh = nftb_msg_start(b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL);
	nftnl_set_nlmsg_build_payload(nlh, ns);
	if (nftb_msg_done(b, o))
		goto out;
	o.type = NFT_MSG_NEWSETELEM;
	if (nftb_put_key_elems(b, o, "__set%d", id, keys, 1, n) == 0 &&
	    x_lookup(rb, "__set%d", id, false))
		ret = 0;
out:
	if (ns)
		nftnl_set_free(ns);
	return ret;
}

/* The set named name; NULL (reported) when the plan has none. */
static const struct plan_set *plan_set(struct rb *rb, const char *name, size_t *si)
{
	const struct plan_set *s = plan_set_named(rb->b->plan, name);

	if (s)
		*si = (size_t)(s - rb->b->plan->sets);
	else
		nftb_rule_fail(rb->b, rb->chain, rb->rule, rb->stmt,
			       "the plan has no set %s", name ? name : "(none)");
	return s;
}

/* nft converts host-order fields of an interval key (a no-op for one
 * byte, kept so listings match nft's) */
static int x_hton_byte(struct rb *rb, uint32_t reg)
{
	struct nftnl_expr *e = rb_add(rb, X_BYTEORDER);

	if (!e)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 2);
	return 0;
}

/* One key field into reg. */
static int load_field(struct rb *rb, const struct plan_set *s, enum plan_field f, uint32_t reg)
{
	switch (f) {
	case PF_SADDR4: return x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, reg);
	case PF_DADDR4: return x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, reg);
	case PF_SADDR6: return x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, reg);
	case PF_DADDR6: return x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 24, 16, reg);
	case PF_DPORT: return x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg);
	case PF_ICMP_TYPE:
	case PF_ICMPV6_TYPE: return x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, reg);
	case PF_IIFNAME: return x_meta_load(rb, NFT_META_IIFNAME, reg);
	case PF_OIFNAME: return x_meta_load(rb, NFT_META_OIFNAME, reg);
	case PF_L4PROTO:
		return x_meta_load(rb, NFT_META_L4PROTO, reg) ||
		       (s->interval && x_hton_byte(rb, reg)) ? -1 : 0;
	}
	return 0;
}

/* the key fields of s into the registers, as nft lays out a concatenation
 * (with the family check an address payload needs in an inet table) */
static int load_key(struct rb *rb, const struct plan_set *s)
{
	uint32_t slot = 0;
	int nfproto = 0;

	for (size_t i = 0; i < s->nfields; i++) {
		enum plan_field f = s->fields[i];

		if (f == PF_SADDR4 || f == PF_DADDR4)
			nfproto = NFPROTO_IPV4;
		else if (f == PF_SADDR6 || f == PF_DADDR6)
			nfproto = NFPROTO_IPV6;
	}
	/* inet: the address payload needs its family */
	if (nfproto && (x_meta_load(rb, NFT_META_NFPROTO, REG_FIRST) ||
			x_cmp_u8(rb, NFT_CMP_EQ, (uint8_t)nfproto)))
		return -1;
	for (size_t i = 0; i < s->nfields; i++) {
		if (load_field(rb, s, s->fields[i], reg_of_slot(slot)))
			return -1;
		slot += (uint32_t)nftb_field_space(s->fields[i]) / 4;
	}
	return 0;
}

/* key fields . of set vmap @set, laid out as nft lays out a concatenation */
static int st_vmap(struct rb *rb, const struct plan_stmt *st)
{
	size_t si;
	const struct plan_set *s = plan_set(rb, st->str, &si);

	return !s || load_key(rb, s) || !x_lookup(rb, s->name, nftb_set_id(si), true) ? -1 : 0;
}

/* update @set { key fields }: the packet's element is added or its
 * timeout refreshed, and the set's counter counts it */
static int st_attempt_update(struct rb *rb, const struct plan_stmt *st)
{
	size_t si;
	const struct plan_set *s = plan_set(rb, st->str, &si);

	return !s || load_key(rb, s) ||
	       x_dynset(rb, NFT_DYNSET_OP_UPDATE, s->name, nftb_set_id(si)) ? -1 : 0;
}

/* update @set { saddr limit rate over R/unit burst B packets }: the
 * source's element, made on its first flow, holds its own limit; the
 * rule goes on (to its drop) only when that limit is exceeded */
static int st_meter_over(struct rb *rb, const struct plan_stmt *st)
{
	size_t si;
	const struct plan_set *s = plan_set(rb, st->str, &si);
	struct nftnl_expr *dyn, *lim;

	if (!s || load_key(rb, s) ||
	    !(dyn = x_dynset_expr(rb, NFT_DYNSET_OP_UPDATE, s->name, nftb_set_id(si))))
		return -1;
	if (!(lim = nftnl_expr_alloc("limit")))
		return nftb_oom(rb->b);
	nftnl_expr_set_u64(lim, NFTNL_EXPR_LIMIT_RATE, s->rate);
	nftnl_expr_set_u64(lim, NFTNL_EXPR_LIMIT_UNIT, s->unit);
	nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_BURST, s->burst);
	nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
	nftnl_expr_add_expr(dyn, NFTNL_EXPR_DYNSET_EXPRESSIONS, lim);
	return 0;
}

static int st_icmpv6_nd(struct rb *rb)
{
	static const uint8_t types[] = { 133, 134, 135, 136 };	/* RS, RA, NS, NA */

	return x_meta_load(rb, NFT_META_NFPROTO, REG_FIRST) ||
	       x_cmp_u8(rb, NFT_CMP_EQ, NFPROTO_IPV6) ||
	       x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 7, 1, REG_FIRST) ||	/* hop limit */
	       x_cmp_u8(rb, NFT_CMP_EQ, 255) ||
	       x_meta_load(rb, NFT_META_L4PROTO, REG_FIRST) ||
	       x_cmp_u8(rb, NFT_CMP_EQ, 58) ||
	       x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, REG_FIRST) ||	/* icmpv6 type */
	       x_lookup_anon(rb, NFTU_ANON_ICMPV6_TYPE, types, ARRAY_SIZE(types)) ? -1 : 0;
}

static int st_l4proto_ports(struct rb *rb)
{
	static const uint8_t protos[] = { 6, 17, 132 };	/* tcp, udp, sctp */

	return x_meta_load(rb, NFT_META_L4PROTO, REG_FIRST) ||
	       x_lookup_anon(rb, NFTU_ANON_L4PROTO, protos, ARRAY_SIZE(protos)) ? -1 : 0;
}

/* ct mark . ipsec in|out reqid, laid out as nft lays out the pair */
static int load_binding(struct rb *rb, uint8_t dir)
{
	return x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_DREG) ||
	       x_xfrm_dir(rb, NFT_XFRM_KEY_REQID, dir, reg_of_slot(1)) ? -1 : 0;
}

static int st_bind_add(struct rb *rb, uint8_t dir)
{
	size_t si;

	return !plan_set(rb, PLAN_BOUND_SET, &si) || load_binding(rb, dir) ||
	       x_dynset(rb, NFT_DYNSET_OP_ADD, PLAN_BOUND_SET, nftb_set_id(si)) ? -1 : 0;
}

static int st_bind_missing(struct rb *rb)
{
	struct nftnl_expr *e;
	size_t si;

	if (!plan_set(rb, PLAN_BOUND_SET, &si) || load_binding(rb, XFRM_POLICY_IN) ||
	    !(e = x_lookup(rb, PLAN_BOUND_SET, nftb_set_id(si), false)))
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	return 0;
}

static int st_rt_ipsec_missing(struct rb *rb)
{
	struct nftnl_expr *e = rb_add(rb, X_RT);

	if (!e)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_RT_DREG, REG_FIRST);
	nftnl_expr_set_u32(e, NFTNL_EXPR_RT_KEY, NFT_RT_XFRM);
	return x_cmp_u8(rb, NFT_CMP_EQ, 0);
}

/* limit rate over rate/unit burst burst packets: matches the packets
 * past the rate */
static int st_limit(struct rb *rb, const struct plan_stmt *st)
{
	struct nftnl_expr *e = rb_add(rb, X_LIMIT);

	if (!e)
		return -1;
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, st->arg);
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, st->unit);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, st->burst);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
	return 0;
}

/* log group g prefix "...": to nfnetlink_log, whose reader is in this
 * namespace (the kernel log is not: nf_log_all_netns) */
static int st_log(struct rb *rb, uint32_t group, const char *prefix)
{
	struct nftnl_expr *e = rb_add(rb, X_LOG);

	if (!e)
		return -1;
	nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, (uint16_t)group);
	return x_str(rb, e, NFTNL_EXPR_LOG_PREFIX, prefix ? prefix : "") ? -1 : 0;
}

static uint8_t stmt_dir(const struct plan_stmt *st)
{
	return st->arg & PLAN_DIR_OUT ? XFRM_POLICY_OUT : XFRM_POLICY_IN;
}

static int put_stmt(struct rb *rb, const struct plan_stmt *st)
{
	switch (st->kind) {
	case PS_IIF_LO:
	case PS_OIF_LO:
		return x_meta_load(rb, st->kind == PS_IIF_LO ? NFT_META_IIF : NFT_META_OIF,
				   REG_FIRST) ||
		       x_cmp_u32(rb, NFT_CMP_EQ, LOOPBACK_IFINDEX) ? -1 : 0;
	case PS_CT_STATE:	/* PLAN_CT_* are the kernel's NF_CT_STATE bits */
		return x_ct(rb, NFT_CT_STATE, NFTNL_EXPR_CT_DREG) ||
		       x_bitwise(rb, st->arg, 0, false) ||
		       x_cmp_u32(rb, NFT_CMP_NEQ, 0) ? -1 : 0;
	case PS_CT_MARK_SET_BIT:
		return x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_DREG) ||
		       x_bitwise(rb, st->arg, 0, true) ||
		       x_cmp_u32(rb, NFT_CMP_EQ, st->arg) ? -1 : 0;
	case PS_SECPATH_MISSING:
		return x_meta_load(rb, NFT_META_SECPATH, REG_FIRST) ||
		       x_cmp_u8(rb, NFT_CMP_EQ, 0) ? -1 : 0;
	case PS_RT_IPSEC_MISSING:
		return st_rt_ipsec_missing(rb);
	case PS_IPSEC_REQID_NE:
		return x_xfrm(rb, NFT_XFRM_KEY_REQID) ||
		       x_cmp_u32(rb, NFT_CMP_NEQ, st->arg) ? -1 : 0;
	case PS_ICMPV6_ND:
		return st_icmpv6_nd(rb);
	case PS_L4PROTO_PORTS:
		return st_l4proto_ports(rb);
	case PS_L4PROTO_IS:
		return x_meta_load(rb, NFT_META_L4PROTO, REG_FIRST) ||
		       x_cmp_u8(rb, NFT_CMP_EQ, (uint8_t)st->arg) ? -1 : 0;
	case PS_VMAP:
		return st_vmap(rb, st);
	case PS_COUNTER:
		return rb_add(rb, X_COUNTER) ? 0 : -1;
	case PS_LIMIT:
		return st_limit(rb, st);
	case PS_LOG:
		return st_log(rb, st->arg, st->str);
	case PS_CT_MARK_OR:	/* ct mark set ct mark | arg */
		return x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_DREG) ||
		       x_bitwise(rb, ~st->arg, st->arg, true) ||
		       x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_SREG) ? -1 : 0;
	case PS_PRIORITY_SET_SPI:	/* meta priority set ipsec in spi: nft cannot parse it */
		return x_xfrm(rb, NFT_XFRM_KEY_SPI) ||
		       x_meta_set(rb, NFT_META_PRIORITY, REG_FIRST) ? -1 : 0;
	case PS_CT_MARK_SET_REQID:	/* ct mark set ipsec in|out reqid: nor this */
		return x_xfrm_dir(rb, NFT_XFRM_KEY_REQID, stmt_dir(st), REG_FIRST) ||
		       x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_SREG) ? -1 : 0;
	case PS_BIND_ADD:
		return st_bind_add(rb, stmt_dir(st));
	case PS_BIND_MISSING:
		return st_bind_missing(rb);
	case PS_ATTEMPT_UPDATE:
		return st_attempt_update(rb, st);
	case PS_METER_OVER:
		return st_meter_over(rb, st);
	case PS_CT_DIRECTION:	/* IP_CT_DIR_ORIGINAL 0, IP_CT_DIR_REPLY 1: one byte */
		return x_ct(rb, NFT_CT_DIRECTION, NFTNL_EXPR_CT_DREG) ||
		       x_cmp_u8(rb, NFT_CMP_EQ, (uint8_t)st->arg) ? -1 : 0;
	}
	return 0;
}

static int put_verdict(struct rb *rb, const struct plan_verdict *v)
{
	struct nftnl_expr *e;

	rb->stmt = STMT_VERDICT;
	switch (v->kind) {
	case PV_NONE:
		return 0;
	case PV_QUEUE:	/* no NFT_QUEUE_FLAG_BYPASS: fail closed */
		if (!(e = rb_add(rb, X_QUEUE)))
			return -1;
		nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_NUM, v->queue);
		nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_TOTAL, v->queues > 1 ? v->queues : 1);
		/* a range is spread by the CPU that handles the packet: one flow
		 * stays on one CPU (RSS, RPS), so on one queue, and each queue's
		 * thread in sagated tends to the CPU that fed it */
		if (v->queues > 1)
			nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_FLAGS, NFT_QUEUE_FLAG_CPU_FANOUT);
		return 0;
	case PV_ACCEPT:
	case PV_DROP:
	case PV_GOTO:
	case PV_JUMP:
		break;
	}
	if ((v->kind == PV_GOTO || v->kind == PV_JUMP) && !v->chain)
		return nftb_rule_fail(rb->b, rb->chain, rb->rule, STMT_NONE,
				      "goto / jump without a chain");
	if (!(e = rb_add(rb, X_IMMEDIATE)))
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, nftb_verdict_code(v));
	return v->kind == PV_GOTO || v->kind == PV_JUMP ?
	       x_str(rb, e, NFTNL_EXPR_IMM_CHAIN, v->chain) : 0;
}

/* Where each expression of the built rule message starts, for errors. */
static int mark_exprs(struct rb *rb, const struct nlmsghdr *nlh)
{
	const struct nlattr *a, *x;
	size_t k = 0;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_RULE_EXPRESSIONS)
			continue;
		mnl_attr_for_each_nested(x, a) {
			if (k == rb->n)
				break;
			if (nftb_mark_add(rb->b, (uint32_t)((const char *)x - (const char *)nlh),
				     rb->owner[k], rb->kind[k]))
				return -1;
			k++;
		}
	}
	return 0;
}

/* The rule's comment as its user data. */
static int put_comment(struct rb *rb, const char *comment)
{
	struct nftnl_udata_buf *ud;
	int ret;

	if (strlen(comment) > NFTU_COMMENT_MAX)
		return nftb_fail(rb->b, NULL,
				 "chain %s rule %u: comment \"%s\" is longer than the kernel keeps",
				 rb->b->plan->chains[rb->chain].name, rb->rule + 1, comment);
	ud = nftu_comment(NFTNL_UDATA_RULE_COMMENT, comment);
	ret = !ud || nftnl_rule_set_data(rb->r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
					 nftnl_udata_buf_len(ud)) < 0 ? nftb_oom(rb->b) : 0;
	nftnl_udata_buf_free(ud);
	return ret;
}

int nftb_put_rule(struct nft_batch *b, uint32_t ci, uint32_t ri)
{
	const struct plan_chain *c = &b->plan->chains[ci];
	const struct plan_rule *pr = &c->rules[ri];
	struct rb rb = { .b = b, .chain = ci, .rule = ri };
	struct origin o = { .kind = O_RULE, .type = NFT_MSG_NEWRULE, .obj = ci, .idx = ri };
	struct nlmsghdr *nlh;
	int ret = -1;

	rb.r = nftnl_rule_alloc();
	if (!rb.r || nftnl_rule_set_str(rb.r, NFTNL_RULE_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_rule_set_str(rb.r, NFTNL_RULE_CHAIN, c->name) < 0) {
		nftb_oom(b);
		goto out;
	}
	if (pr->comment && put_comment(&rb, pr->comment))
		goto out;
	for (size_t i = 0; i < pr->nstmts; i++) {
		rb.stmt = (uint32_t)i;
		if (put_stmt(&rb, &pr->stmts[i]))
			goto out;
	}
	if (put_verdict(&rb, &pr->verdict))
		goto out;
	nlh = nftb_msg_start(b, NFT_MSG_NEWRULE, NLM_F_APPEND | NLM_F_CREATE);
	nftnl_rule_nlmsg_build_payload(nlh, rb.r);
	o.mark0 = b->nmarks;
	if (mark_exprs(&rb, nlh))
		goto out;
	o.nmarks = b->nmarks - o.mark0;
	ret = nftb_msg_done(b, o);
out:
	if (rb.r)
		nftnl_rule_free(rb.r);
	return ret;
}
