#include "config.h"

#include "engine.h"
#include "diag.h"
#include "parse.h"
#include "plan.h"
#include "state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/xfrm.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFLEN (65536 + 4096)
#define SMALLBUF 8192		/* requests and verdicts */
#define LOG_PER_SEC 100		/* decision lines per second, then one summary */
#define SWEEP_KEEP 60		/* seconds a hard-expired SA stays as a tombstone */
#define DRAIN_MAX 64		/* recv calls per socket per poll round */

/* ------------------------------------------------------------------ output */

static void fmt_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

void engine_event(json_t *j)
{
	json_t *o = json_object();
	char t[48];
	char *s;

	if (!o || !j) {
		json_decref(o);
		json_decref(j);
		return;
	}
	fmt_time(t, sizeof t);
	json_object_set_new(o, "time", json_string(t));
	json_object_update(o, j);
	json_decref(j);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	free(s);
	json_decref(o);
}

static void ev_msg(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ev_msg(const char *event, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "sagated: %s: %s\n", event, msg);
	engine_event(json_pack("{s:s, s:s}", "event", event, "message", msg));
}

/* Flush the count of suppressed lines when the second is over. */
static void log_tick(struct engine *e, time_t now)
{
	if (now == e->log_sec)
		return;
	if (e->log_suppressed)
		engine_event(json_pack("{s:s, s:I}", "event", "suppressed",
				       "count", (json_int_t)e->log_suppressed));
	e->log_suppressed = 0;
	e->log_sec = now;
	e->log_count = 0;
}

static bool log_admit(struct engine *e, time_t now)
{
	log_tick(e, now);
	if (e->log_count >= LOG_PER_SEC) {
		e->log_suppressed++;
		return false;
	}
	e->log_count++;
	return true;
}

/* ------------------------------------------------------------------ policy */

/* Find the file and queue to load; caller frees *path. */
static int policy_source(const struct engine_src *src, char **path, uint16_t *queue)
{
	const char *dir;
	struct state_meta m;
	struct diag_list d;
	unsigned gen;

	if (src->policy) {
		*path = strdup(src->policy);
		*queue = src->queue >= 0 ? (uint16_t)src->queue : 0;
		if (!*path) {
			ev_msg("error", "out of memory");
			return -1;
		}
		return 0;
	}
	dir = state_dir();
	gen = state_generation(dir, "current");
	if (!gen) {
		ev_msg("error", "no applied policy in %s (use --policy FILE)", dir);
		return -1;
	}
	memset(&m, 0, sizeof m);
	diag_list_init(&d);
	if (state_read_meta(dir, gen, &m, &d) < 0) {
		char *s = d.count ? diag_format(&d.items[0]) : NULL;

		ev_msg("error", "generation %u: %s", gen, s ? s : "cannot read meta");
		free(s);
		diag_list_fini(&d);
		state_meta_fini(&m);
		return -1;
	}
	diag_list_fini(&d);
	if (m.mode != PLAN_ENGINE)
		ev_msg("warning", "generation %u was applied in kernel-only mode: nothing is queued", gen);
	*queue = src->queue >= 0 ? (uint16_t)src->queue : m.queue;
	state_meta_fini(&m);
	*path = state_policy_path(dir, gen);
	if (!*path) {
		ev_msg("error", "out of memory");
		return -1;
	}
	return 0;
}

/* Parse and classify path.  0, or -1 (logged). */
static int policy_load(const char *path, struct policy **pol, struct classes **cls)
{
	struct parse_opts po = { state_owns(path) ? STATE_MAX_BUNDLE : 0 };
	struct diag_list d;

	diag_list_init(&d);
	*cls = NULL;
	*pol = parse_policy_file(path, &po, &d);
	if (!*pol || d.errors) {
		for (size_t i = 0; i < d.count; i++) {
			char *s = diag_format(&d.items[i]);

			ev_msg("policy-error", "%s", s ? s : "out of memory");
			free(s);
		}
		if (!d.count)
			ev_msg("policy-error", "%s: cannot be loaded", path);
		diag_list_fini(&d);
		policy_free(*pol);
		*pol = NULL;
		return -1;
	}
	diag_list_fini(&d);
	*cls = classify(*pol, 0);
	if (!*cls) {
		ev_msg("error", "out of memory while classifying %s", path);
		policy_free(*pol);
		*pol = NULL;
		return -1;
	}
	return 0;
}

