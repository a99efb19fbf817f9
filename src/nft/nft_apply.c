#include "config.h"

#include "nft_apply.h"
#include "nft_read.h"
#include "util.h"
#include "xfrm_dump.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

/* Largest acknowledgement: an error that echoes a whole message (when the
 * kernel will not cap it) is one element list (64 KiB) plus headers. */
#define RECV_BUF (128u << 10)
/* Socket memory an acknowledgement takes in the receive queue (skb
 * overhead included), with room to spare. */
#define ACK_TRUESIZE 2048u
/* sendmsg() runs the whole transaction before it returns, so every
 * acknowledgement is queued by then; this only bounds a broken kernel. */
#define ACK_TIMEOUT_MS 10000

struct acks {
	const struct nft_batch *b;
	struct diag_list *d;
	const char *file;
	size_t acked;		/* acknowledgements of our messages, errors included */
	size_t errors;
	bool batch_failed;	/* an error blamed on BATCH_BEGIN: nothing else follows */
	bool moved;		/* that error: the ruleset generation moved on (ERESTART) */
	bool lost;		/* the receive queue overflowed */
	bool garbled;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The extended ack: the kernel's message and the offset of the attribute it
 * blamed, both optional, after the (possibly capped) copy of our header. */
static void parse_ext_ack(const struct nlmsghdr *nlh, const struct nlmsgerr *e,
			  const char **msg, uint32_t *off)
{
	size_t hlen = sizeof(*e);
	const struct nlattr *a;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < sizeof(struct nlmsghdr))
			return;
		hlen += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	}
	if (mnl_nlmsg_size(hlen) > nlh->nlmsg_len)
		return;
	mnl_attr_for_each(a, nlh, hlen) {
		switch (mnl_attr_get_type(a)) {
		case NLMSGERR_ATTR_MSG:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
				*msg = mnl_attr_get_str(a);
			break;
		case NLMSGERR_ATTR_OFFS:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				*off = mnl_attr_get_u32(a);
			break;
		default:
			break;
		}
	}
}

static int on_error(const struct nlmsghdr *nlh, void *data)
{
	struct acks *c = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const char *kmsg = NULL;
	uint32_t seq, off = 0;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		c->garbled = true;
		return MNL_CB_OK;
	}
	seq = e->msg.nlmsg_seq;
	if (!nft_batch_has_seq(c->b, seq))
		return MNL_CB_OK;	/* not ours */
	if (nft_batch_is_begin(c->b, seq))
		c->batch_failed = true;
	else
		c->acked++;
	if (e->error == 0)
		return MNL_CB_OK;
	if (c->batch_failed && e->error == -ERESTART) {
		c->moved = true;	/* said by nft_apply_measured, with the numbers */
		return MNL_CB_OK;
	}
	parse_ext_ack(nlh, e, &kmsg, &off);
	nft_batch_report(c->b, seq, off, -e->error, kmsg, c->d);
	c->errors++;
	return MNL_CB_OK;
}

static void set_buf(int fd, int force, int plain, size_t want)
{
	int v = want > (size_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)want;

	/* FORCE needs CAP_NET_ADMIN (which an apply has); else up to rmem_max */
	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, plain, &v, sizeof(v));
}

static struct mnl_socket *open_socket(const struct nft_batch_stats *st, const char *file,
				      struct diag_list *d)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int one = 1, fd;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		diag_add(d, DIAG_ERROR, file, "", NULL, "netlink socket for nf_tables: %s",
			 strerror(errno));
		if (nl)
			mnl_socket_close(nl);
		return NULL;
	}
	/* old kernels lack these: errors then come without text or offset */
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	fd = mnl_socket_get_fd(nl);
	/* the transaction is one sendmsg(): the send buffer must hold it all,
	 * the receive buffer every acknowledgement */
	set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, st->bytes + (64u << 10));
	set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, st->acks * ACK_TRUESIZE + (256u << 10));
	return nl;
}

static int send_batch(struct mnl_socket *nl, const struct nft_batch *b,
		      const struct nft_batch_stats *st, const char *file, struct diag_list *d)
{
	size_t n = nft_batch_iovec_len(b);
	struct iovec *iov = calloc(n, sizeof(*iov));
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr msg = { .msg_name = &snl, .msg_namelen = sizeof(snl), .msg_iovlen = n };
	ssize_t sent;

	if (!iov) {
		diag_add(d, DIAG_ERROR, file, "", NULL, "out of memory");
		return -1;
	}
	nft_batch_iovec(b, iov);
	msg.msg_iov = iov;
	do
		sent = sendmsg(mnl_socket_get_fd(nl), &msg, 0);
	while (sent < 0 && errno == EINTR);
	free(iov);
	if (sent < 0) {
		diag_add(d, DIAG_ERROR, file, "", NULL,
			 "sending the transaction (%zu bytes, %zu messages): %s%s", st->bytes,
			 st->messages, strerror(errno),
			 errno == EMSGSIZE ? " (the socket send buffer is too small)" : "");
		return -1;
	}
	if ((size_t)sent != st->bytes) {
		diag_add(d, DIAG_ERROR, file, "", NULL, "sent %zd of %zu bytes", sent, st->bytes);
		return -1;
	}
	return 0;
}

