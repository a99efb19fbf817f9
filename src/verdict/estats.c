#include "config.h"

#include "estats.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const engine_reasons[] = {
	[ESTATS_DROP_NO_PAYLOAD - DECIDE_REASON_COUNT] = "drop-no-payload",
	[ESTATS_DROP_NO_POLICY - DECIDE_REASON_COUNT] = "drop-no-policy",
	[ESTATS_DROP_RESYNC - DECIDE_REASON_COUNT] = "drop-xfrm-resync",
};

const char *estats_reason_name(unsigned r)
{
	if (r < DECIDE_REASON_COUNT)
		return decide_reason_name((enum decide_reason)r);
	if (r < ESTATS_REASONS)
		return engine_reasons[r - DECIDE_REASON_COUNT];
	return "drop-unknown-reason";
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void estats_sum(struct estats *sum, const struct estats *one)
{
	for (unsigned r = 0; r < ESTATS_REASONS; r++)
		sum->by_reason[r] += LOAD(one->by_reason[r]);
	sum->verdict_msgs += LOAD(one->verdict_msgs);
	sum->verdict_errors += LOAD(one->verdict_errors);
	sum->q_enobufs += LOAD(one->q_enobufs);
}

static json_t *drops_json(const struct estats *s, uint64_t *total)
{
	json_t *d = json_object();

	*total = 0;
	for (unsigned r = 0; d && r < ESTATS_REASONS; r++) {
		if (r == DECIDE_ACCEPT_OK)
			continue;
		*total += s->by_reason[r];
		if (json_object_set_new(d, estats_reason_name(r),
					json_integer((json_int_t)s->by_reason[r])) < 0) {
			json_decref(d);
			return NULL;
		}
	}
	return d;
}

static json_t *opt_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *estats_json(const struct estats *s, const struct estats_info *i)
{
	uint64_t dropped;
	json_t *drops = drops_json(s, &dropped);

	if (!drops)
		return NULL;
	return json_pack("{s:i, s:I, s:s, s:I, s:I, s:{s:i, s:i}, s:b, s:o, s:o,"
			 " s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "version", 1, "pid", (json_int_t)i->pid,
			 "state", i->stopped ? "stopped" : "running",
			 "started", (json_int_t)i->started, "updated", (json_int_t)i->now,
			 "queues", "first", (int)i->queue_first, "count", (int)i->queue_count,
			 "fail_open", i->fail_open,
			 "policy", opt_str(i->policy), "sha256", opt_str(i->sha256),
			 "packets", (json_int_t)(s->by_reason[DECIDE_ACCEPT_OK] + dropped),
			 "accepted", (json_int_t)s->by_reason[DECIDE_ACCEPT_OK],
			 "dropped", (json_int_t)dropped, "drops", drops,
			 "verdict_messages", (json_int_t)s->verdict_msgs,
			 "verdict_errors", (json_int_t)s->verdict_errors,
			 "queue_enobufs", (json_int_t)s->q_enobufs,
			 "xfrm_enobufs", (json_int_t)i->x_enobufs,
			 "sas", (json_int_t)i->sas,
			 "log_lines_lost", (json_int_t)i->log_lost);
}

const char *estats_run_dir(void)
{
	const char *d = getenv("SAGATE_RUN_DIR");

	return d && *d ? d : "/run/sagate";
}

int estats_write(const char *dir, const char *name, const json_t *j)
{
	char path[4096];
	char *s;
	int rc, err;
	size_t len;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -1;
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	len = strlen(s);
	s[len] = '\n';	/* over the NUL: one line, written whole */
	/* made again every second: no fsync */
	rc = write_file_atomic(path, s, len + 1, 0644, false, NULL);
	err = errno;
	free(s);
	errno = err;
	return rc;
}
