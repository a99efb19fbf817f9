#include "config.h"

#include "nft_read.h"
#include "nft_build.h"
#include "nft_talk.h"
#include "plan.h"
#include "util.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>

/* One dump or get: its socket, and where the replies go. */
struct reader {
	struct nft_talk t;
	struct nft_live *live;
	uint8_t *bound;		/* nft_read_bound: keys read so far */
	size_t nbound, capbound;
	struct diag_list *d;
	char **set_names;
	size_t nset_names, capset;
	bool oom;
};

/* The sums for comment, made when new.  A 100,000-rule policy has as
 * many distinct comments: found through the index, not by searching. */
static struct nft_count *count_for(struct reader *r, struct nft_count **arr, size_t *n,
				   size_t *cap, struct nindex *ix, const char *comment)
{
	long i = nindex_find(ix, comment);
	char *copy;

	if (i >= 0)
		return &(*arr)[i];
	if (grow_array(arr, cap, *n + 1, sizeof(**arr)) || !(copy = strdup(comment))) {
		r->oom = true;
		return NULL;
	}
	if (nindex_add(ix, copy, *n) < 0) {
		free(copy);
		r->oom = true;
		return NULL;
	}
	(*arr)[*n] = (struct nft_count){ .comment = copy };
	return &(*arr)[(*n)++];
}

struct ctr {
	uint64_t packets, bytes;
	bool seen;
};

static int counter_cb(struct nftnl_expr *e, void *data)
{
	struct ctr *c = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name && strcmp(name, "counter") == 0) {
		c->packets += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
		c->bytes += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
		c->seen = true;
	}
	return 0;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reader *r = data;
	struct nftnl_set *s = nftnl_set_alloc();
	const char *name;

	if (!s || !nft_talk_expect(nlh, NFT_MSG_NEWSET) || nftnl_set_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_ERROR;
	}
	name = nftnl_set_get_str(s, NFTNL_SET_NAME);
	/* anonymous sets (rules' own { tcp, udp }) have no counters we show */
	if (name && name[0] != '_' && strncmp(name, "__", 2) != 0) {
		if (grow_array(&r->set_names, &r->capset, r->nset_names + 1,
			       sizeof(*r->set_names)) ||
		    !(r->set_names[r->nset_names] = strdup(name)))
			r->oom = true;
		else
			r->nset_names++;
	}
	nftnl_set_free(s);
	return MNL_CB_OK;
}

/* One element of a map: counted, and its counter summed by comment. */
static int elem_one(struct nftnl_set_elem *e, void *data)
{
	struct reader *r = data;
	uint32_t len = 0;
	const void *ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len);
	const char *c = nft_talk_comment(ud, len);
	struct ctr ctr = { 0 };
	struct nft_count *nc;

	/* the end of a single-field interval is half of one element */
	if (nft_talk_elem_is_interval_end(e))
		return MNL_CB_OK;
	r->live->elements++;
	if (!c)
		return MNL_CB_OK;
	nftnl_set_elem_expr_foreach(e, counter_cb, &ctr);
	nc = count_for(r, &r->live->elems, &r->live->nelems, &r->live->capelems,
		       &r->live->elem_ix, c);
	if (nc) {
		nc->packets += ctr.packets;
		nc->bytes += ctr.bytes;
		nc->objects++;
	}
	return MNL_CB_OK;
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	return nft_talk_elems(nlh, elem_one, data);
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reader *r = data;
	struct nftnl_rule *ru = nftnl_rule_alloc();
	struct ctr ctr = { 0 };
	uint32_t len = 0;
	const void *ud;
	const char *c;

	if (!ru || !nft_talk_expect(nlh, NFT_MSG_NEWRULE) || nftnl_rule_nlmsg_parse(nlh, ru) < 0) {
		nftnl_rule_free(ru);
		return MNL_CB_ERROR;
	}
	ud = nftnl_rule_get_data(ru, NFTNL_RULE_USERDATA, &len);
	nftnl_expr_foreach(ru, counter_cb, &ctr);
	if ((c = nft_talk_comment(ud, len)) && ctr.seen) {
		struct nft_count *nc = count_for(r, &r->live->rules, &r->live->nrules,
						 &r->live->caprules, &r->live->rule_ix, c);

		if (nc) {
			nc->packets += ctr.packets;
			nc->bytes += ctr.bytes;
			nc->objects++;
		}
	}
	nftnl_rule_free(ru);
	return MNL_CB_OK;
}

