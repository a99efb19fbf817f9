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

/* A rule being built: expressions, and which statement each came from. */
struct rb {
	struct nft_batch *b;
	struct nftnl_rule *r;
	uint32_t chain, rule;
	uint32_t stmt;
	uint32_t owner[MAX_EXPRS];
	uint8_t kind[MAX_EXPRS];
	size_t n;
	bool failed;
};

static struct nftnl_expr *rb_add(struct rb *rb, uint8_t kind)
{
	struct nftnl_expr *e;

	if (rb->failed)
		return NULL;
	if (rb->n == MAX_EXPRS || !(e = nftnl_expr_alloc(expr_names[kind]))) {
		rb->failed = true;
		return NULL;
	}
	nftnl_rule_add_expr(rb->r, e);
	rb->owner[rb->n] = rb->stmt;
	rb->kind[rb->n++] = kind;
	return e;
}

/* A concatenation is loaded into consecutive 32-bit slots; nft names a
 * slot by its 128-bit register when it starts one (netlink_put_register). */
static uint32_t reg_of_slot(uint32_t slot)
{
	return slot % 4 == 0 ? REG_FIRST + slot / 4 : NFT_REG32_00 + slot;
}

static void x_meta_load(struct rb *rb, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rb_add(rb, X_META);

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	}
}

static void x_meta_set(struct rb *rb, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = rb_add(rb, X_META);

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
	}
}

static void x_cmp(struct rb *rb, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = rb_add(rb, X_CMP);

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, REG_FIRST);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
}

static void x_cmp_u32(struct rb *rb, uint32_t op, uint32_t v)
{
	x_cmp(rb, op, &v, sizeof(v));
}

static void x_cmp_u8(struct rb *rb, uint32_t op, uint8_t v)
{
	x_cmp(rb, op, &v, sizeof(v));
}

/* reg 1 = (reg 1 & mask) ^ xor on 4 bytes; nft writes the op attribute
 * for a binary operation but not for a flag test (ct state). */
static void x_bitwise(struct rb *rb, uint32_t mask, uint32_t xor, bool with_op)
{
	struct nftnl_expr *e = rb_add(rb, X_BITWISE);

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, REG_FIRST);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, REG_FIRST);
		if (with_op)
			nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, sizeof(xor));
	}
}

static void x_payload(struct rb *rb, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = rb_add(rb, X_PAYLOAD);

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	}
}

static void x_ct(struct rb *rb, uint32_t key, uint16_t reg_attr)
{
	struct nftnl_expr *e = rb_add(rb, X_CT);

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u32(e, reg_attr, REG_FIRST);
	}
}

/* ipsec in|out key of the outermost SA into dreg */
static void x_xfrm_dir(struct rb *rb, uint32_t key, uint8_t dir, uint32_t dreg)
{
	struct nftnl_expr *e = rb_add(rb, X_XFRM);

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_XFRM_DREG, dreg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_XFRM_KEY, key);
		nftnl_expr_set_u8(e, NFTNL_EXPR_XFRM_DIR, dir);
		nftnl_expr_set_u32(e, NFTNL_EXPR_XFRM_SPNUM, 0);
	}
}

static void x_xfrm(struct rb *rb, uint32_t key)
{
	x_xfrm_dir(rb, key, XFRM_POLICY_IN, REG_FIRST);
}

static struct nftnl_expr *x_lookup(struct rb *rb, const char *set, uint32_t id, bool vmap)
{
	struct nftnl_expr *e = rb_add(rb, X_LOOKUP);

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, REG_FIRST);
		if (vmap)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
		if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0)
			rb->failed = true;
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
	}
	return e;
}

/* An anonymous constant set of one-byte keys, sent before the rule that
 * looks it up (the kernel binds it to that rule). */
static uint32_t put_anon_set(struct rb *rb, enum nftu_anon kind, const uint8_t *keys, size_t n)
{
	struct nft_batch *b = rb->b;
	struct nftnl_set *ns = nftnl_set_alloc();
	struct origin o = { .kind = O_ANON, .type = NFT_MSG_NEWSET, .obj = rb->chain,
			    .idx = rb->rule };
	uint32_t id = b->next_anon_id++;
	struct nlmsghdr *nlh;

	if (!ns || nftnl_set_set_str(ns, NFTNL_SET_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_set_set_str(ns, NFTNL_SET_NAME, "__set%d") < 0 ||
	    nftu_set_anon(ns, kind) < 0) {
		id = 0;
		goto out;
	}
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, 1);
	nftnl_set_set_u32(ns, NFTNL_SET_ID, id);
	nftnl_set_set_u32(ns, NFTNL_SET_DESC_SIZE, (uint32_t)n);
	nlh = nftb_msg_start(b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL);
	nftnl_set_nlmsg_build_payload(nlh, ns);
	if (nftb_msg_done(b, o)) {
		id = 0;
		goto out;
	}
	o.type = NFT_MSG_NEWSETELEM;
	if (nftb_put_key_elems(b, o, "__set%d", id, keys, 1, n))
		id = 0;
out:
	if (!id)
		rb->failed = true;
	if (ns)
		nftnl_set_free(ns);
	return id;
}

