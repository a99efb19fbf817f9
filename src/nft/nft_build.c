#include "config.h"

#include "nft_build.h"
#include "nft_build_int.h"
#include "plan_print.h"
#include "util.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/xfrm.h>


void nftb_diag(const struct nft_batch *b, const struct rule *r, struct diag_list *d,
	       const char *at, const char *msg)
{
	diag_add(d, DIAG_ERROR, r ? r->file : b->pol ? b->pol->file : "nft", r ? r->path : "",
		 r ? r->name : NULL, "%s%s%s", at, *at ? ": " : "", msg);
}

int nftb_vfail(struct nft_batch *b, const struct rule *r, const char *at, const char *fmt,
	       va_list ap)
{
	char *msg = NULL;
	int n = vasprintf(&msg, fmt, ap);

	nftb_diag(b, r, b->d, at, n < 0 ? "out of memory" : msg);
	free(msg);
	return -1;
}

int nftb_fail(struct nft_batch *b, const struct rule *r, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = nftb_vfail(b, r, "", fmt, ap);
	va_end(ap);
	return ret;
}

int nftb_oom(struct nft_batch *b)
{
	return nftb_fail(b, NULL, "out of memory while building the netlink batch");
}

/* --- messages ---------------------------------------------------------- */

static char *msg_buf(struct nft_batch *b)
{
	return nftnl_batch_buffer(b->nb);
}

static uint32_t msg_seq(const struct nft_batch *b)
{
	return b->seq0 + (uint32_t)b->nmsgs;
}

/* A new current page, its next message used bytes into it. */
static void page_new(struct nft_batch *b, size_t used)
{
	b->zeroed = msg_buf(b);
	b->page_end = b->zeroed - used + PAGE_LIMIT + PAGE_OVERRUN;
}

/* Where the next message goes.  libnftnl's pages come from malloc, and
 * libmnl (before 1.0.5) leaves attribute padding as it finds it: the
 * page is zeroed ahead of each message, so that the kernel is sent what
 * we wrote and nothing of our heap.  Ahead, not whole: a page the batch
 * never fills is not touched. */
static char *msg_next(struct nft_batch *b)
{
	char *buf = msg_buf(b);
	char *want = b->page_end - buf > PAGE_OVERRUN ? buf + PAGE_OVERRUN : b->page_end;

	while (b->zeroed < want) {
		size_t n = b->page_end - b->zeroed < ZERO_STEP ?
			   (size_t)(b->page_end - b->zeroed) : ZERO_STEP;

		memset(b->zeroed, 0, n);
		b->zeroed += n;
	}
	return buf;
}

/* Close the message just written at msg_buf() and remember its origin. */
int nftb_msg_done(struct nft_batch *b, struct origin o)
{
	char *buf = msg_buf(b);
	uint32_t len = ((const struct nlmsghdr *)buf)->nlmsg_len;

	if (grow_array(&b->msgs, &b->capmsgs, b->nmsgs + 1, sizeof(*b->msgs)) ||
	    nftnl_batch_update(b->nb) < 0)
		return nftb_oom(b);
	/* past the page limit, the message was moved to the start of a new page */
	if (msg_buf(b) != buf + len)
		page_new(b, len);
	b->msgs[b->nmsgs++] = o;
	b->bytes += len;
	return 0;
}

int nftb_mark_add(struct nft_batch *b, uint32_t off, uint32_t what, uint8_t expr)
{
	if (grow_array(&b->marks, &b->capmarks, b->nmarks + 1, sizeof(*b->marks)))
		return nftb_oom(b);
	b->marks[b->nmarks++] = (struct mark){ off, what, expr };
	return 0;
}

struct nlmsghdr *nftb_msg_start(struct nft_batch *b, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(msg_next(b), type, NFPROTO_INET,
				     flags | NLM_F_ACK, msg_seq(b));
}

/* --- table, chains ------------------------------------------------------ */

