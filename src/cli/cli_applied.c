/* The policy a command works on: a FILE given on the command line, or
 * the one applied (the state directory's current generation). */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "compile.h"
#include "state.h"

#include <stdlib.h>
#include <string.h>

/* The rules of a generation's copy, named by the file the admin applied
 * (its rules are the copy's, in the same order: rules[N] is the same). */
static int name_source(struct policy *p, const char *copy, const char *source)
{
	for (size_t i = 0; i < p->nrules; i++) {
		char *s;

		if (!p->rules[i].file || strcmp(p->rules[i].file, copy) != 0)
			continue;
		if (!(s = strdup(source)))
			return EXIT_SYSTEM;
		free(p->rules[i].file);
		p->rules[i].file = s;
	}
	return EXIT_OK;
}

int cli_load_applied(bool analyse, struct loaded *l, struct state_meta *m)
{
	const char *dir = state_dir();
	unsigned gen = state_generation(dir, STATE_CURRENT);
	char *path, *c;
	int rc;

	memset(m, 0, sizeof(*m));
	diag_list_init(&l->diags);
	l->pol = NULL;
	l->cls = NULL;
	l->plan = NULL;
	if (!gen) {
		diag_add(&l->diags, DIAG_ERROR, dir, "", NULL,
			 "no policy is applied (state directory %s has no \"%s\"): name a policy FILE",
			 dir, state_file_name(STATE_CURRENT));
		return EXIT_POLICY;
	}
	if (state_read_meta(dir, gen, m, &l->diags) < 0)
		return EXIT_SYSTEM;
	diag_list_fini(&l->diags);
	path = state_policy_path(dir, gen);
	if (!path)
		return EXIT_SYSTEM;
	rc = cli_load(path, m->mode, m->queue, m->queue_count, analyse, CLI_FINDINGS_NONE, l);
	if (rc == EXIT_OK && m->source)
		rc = name_source(l->pol, path, m->source);
	free(path);
	if (rc != EXIT_OK)
		return rc;
	/* the kernel's table comment names the file the policy came from */
	if (!(c = state_table_comment(m)))
		return EXIT_SYSTEM;
	free(l->plan->comment);
	l->plan->comment = c;
	return EXIT_OK;
}

int cli_load_either(const struct cli_opts *o, const char *file, bool analyse,
		    struct loaded *l, struct state_meta *m)
{
	int rc;

	if (!file)
		return cli_load_applied(analyse, l, m);
	memset(m, 0, sizeof(*m));
	m->mode = o->no_engine ? PLAN_KERNEL_ONLY : PLAN_ENGINE;
	m->queue = o->queue;
	rc = cli_load(file, m->mode, m->queue, o->queues, analyse, CLI_FINDINGS_NONE, l);
	m->queue_count = l->plan ? l->plan->queue_count : 1;
	return rc;
}