int engine_reload(struct engine *e)
{
	struct policy *pol;
	struct classes *cls;
	char *path = NULL;
	uint16_t queue;

	if (policy_source(&e->src, &path, &queue) < 0 ||
	    policy_load(path, &pol, &cls) < 0) {
		ev_msg("reload-failed", "keeping the policy loaded from %s", e->policy_path);
		free(path);
		return -1;
	}
	if (queue != e->queue)
		ev_msg("warning", "the policy now names queue %u; still serving queue %u until restarted",
		       queue, e->queue);
	classes_free(e->cls);
	policy_free(e->pol);
	free(e->policy_path);
	e->pol = pol;
	e->cls = cls;
	e->policy_path = path;
	engine_event(json_pack("{s:s, s:s, s:s, s:I}", "event", "reloaded", "policy", path,
			       "sha256", pol->sha256, "rules", (json_int_t)pol->nrules));
	return 0;
}

/* ------------------------------------------------------------------ xfrm */

static int set_nonblock(struct mnl_socket *nl)
{
	int fd = mnl_socket_get_fd(nl);
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void start_dump(struct engine *e)
{
	char buf[SMALLBUF];
	struct nlmsghdr *nlh;

	if (e->dump_running || !e->need_dump)
		return;
	if (e->sas && xfrm_cache_count(e->sas)) {
		/* a re-dump: start from nothing, the dump is the truth */
		struct xfrm_cache *c = xfrm_cache_alloc();

		if (!c) {
			ev_msg("error", "out of memory for the SA cache; retrying");
			return;
		}
		xfrm_cache_free(e->sas);
		e->sas = c;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_GETSA;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++e->xseq;
	if (mnl_socket_sendto(e->xnl, nlh, nlh->nlmsg_len) < 0) {
		ev_msg("xfrm-error", "cannot request the SA dump: %s; retrying", strerror(errno));
		return;
	}
	e->need_dump = false;
	e->dump_running = true;
}

/* One recv on the XFRM socket.  1: got something, 0: nothing to read,
 * -1: fatal. */
static int xfrm_input(struct engine *e)
{
	ssize_t n = mnl_socket_recvfrom(e->xnl, e->buf, e->buflen);
	const struct nlmsghdr *nlh;
	int len;
	char why[256];

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		if (errno == ENOBUFS) {
			e->x_enobufs++;
			e->need_dump = true;
			e->resync = true;
			engine_event(json_pack("{s:s, s:s, s:I}", "event", "xfrm-enobufs",
					       "message", "SA events were lost: re-dumping; new flows are dropped until it completes",
					       "count", (json_int_t)e->x_enobufs));
			return 1;
		}
		ev_msg("xfrm-error", "recv: %s", strerror(errno));
		return -1;
	}
	len = (int)n;
	for (nlh = (const struct nlmsghdr *)e->buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type == NLMSG_DONE) {
			if (e->dump_running && nlh->nlmsg_seq == e->xseq) {
				e->dump_running = false;
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

			if (e->dump_running && nlh->nlmsg_seq == e->xseq) {
				e->dump_running = false;
				e->need_dump = true;	/* retried on the next round */
				ev_msg("xfrm-error", "SA dump failed: %s", strerror(code));
			}
			continue;
		}
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue;
		if (xfrm_cache_apply(e->sas, nlh, (uint64_t)time(NULL), why, sizeof why) < 0)
			ev_msg("xfrm-warning", "message %u ignored: %s", nlh->nlmsg_type, why);
	}
	return 1;
}

static int xfrm_setup(struct engine *e)
{
	int g;
	int rcv = 1 << 20;
	time_t deadline;

	e->xnl = mnl_socket_open(NETLINK_XFRM);
	if (!e->xnl) {
		ev_msg("error", "NETLINK_XFRM socket: %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(e->xnl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ev_msg("error", "bind NETLINK_XFRM: %s", strerror(errno));
		return -1;
	}
	e->xportid = mnl_socket_get_portid(e->xnl);
	setsockopt(mnl_socket_get_fd(e->xnl), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	g = XFRMNLGRP_SA;
	if (mnl_socket_setsockopt(e->xnl, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0) {
		ev_msg("error", "join XFRMNLGRP_SA: %s", strerror(errno));
		return -1;
	}
	g = XFRMNLGRP_EXPIRE;
	if (mnl_socket_setsockopt(e->xnl, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0) {
		ev_msg("error", "join XFRMNLGRP_EXPIRE: %s", strerror(errno));
		return -1;
	}
	if (set_nonblock(e->xnl) < 0) {
		ev_msg("error", "O_NONBLOCK: %s", strerror(errno));
		return -1;
	}
	/* the first dump completes before we say ready */
	e->need_dump = true;
	e->resync = true;
	deadline = time(NULL) + 30;
	while (e->resync) {
		struct pollfd p = { mnl_socket_get_fd(e->xnl), POLLIN, 0 };

		if (time(NULL) > deadline) {
			ev_msg("error", "the SA dump did not complete");
			return -1;
		}
		start_dump(e);
		if (poll(&p, 1, 1000) < 0 && errno != EINTR) {
			ev_msg("error", "poll: %s", strerror(errno));
			return -1;
		}
		if (xfrm_input(e) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ nfqueue */

static void send_verdict(struct engine *e, uint16_t queue, uint32_t id, bool accept)
{
	char buf[SMALLBUF];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, queue);

	nfq_nlmsg_verdict_put(nlh, (int)id, accept ? NF_ACCEPT : NF_DROP);
	if (mnl_socket_sendto(e->qnl, nlh, nlh->nlmsg_len) < 0)
		ev_msg("queue-error", "verdict for packet %u: %s", id, strerror(errno));
}

static void log_decision(struct engine *e, const struct verdict *v, const char *reason,
			 bool headers)
{
	json_t *j;
	char src[64] = "", dst[64] = "", spi[16];

	if (!log_admit(e, time(NULL)))
		return;
	snprintf(spi, sizeof spi, "0x%08x", v->spi);
	j = json_pack("{s:s, s:s}", "verdict", v->accept ? "accept" : "drop", "reason", reason);
	if (!j)
		return;
	if (v->rule != CLASS_NONE && e->pol && v->rule < e->pol->nrules)
		json_object_set_new(j, "rule", json_string(e->pol->rules[v->rule].name));
	else
		json_object_set_new(j, "rule", json_null());
	if (headers) {
		addr_format(v->pkt.key.fam, v->pkt.key.peer, src, sizeof src);
		addr_format(v->pkt.key.fam, v->pkt.key.local, dst, sizeof dst);
		json_object_set_new(j, "src", json_string(src));
		json_object_set_new(j, "dst", json_string(dst));
		json_object_set_new(j, "proto", json_integer(v->pkt.proto));
		json_object_set_new(j, "dport", json_integer(v->pkt.dport));
	}
	json_object_set_new(j, "spi", json_string(spi));
	engine_event(j);
}

static void q_packet(struct engine *e, const struct nlmsghdr *nlh)
{
	struct nlattr *attr[NFQA_MAX + 1];
	const struct nfqnl_msg_packet_hdr *ph;
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	struct decide_ctx ctx = { e->pol, e->cls, NULL, NULL, e->sas, false };
	struct verdict v;
	const char *reason;
	const void *data = NULL;
	size_t len = 0;
	uint32_t mark = 0, id;
	uint16_t queue;
	bool headers;

	memset(attr, 0, sizeof attr);
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof *nfg || nfq_nlmsg_parse(nlh, attr) < 0 ||
	    !attr[NFQA_PACKET_HDR] ||
	    mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof *ph) {
		/* no packet id: no verdict possible; the kernel keeps it
		 * until the queue is unbound, then drops it */
		ev_msg("queue-error", "malformed packet message ignored");
		return;
	}
	queue = ntohs(nfg->res_id);
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	if (attr[NFQA_PAYLOAD]) {
		data = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	if (attr[NFQA_MARK])
		mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));

	memset(&v, 0, sizeof v);
	v.rule = CLASS_NONE;
	v.spi = xfrm_spi_from_mark(mark);
	if (!data) {
		v.accept = false;
		reason = "drop-no-payload";
		headers = false;
	} else if (!e->pol || !e->cls || !e->sas) {
		v.accept = false;
		reason = "drop-no-policy";
		headers = decide_parse(data, len, &v.pkt) == DECIDE_ACCEPT_OK;
	} else if (e->resync) {
		/* the SA cache may be stale: no new flow until the re-dump ends */
		v.accept = false;
		reason = "drop-xfrm-resync";
		headers = decide_parse(data, len, &v.pkt) == DECIDE_ACCEPT_OK;
	} else {
		v = decide(&ctx, data, len, mark, (uint64_t)time(NULL));
		reason = decide_reason_name(v.reason);
		headers = v.reason != DECIDE_DROP_TRUNCATED && v.reason != DECIDE_DROP_MALFORMED;
	}
	send_verdict(e, queue, id, v.accept);
	if (v.accept)
		e->accepted++;
	else
		e->dropped++;
	log_decision(e, &v, reason, headers);
}

/* Walk one buffer read from the queue socket: packets get their verdict;
 * an ack / error for seq is stored in *ack (0 or an errno). */
static void q_walk(struct engine *e, const char *buf, int len, uint32_t seq, int *ack)
{
	const struct nlmsghdr *nlh;

	for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

			if (ack && seq && nlh->nlmsg_seq == seq)
				*ack = mnl_nlmsg_get_payload_len(nlh) >= sizeof *err ? -err->error : EPROTO;
			continue;
		}
		if (nlh->nlmsg_type == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
			q_packet(e, nlh);
	}
}

/* One recv on the queue socket.  1: got something, 0: nothing, -1: fatal. */
static int q_input(struct engine *e, uint32_t seq, int *ack)
{
	ssize_t n = mnl_socket_recvfrom(e->qnl, e->buf, e->buflen);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		if (errno == ENOBUFS) {
			/* the kernel dropped queued packets (fail closed); go on */
			e->q_enobufs++;
			engine_event(json_pack("{s:s, s:s, s:I}", "event", "queue-enobufs",
					       "message", "the queue overran: packets were dropped",
					       "count", (json_int_t)e->q_enobufs));
			return 1;
		}
		ev_msg("queue-error", "recv: %s", strerror(errno));
		return -1;
	}
	q_walk(e, e->buf, (int)n, seq, ack);
	return 1;
}

/* Send a config message and wait for its ack (packets arriving meanwhile
 * are decided).  0 or -1 with errno. */
static int q_config(struct engine *e, struct nlmsghdr *nlh)
{
	int ack = -1;
	time_t deadline = time(NULL) + 5;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL) ^ 0x5a6a0000u;
	if (!nlh->nlmsg_seq)
		nlh->nlmsg_seq = 1;
	if (mnl_socket_sendto(e->qnl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	while (ack < 0) {
		struct pollfd p = { mnl_socket_get_fd(e->qnl), POLLIN, 0 };

		if (time(NULL) > deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			return -1;
		if (q_input(e, nlh->nlmsg_seq, &ack) < 0)
			return -1;
	}
	if (ack) {
		errno = ack;
		return -1;
	}
	return 0;
}

static int q_setup(struct engine *e)
{
	char buf[SMALLBUF];
	struct nlmsghdr *nlh;
	int zero = 0;
	int rcv = 1 << 20;

	e->qnl = mnl_socket_open(NETLINK_NETFILTER);
	if (!e->qnl) {
		ev_msg("error", "NETLINK_NETFILTER socket: %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(e->qnl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ev_msg("error", "bind NETLINK_NETFILTER: %s", strerror(errno));
		return -1;
	}
	e->qportid = mnl_socket_get_portid(e->qnl);
	/* we want to hear about overruns: count and log them */
	mnl_socket_setsockopt(e->qnl, NETLINK_NO_ENOBUFS, &zero, sizeof zero);
	setsockopt(mnl_socket_get_fd(e->qnl), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	if (set_nonblock(e->qnl) < 0) {
		ev_msg("error", "O_NONBLOCK: %s", strerror(errno));
		return -1;
	}

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, e->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (q_config(e, nlh) < 0) {
		ev_msg("error", "bind queue %u: %s%s", e->queue, strerror(errno),
		       errno == EBUSY ? " (another process holds it)" : "");
		return -1;
	}
	e->bound = true;
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, e->queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 256);
	if (q_config(e, nlh) < 0) {
		ev_msg("error", "queue %u parameters: %s", e->queue, strerror(errno));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ life */

int engine_init(struct engine *e, const struct engine_src *src)
{
	memset(e, 0, sizeof *e);
	e->src = *src;
	e->buflen = BUFLEN;
	e->buf = malloc(e->buflen);
	e->sas = xfrm_cache_alloc();
	if (!e->buf || !e->sas) {
		ev_msg("error", "out of memory");
		return -1;
	}
	if (policy_source(src, &e->policy_path, &e->queue) < 0 ||
	    policy_load(e->policy_path, &e->pol, &e->cls) < 0)
		return -1;
	if (xfrm_setup(e) < 0 || q_setup(e) < 0)
		return -1;
	return 0;
}

int engine_run(struct engine *e, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup)
{
	sigset_t none;

	sigemptyset(&none);
	while (!*stop) {
		struct pollfd p[2] = {
			{ mnl_socket_get_fd(e->xnl), POLLIN, 0 },
			{ mnl_socket_get_fd(e->qnl), POLLIN, 0 },
		};
		struct timespec ts = { 1, 0 };
		time_t now;
		int r;

		if (*hup) {
			*hup = 0;
			engine_reload(e);
		}
		start_dump(e);
		r = ppoll(p, 2, &ts, &none);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ev_msg("error", "poll: %s", strerror(errno));
			return -1;
		}
		now = time(NULL);
		log_tick(e, now);
		xfrm_cache_sweep(e->sas, (uint64_t)now, SWEEP_KEEP);
		/* SA changes first: a packet may ride on an SA just announced */
		if (p[0].revents)
			for (int i = 0; i < DRAIN_MAX; i++) {
				r = xfrm_input(e);
				if (r < 0)
					return -1;
				if (r == 0)
					break;
			}
		if (p[1].revents)
			for (int i = 0; i < DRAIN_MAX; i++) {
				r = q_input(e, 0, NULL);
				if (r < 0)
					return -1;
				if (r == 0)
					break;
			}
	}
	return 0;
}

void engine_fini(struct engine *e)
{
	if (e->qnl && e->bound) {
		char buf[SMALLBUF];
		struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, e->queue);

		nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
		if (q_config(e, nlh) < 0)
			fprintf(stderr, "sagated: unbind queue %u: %s\n", e->queue, strerror(errno));
		e->bound = false;
	}
	if (e->pol)
		log_tick(e, time(NULL) + 1);
	if (e->qnl)
		mnl_socket_close(e->qnl);
	if (e->xnl)
		mnl_socket_close(e->xnl);
	classes_free(e->cls);
	policy_free(e->pol);
	xfrm_cache_free(e->sas);
	free(e->policy_path);
	free(e->buf);
	memset(e, 0, sizeof *e);
}
