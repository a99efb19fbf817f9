/* cli: the sagate command's subcommands.  Only code under cli*.c and
 * sagate.c prints or exits. */
#ifndef SAGATE_CLI_H
#define SAGATE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Exit statuses, documented in sagate(8). */
enum cli_exit {
	EXIT_OK = 0,		/**< done; warnings may have been printed */
	EXIT_POLICY = 1,	/**< the policy is unreadable or has errors; nothing was changed */
	EXIT_USAGE = 2,		/**< bad command line */
	EXIT_SYSTEM = 3,	/**< the system failed us: memory, output, kernel */
	EXIT_FINDINGS = 4,	/**< audit: a finding at or above --fail-on */
};

/** Severity of an audit finding; --fail-on takes one. */
enum cli_level { LEVEL_INFO, LEVEL_WARNING, LEVEL_ERROR, LEVEL_NEVER };

/** The most --local options one command line takes. */
#define CLI_LOCAL_MAX 16

/** Options common to every subcommand. */
struct cli_opts {
	bool json;		/**< --json: machine-readable output */
	bool no_engine;		/**< --no-engine: kernel-only require-ipsec */
	uint16_t queue;		/**< --queue N */
	unsigned queues;	/**< --queues N (1-64); 0: the policy's "queues", else
				     the online CPUs, at most CLI_QUEUES_DEFAULT_MAX */
	bool dry_run;		/**< --dry-run: the kernel validates, nothing changes */
	unsigned confirm;	/**< --confirm SECONDS: roll back unless confirmed */
	unsigned wait;		/**< --wait SECONDS for the state directory's lock */
	bool keep_flows;	/**< apply, rollback: --keep-flows, established flows stay */
	bool full;		/**< apply: --full, the whole table is replaced */
	bool all_findings;	/**< check, compile, apply: --all-findings, every finding
				     shown (default: CLI_FINDINGS_SHOWN of each kind) */
	const char *from, *to;	/**< explain: --from / --to ADDR; rollback: --to N */
	const char *proto;	/**< explain: --proto NAME|NUMBER */
	int port;		/**< explain: --port N; -1 when not given */
	const char *icmp_type;	/**< explain: --icmp-type NAME|NUMBER */
	const char *iface;	/**< explain: --interface NAME */
	const char *ipsec;	/**< explain: --ipsec none|spi=0x..|reqid=N */
	bool out;		/**< explain: --out, the packet leaves this host */
	bool forward;		/**< explain: --forward, routed through this host */
	const char *policy;	/**< sa: --policy FILE */
	enum cli_level fail_on;	/**< audit, check: --fail-on LEVEL (default error, never) */
	bool fail_on_given;	/**< --fail-on was on the command line */
	const char *output;	/**< metrics: --output FILE, written atomically */
	bool policy_only;	/**< audit: --policy-only, no kernel read */
	const char *local[CLI_LOCAL_MAX];	/**< ike-config: --local ADDR, each given */
	size_t nlocal;
	bool auth_psk;		/**< ike-config: --auth psk (default pubkey) */
	int log_group;		/**< log: --group N; -1 when not given */
	unsigned long count;	/**< log: --count N lines, then exit; 0: until a signal */
	bool journal;		/**< log: --journal, lines to the systemd journal */
	const char *vici;	/**< audit: --vici, charon's socket (NULL: the default) */
};

int cli_check(const struct cli_opts *o, const char *file);
int cli_compile(const struct cli_opts *o, const char *file);
int cli_apply(const struct cli_opts *o, const char *file);
int cli_confirm(const struct cli_opts *o);
/** The confirm watcher as a service of its own (apply --confirm under
 *  systemd): `sagate confirm-timer TOKEN`, not for people. */
int cli_confirm_timer(const struct cli_opts *o, const char *token);
int cli_rollback(const struct cli_opts *o);
int cli_flush(const struct cli_opts *o);
int cli_restore(const struct cli_opts *o);
int cli_status(const struct cli_opts *o);
int cli_history(const struct cli_opts *o);
int cli_list(const struct cli_opts *o);
int cli_explain(const struct cli_opts *o, const char *file);	/* file may be NULL */
int cli_sa(const struct cli_opts *o);
int cli_audit(const struct cli_opts *o, const char *file);	/* file may be NULL */
int cli_metrics(const struct cli_opts *o);
int cli_ike_config(const struct cli_opts *o, const char *file);
int cli_log(const struct cli_opts *o, const char *file);	/* file may be NULL */

#endif
