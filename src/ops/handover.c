/* The client of sagated's control socket: a generation's policy handed
 * to sagated before the kernel switches to it, and what sagated serves
 * compared with what is applied. */
#include "config.h"

#include "estats.h"
#include "handover.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How long sagated may take: a load parses and classifies the policy
 * (seconds for 100,000 rules) after the bank's queues drained. */
#define LOAD_TIMEOUT_MS 60000
#define LIVE_TIMEOUT_MS 10000

int handover_timeout_ms(enum handover_op op)
{
	const char *e = getenv("SAGATE_HANDOVER_TIMEOUT");
	char *end;
	long s;

	if (e && *e) {
		errno = 0;
		s = strtol(e, &end, 10);
		if (!errno && !*end && s >= 1 && s <= 3600)
			return (int)s * 1000;
	}
	return op == HANDOVER_LOAD ? LOAD_TIMEOUT_MS : LIVE_TIMEOUT_MS;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Who may hold the control socket: root, or the user sagated runs as
 * (sagated(8)). */
static bool trusted_uid(uid_t uid)
{
	const struct passwd *pw;

	if (uid == 0)
		return true;
	pw = getpwnam(STATE_READER);
	return pw && pw->pw_uid == uid;
}

/* Connect to sagated.  fd, or -1: *absent when no sagated listens in
 * this network namespace (nothing to hand over), else an error in d. */
static int ctl_connect(bool *absent, struct diag_list *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uid_t uid;
	bool same;
	int fd;

	*absent = false;
	if (handover_socket_path(sa.sun_path, sizeof(sa.sun_path)) < 0) {
		diag_add(d, DIAG_ERROR, estats_run_dir(), "", NULL,
			 "the control socket's path is too long for a unix socket");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		diag_add(d, DIAG_ERROR, sa.sun_path, "", NULL, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		/* no socket, or one a dead sagated left: nobody to ask */
		*absent = err == ENOENT || err == ECONNREFUSED;
		if (!*absent)
			diag_add(d, DIAG_ERROR, sa.sun_path, "", NULL, "cannot reach sagated: %s",
				 strerror(err));
		return -1;
	}
	if (handover_peer(fd, &uid, &same) < 0 || !trusted_uid(uid)) {
		diag_add(d, DIAG_ERROR, sa.sun_path, "", NULL,
			 "the control socket is held by uid %u, neither root nor user %s: not talking to it",
			 (unsigned)uid, STATE_READER);
		close(fd);
		return -1;
	}
	if (!same) {
		/* that sagated serves another namespace's queues, not ours */
		close(fd);
		*absent = true;
		return -1;
	}
	return fd;
}

/* Send req, read the reply line.  0 with *rep, 1 when the answer was
 * lost (timeout, closed, garbled: the outcome is unknown; why says
 * how), -1 when the request could not be sent (sagated did nothing). */
static int ctl_ask(int fd, const struct handover_req *req, int timeout_ms,
		   struct handover_reply *rep, char *why, size_t whylen)
{
	char *line = handover_req_encode(req);
	char buf[HANDOVER_MAX_LINE + 1];
	size_t len = 0, off = 0, n;
	long long deadline = now_ms() + timeout_ms;
	struct diag_list d;
	int rc;

	if (!line) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	n = strlen(line);
	while (off < n) {
		ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			snprintf(why, whylen, "send: %s", strerror(errno));
			free(line);
			/* nothing or part of a line: sagated acts on whole lines only */
			return -1;
		}
		off += (size_t)w;
	}
	free(line);
	while (!memchr(buf, '\n', len)) {
		struct pollfd p = { fd, POLLIN, 0 };
		long long left = deadline - now_ms();
		ssize_t r;

		if (left <= 0) {
			snprintf(why, whylen, "no answer in %d s", timeout_ms / 1000);
			return 1;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			snprintf(why, whylen, "poll: %s", strerror(errno));
			return 1;
		}
		if (!p.revents)
			continue;
		r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(why, whylen, "%s", r < 0 ? strerror(errno) : "sagated closed the connection without an answer");
			return 1;
		}
		len += (size_t)r;
		if (len == sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
			snprintf(why, whylen, "an answer longer than %d bytes", HANDOVER_MAX_LINE);
			return 1;
		}
	}
	diag_list_init(&d);
	rc = handover_reply_decode(buf, (size_t)((char *)memchr(buf, '\n', len) - buf + 1), rep, &d);
	if (rc < 0)
		snprintf(why, whylen, "%s", diag_last(&d));
	diag_list_fini(&d);
	return rc < 0 ? 1 : 0;
}

