#include "config.h"

#include "nft_talk.h"
#include "util.h"

#include <errno.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECV_BUF (64u << 10)	/* a dump reply: the kernel fills pages of up to 16 KiB */

int nft_talk_open(struct nft_talk *t)
{
	int err;

	t->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!t->nl)
		return -1;
	if (mnl_socket_bind(t->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = errno;	/* the caller reports the bind's error, not close's */
		nft_talk_close(t);
		errno = err;
		return -1;
	}
	t->portid = mnl_socket_get_portid(t->nl);
	/* a fresh start per run, so a stale reply cannot pass for ours */
	t->seq = (uint32_t)time(NULL);
	return 0;
}

void nft_talk_close(struct nft_talk *t)
{
	if (t->nl)
		mnl_socket_close(t->nl);
	t->nl = NULL;
}

struct nlmsghdr *nft_talk_request(struct nft_talk *t, char *buf, uint16_t type,
				  uint16_t family, uint16_t flags)
{
	/* NLM_F_ACK: a get that finds nothing must still end the receive loop */
	return nftnl_nlmsg_build_hdr(buf, type, family, flags | NLM_F_ACK, ++t->seq);
}

int nft_talk_run(struct nft_talk *t, const struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = nlh->nlmsg_seq;
	char *buf = malloc(RECV_BUF);	/* too big for the stack of a library call */
	ssize_t n = 0;
	int ret = MNL_CB_OK, err;

	if (!buf || mnl_socket_sendto(t->nl, nlh, nlh->nlmsg_len) < 0) {
		free(buf);
		return -1;
	}
	while ((n = mnl_socket_recvfrom(t->nl, buf, RECV_BUF)) > 0) {
		ret = mnl_cb_run(buf, netlink_span(buf, (size_t)n), seq, t->portid, cb, data);
		if (ret <= MNL_CB_STOP)
			break;
	}
	err = errno;	/* mnl_cb_run's (ENOENT, ...), which free must not clobber */
	free(buf);
	errno = err;
	return n < 0 || ret < 0 ? -1 : 0;
}

bool nft_talk_expect(const struct nlmsghdr *nlh, uint16_t msg)
{
	if (nlh->nlmsg_type == (NFNL_SUBSYS_NFTABLES << 8 | msg))
		return true;
	errno = EPROTO;
	return false;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_talk_table *out = data;
	struct nftnl_table *t = nftnl_table_alloc();
	uint32_t len = 0;
	const void *ud;
	const char *c;

	if (!t || !nft_talk_expect(nlh, NFT_MSG_NEWTABLE) || nftnl_table_nlmsg_parse(nlh, t) < 0) {
		nftnl_table_free(t);
		return MNL_CB_ERROR;
	}
	out->present = true;
	ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &len);
	/* a get has one answer; of a reply with more, the last counts */
	free(out->comment);
	out->comment = NULL;
	if ((c = nft_talk_comment(ud, len)) && !(out->comment = strdup(c)))
		out->oom = true;
	nftnl_table_free(t);
	return MNL_CB_OK;
}

int nft_talk_get_table(struct nft_talk *t, uint16_t family, const char *table,
		       struct nft_talk_table *out)
{
	char buf[NFT_TALK_REQ_BUF] = { 0 };	/* attribute padding goes out too */
	struct nftnl_table *nt = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!nt)
		return -1;
	nftnl_table_set_str(nt, NFTNL_TABLE_NAME, table);
	nlh = nft_talk_request(t, buf, NFT_MSG_GETTABLE, family, 0);
	nftnl_table_nlmsg_build_payload(nlh, nt);
	nftnl_table_free(nt);
	rc = nft_talk_run(t, nlh, table_cb, out);
	return rc < 0 && errno == ENOENT ? 0 : rc;	/* no table: not an error */
}

/* GETSET (set NULL: every set of the table) or GETSETELEM (of one set):
 * both name what they ask for with a struct nftnl_set. */
static int dump_set(struct nft_talk *t, uint16_t type, uint16_t family, const char *table,
		    const char *set, mnl_cb_t cb, void *data)
{
	char buf[NFT_TALK_REQ_BUF] = { 0 };
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		return -1;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	if (set)
		nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nlh = nft_talk_request(t, buf, type, family, NLM_F_DUMP);
	if (type == NFT_MSG_GETSETELEM)
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
	else
		nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nft_talk_run(t, nlh, cb, data);
}

int nft_talk_dump_sets(struct nft_talk *t, uint16_t family, const char *table,
		       mnl_cb_t cb, void *data)
{
	return dump_set(t, NFT_MSG_GETSET, family, table, NULL, cb, data);
}

int nft_talk_dump_elems(struct nft_talk *t, uint16_t family, const char *table,
			const char *set, mnl_cb_t cb, void *data)
{
	return dump_set(t, NFT_MSG_GETSETELEM, family, table, set, cb, data);
}

int nft_talk_dump_rules(struct nft_talk *t, uint16_t family, const char *table,
			const char *chain, mnl_cb_t cb, void *data)
{
	char buf[NFT_TALK_REQ_BUF] = { 0 };
	struct nftnl_rule *ru = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!ru)
		return -1;
	nftnl_rule_set_str(ru, NFTNL_RULE_TABLE, table);
	if (chain)
		nftnl_rule_set_str(ru, NFTNL_RULE_CHAIN, chain);
	nlh = nft_talk_request(t, buf, NFT_MSG_GETRULE, family, NLM_F_DUMP);
	nftnl_rule_nlmsg_build_payload(nlh, ru);
	nftnl_rule_free(ru);
	return nft_talk_run(t, nlh, cb, data);
}

int nft_talk_elems(const struct nlmsghdr *nlh, nft_talk_elem_cb cb, void *data)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	int ret = MNL_CB_OK;

	if (!s || !nft_talk_expect(nlh, NFT_MSG_NEWSETELEM) ||
	    nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_ERROR;
	}
	it = nftnl_set_elems_iter_create(s);
	while (ret == MNL_CB_OK && it && (e = nftnl_set_elems_iter_next(it)))
		ret = cb(e, data);
	if (it)
		nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	return ret;
}

bool nft_talk_elem_is_interval_end(struct nftnl_set_elem *e)
{
	return nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
	       (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END);
}

/* What comment_cb looks in and for. */
struct comment_find {
	const char *data;	/* the user data */
	uint32_t len;		/* its length */
	const char *found;
};

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	struct comment_find *f = data;
	const char *a = (const char *)attr, *v = nftnl_udata_get(attr);
	size_t left = f->len - (size_t)(a - f->data), head = (size_t)(v - a);

	/* nftnl_udata_parse sees only that an attribute starts inside the
	 * data; its header and its value must end there too.  After a length
	 * that lies, nothing is trusted: no comment */
	if (left < head || nftnl_udata_len(attr) > left - head) {
		f->found = NULL;
		return -1;
	}
	/* every comment type is 0 in its own namespace (table, rule, element);
	 * distrust the kernel's copy: it must be a terminated string */
	if (nftnl_udata_type(attr) == 0 && nftnl_udata_len(attr) > 0 &&
	    v[nftnl_udata_len(attr) - 1] == '\0')
		f->found = v;
	return 0;
}

const char *nft_talk_comment(const void *udata, uint32_t len)
{
	struct comment_find f = { udata, len, NULL };

	if (udata && len)
		nftnl_udata_parse(udata, len, comment_cb, &f);
	return f.found;
}
