#include "config.h"

#include "nft_build.h"
#include "plan_print.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/xfrm.h>

/* nftables' page size: a ruleset of millions of elements still needs only
 * a few dozen iovecs for its single sendmsg(). */
#define PAGE_LIMIT (2u << 20)
/* A message that crosses the limit is moved to a fresh page, so a page
 * must hold one more message past it; none is larger than an element
 * list (below) plus its headers. */
#define PAGE_OVERRUN (128u << 10)
/* NFTA_SET_ELEM_LIST_ELEMENTS is a single attribute: its length is a u16. */
#define ELEMS_NEST_MAX 0xffffu
/* Upper bound of one element's attributes: two 64-byte keys, a verdict
 * with a 32-byte chain name, 256 bytes of comment, a counter. */
#define ELEM_MAX_SIZE 768u
#define USERDATA_MAX 256	/* the kernel's NFT_USERDATA_MAXLEN */
#define LOOPBACK_IFINDEX 1	/* "lo" is ifindex 1 in every namespace */
#define MAX_EXPRS 64		/* expressions of one rule: 8 statements, a verdict */
#define STMT_VERDICT UINT32_MAX

/* nftables' data type numbers (its src/datatype.h): set key types are
 * built from them, 6 bits per concatenated field, as nft does, so that
 * nft lists our sets with the right types. */
enum {
	DT_IPADDR = 7, DT_IP6ADDR = 8, DT_INET_PROTO = 12, DT_INET_SERVICE = 13,
	DT_ICMP6_TYPE = 29,
};
#define DT_BITS 6
/* nftables' byte order tags in set userdata (NFTNL_UDATA_SET_*BYTEORDER) */
enum { BO_INVALID = 0, BO_HOST = 1, BO_BIG = 2 };

/* Every single-value load goes to 128-bit register 1, as nft does. */
#define REG_FIRST NFT_REG_1

enum origin_kind { O_BATCH, O_TABLE, O_CHAIN, O_SET, O_ELEMS, O_ANON, O_RULE };

/* What produced one message; msgs[seq - seq0]. */
struct origin {
	uint8_t kind;
	uint16_t type;		/* NFT_MSG_* */
	uint32_t obj;		/* set (O_SET, O_ELEMS) or chain (O_CHAIN, O_ANON, O_RULE) */
	uint32_t idx;		/* O_ELEMS: first element; O_ANON, O_RULE: rule */
	size_t mark0, nmarks;	/* where elements / expressions start in it */
};

/* Offset of an element (what: its index) or of a rule expression (what:
 * its statement, expr: index into expr_names) inside a message. */
struct mark {
	uint32_t off;
	uint32_t what;
	uint8_t expr;
};

/* The expressions a rule is made of (mark.expr). */
enum { X_META = 1, X_CMP, X_BITWISE, X_PAYLOAD, X_LOOKUP, X_BYTEORDER, X_CT, X_RT,
       X_XFRM, X_COUNTER, X_LOG, X_IMMEDIATE, X_QUEUE, X_LIMIT };

static const char *const expr_names[] = {
	[X_META] = "meta", [X_CMP] = "cmp", [X_BITWISE] = "bitwise",
	[X_PAYLOAD] = "payload", [X_LOOKUP] = "lookup", [X_BYTEORDER] = "byteorder",
	[X_CT] = "ct", [X_RT] = "rt", [X_XFRM] = "xfrm", [X_COUNTER] = "counter",
	[X_LOG] = "log", [X_IMMEDIATE] = "immediate", [X_QUEUE] = "queue",
	[X_LIMIT] = "limit",
};

struct page {
	char *buf;
	struct mnl_nlmsg_batch *mb;
};

struct nft_batch {
	const struct plan *plan;
	const struct policy *pol;
	struct diag_list *d;
	struct page *pages;
	size_t npages, cappages;
	struct origin *msgs;
	size_t nmsgs, capmsgs;
	struct mark *marks;
	size_t nmarks, capmarks;
	uint32_t seq0;
	uint32_t next_anon_id;
	size_t elements;
	struct nftnl_udata_buf **rule_ud;	/* element comments, per policy rule */
	bool failed;
};

static void fail(struct nft_batch *b, const struct rule *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct nft_batch *b, const struct rule *r, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	diag_add(b->d, DIAG_ERROR, r ? r->file : b->pol ? b->pol->file : "nft",
		 r ? r->path : "", r ? r->name : NULL, "%s",
		 n < 0 ? "out of memory" : msg);
	free(msg);
	b->failed = true;
}

static void oom(struct nft_batch *b)
{
	if (!b->failed)
		fail(b, NULL, "out of memory while building the netlink batch");
}

/* --- pages and messages ------------------------------------------------ */

