/* sagate status / list: what is live, read from the kernel, next to what
 * the state directory says was applied. */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "cli_view.h"
#include "estats.h"
#include "handover.h"
#include "live.h"
#include "nft_read.h"
#include "parse.h"
#include "state.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Does the live table carry the applied policy's source and digest? */
static const char *kernel_state(const struct cli_view *v)
{
	if (!v->live.present)
		return "missing";
	if (!v->gen)
		return "present, but no applied policy is recorded here";
	return cli_view_table_matches(v) ? "matches the applied policy" :
	       "differs from the applied policy";
}

static void time_text(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&tt, &tm));
}

/* The confirm line: one pending, or the last one its watcher undid. */
static void print_confirm(const struct cli_view *v)
{
	char due[64], at[64];

	if (v->pending && v->confirm.watcher) {
		time_text(v->confirm.deadline, due, sizeof(due));
		printf("confirm:   pending: rolled back at %s unless `sagate confirm`\n", due);
	} else if (v->pending) {
		printf("confirm:   pending, but its timer is gone (reboot?): nothing will roll it back; run `sagate confirm` or `sagate rollback`\n");
	} else if (v->rolled_back) {
		time_text(v->rb.deadline, due, sizeof(due));
		time_text(v->rb.at, at, sizeof(at));
		if (v->rb.error)
			printf("confirm:   generation %u was not confirmed by %s; rolling it back failed at %s: %s\n",
			       v->rb.generation, due, at, v->rb.error);
		else
			printf("confirm:   generation %u was not confirmed by %s: rolled back at %s\n",
			       v->rb.generation, due, at);
	}
}

static void print_engine(const json_t *e, const char *path, bool needed)
{
	const char *reason;
	json_t *n;
	bool first = true;

	if (!e) {
		if (needed)
			printf("engine:    no counters at %s: sagated has not run here (or SAGATE_RUN_DIR differs)\n",
			       path);
		return;
	}
	printf("engine:    sagated pid %lld %s: %lld accepted, %lld dropped",
	       (long long)json_integer_value(json_object_get(e, "pid")),
	       json_is_true(json_object_get(e, "alive")) ? "running" : "not running (last counters)",
	       (long long)json_integer_value(json_object_get(e, "accepted")),
	       (long long)json_integer_value(json_object_get(e, "dropped")));
	json_object_foreach((json_t *)json_object_get(e, "drops"), reason, n)
		if (json_integer_value(n) > 0) {
			printf("%s%s %lld", first ? " (" : ", ", reason, (long long)json_integer_value(n));
			first = false;
		}
	printf("%s; %lld queue overruns", first ? "" : ")",
	       (long long)json_integer_value(json_object_get(e, "queue_enobufs")));
	/* a log whose reader fell behind: decisions went unlogged */
	if (json_integer_value(json_object_get(e, "log_lines_lost")) > 0)
		printf("; %lld log lines lost",
		       (long long)json_integer_value(json_object_get(e, "log_lines_lost")));
	putchar('\n');
}

/* "-LAST" of a range of count queues from first (static buffer). */
static const char *cli_range_tail(unsigned first, unsigned count)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "-%u", first + count - 1);
	return buf;
}

