/* sagate log: the reader of the policy's nflog group.  Each packet a
 * logging rule or a logged default saw becomes one line: a JSON object on
 * standard output, or, under systemd (or with --journal), a journal entry
 * whose fields (SAGATE_RULE, SAGATE_SRC, ...) journalctl can select on.
 * It reads the group of the network namespace it runs in, so it works
 * where the kernel log does not (nf_log_all_netns). */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "nflog_line.h"
#include "nflog_sock.h"
#include "nft_read.h"
#include "state.h"

#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct reader {
	bool journal;
	const char *journal_path;	/* SAGATE_JOURNAL_SOCKET (tests), or the default */
	unsigned long lines, count;	/* written; --count (0: until a signal) */
	int failed;			/* errno of a write that failed */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* stdout is the journal's stream (systemd sets JOURNAL_STREAM to its
 * device:inode): then the journal gets structured entries instead */
static bool stdout_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	return js && sscanf(js, "%lu:%lu", &dev, &ino) == 2 && fstat(1, &st) == 0 &&
	       (unsigned long)st.st_dev == dev && (unsigned long)st.st_ino == ino;
}

static int emit(struct reader *rd, json_t *j, const char *msg)
{
	char *buf;
	size_t len;
	int rc = 0;

	if (rd->journal) {
		if (!(buf = nflog_line_journal(j, msg, &len)))
			return -1;
		if (nflog_journal_send(rd->journal_path, buf, len) < 0)
			rc = -1;
		free(buf);
	} else {
		char stamp[40];
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp), ".%03ldZ",
			 ts.tv_nsec / 1000000);
		json_object_set_new(j, "time", json_string(stamp));
		if (json_dumpf(j, stdout, JSON_COMPACT) < 0 || fputc('\n', stdout) == EOF ||
		    fflush(stdout) == EOF)
			rc = -1;
	}
	return rc;
}

static int on_rec(const struct nflog_rec *r, void *data)
{
	struct reader *rd = data;
	char in[IF_NAMESIZE], out[IF_NAMESIZE], msg[512];
	const char *inp = r->indev && if_indextoname(r->indev, in) ? in : NULL;
	const char *outp = r->outdev && if_indextoname(r->outdev, out) ? out : NULL;
	json_t *j = nflog_line_json(r, inp, outp);
	int rc;

	if (!j) {
		rd->failed = ENOMEM;
		return 1;
	}
	nflog_line_text(msg, sizeof(msg), r, inp, outp);
	rc = emit(rd, j, msg);
	json_decref(j);
	if (rc < 0) {
		rd->failed = errno ? errno : EIO;
		return 1;
	}
	rd->lines++;
	return rd->count && rd->lines >= rd->count ? 2 : 0;
}

/* The group: --group, else the policy FILE's, else the applied policy's,
 * else the default (sagate.json(5), "logging"). */
static int pick_group(const struct cli_opts *o, const char *file, uint16_t *group)
{
	struct loaded l;
	struct state_meta m;
	int rc;

	*group = POLICY_LOG_GROUP;
	if (o->log_group >= 0) {
		*group = (uint16_t)o->log_group;
		return EXIT_OK;
	}
	/* a state directory it may not read is no "nothing applied": the
	 * policy's group would silently be the wrong one */
	if (!file && access(state_dir(), R_OK | X_OK) < 0 && errno != ENOENT) {
		fprintf(stderr, "sagate log: cannot read the state directory %s: %s (or name the group: --group N)\n",
			state_dir(), strerror(errno));
		return EXIT_SYSTEM;
	}
	if (!file && !state_generation(state_dir(), STATE_CURRENT))
		return EXIT_OK;
	rc = cli_load_either(o, file, false, &l, &m);
	if (rc == EXIT_OK)
		*group = l.pol->logging.group;
	else
		cli_print_errors(stderr, &l.diags);
	cli_unload(&l);
	state_meta_fini(&m);
	return rc;
}