/* Read every acknowledgement, then decide. */
static int read_acks(struct mnl_socket *nl, struct acks *c, size_t expected)
{
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = on_error };
	int fd = mnl_socket_get_fd(nl);
	char *buf = malloc(RECV_BUF);

	if (!buf) {
		diag_add(c->d, DIAG_ERROR, c->file, "", NULL, "out of memory");
		return -1;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, RECV_BUF, MSG_DONTWAIT);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (n > 0) {
			if (mnl_cb_run2(buf, netlink_span(buf, (size_t)n), 0, mnl_socket_get_portid(nl), NULL, c,
					ctl, NLMSG_MIN_TYPE) < 0)
				c->garbled = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			c->lost = true;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			diag_add(c->d, DIAG_ERROR, c->file, "", NULL,
				 "reading acknowledgements: %s", strerror(errno));
			break;
		}
		/* queue drained */
		if (c->acked >= expected || c->batch_failed || c->lost)
			break;
		if (poll(&p, 1, ACK_TIMEOUT_MS) <= 0)
			break;
	}
	free(buf);
	if (c->lost)
		diag_add(c->d, DIAG_ERROR, c->file, "", NULL,
			 "acknowledgements were lost (receive queue overflow): the outcome is "
			 "unknown, check `nft list table inet %s`", PLAN_TABLE);
	else if (c->garbled)
		diag_add(c->d, DIAG_ERROR, c->file, "", NULL, "malformed acknowledgement from the kernel");
	else if (c->acked < expected && !c->batch_failed && !c->errors)
		diag_add(c->d, DIAG_ERROR, c->file, "", NULL,
			 "the kernel acknowledged %zu of %zu messages", c->acked, expected);
	if (c->lost || c->garbled || c->errors || c->batch_failed || c->acked < expected)
		return -1;
	return 0;
}

/* *moved (may be NULL): the kernel refused the batch because the ruleset
 * generation it carries is not the kernel's any more. */
static int run(const struct nft_batch *b, const char *file, struct diag_list *d,
	       struct nft_batch_stats *st, bool *moved)
{
	struct acks c = { .b = b, .d = d, .file = file };
	struct mnl_socket *nl;
	int ret = -1;

	nft_batch_get_stats(b, st);
	nl = open_socket(st, file, d);
	if (!nl)
		return -1;
	if (send_batch(nl, b, st, file, d) == 0)
		ret = read_acks(nl, &c, st->acks);
	mnl_socket_close(nl);
	if (moved)
		*moved = c.moved;
	return ret;
}

/* The flows that require-ipsec rules admitted are bound to their SA's
 * reqid through the live PLAN_BOUND_SET; a new table gets its bindings,
 * or their next packets would be dropped. */
static bool plan_has_binding(const struct plan *p)
{
	for (size_t i = 0; i < p->nsets; i++)
		if (p->sets[i].binding)
			return true;
	return false;
}

static int carry_bindings(const struct plan *p, uint8_t **bound, size_t *n,
			  struct diag_list *d)
{
	size_t kept = 0;

	for (size_t i = 0; i < p->nsets; i++)
		if (p->sets[i].binding && nft_read_bound(bound, n, d) < 0)
			return -1;
	/* only what the kernel makes (the audit reports other pairs as
	 * forged; they are not carried into a new table) */
	for (size_t i = 0; i < *n; i++) {
		uint32_t mark, reqid;

		if (plan_bound_key_is_kernels(*bound + i * NFT_BOUND_KEY_LEN, &mark, &reqid))
			memmove(*bound + kept++ * NFT_BOUND_KEY_LEN, *bound + i * NFT_BOUND_KEY_LEN,
				NFT_BOUND_KEY_LEN);
	}
	if (kept < *n)
		diag_add(d, DIAG_WARNING, "table inet " PLAN_TABLE, "", NULL,
			 "%zu flow binding(s) in set %s were not made by the kernel: not carried over",
			 *n - kept, PLAN_BOUND_SET);
	*n = kept;
	return 0;
}

/* Add the pair of reqid to bound (cap: its room) unless it is there. */
static int seed_one(uint8_t **bound, size_t *n, size_t *cap, uint32_t reqid)
{
	uint32_t mark = reqid | PLAN_CT_MARK_IPSEC;
	uint8_t key[NFT_BOUND_KEY_LEN];

	memcpy(key, &mark, sizeof(mark));
	memcpy(key + sizeof(mark), &reqid, sizeof(reqid));
	for (size_t i = 0; i < *n; i++)
		if (memcmp(*bound + i * NFT_BOUND_KEY_LEN, key, sizeof(key)) == 0)
			return 0;
	if (grow_array(bound, cap, *n + 1, NFT_BOUND_KEY_LEN) < 0)
		return -1;
	memcpy(*bound + (*n)++ * NFT_BOUND_KEY_LEN, key, sizeof(key));
	return 0;
}

