#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "compile.h"
#include "findings.h"
#include "live.h"
#include "parse.h"
#include "state.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

unsigned cli_queues_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > CLI_QUEUES_DEFAULT_MAX ? CLI_QUEUES_DEFAULT_MAX : (unsigned)n;
}

unsigned cli_queue_count(unsigned given, const struct policy *p, uint16_t base,
			 struct diag_list *d)
{
	unsigned n = given ? given : p && p->queues ? p->queues : 0;

	if (!n) {
		/* no --queues and no "queues": the live generation's count (a
		 * running sagated serves banks of that size, and changing it
		 * means restarting sagated), else one queue per online CPU;
		 * the default fits below 65535 whatever --queue says */
		n = live_queue_count(state_dir());
		if (!n)
			n = cli_queues_default();
		while (n > 1 && base + 2 * n - 1 > 65535)
			n--;
		return n;
	}
	if ((unsigned)base + 2 * n - 1 > 65535) {
		diag_add(d, DIAG_ERROR, given || !p ? "" : p->file, given ? "" : "queues", NULL,
			 "%s %u from queue %u: its second bank (queues %u-%u) would pass 65535; sagated needs both to hand a policy over without a gap",
			 given ? "--queues" : "queues", n, base, base + n, base + 2 * n - 1);
		return 0;
	}
	return n;
}

int cli_parse(const char *file, struct loaded *l)
{
	/* what was applied is loaded whatever its size: it passed its limit then */
	/* the command line is one thread: jansson may use an arena */
	struct parse_opts po = { .max_file_size = state_owns(file) ? STATE_MAX_BUNDLE : 0,
				 .json_arena = true };

	diag_list_init(&l->diags);
	l->cls = NULL;
	l->plan = NULL;
	trace_phase("start");
	l->pol = parse_policy_file(file, &po, &l->diags);
	trace_phase("parse");
	return l->pol ? EXIT_OK : EXIT_POLICY;
}

int cli_load(const char *file, enum plan_mode mode, uint16_t queue, unsigned queues,
	     bool analyse, size_t shown, struct loaded *l)
{
	int rc = cli_parse(file, l);

	return rc == EXIT_OK ? cli_build(file, mode, queue, queues, analyse, shown, l) : rc;
}

size_t cli_findings_shown(const struct cli_opts *o, bool json_lists)
{
	return (o->json && json_lists) || o->all_findings ? CLI_FINDINGS_ALL : CLI_FINDINGS_SHOWN;
}

int cli_build(const char *file, enum plan_mode mode, uint16_t queue, unsigned queues,
	      bool analyse, size_t shown, struct loaded *l)
{
	struct compile_opts co = { mode, queue, cli_queue_count(queues, l->pol, queue, &l->diags) };
	bool applied = state_owns(file);

	if (!co.queues)
		return EXIT_USAGE;
	l->cls = classify(l->pol, (analyse ? CLASSIFY_ANALYSE : 0) |
			  (applied ? 0 : CLASSIFY_LIMIT));
	trace_phase("classify");
	if (l->cls && !l->cls->over_limit)
		l->plan = compile_plan(l->pol, l->cls, &co);
	trace_phase("compile");
	if (l->cls && compile_over_limit(l->pol, l->cls, l->plan, &l->diags))
		return EXIT_POLICY;
	if (findings_mode_refused(l->pol, co.mode, &l->diags))
		return EXIT_POLICY;
	if (!l->plan) {
		diag_add(&l->diags, DIAG_ERROR, file, "", NULL,
			 "out of memory while compiling");
		return EXIT_SYSTEM;
	}
	diag_list_cap(&l->diags, shown);
	findings_add(l->pol, l->cls, co.mode, &l->diags);
	trace_phase("findings");
	return EXIT_OK;
}

void cli_unload(struct loaded *l)
{
	plan_free(l->plan);
	classes_free(l->cls);
	policy_free(l->pol);
	diag_list_fini(&l->diags);
}

/* Is f the journal?  systemd names the stream it connected a service's
 * output to in JOURNAL_STREAM ("device:inode"); a line written there may
 * then begin with its priority, as sd-daemon(3)'s "<3>" (error) and
 * "<4>" (warning), so that `journalctl -p warning` shows it. */
static bool is_journal(FILE *f)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(fileno(f), &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static void print_diags(FILE *f, const struct diag_list *d, bool acknowledged)
{
	bool journal = is_journal(f);

	for (size_t i = 0; i < d->count; i++) {
		char *s;

		if (d->items[i].acknowledged && !acknowledged)
			continue;
		s = diag_format(&d->items[i]);

		fprintf(f, "%s%s\n", !journal ? "" : d->items[i].severity == DIAG_ERROR ? "<3>" : "<4>",
			s ? s : "out of memory");
		free(s);
	}
	/* what the cap left out, one line a kind, worded as a finding */
	for (size_t i = 0; i < d->ntallies; i++) {
		const struct diag_tally *t = &d->tallies[i];
		struct diag x = { .severity = t->severity, .file = t->file, .path = "",
				  .kind = t->kind, .acknowledged = t->acknowledged };
		char msg[128], *s;

		if (!t->omitted || (t->acknowledged && !acknowledged))
			continue;
		snprintf(msg, sizeof(msg), "... and %zu more of this kind, not shown (--all-findings shows them all)",
			 t->omitted);
		x.message = msg;
		s = diag_format(&x);
		fprintf(f, "%s%s\n", !journal ? "" : t->severity == DIAG_ERROR ? "<3>" : "<4>",
			s ? s : "out of memory");
		free(s);
	}
}

void cli_print_diags(FILE *f, const struct diag_list *d)
{
	print_diags(f, d, false);
}

void cli_print_all_diags(FILE *f, const struct diag_list *d)
{
	print_diags(f, d, true);
}

void cli_print_errors(FILE *f, const struct diag_list *d)
{
	for (size_t i = 0; i < d->count; i++) {
		const struct diag *x = &d->items[i];
		char *s;

		if (x->severity != DIAG_ERROR && strcmp(x->file ? x->file : "", "xfrm") != 0 &&
		    strcmp(x->file ? x->file : "", "logging") != 0)
			continue;
		s = diag_format(x);
		fprintf(f, "%s\n", s ? s : "out of memory");
		free(s);
	}
}

json_t *cli_diags_json(const struct diag_list *d)
{
	json_t *a = json_array();

	for (size_t i = 0; i < d->count; i++) {
		const struct diag *x = &d->items[i];

		json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s}",
			"severity", x->severity == DIAG_ERROR ? "error" : "warning",
			"file", x->file ? x->file : "", "path", x->path ? x->path : "",
			"rule", x->rule, "message", x->message ? x->message : "out of memory");

		if (o && x->kind)
			json_object_set_new(o, "kind", json_string(x->kind));
		if (o && x->acknowledged)
			json_object_set_new(o, "acknowledged", json_true());
		json_array_append_new(a, o);
	}
	return a;
}

json_t *cli_result(const char *command, bool ok, json_t *rest)
{
	json_t *j = json_pack("{s:s, s:b}", "command", command, "ok", ok);

	if (j && rest)
		json_object_update(j, rest);
	json_decref(rest);
	return j;
}

int cli_dump_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	int rc = s && printf("%s\n", s) >= 0 && fflush(stdout) == 0 ? 0 : -1;

	free(s);
	json_decref(j);
	return rc;
}

