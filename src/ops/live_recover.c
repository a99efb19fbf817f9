/* An apply or a rollback that ended between the kernel's commit and the
 * switch of `current`, finished or discarded by the next command under
 * the lock; and an outcome sagated left unknown (its answer lost), told
 * as the kernel, read again, shows it.
 *
 * apply records `applying` (the generation it prepared and the one it
 * replaces) before it asks sagated and the kernel, and removes it after
 * the switch.  Found by the next command, the record is settled by what
 * the kernel holds: the prepared generation (made current: the switch
 * apply did not live to make), or the one it replaced (the prepared one
 * is discarded).  A rollback records `rolling-back` the same way (the
 * target, the generation it leaves, how it switches, who rolled back);
 * its target is a kept generation, never discarded: the record only
 * goes when the kernel still holds the generation left. */
#include "config.h"

#include "handover.h"
#include "live_int.h"
#include "nft_read.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Write record f (j, taken) of dir, for what ("apply"). */
static int record_write(const char *dir, enum state_file f, const char *what, json_t *j,
			struct diag_list *d)
{
	char path[PATH_MAX];
	int rc = -1;

	if (state_path(path, sizeof(path), dir, f) < 0)
		diag_add(d, DIAG_ERROR, dir, "", NULL, "cannot record the %s: %s", what,
			 strerror(errno));
	else if (!j)
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
	else
		rc = state_write_json(path, j, d);
	json_decref(j);
	return rc;
}

static void record_drop(const char *dir, enum state_file f)
{
	char path[PATH_MAX];

	if (state_path(path, sizeof(path), dir, f) == 0)
		unlink(path);
}

/* Record f of an interrupted what ("apply"): its object with *gen and
 * *replaces; NULL when there is none (or it cannot be read, or check,
 * given, refuses it: then nothing is known to settle, and it goes). */
static json_t *record_read(const char *dir, enum state_file f, const char *what,
			   bool (*check)(const json_t *), unsigned *gen, unsigned *replaces,
			   struct diag_list *d)
{
	char path[PATH_MAX];
	json_t *j, *g, *r;

	if (state_path(path, sizeof(path), dir, f) < 0 || access(path, F_OK) < 0)
		return NULL;
	j = json_load_file(path, 0, NULL);
	g = json_object_get(j, "generation");
	r = json_object_get(j, "replaces");
	if (!json_is_integer(g) || !json_is_integer(r) || json_integer_value(g) < 1 ||
	    json_integer_value(g) >= 1000000 || json_integer_value(r) < 0 ||
	    json_integer_value(r) >= 1000000 || (check && !check(j))) {
		diag_add(d, DIAG_WARNING, path, "", NULL,
			 "damaged record of an interrupted %s: removed (`sagate status` shows whether the kernel holds the current generation)",
			 what);
		json_decref(j);
		record_drop(dir, f);
		return NULL;
	}
	*gen = (unsigned)json_integer_value(g);
	*replaces = (unsigned)json_integer_value(r);
	return j;
}

int applying_record(const char *dir, unsigned gen, unsigned replaces, struct diag_list *d)
{
	return record_write(dir, STATE_APPLYING, "apply",
			    json_pack("{s:i, s:i}", "generation", gen, "replaces", replaces), d);
}

void applying_drop(const char *dir)
{
	record_drop(dir, STATE_APPLYING);
}

int rolling_record(const char *dir, unsigned gen, unsigned replaces, bool swap, const char *by,
		   struct diag_list *d)
{
	return record_write(dir, STATE_ROLLING_BACK, "rollback",
			    json_pack("{s:i, s:i, s:s, s:s}", "generation", gen, "replaces", replaces,
				      "switch", swap ? "swap" : "to", "by", by ? by : "rollback"),
			    d);
}

void rolling_drop(const char *dir)
{
	record_drop(dir, STATE_ROLLING_BACK);
}

/* A rollback's record names how it switches, and who rolled back (a
 * name that fits a history entry's command). */