/* The pair of every reqid the kernel's SAs carry, so that flows bound to
 * them live on even when the old set is gone (the table deleted or
 * flushed by hand before this apply).  A pair admits nothing new: it is
 * the one the admitting rule adds for that reqid.  Without an SA table
 * (no xfrm_user), nothing is added, and nothing said. */
static int seed_bindings(uint8_t **bound, size_t *n, struct diag_list *d)
{
	struct diag_list quiet;
	uint32_t *reqids;
	size_t nreqids, cap = *n;
	int ret = 0;

	diag_list_init(&quiet);
	if (xfrm_dump_reqids(&reqids, &nreqids, &quiet) < 0) {
		diag_add(d, DIAG_ERROR, "xfrm", "", NULL, "%s", diag_last(&quiet));
		ret = -1;
	}
	diag_list_fini(&quiet);
	for (size_t i = 0; i < nreqids && ret == 0; i++)
		if (seed_one(bound, n, &cap, reqids[i]) < 0) {
			diag_add(d, DIAG_ERROR, "table inet " PLAN_TABLE, "", NULL, "out of memory");
			ret = -1;
		}
	free(reqids);
	return ret;
}

/* The kernel refused a batch read in generation genid: say so. */
static int said_moved(const char *file, uint32_t genid, struct diag_list *d)
{
	uint32_t now_genid;

	if (nft_read_genid(&now_genid, d) == 0)
		diag_add(d, DIAG_ERROR, file, "", NULL,
			 "the ruleset changed while sagate read it (generation %u, now %u): nothing was applied; run the command again",
			 genid, now_genid);
	else
		diag_add(d, DIAG_ERROR, file, "", NULL,
			 "the ruleset changed while sagate read it (generation %u): nothing was applied; run the command again",
			 genid);
	return NFT_APPLY_MOVED;
}

/* Send batch b (NULL: its build failed), built since t0 for a ruleset
 * read in generation genid, and free it; what it cost into st. */
static int send_built(struct nft_batch *b, const char *file, uint32_t genid, double t0,
		      struct nft_apply_stats *st, struct diag_list *d)
{
	double t1 = now();
	bool moved = false;
	int ret;

	st->build_seconds = t1 - t0;
	if (!b)
		return -1;
	test_pause("before-commit");
	ret = run(b, file, d, &st->batch, &moved);
	st->kernel_seconds = now() - t1;
	nft_batch_free(b);
	return moved ? said_moved(file, genid, d) : ret;
}

int nft_apply_measured(const struct plan *p, const struct policy *pol, bool dry_run,
		       struct nft_apply_stats *st, struct diag_list *d)
{
	struct nft_apply_stats local;
	struct nft_batch *b;
	uint8_t *bound = NULL;
	size_t nbound = 0;
	double t0 = now();
	uint32_t genid = 0;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	/* the generation first: if anyone commits after it, in particular
	 * to the bindings read next, the kernel refuses this transaction
	 * instead of replacing what they did */
	if ((!dry_run && nft_read_genid(&genid, d) < 0) ||
	    carry_bindings(p, &bound, &nbound, d) < 0 ||
	    (plan_has_binding(p) && seed_bindings(&bound, &nbound, d) < 0)) {
		free(bound);
		return -1;
	}
	st->genid = genid;
	b = nft_build_plan_bound(p, pol, dry_run ? NFT_BUILD_CHECK : 0, genid, bound, nbound, d);
	free(bound);
	trace_phase("netlink-build");
	return send_built(b, pol->file, genid, t0, st, d);
}

int nft_apply_diff(const struct plan *old, const struct nft_names *oldnames, const struct plan *p,
		   const struct policy *pol, bool dry_run, uint32_t genid, struct nft_diff *diff,
		   struct nft_apply_stats *st, struct diag_list *d)
{
	struct nft_apply_stats local;
	double t0 = now();
	struct nft_batch *b;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	st->genid = dry_run ? 0 : genid;
	b = nft_build_diff(old, oldnames, p, pol, NFT_DIFF_BOUNDED | (dry_run ? NFT_BUILD_CHECK : 0),
			   genid, diff, d);
	trace_phase("diff-build");
	return send_built(b, pol->file, genid, t0, st, d);
}

int nft_apply(const struct plan *p, const struct policy *pol, bool dry_run,
	      struct diag_list *d)
{
	return nft_apply_measured(p, pol, dry_run, NULL, d);
}

uint32_t nft_genid_next(uint32_t genid)
{
	return genid + 1 ? genid + 1 : 1;
}

int nft_flush_table(bool dry_run, struct diag_list *d)
{
	struct nft_batch_stats st;
	struct nft_batch *b = nft_build_flush(dry_run ? NFT_BUILD_CHECK : 0, d);
	int ret;

	if (!b)
		return -1;
	ret = run(b, "table inet " PLAN_TABLE, d, &st, NULL);
	nft_batch_free(b);
	return ret;
}
