/* sagated's control socket: the server side of the handover (handover.h).
 * `sagate apply` asks it to load a generation's policy into the bank of
 * queues the new table will use, before the kernel switches, and then
 * says the bank is live.  Served by the main thread, one client at a
 * time, one request per connection. */
#include "config.h"

#include "engine_int.h"
#include "handover.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 2		/* a client sends its line at once */
#define DRAIN_MS 3000		/* packets a bank's old table queued: their verdicts */

static const char *run_dir(const struct engine *e)
{
	return e->src.run_dir ? e->src.run_dir : estats_run_dir();
}

int engine_ctl_open(struct engine *e, struct diag_list *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *dir = run_dir(e);
	struct stat st;
	mode_t old;
	int fd, probe;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, HANDOVER_SOCKET) >=
	    sizeof(sa.sun_path))
		return engine_fail(d, "", "%s/%s: too long for a unix socket", dir, HANDOVER_SOCKET);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return engine_fail(d, "", "cannot create %s: %s", dir, strerror(errno));
	/* a socket that answers is another sagated's; one that does not is a
	 * dead one's */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		return engine_fail(d, "", "another sagated listens on %s: one sagated per run directory (SAGATE_RUN_DIR)",
				   sa.sun_path);
	}
	if (probe >= 0)
		close(probe);
	if (unlink(sa.sun_path) < 0 && errno != ENOENT)
		return engine_fail(d, "", "cannot remove the stale %s: %s", sa.sun_path, strerror(errno));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return engine_fail(d, "", "control socket: %s", strerror(errno));
	/* root's alone from the start: no moment of a wider mode (the queue
	 * threads have not started: the umask is still ours alone) */
	old = umask(0077);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		close(fd);
		return engine_fail(d, "", "bind %s: %s", sa.sun_path, strerror(errno));
	}
	umask(old);
	if (chmod(sa.sun_path, 0600) < 0 || listen(fd, 8) < 0 || stat(sa.sun_path, &st) < 0) {
		engine_fail(d, "", "%s: %s", sa.sun_path, strerror(errno));
		close(fd);
		unlink(sa.sun_path);
		return -1;
	}
	e->ctl_fd = fd;
	e->ctl_ino = (unsigned long long)st.st_ino;
	snprintf(e->ctl_path, sizeof(e->ctl_path), "%s", sa.sun_path);
	return 0;
}

void engine_ctl_close(struct engine *e)
{
	struct stat st;

	if (e->ctl_fd < 0)
		return;
	close(e->ctl_fd);
	e->ctl_fd = -1;
	/* a later sagated may have taken the name over */
	if (stat(e->ctl_path, &st) == 0 && (unsigned long long)st.st_ino == e->ctl_ino)
		unlink(e->ctl_path);
}

/* Queues of bank b with packets waiting for our verdict. */
static unsigned busy_queues(const struct engine *e, unsigned b)
{
	unsigned n = 0;

	for (unsigned i = 0; e->q && i < e->nqueues; i++)
		n += !eq_idle(&e->q[b * e->nqueues + i]);
	return n;
}

/* Wait until the packets an earlier table queued to bank b have their
 * verdicts (by the policy still loaded there): only then may another
 * policy take the bank.  0, or -1 with the reason in why. */
static int drain(const struct engine *e, unsigned b, char *why, size_t len)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	unsigned n = 0;

	for (int i = 0; i < DRAIN_MS / 10; i++) {
		n = busy_queues(e, b);
		if (n == 0)
			return 0;
		nanosleep(&nap, NULL);
	}
	snprintf(why, len, "%u queue(s) from %u still hold packets of the table that used them before, after %d s: does a table still queue there?",
		 n, e->bank[b].first, DRAIN_MS / 1000);
	return -1;
}

/* The bank that is exactly the request's, or -1 with why. */
static int req_bank(const struct engine *e, const struct handover_req *r, char *why, size_t len)
{
	for (unsigned i = 0; i < ENGINE_BANKS; i++)
		if (e->bank[i].first == r->queue && r->queues == e->nqueues)
			return (int)i;
	if (r->queues != e->nqueues) {
		/* another --queues: the live table's bank stays served by a
		 * sagated restarted with banks of the new size */
		snprintf(why, len, "this sagated serves banks of %u queue(s) (%u-%u and %u-%u), the new table spreads over %u (%u-%u): restart it with --queue %u-%u, then apply again (or apply with --queues %u)",
			 e->nqueues, e->bank[0].first, e->bank[0].first + e->nqueues - 1,
			 e->bank[1].first, e->bank[1].first + e->nqueues - 1, r->queues, r->queue,
			 r->queue + r->queues - 1, e->queue, e->queue + r->queues - 1, e->nqueues);
		return -1;
	}
	snprintf(why, len, "this sagated serves the banks of queues %u-%u and %u-%u, not %u-%u: start it with --queue %u (or apply with --queue %u)",
		 e->bank[0].first, e->bank[0].first + e->nqueues - 1, e->bank[1].first,
		 e->bank[1].first + e->nqueues - 1, r->queue, r->queue + r->queues - 1,
		 r->queue, e->queue);
	return -1;
}