static bool rolling_ok(const json_t *j)
{
	const char *sw = json_string_value(json_object_get(j, "switch"));
	const char *by = json_string_value(json_object_get(j, "by"));

	return sw && (strcmp(sw, "swap") == 0 || strcmp(sw, "to") == 0) && by && *by &&
	       strlen(by) < sizeof(((struct state_actor *)0)->command);
}

/* Does the live table carry generation m's digest (as its comment names
 * it, compile_table_comment), or the comment an incremental apply of m
 * kept? */
static bool holds(const struct nft_live *k, const struct state_meta *m)
{
	return k->present && state_table_holds(m, k->comment);
}

/* The kernel holds generation gen: make it current, and tell sagated
 * its bank is live (what it cannot be told is a warning: the kernel and
 * the state directory agree). */
static void tell_sagated(const char *dir, const struct state_meta *m, struct diag_list *d)
{
	struct handover h;
	struct diag_list quiet;

	diag_list_init(&quiet);
	if (handover_resume(&h, dir, m, &quiet) < 0)
		diag_add(d, DIAG_WARNING, "sagated", "", NULL, "%s", diag_last(&quiet));
	handover_fini(&h);
	diag_list_fini(&quiet);
}

static enum live_status finish_switch(const char *dir, const struct state_meta *m,
				      struct diag_list *d)
{
	if (state_commit(dir, m->generation, d) < 0)
		return LIVE_FAILED;
	rollback_record_drop(dir);
	diag_add(d, DIAG_WARNING, dir, "", NULL,
		 "an earlier apply of %s ended between the kernel's commit and its switch: the kernel holds its generation %u, now made current",
		 m->source, m->generation);
	tell_sagated(dir, m, d);
	return LIVE_OK;
}

/* The switch an apply did not live to make, or its generation gone. */
static enum live_status settle_apply(struct live *lv, struct diag_list *d)
{
	struct state_meta g = { 0 }, r = { 0 };
	struct nft_live k = { 0 };
	enum live_status st = LIVE_OK;
	unsigned gen, replaces, cur;
	json_t *j;
	bool hg, hr;

	j = record_read(lv->dir, STATE_APPLYING, "apply", NULL, &gen, &replaces, d);
	if (!j)
		return LIVE_OK;
	json_decref(j);
	cur = state_generation(lv->dir, STATE_CURRENT);
	if (cur == gen || cur != replaces) {
		/* switched (only the record's removal was lost), or settled
		 * since by a command of an older sagate: nothing to do */
		applying_drop(lv->dir);
		return LIVE_OK;
	}
	if (state_read_meta(lv->dir, gen, &g, d) < 0) {
		/* never recorded whole: the kernel cannot hold it */
		state_discard(lv->dir, gen);
		applying_drop(lv->dir);
		return LIVE_OK;
	}
	if (nft_read_live(&k, d) < 0 || (replaces && state_read_meta(lv->dir, replaces, &r, d) < 0)) {
		st = LIVE_FAILED;
		goto out;
	}
	hg = holds(&k, &g);
	hr = replaces ? holds(&k, &r) : !k.present;
	if (!hg && hr && k.present) {
		/* an incremental apply keeps the table's comment, which still
		 * names what it replaced: the table's content says */
		char kept[sizeof(g.table_comment)];

		if (live_incr_holds(lv->dir, gen, kept, sizeof(kept)) &&
		    state_set_table_comment(lv->dir, gen, kept, d) == 0) {
			snprintf(g.table_comment, sizeof(g.table_comment), "%s", kept);
			hg = true;
			hr = false;
		}
	}
	if (hg && hr && (g.mode != r.mode || (g.mode == PLAN_ENGINE && g.queue != r.queue))) {
		/* the same policy in another mode or bank: the comment cannot
		 * tell which; load the current one again, which can */
		st = live_kernel_load(lv->dir, replaces, d);
		if (st != LIVE_OK)
			goto out;
		hg = false;
	}
	if (hg) {
		st = finish_switch(lv->dir, &g, d);
		if (st != LIVE_OK)
			goto out;
	} else {
		state_discard(lv->dir, gen);
		diag_add(d, DIAG_WARNING, lv->dir, "", NULL,
			 "an earlier apply of %s ended before the kernel took its generation %u: discarded it; generation %u stays current%s",
			 g.source, gen, replaces,
			 hr ? "" : " (but the kernel holds neither: `sagate status` says what it holds)");
	}
	applying_drop(lv->dir);
out:
	nft_live_fini(&k);
	state_meta_fini(&g);
	state_meta_fini(&r);
	return st;
}