int cli_status(const struct cli_opts *o)
{
	char epath[4096], why[512] = "";
	json_t *engine = handover_counters(epath, sizeof(epath));
	struct cli_view v;
	int rc = cli_view_load(&v);
	char when[64] = "";
	enum handover_served served = HANDOVER_NOT_RUNNING;
	json_t *logging;

	if (rc != EXIT_OK) {
		cli_print_diags(stderr, &v.diags);
		cli_view_fini(&v);
		json_decref(engine);
		return rc;
	}
	if (v.gen)
		time_text(v.meta.applied_at, when, sizeof(when));
	/* the kernel and sagated never disagree silently */
	if (v.gen)
		served = handover_check(engine, &v.meta, why, sizeof(why));
	if (served == HANDOVER_MISMATCH)
		diag_add(&v.diags, DIAG_ERROR, "sagated", "", NULL, "%s", why);
	logging = v.live.present ? cli_log_state(v.pol, &v.live, &v.diags) : NULL;
	if (o->json) {
		json_t *j = json_pack("{s:s, s:b, s:s?, s:I, s:I, s:I}",
			"kernel", kernel_state(&v), "table_present", v.live.present,
			"table_comment", v.live.comment,
			"sets", (json_int_t)v.live.sets, "elements", (json_int_t)v.live.elements,
			"cleartext_dropped", (json_int_t)cli_view_cleartext_drops(&v.live));

		if (v.gen)
			json_object_set_new(j, "applied", json_pack("{s:s, s:s, s:s, s:i, s:I, s:i, s:i}",
				"source", v.meta.source, "sha256", v.meta.sha256,
				"mode", v.meta.mode == PLAN_ENGINE ? "engine" : "kernel-only",
				"generation", v.gen, "applied_at", (json_int_t)v.meta.applied_at,
				"queue", v.meta.queue, "queues", (int)(v.meta.queue_count ? v.meta.queue_count : 1)));
		if (v.prev)
			json_object_set_new(j, "previous_generation", json_integer(v.prev));
		if (v.pending)
			json_object_set_new(j, "pending_confirm", json_pack("{s:i, s:I, s:b}",
				"generation", v.confirm.generation,
				"deadline", (json_int_t)v.confirm.deadline,
				"watcher_running", v.confirm.watcher));
		if (v.rolled_back)
			json_object_set_new(j, "rolled_back", json_pack("{s:i, s:i, s:I, s:I, s:s*}",
				"generation", v.rb.generation, "to", v.rb.to,
				"deadline", (json_int_t)v.rb.deadline, "at", (json_int_t)v.rb.at,
				"error", v.rb.error));
		if (engine)
			json_object_set(j, "engine", engine);
		if (v.gen && v.meta.mode == PLAN_ENGINE)
			json_object_set_new(j, "engine_serves_applied",
					    served == HANDOVER_NOT_RUNNING ? json_null() :
					    json_boolean(served == HANDOVER_SERVED));
		if (served == HANDOVER_MISMATCH)
			json_object_set_new(j, "engine_mismatch", json_string(why));
		if (v.unsettled)
			json_object_set_new(j, "unsettled", json_string(v.unsettled));
		if (logging)
			json_object_set(j, "logging", logging);
		rc = cli_dump_json(cli_result("status", served != HANDOVER_MISMATCH, j)) < 0 ?
		     EXIT_SYSTEM : EXIT_OK;
	} else {
		if (v.gen)
			printf("policy:    %s (generation %u, %s mode, applied %s)\n"
			       "digest:    %s\n", v.meta.source, v.gen,
			       v.meta.mode == PLAN_ENGINE ? "engine" : "kernel-only", when,
			       v.meta.sha256);
		else
			printf("policy:    none applied (state directory %s)\n", state_dir());
		printf("kernel:    table inet sagate %s\n", kernel_state(&v));
		if (v.live.present)
			printf("contents:  %zu sets, %zu elements; %llu packets dropped for arriving or leaving in cleartext on require-ipsec flows\n",
			       v.live.sets, v.live.elements,
			       (unsigned long long)cli_view_cleartext_drops(&v.live));
		if (v.prev)
			printf("rollback:  to generation %u\n", v.prev);
		print_confirm(&v);
		if (v.unsettled)
			printf("unsettled: %s is running, or ended between the kernel's commit and its switch: the lines above may not say what the kernel holds until the next apply, rollback or confirm settles it\n",
			       strcmp(v.unsettled, "apply") == 0 ? "an apply" : "a rollback");
		print_engine(engine, epath, v.gen && v.meta.mode == PLAN_ENGINE);
		if (served == HANDOVER_SERVED && v.gen && v.meta.mode == PLAN_ENGINE)
			printf("serving:   generation %u on queue%s %u%s, as applied\n", v.gen,
			       v.meta.queue_count > 1 ? "s" : "", v.meta.queue,
			       v.meta.queue_count > 1 ? cli_range_tail(v.meta.queue, v.meta.queue_count) : "");
		else if (served == HANDOVER_MISMATCH)
			printf("serving:   MISMATCH: %s\n", why);
		cli_log_state_print(logging);
	}
	json_decref(logging);
	if (served == HANDOVER_MISMATCH && rc == EXIT_OK)
		rc = EXIT_SYSTEM;
	json_decref(engine);
	cli_print_diags(stderr, &v.diags);
	cli_view_fini(&v);
	return rc;
}

