#include "config.h"

#include "nft_snap.h"
#include "nft_talk.h"
#include "plan.h"
#include "plan_print.h"
#include "util.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One netlink conversation and where its replies go. */
struct snap_rd {
	struct nft_talk t;
	struct nft_snap *s;
	struct snap_chain *chain;	/* rule dump: the chain being filled */
	struct snap_set *set;		/* element dump: the set being filled */
	struct snap_chain *all;		/* chain dump of every table */
	size_t nall, capall;
	size_t cap;
	size_t incomplete;		/* chains without a table or name, left out */
	bool oom;
};

static const char *family_name(uint32_t f)
{
	switch (f) {
	case NFPROTO_INET: return "inet";
	case NFPROTO_IPV4: return "ip";
	case NFPROTO_IPV6: return "ip6";
	case NFPROTO_ARP: return "arp";
	case NFPROTO_BRIDGE: return "bridge";
	case NFPROTO_NETDEV: return "netdev";
	default: return "unknown";
	}
}

/* The snapshot shows a missing comment as "". */
static const char *comment_of(const void *ud, uint32_t len)
{
	const char *c = nft_talk_comment(ud, len);

	return c ? c : "";
}

/* Append a copy of s to a string array. */
static void push(struct snap_rd *r, char ***arr, size_t *n, const char *s)
{
	size_t cap = *n;
	char *c;

	if (grow_array(arr, &cap, *n + 1, sizeof(**arr)) < 0 || !(c = strdup(s))) {
		r->oom = true;
		return;
	}
	(*arr)[(*n)++] = c;
}

int nft_snap_chain_parse(const struct nlmsghdr *nlh, struct snap_chain *sc)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	int rc = 1;

	memset(sc, 0, sizeof(*sc));
	if (!c || !nft_talk_expect(nlh, NFT_MSG_NEWCHAIN) || nftnl_chain_nlmsg_parse(nlh, c) < 0) {
		nftnl_chain_free(c);
		return -1;
	}
	/* the kernel always sends both; a reply without them is no chain
	 * that could be named, compared or dumped */
	if (!nftnl_chain_is_set(c, NFTNL_CHAIN_TABLE) || !nftnl_chain_is_set(c, NFTNL_CHAIN_NAME)) {
		nftnl_chain_free(c);
		return 0;
	}
	sc->family = strdup(family_name(nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY)));
	sc->table = strdup(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE));
	sc->name = strdup(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	if (!sc->family || !sc->table || !sc->name)
		rc = -1;
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) {
		sc->has_hook = true;
		sc->hooknum = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
		sc->prio = nftnl_chain_is_set(c, NFTNL_CHAIN_PRIO) ?
			   (int32_t)nftnl_chain_get_u32(c, NFTNL_CHAIN_PRIO) : 0;
		sc->policy_drop = nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY) &&
				  nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) == NF_DROP;
	}
	nftnl_chain_free(c);
	return rc;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct snap_rd *r = data;
	struct snap_chain sc;
	int rc = nft_snap_chain_parse(nlh, &sc);

	if (rc == 1 && grow_array(&r->all, &r->capall, r->nall + 1, sizeof(*r->all)) < 0) {
		r->oom = true;
		rc = -1;
	}
	if (rc == 1) {
		r->all[r->nall++] = sc;
		return MNL_CB_OK;
	}
	nft_snap_chain_fini(&sc);
	r->incomplete += rc == 0;
	return rc == 0 ? MNL_CB_OK : MNL_CB_ERROR;
}

static int accept_cb(struct nftnl_expr *e, void *data)
{
	const char *n = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (n && strcmp(n, "immediate") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT) &&
	    nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT) == NF_ACCEPT)
		*(bool *)data = true;
	return 0;
}

/* What identifies a rule without decoding it: the named (not anonymous)
 * map it looks up, and the verdict it ends with. */
struct rule_sig {
	char vmap[64];
	char verdict[96];
};

static void imm_verdict(struct nftnl_expr *e, struct rule_sig *s)
{
	int32_t v = (int32_t)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
	/* the chain only of a goto or jump (see elem_push) */
	const char *chain = (v == NFT_GOTO || v == NFT_JUMP) &&
			    nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN) ?
			    nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN) : NULL;

	if (!chain)
		chain = "?";
	switch (v) {
	case NF_ACCEPT: snprintf(s->verdict, sizeof(s->verdict), "accept"); break;
	case NF_DROP: snprintf(s->verdict, sizeof(s->verdict), "drop"); break;
	case NFT_GOTO: snprintf(s->verdict, sizeof(s->verdict), "goto %s", chain); break;
	case NFT_JUMP: snprintf(s->verdict, sizeof(s->verdict), "jump %s", chain); break;
	case NFT_RETURN: snprintf(s->verdict, sizeof(s->verdict), "return"); break;
	default: break;
	}
}

