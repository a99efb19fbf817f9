/* sagate check / compile: policy file in, findings and plan out. */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "forward.h"
#include "plan_print.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int cli_check(const struct cli_opts *o, const char *file)
{
	struct loaded l;
	int rc = cli_load(file, o->no_engine ? PLAN_KERNEL_ONLY : PLAN_ENGINE, o->queue, o->queues, true,
			  cli_findings_shown(o, true), &l);
	size_t warnings = 0, acked = 0;

	/* the host check runs on: does it route what the policy leaves alone? */
	if (rc == EXIT_OK)
		forward_check(l.pol, "/proc", &l.diags);
	for (size_t i = 0; i < l.diags.count; i++) {
		acked += l.diags.items[i].acknowledged;
		warnings += l.diags.items[i].severity == DIAG_WARNING && !l.diags.items[i].acknowledged;
	}
	/* and those shown only as "... and N more" */
	acked += diag_omitted(&l.diags, DIAG_WARNING, true) + diag_omitted(&l.diags, DIAG_ERROR, true);
	warnings += diag_omitted(&l.diags, DIAG_WARNING, false);
	/* findings are warnings: --fail-on info or warning fails on one */
	if (rc == EXIT_OK && warnings && o->fail_on <= LEVEL_WARNING)
		rc = EXIT_FINDINGS;
	if (o->json) {
		json_t *j = json_pack("{s:s, s:b, s:I, s:I, s:I, s:o}", "file", file,
				      "ok", rc == EXIT_OK,
				      "errors", (json_int_t)l.diags.errors,
				      "warnings", (json_int_t)warnings,
				      "acknowledged", (json_int_t)acked,
				      "diagnostics", cli_diags_json(&l.diags));

		if (rc == EXIT_OK || rc == EXIT_FINDINGS) {
			json_object_set_new(j, "rules", json_integer((json_int_t)l.pol->nrules));
			json_object_set_new(j, "kernel_rules",
					    json_integer((json_int_t)plan_rule_count(l.plan)));
			json_object_set_new(j, "elements",
					    json_integer((json_int_t)plan_elem_count(l.plan)));
			json_object_set_new(j, "sha256", json_string(l.pol->sha256));
		}
		if (cli_dump_json(cli_result("check", rc == EXIT_OK, j)) < 0)
			rc = EXIT_SYSTEM;
	} else {
		cli_print_all_diags(stdout, &l.diags);
		if (rc == EXIT_OK || rc == EXIT_FINDINGS) {
			printf("%s: ok: %zu rules -> %zu kernel rules, %zu set elements; %zu warning%s",
			       file, l.pol->nrules, plan_rule_count(l.plan),
			       plan_elem_count(l.plan), warnings, warnings == 1 ? "" : "s");
			if (acked)
				printf(", %zu acknowledged", acked);
			if (rc == EXIT_FINDINGS)
				printf("; exit 4 at --fail-on %s", o->fail_on == LEVEL_INFO ? "info" : "warning");
			printf("\n");
		} else
			printf("%s: %zu error%s, %zu warning%s; nothing would be applied\n",
			       file, l.diags.errors, l.diags.errors == 1 ? "" : "s",
			       warnings, warnings == 1 ? "" : "s");
	}
	cli_unload(&l);
	return rc;
}

int cli_compile(const struct cli_opts *o, const char *file)
{
	struct loaded l;
	int rc = cli_load(file, o->no_engine ? PLAN_KERNEL_ONLY : PLAN_ENGINE, o->queue, o->queues, true,
			  cli_findings_shown(o, false), &l);

	/* findings go to stderr (with --json too) so that stdout stays a
	 * loadable script */
	cli_print_diags(stderr, &l.diags);
	if (rc == EXIT_OK) {
		if (o->json ? cli_dump_json(cli_result("compile", true, plan_to_json(l.plan, l.pol))) < 0 :
		    plan_print_nft(stdout, l.plan, l.pol) < 0 || fflush(stdout) != 0)
			rc = EXIT_SYSTEM;
	}
	cli_unload(&l);
	return rc;
}