static int read_table(struct reader *r)
{
	struct nft_talk_table tb;
	int rc = nft_talk_get_table(&r->t, NFPROTO_INET, PLAN_TABLE, &tb);

	/* no table (present false): nothing else to read */
	r->live->present = tb.present;
	r->live->comment = tb.comment;
	r->oom |= tb.oom;
	return rc;
}

static int read_sets(struct reader *r)
{
	int rc = nft_talk_dump_sets(&r->t, NFPROTO_INET, PLAN_TABLE, set_cb, r);

	for (size_t i = 0; rc == 0 && i < r->nset_names; i++) {
		rc = nft_talk_dump_elems(&r->t, NFPROTO_INET, PLAN_TABLE, r->set_names[i],
					 elem_cb, r);
		r->live->sets++;
	}
	return rc;
}

static int genid_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();
	uint32_t *genid = data;

	if (!g || !nft_talk_expect(nlh, NFT_MSG_NEWGEN) || nftnl_gen_nlmsg_parse(nlh, g) < 0) {
		nftnl_gen_free(g);
		return MNL_CB_ERROR;
	}
	if (nftnl_gen_is_set(g, NFTNL_GEN_ID))
		*genid = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

int nft_read_genid(uint32_t *genid, struct diag_list *d)
{
	char buf[NFT_TALK_REQ_BUF] = { 0 };
	struct nft_talk t;
	int rc = -1;

	*genid = 0;
	if (nft_talk_open(&t) == 0)
		rc = nft_talk_run(&t, nft_talk_request(&t, buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC, 0),
				  genid_cb, genid);
	if (rc < 0)
		diag_add(d, DIAG_ERROR, "", "", NULL,
			 "cannot read the ruleset generation: %s", strerror(errno));
	nft_talk_close(&t);
	return rc;
}

/* One (ct mark . reqid) pair of the bindings set, kept as its raw key. */
static int bound_one(struct nftnl_set_elem *e, void *data)
{
	struct reader *r = data;
	uint32_t len = 0;
	const void *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

	if (!k || len != NFT_BOUND_KEY_LEN)
		return MNL_CB_OK;
	if (grow_array(&r->bound, &r->capbound, (r->nbound + 1) * NFT_BOUND_KEY_LEN, 1)) {
		r->oom = true;
		return MNL_CB_ERROR;
	}
	memcpy(r->bound + r->nbound++ * NFT_BOUND_KEY_LEN, k, NFT_BOUND_KEY_LEN);
	return MNL_CB_OK;
}

static int bound_cb(const struct nlmsghdr *nlh, void *data)
{
	return nft_talk_elems(nlh, bound_one, data);
}

int nft_read_bound(uint8_t **keys, size_t *n, struct diag_list *d)
{
	struct nft_live dummy;
	struct reader r = { .live = &dummy };
	int rc = -1;

	*keys = NULL;
	*n = 0;
	if (nft_talk_open(&r.t) < 0)
		goto out;
	rc = nft_talk_dump_elems(&r.t, NFPROTO_INET, PLAN_TABLE, PLAN_BOUND_SET, bound_cb, &r);
	if (rc < 0 && errno == ENOENT)
		rc = 0;		/* no table or no set yet: nothing to keep */
out:
	if (rc < 0)
		diag_add(d, DIAG_ERROR, "", "", NULL,
			 "cannot read the flow bindings of table inet %s: %s", PLAN_TABLE,
			 r.oom ? "out of memory" : strerror(errno));
	if (rc == 0) {
		*keys = r.bound;
		*n = r.nbound;
	} else {
		free(r.bound);
	}
	nft_talk_close(&r.t);
	return rc;
}

/* --- cleartext attempts ------------------------------------------------ */

struct attempts {
	struct nft_attempt *v;
	size_t n, cap;
	bool oom;
};

/* Keys as the kernel holds "saddr . l4proto . dport": each field in a
 * 4-byte slot, the address and port in network order. */