int cli_log(const struct cli_opts *o, const char *file)
{
	struct reader rd = { .journal = o->journal || stdout_is_journal(),
			     .journal_path = getenv("SAGATE_JOURNAL_SOCKET"), .count = o->count };
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long lost = 0, bad = 0, lost_seen = 0;
	struct nflog_sock *s;
	uint16_t group;
	int rc;

	if ((rc = pick_group(o, file, &group)) != EXIT_OK)
		return rc;
	if (!(s = nflog_sock_open(group))) {
		int e = errno;
		/* the kernel says EPERM for a group bound by another process too */
		bool taken = e == EPERM && nflog_group_has_reader(group) == 1;

		fprintf(stderr, "sagate log: cannot read nflog group %u: %s%s\n", group,
			taken ? "another process reads it (one reader per group and network namespace)" :
			strerror(e),
			!taken && e == EPERM ? " (needs CAP_NET_ADMIN in this network namespace)" : "");
		return EXIT_SYSTEM;
	}
	/* no SA_RESTART: a signal ends the wait in recv */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "sagate log: reading nflog group %u, lines to %s\n", group,
		rd.journal ? "the journal" : "standard output");
	rc = 0;
	while (!stop && rc == 0) {
		rc = nflog_sock_read(s, on_rec, &rd, &lost, &bad);
		if (rc < 0 && (errno == EINTR || errno == ENOBUFS))
			rc = 0;
		if (lost != lost_seen) {
			/* the kernel had more than this reader took: say so where
			 * the lines go, so a gap in them is never silent */
			json_t *j = json_pack("{s:s, s:i, s:i}", "event", "lines-lost", "reports",
					      (int)lost, "group", (int)group);

			lost_seen = lost;
			fprintf(stderr, "sagate log: the kernel dropped log lines of group %u (reader too slow; %lu times)\n",
				group, lost);
			if (j)
				emit(&rd, j, "log lines lost: the reader was too slow");
			json_decref(j);
		}
	}
	nflog_sock_close(s);
	if (bad)
		fprintf(stderr, "sagate log: %lu malformed nflog messages skipped\n", bad);
	if (rc == 1) {
		fprintf(stderr, "sagate log: cannot write a line: %s\n", strerror(rd.failed));
		return EXIT_SYSTEM;
	}
	if (rc < 0) {
		fprintf(stderr, "sagate log: reading nflog group %u: %s\n", group, strerror(errno));
		return EXIT_SYSTEM;
	}
	return EXIT_OK;
}

/* --- what status says about logging ------------------------------------- */

#define LOST_PREFIX "log lines lost to the rate: "

static bool policy_logs(const struct policy *p)
{
	bool logs = false;

	for (size_t i = 0; p && i < p->nrules; i++)
		logs |= p->rules[i].log;
	for (int i = 0; p && i < DIR_COUNT; i++)
		logs |= p->log_default[i];
	return logs;
}

int cli_log_warn_unread(const struct policy *p, struct diag_list *d)
{
	int reader;

	if (!policy_logs(p))
		return -2;
	reader = nflog_group_has_reader(p->logging.group);
	/* nflog lines nobody reads are gone: never silently */
	if (reader == 0)
		diag_add(d, DIAG_WARNING, "logging", "", NULL,
			 "the policy logs to nflog group %u, but nothing in this network namespace reads it: its log lines are lost (run `sagate log`, or enable sagate-log.service)",
			 p->logging.group);
	return reader;
}

json_t *cli_log_state(const struct policy *p, const struct nft_live *live, struct diag_list *d)
{
	uint64_t lost = 0;
	int reader = cli_log_warn_unread(p, d);

	if (reader == -2)
		return NULL;
	for (size_t i = 0; i < live->nrules; i++)
		if (live->rules[i].comment &&
		    strncmp(live->rules[i].comment, LOST_PREFIX, strlen(LOST_PREFIX)) == 0)
			lost += live->rules[i].packets;
	return json_pack("{s:i, s:o, s:I}", "group", (int)p->logging.group,
			 "reader", reader < 0 ? json_null() : json_boolean(reader),
			 "lost_to_rate", (json_int_t)lost);
}

void cli_log_state_print(const json_t *j)
{
	const json_t *r = json_object_get(j, "reader");

	if (!j)
		return;
	printf("logging:   nflog group %lld, %s; %lld lines lost to the log rate\n",
	       (long long)json_integer_value(json_object_get(j, "group")),
	       json_is_true(r) ? "read here" : json_is_false(r) ? "NOT READ: lines are lost" :
	       "reader unknown", (long long)json_integer_value(json_object_get(j, "lost_to_rate")));
}