static int page_add(struct nft_batch *b)
{
	struct page *pg;

	if (grow_array(&b->pages, &b->cappages, b->npages + 1, sizeof(*b->pages)))
		return -1;
	pg = &b->pages[b->npages];
	/* zeroed: attribute padding is sent to the kernel as it is */
	pg->buf = calloc(1, PAGE_LIMIT + PAGE_OVERRUN);
	if (!pg->buf)
		return -1;
	pg->mb = mnl_nlmsg_batch_start(pg->buf, PAGE_LIMIT);
	if (!pg->mb) {
		free(pg->buf);
		return -1;
	}
	b->npages++;
	return 0;
}

static char *msg_buf(struct nft_batch *b)
{
	return mnl_nlmsg_batch_current(b->pages[b->npages - 1].mb);
}

static uint32_t msg_seq(const struct nft_batch *b)
{
	return b->seq0 + (uint32_t)b->nmsgs;
}

/* Close the message just written at msg_buf() and remember its origin. */
static int msg_done(struct nft_batch *b, struct origin o)
{
	struct page *pg = &b->pages[b->npages - 1];

	if (grow_array(&b->msgs, &b->capmsgs, b->nmsgs + 1, sizeof(*b->msgs)))
		goto nomem;
	if (!mnl_nlmsg_batch_next(pg->mb)) {
		const struct nlmsghdr *nlh = mnl_nlmsg_batch_current(pg->mb);

		if (page_add(b))
			goto nomem;
		pg = &b->pages[b->npages - 1];
		memcpy(mnl_nlmsg_batch_current(pg->mb), nlh, nlh->nlmsg_len);
		mnl_nlmsg_batch_next(pg->mb);
	}
	b->msgs[b->nmsgs++] = o;
	return 0;
nomem:
	oom(b);
	return -1;
}

static int mark_add(struct nft_batch *b, uint32_t off, uint32_t what, uint8_t expr)
{
	if (grow_array(&b->marks, &b->capmarks, b->nmarks + 1, sizeof(*b->marks))) {
		oom(b);
		return -1;
	}
	b->marks[b->nmarks++] = (struct mark){ off, what, expr };
	return 0;
}

static struct nlmsghdr *msg_start(struct nft_batch *b, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(msg_buf(b), type, NFPROTO_INET,
				     flags | NLM_F_ACK, msg_seq(b));
}

/* A comment as userdata of the given type; NULL when it does not fit. */
static struct nftnl_udata_buf *comment_udata(uint8_t type, const char *s)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(USERDATA_MAX);

	if (ud && !nftnl_udata_put_strz(ud, type, s)) {
		nftnl_udata_buf_free(ud);
		return NULL;
	}
	return ud;
}

/* --- table, chains ------------------------------------------------------ */

static int put_table(struct nft_batch *b, uint16_t type, const char *comment)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_udata_buf *ud = NULL;
	struct nlmsghdr *nlh;
	int ret = -1;

	if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, PLAN_TABLE) < 0) {
		oom(b);
		goto out;
	}
	if (comment) {
		ud = comment_udata(NFTNL_UDATA_TABLE_COMMENT, comment);
		if (!ud) {
			fail(b, NULL, "table comment \"%s\" is longer than the kernel keeps (%d bytes)",
			     comment, USERDATA_MAX - 3);
			goto out;
		}
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, 0);
		nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
				     nftnl_udata_buf_len(ud));
	}
	/* no NLM_F_EXCL: the first NEWTABLE only makes sure DELTABLE finds one */
	nlh = msg_start(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	ret = msg_done(b, (struct origin){ .kind = O_TABLE, .type = type });
out:
	nftnl_udata_buf_free(ud);
	if (t)
		nftnl_table_free(t);
	return ret;
}

