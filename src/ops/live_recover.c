/* An apply that ended between the kernel's commit and the switch of
 * `current`, finished or discarded by the next command under the lock;
 * and an outcome sagated left unknown (its answer lost), told as the
 * kernel, read again, shows it.
 *
 * apply records `applying` (the generation it prepared and the one it
 * replaces) before it asks sagated and the kernel, and removes it after
 * the switch.  Found by the next command, the record is settled by what
 * the kernel holds: the prepared generation (made current: the switch
 * apply did not live to make), or the one it replaced (the prepared one
 * is discarded). */
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

int applying_record(const char *dir, unsigned gen, unsigned replaces, struct diag_list *d)
{
	char path[PATH_MAX];
	json_t *j;
	int rc;

	if (state_path(path, sizeof(path), dir, STATE_APPLYING) < 0) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "cannot record the apply: %s", strerror(errno));
		return -1;
	}
	j = json_pack("{s:i, s:i}", "generation", gen, "replaces", replaces);
	rc = j ? state_write_json(path, j, d) : -1;
	if (!j)
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
	json_decref(j);
	return rc;
}

void applying_drop(const char *dir)
{
	char path[PATH_MAX];

	if (state_path(path, sizeof(path), dir, STATE_APPLYING) == 0)
		unlink(path);
}

/* The record: 1 with *gen and *replaces, 0 when there is none (or it
 * cannot be read: then nothing is known to settle, and it goes). */
static int applying_read(const char *dir, unsigned *gen, unsigned *replaces,
			 struct diag_list *d)
{
	char path[PATH_MAX];
	json_t *j, *g, *r;

	if (state_path(path, sizeof(path), dir, STATE_APPLYING) < 0 || access(path, F_OK) < 0)
		return 0;
	j = json_load_file(path, 0, NULL);
	g = json_object_get(j, "generation");
	r = json_object_get(j, "replaces");
	if (!json_is_integer(g) || !json_is_integer(r) || json_integer_value(g) < 1 ||
	    json_integer_value(g) >= 1000000 || json_integer_value(r) < 0 ||
	    json_integer_value(r) >= 1000000) {
		diag_add(d, DIAG_WARNING, path, "", NULL,
			 "damaged record of an interrupted apply: removed (`sagate status` shows whether the kernel holds the current generation)");
		json_decref(j);
		applying_drop(dir);
		return 0;
	}
	*gen = (unsigned)json_integer_value(g);
	*replaces = (unsigned)json_integer_value(r);
	json_decref(j);
	return 1;
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
static enum live_status finish_switch(const char *dir, const struct state_meta *m,
				      struct diag_list *d)
{
	struct handover h;
	struct diag_list quiet;

	if (state_commit(dir, m->generation, d) < 0)
		return LIVE_FAILED;
	rollback_record_drop(dir);
	diag_add(d, DIAG_WARNING, dir, "", NULL,
		 "an earlier apply of %s ended between the kernel's commit and its switch: the kernel holds its generation %u, now made current",
		 m->source, m->generation);
	diag_list_init(&quiet);
	if (handover_resume(&h, dir, m, &quiet) < 0)
		diag_add(d, DIAG_WARNING, "sagated", "", NULL, "%s", diag_last(&quiet));
	handover_fini(&h);
	diag_list_fini(&quiet);
	return LIVE_OK;
}

enum live_status live_recover(struct live *lv, struct diag_list *d)
{
	struct state_meta g = { 0 }, r = { 0 };
	struct nft_live k = { 0 };
	enum live_status st = LIVE_OK;
	unsigned gen, replaces, cur;
	bool hg, hr;

	if (applying_read(lv->dir, &gen, &replaces, d) == 0)
		return LIVE_OK;
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