/* One sentence on what sagated's counters file says it holds, for an
 * answer that was lost. */
static void counters_say(char *buf, size_t len)
{
	char path[4096];
	json_t *j = handover_counters(path, sizeof(path));
	json_t *b;
	size_t i, off;

	if (!j) {
		snprintf(buf, len, "%s cannot be read", path);
		return;
	}
	off = (size_t)snprintf(buf, len, "%s says: sagated %s", path,
			       json_is_true(json_object_get(j, "alive")) ? "running" : "not running");
	json_array_foreach(json_object_get(j, "banks"), i, b) {
		json_t *g = json_object_get(b, "generation");

		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s queue %lld holds %s%lld%s",
				i ? ";" : ",", (long long)json_integer_value(json_object_get(b, "queue")),
				json_is_integer(g) ? "generation " : "no generation", (long long)json_integer_value(g),
				json_is_true(json_object_get(b, "live")) ? " (live)" : "");
	}
	json_decref(j);
}

/* One request to sagated.  0 done, -1 with the error in d. */
static int ask(struct handover *h, int timeout_ms, struct diag_list *d)
{
	const char *what = h->req.op == HANDOVER_LOAD ? "load" : "serve";
	struct handover_reply rep;
	char why[256], said[1024];
	bool absent;
	int fd = ctl_connect(&absent, d), rc;

	if (fd < 0 && absent) {
		h->state = HANDOVER_NO_ENGINE;
		snprintf(h->note, sizeof(h->note),
			 "no sagated listens here: nothing to hand over (new require-ipsec flows are dropped until one starts; it loads generation %u)",
			 h->req.generation);
		return 0;
	}
	if (fd < 0)
		return -1;
	memset(&rep, 0, sizeof(rep));
	rc = ctl_ask(fd, &h->req, timeout_ms, &rep, why, sizeof(why));
	close(fd);
	if (rc < 0) {
		diag_add(d, DIAG_ERROR, "sagated", "", NULL, "cannot ask sagated to %s generation %u: %s",
			 what, h->req.generation, why);
		return -1;
	}
	if (rc > 0) {
		/* unknown outcome: never ask again blindly, say what it serves */
		h->lost = true;
		counters_say(said, sizeof(said));
		diag_add(d, DIAG_ERROR, "sagated", "", NULL,
			 "sagated's answer to \"%s generation %u on queue %u\" was lost (%s); %s",
			 what, h->req.generation, h->req.queue, why, said);
		return -1;
	}
	if (!rep.ok) {
		diag_add(d, DIAG_ERROR, "sagated", "", NULL, "sagated refused to %s generation %u on queue %u: %s",
			 what, h->req.generation, h->req.queue, rep.error);
		handover_reply_fini(&rep);
		return -1;
	}
	handover_reply_fini(&rep);
	return 0;
}

/* The request for generation m of dir (op), in h.  1 when there is one
 * to send, 0 when kernel-only mode needs none, -1 with an error in d. */
static int req_init(struct handover *h, enum handover_op op, const char *dir,
		    const struct state_meta *m, struct diag_list *d)
{
	memset(h, 0, sizeof(*h));
	if (m->mode != PLAN_ENGINE) {
		h->state = HANDOVER_NOTHING;
		return 0;
	}
	h->req = (struct handover_req){ op, m->generation, m->queue,
					m->queue_count ? m->queue_count : 1,
					state_policy_path(dir, m->generation), "" };
	memcpy(h->req.sha256, m->sha256, sizeof(h->req.sha256));
	if (!h->req.policy) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "out of memory");
		return -1;
	}
	if (h->req.policy[0] != '/') {
		/* sagated's working directory is not ours */
		char *abs = realpath(h->req.policy, NULL);

		if (!abs) {
			diag_add(d, DIAG_ERROR, h->req.policy, "", NULL, "%s", strerror(errno));
			return -1;
		}
		free(h->req.policy);
		h->req.policy = abs;
	}
	return 1;
}

int handover_prepare(struct handover *h, const char *dir, const struct state_meta *m,
		     struct diag_list *d)
{
	int rc = req_init(h, HANDOVER_LOAD, dir, m, d);

	if (rc <= 0)
		return rc;
	if (ask(h, handover_timeout_ms(HANDOVER_LOAD), d) < 0)
		return -1;
	if (h->state != HANDOVER_NO_ENGINE)
		h->state = HANDOVER_LOADED;
	return 0;
}