static int put_table(struct nft_batch *b, uint16_t type, const char *comment)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_udata_buf *ud = NULL;
	struct nlmsghdr *nlh;
	int ret = -1;

	if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, PLAN_TABLE) < 0) {
		nftb_oom(b);
		goto out;
	}
	if (comment && strlen(comment) > NFTU_COMMENT_MAX) {
		nftb_fail(b, NULL, "table comment \"%s\" is longer than the kernel keeps (%d bytes)",
			  comment, NFTU_COMMENT_MAX);
		goto out;
	}
	if (comment) {
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, 0);
		if (!(ud = nftu_comment(NFTNL_UDATA_TABLE_COMMENT, comment)) ||
		    nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
					 nftnl_udata_buf_len(ud)) < 0) {
			nftb_oom(b);
			goto out;
		}
	}
	/* no NLM_F_EXCL: the first NEWTABLE only makes sure DELTABLE finds one */
	nlh = nftb_msg_start(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	ret = nftb_msg_done(b, (struct origin){ .kind = O_TABLE, .type = type });
out:
	nftnl_udata_buf_free(ud);
	if (t)
		nftnl_table_free(t);
	return ret;
}

uint32_t nft_hooknum(enum plan_hook h)
{
	switch (h) {
	case PH_INPUT: return NF_INET_LOCAL_IN;
	case PH_OUTPUT: return NF_INET_LOCAL_OUT;
	case PH_FORWARD: return NF_INET_FORWARD;
	case PH_NONE: break;
	}
	return UINT32_MAX;
}