/* As plan_format_verdict prints it, so that drift is a string compare;
 * what the plan never makes (bypass, a register) shows as such. */
static void queue_verdict(struct nftnl_expr *e, struct rule_sig *s)
{
	struct plan_verdict v = { .kind = PV_QUEUE };
	uint16_t flags = nftnl_expr_is_set(e, NFTNL_EXPR_QUEUE_FLAGS) ?
			 nftnl_expr_get_u16(e, NFTNL_EXPR_QUEUE_FLAGS) : 0;
	size_t n;

	v.queue = nftnl_expr_is_set(e, NFTNL_EXPR_QUEUE_NUM) ?
		  nftnl_expr_get_u16(e, NFTNL_EXPR_QUEUE_NUM) : 0;
	v.queues = nftnl_expr_is_set(e, NFTNL_EXPR_QUEUE_TOTAL) ?
		   nftnl_expr_get_u16(e, NFTNL_EXPR_QUEUE_TOTAL) : 1;
	n = (size_t)plan_format_verdict(s->verdict, sizeof(s->verdict), &v);
	/* one queue with fanout, or a range without: not what sagate builds */
	if (n < sizeof(s->verdict) && (v.queues > 1) != !!(flags & NFT_QUEUE_FLAG_CPU_FANOUT))
		n += (size_t)snprintf(s->verdict + n, sizeof(s->verdict) - n, " %s",
				      v.queues > 1 ? "(no fanout)" : "fanout");
	if (n < sizeof(s->verdict) && (flags & NFT_QUEUE_FLAG_BYPASS))
		n += (size_t)snprintf(s->verdict + n, sizeof(s->verdict) - n, " bypass");
	if (n < sizeof(s->verdict) && nftnl_expr_is_set(e, NFTNL_EXPR_QUEUE_SREG_QNUM))
		snprintf(s->verdict + n, sizeof(s->verdict) - n, " (queue from a register)");
}

static int sig_cb(struct nftnl_expr *e, void *data)
{
	struct rule_sig *s = data;
	const char *n = nftnl_expr_get_str(e, NFTNL_EXPR_NAME), *set;

	if (!n)
		return 0;
	if (strcmp(n, "lookup") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET) &&
	    (set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET)) && strncmp(set, "__", 2) != 0)
		snprintf(s->vmap, sizeof(s->vmap), "vmap @%s", set);
	else if (strcmp(n, "immediate") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT))
		imm_verdict(e, s);
	else if (strcmp(n, "queue") == 0)
		queue_verdict(e, s);
	return 0;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct snap_rd *r = data;
	struct nftnl_rule *ru = nftnl_rule_alloc();
	struct rule_sig sig = { "", "" };
	uint32_t len = 0;
	const void *ud;
	const char *c;
	char text[512];

	if (!ru || !nft_talk_expect(nlh, NFT_MSG_NEWRULE) || nftnl_rule_nlmsg_parse(nlh, ru) < 0) {
		nftnl_rule_free(ru);
		return MNL_CB_ERROR;
	}
	ud = nftnl_rule_get_data(ru, NFTNL_RULE_USERDATA, &len);
	c = comment_of(ud, len);
	nftnl_expr_foreach(ru, sig_cb, &sig);
	snprintf(text, sizeof(text), "%s%s%s", *c ? c : sig.vmap, *sig.verdict ? " -> " : "",
		 sig.verdict);
	push(r, &r->chain->comments, &r->chain->nrules, text);
	nftnl_expr_foreach(ru, accept_cb, &r->chain->accepts);
	nftnl_rule_free(ru);
	return r->oom ? MNL_CB_ERROR : MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct snap_rd *r = data;
	struct nftnl_set *s = nftnl_set_alloc();
	const char *name;
	size_t cap = r->s->nsets;

	if (!s || !nft_talk_expect(nlh, NFT_MSG_NEWSET) || nftnl_set_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_ERROR;
	}
	name = nftnl_set_get_str(s, NFTNL_SET_NAME);
	/* anonymous sets belong to their rule */
	if (name && !(nftnl_set_get_u32(s, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS)) {
		if (grow_array(&r->s->sets, &cap, r->s->nsets + 1, sizeof(*r->s->sets)) < 0) {
			r->oom = true;
		} else {
			memset(&r->s->sets[r->s->nsets], 0, sizeof(*r->s->sets));
			if (!(r->s->sets[r->s->nsets++].name = strdup(name)))
				r->oom = true;
		}
	}
	nftnl_set_free(s);
	return r->oom ? MNL_CB_ERROR : MNL_CB_OK;
}