static int put_chain(struct nft_batch *b, size_t ci)
{
	const struct plan_chain *c = &b->plan->chains[ci];
	struct nftnl_chain *nc = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	int ret = -1;

	if (!nc || nftnl_chain_set_str(nc, NFTNL_CHAIN_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_chain_set_str(nc, NFTNL_CHAIN_NAME, c->name) < 0) {
		oom(b);
		goto out;
	}
	if (c->hook != PH_NONE) {
		nftnl_chain_set_u32(nc, NFTNL_CHAIN_HOOKNUM,
				    c->hook == PH_INPUT ? NF_INET_LOCAL_IN : NF_INET_LOCAL_OUT);
		nftnl_chain_set_s32(nc, NFTNL_CHAIN_PRIO, 0);	/* priority filter */
		nftnl_chain_set_u32(nc, NFTNL_CHAIN_POLICY, c->policy_drop ? NF_DROP : NF_ACCEPT);
		if (nftnl_chain_set_str(nc, NFTNL_CHAIN_TYPE, "filter") < 0) {
			oom(b);
			goto out;
		}
	}
	nlh = msg_start(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL);
	nftnl_chain_nlmsg_build_payload(nlh, nc);
	ret = msg_done(b, (struct origin){ .kind = O_CHAIN, .type = NFT_MSG_NEWCHAIN,
					   .obj = (uint32_t)ci });
out:
	if (nc)
		nftnl_chain_free(nc);
	return ret;
}

/* --- sets and elements -------------------------------------------------- */

static size_t field_len(enum plan_field f)
{
	switch (f) {
	case PF_SADDR4:
	case PF_DADDR4: return 4;
	case PF_SADDR6:
	case PF_DADDR6: return 16;
	case PF_L4PROTO: return 1;
	case PF_DPORT: return 2;
	}
	return 0;
}

/* Concatenated keys are laid out in 32-bit register slots. */
static size_t field_space(enum plan_field f)
{
	return (field_len(f) + 3) & ~(size_t)3;
}

static uint32_t field_dtype(enum plan_field f)
{
	switch (f) {
	case PF_SADDR4:
	case PF_DADDR4: return DT_IPADDR;
	case PF_SADDR6:
	case PF_DADDR6: return DT_IP6ADDR;
	case PF_L4PROTO: return DT_INET_PROTO;
	case PF_DPORT: return DT_INET_SERVICE;
	}
	return 0;
}

static u128 field_max(enum plan_field f)
{
	size_t bits = field_len(f) * 8;

	return bits >= 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
}

/* One key in the kernel's layout: each field in network byte order
 * (meta l4proto is one byte, so its host order is the same), padded with
 * zeroes to 4 bytes.  Returns the key length. */
static size_t encode_key(const struct plan_set *s, const u128 *v, uint8_t *out)
{
	size_t pos = 0;

	for (size_t i = 0; i < s->nfields; i++) {
		size_t len = field_len(s->fields[i]), sp = field_space(s->fields[i]);

		memset(out + pos, 0, sp);
		for (size_t j = 0; j < len; j++)
			out[pos + len - 1 - j] = (uint8_t)(v[i] >> (8 * j));
		pos += sp;
	}
	return pos;
}

static size_t key_len(const struct plan_set *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nfields; i++)
		n += field_space(s->fields[i]);
	return n;
}

static uint32_t set_id(size_t si)
{
	return (uint32_t)si + 1;
}

static struct nftnl_expr *counter_expr(struct nft_batch *b)
{
	struct nftnl_expr *e = nftnl_expr_alloc("counter");

	if (!e)
		oom(b);
	return e;
}

/* Maps hold verdicts; nftables has no concatenated single-field intervals. */
static int check_set(struct nft_batch *b, const struct plan_set *s)
{
	if (s->nfields < 1 || s->nfields > 4) {
		fail(b, NULL, "map %s: %zu key fields (1 to 4 expected)", s->name, s->nfields);
		return -1;
	}
	if (s->interval && s->nfields < 2) {
		fail(b, NULL, "map %s: an interval map with a single key field is not supported "
		     "(sagate writes intervals as concatenated key ranges)", s->name);
		return -1;
	}
	return 0;
}

static int put_set(struct nft_batch *b, size_t si)
{
	const struct plan_set *s = &b->plan->sets[si];
	struct nftnl_set *ns = nftnl_set_alloc();
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(USERDATA_MAX);
	uint32_t type = 0;
	uint8_t lens[4] = { 0 };	/* libnftnl keeps field lengths as bytes */
	struct nlmsghdr *nlh;
	int ret = -1;

	if (!ns || !ud || nftnl_set_set_str(ns, NFTNL_SET_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name) < 0)
		goto nomem;
	for (size_t i = 0; i < s->nfields; i++) {
		type = (type << DT_BITS) | field_dtype(s->fields[i]);
		lens[i] = (uint8_t)field_len(s->fields[i]);
	}
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, NFT_SET_MAP |
			  (s->interval ? NFT_SET_INTERVAL | NFT_SET_CONCAT : 0));
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, type);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, (uint32_t)key_len(s));
	nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, 0);
	nftnl_set_set_u32(ns, NFTNL_SET_ID, set_id(si));
	if (s->interval &&
	    nftnl_set_set_data(ns, NFTNL_SET_DESC_CONCAT, lens,
			       (uint32_t)(s->nfields * sizeof(lens[0]))) < 0)
		goto nomem;
	/* what nft stores for "type a . b : verdict": a concatenation has no
	 * single byte order */
	if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
				 s->nfields > 1 ? BO_INVALID :
				 s->fields[0] == PF_L4PROTO ? BO_HOST : BO_BIG) ||
	    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, BO_INVALID) ||
	    nftnl_set_set_data(ns, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
			       nftnl_udata_buf_len(ud)) < 0)
		goto nomem;
	if (s->counter) {
		struct nftnl_expr *e = counter_expr(b);

		if (!e)
			goto out;
		nftnl_set_add_expr(ns, e);
	}
	nlh = msg_start(b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL);
	nftnl_set_nlmsg_build_payload(nlh, ns);
	ret = msg_done(b, (struct origin){ .kind = O_SET, .type = NFT_MSG_NEWSET,
					   .obj = (uint32_t)si });
	goto out;
