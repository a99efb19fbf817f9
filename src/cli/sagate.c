/* sagate: the admin command.  Parses the command line, dispatches to the
 * subcommand, returns its exit status. */
#include "config.h"

#include "cli.h"
#include "live.h"
#include "model.h"
#include "state.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"Usage: sagate [OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Host firewall whose rules can require IPsec.\n"
	"\n"
	"Commands:\n"
	"  check FILE      validate a policy; report errors and warnings\n"
	"  compile FILE    print the nftables ruleset the policy compiles to\n"
	"  apply FILE      replace table inet sagate with the policy, in one transaction\n"
	"  confirm         keep what `apply --confirm` applied\n"
	"  rollback        return to the previous policy (--to N: to generation N)\n"
	"  history         the generations kept: who applied each, what became of it\n"
	"  flush           remove table inet sagate (and nothing else)\n"
	"  restore         load the last confirmed policy again (at boot: sagate.service)\n"
	"  status          what is applied, and whether the kernel holds it\n"
	"  list            per policy rule: kernel elements and their counters\n"
	"  explain [FILE]  what happens to one packet, and why (--from, --proto, ...)\n"
	"  sa              the kernel's IPsec SAs and the require-ipsec rules each satisfies\n"
	"  audit [FILE]    live table vs applied policy, policy defects, usage\n"
	"  metrics         counters and state in Prometheus' text format\n"
	"  ike-config FILE swanctl.conf connections whose SAs the require-ipsec rules admit\n"
	"  log [FILE]      the log lines of logging rules and logged defaults, as they come\n"
	"\n"
	"Options:\n"
	"  -j, --json          machine-readable output\n"
	"  -k, --no-engine     kernel-only mode: enforce require-ipsec without sagated\n"
	"  -q, --queue N       NFQUEUE number for sagated (default 0)\n"
	"      --queues N      spread new require-ipsec flows over N queues from --queue\n"
	"                      on, per CPU (default: the policy's \"queues\", else the\n"
	"                      live generation's, else the online CPUs, at most 16)\n"
	"  -n, --dry-run       apply, flush, restore: the kernel validates, nothing changes\n"
	"  -c, --confirm SECS  apply: roll back unless `sagate confirm` runs in time\n"
	"  -s, --state-dir DIR where applied policies are kept (default " STATE_DEFAULT_DIR ")\n"
	"      --wait SECS     apply, rollback, confirm, flush, restore: how long to wait\n"
	"                      while another sagate command changes the firewall\n"
	"                      (default 30)\n"
	"      --keep-flows    apply, rollback: established flows the new policy no\n"
	"                      longer admits keep flowing (default: they are ended)\n"
	"      --full          apply, rollback: replace the whole table (default: only\n"
	"                      the difference when the live table is the current policy)\n"
	"      --all-findings  check, compile, apply: show every finding (default: the\n"
	"                      first 5 of each kind, then how many more)\n"
	"      --from ADDR     explain: the packet's source\n"
	"      --to ADDR       explain: the packet's destination\n"
	"      --to N          rollback: go to generation N (see history)\n"
	"      --proto P       explain: tcp, udp, sctp, icmp, icmpv6, esp, ... or a number\n"
	"      --port N        explain: destination port (tcp, udp, sctp)\n"
	"      --icmp-type T   explain: ICMP / ICMPv6 type, a name or a number\n"
	"                      (default echo-request)\n"
	"      --interface IF  explain: the interface it arrives on (--out: leaves by)\n"
	"      --ipsec WHAT    explain: none, spi=0xSPI or reqid=N (default none)\n"
	"      --out           explain: the packet leaves this host (default: arrives)\n"
	"      --forward       explain: the packet is routed through this host (--from, --to)\n"
	"      --policy FILE   sa: check SAs against FILE, not the applied policy\n"
	"      --fail-on LEVEL audit, check: exit 4 on a finding of LEVEL or worse: info,\n"
	"                      warning, error or never (the default: error for audit,\n"
	"                      never for check)\n"
	"      --policy-only   audit: the policy's own findings; no kernel is read\n"
	"      --output FILE   metrics: write FILE (atomically), not standard output\n"
	"      --local ADDR    ike-config: an address of this host (repeatable, up to 16)\n"
	"      --auth AUTH     ike-config: pubkey (default) or psk, left to fill in\n"
	"      --group N       log: the nflog group to read (default: the policy's)\n"
	"      --count N       log: exit after N lines\n"
	"      --journal       log: lines to the systemd journal (the default when\n"
	"                      standard output is the journal), not JSON lines\n"
	"      --vici PATH     audit: charon's vici socket (default /var/run/charon.vici)\n"
	"  -h, --help          show this help\n"
	"  -V, --version       show the version\n"
	"\n"
	"Exit status: 0 ok, 1 policy unreadable or wrong, 2 usage error, 3 system error,\n"
	"4 audit found something at or above --fail-on.\n"
	"See sagate(8) and sagate.json(5).\n";

