/* One NFQUEUE queue: its socket, and the thread that decides its packets
 * in bursts (recvmmsg) and answers them with batch verdicts. */
#include "config.h"

#include "engine_int.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COPY_RANGE 256		/* the headers decide needs, with IPv6 extensions */
#define VMSG_LEN 64		/* one verdict message: header, verdict, priority */
#define DEFAULT_RCVBUF (1 << 20)
#define DRAIN_BURSTS 16
#define CFG_BUF 8192		/* one config request */
#define SYNC_ROUNDS 4		/* decisions of a burst on a changing cache, then drops */
/* skb->priority in packet and verdict messages (Linux 5.18); ABI, but
 * newer than the attribute list libnetfilter_queue's header carries */
#define SAGATE_NFQA_PRIORITY 21

/* ------------------------------------------------------------------ verdicts */

/* Send the planned verdicts of n packets in one datagram.  Accepts carry
 * priority 0: the ruleset put the SPI in skb->priority only to hand it to
 * us; left there it would reach qdiscs (a forwarded flow's first packet)
 * and later rules as if it meant something.  The packet mark is the
 * packet's own (strongSwan's mark_in, route-based VPNs, the admin's
 * rules): the ruleset does not touch it, and neither do we. */
static void q_send(struct engine_queue *q, size_t n)
{
	char buf[2 * EQ_BURST * VMSG_LEN];
	size_t m = vbatch_plan(&q->vb, q->pk, n, q->msg), off = 0;

	for (size_t i = 0; i < m; i++) {
		struct nlmsghdr *nlh = nfq_nlmsg_put(buf + off, NFQNL_MSG_VERDICT_BATCH, q->num);

		nfq_nlmsg_verdict_put(nlh, (int)q->msg[i].id, q->msg[i].accept ? NF_ACCEPT : NF_DROP);
		if (q->msg[i].accept)
			mnl_attr_put_u32(nlh, SAGATE_NFQA_PRIORITY, htonl(0));
		off += nlh->nlmsg_len;
	}
	if (!off)
		return;
	if (mnl_socket_sendto(q->nl, buf, off) < 0) {
		/* these packets still wait: make the next accept drop them
		 * first, as a gap, rather than cover them with its batch */
		q->vb = (struct vbatch_state){ true, q->pk[0].id - 1 };
		ESTATS_ADD(q->st.verdict_errors, m);
		if (engine_log_admit(q, time(NULL)))
			engine_msg("queue-error", "queue %u: verdicts up to packet %u: %s", q->num,
				   q->msg[m - 1].id, strerror(errno));
		return;
	}
	ESTATS_ADD(q->st.verdict_msgs, m);
}

static void log_decision(struct engine_queue *q, const struct verdict *v, unsigned reason,
			 bool headers)
{
	const struct engine_bank *b = &q->e->bank[q->bank];
	json_t *j;
	char src[64] = "", dst[64] = "", spi[16];

	if (!engine_log_admit(q, time(NULL)))
		return;
	snprintf(spi, sizeof spi, "0x%08x", v->spi);
	j = json_pack("{s:s, s:s}", "verdict", v->accept ? "accept" : "drop",
		      "reason", estats_reason_name(reason));
	if (!j)
		return;
	if (v->rule != CLASS_NONE && b->pol && v->rule < b->pol->nrules)
		json_object_set_new(j, "rule", json_string(b->pol->rules[v->rule].name));
	else
		json_object_set_new(j, "rule", json_null());
	if (headers) {
		addr_format(v->pkt.key.fam, v->pkt.key.peer, src, sizeof src);
		addr_format(v->pkt.key.fam, v->pkt.key.local, dst, sizeof dst);
		json_object_set_new(j, "src", json_string(src));
		json_object_set_new(j, "dst", json_string(dst));
		json_object_set_new(j, "proto", json_integer(v->pkt.proto));
		json_object_set_new(j, "sport", json_integer(v->pkt.sport));
		json_object_set_new(j, "dport", json_integer(v->pkt.dport));
		if (v->pkt.key.dir == DIR_FWD)	/* routed through this host */
			json_object_set_new(j, "direction", json_string("forward"));
	}
	json_object_set_new(j, "spi", json_string(spi));
	/* which table queued it, and so which policy judged it */
	json_object_set_new(j, "queue", json_integer(q->num));
	json_object_set_new(j, "generation", b->generation ? json_integer(b->generation) : json_null());
	engine_event(j);
}

/* The verdict for one packet, by the policy of its queue's bank;
 * q->rd is held. */