nomem:
	oom(b);
out:
	nftnl_udata_buf_free(ud);
	if (ns)
		nftnl_set_free(ns);
	return ret;
}

static const struct rule *elem_rule(const struct nft_batch *b, const struct plan_elem *e)
{
	return b->pol && e->rule < b->pol->nrules ? &b->pol->rules[e->rule] : NULL;
}

/* What the encoder would silently truncate, and what a map cannot hold. */
static int check_elem(struct nft_batch *b, const struct plan_set *s,
		      const struct plan_elem *e)
{
	const struct rule *r = elem_rule(b, e);
	const char *why = NULL;
	char key[512];

	for (size_t i = 0; i < s->nfields && !why; i++)
		if (e->lo[i] > e->hi[i] || e->hi[i] > field_max(s->fields[i]) ||
		    (!s->interval && e->lo[i] != e->hi[i]))
			why = s->interval ? "a field is not a valid range" :
			      "a field is not a single value";
	switch (e->verdict.kind) {
	case PV_ACCEPT:
	case PV_DROP:
		break;
	case PV_GOTO:
	case PV_JUMP:
		if (!e->verdict.chain)
			why = "goto / jump without a chain";
		break;
	case PV_NONE:
	case PV_QUEUE:
		why = "a verdict map element must accept, drop, goto or jump";
		break;
	}
	if (r && !why)
		return 0;
	plan_format_elem_key(key, sizeof(key), s, e);
	if (!r)
		fail(b, NULL, "map %s element %s: rule index %u is not in the policy",
		     s->name, key, e->rule);
	else
		fail(b, r, "map %s element %s: %s", s->name, key, why);
	return -1;
}

static uint32_t verdict_code(const struct plan_verdict *v)
{
	switch (v->kind) {
	case PV_ACCEPT: return NF_ACCEPT;
	case PV_GOTO: return (uint32_t)NFT_GOTO;
	case PV_JUMP: return (uint32_t)NFT_JUMP;
	case PV_DROP:
	case PV_NONE:
	case PV_QUEUE:
		break;
	}
	return NF_DROP;
}

static const struct nftnl_udata_buf *elem_comment(struct nft_batch *b, const struct rule *r,
						  uint32_t ri)
{
	if (!b->rule_ud[ri]) {
		b->rule_ud[ri] = comment_udata(NFTNL_UDATA_SET_ELEM_COMMENT, r->name);
		if (!b->rule_ud[ri])
			fail(b, r, "rule name is longer than a kernel comment can be (%d bytes)",
			     USERDATA_MAX - 3);
	}
	return b->rule_ud[ri];
}

static int put_elem(struct nft_batch *b, const struct plan_set *s, const struct plan_elem *e,
		    struct nlmsghdr *nlh, int index)
{
	struct nftnl_set_elem *el;
	const struct nftnl_udata_buf *ud;
	uint8_t key[64];
	size_t klen;
	int ret = -1;

	if (check_elem(b, s, e) || !(ud = elem_comment(b, elem_rule(b, e), e->rule)))
		return -1;
	el = nftnl_set_elem_alloc();
	if (!el)
		goto nomem;
	klen = encode_key(s, e->lo, key);
	if (nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen) < 0)
		goto nomem;
	if (s->interval) {
		encode_key(s, e->hi, key);
		if (nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY_END, key, (uint32_t)klen) < 0)
			goto nomem;
	}
	nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, verdict_code(&e->verdict));
	if ((e->verdict.kind == PV_GOTO || e->verdict.kind == PV_JUMP) &&
	    nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, e->verdict.chain) < 0)
		goto nomem;
	if (nftnl_set_elem_set(el, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
			       nftnl_udata_buf_len(ud)) < 0)
		goto nomem;
	if (s->counter) {
		struct nftnl_expr *c = counter_expr(b);

		if (!c)
			goto out;
		nftnl_set_elem_add_expr(el, c);
	}
	nftnl_set_elem_nlmsg_build(nlh, el, index);
	ret = 0;
	goto out;