/* The options a command takes, one bit each (opt_bit); any other given
 * is refused, not ignored. */
enum {
	TAKES_JSON = 1u << 0, TAKES_NO_ENGINE = 1u << 1, TAKES_QUEUE = 1u << 2,
	TAKES_DRY_RUN = 1u << 3, TAKES_CONFIRM = 1u << 4, TAKES_STATE_DIR = 1u << 5,
	TAKES_FROM = 1u << 6, TAKES_TO = 1u << 7, TAKES_PROTO = 1u << 8, TAKES_PORT = 1u << 9,
	TAKES_IPSEC = 1u << 10, TAKES_OUT = 1u << 11, TAKES_POLICY = 1u << 12,
	TAKES_FAIL_ON = 1u << 13, TAKES_WAIT = 1u << 14, TAKES_POLICY_ONLY = 1u << 15,
	TAKES_FORWARD = 1u << 16, TAKES_OUTPUT = 1u << 17, TAKES_KEEP_FLOWS = 1u << 18,
	TAKES_ICMP_TYPE = 1u << 19, TAKES_IFACE = 1u << 20,
	TAKES_LOCAL = 1u << 21, TAKES_AUTH = 1u << 22, TAKES_QUEUES = 1u << 23,
	TAKES_GROUP = 1u << 24, TAKES_COUNT = 1u << 25, TAKES_JOURNAL = 1u << 26,
	TAKES_VICI = 1u << 27, TAKES_FULL = 1u << 28, TAKES_ALL_FINDINGS = 1u << 29,
	TAKES_NOTHING = 1u << 31,	/* an option without a bit: no command takes it */
};
#define TAKES_MODE (TAKES_NO_ENGINE | TAKES_QUEUE | TAKES_QUEUES)
#define TAKES_PACKET (TAKES_FROM | TAKES_TO | TAKES_PROTO | TAKES_PORT | TAKES_IPSEC | TAKES_OUT | \
		      TAKES_ICMP_TYPE | TAKES_IFACE)
#define TAKES_CHANGE (TAKES_STATE_DIR | TAKES_WAIT)

struct command {
	const char *name;
	int (*run_file)(const struct cli_opts *, const char *file);	/* takes FILE */
	int (*run)(const struct cli_opts *);				/* takes nothing */
	bool file_optional;		/* run_file with FILE or NULL */
	unsigned takes;			/* TAKES_*: its options besides --json */
};