int nftb_put_chain(struct nft_batch *b, size_t ci)
{
	const struct plan_chain *c = &b->plan->chains[ci];
	struct nftnl_chain *nc = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	int ret = -1;

	if (!nc || nftnl_chain_set_str(nc, NFTNL_CHAIN_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_chain_set_str(nc, NFTNL_CHAIN_NAME, c->name) < 0) {
		nftb_oom(b);
		goto out;
	}
	if (c->hook != PH_NONE) {
		nftnl_chain_set_u32(nc, NFTNL_CHAIN_HOOKNUM, nft_hooknum(c->hook));
		nftnl_chain_set_s32(nc, NFTNL_CHAIN_PRIO, 0);	/* priority filter */
		nftnl_chain_set_u32(nc, NFTNL_CHAIN_POLICY, c->policy_drop ? NF_DROP : NF_ACCEPT);
		if (nftnl_chain_set_str(nc, NFTNL_CHAIN_TYPE, "filter") < 0) {
			nftb_oom(b);
			goto out;
		}
	}
	nlh = nftb_msg_start(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL);
	nftnl_chain_nlmsg_build_payload(nlh, nc);
	ret = nftb_msg_done(b, (struct origin){ .kind = O_CHAIN, .type = NFT_MSG_NEWCHAIN,
					   .obj = (uint32_t)ci });
out:
	if (nc)
		nftnl_chain_free(nc);
	return ret;
}

/* --- sets and elements -------------------------------------------------- */

/* Concatenated keys are laid out in 32-bit register slots. */
size_t nftb_field_space(enum plan_field f)
{
	return (plan_field_len(f) + 3) & ~(size_t)3;
}

static u128 field_max(enum plan_field f)
{
	size_t bits = plan_field_len(f) * 8;

	return bits >= 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
}

/* One key in the kernel's layout: each field in network byte order
 * (meta l4proto is one byte, so its host order is the same), padded with
 * zeroes to 4 bytes.  Returns the key length: at most 4 fields of 16
 * bytes, which an element's key in libnftnl holds, so that setting one
 * cannot fail. */
size_t nftb_encode_key(const struct plan_set *s, const u128 *v, uint8_t *out)
{
	size_t pos = 0;

	for (size_t i = 0; i < s->nfields; i++) {
		size_t len = plan_field_len(s->fields[i]), sp = nftb_field_space(s->fields[i]);

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
		n += nftb_field_space(s->fields[i]);
	return n;
}

uint32_t nftb_set_id(size_t si)
{
	return (uint32_t)si + 1;
}

/* A set's counter: 0 and *e, or -1. */
static int counter_expr(struct nft_batch *b, struct nftnl_expr **e)
{
	*e = nftnl_expr_alloc("counter");
	return *e ? 0 : nftb_oom(b);
}

/* Maps hold verdicts. */
static int check_set(struct nft_batch *b, const struct plan_set *s)
{
	if (s->binding || s->attempts || s->meter)
		return 0;
	if (s->nfields < 1 || s->nfields > 4)
		return nftb_fail(b, NULL, "map %s: %zu key fields (1 to 4 expected)", s->name,
				 s->nfields);
	return 0;
}

/* An interval map of one key field is the kernel's rbtree: an element per
 * interval start, and one flagged as an end after it.  Several fields
 * make a concatenation, where one element carries both ends. */
bool nftb_single_interval(const struct plan_set *s)
{
	return s->interval && s->nfields == 1;
}

/* The NEWSET message of plan set si, built in ns. */
static int send_set(struct nft_batch *b, size_t si, struct nftnl_set *ns)
{
	struct nlmsghdr *nlh = nftb_msg_start(b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL);

	nftnl_set_nlmsg_build_payload(nlh, ns);
	return nftb_msg_done(b, (struct origin){ .kind = O_SET, .type = NFT_MSG_NEWSET,
					    .obj = (uint32_t)si });
}

static int put_set(struct nft_batch *b, size_t si)
{
	const struct plan_set *s = &b->plan->sets[si];
	struct nftnl_set *ns = nftnl_set_alloc();
	struct nftnl_expr *e;
	uint8_t lens[4] = { 0 };	/* libnftnl keeps field lengths as bytes */
	int ret = -1;

	if (!ns || nftnl_set_set_str(ns, NFTNL_SET_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name) < 0 ||
	    nftu_set_fields(ns, s->fields, s->nfields, true) < 0) {
		nftb_oom(b);
		goto out;
	}
	for (size_t i = 0; i < s->nfields; i++)
		lens[i] = (uint8_t)plan_field_len(s->fields[i]);
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, NFT_SET_MAP |
			  (s->interval ? NFT_SET_INTERVAL : 0) |
			  (s->interval && !nftb_single_interval(s) ? NFT_SET_CONCAT : 0));
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, (uint32_t)key_len(s));
	nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, 0);
	nftnl_set_set_u32(ns, NFTNL_SET_ID, nftb_set_id(si));
	/* cannot fail: check_set allowed 4 fields, libnftnl holds 16 */
	if (s->interval && !nftb_single_interval(s))
		nftnl_set_set_data(ns, NFTNL_SET_DESC_CONCAT, lens,
				   (uint32_t)(s->nfields * sizeof(lens[0])));
	if (s->counter) {
		if (counter_expr(b, &e))
			goto out;
		nftnl_set_add_expr(ns, e);
	}
	ret = send_set(b, si, ns);
out:
	if (ns)
		nftnl_set_free(ns);
	return ret;
}

const struct rule *nftb_elem_rule(const struct nft_batch *b, const struct plan_elem *e)
{
	return b->pol && e->rule < b->pol->nrules ? &b->pol->rules[e->rule] : NULL;
}

/* The key just after k (big-endian + 1); false when k is the last one. */
bool nftb_key_next(uint8_t *k, size_t n)
{
	for (size_t i = n; i-- > 0;)
		if (++k[i] != 0)
			return true;
	return false;
}