nomem:
	oom(b);
out:
	if (el)
		nftnl_set_elem_free(el);
	return ret;
}

static struct nlattr *elems_start(struct nlmsghdr *nlh,
				  const char *set, uint32_t id)
{
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, PLAN_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(id));
	return mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
}

/* Elements in as few messages as the u16 length of the element list allows. */
static int put_elems(struct nft_batch *b, size_t si)
{
	const struct plan_set *s = &b->plan->sets[si];
	size_t i = 0;

	while (i < s->nelems) {
		struct nlmsghdr *nlh = msg_start(b, NFT_MSG_NEWSETELEM,
						 NLM_F_CREATE | NLM_F_EXCL);
		struct nlattr *list = elems_start(nlh, s->name, set_id(si));
		struct origin o = { .kind = O_ELEMS, .type = NFT_MSG_NEWSETELEM,
				    .obj = (uint32_t)si, .idx = (uint32_t)i,
				    .mark0 = b->nmarks };

		while (i < s->nelems) {
			char *tail = mnl_nlmsg_get_payload_tail(nlh);

			if ((size_t)(tail - (char *)list) + ELEM_MAX_SIZE > ELEMS_NEST_MAX)
				break;
			if (mark_add(b, (uint32_t)(tail - (char *)nlh), (uint32_t)i, 0) ||
			    put_elem(b, s, &s->elems[i], nlh, (int)(i - o.idx + 1)))
				return -1;
			i++;
		}
		mnl_attr_nest_end(nlh, list);
		o.nmarks = b->nmarks - o.mark0;
		if (msg_done(b, o))
			return -1;
	}
	b->elements += s->nelems;
	return 0;
}

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

static void x_xfrm(struct rb *rb, uint32_t key)
{
	struct nftnl_expr *e = rb_add(rb, X_XFRM);

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_XFRM_DREG, REG_FIRST);
		nftnl_expr_set_u32(e, NFTNL_EXPR_XFRM_KEY, key);
		nftnl_expr_set_u8(e, NFTNL_EXPR_XFRM_DIR, XFRM_POLICY_IN);
		nftnl_expr_set_u32(e, NFTNL_EXPR_XFRM_SPNUM, 0);
	}
}

static void x_lookup(struct rb *rb, const char *set, uint32_t id, bool vmap)
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
}

/* An anonymous constant set of one-byte keys, sent before the rule that
 * looks it up (the kernel binds it to that rule). */
static uint32_t put_anon_set(struct rb *rb, uint32_t dtype, uint32_t byteorder,
			     const uint8_t *keys, size_t n)
{
	struct nft_batch *b = rb->b;
	struct nftnl_set *ns = nftnl_set_alloc();
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(USERDATA_MAX);
	struct origin o = { .kind = O_ANON, .type = NFT_MSG_NEWSET, .obj = rb->chain,
			    .idx = rb->rule };
	uint32_t id = b->next_anon_id++;
	struct nlmsghdr *nlh;
	struct nlattr *list;

	if (!ns || !ud || nftnl_set_set_str(ns, NFTNL_SET_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_set_set_str(ns, NFTNL_SET_NAME, "__set%d") < 0 ||
	    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, byteorder) ||
	    nftnl_set_set_data(ns, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
			       nftnl_udata_buf_len(ud)) < 0) {
		id = 0;
		goto out;
	}
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, dtype);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, 1);
	nftnl_set_set_u32(ns, NFTNL_SET_ID, id);
	nftnl_set_set_u32(ns, NFTNL_SET_DESC_SIZE, (uint32_t)n);
	nlh = msg_start(b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL);
	nftnl_set_nlmsg_build_payload(nlh, ns);
	if (msg_done(b, o)) {
		id = 0;
		goto out;
	}
	o.type = NFT_MSG_NEWSETELEM;
	nlh = msg_start(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL);
	list = elems_start(nlh, "__set%d", id);
	for (size_t i = 0; i < n; i++) {
		struct nlattr *el = mnl_attr_nest_start(nlh, (uint16_t)(i + 1));
		struct nlattr *k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);

		mnl_attr_put(nlh, NFTA_DATA_VALUE, 1, &keys[i]);
		mnl_attr_nest_end(nlh, k);
		mnl_attr_nest_end(nlh, el);
	}
	mnl_attr_nest_end(nlh, list);
	if (msg_done(b, o))
		id = 0;
	b->elements += n;
out:
	if (!id)
		rb->failed = true;
	nftnl_udata_buf_free(ud);
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