static const struct command commands[] = {
	{ "check", cli_check, NULL, false, TAKES_MODE | TAKES_FAIL_ON | TAKES_ALL_FINDINGS },
	{ "compile", cli_compile, NULL, false, TAKES_MODE | TAKES_ALL_FINDINGS },
	{ "apply", cli_apply, NULL, false, TAKES_MODE | TAKES_DRY_RUN | TAKES_CONFIRM | TAKES_CHANGE |
					  TAKES_KEEP_FLOWS | TAKES_FULL | TAKES_ALL_FINDINGS },
	{ "confirm", NULL, cli_confirm, false, TAKES_CHANGE },
	{ "rollback", NULL, cli_rollback, false, TAKES_CHANGE | TAKES_TO | TAKES_KEEP_FLOWS |
						 TAKES_FULL },
	{ "flush", NULL, cli_flush, false, TAKES_DRY_RUN | TAKES_CHANGE },
	{ "restore", NULL, cli_restore, false, TAKES_DRY_RUN | TAKES_CHANGE },
	{ "status", NULL, cli_status, false, TAKES_STATE_DIR },
	{ "history", NULL, cli_history, false, TAKES_STATE_DIR },
	{ "list", NULL, cli_list, false, TAKES_STATE_DIR },
	{ "explain", cli_explain, NULL, true, TAKES_MODE | TAKES_PACKET | TAKES_FORWARD | TAKES_STATE_DIR },
	{ "sa", NULL, cli_sa, false, TAKES_MODE | TAKES_POLICY | TAKES_STATE_DIR },
	{ "audit", cli_audit, NULL, true, TAKES_MODE | TAKES_FAIL_ON | TAKES_STATE_DIR |
					  TAKES_POLICY_ONLY | TAKES_VICI },
	{ "metrics", NULL, cli_metrics, false, TAKES_STATE_DIR | TAKES_OUTPUT },
	{ "ike-config", cli_ike_config, NULL, false, TAKES_LOCAL | TAKES_AUTH },
	{ "log", cli_log, NULL, true, TAKES_MODE | TAKES_STATE_DIR | TAKES_GROUP | TAKES_COUNT |
				      TAKES_JOURNAL },
	/* apply --confirm's watcher under systemd (not in --help) */
	{ "confirm-timer", cli_confirm_timer, NULL, false, 0 },
};

enum { OPT_FROM = 256, OPT_TO, OPT_PROTO, OPT_PORT, OPT_IPSEC, OPT_OUT, OPT_FORWARD, OPT_POLICY, OPT_FAIL_ON,
       OPT_WAIT, OPT_POLICY_ONLY, OPT_OUTPUT, OPT_KEEP_FLOWS, OPT_ICMP_TYPE, OPT_IFACE,
       OPT_LOCAL, OPT_AUTH, OPT_QUEUES, OPT_GROUP, OPT_COUNT, OPT_JOURNAL, OPT_VICI,
       OPT_FULL, OPT_ALL_FINDINGS };

/* The TAKES_ bit of the option getopt_long returned as c. */
static unsigned opt_bit(int c)
{
	switch (c) {
	case 'j': return TAKES_JSON;
	case 'k': return TAKES_NO_ENGINE;
	case 'q': return TAKES_QUEUE;
	case 'n': return TAKES_DRY_RUN;
	case 'c': return TAKES_CONFIRM;
	case 's': return TAKES_STATE_DIR;
	case OPT_FROM: return TAKES_FROM;
	case OPT_QUEUES: return TAKES_QUEUES;
	case OPT_TO: return TAKES_TO;
	case OPT_PROTO: return TAKES_PROTO;
	case OPT_PORT: return TAKES_PORT;
	case OPT_IPSEC: return TAKES_IPSEC;
	case OPT_OUT: return TAKES_OUT;
	case OPT_FORWARD: return TAKES_FORWARD;
	case OPT_POLICY: return TAKES_POLICY;
	case OPT_FAIL_ON: return TAKES_FAIL_ON;
	case OPT_WAIT: return TAKES_WAIT;
	case OPT_POLICY_ONLY: return TAKES_POLICY_ONLY;
	case OPT_OUTPUT: return TAKES_OUTPUT;
	case OPT_KEEP_FLOWS: return TAKES_KEEP_FLOWS;
	case OPT_ICMP_TYPE: return TAKES_ICMP_TYPE;
	case OPT_IFACE: return TAKES_IFACE;
	case OPT_LOCAL: return TAKES_LOCAL;
	case OPT_AUTH: return TAKES_AUTH;
	case OPT_GROUP: return TAKES_GROUP;
	case OPT_COUNT: return TAKES_COUNT;
	case OPT_JOURNAL: return TAKES_JOURNAL;
	case OPT_VICI: return TAKES_VICI;
	case OPT_FULL: return TAKES_FULL;
	case OPT_ALL_FINDINGS: return TAKES_ALL_FINDINGS;
	}
	return TAKES_NOTHING;
}

/* Refuse, naming them, the options given that cmd does not take. */
static int check_takes(const struct command *cmd, unsigned given, const struct option *longopts)
{
	unsigned extra = given & ~(cmd->takes | TAKES_JSON);

	if (!extra)
		return 0;
	for (int i = 0; longopts[i].name; i++)
		if (extra & opt_bit(longopts[i].val)) {
			fprintf(stderr, "sagate %s: does not take --%s (see sagate --help)\n",
				cmd->name, longopts[i].name);
			return EXIT_USAGE;
		}
	return 0;
}