static void copy_key(struct nftnl_set_elem *e, uint16_t attr, uint8_t *out, uint32_t *len)
{
	uint32_t n = 0;
	const void *k = nftnl_set_elem_is_set(e, attr) ? nftnl_set_elem_get(e, attr, &n) : NULL;

	*len = k && n <= SNAP_KEY_MAX ? n : 0;
	if (*len)
		memcpy(out, k, *len);
}

/* Append an element: its comment, key(s) and verdict.  Both arrays
 * grow together, by doubling: maps hold up to hundreds of thousands. */
static void elem_push(struct snap_rd *r, struct snap_set *set, struct nftnl_set_elem *e,
		      const char *comment)
{
	size_t c1 = set->cap, c2 = set->cap;
	struct snap_elem *x;
	char *c;

	if (grow_array(&set->elems, &c1, set->nelems + 1, sizeof(*set->elems)) < 0 ||
	    grow_array(&set->comments, &c2, set->nelems + 1, sizeof(*set->comments)) < 0 ||
	    !(c = strdup(comment))) {
		r->oom = true;
		return;
	}
	set->cap = c1 < c2 ? c1 : c2;
	x = &set->elems[set->nelems];
	memset(x, 0, sizeof(*x));
	copy_key(e, NFTNL_SET_ELEM_KEY, x->key, &x->key_len);
	copy_key(e, NFTNL_SET_ELEM_KEY_END, x->key_end, &x->key_end_len);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
		x->has_verdict = true;
		x->verdict = (int32_t)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
	}
	/* only goto and jump name a chain: libnftnl can flag one it does not
	 * hold (a data attribute with neither value nor verdict leaves its
	 * parser's type unset), and reading it then is strlen(NULL) */
	if (x->has_verdict && (x->verdict == NFT_GOTO || x->verdict == NFT_JUMP) &&
	    nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN) &&
	    !(x->chain = xstrdup_or_null(nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN))))
		r->oom = true;
	set->comments[set->nelems++] = c;
}

static int elem_one(struct nftnl_set_elem *e, void *data)
{
	struct snap_rd *r = data;
	uint32_t len = 0;
	const void *ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len);

	if (!nft_talk_elem_is_interval_end(e))	/* the end of an rbtree interval is no element */
		elem_push(r, r->set, e, comment_of(ud, len));
	return MNL_CB_OK;	/* out of memory: elem_cb fails the message once it is walked */
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct snap_rd *r = data;
	int ret = nft_talk_elems(nlh, elem_one, r);

	return ret == MNL_CB_OK && r->oom ? MNL_CB_ERROR : ret;
}

static int read_table(struct snap_rd *r)
{
	struct nft_talk_table tb;
	int rc = nft_talk_get_table(&r->t, NFPROTO_INET, PLAN_TABLE, &tb);

	r->s->present = tb.present;
	r->s->comment = tb.comment;
	r->oom |= tb.oom;
	/* a table without a comment has comment "" in the snapshot */
	if (tb.present && !tb.comment && !tb.oom && !(r->s->comment = strdup("")))
		r->oom = true;
	return rc;
}

static int read_rules(struct snap_rd *r, struct snap_chain *c, uint16_t family)
{
	r->chain = c;
	return nft_talk_dump_rules(&r->t, family, c->table, c->name, rule_cb, r);
}

static uint16_t family_num(const char *f)
{
	return strcmp(f, "inet") == 0 ? NFPROTO_INET : strcmp(f, "ip") == 0 ? NFPROTO_IPV4 :
	       strcmp(f, "ip6") == 0 ? NFPROTO_IPV6 : strcmp(f, "arp") == 0 ? NFPROTO_ARP :
	       strcmp(f, "bridge") == 0 ? NFPROTO_BRIDGE : NFPROTO_NETDEV;
}

static bool ours(const struct snap_chain *c)
{
	return strcmp(c->family, "inet") == 0 && strcmp(c->table, PLAN_TABLE) == 0;
}

