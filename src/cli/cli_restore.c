/* sagate restore: the last confirmed generation back into the kernel, as
 * sagate.service does at boot (the choice and the transaction are
 * restore.c's). */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "live.h"
#include "restore.h"
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int exit_status(enum restore_status s)
{
	switch (s) {
	case RESTORE_CHOSEN: return EXIT_OK;
	case RESTORE_NOTHING: return EXIT_POLICY;
	case RESTORE_WAITING: return EXIT_USAGE;	/* as apply while a confirm waits */
	case RESTORE_DAMAGED:
	case RESTORE_FAILED: break;
	}
	return EXIT_SYSTEM;
}

static json_t *result_json(const struct cli_opts *o, const struct restore *r, int rc,
			   const struct diag_list *d)
{
	json_t *damaged = json_array(), *j;

	for (size_t i = 0; i < r->nskipped; i++)
		json_array_append_new(damaged, json_pack("{s:i, s:s?}",
			"generation", r->skipped[i].generation, "reason", r->skipped[i].why));
	j = json_pack("{s:i, s:b, s:o, s:o, s:o}", "exit", rc, "dry_run", o->dry_run,
		      "generation", r->generation ? json_integer(r->generation) : json_null(),
		      "rolled_back", r->rolled_back ? json_integer(r->rolled_back) : json_null(),
		      "damaged", damaged);
	if (j && r->generation)
		json_object_update_new(j, json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:b, s:b}",
			"source", r->meta.source, "sha256", r->meta.sha256,
			"mode", r->meta.mode == PLAN_ENGINE ? "engine" : "kernel-only", "queue", r->meta.queue,
			"kernel_rules", (json_int_t)plan_rule_count(r->plan),
			"elements", (json_int_t)plan_elem_count(r->plan), "unverified", r->unverified,
			"loaded", r->loaded));
	if (j)
		json_object_set_new(j, "diagnostics", cli_diags_json(d));
	return cli_result("restore", rc == EXIT_OK, j);
}

int cli_restore(const struct cli_opts *o)
{
	const char *dir = state_dir();
	struct live *lv = NULL;
	struct restore r;
	struct diag_list d;
	int rc;

	diag_list_init(&d);
	memset(&r, 0, sizeof(r));
	/* a change to the live firewall like any other: under the lock (a
	 * dry run changes nothing) */
	if (!o->dry_run && !(lv = live_lock(dir, "restore", o->wait, &d))) {
		rc = EXIT_SYSTEM;
		goto out;
	}
	/* an apply that ended before its switch is settled first */
	if (lv && live_recover(lv, &d) != LIVE_OK) {
		live_unlock(lv);
		rc = EXIT_SYSTEM;
		goto out;
	}
	rc = exit_status(restore_choose(dir, &r, &d));
	if (rc == EXIT_OK || r.rolled_back) {
		if (restore_apply(dir, &r, o->dry_run, &d) < 0)
			rc = EXIT_SYSTEM;
	}
	live_unlock(lv);
out:
	if (o->json) {
		if (cli_dump_json(result_json(o, &r, rc, &d)) < 0 && rc == EXIT_OK)
			rc = EXIT_SYSTEM;
	} else {
		cli_print_diags(stderr, &d);
		if (rc == EXIT_OK)
			printf("%sgeneration %u (%s mode, applied from %s): %zu kernel rules, %zu set elements%s\n",
			       o->dry_run ? "dry run: the kernel accepts " : "restored ",
			       r.generation, r.meta.mode == PLAN_ENGINE ? "engine" : "kernel-only",
			       r.meta.source,
			       plan_rule_count(r.plan), plan_elem_count(r.plan),
			       o->dry_run ? "; nothing was changed" : "");
		else if (r.generation && !r.loaded)
			fprintf(stderr, "sagate restore: generation %u not restored; the kernel is as it was\n",
				r.generation);
	}
	restore_fini(&r);
	diag_list_fini(&d);
	return rc;
}