/* Load r's generation into bank b.  0, or -1 with why (and the policy's
 * own errors in d). */
static int load(struct engine *e, unsigned b, const struct handover_req *r,
		struct diag_list *d, char *why, size_t len)
{
	if (engine_bank_load(e, b, r->policy, r->generation, r->sha256, true, d) < 0) {
		snprintf(why, len, "%s", diag_last(d));
		return -1;
	}
	engine_event(json_pack("{s:s, s:I, s:i, s:s, s:s, s:I}", "event", "handover-loaded",
			       "generation", (json_int_t)r->generation, "queue", (int)r->queue,
			       "policy", r->policy, "sha256", r->sha256,
			       "rules", (json_int_t)e->bank[b].pol->nrules));
	return 0;
}

/* Carry out one request.  0, or -1 with why. */
static int handle(struct engine *e, const struct handover_req *r, struct diag_list *d,
		  char *why, size_t len)
{
	int b = req_bank(e, r, why, len);

	if (b < 0)
		return -1;
	if (r->op == HANDOVER_LOAD)
		return drain(e, (unsigned)b, why, len) < 0 ? -1 : load(e, (unsigned)b, r, d, why, len);
	/* live: normally loaded already; a sagated (re)started since the load
	 * loads it now (the bank's packets were dropped meanwhile) */
	if ((e->bank[b].generation != r->generation || strcmp(e->bank[b].sha256, r->sha256) ||
	     !e->bank[b].pol) && load(e, (unsigned)b, r, d, why, len) < 0)
		return -1;
	e->live = b;
	/* what the old table queued before the switch gets its verdict (by
	 * the old policy) before the apply returns: after that, every
	 * verdict is the new policy's */
	for (unsigned i = 0; i < ENGINE_BANKS; i++)
		if (i != (unsigned)b && drain(e, i, why, len) < 0)
			return -1;
	engine_event(json_pack("{s:s, s:I, s:i}", "event", "handover-live",
			       "generation", (json_int_t)r->generation, "queue", (int)r->queue));
	return 0;
}

/* Read one line from cfd into buf (NUL-terminated).  Its length, or -1. */
static ssize_t read_line(int cfd, char *buf, size_t size)
{
	size_t len = 0;

	while (len < size - 1) {
		ssize_t n = recv(cfd, buf + len, size - 1 - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	return memchr(buf, '\n', len) ? (ssize_t)len : -1;
}

static void reply(int cfd, const struct handover_reply *rep, struct diag_list *d)
{
	char *line = handover_reply_encode(rep);

	if (!line || send(cfd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line))
		engine_fail(d, "", "control socket: the answer could not be sent: %s",
			    line ? strerror(errno) : "out of memory");
	free(line);
}

void engine_ctl_serve(struct engine *e, struct diag_list *d)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	struct handover_req req;
	struct handover_reply rep = { 0 };
	struct diag_list rd;
	char buf[HANDOVER_MAX_LINE + 1], why[512];
	uid_t uid;
	bool same;
	ssize_t n;
	int cfd = accept4(e->ctl_fd, NULL, NULL, SOCK_CLOEXEC);

	if (cfd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
			engine_fail(d, "", "control socket: accept: %s", strerror(errno));
		return;
	}
	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&req, 0, sizeof(req));
	diag_list_init(&rd);
	if (handover_peer(cfd, &uid, &same) < 0 || uid != 0) {
		snprintf(why, sizeof(why), "root only");
	} else if (!same) {
		snprintf(why, sizeof(why), "this sagated serves the queues of another network namespace");
	} else if ((n = read_line(cfd, buf, sizeof(buf))) < 0) {
		engine_fail(d, "", "control socket: no whole request within %d s", IO_TIMEOUT_S);
		close(cfd);
		return;
	} else if (handover_req_decode(buf, (size_t)n, &req, &rd) < 0) {
		snprintf(why, sizeof(why), "%s", diag_last(&rd));
		diag_list_fini(&rd);	/* said once, in the refusal */
		diag_list_init(&rd);
	} else if (handle(e, &req, &rd, why, sizeof(why)) == 0) {
		rep = (struct handover_reply){ true, NULL, req.generation, req.queue };
	}
	if (!rep.ok) {
		rep.error = why;
		engine_event(json_pack("{s:s, s:s, s:I, s:i}", "event", "handover-refused",
				       "message", why, "generation", (json_int_t)req.generation,
				       "queue", (int)req.queue));
	}
	/* the counters file says what we serve before the client hears it */
	engine_write_counters(e, false, d);
	reply(cfd, &rep, d);
	close(cfd);
	for (size_t i = 0; i < rd.count; i++)
		diag_add(d, rd.items[i].severity, rd.items[i].file, "", NULL, "%s",
			 rd.items[i].message ? rd.items[i].message : "out of memory");
	diag_list_fini(&rd);
	handover_req_fini(&req);
}