static bool foreign_filter(const struct snap_chain *c)
{
	uint16_t f = family_num(c->family);

	return !ours(c) && c->has_hook && (c->hooknum == NF_INET_LOCAL_IN ||
	       c->hooknum == NF_INET_LOCAL_OUT || c->hooknum == NF_INET_FORWARD) &&
	       (f == NFPROTO_INET || f == NFPROTO_IPV4 || f == NFPROTO_IPV6);
}

/* Keep c in *arr, or free it. */
static void keep_or_free(struct snap_rd *r, struct snap_chain **arr, size_t *n, size_t *cap,
			 struct snap_chain *c)
{
	if (arr && grow_array(arr, cap, *n + 1, sizeof(*c)) == 0) {
		(*arr)[(*n)++] = *c;
		return;
	}
	if (arr)
		r->oom = true;
	nft_snap_chain_fini(c);
}

/* Every chain of every table; ours and the foreign base chains kept. */
static int read_chains(struct snap_rd *r)
{
	char buf[NFT_TALK_REQ_BUF] = { 0 };
	struct nlmsghdr *nlh = nft_talk_request(&r->t, buf, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC,
						NLM_F_DUMP);
	int rc = nft_talk_run(&r->t, nlh, chain_cb, r);
	size_t capo = 0, capf = 0;

	for (size_t i = 0; i < r->nall; i++) {
		struct snap_chain *c = &r->all[i];
		bool mine = ours(c), other = !mine && foreign_filter(c);

		if (rc == 0 && (mine || other))
			rc = read_rules(r, c, family_num(c->family));
		if (mine)
			keep_or_free(r, &r->s->chains, &r->s->nchains, &capo, c);
		else if (other)
			keep_or_free(r, &r->s->foreign, &r->s->nforeign, &capf, c);
		else
			keep_or_free(r, NULL, NULL, NULL, c);
	}
	free(r->all);
	r->all = NULL;
	r->nall = 0;
	return rc;
}

static int read_sets(struct snap_rd *r)
{
	int rc = nft_talk_dump_sets(&r->t, NFPROTO_INET, PLAN_TABLE, set_cb, r);

	for (size_t i = 0; rc == 0 && i < r->s->nsets; i++) {
		r->set = &r->s->sets[i];
		rc = nft_talk_dump_elems(&r->t, NFPROTO_INET, PLAN_TABLE, r->s->sets[i].name,
					 elem_cb, r);
	}
	return rc;
}

int nft_snap_read(struct nft_snap *s, struct diag_list *d)
{
	struct snap_rd r = { .s = s };
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (nft_talk_open(&r.t) < 0) {
		diag_add(d, DIAG_ERROR, "nftables", "", NULL,
			 "cannot open a netfilter netlink socket: %s", strerror(errno));
		goto out;
	}
	rc = read_table(&r);
	if (rc == 0)
		rc = read_chains(&r);
	if (rc == 0 && s->present)
		rc = read_sets(&r);
	if (rc < 0 && !r.oom)
		diag_add(d, DIAG_ERROR, "nftables", "", NULL,
			 "cannot read the ruleset from the kernel: %s", strerror(errno));
	if (r.oom) {
		diag_add(d, DIAG_ERROR, "nftables", "", NULL, "out of memory reading the ruleset");
		rc = -1;
	}
	if (r.incomplete)
		diag_add(d, DIAG_WARNING, "nftables", "", NULL,
			 "left out %zu chain%s the kernel sent without a table or a name",
			 r.incomplete, r.incomplete == 1 ? "" : "s");
out:
	nft_talk_close(&r.t);
	return rc;
}

void nft_snap_chain_fini(struct snap_chain *c)
{
	for (size_t i = 0; i < c->nrules; i++)
		free(c->comments[i]);
	free(c->comments);
	free(c->family);
	free(c->table);
	free(c->name);
}

void nft_snap_fini(struct nft_snap *s)
{
	for (size_t i = 0; i < s->nchains; i++)
		nft_snap_chain_fini(&s->chains[i]);
	for (size_t i = 0; i < s->nforeign; i++)
		nft_snap_chain_fini(&s->foreign[i]);
	for (size_t i = 0; i < s->nsets; i++) {
		for (size_t j = 0; j < s->sets[i].nelems; j++) {
			free(s->sets[i].comments[j]);
			if (s->sets[i].elems)
				free(s->sets[i].elems[j].chain);
		}
		free(s->sets[i].comments);
		free(s->sets[i].elems);
		free(s->sets[i].name);
	}
	free(s->chains);
	free(s->foreign);
	free(s->sets);
	free(s->comment);
	memset(s, 0, sizeof(*s));
}