static int parse_level(const char *s, enum cli_level *out)
{
	static const char *const names[] = { "info", "warning", "error", "never" };

	for (int i = 0; i <= LEVEL_NEVER; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum cli_level)i;
			return 0;
		}
	return -1;
}

static int parse_port(const char *s, int *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v > 65535)
		return -1;
	*out = (int)v;
	return 0;
}

/* Decimal digits only (strtoul would take " 5" and "+5"), lo to hi. */
static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Decimal seconds, min to a day. */
static int parse_seconds(const char *s, unsigned min, unsigned *out)
{
	return parse_uint(s, min, 86400, out);
}

/* The long-only options; 0, or an exit status after a message. */
static int parse_queue(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')	/* strtoul would take " 5" and "+5" */
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int long_only(int c, struct cli_opts *o)
{
	switch (c) {
	case OPT_FROM: o->from = optarg; return 0;
	case OPT_QUEUES:
		if (parse_uint(optarg, 1, POLICY_MAX_QUEUES, &o->queues) == 0)
			return 0;
		fprintf(stderr, "sagate: --queues takes a number of queues 1-%d, not \"%s\"\n",
			POLICY_MAX_QUEUES, optarg);
		return EXIT_USAGE;
	case OPT_TO: o->to = optarg; return 0;
	case OPT_PROTO: o->proto = optarg; return 0;
	case OPT_ICMP_TYPE: o->icmp_type = optarg; return 0;
	case OPT_IFACE: o->iface = optarg; return 0;
	case OPT_IPSEC: o->ipsec = optarg; return 0;
	case OPT_OUT: o->out = true; return 0;
	case OPT_FORWARD: o->forward = true; return 0;
	case OPT_KEEP_FLOWS: o->keep_flows = true; return 0;
	case OPT_FULL: o->full = true; return 0;
	case OPT_ALL_FINDINGS: o->all_findings = true; return 0;
	case OPT_POLICY: o->policy = optarg; return 0;
	case OPT_POLICY_ONLY: o->policy_only = true; return 0;
	case OPT_OUTPUT:
		if (*optarg)
			return o->output = optarg, 0;
		fprintf(stderr, "sagate: --output needs a file name\n");
		return EXIT_USAGE;
	case OPT_LOCAL:
		if (o->nlocal < CLI_LOCAL_MAX)
			return o->local[o->nlocal++] = optarg, 0;
		fprintf(stderr, "sagate: --local: at most %d addresses\n", CLI_LOCAL_MAX);
		return EXIT_USAGE;
	case OPT_AUTH:
		if (strcmp(optarg, "pubkey") == 0 || strcmp(optarg, "psk") == 0)
			return o->auth_psk = optarg[1] == 's', 0;
		fprintf(stderr, "sagate: --auth takes pubkey or psk, not \"%s\"\n", optarg);
		return EXIT_USAGE;
	case OPT_JOURNAL: o->journal = true; return 0;
	case OPT_GROUP: {
		uint16_t g;

		if (parse_queue(optarg, &g) == 0)
			return o->log_group = g, 0;
		fprintf(stderr, "sagate: --group takes an nflog group, 0-65535, not \"%s\"\n", optarg);
		return EXIT_USAGE;
	}
	case OPT_COUNT: {
		char *end;
		unsigned long n = *optarg >= '1' && *optarg <= '9' ? strtoul(optarg, &end, 10) : 0;

		if (n && !*end && n <= 1000000000ul)
			return o->count = n, 0;
		fprintf(stderr, "sagate: --count takes a number of lines, 1-1000000000, not \"%s\"\n",
			optarg);
		return EXIT_USAGE;
	}
	case OPT_VICI:
		if (*optarg)
			return o->vici = optarg, 0;
		fprintf(stderr, "sagate: --vici needs a socket path\n");
		return EXIT_USAGE;
	case OPT_PORT:
		if (parse_port(optarg, &o->port) == 0)
			return 0;
		fprintf(stderr, "sagate: --port takes a number 0-65535, not \"%s\"\n", optarg);
		return EXIT_USAGE;
	case OPT_WAIT:
		if (parse_seconds(optarg, 0, &o->wait) == 0)
			return 0;
		fprintf(stderr, "sagate: --wait takes seconds, 0-86400, not \"%s\"\n", optarg);
		return EXIT_USAGE;
	case OPT_FAIL_ON:
		if (parse_level(optarg, &o->fail_on) == 0) {
			o->fail_on_given = true;
			return 0;
		}
		fprintf(stderr, "sagate: --fail-on takes info, warning, error or never, not \"%s\"\n",
			optarg);
		return EXIT_USAGE;
	}
	fputs(usage, stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-engine", no_argument, NULL, 'k' },
		{ "queue", required_argument, NULL, 'q' },
		{ "queues", required_argument, NULL, OPT_QUEUES },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "confirm", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "proto", required_argument, NULL, OPT_PROTO },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "icmp-type", required_argument, NULL, OPT_ICMP_TYPE },
		{ "interface", required_argument, NULL, OPT_IFACE },
		{ "ipsec", required_argument, NULL, OPT_IPSEC },
		{ "out", no_argument, NULL, OPT_OUT },
		{ "forward", no_argument, NULL, OPT_FORWARD },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "fail-on", required_argument, NULL, OPT_FAIL_ON },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ "policy-only", no_argument, NULL, OPT_POLICY_ONLY },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "keep-flows", no_argument, NULL, OPT_KEEP_FLOWS },
		{ "local", required_argument, NULL, OPT_LOCAL },
		{ "auth", required_argument, NULL, OPT_AUTH },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "journal", no_argument, NULL, OPT_JOURNAL },
		{ "vici", required_argument, NULL, OPT_VICI },
		{ "full", no_argument, NULL, OPT_FULL },
		{ "all-findings", no_argument, NULL, OPT_ALL_FINDINGS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts o = { .port = -1, .fail_on = LEVEL_NEVER, .wait = LIVE_WAIT_DEFAULT,
			      .log_group = -1 };
	unsigned given = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "jkq:nc:s:hV", longopts, NULL)) != -1) {
		if (c != '?' && c != 'h' && c != 'V')
			given |= opt_bit(c);
		switch (c) {
		case 'j': o.json = true; break;
		case 'k': o.no_engine = true; break;
		case 'q':
			if (parse_queue(optarg, &o.queue) < 0) {
				fprintf(stderr, "sagate: --queue takes a number 0-65535, not \"%s\"\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n': o.dry_run = true; break;
		case 'c':
			if (parse_seconds(optarg, 1, &o.confirm) < 0) {
				fprintf(stderr, "sagate: --confirm takes seconds, 1-86400, not \"%s\"\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (!*optarg || setenv("SAGATE_STATE_DIR", optarg, 1) < 0) {
				fprintf(stderr, "sagate: --state-dir needs a directory\n");
				return EXIT_USAGE;
			}
			break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		case 'V': printf("sagate %s\n", PACKAGE_VERSION); return EXIT_OK;
		default:
			if ((rc = long_only(c, &o)) != 0)
				return rc;
			break;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		if ((rc = check_takes(&commands[i], given, longopts)) != 0)
			return rc;
		if (commands[i].file_optional && argc - optind > 2) {
			fprintf(stderr, "sagate %s: takes at most one policy FILE\n",
				commands[i].name);
			return EXIT_USAGE;
		}
		if (commands[i].file_optional)
			return commands[i].run_file(&o, argc - optind == 2 ? argv[optind + 1] : NULL);
		if (commands[i].run_file && argc - optind != 2) {
			fprintf(stderr, "sagate %s: expected exactly one policy FILE\n",
				commands[i].name);
			return EXIT_USAGE;
		}
		if (commands[i].run && argc - optind != 1) {
			fprintf(stderr, "sagate %s: takes no arguments\n", commands[i].name);
			return EXIT_USAGE;
		}
		return commands[i].run_file ? commands[i].run_file(&o, argv[optind + 1]) :
		       commands[i].run(&o);
	}
	fprintf(stderr, "sagate: unknown command \"%s\" (see sagate --help)\n",
		argv[optind]);
	return EXIT_USAGE;
}