/* The width of list's first column: the longest rule name (or element
 * comment), and room for the kernel's rule comments, which span the
 * first three columns (ACTION and DIR take 19 more). */
static int list_width(const struct cli_view *v)
{
	size_t w = 32;

	for (size_t i = 0; v->pol && i < v->pol->nrules; i++)
		if (strlen(v->pol->rules[i].name) > w)
			w = strlen(v->pol->rules[i].name);
	for (size_t i = 0; !v->pol && i < v->live.nelems; i++)
		if (v->live.elems[i].comment && strlen(v->live.elems[i].comment) > w)
			w = strlen(v->live.elems[i].comment);
	for (size_t i = 0; i < v->live.nrules; i++)
		if (v->live.rules[i].comment && strlen(v->live.rules[i].comment) > w + 19)
			w = strlen(v->live.rules[i].comment) - 19;
	return w > 1024 ? 1024 : (int)w;
}

/* One line per policy rule, in policy order, with the kernel's counters
 * of the elements that carry its name; then the kernel's own rules. */
int cli_list(const struct cli_opts *o)
{
	struct cli_view v;
	int rc = cli_view_load(&v);
	json_t *rules = json_array(), *kernel = json_array();
	int w;

	if (rc != EXIT_OK) {
		cli_print_diags(stderr, &v.diags);
		cli_view_fini(&v);
		json_decref(rules);
		json_decref(kernel);
		return rc;
	}
	w = list_width(&v);
	if (!o->json)
		printf("%-*s %-13s %-4s %9s %12s %14s\n", w, "RULE", "ACTION", "DIR",
		       "ELEMENTS", "PACKETS", "BYTES");
	for (size_t i = 0; v.pol && i < v.pol->nrules; i++) {
		const struct rule *r = &v.pol->rules[i];
		const struct nft_count *c = nft_live_elem(&v.live, r->name);
		unsigned long long pk = c ? c->packets : 0, by = c ? c->bytes : 0;

		if (o->json)
			json_array_append_new(rules, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}",
				"rule", r->name, "action", action_name(r->action),
				"direction", direction_name(r->dir),
				"elements", (json_int_t)(c ? c->objects : 0),
				"packets", (json_int_t)pk, "bytes", (json_int_t)by));
		else
			printf("%-*s %-13s %-4s %9zu %12llu %14llu\n", w, r->name,
			       action_name(r->action),
			       r->dir == DIR_FWD ? "fwd" : direction_name(r->dir),	/* the column's width */
			       c ? c->objects : 0, pk, by);
	}
	/* no recorded policy (loaded by other means): list what the kernel has */
	for (size_t i = 0; !v.pol && i < v.live.nelems; i++) {
		const struct nft_count *c = &v.live.elems[i];

		if (o->json)
			json_array_append_new(rules, json_pack("{s:s, s:I, s:I, s:I}",
				"rule", c->comment, "elements", (json_int_t)c->objects,
				"packets", (json_int_t)c->packets, "bytes", (json_int_t)c->bytes));
		else
			printf("%-*s %-13s %-4s %9zu %12llu %14llu\n", w, c->comment, "?", "?",
			       c->objects, (unsigned long long)c->packets,
			       (unsigned long long)c->bytes);
	}
	for (size_t i = 0; i < v.live.nrules; i++) {
		const struct nft_count *c = &v.live.rules[i];

		if (o->json)
			json_array_append_new(kernel, json_pack("{s:s, s:I, s:I}",
				"comment", c->comment, "packets", (json_int_t)c->packets,
				"bytes", (json_int_t)c->bytes));
		else
			printf("%-*s %9s %12llu %14llu\n", w + 19, c->comment, "(kernel)",
			       (unsigned long long)c->packets, (unsigned long long)c->bytes);
	}
	if (o->json)
		rc = cli_dump_json(cli_result("list", true, json_pack("{s:b, s:o, s:o}",
					     "table_present", v.live.present, "rules", rules,
					     "chain_rules", kernel))) < 0 ? EXIT_SYSTEM : EXIT_OK;
	else {
		json_decref(rules);
		json_decref(kernel);
		if (!v.live.present)
			printf("(table inet sagate is not loaded: every counter is zero)\n");
	}
	cli_print_diags(stderr, &v.diags);
	cli_view_fini(&v);
	return rc;
}