/* key fields . of set vmap @set, laid out as nft lays out a concatenation */
static void st_vmap(struct rb *rb, const struct plan_stmt *st)
{
	size_t si;
	const struct plan_set *s = find_set(rb->b->plan, st->str, &si);
	uint32_t slot = 0;
	int nfproto = 0;

	if (!s) {
		rb->failed = true;
		fail(rb->b, NULL, "chain %s rule %u: vmap of a map the plan does not have",
		     rb->b->plan->chains[rb->chain].name, rb->rule + 1);
		return;
	}
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
		slot += (uint32_t)field_space(f) / 4;
	}
	x_lookup(rb, s->name, set_id(si), true);
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
	id = put_anon_set(rb, DT_ICMP6_TYPE, BO_BIG, types, ARRAY_SIZE(types));
	if (id)
		x_lookup(rb, "__set%d", id, false);
}

static void st_l4proto_ports(struct rb *rb)
{
	static const uint8_t protos[] = { 6, 17, 132 };	/* tcp, udp, sctp */
	uint32_t id;

	x_meta_load(rb, NFT_META_L4PROTO, REG_FIRST);
	id = put_anon_set(rb, DT_INET_PROTO, BO_HOST, protos, ARRAY_SIZE(protos));
	if (id)
		x_lookup(rb, "__set%d", id, false);
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
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, verdict_code(v));
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
			if (mark_add(rb->b, (uint32_t)((const char *)x - (const char *)nlh),
				     rb->owner[k], rb->kind[k]))
				return -1;
			k++;
		}
	}
	return 0;
}

static int put_rule(struct nft_batch *b, uint32_t ci, uint32_t ri)
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
		ud = comment_udata(NFTNL_UDATA_RULE_COMMENT, pr->comment);
		if (!ud) {
			fail(b, NULL, "chain %s rule %u: comment \"%s\" is longer than the kernel keeps",
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
	nlh = msg_start(b, NFT_MSG_NEWRULE, NLM_F_APPEND | NLM_F_CREATE);
	nftnl_rule_nlmsg_build_payload(nlh, rb.r);
	o.mark0 = b->nmarks;
	if (mark_exprs(&rb, nlh))
		goto out;
	o.nmarks = b->nmarks - o.mark0;
	ret = msg_done(b, o);
	goto out;
nomem:
	oom(b);
out:
	nftnl_udata_buf_free(ud);
	if (rb.r)
		nftnl_rule_free(rb.r);
	return ret;
}

/* --- the transaction ------------------------------------------------------- */

static struct nft_batch *batch_new(const struct plan *p, const struct policy *pol,
				   struct diag_list *d)
{
	struct nft_batch *b = calloc(1, sizeof(*b));

	if (!b) {
		diag_add(d, DIAG_ERROR, pol ? pol->file : "nft", "", NULL,
			 "out of memory while building the netlink batch");
		return NULL;
	}
	b->plan = p;
	b->pol = pol;
	b->d = d;
	/* unique enough across runs, as nft does */
	b->seq0 = (uint32_t)time(NULL);
	b->next_anon_id = (uint32_t)(p ? p->nsets : 0) + 1;
	if (page_add(b) ||
	    (pol && !(b->rule_ud = calloc(pol->nrules ? pol->nrules : 1, sizeof(*b->rule_ud))))) {
		oom(b);
		nft_batch_free(b);
		return NULL;
	}
	return b;
}

static int put_begin(struct nft_batch *b)
{
	nftnl_batch_begin(msg_buf(b), msg_seq(b));
	return msg_done(b, (struct origin){ .kind = O_BATCH, .type = NFNL_MSG_BATCH_BEGIN });
}

static int put_end(struct nft_batch *b, unsigned flags)
{
	/* a check leaves the end out: the kernel validates, then aborts */
	if (flags & NFT_BUILD_CHECK)
		return 0;
	nftnl_batch_end(msg_buf(b), msg_seq(b));
	return msg_done(b, (struct origin){ .kind = O_BATCH, .type = NFNL_MSG_BATCH_END });
}

static struct nft_batch *finish(struct nft_batch *b, int ret)
{
	if (ret || b->failed) {
		oom(b);		/* no-op when a specific error was reported */
		nft_batch_free(b);
		return NULL;
	}
	return b;
}

struct nft_batch *nft_build_plan(const struct plan *p, const struct policy *pol,
				 unsigned flags, struct diag_list *d)
{
	struct nft_batch *b = batch_new(p, pol, d);
	int ret;

	if (!b)
		return NULL;
	for (size_t i = 0; i < p->nsets; i++)
		if (check_set(b, &p->sets[i]))
			return finish(b, -1);
	ret = put_begin(b) || put_table(b, NFT_MSG_NEWTABLE, NULL) ||
	      put_table(b, NFT_MSG_DELTABLE, NULL) ||
	      put_table(b, NFT_MSG_NEWTABLE, p->comment ? p->comment : "");
	/* chains first: elements and rules goto them */
	for (size_t i = 0; i < p->nchains && !ret; i++)
		ret = put_chain(b, i);
	for (size_t i = 0; i < p->nsets && !ret; i++)
		ret = put_set(b, i) || put_elems(b, i);
	for (size_t i = 0; i < p->nchains && !ret; i++)
		for (size_t j = 0; j < p->chains[i].nrules && !ret; j++)
			ret = put_rule(b, (uint32_t)i, (uint32_t)j);
	if (!ret)
		ret = put_end(b, flags);
	return finish(b, ret);
}

struct nft_batch *nft_build_flush(unsigned flags, struct diag_list *d)
{
	struct nft_batch *b = batch_new(NULL, NULL, d);
	int ret;

	if (!b)
		return NULL;
	ret = put_begin(b) || put_table(b, NFT_MSG_NEWTABLE, NULL) ||
	      put_table(b, NFT_MSG_DELTABLE, NULL) || put_end(b, flags);
	return finish(b, ret);
}

void nft_batch_free(struct nft_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->npages; i++) {
		mnl_nlmsg_batch_stop(b->pages[i].mb);
		free(b->pages[i].buf);
	}
	free(b->pages);
	free(b->msgs);
	free(b->marks);
	if (b->rule_ud)
		for (size_t i = 0; i < b->pol->nrules; i++)
			nftnl_udata_buf_free(b->rule_ud[i]);
	free(b->rule_ud);
	free(b);
}

