/* sagate: the admin command.  Parses the command line, dispatches to the
 * subcommand, returns its exit status. */
#include "config.h"

#include "cli.h"
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
	"  rollback        return to the policy applied before the current one\n"
	"  flush           remove table inet sagate (and nothing else)\n"
	"  status          what is applied, and whether the kernel holds it\n"
	"  list            per policy rule: kernel elements and their counters\n"
	"\n"
	"Options:\n"
	"  -j, --json          machine-readable output (check, compile, status, list)\n"
	"  -k, --no-engine     kernel-only mode: enforce require-ipsec without sagated\n"
	"  -q, --queue N       NFQUEUE number for sagated (default 0)\n"
	"  -n, --dry-run       apply, flush: the kernel validates, nothing changes\n"
	"  -c, --confirm SECS  apply: roll back unless `sagate confirm` runs in time\n"
	"  -s, --state-dir DIR where applied policies are kept (default " STATE_DEFAULT_DIR ")\n"
	"  -h, --help        show this help\n"
	"  -V, --version     show the version\n"
	"\n"
	"Exit status: 0 ok, 1 policy unreadable or wrong, 2 usage error, 3 system error.\n"
	"See sagate(8) and sagate.json(5).\n";

struct command {
	const char *name;
	int (*run_file)(const struct cli_opts *, const char *file);	/* takes FILE */
	int (*run)(const struct cli_opts *);				/* takes nothing */
};

static const struct command commands[] = {
	{ "check", cli_check, NULL },
	{ "compile", cli_compile, NULL },
	{ "apply", cli_apply, NULL },
	{ "confirm", NULL, cli_confirm },
	{ "rollback", NULL, cli_rollback },
	{ "flush", NULL, cli_flush },
	{ "status", NULL, cli_status },
	{ "list", NULL, cli_list },
};

static int parse_seconds(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v < 1 || v > 86400)
		return -1;
	*out = (unsigned)v;
	return 0;
}

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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-engine", no_argument, NULL, 'k' },
		{ "queue", required_argument, NULL, 'q' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "confirm", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts o = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "jkq:nc:s:hV", longopts, NULL)) != -1) {
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
			if (parse_seconds(optarg, &o.confirm) < 0) {
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
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
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