static struct verdict q_decide(struct engine_queue *q, enum direction dir, const void *data,
			       size_t len, uint32_t spi_be, unsigned *reason, bool *headers)
{
	struct engine *e = q->e;
	const struct engine_bank *b = &e->bank[q->bank];
	struct decide_ctx ctx = { b->pol, b->cls, NULL, NULL, e->sas, false,
				  e->ident_lookup, e->ident_ctx };
	struct verdict v;

	memset(&v, 0, sizeof v);
	v.rule = CLASS_NONE;
	v.spi = xfrm_spi_from_handover(spi_be);
	if (!data) {
		*reason = ESTATS_DROP_NO_PAYLOAD;
		*headers = false;
	} else if (!b->pol || !b->cls || !e->sas) {
		*reason = ESTATS_DROP_NO_POLICY;
		*headers = decide_parse(data, len, &v.pkt) == DECIDE_ACCEPT_OK;
	} else if (e->resync) {
		/* the SA cache may be stale: no new flow until the re-dump ends */
		*reason = ESTATS_DROP_RESYNC;
		*headers = decide_parse(data, len, &v.pkt) == DECIDE_ACCEPT_OK;
	} else {
		v = decide_dir(&ctx, dir, data, len, spi_be, (uint64_t)time(NULL));
		*reason = v.reason;
		*headers = v.reason != DECIDE_DROP_TRUNCATED && v.reason != DECIDE_DROP_MALFORMED;
	}
	return v;
}

/* Decide q->it[0..n) into q->pk (see engine_int.h).  An accept goes out only
 * on a cache that holds every SA event the kernel had queued when the
 * decision was checked (engine_xfrm_settled after deciding): when the
 * cache changed meanwhile, the burst is decided again; when it cannot be made,
 * or the cache keeps changing, the accepts become drops.  A drop for an
 * unknown SA is checked the same way, since its SA may be announced
 * there. */
void eq_judge(struct engine_queue *q, size_t n)
{
	struct engine *e = q->e;

	if (!n)
		return;
	for (int round = 1;; round++) {
		unsigned long gen;
		bool any = false;

		pthread_mutex_lock(&q->rd);
		gen = __atomic_load_n(&e->sa_gen, __ATOMIC_ACQUIRE);
		for (size_t i = 0; i < n; i++) {
			struct eq_item *it = &q->it[i];

			it->v = q_decide(q, it->dir, it->data, it->len, it->spi_be, &it->reason,
					 &it->headers);
			/* an SA not yet known may be announced in the socket
			 * (or asked for again after an update) */
			any |= it->v.accept || it->reason == DECIDE_DROP_SA_UNKNOWN;
		}
		if (!any)
			break;
		pthread_mutex_unlock(&q->rd);
		if (engine_xfrm_settled(e, gen)) {
			pthread_mutex_lock(&q->rd);
			break;
		}
		if (round == SYNC_ROUNDS) {
			pthread_mutex_lock(&q->rd);
			for (size_t i = 0; i < n; i++)
				if (q->it[i].v.accept) {
					q->it[i].v.accept = false;
					q->it[i].reason = ESTATS_DROP_RESYNC;
				}
			break;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct eq_item *it = &q->it[i];

		q->pk[i] = (struct vbatch_pkt){ it->id, it->v.accept };
		ESTATS_INC(q->st.by_reason[it->reason]);
		log_decision(q, &it->v, it->reason, it->headers);
	}
	pthread_mutex_unlock(&q->rd);
}

/* Decide q->it[0..n) and send their verdicts. */
static void q_answer(struct engine_queue *q, size_t n)
{
	if (!n)
		return;
	eq_judge(q, n);
	q_send(q, n);
}

/* Take one packet message into q->it[*n]. */
static void q_packet(struct engine_queue *q, const struct nlmsghdr *nlh, size_t *n)
{
	struct nlattr *attr[NFQA_MAX + 1], *a;
	const struct nfqnl_msg_packet_hdr *ph;
	const void *data = NULL;
	size_t len = 0;
	uint32_t spi_be = 0;

	memset(attr, 0, sizeof attr);
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg) ||
	    nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR] ||
	    mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof *ph) {
		/* no packet id: the next verdict's gap handling drops it */
		if (engine_log_admit(q, time(NULL)))
			engine_msg("queue-error", "queue %u: malformed packet message", q->num);
		return;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	if (attr[NFQA_PAYLOAD]) {
		data = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	/* the SPI, from the ruleset's "meta priority set ipsec in spi"; the
	 * kernel leaves the attribute out for 0 (no SPI: a drop), and so
	 * does a kernel before 5.18 */
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == SAGATE_NFQA_PRIORITY &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			spi_be = ntohl(mnl_attr_get_u32(a));
	/* the forward chain queues flows routed through this host: judged by
	 * the forward rules; everything else sagate queues comes from input */
	q->it[*n] = (struct eq_item){ .id = ntohl(ph->packet_id),
				      .dir = ph->hook == NF_INET_FORWARD ? DIR_FWD : DIR_IN,
				      .data = data, .len = len, .spi_be = spi_be };
	(*n)++;
}

/* Walk one message buffer: packets are taken into q->it (decided and
 * answered when it is full); the ack / error of config request seq goes
 * to *ack. */
static void q_walk(struct engine_queue *q, const char *buf, int len, size_t *n, int *ack)
{
	const struct nlmsghdr *nlh;

	for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
			int code = mnl_nlmsg_get_payload_len(nlh) >= sizeof *err ? -err->error : EPROTO;

			if (ack && q->seq && nlh->nlmsg_seq == q->seq)
				*ack = code;
			else if (code)
				ESTATS_INC(q->st.verdict_errors);	/* verdicts carry seq 0 */
			continue;
		}
		if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
			continue;
		if (*n == EQ_BURST) {
			q_answer(q, *n);
			*n = 0;
		}
		q_packet(q, nlh, n);
	}
}

