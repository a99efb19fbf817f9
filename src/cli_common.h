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
int cli_load(const char *file, enum plan_mode mode, uint16_t queue, bool analyse,
	     struct loaded *l);
void cli_unload(struct loaded *l);

void cli_print_diags(FILE *f, const struct diag_list *d);
json_t *cli_diags_json(const struct diag_list *d);
/** Print and release j; -1 when it could not be written. */
int cli_dump_json(json_t *j);

#endif
