#include "config.h"

#include "nft_talk.h"

#include <errno.h>
#include <libnftnl/common.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
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
		ret = mnl_cb_run(buf, (size_t)n, seq, t->portid, cb, data);
		if (ret <= MNL_CB_STOP)
			break;
	}
	err = errno;	/* mnl_cb_run's (ENOENT, ...), which free must not clobber */
	free(buf);
	errno = err;
	return n < 0 || ret < 0 ? -1 : 0;
}

int nft_talk_elems(const struct nlmsghdr *nlh, nft_talk_elem_cb cb, void *data)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	int ret = MNL_CB_OK;

	if (!s || nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
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

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	const char **out = data;
	uint8_t len = nftnl_udata_len(attr);
	const char *v = nftnl_udata_get(attr);

	/* every comment type is 0 in its own namespace (table, rule, element);
	 * distrust the kernel's copy: it must be a terminated string */
	if (nftnl_udata_type(attr) == 0 && len > 0 && v[len - 1] == '\0')
		*out = v;
	return 0;
}

const char *nft_talk_comment(const void *udata, uint32_t len)
{
	const char *c = NULL;

	if (udata && len)
		nftnl_udata_parse(udata, len, comment_cb, &c);
	return c;
}
