/* The engine's XFRM side: the socket that follows the kernel's SAs (a
 * dump at start and after a loss, then the SA and EXPIRE groups), how
 * what it reads is applied to the SA cache under the writer lock, and the
 * check a queue thread makes before an accept (engine_xfrm_settled): has
 * every SA event the kernel queued by then reached the cache? */
#include "config.h"

#include "engine_int.h"
#include "diag.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SMALLBUF 8192		/* requests */
#define DRAIN_MAX 64		/* recv calls on the XFRM socket per poll round */
#define SYNC_MAX 256		/* recv calls before an accept, then it is a drop */

static int set_nonblock(struct mnl_socket *nl)
{
	int fd = mnl_socket_get_fd(nl);
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void bump_gen(struct engine *e)
{
	__atomic_add_fetch(&e->sa_gen, 1, __ATOMIC_RELEASE);
}

void engine_xfrm_dump(struct engine *e, struct diag_list *d)
{
	char buf[SMALLBUF];
	struct nlmsghdr *nlh;

	if (e->dump_running || !e->need_dump)
		return;
	if (e->sas && xfrm_cache_count(e->sas)) {
		/* a re-dump: start from nothing, the dump is the truth */
		struct xfrm_cache *c = xfrm_cache_alloc();

		if (!c) {
			engine_fail(d, "", "out of memory for the SA cache; retrying");
			return;
		}
		engine_wrlock(e);
		SWAP(e->sas, c);
		bump_gen(e);
		engine_wrunlock(e);
		xfrm_cache_free(c);
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_GETSA;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = e->dump_seq = ++e->xseq;
	if (mnl_socket_sendto(e->xnl, nlh, nlh->nlmsg_len) < 0) {
		engine_fail(d, "xfrm", "cannot request the SA dump: %s; retrying", strerror(errno));
		return;
	}
	e->need_dump = false;
	e->dump_running = true;
}

/* An SA message that says nothing reliable about the SA it names: ask
 * the kernel for that SA (its answer is a NEWSA on this socket).  A
 * request that cannot be sent leaves the SA out of the cache, which
 * drops its flows: a re-dump brings it back.  Under xmu and e->lock. */
static void confirm_sa(struct engine *e, const struct nlmsghdr *nlh, struct diag_list *d)
{
	char buf[SMALLBUF];
	struct xfrm_sa key;
	struct diag_list why;
	size_t n;

	diag_list_init(&why);
	n = xfrm_parse_sa(nlh, &key, &why) < 0 ? 0 :
	    xfrm_getsa_request(buf, sizeof buf, &key, ++e->xseq);
	diag_list_fini(&why);
	if (!n || mnl_socket_sendto(e->xnl, buf, n) < 0) {
		engine_fail(d, "xfrm", "cannot ask the kernel for an updated SA: %s; re-dumping",
			    n ? strerror(errno) : "unreadable");
		e->need_dump = true;
		e->resync = true;
	}
}

/* Queue a review of the flows bound to the reqid of an SA just added
 * (engine_ct_review).  Under xmu. */
static void want_review(struct engine *e, const struct nlmsghdr *nlh)
{
	struct xfrm_sa sa;
	struct diag_list why;
	int rc;

	diag_list_init(&why);
	rc = xfrm_parse_sa(nlh, &sa, &why);
	diag_list_fini(&why);
	if (rc < 0 || sa.dir == XFRM_SA_OUT || e->review_all)
		return;
	for (unsigned i = 0; i < e->nreview; i++)
		if (e->review[i] == sa.reqid)
			return;
	if (e->nreview < sizeof e->review / sizeof e->review[0])
		e->review[e->nreview++] = sa.reqid;
	else
		e->review_all = true;
}

/* Apply one SA message (under xmu and e->lock).  One that cannot be read
 * leaves nothing of its SPI in the cache (xfrm_cache_apply) and, since
 * its SA may be anywhere, forces a re-dump: new flows are dropped until
 * it completes. */
static void apply_sa_msg(struct engine *e, const struct nlmsghdr *nlh, struct diag_list *d)
{
	struct diag_list why;
	int rc;

	diag_list_init(&why);
	rc = xfrm_cache_apply(e->sas, nlh, (uint64_t)time(NULL), &why);
	if (rc < 0 && nlh->nlmsg_type >= XFRM_MSG_NEWSA && nlh->nlmsg_type <= XFRM_MSG_FLUSHSA) {
		engine_fail(d, "xfrm", "SA message %u could not be applied: %s; re-dumping the SAs, new flows are dropped until it completes",
			    nlh->nlmsg_type, diag_last(&why));
		e->need_dump = true;
		e->resync = true;
	} else if (rc < 0) {
		diag_add(d, DIAG_WARNING, "xfrm", "", NULL, "message %u ignored: %s",
			 nlh->nlmsg_type, diag_last(&why));
	} else if (rc == XFRM_APPLY_CONFIRM) {
		confirm_sa(e, nlh, d);
	} else if (rc == 1 && nlh->nlmsg_type == XFRM_MSG_NEWSA && !e->dump_running) {
		want_review(e, nlh);
	}
	diag_list_fini(&why);
}

/* xfrm_input without e->xreading. */
static int xfrm_read(struct engine *e, struct diag_list *d)
{
	ssize_t n = mnl_socket_recvfrom(e->xnl, e->buf, e->buflen);
	const struct nlmsghdr *nlh;
	int len;

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			return 1;
		if (errno == ENOBUFS) {
			e->x_enobufs++;
			e->need_dump = true;
			engine_wrlock(e);
			e->resync = true;
			bump_gen(e);
			engine_wrunlock(e);
			engine_event(json_pack("{s:s, s:s, s:I}", "event", "xfrm-enobufs",
					       "message", "SA events were lost: re-dumping; new flows are dropped until it completes",
					       "count", (json_int_t)e->x_enobufs));
			return 1;
		}
		return engine_fail(d, "xfrm", "recv: %s", strerror(errno));
	}
	len = (int)netlink_span(e->buf, (size_t)n);
	/* one write lock per buffer, not per message: the queue threads
	 * wait at most one buffer's worth */
	engine_wrlock(e);
	bump_gen(e);
	for (nlh = (const struct nlmsghdr *)e->buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type == NLMSG_DONE) {
			if (e->dump_running && nlh->nlmsg_seq == e->dump_seq) {
				e->dump_running = false;
				/* what changed while sagated did not listen */
				e->review_all = true;
				if (!e->need_dump && e->resync) {
					e->resync = false;
					engine_event(json_pack("{s:s, s:I}", "event", "xfrm-synced",
							       "sas", (json_int_t)xfrm_cache_count(e->sas)));
				}
			}
			continue;
		}
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
			int code = mnl_nlmsg_get_payload_len(nlh) >= sizeof *err ? -err->error : EPROTO;

			if (e->dump_running && nlh->nlmsg_seq == e->dump_seq) {
				e->dump_running = false;
				e->need_dump = true;	/* retried on the next round */
				engine_fail(d, "xfrm", "SA dump failed: %s", strerror(code));
			}
			continue;
		}
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue;
		apply_sa_msg(e, nlh, d);
	}
	engine_wrunlock(e);
	return 1;
}