size_t nft_batch_iovec_len(const struct nft_batch *b)
{
	return b->npages;
}

void nft_batch_iovec(const struct nft_batch *b, struct iovec *iov)
{
	for (size_t i = 0; i < b->npages; i++) {
		iov[i].iov_base = mnl_nlmsg_batch_head(b->pages[i].mb);
		iov[i].iov_len = mnl_nlmsg_batch_size(b->pages[i].mb);
	}
}

void nft_batch_get_stats(const struct nft_batch *b, struct nft_batch_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->messages = b->nmsgs;
	st->pages = b->npages;
	st->elements = b->elements;
	for (size_t i = 0; i < b->nmsgs; i++)
		if (b->msgs[i].kind != O_BATCH)
			st->acks++;
	for (size_t i = 0; i < b->npages; i++)
		st->bytes += mnl_nlmsg_batch_size(b->pages[i].mb);
}

bool nft_batch_has_seq(const struct nft_batch *b, uint32_t seq)
{
	return seq - b->seq0 < b->nmsgs;
}

bool nft_batch_is_begin(const struct nft_batch *b, uint32_t seq)
{
	return seq == b->seq0;
}

/* --- errors back to the policy ------------------------------------------- */

static const struct mark *find_mark(const struct nft_batch *b, const struct origin *o,
				    uint32_t off)
{
	const struct mark *m = NULL;

	for (size_t i = 0; off && i < o->nmarks; i++) {
		if (b->marks[o->mark0 + i].off > off)
			break;
		m = &b->marks[o->mark0 + i];
	}
	return m;
}

static const char *stmt_name(enum plan_stmt_kind k)
{
	switch (k) {
	case PS_IIF_LO: return "iif \"lo\"";
	case PS_OIF_LO: return "oif \"lo\"";
	case PS_CT_STATE: return "ct state";
	case PS_CT_MARK_SET_BIT: return "ct mark &";
	case PS_SECPATH_MISSING: return "meta ipsec missing";
	case PS_RT_IPSEC_MISSING: return "rt ipsec missing";
	case PS_IPSEC_REQID_NE: return "ipsec in reqid";
	case PS_ICMPV6_ND: return "icmpv6 type { nd-* }";
	case PS_L4PROTO_PORTS: return "meta l4proto { tcp, udp, sctp }";
	case PS_VMAP: return "vmap";
	case PS_COUNTER: return "counter";
	case PS_LIMIT: return "limit";
	case PS_LOG: return "log";
	case PS_CT_MARK_OR: return "ct mark set";
	case PS_MARK_SET_SPI: return "meta mark set ipsec in spi";
	}
	return "?";
}

/* The policy rule a plan rule stands for: its comment is the rule's name
 * in the per-rule chains (log_N). */
static const struct rule *rule_by_name(const struct nft_batch *b, const char *name)
{
	for (size_t i = 0; b->pol && name && i < b->pol->nrules; i++)
		if (strcmp(b->pol->rules[i].name, name) == 0)
			return &b->pol->rules[i];
	return NULL;
}