/* One burst: up to EQ_BURST messages from the socket, decided under one
 * read lock (eq_judge), answered with one send.  Returns how many messages, 0 when
 * there was nothing, -1 on a fatal error (in d, and in errno). */
static int q_burst(struct engine_queue *q, int *ack, struct diag_list *d)
{
	struct engine *e = q->e;
	int fd = mnl_socket_get_fd(q->nl);
	size_t n = 0;
	int r, err;

	for (int i = 0; i < EQ_BURST; i++)
		q->mm[i].msg_hdr.msg_flags = 0;
	r = recvmmsg(fd, q->mm, EQ_BURST, MSG_DONTWAIT, NULL);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		if (errno == ENOBUFS) {
			/* the kernel dropped what did not fit (or accepted it,
			 * with --fail-open); never fatal */
			ESTATS_INC(q->st.q_enobufs);
			if (engine_log_admit(q, time(NULL)))
				engine_event(json_pack("{s:s, s:i, s:s, s:I}", "event", "queue-enobufs",
						       "queue", (int)q->num, "message",
						       e->src.fail_open ? "the queue overran: packets were accepted unchecked (fail-open)"
									: "the queue overran: packets were dropped",
						       "count", (json_int_t)__atomic_load_n(&q->st.q_enobufs, __ATOMIC_RELAXED)));
			return 1;
		}
		err = errno;
		engine_fail(d, "queue", "queue %u: recv: %s", q->num, strerror(err));
		errno = err;	/* q_config's caller says why the config failed */
		return -1;
	}
	for (int i = 0; i < r; i++)
		q_walk(q, q->iov[i].iov_base, (int)netlink_span(q->iov[i].iov_base, q->mm[i].msg_len),
		       &n, ack);
	q_answer(q, n);
	return r;
}

/* ------------------------------------------------------------------ setup */

/* Send a config message and wait for its ack (packets arriving meanwhile
 * are decided).  0 or -1 with errno (a receive error is in d as well). */
static int q_config(struct engine_queue *q, struct nlmsghdr *nlh, struct diag_list *d)
{
	int ack = -1;
	time_t deadline = time(NULL) + 5;

	nlh->nlmsg_flags |= NLM_F_ACK;
	if (++q->seq == 0)
		q->seq = 1;
	nlh->nlmsg_seq = q->seq;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	while (ack < 0) {
		struct pollfd p = { mnl_socket_get_fd(q->nl), POLLIN, 0 };

		if (time(NULL) > deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			return -1;
		if (q_burst(q, &ack, d) < 0)
			return -1;
	}
	if (ack) {
		errno = ack;
		return -1;
	}
	return 0;
}

static int q_socket(struct engine *e, struct engine_queue *q, struct diag_list *d)
{
	int zero = 0, fd, fl;
	int rcv = e->src.rcvbuf > 0 ? e->src.rcvbuf : DEFAULT_RCVBUF;

	q->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!q->nl)
		return engine_fail(d, "", "NETLINK_NETFILTER socket: %s", strerror(errno));
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return engine_fail(d, "", "bind NETLINK_NETFILTER: %s", strerror(errno));
	fd = mnl_socket_get_fd(q->nl);
	/* we want to hear about overruns: count and log them */
	mnl_socket_setsockopt(q->nl, NETLINK_NO_ENOBUFS, &zero, sizeof zero);
	/* FORCE passes net.core.rmem_max (we have CAP_NET_ADMIN); else the
	 * capped size */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) < 0)
		diag_add(d, DIAG_WARNING, "", "", NULL, "queue %u: receive buffer of %d bytes: %s",
			 q->num, rcv, strerror(errno));
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return engine_fail(d, "", "O_NONBLOCK: %s", strerror(errno));
	return 0;
}