static const struct plan_set *find_set(const struct plan *p, const char *name, size_t *si)
{
	for (size_t i = 0; name && i < p->nsets; i++)
		if (strcmp(p->sets[i].name, name) == 0) {
			*si = i;
			return &p->sets[i];
		}
	return NULL;
}

static void load_key(struct rb *rb, const struct plan_set *s);

/* The set a statement names; NULL (and the batch failed) when the plan
 * has none of that name. */
static const struct plan_set *stmt_set(struct rb *rb, const struct plan_stmt *st, size_t *si)
{
	const struct plan_set *s = find_set(rb->b->plan, st->str, si);

	if (!s) {
		rb->failed = true;
		nftb_fail(rb->b, NULL, "chain %s rule %u: a set the plan does not have",
			  rb->b->plan->chains[rb->chain].name, rb->rule + 1);
	}
	return s;
}

/* key fields . of set vmap @set, laid out as nft lays out a concatenation */
static void st_vmap(struct rb *rb, const struct plan_stmt *st)
{
	size_t si;
	const struct plan_set *s = stmt_set(rb, st, &si);

	if (s) {
		load_key(rb, s);
		x_lookup(rb, s->name, nftb_set_id(si), true);
	}
}

/* update @set { key fields }: the packet's element is added or its
 * timeout refreshed, and the set's counter counts it */
static void st_attempt_update(struct rb *rb, const struct plan_stmt *st)
{
	size_t si;
	const struct plan_set *s = stmt_set(rb, st, &si);
	struct nftnl_expr *e;

	if (!s)
		return;
	load_key(rb, s);
	if ((e = rb_add(rb, X_DYNSET))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, REG_FIRST);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, nftb_set_id(si));
		if (nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, s->name) < 0)
			rb->failed = true;
	}
}

/* the key fields of s into the registers, as nft lays out a concatenation
 * (with the family check an address payload needs in an inet table) */
static void load_key(struct rb *rb, const struct plan_set *s)
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
	if (nfproto) {	/* inet: the address payload needs its family */
		x_meta_load(rb, NFT_META_NFPROTO, REG_FIRST);
		x_cmp_u8(rb, NFT_CMP_EQ, (uint8_t)nfproto);
	}
	for (size_t i = 0; i < s->nfields; i++) {
		enum plan_field f = s->fields[i];
		uint32_t reg = reg_of_slot(slot);

		switch (f) {
		case PF_SADDR4: x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, reg); break;
		case PF_DADDR4: x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, reg); break;
		case PF_SADDR6: x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, reg); break;
		case PF_DADDR6: x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 24, 16, reg); break;
		case PF_DPORT: x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg); break;
		case PF_L4PROTO:
			x_meta_load(rb, NFT_META_L4PROTO, reg);
			/* nft converts host-order fields of an interval key (a
			 * no-op for one byte, kept so listings match nft's) */
			if (s->interval) {
				struct nftnl_expr *e = rb_add(rb, X_BYTEORDER);

				if (e) {
					nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, reg);
					nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, reg);
					nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
					nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 1);
					nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 2);
				}
			}
			break;
		}
		slot += (uint32_t)nftb_field_space(f) / 4;
	}
}

static void st_icmpv6_nd(struct rb *rb)
{
	static const uint8_t types[] = { 133, 134, 135, 136 };	/* RS, RA, NS, NA */
	uint32_t id;

	x_meta_load(rb, NFT_META_NFPROTO, REG_FIRST);
	x_cmp_u8(rb, NFT_CMP_EQ, NFPROTO_IPV6);
	x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 7, 1, REG_FIRST);	/* hop limit */
	x_cmp_u8(rb, NFT_CMP_EQ, 255);
	x_meta_load(rb, NFT_META_L4PROTO, REG_FIRST);
	x_cmp_u8(rb, NFT_CMP_EQ, 58);
	x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, REG_FIRST);	/* icmpv6 type */
	id = put_anon_set(rb, NFTU_ANON_ICMPV6_TYPE, types, ARRAY_SIZE(types));
	if (id)
		x_lookup(rb, "__set%d", id, false);
}