static void report_rule(const struct nft_batch *b, const struct origin *o, uint32_t off,
			const char *what, struct diag_list *d)
{
	const struct plan_chain *c = &b->plan->chains[o->obj];
	const struct plan_rule *pr = &c->rules[o->idx];
	const struct mark *m = o->kind == O_RULE ? find_mark(b, o, off) : NULL;
	const struct rule *r = rule_by_name(b, pr->comment);
	char stmt[160] = "", v[96];

	if (m && m->what == STMT_VERDICT) {
		plan_format_verdict(v, sizeof(v), &pr->verdict);
		snprintf(stmt, sizeof(stmt), ", statement \"%s\"", v);
	} else if (m && m->what < pr->nstmts) {
		snprintf(stmt, sizeof(stmt), ", statement \"%s\"", stmt_name(pr->stmts[m->what].kind));
	}
	if (m && m->expr && m->expr < ARRAY_SIZE(expr_names)) {
		size_t n = strlen(stmt);

		snprintf(stmt + n, sizeof(stmt) - n, " (expression \"%s\")", expr_names[m->expr]);
	}
	diag_add(d, DIAG_ERROR, r ? r->file : b->pol ? b->pol->file : "nft", r ? r->path : "",
		 r ? r->name : NULL, "chain %s rule %u%s%s%s%s%s: %s", c->name, o->idx + 1,
		 pr->comment ? " \"" : "", pr->comment ? pr->comment : "",
		 pr->comment ? "\"" : "", o->kind == O_ANON ? ", its anonymous set" : "",
		 stmt, what);
}

static void report_elems(const struct nft_batch *b, const struct origin *o, uint32_t off,
			 const char *what, struct diag_list *d)
{
	const struct plan_set *s = &b->plan->sets[o->obj];
	const struct mark *m = find_mark(b, o, off);
	const struct plan_elem *e = &s->elems[m ? m->what : o->idx];
	const struct rule *r = elem_rule(b, e);
	char key[512], v[96];

	plan_format_elem_key(key, sizeof(key), s, e);
	plan_format_verdict(v, sizeof(v), &e->verdict);
	if (m)
		diag_add(d, DIAG_ERROR, r ? r->file : b->pol ? b->pol->file : "nft", r ? r->path : "",
			 r ? r->name : NULL, "map %s element %s : %s: %s", s->name, key, v, what);
	else
		diag_add(d, DIAG_ERROR, b->pol ? b->pol->file : "nft", "", NULL,
			 "map %s, elements %u to %zu (the first from rule \"%s\"): %s", s->name,
			 o->idx + 1, (size_t)o->idx + o->nmarks, r ? r->name : "?", what);
}

void nft_batch_report(const struct nft_batch *b, uint32_t seq, uint32_t offset,
		      int err, const char *kmsg, struct diag_list *d)
{
	const char *file = b->pol ? b->pol->file : "nft";
	const struct origin *o;
	const struct mark *m;
	char what[512];

	snprintf(what, sizeof(what), "%s%s%s%s", strerror(err), kmsg && *kmsg ? " (kernel: " : "",
		 kmsg && *kmsg ? kmsg : "", kmsg && *kmsg ? ")" : "");
	if (!nft_batch_has_seq(b, seq)) {
		diag_add(d, DIAG_ERROR, file, "", NULL, "kernel error for a message not sent: %s", what);
		return;
	}
	o = &b->msgs[seq - b->seq0];
	m = (o->kind == O_RULE) ? find_mark(b, o, offset) : NULL;
	if (err == ENOENT && m && m->expr != X_LOOKUP && m->expr != X_IMMEDIATE) {
		size_t n = strlen(what);

		snprintf(what + n, sizeof(what) - n,
			 "; this kernel has no nf_tables \"%s\" expression", expr_names[m->expr]);
	}
	switch ((enum origin_kind)o->kind) {
	case O_BATCH:
		diag_add(d, DIAG_ERROR, file, "", NULL, "transaction: %s%s", what,
			 err == EPERM ? " (changing nf_tables needs CAP_NET_ADMIN)" : "");
		break;
	case O_TABLE:
		diag_add(d, DIAG_ERROR, file, "", NULL, "%s table inet %s: %s",
			 o->type == NFT_MSG_DELTABLE ? "deleting" : "creating", PLAN_TABLE, what);
		break;
	case O_CHAIN:
		diag_add(d, DIAG_ERROR, file, "", NULL, "chain %s: %s",
			 b->plan->chains[o->obj].name, what);
		break;
	case O_SET:
		diag_add(d, DIAG_ERROR, file, "", NULL, "map %s: %s", b->plan->sets[o->obj].name, what);
		break;
	case O_ELEMS:
		report_elems(b, o, offset, what, d);
		break;
	case O_ANON:
	case O_RULE:
		report_rule(b, o, offset, what, d);
		break;
	}
}