int handover_commit(struct handover *h, struct diag_list *d)
{
	if (h->state != HANDOVER_LOADED)
		return 0;
	h->req.op = HANDOVER_LIVE;
	if (ask(h, handover_timeout_ms(HANDOVER_LIVE), d) < 0)
		return -1;
	if (h->state == HANDOVER_NO_ENGINE) {
		/* it went away after the load: it loads the current one when it starts */
		diag_add(d, DIAG_WARNING, "sagated", "", NULL,
			 "sagated stopped after it loaded generation %u; started again, it serves the current generation",
			 h->req.generation);
		return 0;
	}
	h->state = HANDOVER_SERVING;
	snprintf(h->note, sizeof(h->note), "sagated serves generation %u on queue %u",
		 h->req.generation, h->req.queue);
	return 0;
}

int handover_resume(struct handover *h, const char *dir, const struct state_meta *m,
		    struct diag_list *d)
{
	int rc = req_init(h, HANDOVER_LIVE, dir, m, d);

	if (rc <= 0)
		return rc;
	h->state = HANDOVER_LOADED;
	return handover_commit(h, d);
}

void handover_fini(struct handover *h)
{
	handover_req_fini(&h->req);
}

json_t *handover_counters(char *path, size_t len)
{
	json_t *j, *pid;

	snprintf(path, len, "%s/sagated.json", estats_run_dir());
	j = json_load_file(path, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	pid = json_object_get(j, "pid");
	json_object_set_new(j, "alive", json_boolean(json_is_integer(pid) &&
		json_integer_value(pid) > 0 &&
		(kill((pid_t)json_integer_value(pid), 0) == 0 || errno == EPERM)));
	return j;
}

enum handover_served handover_check(const json_t *counters, const struct state_meta *m,
				    char *why, size_t len)
{
	const json_t *b, *hit = NULL;
	const char *sha;
	size_t i;

	if (m->mode != PLAN_ENGINE)
		return HANDOVER_SERVED;	/* nothing is queued */
	if (!counters || !json_is_true(json_object_get(counters, "alive")) ||
	    strcmp(json_string_value(json_object_get(counters, "state")) ?: "", "running"))
		return HANDOVER_NOT_RUNNING;
	json_array_foreach(json_object_get(counters, "banks"), i, b) {
		json_int_t q = json_integer_value(json_object_get(b, "queue"));
		json_int_t n = json_integer_value(json_object_get(b, "queues"));

		if (m->queue >= q && m->queue < q + n)
			hit = b;
	}
	if (!hit) {
		snprintf(why, len, "generation %u queues to queue %u, which sagated (pid %lld) does not serve",
			 m->generation, m->queue, (long long)json_integer_value(json_object_get(counters, "pid")));
		return HANDOVER_MISMATCH;
	}
	/* a table spreads over its whole range: one bank must be exactly it */
	if (json_integer_value(json_object_get(hit, "queue")) != m->queue ||
	    json_integer_value(json_object_get(hit, "queues")) != (json_int_t)(m->queue_count ? m->queue_count : 1)) {
		json_int_t q = json_integer_value(json_object_get(hit, "queue"));
		json_int_t n = json_integer_value(json_object_get(hit, "queues"));

		snprintf(why, len, "generation %u's table spreads new flows over queues %u-%u, but sagated (pid %lld) serves the bank of queues %lld-%lld: flows queued outside it are dropped (restart sagated without --queue)",
			 m->generation, m->queue, m->queue + (m->queue_count ? m->queue_count : 1) - 1,
			 (long long)json_integer_value(json_object_get(counters, "pid")),
			 (long long)q, (long long)(q + n - 1));
		return HANDOVER_MISMATCH;
	}
	sha = json_string_value(json_object_get(hit, "sha256"));
	b = json_object_get(hit, "generation");
	if (!sha) {
		snprintf(why, len, "sagated holds no policy for queue %u, to which generation %u queues: its flows are dropped",
			 m->queue, m->generation);
		return HANDOVER_MISMATCH;
	}
	if ((json_is_integer(b) && json_integer_value(b) != m->generation) || strcmp(sha, m->sha256)) {
		char by[64];

		if (json_is_integer(b))
			snprintf(by, sizeof(by), "generation %lld", (long long)json_integer_value(b));
		else
			snprintf(by, sizeof(by), "its --policy file");
		snprintf(why, len, "sagated judges queue %u by %s (%s, sha256 %.16s), but generation %u (sha256 %.16s) is applied",
			 m->queue, by, json_string_value(json_object_get(hit, "policy")) ?: "?", sha,
			 m->generation, m->sha256);
		return HANDOVER_MISMATCH;
	}
	return HANDOVER_SERVED;
}
