/* sagated: the verdict engine for require-ipsec flows queued by sagate's
 * ruleset in engine mode.
 *
 *   sagated [--policy FILE] [--queue N|N-M] [--rcvbuf BYTES]
 *           [--queue-maxlen N] [--fail-open] [--user NAME] [--vici PATH|none]
 *   sagated --identities [--vici PATH]
 *
 * Without --policy it serves the generation `sagate apply` made current
 * (its policy bundle, and the queue number from its meta).  One JSON line
 * per decision and per event on stdout; {"event":"ready",...} (and
 * READY=1 to systemd) once the SAs are dumped and the queues bound.
 * SIGTERM / SIGINT: unbind and exit 0.  SIGHUP: reload the policy (the
 * old one stays on error).  Counters: RUN_DIR/sagated.json.  Started as
 * root it reads its policy, then becomes user sagated with CAP_NET_ADMIN
 * alone (creds.h) before it opens a socket.  Its log is written by a
 * thread of its own (elog.h): a slow reader never delays a verdict.
 *
 * It follows charon's vici socket (--vici, engine_vici.h) for the IKE
 * identity of each SA.  --identities does only that, without a policy or
 * queues, logging the whole identity map at each change, until a signal.
 *
 * Exit status: 0 stopped by a signal, 1 policy error, 2 usage, 3 system.
 */
#include "config.h"

#include "creds.h"
#include "engine.h"
#include "engine_vici.h"
#include "qrange.h"
#include "sdnotify.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_req, hup_req;

static void on_stop(int sig)
{
	(void)sig;
	stop_req = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	hup_req = 1;
}

static void usage(FILE *f)
{
	fputs("usage: sagated [OPTION]...\n"
	      "  -p, --policy FILE     serve this policy (default: the applied generation)\n"
	      "  -q, --queue N|N-M     NFQUEUE number, or a range: one thread per queue\n"
	      "                        (default: from the applied generation, or 0)\n"
	      "      --rcvbuf BYTES    receive buffer of each queue socket (default 1048576)\n"
	      "      --queue-maxlen N  packets the kernel holds per queue (default: kernel's, 1024)\n"
	      "      --fail-open       the kernel ACCEPTS packets that overflow the queue,\n"
	      "                        unchecked (default: they are dropped)\n"
	      "  -u, --user NAME       started as root, run as this user (default: sagated)\n"
	      "      --vici PATH|none  charon's vici socket, for the SAs' IKE identities\n"
	      "                        (default " ENGINE_VICI_DEFAULT ")\n"
	      "      --identities      only follow the vici socket and log the identity\n"
	      "                        of every SA at each change, until a signal\n"
	      "  -h, --help            show this help\n"
	      "Counters: $SAGATE_RUN_DIR/sagated.json (default /run/sagate), every second.\n",
	      f);
}

/* A decimal between lo and hi. */
static int parse_num(const char *s, unsigned long lo, unsigned long hi, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno || *end || *v < lo || *v > hi ? -1 : 0;
}

enum { OPT_RCVBUF = 256, OPT_MAXLEN, OPT_FAIL_OPEN, OPT_VICI, OPT_IDENTITIES };

/* A blocked log gets this long to take what is queued at exit. */
#define LOG_STOP_MS 2000