static void st_l4proto_ports(struct rb *rb)
{
	static const uint8_t protos[] = { 6, 17, 132 };	/* tcp, udp, sctp */
	uint32_t id;

	x_meta_load(rb, NFT_META_L4PROTO, REG_FIRST);
	id = put_anon_set(rb, NFTU_ANON_L4PROTO, protos, ARRAY_SIZE(protos));
	if (id)
		x_lookup(rb, "__set%d", id, false);
}

/* ct mark . ipsec in|out reqid, laid out as nft lays out the pair */
static void load_binding(struct rb *rb, uint8_t dir)
{
	x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_DREG);
	x_xfrm_dir(rb, NFT_XFRM_KEY_REQID, dir, reg_of_slot(1));
}

static const struct plan_set *bound_set(struct rb *rb, size_t *si)
{
	const struct plan_set *s = find_set(rb->b->plan, PLAN_BOUND_SET, si);

	if (!s) {
		rb->failed = true;
		nftb_fail(rb->b, NULL, "chain %s rule %u: the plan has no set %s",
			  rb->b->plan->chains[rb->chain].name, rb->rule + 1, PLAN_BOUND_SET);
	}
	return s;
}

static void st_bind_add(struct rb *rb, uint8_t dir)
{
	struct nftnl_expr *e;
	size_t si;

	if (!bound_set(rb, &si))
		return;
	load_binding(rb, dir);
	if ((e = rb_add(rb, X_DYNSET))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, REG_FIRST);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_ADD);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, nftb_set_id(si));
		if (nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, PLAN_BOUND_SET) < 0)
			rb->failed = true;
	}
}

static void st_bind_missing(struct rb *rb)
{
	struct nftnl_expr *e;
	size_t si;

	if (!bound_set(rb, &si))
		return;
	load_binding(rb, XFRM_POLICY_IN);
	e = x_lookup(rb, PLAN_BOUND_SET, nftb_set_id(si), false);
	if (e)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
}

static void put_stmt(struct rb *rb, const struct plan_stmt *st)
{
	struct nftnl_expr *e;

	switch (st->kind) {
	case PS_IIF_LO:
	case PS_OIF_LO:
		x_meta_load(rb, st->kind == PS_IIF_LO ? NFT_META_IIF : NFT_META_OIF, REG_FIRST);
		x_cmp_u32(rb, NFT_CMP_EQ, LOOPBACK_IFINDEX);
		break;
	case PS_CT_STATE:	/* PLAN_CT_* are the kernel's NF_CT_STATE bits */
		x_ct(rb, NFT_CT_STATE, NFTNL_EXPR_CT_DREG);
		x_bitwise(rb, st->arg, 0, false);
		x_cmp_u32(rb, NFT_CMP_NEQ, 0);
		break;
	case PS_CT_MARK_SET_BIT:
		x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_DREG);
		x_bitwise(rb, st->arg, 0, true);
		x_cmp_u32(rb, NFT_CMP_EQ, st->arg);
		break;
	case PS_SECPATH_MISSING:
		x_meta_load(rb, NFT_META_SECPATH, REG_FIRST);
		x_cmp_u8(rb, NFT_CMP_EQ, 0);
		break;
	case PS_RT_IPSEC_MISSING:
		if ((e = rb_add(rb, X_RT))) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_RT_DREG, REG_FIRST);
			nftnl_expr_set_u32(e, NFTNL_EXPR_RT_KEY, NFT_RT_XFRM);
		}
		x_cmp_u8(rb, NFT_CMP_EQ, 0);
		break;
	case PS_IPSEC_REQID_NE:
		x_xfrm(rb, NFT_XFRM_KEY_REQID);
		x_cmp_u32(rb, NFT_CMP_NEQ, st->arg);
		break;
	case PS_ICMPV6_ND:
		st_icmpv6_nd(rb);
		break;
	case PS_L4PROTO_PORTS:
		st_l4proto_ports(rb);
		break;
	case PS_VMAP:
		st_vmap(rb, st);
		break;
	case PS_COUNTER:
		rb_add(rb, X_COUNTER);
		break;
	case PS_LIMIT:	/* limit rate arg/second burst 2*arg packets */
		if ((e = rb_add(rb, X_LIMIT))) {
			nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, st->arg);
			nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
			nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, 2 * st->arg);
			nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
			nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
		}
		break;
	case PS_LOG:
		if ((e = rb_add(rb, X_LOG)) &&
		    nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, st->str ? st->str : "") < 0)
			rb->failed = true;
		break;
	case PS_CT_MARK_OR:	/* ct mark set ct mark | arg */
		x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_DREG);
		x_bitwise(rb, ~st->arg, st->arg, true);
		x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_SREG);
		break;
	case PS_MARK_SET_SPI:	/* meta mark set ipsec in spi: nft cannot parse it */
		x_xfrm(rb, NFT_XFRM_KEY_SPI);
		x_meta_set(rb, NFT_META_MARK, REG_FIRST);
		break;
	case PS_CT_MARK_SET_REQID:	/* ct mark set ipsec in|out reqid: nor this */
		x_xfrm_dir(rb, NFT_XFRM_KEY_REQID,
			   st->arg & PLAN_DIR_OUT ? XFRM_POLICY_OUT : XFRM_POLICY_IN, REG_FIRST);
		x_ct(rb, NFT_CT_MARK, NFTNL_EXPR_CT_SREG);
		break;
	case PS_BIND_ADD:
		st_bind_add(rb, st->arg & PLAN_DIR_OUT ? XFRM_POLICY_OUT : XFRM_POLICY_IN);
		break;
	case PS_BIND_MISSING:
		st_bind_missing(rb);
		break;
	case PS_ATTEMPT_UPDATE:
		st_attempt_update(rb, st);
		break;
	}
}

