/* sagate check / compile: policy file in, findings and plan out. */
#include "config.h"

#include "classify.h"
#include "cli.h"
#include "compile.h"
#include "findings.h"
#include "parse.h"
#include "plan_print.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* Everything a policy turns into, built in one place for both commands. */
struct loaded {
	struct diag_list diags;
	struct policy *pol;
	struct classes *cls;
	struct plan *plan;
};

static int load(const struct cli_opts *o, const char *file, struct loaded *l)
{
	struct compile_opts co = { o->no_engine ? PLAN_KERNEL_ONLY : PLAN_ENGINE,
				   o->queue };

	diag_list_init(&l->diags);
	l->cls = NULL;
	l->plan = NULL;
	l->pol = parse_policy_file(file, NULL, &l->diags);
	if (!l->pol)
		return EXIT_POLICY;
	l->cls = classify(l->pol, CLASSIFY_ANALYSE);
	if (l->cls)
		l->plan = compile_plan(l->pol, l->cls, &co);
	if (!l->plan) {
		diag_add(&l->diags, DIAG_ERROR, file, "", NULL,
			 "out of memory while compiling");
		return EXIT_SYSTEM;
	}
	findings_add(l->pol, l->cls, co.mode, &l->diags);
	return EXIT_OK;
}

static void unload(struct loaded *l)
{
	plan_free(l->plan);
	classes_free(l->cls);
	policy_free(l->pol);
	diag_list_fini(&l->diags);
}

static void print_diags(FILE *f, const struct diag_list *d)
{
	for (size_t i = 0; i < d->count; i++) {
		char *s = diag_format(&d->items[i]);

		fprintf(f, "%s\n", s ? s : "out of memory");
		free(s);
	}
}

static json_t *diags_json(const struct diag_list *d)
{
	json_t *a = json_array();

	for (size_t i = 0; i < d->count; i++) {
		const struct diag *x = &d->items[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s?, s:s}",
			"severity", x->severity == DIAG_ERROR ? "error" : "warning",
			"file", x->file ? x->file : "", "path", x->path ? x->path : "",
			"rule", x->rule, "message", x->message ? x->message : "out of memory"));
	}
	return a;
}

/* Print and release j; -1 when it could not be written. */
static int dump_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	int rc = s && printf("%s\n", s) >= 0 && fflush(stdout) == 0 ? 0 : -1;

	free(s);
	json_decref(j);
	return rc;
}

int cli_check(const struct cli_opts *o, const char *file)
{
	struct loaded l;
	int rc = load(o, file, &l);
	size_t warnings = l.diags.count - l.diags.errors;

	if (o->json) {
		json_t *j = json_pack("{s:s, s:b, s:I, s:I, s:o}", "file", file,
				      "ok", rc == EXIT_OK,
				      "errors", (json_int_t)l.diags.errors,
				      "warnings", (json_int_t)warnings,
				      "diagnostics", diags_json(&l.diags));

		if (rc == EXIT_OK) {
			json_object_set_new(j, "rules", json_integer((json_int_t)l.pol->nrules));
			json_object_set_new(j, "kernel_rules",
					    json_integer((json_int_t)plan_rule_count(l.plan)));
			json_object_set_new(j, "elements",
					    json_integer((json_int_t)plan_elem_count(l.plan)));
			json_object_set_new(j, "sha256", json_string(l.pol->sha256));
		}
		if (dump_json(j) < 0)
			rc = EXIT_SYSTEM;
	} else {
		print_diags(stdout, &l.diags);
		if (rc == EXIT_OK)
			printf("%s: ok: %zu rules -> %zu kernel rules, %zu set elements; %zu warning%s\n",
			       file, l.pol->nrules, plan_rule_count(l.plan),
			       plan_elem_count(l.plan), warnings, warnings == 1 ? "" : "s");
		else
			printf("%s: %zu error%s, %zu warning%s; nothing would be applied\n",
			       file, l.diags.errors, l.diags.errors == 1 ? "" : "s",
			       warnings, warnings == 1 ? "" : "s");
	}
	unload(&l);
	return rc;
}

int cli_compile(const struct cli_opts *o, const char *file)
{
	struct loaded l;
	int rc = load(o, file, &l);

	/* findings go to stderr so that stdout stays a loadable script */
	print_diags(stderr, &l.diags);
	if (rc == EXIT_OK) {
		if (o->json ? dump_json(plan_to_json(l.plan, l.pol)) < 0 :
		    plan_print_nft(stdout, l.plan, l.pol) < 0 || fflush(stdout) != 0)
			rc = EXIT_SYSTEM;
	}
	unload(&l);
	return rc;
}