/* The kernel holds rollback target m, which replaces left: the switch
 * the rollback (by, swap) did not live to make, its history, and the
 * confirm it cancelled.  The record stays when current cannot switch. */
static enum live_status finish_rollback(const char *dir, const struct state_meta *m,
					unsigned left, bool swap, const char *by,
					struct diag_list *d)
{
	unsigned gen = m->generation;
	struct pending pend;
	struct diag_list quiet;
	int rc;

	/* the previous link names gen while nothing switched since */
	if (swap && state_generation(dir, STATE_PREVIOUS) == gen)
		rc = state_swap(dir, d);
	else
		rc = state_switch_to(dir, gen, d);
	if (rc < 0)
		return LIVE_FAILED;
	diag_add(d, DIAG_WARNING, dir, "", NULL,
		 "an earlier %s from generation %u to %u (%s) ended between the kernel's commit and its switch: the kernel holds generation %u, now made current",
		 by, left, gen, m->source, gen);
	live_rollback_notes(dir, by, left, gen, swap, d);
	/* the confirm of the generation left: its rollback cancelled it */
	diag_list_init(&quiet);
	if (swap && pending_read(dir, &pend, &quiet) == 1 && pend.pub.generation == left &&
	    pending_withdraw(dir, &quiet) < 0)
		diag_add(d, DIAG_WARNING, dir, "", NULL, "%s", diag_last(&quiet));
	diag_list_fini(&quiet);
	tell_sagated(dir, m, d);
	return LIVE_OK;
}

/* The switch a rollback did not live to make; or, the kernel never took
 * its target, the record goes (the target stays: a kept generation). */
static enum live_status settle_rollback(struct live *lv, struct diag_list *d)
{
	struct state_meta g = { 0 }, r = { 0 };
	struct nft_live k = { 0 };
	enum live_status st = LIVE_OK;
	unsigned gen, left, cur;
	char by[sizeof(((struct state_actor *)0)->command)];
	char kept[sizeof(g.table_comment)] = "";
	struct diag_list quiet;
	bool swap, hg, hr;
	json_t *j;

	j = record_read(lv->dir, STATE_ROLLING_BACK, "rollback", rolling_ok, &gen, &left, d);
	if (!j)
		return LIVE_OK;
	swap = strcmp(json_string_value(json_object_get(j, "switch")), "swap") == 0;
	snprintf(by, sizeof(by), "%s", json_string_value(json_object_get(j, "by")));
	json_decref(j);
	cur = state_generation(lv->dir, STATE_CURRENT);
	diag_list_init(&quiet);
	if (cur == gen || cur != left) {
		/* switched (only the record's removal was lost), or settled
		 * since: nothing to do */
		rolling_drop(lv->dir);
		goto out;
	}
	if (state_read_meta(lv->dir, gen, &g, &quiet) < 0 ||
	    state_read_meta(lv->dir, left, &r, &quiet) < 0) {
		/* unreadable: rollback could not have loaded it either */
		diag_add(d, DIAG_WARNING, lv->dir, "", NULL,
			 "an earlier %s to generation %u ended before its switch, and cannot be settled (%s): generation %u stays current (`sagate status` says whether the kernel holds it)",
			 by, gen, diag_last(&quiet), left);
		rolling_drop(lv->dir);
		goto out;
	}
	if (nft_read_live(&k, d) < 0) {
		st = LIVE_FAILED;
		goto out;
	}
	hg = holds(&k, &g);
	hr = holds(&k, &r);
	if (hr) {
		/* an incremental rollback keeps the table's comment, which
		 * names the generation left (and so may the target's meta,
		 * from an incremental apply of it): the table's content says,
		 * queue numbers and all */
		hg = live_incr_holds(lv->dir, gen, kept, sizeof(kept));
		if (hg && state_set_table_comment(lv->dir, gen, kept, &quiet) < 0)
			diag_add(d, DIAG_WARNING, lv->dir, "", NULL,
				 "generation %u: the table comment the rollback kept could not be recorded (status will say the table differs): %s",
				 gen, diag_last(&quiet));
		else if (hg)
			snprintf(g.table_comment, sizeof(g.table_comment), "%s", kept);
	}
	g.generation = gen;
	if (hg) {
		st = finish_rollback(lv->dir, &g, left, swap, by, d);
		if (st != LIVE_OK)
			goto out;
	} else {
		diag_add(d, DIAG_WARNING, lv->dir, "", NULL,
			 "an earlier %s to generation %u ended before the kernel took it: generation %u stays current%s",
			 by, gen, left,
			 hr ? "" : " (but the kernel holds neither: `sagate status` says what it holds)");
	}
	rolling_drop(lv->dir);
out:
	diag_list_fini(&quiet);
	nft_live_fini(&k);
	state_meta_fini(&g);
	state_meta_fini(&r);
	return st;
}