static int q_params(struct engine *e, struct engine_queue *q, struct diag_list *d)
{
	char buf[CFG_BUF];
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, COPY_RANGE);
	if (e->src.queue_maxlen)
		nfq_nlmsg_cfg_put_qmaxlen(nlh, e->src.queue_maxlen);
	/* both flags are set explicitly, so a restart without --fail-open
	 * is fail-closed again */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(e->src.fail_open ? NFQA_CFG_F_FAIL_OPEN : 0));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN));
	if (q_config(q, nlh, d) < 0)
		return engine_fail(d, "", "queue %u parameters: %s", q->num, strerror(errno));
	return 0;
}

int eq_open(struct engine *e, struct engine_queue *q, uint16_t num, struct diag_list *d)
{
	char buf[CFG_BUF];
	struct nlmsghdr *nlh;

	q->e = e;
	q->num = num;
	q->bank = (unsigned)(num - e->queue) / e->nqueues;
	q->slots = malloc((size_t)EQ_BURST * EQ_SLOT);
	if (!q->slots)
		return engine_fail(d, "", "out of memory");
	for (int i = 0; i < EQ_BURST; i++) {
		q->iov[i] = (struct iovec){ q->slots + (size_t)i * EQ_SLOT, EQ_SLOT };
		q->mm[i].msg_hdr = (struct msghdr){ .msg_iov = &q->iov[i], .msg_iovlen = 1 };
	}
	if (q_socket(e, q, d) < 0)
		return -1;
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (q_config(q, nlh, d) < 0)
		return engine_fail(d, "", "bind queue %u: %s%s", num, strerror(errno),
				   errno == EBUSY ? " (another process holds it)" : "");
	q->bound = true;
	return q_params(e, q, d);
}

/* ------------------------------------------------------------------ thread */

static void q_fail(struct engine_queue *q)
{
	char c = 1;

	__atomic_store_n(&q->e->failed, 1, __ATOMIC_RELEASE);
	if (write(q->e->fail_fd[1], &c, 1) < 0)
		return;	/* the main thread still sees failed on its next tick */
}

/* The queue's loop: it owns the log of what goes wrong in it. */
static void *q_thread(void *arg)
{
	struct engine_queue *q = arg;
	struct diag_list d;

	diag_list_init(&d);
	for (;;) {
		struct pollfd p[2] = {
			{ mnl_socket_get_fd(q->nl), POLLIN, 0 },
			{ q->e->stop_fd[0], POLLIN, 0 },
		};
		int r = 0;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			engine_msg("error", "queue %u: poll: %s", q->num, strerror(errno));
			q_fail(q);
			break;
		}
		if (p[1].revents)
			break;
		/* drain what is there a burst at a time, but look at the
		 * stop pipe now and then even under a flood; busy (set before
		 * the socket is read, cleared after the verdicts are sent)
		 * tells eq_idle that packets may be between the two */
		__atomic_store_n(&q->busy, 1, __ATOMIC_SEQ_CST);
		for (int i = 0; i < DRAIN_BURSTS; i++)
			if ((r = q_burst(q, NULL, &d)) != EQ_BURST)
				break;
		__atomic_store_n(&q->busy, 0, __ATOMIC_SEQ_CST);
		if (r < 0) {
			engine_log_diags(&d);
			q_fail(q);
			break;
		}
	}
	return NULL;
}

bool eq_idle(struct engine_queue *q)
{
	struct pollfd p = { mnl_socket_get_fd(q->nl), POLLIN, 0 };

	/* the kernel hands a queued packet to the socket at once (or drops
	 * it): none in the socket, and the thread not between reading one
	 * and answering it, means none waits for our verdict.  The socket
	 * first: a packet read after this poll was still there at it. */
	if (poll(&p, 1, 0) != 0)
		return false;
	return !__atomic_load_n(&q->busy, __ATOMIC_SEQ_CST);
}

int eq_start(struct engine_queue *q, struct diag_list *d)
{
	char name[16];		/* the kernel keeps 15 characters */
	int err = pthread_create(&q->th, NULL, q_thread, q);

	if (err)
		return engine_fail(d, "", "queue %u: thread: %s", q->num, strerror(err));
	q->running = true;
	/* which thread serves which queue, for top -H, ps -L and
	 * /proc/PID/task/TID/comm; a name that cannot be set is no fault */
	snprintf(name, sizeof name, "sagated-q%u", q->num);
	pthread_setname_np(q->th, name);
	return 0;
}

void eq_close(struct engine_queue *q, struct diag_list *d)
{
	if (q->running)
		pthread_join(q->th, NULL);
	q->running = false;
	if (q->nl && q->bound) {
		char buf[CFG_BUF];
		struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);

		nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
		if (q_config(q, nlh, d) < 0)
			engine_fail(d, "", "unbind queue %u: %s", q->num, strerror(errno));
		q->bound = false;
	}
	if (q->nl)
		mnl_socket_close(q->nl);
	q->nl = NULL;
	free(q->slots);
	q->slots = NULL;
}