static void put_verdict(struct rb *rb, const struct plan_verdict *v)
{
	struct nftnl_expr *e;

	rb->stmt = STMT_VERDICT;
	switch (v->kind) {
	case PV_NONE:
		return;
	case PV_QUEUE:	/* no NFT_QUEUE_FLAG_BYPASS: fail closed */
		if ((e = rb_add(rb, X_QUEUE))) {
			nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_NUM, v->queue);
			nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_TOTAL, 1);
		}
		return;
	case PV_ACCEPT:
	case PV_DROP:
	case PV_GOTO:
	case PV_JUMP:
		break;
	}
	if (!(e = rb_add(rb, X_IMMEDIATE)))
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, nftb_verdict_code(v));
	if ((v->kind == PV_GOTO || v->kind == PV_JUMP) &&
	    (!v->chain || nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, v->chain) < 0))
		rb->failed = true;
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

int nftb_put_rule(struct nft_batch *b, uint32_t ci, uint32_t ri)
{
	const struct plan_chain *c = &b->plan->chains[ci];
	const struct plan_rule *pr = &c->rules[ri];
	struct rb rb = { .b = b, .chain = ci, .rule = ri };
	struct nftnl_udata_buf *ud = NULL;
	struct origin o = { .kind = O_RULE, .type = NFT_MSG_NEWRULE, .obj = ci, .idx = ri };
	struct nlmsghdr *nlh;
	int ret = -1;

	rb.r = nftnl_rule_alloc();
	if (!rb.r || nftnl_rule_set_str(rb.r, NFTNL_RULE_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_rule_set_str(rb.r, NFTNL_RULE_CHAIN, c->name) < 0)
		goto nomem;
	if (pr->comment) {
		ud = nftu_comment(NFTNL_UDATA_RULE_COMMENT, pr->comment);
		if (!ud) {
			nftb_fail(b, NULL, "chain %s rule %u: comment \"%s\" is longer than the kernel keeps",
			     c->name, ri + 1, pr->comment);
			goto out;
		}
		if (nftnl_rule_set_data(rb.r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
					nftnl_udata_buf_len(ud)) < 0)
			goto nomem;
	}
	for (size_t i = 0; i < pr->nstmts && !rb.failed; i++) {
		rb.stmt = (uint32_t)i;
		put_stmt(&rb, &pr->stmts[i]);
	}
	put_verdict(&rb, &pr->verdict);
	if (rb.failed)
		goto nomem;
	nlh = nftb_msg_start(b, NFT_MSG_NEWRULE, NLM_F_APPEND | NLM_F_CREATE);
	nftnl_rule_nlmsg_build_payload(nlh, rb.r);
	o.mark0 = b->nmarks;
	if (mark_exprs(&rb, nlh))
		goto out;
	o.nmarks = b->nmarks - o.mark0;
	ret = nftb_msg_done(b, o);
	goto out;
nomem:
	nftb_oom(b);
out:
	nftnl_udata_buf_free(ud);
	if (rb.r)
		nftnl_rule_free(rb.r);
	return ret;
}
