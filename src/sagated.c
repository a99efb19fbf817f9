/* sagated: the verdict engine for require-ipsec flows queued by sagate's
 * ruleset in engine mode.
 *
 *   sagated [--policy FILE] [--queue N]
 *
 * Without --policy it serves the generation `sagate apply` made current
 * (its policy bundle, and the queue number from its meta).  One JSON line
 * per decision and per event on stdout; {"event":"ready",...} once both
 * sockets are set up and the SAs are dumped.  SIGTERM / SIGINT: unbind and
 * exit 0.  SIGHUP: reload the policy (the old one stays on error).
 *
 * Exit status: 0 stopped by a signal, 1 policy error, 2 usage, 3 system.
 */
#include "config.h"

#include "engine.h"

#include <getopt.h>
#include <jansson.h>
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
	fputs("usage: sagated [--policy FILE] [--queue N]\n"
	      "  --policy FILE  serve this policy (default: the applied generation)\n"
	      "  --queue N      NFQUEUE number (default: from the applied generation, or 0)\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "queue", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct engine_src src = { NULL, -1 };
	struct engine e;
	struct sigaction sa;
	sigset_t block;
	int c, rc;

	while ((c = getopt_long(argc, argv, "p:q:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			src.policy = optarg;
			break;
		case 'q': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (!*optarg || *end || v < 0 || v > 65535) {
				fprintf(stderr, "sagated: bad queue number '%s'\n", optarg);
				return 2;
			}
			src.queue = (int)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* signals are only delivered while engine_run waits in ppoll */
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

	if (engine_init(&e, &src) < 0) {
		rc = e.pol ? 3 : 1;	/* no policy: 1, sockets: 3 */
		engine_fini(&e);
		return rc;
	}
	engine_event(json_pack("{s:s, s:i, s:s, s:s, s:I, s:I}", "event", "ready",
			       "queue", (int)e.queue, "policy", e.policy_path,
			       "sha256", e.pol->sha256, "rules", (json_int_t)e.pol->nrules,
			       "sas", (json_int_t)xfrm_cache_count(e.sas)));
	rc = engine_run(&e, &stop_req, &hup_req) < 0 ? 3 : 0;
	engine_event(json_pack("{s:s, s:I, s:I, s:I, s:I}", "event", "stopped",
			       "accepted", (json_int_t)e.accepted, "dropped", (json_int_t)e.dropped,
			       "queue_enobufs", (json_int_t)e.q_enobufs,
			       "xfrm_enobufs", (json_int_t)e.x_enobufs));
	engine_fini(&e);
	return rc;
}
