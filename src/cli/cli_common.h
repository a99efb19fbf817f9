/* cli_common: what the subcommands share: loading a policy through the
 * whole pipeline, and printing findings and JSON. */
#ifndef SAGATE_CLI_COMMON_H
#define SAGATE_CLI_COMMON_H

#include "classify.h"
#include "diag.h"
#include "model.h"
#include "plan.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Everything a policy turns into. */
struct loaded {
	struct diag_list diags;	/**< errors and warnings of every stage */
	struct policy *pol;
	struct classes *cls;
	struct plan *plan;
};

/** Findings of one kind that check, compile and apply show (and word);
 *  the rest are counted in one line, and --all-findings shows them all. */
#define CLI_FINDINGS_SHOWN 5
/** cli_load's shown for a command that prints the policy's findings
 *  whole (--json, --all-findings), ... */
#define CLI_FINDINGS_ALL SIZE_MAX
/** ... and for one that prints none of them (explain, sa, audit's own
 *  pass, log, ike-config): each is only counted. */
#define CLI_FINDINGS_NONE 0

/** Parse, classify and compile file; with analyse, also find shadowed and
 *  redundant rules (a second classifier pass: check and compile do it,
 *  apply leaves it to them); of each kind of finding, the first shown
 *  are worded and kept in l->diags, the rest counted in its tallies.
 *  Returns an exit status (cli.h); l must be cli_unload()ed whatever it
 *  returns. */
int cli_load(const char *file, enum plan_mode mode, uint16_t queue, unsigned queues,
	     bool analyse, size_t shown, struct loaded *l);
/** cli_load in two steps: parse file into l (cli_unload it whatever this
 *  returns)... */
int cli_parse(const char *file, struct loaded *l);
/** ...then classify and compile it, for queues from queue on (queues 0:
 *  the policy's "queues", else cli_queues_default). */
int cli_build(const char *file, enum plan_mode mode, uint16_t queue, unsigned queues,
	      bool analyse, size_t shown, struct loaded *l);
/** cli_load's shown for o: CLI_FINDINGS_ALL with --all-findings, or
 *  with --json when the command's JSON lists the findings (json_lists:
 *  check's and apply's do; compile's has none, its findings are text on
 *  stderr), else CLI_FINDINGS_SHOWN. */
size_t cli_findings_shown(const struct cli_opts *o, bool json_lists);

/** The default of --queues: the online CPUs, at most CLI_QUEUES_DEFAULT_MAX. */
unsigned cli_queues_default(void);
/** Default queues per bank at most: each is a thread in each of sagated's
 *  two banks, with a 1 MiB receive buffer; past 16 cores one thread per
 *  core is more than new flows need, and --queues says more. */
#define CLI_QUEUES_DEFAULT_MAX 16
/** The queues a table from queue `base` spreads over: given (--queues),
 *  else the policy's "queues", else the default (cut to fit both banks
 *  below 65535).  0 with an error in d when a number asked for does not
 *  fit. */
unsigned cli_queue_count(unsigned given, const struct policy *p, uint16_t base,
			 struct diag_list *d);
void cli_unload(struct loaded *l);

struct cli_opts;
struct state_meta;
/** Load the applied policy (state directory, generation "current") as
 *  it was applied: its mode and queue, its table comment.  m gets the
 *  generation's meta (state_meta_fini it).  Exit status as cli_load. */
int cli_load_applied(bool analyse, struct loaded *l, struct state_meta *m);
/** file, or the applied policy when file is NULL (mode and queue from
 *  the options for a file). */
int cli_load_either(const struct cli_opts *o, const char *file, bool analyse,
		    struct loaded *l, struct state_meta *m);

struct nft_live;
/** sagate status: where policy p's log lines go, for its "logging" key
 *  (group, reader: whether a process reads the group here, lost_to_rate:
 *  the lines the live table's log rate held back); a warning in d when
 *  nothing reads them.  NULL when p logs nothing. */
json_t *cli_log_state(const struct policy *p, const struct nft_live *live, struct diag_list *d);
/** When p logs: whether its group has a reader here (1 yes, 0 no and a
 *  warning in d, -1 unknown); -2 when p logs nothing. */
int cli_log_warn_unread(const struct policy *p, struct diag_list *d);
/** Its "logging:" line. */
void cli_log_state_print(const json_t *j);

/** Each diagnostic as a line, the findings a rule acknowledges left
 *  out, then for each kind of finding counted past the cap one line
 *  "... and N more of this kind"; to the journal (a systemd service's
 *  output) with its priority as a "<N>" prefix. */
void cli_print_diags(FILE *f, const struct diag_list *d);
/** The same, acknowledged findings too (`sagate check` shows them). */
void cli_print_all_diags(FILE *f, const struct diag_list *d);
/** Only the errors, and the warnings about kernel state ("xfrm", and
 *  "logging": log lines nobody reads): the
 *  policy's own warnings are `sagate check`'s to show. */
void cli_print_errors(FILE *f, const struct diag_list *d);
json_t *cli_diags_json(const struct diag_list *d);
/** {"command": command, "ok": ok} followed by rest's members (rest is
 *  released); the head every command's JSON output starts with. */
json_t *cli_result(const char *command, bool ok, json_t *rest);
/** Print and release j; -1 when it could not be written. */
int cli_dump_json(json_t *j);

#endif