/* One recv on the XFRM socket (under xmu).  1: got something (or was
 * interrupted), 0: nothing to read, -1: fatal (the error in d).
 * Messages that cannot be applied are in d. */
static int xfrm_input(struct engine *e, struct diag_list *d)
{
	int r;

	/* odd from before the read until what it read is applied (and
	 * sa_gen bumped): engine_xfrm_settled finds a socket emptied by a
	 * read still being applied by the change of this count */
	__atomic_add_fetch(&e->xreading, 1, __ATOMIC_SEQ_CST);
	r = xfrm_read(e, d);
	__atomic_add_fetch(&e->xreading, 1, __ATOMIC_SEQ_CST);
	return r;
}

int engine_xfrm_setup(struct engine *e, struct diag_list *d)
{
	int g, rc;
	int rcv = 1 << 20;
	time_t deadline;

	e->xnl = mnl_socket_open(NETLINK_XFRM);
	if (!e->xnl)
		return engine_fail(d, "", "NETLINK_XFRM socket: %s", strerror(errno));
	if (mnl_socket_bind(e->xnl, 0, MNL_SOCKET_AUTOPID) < 0)
		return engine_fail(d, "", "bind NETLINK_XFRM: %s", strerror(errno));
	e->xportid = mnl_socket_get_portid(e->xnl);
	setsockopt(mnl_socket_get_fd(e->xnl), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	g = XFRMNLGRP_SA;
	if (mnl_socket_setsockopt(e->xnl, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0)
		return engine_fail(d, "", "join XFRMNLGRP_SA: %s", strerror(errno));
	g = XFRMNLGRP_EXPIRE;
	if (mnl_socket_setsockopt(e->xnl, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0)
		return engine_fail(d, "", "join XFRMNLGRP_EXPIRE: %s", strerror(errno));
	if (set_nonblock(e->xnl) < 0)
		return engine_fail(d, "", "O_NONBLOCK: %s", strerror(errno));
	/* the first dump completes before we say ready */
	e->need_dump = true;
	e->resync = true;
	deadline = time(NULL) + 30;
	while (e->resync) {
		struct pollfd p = { mnl_socket_get_fd(e->xnl), POLLIN, 0 };

		if (time(NULL) > deadline)
			return engine_fail(d, "", "the SA dump did not complete");
		pthread_mutex_lock(&e->xmu);
		engine_xfrm_dump(e, d);
		pthread_mutex_unlock(&e->xmu);
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			return engine_fail(d, "", "poll: %s", strerror(errno));
		pthread_mutex_lock(&e->xmu);
		rc = xfrm_input(e, d);
		pthread_mutex_unlock(&e->xmu);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int engine_xfrm_drain(struct engine *e)
{
	struct diag_list d;
	int r = 0;

	diag_list_init(&d);
	for (int i = 0; i < DRAIN_MAX; i++) {
		pthread_mutex_lock(&e->xmu);
		r = xfrm_input(e, &d);
		pthread_mutex_unlock(&e->xmu);
		engine_log_diags(&d);
		if (r <= 0)
			break;
	}
	return r < 0 ? -1 : 0;
}

int engine_xfrm_sync(struct engine *e)
{
	struct diag_list d;
	int r = 1;

	diag_list_init(&d);
	pthread_mutex_lock(&e->xmu);
	for (int i = 0; i < SYNC_MAX && r > 0; i++)
		r = xfrm_input(e, &d);
	pthread_mutex_unlock(&e->xmu);
	engine_log_diags(&d);
	return r == 0 ? 0 : -1;
}

bool engine_xfrm_settled(struct engine *e, unsigned long gen)
{
	unsigned long r = __atomic_load_n(&e->xreading, __ATOMIC_SEQ_CST);
	struct pollfd p = { mnl_socket_get_fd(e->xnl), POLLIN, 0 };

	/* An event queued before this call and not in the cache as of gen
	 * was read by a thread that (a) had not applied it when we read r
	 * (r odd), (b) read it after we read r and before our poll found the
	 * socket empty (r changed), or (c) applied it after we decided (gen
	 * changed); or it is still in the socket (poll, POLLERR for an
	 * overrun too).  Anything else: the lock and a recv, as before. */
	if (!(r & 1) && poll(&p, 1, 0) == 0) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&e->xreading, __ATOMIC_SEQ_CST) == r &&
		    __atomic_load_n(&e->sa_gen, __ATOMIC_ACQUIRE) == gen)
			return true;
	}
	return engine_xfrm_sync(e) == 0 && __atomic_load_n(&e->sa_gen, __ATOMIC_ACQUIRE) == gen;
}