/* What the encoder would silently truncate, and what a map cannot hold. */
static int check_elem(struct nft_batch *b, const struct plan_set *s,
		      const struct plan_elem *e)
{
	const struct rule *r = nftb_elem_rule(b, e);
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
	if ((r || e->rule == PLAN_NO_RULE) && !why)
		return 0;
	plan_format_elem_key(key, sizeof(key), s, e);
	if (!r)
		nftb_fail(b, NULL, "map %s element %s: rule index %u is not in the policy",
		     s->name, key, e->rule);
	else
		nftb_fail(b, r, "map %s element %s: %s", s->name, key, why);
	return -1;
}

uint32_t nftb_verdict_code(const struct plan_verdict *v)
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
	if (b->rule_ud[ri])
		return b->rule_ud[ri];
	if (strlen(r->name) > NFTU_COMMENT_MAX)
		nftb_fail(b, r, "rule name is longer than a kernel comment can be (%d bytes)",
			  NFTU_COMMENT_MAX);
	else if (!(b->rule_ud[ri] = nftu_comment(NFTNL_UDATA_SET_ELEM_COMMENT, r->name)))
		nftb_oom(b);
	return b->rule_ud[ri];
}

/* A single-field interval ends with an element of its own: the first key
 * after it, flagged as an end (none when the interval runs to the last
 * key).  An end and the next interval's start may share a key. */
static int put_interval_end(struct nft_batch *b, const struct plan_set *s,
			    const struct plan_elem *e, struct nlmsghdr *nlh, int index)
{
	struct nftnl_set_elem *el;
	uint8_t key[64];
	size_t klen = nftb_encode_key(s, e->hi, key);

	if (!nftb_key_next(key, klen))
		return 0;
	if (!(el = nftnl_set_elem_alloc()))
		return nftb_oom(b);
	nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen);
	nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	nftnl_set_elem_nlmsg_build(nlh, el, index);
	nftnl_set_elem_free(el);
	return 1;
}

static int put_elem_data(const struct plan_set *s, const struct plan_elem *e,
			 struct nftnl_set_elem *el)
{
	(void)s;
	nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, nftb_verdict_code(&e->verdict));
	if (e->verdict.kind == PV_GOTO || e->verdict.kind == PV_JUMP)
		return nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, e->verdict.chain);
	return 0;
}

/* One plan element: one kernel element, or two for a single-field interval.
 * Returns the number of kernel elements written, -1 on failure. */
static int put_elem(struct nft_batch *b, const struct plan_set *s, const struct plan_elem *e,
		    struct nlmsghdr *nlh, int index)
{
	struct nftnl_set_elem *el;
	const struct nftnl_udata_buf *ud = NULL;
	uint8_t key[64];
	size_t klen;
	int ret = -1;

	if (check_elem(b, s, e))
		return -1;
	if (e->rule != PLAN_NO_RULE && !(ud = elem_comment(b, nftb_elem_rule(b, e), e->rule)))
		return -1;
	if (!(el = nftnl_set_elem_alloc()))
		return nftb_oom(b);
	klen = nftb_encode_key(s, e->lo, key);
	nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen);
	if (s->interval && !nftb_single_interval(s)) {
		nftb_encode_key(s, e->hi, key);
		nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY_END, key, (uint32_t)klen);
	}
	if (put_elem_data(s, e, el) < 0)
		goto nomem;
	if (ud && nftnl_set_elem_set(el, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
				     nftnl_udata_buf_len(ud)) < 0)
		goto nomem;
	/* no counter of its own: the kernel gives every element a copy of
	 * the set's counter, which spares it parsing one per element */
	nftnl_set_elem_nlmsg_build(nlh, el, index);
	ret = 1;
	if (nftb_single_interval(s)) {
		int end = put_interval_end(b, s, e, nlh, index + 1);

		ret = end < 0 ? -1 : 1 + end;
	}
	goto out;
nomem:
	nftb_oom(b);
out:
	nftnl_set_elem_free(el);
	return ret;
}

struct nlattr *nftb_elems_start(struct nlmsghdr *nlh, const char *set, uint32_t id)
{
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, PLAN_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(id));
	return mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
}