enum live_status live_recover(struct live *lv, struct diag_list *d)
{
	enum live_status st = settle_apply(lv, d);

	return st == LIVE_OK ? settle_rollback(lv, d) : st;
}

/* What the kernel holds, as a phrase: "generation 3 (p.json)". */
static void kernel_says(const char *dir, const struct nft_live *k, unsigned asked,
			struct state_meta *live, char *buf, size_t len)
{
	unsigned cand[3] = { asked, state_generation(dir, STATE_CURRENT),
			     state_generation(dir, STATE_PREVIOUS) };
	struct diag_list quiet;

	diag_list_init(&quiet);
	memset(live, 0, sizeof(*live));
	snprintf(buf, len, k->present ? "a table inet sagate of no recorded generation (its comment: %s)" :
		 "no table inet sagate", k->comment ? k->comment : "none");
	for (int i = 0; i < 3 && k->present; i++) {
		if (!cand[i] || state_read_meta(dir, cand[i], live, &quiet) < 0)
			continue;
		if (holds(k, live)) {
			snprintf(buf, len, "generation %u (%s, %s mode%s)", cand[i], live->source,
				 live->mode == PLAN_ENGINE ? "engine" : "kernel-only",
				 cand[i] == asked ? ", the one asked for" : ", as before");
			break;
		}
		state_meta_fini(live);
	}
	diag_list_fini(&quiet);
}

void live_report_unknown(const char *dir, unsigned asked, struct diag_list *d)
{
	struct nft_live k = { 0 };
	struct state_meta live = { 0 };
	struct diag_list quiet;
	char what[512], why[512], path[PATH_MAX], serve[600];
	json_t *counters;

	diag_list_init(&quiet);
	if (nft_read_live(&k, &quiet) < 0) {
		diag_add(d, DIAG_ERROR, "sagated", "", NULL,
			 "outcome unknown: sagated did not answer about generation %u, and the kernel cannot be read again (%s); nothing was changed to another mode: run `sagate status`",
			 asked, diag_last(&quiet));
		diag_list_fini(&quiet);
		return;
	}
	kernel_says(dir, &k, asked, &live, what, sizeof(what));
	counters = handover_counters(path, sizeof(path));
	snprintf(why, sizeof(why), "no running sagated wrote its counters");
	if (!live.source)
		snprintf(serve, sizeof(serve), "nothing is known of what sagated serves");
	else if (live.mode != PLAN_ENGINE)
		snprintf(serve, sizeof(serve), "it queues nothing to sagated");
	else if (handover_check(counters, &live, why, sizeof(why)) == HANDOVER_SERVED)
		snprintf(serve, sizeof(serve), "sagated's counters say it serves it");
	else
		snprintf(serve, sizeof(serve), "sagated was not confirmed to serve it (%s)", why);
	diag_add(d, DIAG_ERROR, "sagated", "", NULL,
		 "outcome unknown: sagated's answer about generation %u was lost; read again, the kernel holds %s; %s; no mode was changed: check `sagate status`, then apply again",
		 asked, what, serve);
	json_decref(counters);
	state_meta_fini(&live);
	nft_live_fini(&k);
	diag_list_fini(&quiet);
}