static bool attempt_key(const uint8_t *k, uint32_t len, struct nft_attempt *a)
{
	size_t alen = len == 12 ? 4 : len == 24 ? 16 : 0;

	if (!alen)
		return false;
	a->fam = alen == 4 ? AF4 : AF6;
	a->src = 0;
	for (size_t i = 0; i < alen; i++)
		a->src = a->src << 8 | k[i];
	a->proto = k[alen];
	a->port = (uint16_t)(k[alen + 4] << 8 | k[alen + 5]);
	return true;
}

static int attempt_one(struct nftnl_set_elem *e, void *data)
{
	struct attempts *x = data;
	uint32_t len = 0;
	const uint8_t *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
	struct ctr ctr = { 0 };
	struct nft_attempt a = { 0 };
	uint64_t timeout, left;

	if (!k || !attempt_key(k, len, &a))
		return MNL_CB_OK;
	nftnl_set_elem_expr_foreach(e, counter_cb, &ctr);
	a.packets = ctr.packets;
	timeout = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT) ?
		  nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT) : 0;
	left = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION) ?
	       nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION) : 0;
	a.idle_ms = timeout > left ? timeout - left : 0;
	if (grow_array(&x->v, &x->cap, x->n + 1, sizeof(*x->v))) {
		x->oom = true;
		return MNL_CB_ERROR;
	}
	x->v[x->n++] = a;
	return MNL_CB_OK;
}

static int attempts_cb(const struct nlmsghdr *nlh, void *data)
{
	return nft_talk_elems(nlh, attempt_one, data);
}

int nft_read_attempts(struct nft_attempt **v, size_t *n, struct diag_list *d)
{
	static const char *const sets[] = { PLAN_ATTEMPTS4, PLAN_ATTEMPTS6 };
	struct nft_talk t;
	struct attempts x = { 0 };
	int rc = -1;

	*v = NULL;
	*n = 0;
	if (nft_talk_open(&t) < 0)
		goto out;
	for (size_t i = 0; i < 2; i++) {
		rc = nft_talk_dump_elems(&t, NFPROTO_INET, PLAN_TABLE, sets[i], attempts_cb, &x);
		if (rc < 0 && errno == ENOENT && !x.oom)
			rc = 0;		/* no table, or a table from before these sets */
		if (rc < 0)
			break;
	}
	nft_talk_close(&t);
out:
	if (rc < 0) {
		diag_add(d, DIAG_ERROR, "", "", NULL,
			 "cannot read the cleartext attempts of table inet %s: %s", PLAN_TABLE,
			 x.oom ? "out of memory" : strerror(errno));
		free(x.v);
		return -1;
	}
	*v = x.v;
	*n = x.n;
	return 0;
}

static int read_rules(struct reader *r)
{
	return nft_talk_dump_rules(&r->t, NFPROTO_INET, PLAN_TABLE, NULL, rule_cb, r);
}

int nft_read_live(struct nft_live *out, struct diag_list *d)
{
	struct reader r = { .live = out, .d = d };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (nft_talk_open(&r.t) < 0) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "cannot open a netfilter netlink socket: %s",
			 strerror(errno));
		goto out;
	}
	rc = read_table(&r);
	if (rc == 0 && out->present)
		rc = read_sets(&r);
	if (rc == 0 && out->present)
		rc = read_rules(&r);
	if (rc < 0)
		diag_add(d, DIAG_ERROR, "", "", NULL,
			 "cannot read table inet %s from the kernel: %s", PLAN_TABLE,
			 strerror(errno));
	if (r.oom) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "out of memory");
		rc = -1;
	}
out:
	for (size_t i = 0; i < r.nset_names; i++)
		free(r.set_names[i]);
	free(r.set_names);
	nft_talk_close(&r.t);
	return rc;
}

void nft_live_fini(struct nft_live *l)
{
	for (size_t i = 0; i < l->nelems; i++)
		free(l->elems[i].comment);
	for (size_t i = 0; i < l->nrules; i++)
		free(l->rules[i].comment);
	free(l->elems);
	free(l->rules);
	nindex_fini(&l->elem_ix);
	nindex_fini(&l->rule_ix);
	free(l->comment);
	memset(l, 0, sizeof(*l));
}

const struct nft_count *nft_live_elem(const struct nft_live *l, const char *comment)
{
	long i = nindex_find(&l->elem_ix, comment);

	return i < 0 ? NULL : &l->elems[i];
}