/* Elements in as few messages as the u16 length of the element list allows. */
static int put_elems(struct nft_batch *b, size_t si)
{
	return nftb_put_elems_sel(b, si, NULL, b->plan->sets[si].nelems);
}

int nftb_put_elems_sel(struct nft_batch *b, size_t si, const size_t *sel, size_t nsel)
{
	const struct plan_set *s = &b->plan->sets[si];
	size_t k = 0;

	while (k < nsel) {
		size_t i = sel ? sel[k] : k;
		struct nlmsghdr *nlh = nftb_msg_start(b, NFT_MSG_NEWSETELEM,
						 NLM_F_CREATE | NLM_F_EXCL);
		struct nlattr *list = nftb_elems_start(nlh, s->name, nftb_set_id(si));
		struct origin o = { .kind = O_ELEMS, .type = NFT_MSG_NEWSETELEM,
				    .obj = (uint32_t)si, .idx = (uint32_t)i,
				    .mark0 = b->nmarks };

		int index = 1, n;

		while (k < nsel) {
			char *tail = mnl_nlmsg_get_payload_tail(nlh);

			i = sel ? sel[k] : k;
			if ((size_t)(tail - (char *)list) + 2 * ELEM_MAX_SIZE > ELEMS_NEST_MAX)
				break;
			if (nftb_mark_add(b, (uint32_t)(tail - (char *)nlh), (uint32_t)i, 0) ||
			    (n = put_elem(b, s, &s->elems[i], nlh, index)) < 0)
				return -1;
			index += n;
			k++;
		}
		mnl_attr_nest_end(nlh, list);
		o.nmarks = b->nmarks - o.mark0;
		if (nftb_msg_done(b, o))
			return -1;
	}
	b->elements += nsel;
	return 0;
}

/* Elements that are only a key, n of klen bytes at keys, in as few
 * messages as the element list allows. */
int nftb_put_key_elems(struct nft_batch *b, struct origin o, const char *set, uint32_t id,
		       const uint8_t *keys, size_t klen, size_t n)
{
	struct nftnl_set_elem *el = nftnl_set_elem_alloc();
	size_t i = 0;
	int ret = 0;

	if (!el)
		return nftb_oom(b);
	while (i < n && !ret) {
		struct nlmsghdr *nlh = nftb_msg_start(b, NFT_MSG_NEWSETELEM,
						      NLM_F_CREATE | NLM_F_EXCL);
		struct nlattr *list = nftb_elems_start(nlh, set, id);

		for (int index = 1; i < n; i++, index++) {
			char *tail = mnl_nlmsg_get_payload_tail(nlh);

			if ((size_t)(tail - (char *)list) + KEY_ELEM_MAX > ELEMS_NEST_MAX)
				break;
			nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, keys + i * klen, (uint32_t)klen);
			nftnl_set_elem_nlmsg_build(nlh, el, index);
		}
		mnl_attr_nest_end(nlh, list);
		ret = nftb_msg_done(b, o);
	}
	nftnl_set_elem_free(el);
	if (!ret)
		b->elements += n;
	return ret;
}

/* --- sets the packet path fills ------------------------------------------ */

/* "flags dynamic,timeout" keyed by the set's fields, at most size
 * elements, each gone timeout seconds after its last update; with a
 * counter per element (the cleartext attempts), or with what the
 * updating rule gives each element (a meter's limit). */
