/* The control socket's messages, the choice of a queue bank, and the
 * check of who is at the other end: the half of the handover that
 * sagated links too. */
#include "config.h"

#include "estats.h"
#include "handover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

static const char *const op_names[] = { "load", "live" };

static char *line_of(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	size_t n = s ? strlen(s) : 0;
	char *nl = s ? realloc(s, n + 2) : NULL;

	json_decref(j);
	if (!nl) {
		free(s);
		return NULL;
	}
	nl[n] = '\n';
	nl[n + 1] = '\0';
	return nl;
}

/* The object of one line; NULL with an error in d. */
static json_t *object_of(const char *line, size_t len, struct diag_list *d)
{
	json_error_t err;
	json_t *j;

	if (len > HANDOVER_MAX_LINE) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "message of %zu bytes: longer than %d", len,
			 HANDOVER_MAX_LINE);
		return NULL;
	}
	if (len && line[len - 1] == '\n')
		len--;
	j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(j)) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "bad message: %s",
			 j ? "not an object" : err.text);
		json_decref(j);
		return NULL;
	}
	if (json_integer_value(json_object_get(j, "v")) != HANDOVER_VERSION ||
	    !json_is_integer(json_object_get(j, "v"))) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "message of another protocol version (want %d)",
			 HANDOVER_VERSION);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* An integer member of j in [lo, hi] into *v; 0 or -1. */
static int int_in(const json_t *j, const char *key, json_int_t lo, json_int_t hi, json_int_t *v)
{
	const json_t *x = json_object_get(j, key);

	if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
		return -1;
	*v = json_integer_value(x);
	return 0;
}

static bool is_digest(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

char *handover_req_encode(const struct handover_req *r)
{
	return line_of(json_pack("{s:i, s:s, s:I, s:i, s:i, s:s, s:s}", "v", HANDOVER_VERSION,
				 "op", op_names[r->op], "generation", (json_int_t)r->generation,
				 "queue", (int)r->queue, "queues", (int)r->queues,
				 "policy", r->policy ? r->policy : "", "sha256", r->sha256));
}

int handover_req_decode(const char *line, size_t len, struct handover_req *r,
			struct diag_list *d)
{
	json_t *j = object_of(line, len, d);
	const char *op, *policy, *sha;
	json_int_t gen, q, n;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (!j)
		return -1;
	op = json_string_value(json_object_get(j, "op"));
	policy = json_string_value(json_object_get(j, "policy"));
	sha = json_string_value(json_object_get(j, "sha256"));
	if (!op || (strcmp(op, "load") && strcmp(op, "live")))
		diag_add(d, DIAG_ERROR, "", "", NULL, "bad request: \"op\" must be \"load\" or \"live\"");
	else if (int_in(j, "generation", 1, UINT32_MAX, &gen) < 0)
		diag_add(d, DIAG_ERROR, "", "", NULL, "bad request: \"generation\" must be 1 or more");
	else if (int_in(j, "queue", 0, 65535, &q) < 0 ||
		 int_in(j, "queues", 1, HANDOVER_MAX_QUEUES, &n) < 0 || q + 2 * n - 1 > 65535)
		diag_add(d, DIAG_ERROR, "", "", NULL, "bad request: \"queue\" and \"queues\" must name a bank within 0-65535");
	else if (!policy || policy[0] != '/' || strlen(policy) >= 4096)
		diag_add(d, DIAG_ERROR, "", "", NULL, "bad request: \"policy\" must be an absolute path");
	else if (!is_digest(sha))
		diag_add(d, DIAG_ERROR, "", "", NULL, "bad request: \"sha256\" must be 64 hex digits");
	else if (!(r->policy = strdup(policy)))
		diag_add(d, DIAG_ERROR, "", "", NULL, "out of memory");
	else {
		r->op = strcmp(op, "load") ? HANDOVER_LIVE : HANDOVER_LOAD;
		r->generation = (unsigned)gen;
		r->queue = (uint16_t)q;
		r->queues = (unsigned)n;
		memcpy(r->sha256, sha, 65);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

void handover_req_fini(struct handover_req *r)
{
	free(r->policy);
	memset(r, 0, sizeof(*r));
}

char *handover_reply_encode(const struct handover_reply *r)
{
	if (!r->ok)
		return line_of(json_pack("{s:i, s:b, s:s}", "v", HANDOVER_VERSION, "ok", 0,
					 "error", r->error ? r->error : "refused"));
	return line_of(json_pack("{s:i, s:b, s:I, s:i}", "v", HANDOVER_VERSION, "ok", 1,
				 "generation", (json_int_t)r->generation, "queue", (int)r->queue));
}

int handover_reply_decode(const char *line, size_t len, struct handover_reply *r,
			  struct diag_list *d)
{
	json_t *j = object_of(line, len, d);
	const json_t *ok;
	const char *err;
	json_int_t gen, q;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (!j)
		return -1;
	ok = json_object_get(j, "ok");
	err = json_string_value(json_object_get(j, "error"));
	if (json_is_false(ok) && err) {
		r->error = strdup(err);
		rc = r->error ? 0 : -1;
		if (rc < 0)
			diag_add(d, DIAG_ERROR, "", "", NULL, "out of memory");
	} else if (json_is_true(ok) && int_in(j, "generation", 1, UINT32_MAX, &gen) == 0 &&
		   int_in(j, "queue", 0, 65535, &q) == 0) {
		r->ok = true;
		r->generation = (unsigned)gen;
		r->queue = (uint16_t)q;
		rc = 0;
	} else {
		diag_add(d, DIAG_ERROR, "", "", NULL, "bad reply: neither \"ok\" with a generation and queue nor an \"error\"");
	}
	json_decref(j);
	return rc;
}

void handover_reply_fini(struct handover_reply *r)
{
	free(r->error);
	memset(r, 0, sizeof(*r));
}

int handover_bank(uint16_t base, unsigned count, const struct state_meta *live,
		  uint16_t *queue, struct diag_list *d)
{
	unsigned b = base;

	if (!count)
		count = 1;
	if (b + 2 * count - 1 > 65535) {
		diag_add(d, DIAG_ERROR, "", "", NULL,
			 "queue %u: its second bank (queues %u-%u) would pass 65535; sagated needs both to hand a policy over without a gap",
			 b, b + count, b + 2 * count - 1);
		return -1;
	}
	*queue = base;
	/* only a live engine table of the same banks occupies one of ours */
	if (live && live->mode == PLAN_ENGINE && live->queue >= b && live->queue < b + count)
		*queue = (uint16_t)(b + count);
	return 0;
}

int handover_socket_path(char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", estats_run_dir(), HANDOVER_SOCKET) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int handover_peer(int fd, uid_t *uid, bool *same_netns)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	struct stat mine, theirs;
	char path[64];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
		return -1;
	*uid = cr.uid;
	snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)cr.pid);
	*same_netns = cr.pid <= 0 || stat("/proc/self/ns/net", &mine) < 0 || stat(path, &theirs) < 0 ||
		      (mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino);
	return 0;
}
