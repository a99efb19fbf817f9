/* sagate history: one line per generation kept in the state directory,
 * who applied it and what became of it (history.h), as text or --json. */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "history.h"
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void utc(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	strftime(buf, len, "%Y-%m-%d %H:%M:%S", gmtime_r(&tt, &tm));
}

/* "root (uid 0)", or "unknown" for a generation that did not record it. */
static void who_text(const struct state_actor *a, char *buf, size_t len)
{
	if (a->uid < 0)
		snprintf(buf, len, "unknown");
	else if (a->user[0])
		snprintf(buf, len, "%s (uid %ld)", a->user, a->uid);
	else
		snprintf(buf, len, "uid %ld", a->uid);
}

/* The admin's file: absolute when it was recorded so, else what is known. */
static void source_text(const struct state_meta *m, char *buf, size_t len)
{
	if (m->source_path)
		snprintf(buf, len, "%s", m->source_path);
	else if (m->source[0] == '/')
		snprintf(buf, len, "%s", m->source);
	else
		snprintf(buf, len, "unknown (recorded as %s, relative)", m->source);
}

static void outcome_text(const struct history *h, const struct history_entry *e, char *buf,
			 size_t len)
{
	const struct state_outcome *o = &e->what;
	char at[32], who[96];
	int n = 0;

	switch (e->outcome) {
	case HISTORY_PENDING:
		utc(h->pending_deadline, at, sizeof(at));
		n = h->pending_watcher ?
		    snprintf(buf, len, "unconfirmed-pending: rolled back at %s unless confirmed", at) :
		    snprintf(buf, len, "unconfirmed-pending, its timer gone");
		break;
	case HISTORY_CONFIRMED:
		utc(o->confirmed_by.at, at, sizeof(at));
		n = snprintf(buf, len, "live, confirmed at %s", at);
		break;
	case HISTORY_LIVE:
		utc(o->reinstated_by.at, at, sizeof(at));
		n = o->reinstated ? snprintf(buf, len, "live again by %s at %s",
					     o->reinstated_by.command, at) :
				    snprintf(buf, len, "live");
		break;
	case HISTORY_ROLLED_BACK:
		utc(o->rolled_back_by.at, at, sizeof(at));
		who_text(&o->rolled_back_by, who, sizeof(who));
		n = o->by_expiry ?
		    snprintf(buf, len, "rolled back by expiry%s at %s",
			     strcmp(o->rolled_back_by.command, "restore") ? "" : " (restore at boot)",
			     at) :
		    snprintf(buf, len, "rolled back by admin %s at %s", who, at);
		break;
	case HISTORY_SUPERSEDED:
		n = snprintf(buf, len, "superseded%s", o->confirmed ? " (was confirmed)" : "");
		break;
	case HISTORY_DAMAGED:
		n = snprintf(buf, len, "damaged: %s", e->why);
		break;
	}
	if (e->target && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; rollback target");
}

static void print_text(const struct history *h)
{
	char when[32], who[128], out[512], src[4200];
	int wwho = 3, wout = 7;

	if (!h->n) {
		printf("no generations in %s: nothing was applied with this state directory\n",
		       state_dir());
		return;
	}
	for (size_t i = 0; i < h->n; i++) {
		const struct history_entry *e = &h->v[i];
		int a, b;

		if (e->outcome == HISTORY_DAMAGED)
			continue;
		who_text(&e->meta.applied_by, who, sizeof(who));
		outcome_text(h, e, out, sizeof(out));
		a = (int)strlen(who) + 1 + (int)strlen(e->meta.applied_by.uid < 0 ? "" :
							  e->meta.applied_by.command);
		b = (int)strlen(out);
		wwho = a > wwho ? a : wwho;
		wout = b > wout ? b : wout;
	}
	printf("  %-6s %-19s %-*s %-11s %-12s %-*s %s\n", "GEN", "APPLIED (UTC)", wwho, "BY",
	       "MODE", "DIGEST", wout, "OUTCOME", "SOURCE");
	for (size_t i = 0; i < h->n; i++) {
		const struct history_entry *e = &h->v[i];
		const struct state_meta *m = &e->meta;
		char by[256];

		outcome_text(h, e, out, sizeof(out));
		if (e->outcome == HISTORY_DAMAGED) {
			printf("  %-6u %s\n", e->generation, out);
			continue;
		}
		utc(m->applied_at, when, sizeof(when));
		who_text(&m->applied_by, who, sizeof(who));
		snprintf(by, sizeof(by), "%s%s%s", who, m->applied_by.uid < 0 ? "" : " ",
			 m->applied_by.uid < 0 ? "" : m->applied_by.command);
		source_text(m, src, sizeof(src));
		printf("%c %-6u %-19s %-*s %-11s %-12.12s %-*s %s\n",
		       e->generation == h->current ? '*' : ' ', e->generation, when, wwho, by,
		       m->mode == PLAN_ENGINE ? "engine" : "kernel-only", m->sha256, wout, out, src);
	}
}

/* {"at", "uid", "user", "command"}, or null when unknown. */
static json_t *actor_json(const struct state_actor *a, bool known)
{
	char at[32];

	if (!known || a->uid < 0)
		return json_null();
	utc(a->at, at, sizeof(at));
	strcat(at, " UTC");
	return json_pack("{s:s, s:I, s:I, s:s, s:s}", "at", at, "at_epoch", (json_int_t)a->at,
			 "uid", (json_int_t)a->uid, "user", a->user, "command", a->command);
}

static json_t *entry_json(const struct history *h, const struct history_entry *e)
{
	const struct state_meta *m = &e->meta;
	const struct state_outcome *o = &e->what;
	json_t *j = json_pack("{s:i, s:s, s:b, s:b}", "generation", e->generation, "outcome",
			      history_outcome_name(e->outcome), "current",
			      e->generation == h->current, "rollback_target", e->target);
	json_t *rb;
	char at[32];

	if (!j)
		return NULL;
	if (e->outcome == HISTORY_DAMAGED) {
		json_object_set_new(j, "damaged", json_string(e->why));
		return j;
	}
	utc(m->applied_at, at, sizeof(at));
	strcat(at, " UTC");
	rb = actor_json(&o->rolled_back_by, o->rolled_back);
	if (json_is_object(rb)) {
		json_object_set_new(rb, "by", json_string(o->by_expiry ? "expiry" : "admin"));
		json_object_set_new(rb, "to", json_integer(o->rolled_back_to));
	}
	json_object_update_new(j, json_pack(
		"{s:s, s:I, s:o, s:s, s:s?, s:s, s:s, s:s, s:i, s:o, s:o, s:o}",
		"applied_at", at, "applied_at_epoch", (json_int_t)m->applied_at,
		"applied_by", actor_json(&m->applied_by, true),
		"source", m->source, "source_path", m->source_path,
		"mode", m->mode == PLAN_ENGINE ? "engine" : "kernel-only",
		"sha256", m->sha256, "bundle_sha256", m->bundle_sha256,
		"confirm_seconds", (int)m->confirm,
		"confirmed", actor_json(&o->confirmed_by, o->confirmed),
		"rolled_back", rb,
		"reinstated", actor_json(&o->reinstated_by, o->reinstated)));
	if (e->outcome == HISTORY_PENDING) {
		utc(h->pending_deadline, at, sizeof(at));
		strcat(at, " UTC");
		json_object_set_new(j, "confirm_deadline", json_string(at));
		json_object_set_new(j, "confirm_timer", json_boolean(h->pending_watcher));
	}
	return j;
}

int cli_history(const struct cli_opts *o)
{
	struct history h;
	struct diag_list d;
	json_t *gens, *j;
	int rc;

	diag_list_init(&d);
	rc = history_read(state_dir(), &h, &d) < 0 ? EXIT_SYSTEM : EXIT_OK;
	if (!o->json) {
		if (rc == EXIT_OK)
			print_text(&h);
		cli_print_diags(stderr, &d);
	} else {
		gens = json_array();
		for (size_t i = 0; i < h.n; i++)
			json_array_append_new(gens, entry_json(&h, &h.v[i]));
		j = cli_result("history", rc == EXIT_OK, json_pack("{s:s, s:o, s:o, s:o}",
			"state_dir", state_dir(),
			"current", h.current ? json_integer(h.current) : json_null(),
			"generations", gens, "diagnostics", cli_diags_json(&d)));
		if (cli_dump_json(j) < 0 && rc == EXIT_OK)
			rc = EXIT_SYSTEM;
	}
	history_fini(&h);
	diag_list_fini(&d);
	return rc;
}