static int put_dynamic_set(struct nft_batch *b, size_t si, uint32_t size, uint32_t timeout,
			   bool counter)
{
	const struct plan_set *s = &b->plan->sets[si];
	struct nftnl_set *ns = nftnl_set_alloc();
	struct nftnl_expr *e = NULL;
	int ret = -1;

	if (!ns || nftnl_set_set_str(ns, NFTNL_SET_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name) < 0 ||
	    nftu_set_fields(ns, s->fields, s->nfields, false) < 0) {
		nftb_oom(b);
		goto out;
	}
	if (counter && counter_expr(b, &e))
		goto out;
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, NFT_SET_EVAL | NFT_SET_TIMEOUT);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, (uint32_t)key_len(s));
	nftnl_set_set_u32(ns, NFTNL_SET_ID, nftb_set_id(si));
	nftnl_set_set_u32(ns, NFTNL_SET_DESC_SIZE, size);
	nftnl_set_set_u64(ns, NFTNL_SET_TIMEOUT, (uint64_t)timeout * 1000);
	if (e)
		nftnl_set_add_expr(ns, e);
	ret = send_set(b, si, ns);
out:
	if (ns)
		nftnl_set_free(ns);
	return ret;
}

/* A PLAN_ATTEMPTS set: "flags dynamic,timeout; timeout 1d; counter", the
 * packet path adds and refreshes its elements (update), each counting. */
static int put_attempts_set(struct nft_batch *b, size_t si)
{
	return put_dynamic_set(b, si, PLAN_ATTEMPTS_SIZE, PLAN_ATTEMPTS_TIMEOUT, true);
}

/* A rule's meter, keyed by the source: the update in its limit chain
 * gives each element its own limit. */
static int put_meter_set(struct nft_batch *b, size_t si)
{
	return put_dynamic_set(b, si, PLAN_METER_SIZE, b->plan->sets[si].timeout, false);
}

/* --- the binding set ------------------------------------------------------ */

/* The PLAN_BOUND_SET: filled by the packet path (dynamic), and with the
 * bindings carried over from the table this transaction replaces. */
static int put_binding_set(struct nft_batch *b, size_t si, const uint8_t *bound,
			   size_t nbound)
{
	const struct plan_set *s = &b->plan->sets[si];
	struct nftnl_set *ns = nftnl_set_alloc();
	int ret = -1;

	if (!ns || nftnl_set_set_str(ns, NFTNL_SET_TABLE, PLAN_TABLE) < 0 ||
	    nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name) < 0 || nftu_set_bound(ns) < 0) {
		nftb_oom(b);
		goto out;
	}
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, NFT_SET_EVAL);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, NFT_BOUND_KEY_LEN);
	nftnl_set_set_u32(ns, NFTNL_SET_ID, nftb_set_id(si));
	nftnl_set_set_u32(ns, NFTNL_SET_DESC_SIZE, 65535);	/* nft's default for a dynamic set */
	ret = send_set(b, si, ns);
	if (!ret)
		ret = nftb_put_key_elems(b, (struct origin){ .kind = O_SET,
							 .type = NFT_MSG_NEWSETELEM,
							 .obj = (uint32_t)si },
					 PLAN_BOUND_SET, nftb_set_id(si), bound,
					 NFT_BOUND_KEY_LEN, nbound);
out:
	if (ns)
		nftnl_set_free(ns);
	return ret;
}

/* --- the transaction ------------------------------------------------------- */

struct nft_batch *nftb_batch_new(const struct plan *p, const struct policy *pol,
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
	if (!(b->nb = nftnl_batch_alloc(PAGE_LIMIT, PAGE_OVERRUN)) ||
	    (pol && !(b->rule_ud = calloc(pol->nrules ? pol->nrules : 1, sizeof(*b->rule_ud))))) {
		nftb_oom(b);
		nft_batch_free(b);
		return NULL;
	}
	page_new(b, 0);
	return b;
}

int nftb_put_begin(struct nft_batch *b, uint32_t genid)
{
	struct nlmsghdr *nlh = nftnl_batch_begin(msg_next(b), msg_seq(b));

	/* as nft does: the commit fails if the ruleset moved on since genid */
	if (genid)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	return nftb_msg_done(b, (struct origin){ .kind = O_BATCH, .type = NFNL_MSG_BATCH_BEGIN });
}