/* 0 parsed, 1 --help, -1 usage error (printed). */
static int parse_args(int argc, char **argv, struct engine_src *src, const char **user,
		      bool *identities)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "queue", required_argument, NULL, 'q' },
		{ "rcvbuf", required_argument, NULL, OPT_RCVBUF },
		{ "queue-maxlen", required_argument, NULL, OPT_MAXLEN },
		{ "fail-open", no_argument, NULL, OPT_FAIL_OPEN },
		{ "user", required_argument, NULL, 'u' },
		{ "vici", required_argument, NULL, OPT_VICI },
		{ "identities", no_argument, NULL, OPT_IDENTITIES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	uint16_t first;
	int c;

	while ((c = getopt_long(argc, argv, "p:q:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			src->policy = optarg;
			break;
		case 'q':
			if (qrange_parse(optarg, &first, &src->nqueues) < 0) {
				fprintf(stderr, "sagated: bad queue '%s' (N or N-M, 0-65535, at most %d queues)\n",
					optarg, QRANGE_MAX);
				return -1;
			}
			src->queue = first;
			break;
		case OPT_RCVBUF:
			if (parse_num(optarg, 4096, INT_MAX, &v) < 0) {
				fprintf(stderr, "sagated: bad --rcvbuf '%s' (bytes, 4096-%d)\n", optarg, INT_MAX);
				return -1;
			}
			src->rcvbuf = (int)v;
			break;
		case OPT_MAXLEN:
			if (parse_num(optarg, 1, UINT32_MAX, &v) < 0) {
				fprintf(stderr, "sagated: bad --queue-maxlen '%s'\n", optarg);
				return -1;
			}
			src->queue_maxlen = (uint32_t)v;
			break;
		case OPT_FAIL_OPEN:
			src->fail_open = true;
			break;
		case 'u':
			*user = optarg;
			break;
		case OPT_VICI:
			if (!*optarg || (strcmp(optarg, "none") && optarg[0] != '/')) {
				fprintf(stderr, "sagated: bad --vici '%s' (an absolute socket path, or none)\n",
					optarg);
				return -1;
			}
			src->vici = strcmp(optarg, "none") ? optarg : NULL;
			break;
		case OPT_IDENTITIES:
			*identities = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	if (*identities && !src->vici) {
		fprintf(stderr, "sagated: --identities needs a vici socket (not --vici none)\n");
		return -1;
	}
	return 0;
}

/* Signals are only delivered while engine_run waits in ppoll; the queue
 * threads inherit the blocked mask and never see them. */
static void signals_setup(void)
{
	struct sigaction sa;
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void stopped_event(const struct engine *e)
{
	struct estats s;
	uint64_t dropped = 0;

	engine_counters(e, &s);
	for (unsigned r = 0; r < ESTATS_REASONS; r++)
		if (r != DECIDE_ACCEPT_OK)
			dropped += s.by_reason[r];
	engine_event(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "event", "stopped",
			       "accepted", (json_int_t)s.by_reason[DECIDE_ACCEPT_OK],
			       "dropped", (json_int_t)dropped,
			       "verdict_messages", (json_int_t)s.verdict_msgs,
			       "queue_enobufs", (json_int_t)s.q_enobufs,
			       "xfrm_enobufs", (json_int_t)e->x_enobufs,
			       "log_lines_lost", (json_int_t)engine_log_lost()));
}

/* Exit with rc once the log has been written (or given up on). */
static int finish(int rc)
{
	engine_log_stop(LOG_STOP_MS);
	return rc;
}

/* --identities: the vici follower alone, as root or whoever starts it. */
static int identities(const char *path)
{
	pthread_rwlock_t lock;
	struct engine_vici *v;
	sigset_t none;

	pthread_rwlock_init(&lock, NULL);
	v = engine_vici_start(path, &lock, true);
	if (!v) {
		fprintf(stderr, "sagated: cannot start the vici follower: %s\n", strerror(errno));
		pthread_rwlock_destroy(&lock);
		return finish(3);
	}
	sigemptyset(&none);
	while (!stop_req)
		sigsuspend(&none);
	engine_vici_stop(v);
	pthread_rwlock_destroy(&lock);
	return finish(0);
}

int main(int argc, char **argv)
{
	struct engine_src src = { .queue = -1, .vici = ENGINE_VICI_DEFAULT };
	struct diag_list d;
	const struct engine_bank *lb;
	const char *user = NULL;
	bool only_identities = false;
	char who[96] = "";
	struct engine e;
	int rc;

	rc = parse_args(argc, argv, &src, &user, &only_identities);
	if (rc)
		return rc > 0 ? 0 : 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signals_setup();
	rc = engine_log_start();
	if (rc) {
		fprintf(stderr, "sagated: cannot start the log thread: %s\n", strerror(rc));
		return 3;
	}
	if (only_identities)
		return identities(src.vici);

	diag_list_init(&d);
	rc = engine_init(&e, &src, &d);
	engine_log_diags(&d);
	/* the policy is read; from now on CAP_NET_ADMIN is all we hold */
	if (rc == 0 && creds_drop(user, src.run_dir ? src.run_dir : estats_run_dir(), who,
				  sizeof(who), &d) < 0) {
		engine_log_diags(&d);
		engine_stop(&e, &d);
		engine_log_diags(&d);
		engine_fini(&e);
		return finish(3);
	}
	engine_log_diags(&d);
	if (rc == 0)
		rc = engine_open(&e, &d);
	if (rc < 0) {
		rc = e.bank[0].pol || e.bank[1].pol ? 3 : 1;	/* no policy: 1, sockets: 3 */
		engine_stop(&e, &d);
		engine_log_diags(&d);
		engine_fini(&e);
		return finish(rc);
	}
	engine_write_counters(&e, false, &d);
	engine_log_diags(&d);
	lb = engine_live_bank(&e);
	engine_event(json_pack("{s:s, s:i, s:i, s:b, s:s, s:s, s:I, s:I, s:o, s:i, s:s, s:s}", "event", "ready",
			       "queue", (int)e.queue, "queues", (int)e.nqueues,
			       "fail_open", e.src.fail_open, "policy", lb->policy_path,
			       "sha256", lb->sha256, "rules", (json_int_t)lb->pol->nrules,
			       "sas", (json_int_t)xfrm_cache_count(e.sas),
			       "generation", lb->generation ? json_integer(lb->generation) : json_null(),
			       "live_queue", (int)lb->first, "control", e.ctl_path, "user", who));
	sd_notify_send("READY=1");
	rc = engine_run(&e, &stop_req, &hup_req) < 0 ? 3 : 0;
	sd_notify_send("STOPPING=1");
	engine_stop(&e, &d);
	engine_log_diags(&d);
	stopped_event(&e);
	engine_write_counters(&e, true, &d);
	engine_log_diags(&d);
	engine_fini(&e);
	return finish(rc);
}
