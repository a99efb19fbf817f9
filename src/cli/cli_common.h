/* cli_common: what the subcommands share: loading a policy through the
 * whole pipeline, and printing findings and JSON. */
#ifndef SAGATE_CLI_COMMON_H
#define SAGATE_CLI_COMMON_H

#include "classify.h"
#include "diag.h"
#include "model.h"
#include "plan.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/** Everything a policy turns into. */
struct loaded {
	struct diag_list diags;	/**< errors and warnings of every stage */
	struct policy *pol;
	struct classes *cls;
	struct plan *plan;
};

/** Parse, classify and compile file; with analyse, also find shadowed and
 *  redundant rules (a second classifier pass: check and compile do it,
 *  apply leaves it to them).  Returns an exit status (cli.h); l must be
 *  cli_unload()ed whatever it returns. */
int cli_load(const char *file, enum plan_mode mode, uint16_t queue, unsigned queues,
	     bool analyse, struct loaded *l);
/** cli_load in two steps: parse file into l (cli_unload it whatever this
 *  returns)... */
int cli_parse(const char *file, struct loaded *l);
/** ...then classify and compile it, for queues from queue on (queues 0:
 *  the policy's "queues", else cli_queues_default). */
int cli_build(const char *file, enum plan_mode mode, uint16_t queue, unsigned queues,
	      bool analyse, struct loaded *l);

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

/** Each diagnostic as a line, the findings a rule acknowledges left
 *  out; to the journal (a systemd service's output) with its priority as
 *  a "<N>" prefix. */
void cli_print_diags(FILE *f, const struct diag_list *d);
/** The same, acknowledged findings too (`sagate check` shows them). */
void cli_print_all_diags(FILE *f, const struct diag_list *d);
/** Only the errors, and the warnings about kernel state ("xfrm"): the
 *  policy's own warnings are `sagate check`'s to show. */
void cli_print_errors(FILE *f, const struct diag_list *d);
json_t *cli_diags_json(const struct diag_list *d);
/** {"command": command, "ok": ok} followed by rest's members (rest is
 *  released); the head every command's JSON output starts with. */
json_t *cli_result(const char *command, bool ok, json_t *rest);
/** Print and release j; -1 when it could not be written. */
int cli_dump_json(json_t *j);

#endif