int nftb_put_end(struct nft_batch *b, unsigned flags)
{
	/* a check leaves the end out: the kernel validates, then aborts */
	if (flags & NFT_BUILD_CHECK)
		return 0;
	nftnl_batch_end(msg_next(b), msg_seq(b));
	return nftb_msg_done(b, (struct origin){ .kind = O_BATCH, .type = NFNL_MSG_BATCH_END });
}

struct nft_batch *nftb_finish(struct nft_batch *b, int ret)
{
	if (ret) {
		nft_batch_free(b);
		return NULL;
	}
	return b;
}

struct nft_batch *nft_build_plan(const struct plan *p, const struct policy *pol,
				 unsigned flags, struct diag_list *d)
{
	return nft_build_plan_bound(p, pol, flags, 0, NULL, 0, d);
}

struct nft_batch *nft_build_plan_bound(const struct plan *p, const struct policy *pol,
				       unsigned flags, uint32_t genid, const uint8_t *bound,
				       size_t nbound, struct diag_list *d)
{
	struct nft_batch *b = nftb_batch_new(p, pol, d);
	int ret;

	if (!b)
		return NULL;
	for (size_t i = 0; i < p->nsets; i++)
		if (check_set(b, &p->sets[i]))
			return nftb_finish(b, -1);
	ret = nftb_put_begin(b, genid) || put_table(b, NFT_MSG_NEWTABLE, NULL) ||
	      put_table(b, NFT_MSG_DELTABLE, NULL) ||
	      put_table(b, NFT_MSG_NEWTABLE, p->comment ? p->comment : "");
	/* chains first: elements and rules goto them */
	for (size_t i = 0; i < p->nchains && !ret; i++)
		ret = nftb_put_chain(b, i);
	for (size_t i = 0; i < p->nsets && !ret; i++)
		ret = p->sets[i].binding ? put_binding_set(b, i, bound, nbound) :
		      p->sets[i].attempts ? put_attempts_set(b, i) :
		      p->sets[i].meter ? put_meter_set(b, i) :
		      put_set(b, i) || put_elems(b, i);
	for (size_t i = 0; i < p->nchains && !ret; i++)
		for (size_t j = 0; j < p->chains[i].nrules && !ret; j++)
			ret = nftb_put_rule(b, (uint32_t)i, (uint32_t)j);
	if (!ret)
		ret = nftb_put_end(b, flags);
	return nftb_finish(b, ret);
}

struct nft_batch *nft_build_flush(unsigned flags, struct diag_list *d)
{
	struct nft_batch *b = nftb_batch_new(NULL, NULL, d);
	int ret;

	if (!b)
		return NULL;
	ret = nftb_put_begin(b, 0) || put_table(b, NFT_MSG_NEWTABLE, NULL) ||
	      put_table(b, NFT_MSG_DELTABLE, NULL) || nftb_put_end(b, flags);
	return nftb_finish(b, ret);
}

void nft_batch_free(struct nft_batch *b)
{
	if (!b)
		return;
	if (b->nb)
		nftnl_batch_free(b->nb);
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
	return (size_t)nftnl_batch_iovec_len(b->nb);
}

void nft_batch_iovec(const struct nft_batch *b, struct iovec *iov)
{
	nftnl_batch_iovec(b->nb, iov, (uint32_t)nft_batch_iovec_len(b));
}

void nft_batch_get_stats(const struct nft_batch *b, struct nft_batch_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->messages = b->nmsgs;
	st->pages = nft_batch_iovec_len(b);
	st->bytes = b->bytes;
	st->elements = b->elements;
	for (size_t i = 0; i < b->nmsgs; i++)
		if (b->msgs[i].kind != O_BATCH)
			st->acks++;
}

bool nft_batch_has_seq(const struct nft_batch *b, uint32_t seq)
{
	return seq - b->seq0 < b->nmsgs;
}

bool nft_batch_is_begin(const struct nft_batch *b, uint32_t seq)
{
	return seq == b->seq0;
}
