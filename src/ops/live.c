/* The transactions of the live firewall's one owner (live.h): apply,
 * rollback, confirm and flush.  Each runs under the state directory's
 * lock; rollback and the confirm watcher share the undoing of an
 * unconfirmed apply.  The kernel is changed only through nft_apply (one
 * transaction, refused if the ruleset moved on since it was read), and
 * `current` is switched only after the kernel took the change. */
#include "config.h"

#include "classify.h"
#include "compile.h"
#include "handover.h"
#include "live_int.h"
#include "nft_apply.h"
#include "parse.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void live_result_fini(struct live_result *r)
{
	state_meta_fini(&r->meta);
}

int live_next_queue(const char *dir, uint16_t base, unsigned count, uint16_t *queue,
		    struct diag_list *d)
{
	unsigned cur = state_generation(dir, STATE_CURRENT);
	struct state_meta live;
	int rc;

	if (!cur || state_read_meta(dir, cur, &live, d) < 0)
		return handover_bank(base, count, NULL, queue, d);
	rc = handover_bank(base, count, &live, queue, d);
	state_meta_fini(&live);
	return rc;
}

unsigned live_queue_count(const char *dir)
{
	unsigned cur = state_generation(dir, STATE_CURRENT), n = 0;
	struct state_meta m;
	struct diag_list d;

	diag_list_init(&d);
	if (cur && state_read_meta(dir, cur, &m, &d) == 0) {
		if (m.mode == PLAN_ENGINE)
			n = m.queue_count ? m.queue_count : 1;
		state_meta_fini(&m);
	}
	diag_list_fini(&d);
	return n;
}

/* What sagated was told, kept for the caller's output. */
static void engine_told(struct live_result *r, const struct handover *h)
{
	if (!r)
		return;
	r->engine_state = (int)h->state;
	r->engine_queue = h->req.queue;
	snprintf(r->engine_note, sizeof(r->engine_note), "%s", h->note);
}

static enum live_status kernel_status(int nft_rc)
{
	return nft_rc == 0 ? LIVE_OK : nft_rc == NFT_APPLY_MOVED ? LIVE_MOVED : LIVE_REJECTED;
}

/* A record no longer in force goes; if it cannot, it stays harmless. */
static void withdraw_quietly(const char *dir, struct diag_list *d)
{
	struct diag_list quiet;

	diag_list_init(&quiet);
	if (pending_withdraw(dir, &quiet) < 0)
		diag_add(d, DIAG_WARNING, dir, "", NULL, "%s", quiet.items[0].message);
	diag_list_fini(&quiet);
}

void recorded_fini(struct recorded *g)
{
	plan_free(g->plan);
	classes_free(g->cls);
	policy_free(g->pol);
	state_meta_fini(&g->m);
}

/* In its mode, with its queue, and with the table comment that names the
 * file it was first applied from, so that status reads as it did then. */
int recorded_load(const char *dir, unsigned gen, struct recorded *g, struct diag_list *d)
{
	struct parse_opts po = { .max_file_size = STATE_MAX_BUNDLE };
	char *path, *comment = NULL;

	memset(g, 0, sizeof(*g));
	if (state_read_meta(dir, gen, &g->m, d) < 0)
		return -1;
	path = state_policy_path(dir, gen);
	g->pol = path ? parse_policy_file(path, &po, d) : NULL;
	if (g->pol && !state_bundle_matches(&g->m, g->pol)) {
		diag_add(d, DIAG_ERROR, path, "", NULL,
			 "generation %u is damaged: policy.json does not match the digest meta.json records; not applied",
			 gen);
		free(path);
		return -1;
	}
	free(path);
	if (g->pol && (g->cls = classify(g->pol, 0)) &&
	    (g->plan = compile_plan(g->pol, g->cls, &(struct compile_opts){ g->m.mode, g->m.queue,
									       g->m.queue_count })))
		comment = state_table_comment(&g->m);
	if (!comment) {
		if (!path || g->pol)
			diag_add(d, DIAG_ERROR, dir, "", NULL, "out of memory");
		return -1;
	}
	free(g->plan->comment);
	g->plan->comment = comment;
	return 0;
}

/* Put generation gen into the kernel (0: no table); the state directory
 * is not touched, but for the queue bank: a rollback (rb, its lock; NULL
 * otherwise) compiles the generation into the bank the live table
 * (current) does not use, records that in its meta, and sends only the
 * difference from current when the live table is exactly current and
 * rb allows it (live_incr_apply; r->incr says which).  The other loads
 * replace the whole table: each puts back a generation while the kernel
 * is not known to hold `current` (a switch that failed, an apply that
 * ended before its switch, a bank the table's comment cannot tell), and
 * a difference can only start from the current generation as the live
 * table.  sagated gets the policy on its bank before the kernel switches
 * (handover.h).  *m (may be NULL) gets its meta, r (may be NULL) what
 * sagated was told. */
static enum live_status kernel_load(const char *dir, struct live *rb, unsigned gen,
				    struct state_meta *m, struct live_result *r,
				    struct diag_list *d)
{
	struct handover h = { 0 };
	struct live_incr scratch;
	struct recorded g;
	enum live_status st;
	uint16_t queue;

	if (!gen)
		return nft_flush_table(false, d) < 0 ? LIVE_REJECTED : LIVE_OK;
	if (rb) {
		struct state_meta gm;

		if (state_read_meta(dir, gen, &gm, d) < 0)
			return LIVE_FAILED;
		st = live_next_queue(dir, gm.queue_base, gm.queue_count, &queue, d) < 0 ||
		     (gm.mode == PLAN_ENGINE && queue != gm.queue &&
		      state_set_queue(dir, gen, queue, d) < 0) ? LIVE_FAILED : LIVE_OK;
		state_meta_fini(&gm);
		if (st != LIVE_OK)
			return st;
	}
	if (recorded_load(dir, gen, &g, d) < 0) {
		recorded_fini(&g);
		return LIVE_FAILED;
	}
	g.m.generation = gen;
	if (handover_prepare(&h, dir, &g.m, d) < 0)
		st = h.lost ? LIVE_UNKNOWN : LIVE_ENGINE_REFUSED;
	else if (rb)
		st = kernel_status(live_incr_apply(rb, gen, g.plan, g.pol, r ? &r->incr : &scratch, d));
	else
		st = kernel_status(nft_apply(g.plan, g.pol, false, d));
	/* the kernel switched: so does the caller, whatever sagated says */
	if (st == LIVE_OK && handover_commit(&h, d) < 0 && r)
		r->engine_after = h.lost ? LIVE_UNKNOWN : LIVE_FAILED;
	if (st == LIVE_OK)
		engine_told(r, &h);
	if (st == LIVE_OK && r && !r->keep_flows)
		flows_end(g.plan, g.pol, &r->flows, d);
	handover_fini(&h);
	if (m) {
		*m = g.m;
		g.m.source = NULL;
		g.m.source_path = NULL;
	}
	recorded_fini(&g);
	return st;
}

enum live_status live_kernel_load(const char *dir, unsigned gen, struct diag_list *d)
{
	return kernel_load(dir, NULL, gen, NULL, NULL, d);
}

/* The kernel took generation `now`, but `current` could not be switched
 * from `was`: the kernel goes back to was, so that the two agree.  false
 * when it could not. */
static bool kernel_put_back(const char *dir, unsigned was, unsigned now, struct diag_list *d)
{
	struct diag_list quiet;
	bool ok;

	diag_list_init(&quiet);
	ok = kernel_load(dir, NULL, was, NULL, NULL, &quiet) == LIVE_OK;
	if (!ok)
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "the kernel holds generation %u, but it could not be recorded as current, nor the kernel put back: rollback will not know it",
			 now);
	diag_list_fini(&quiet);
	return ok;
}

/* What sagated made of a change the kernel took: LIVE_UNKNOWN (its answer
 * was lost) is told as the kernel, read again, shows it. */
static enum live_status after_engine(const char *dir, enum live_status st,
				     const struct live_result *r, unsigned gen, struct diag_list *d)
{
	if (st == LIVE_OK && r->engine_after != LIVE_OK)
		st = r->engine_after;
	if (st == LIVE_UNKNOWN)
		live_report_unknown(dir, gen, d);
	return st;
}

/* Record in gen's history what this command did to it (to: where a
 * rollback went).  Only history, and the mark that keeps a rolled back
 * generation from being a rollback's target: the change is done either
 * way, so a failure is a warning. */
static void note_by(const char *dir, const char *command, unsigned gen, enum state_note what,
		    unsigned to, struct diag_list *d)
{
	bool timer = command && strcmp(command, "confirm timer") == 0;
	struct state_actor who;
	struct diag_list quiet;

	if (!gen)
		return;
	if (what == STATE_NOTE_ROLLED_BACK && timer)
		what = STATE_NOTE_EXPIRED;
	state_actor_self(&who, timer ? "expiry" : command ? command : "?");
	diag_list_init(&quiet);
	if (state_note(dir, gen, what, &who, to, &quiet) < 0)
		diag_add(d, DIAG_WARNING, dir, "", NULL,
			 "generation %u: its history could not be recorded: %s", gen,
			 quiet.count ? quiet.items[0].message : "?");
	diag_list_fini(&quiet);
}

static void note(struct live *lv, unsigned gen, enum state_note what, unsigned to,
		 struct diag_list *d)
{
	note_by(lv->dir, lv->command, gen, what, to, d);
}

void live_rollback_notes(const char *dir, const char *command, unsigned from, unsigned to,
			 bool swap, struct diag_list *d)
{
	if (swap)
		note_by(dir, command, from, STATE_NOTE_ROLLED_BACK, to, d);
	note_by(dir, command, to, STATE_NOTE_REINSTATED, 0, d);
}

/* Put rollback target gen into the kernel (kernel_load) and make it
 * current: state_swap for a plain rollback (gen is the previous one),
 * else state_switch_to.  An incremental load keeps the table's comment,
 * which names the current generation: whoever comes next settles a
 * rollback that ends between the kernel's commit and the switch by the
 * record `rolling-back` (live_recover). */
static enum live_status roll_to(struct live *lv, unsigned gen, bool swap, struct live_result *r,
				struct diag_list *d)
{
	unsigned cur = state_generation(lv->dir, STATE_CURRENT);
	enum live_status st;
	bool kept = false;

	if (rolling_record(lv->dir, gen, cur, swap, lv->command, d) < 0)
		return LIVE_FAILED;
	st = kernel_load(lv->dir, lv, gen, &r->meta, r, d);
	if (st == LIVE_OK)
		test_pause("rollback-before-switch");
	if (st == LIVE_OK && (swap ? state_swap(lv->dir, d) : state_switch_to(lv->dir, gen, d)) < 0) {
		/* a kernel that cannot be put back keeps the record: the
		 * next command finds it holding gen, and makes that current */
		kept = !kernel_put_back(lv->dir, cur, gen, d);
		st = LIVE_FAILED;
	}
	if (!kept)
		rolling_drop(lv->dir);
	return st;
}

/* Apply the rollback target and make it current. */
static enum live_status to_previous(struct live *lv, struct live_result *r,
				    struct diag_list *d)
{
	unsigned cur = state_generation(lv->dir, STATE_CURRENT);
	unsigned prev = state_generation(lv->dir, STATE_PREVIOUS);
	enum live_status st;

	if (!prev) {
		diag_add(d, DIAG_ERROR, lv->dir, "", NULL, "no previous policy to return to");
		return LIVE_NOTHING;
	}
	st = roll_to(lv, prev, true, r, d);
	if (st == LIVE_OK) {
		r->generation = prev;
		live_rollback_notes(lv->dir, lv->command, cur, prev, true, d);
	}
	return after_engine(lv->dir, st, r, prev, d);
}

enum live_status live_undo(struct live *lv, unsigned gen, unsigned replaces,
			   struct live_result *r, struct diag_list *d)
{
	unsigned cur = state_generation(lv->dir, STATE_CURRENT);
	enum live_status st;

	if (cur == gen && replaces)
		return to_previous(lv, r, d);
	if (cur == gen) {
		/* the first apply: before it, there was no table */
		if (nft_flush_table(false, d) < 0)
			return LIVE_REJECTED;
		if (state_uncommit(lv->dir, d) < 0) {
			kernel_put_back(lv->dir, gen, 0, d);
			return LIVE_FAILED;
		}
		r->table_removed = true;
		note(lv, gen, STATE_NOTE_ROLLED_BACK, 0, d);
		return LIVE_OK;
	}
	if (cur == replaces) {
		/* gen never became current (its apply ended before the switch),
		 * but the kernel may hold it */
		/* on its own recorded bank: the kernel may hold gen on the other */
		st = kernel_load(lv->dir, NULL, replaces, &r->meta, r, d);
		r->generation = st == LIVE_OK ? replaces : 0;
		r->table_removed = st == LIVE_OK && !replaces;
		if (st == LIVE_OK)
			note(lv, gen, STATE_NOTE_ROLLED_BACK, replaces, d);
		return after_engine(lv->dir, st, r, replaces, d);
	}
	diag_add(d, DIAG_ERROR, lv->dir, "", NULL,
		 "generation %u is current, neither the unconfirmed %u nor the %u it replaced: left as it is",
		 cur, gen, replaces);
	return LIVE_FAILED;
}

enum live_status live_apply(struct live *lv, const struct live_policy *p, unsigned confirm,
			    live_spawn_fn spawn, struct live_result *r, struct diag_list *d)
{
	struct state_meta m = { .source = (char *)p->source, .mode = p->mode, .queue = p->queue,
				.queue_base = p->queue_base,
				.queue_count = p->queue_count ? p->queue_count : 1, .confirm = confirm };
	struct handover h = { 0 };
	enum live_status st;
	struct pending pend;
	unsigned cur, gen;
	bool kept = false;
	int rc;

	memset(r, 0, sizeof(*r));
	r->keep_flows = lv->keep_flows;
	memcpy(m.sha256, p->pol->sha256, sizeof(m.sha256));
	if (live_recover(lv, d) != LIVE_OK)
		return LIVE_FAILED;
	cur = state_generation(lv->dir, STATE_CURRENT);
	rc = pending_read(lv->dir, &pend, d);
	if (rc < 0)
		return LIVE_FAILED;
	if (rc == 1 && in_force(&pend, cur) && pend.pub.watcher) {
		diag_add(d, DIAG_ERROR, lv->dir, "", NULL,
			 "an earlier apply --confirm is waiting: run `sagate confirm` or `sagate rollback` first");
		return LIVE_PENDING;
	}
	/* a record no watcher holds (the machine rebooted, or it was
	 * killed) can never roll back; one of an apply that never became
	 * current guards nothing this apply leaves in place */
	if (rc == 1 && pending_withdraw(lv->dir, d) < 0)
		return LIVE_FAILED;
	if (rc == 1 && in_force(&pend, cur))
		diag_add(d, DIAG_WARNING, lv->dir, "", NULL,
			 "dropped a pending confirm whose timer is gone (reboot?); the policy it guarded stays applied");
	gen = state_prepare(lv->dir, p->pol, &m, d);
	trace_phase("record");
	if (!gen)
		return LIVE_FAILED;
	/* whoever comes next settles an apply that ends between the kernel's
	 * commit and the switch (live_recover) */
	if (applying_record(lv->dir, gen, cur, d) < 0) {
		state_discard(lv->dir, gen);
		return LIVE_FAILED;
	}
	/* the watcher first: once the kernel holds the new policy, something
	 * rolls it back unless it is confirmed, whatever happens to us */
	if (confirm && pending_arm(lv, gen, cur, confirm, spawn, &r->deadline, d) < 0) {
		state_discard(lv->dir, gen);
		applying_drop(lv->dir);
		return LIVE_FAILED;
	}
	/* sagated holds the new policy on the new bank before the kernel
	 * queues a packet there */
	m.generation = gen;
	if (handover_prepare(&h, lv->dir, &m, d) < 0) {
		st = h.lost ? LIVE_UNKNOWN : LIVE_ENGINE_REFUSED;
	} else {
		trace_phase("handover");
		st = kernel_status(live_incr_apply(lv, gen, p->plan, p->pol, &r->incr, d));
	}
	trace_phase("kernel");
	if (st == LIVE_OK)
		test_pause("before-switch");
	if (st == LIVE_OK && state_commit(lv->dir, gen, d) < 0) {
		/* a kernel that cannot be put back keeps the record: the
		 * next command finds it holding gen, and makes that current */
		kept = !kernel_put_back(lv->dir, cur, gen, d);
		st = LIVE_FAILED;
	}
	if (st != LIVE_OK) {
		handover_fini(&h);
		if (confirm && !kept)
			pending_withdraw(lv->dir, d);
		if (!kept) {
			state_discard(lv->dir, gen);
			applying_drop(lv->dir);
		}
		if (st == LIVE_UNKNOWN)
			live_report_unknown(lv->dir, gen, d);
		return st;
	}
	applying_drop(lv->dir);
	rollback_record_drop(lv->dir);
	r->generation = gen;
	/* the new bank is live; a lost answer leaves the kernel switched */
	if (handover_commit(&h, d) < 0)
		st = h.lost ? LIVE_UNKNOWN : LIVE_FAILED;
	engine_told(r, &h);
	handover_fini(&h);
	if (!lv->keep_flows)
		flows_end(p->plan, p->pol, &r->flows, d);
	if (st == LIVE_UNKNOWN)
		live_report_unknown(lv->dir, gen, d);
	return st;
}

enum live_status live_rollback(struct live *lv, struct live_result *r, struct diag_list *d)
{
	enum live_status st;
	struct pending pend;
	int rc;

	memset(r, 0, sizeof(*r));
	r->keep_flows = lv->keep_flows;
	if (live_recover(lv, d) != LIVE_OK)
		return LIVE_FAILED;
	rc = pending_read(lv->dir, &pend, d);
	if (rc < 0)
		return LIVE_FAILED;
	if (rc == 1 && in_force(&pend, state_generation(lv->dir, STATE_CURRENT))) {
		/* the undo's switch is what cancels the confirm: a failed
		 * rollback leaves it, and its watcher, in force */
		st = live_undo(lv, pend.pub.generation, pend.pub.replaces, r, d);
		r->cancelled_confirm = st == LIVE_OK;
		if (st == LIVE_OK)
			withdraw_quietly(lv->dir, d);
		return st;
	}
	/* an apply that never became current: this rollback puts the
	 * kernel right too */
	if (rc == 1)
		withdraw_quietly(lv->dir, d);
	return to_previous(lv, r, d);
}

enum live_status live_rollback_to(struct live *lv, unsigned gen, struct live_result *r,
				  struct diag_list *d)
{
	enum live_status st;
	struct pending pend;
	unsigned cur;
	int rc;

	memset(r, 0, sizeof(*r));
	r->keep_flows = lv->keep_flows;
	/* an apply or a rollback that ended before its switch: settled
	 * first, so that current is what the kernel holds */
	if (live_recover(lv, d) != LIVE_OK)
		return LIVE_FAILED;
	cur = state_generation(lv->dir, STATE_CURRENT);
	if (!state_generation_exists(lv->dir, gen)) {
		diag_add(d, DIAG_ERROR, lv->dir, "", NULL,
			 "no generation %u in the state directory (`sagate history` lists those kept): nothing was changed",
			 gen);
		return LIVE_NOTHING;
	}
	if (gen == cur) {
		diag_add(d, DIAG_ERROR, lv->dir, "", NULL,
			 "generation %u is already current: nothing was changed", gen);
		return LIVE_NOTHING;
	}
	if (state_read_meta(lv->dir, gen, &r->meta, d) < 0) {
		diag_add(d, DIAG_ERROR, lv->dir, "", NULL,
			 "generation %u is damaged (its meta.json): nothing was changed", gen);
		return LIVE_FAILED;
	}
	state_meta_fini(&r->meta);
	rc = pending_read(lv->dir, &pend, d);
	if (rc < 0)
		return LIVE_FAILED;
	if (rc == 1 && in_force(&pend, cur)) {
		diag_add(d, DIAG_ERROR, lv->dir, "", NULL,
			 "an apply --confirm is waiting: run `sagate confirm` or `sagate rollback` first; nothing was changed");
		return LIVE_PENDING;
	}
	st = roll_to(lv, gen, false, r, d);
	if (st != LIVE_OK)
		return st;
	/* a record of an apply that never became current guards nothing now */
	if (rc == 1)
		withdraw_quietly(lv->dir, d);
	r->generation = gen;
	live_rollback_notes(lv->dir, lv->command, cur, gen, false, d);
	return LIVE_OK;
}

static void utc(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&tt, &tm));
}

/* Why there is nothing to confirm: the watcher's rollback, when it did. */
static void nothing_to_confirm(const char *dir, struct diag_list *d)
{
	struct live_rollback_record rb;
	char at[64], due[64];

	if (live_rollback_record_get(dir, &rb, d) != 1) {
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "nothing to confirm (no apply --confirm is waiting)");
		return;
	}
	utc(rb.at, at, sizeof(at));
	utc(rb.deadline, due, sizeof(due));
	if (rb.error)
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "nothing to confirm: generation %u was not confirmed by %s, and rolling it back failed at %s: %s",
			 rb.generation, due, at, rb.error);
	else
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "nothing to confirm: already rolled back at %s (generation %u was not confirmed by %s)",
			 at, rb.generation, due);
	live_rollback_record_fini(&rb);
}

enum live_status live_confirm(struct live *lv, struct diag_list *d)
{
	struct pending pend;
	int rc;

	if (live_recover(lv, d) != LIVE_OK)
		return LIVE_FAILED;
	rc = pending_read(lv->dir, &pend, d);
	if (rc < 0)
		return LIVE_FAILED;
	if (rc == 1 && !in_force(&pend, state_generation(lv->dir, STATE_CURRENT))) {
		/* its apply ended before the switch: a live watcher puts the
		 * kernel back at the deadline; a record nobody holds goes */
		if (!pend.pub.watcher)
			withdraw_quietly(lv->dir, d);
		rc = 0;
	}
	if (rc == 0) {
		nothing_to_confirm(lv->dir, d);
		return LIVE_NOTHING;
	}
	if (pending_withdraw(lv->dir, d) < 0)
		return LIVE_FAILED;
	note(lv, pend.pub.generation, STATE_NOTE_CONFIRMED, 0, d);
	return LIVE_OK;
}

enum live_status live_flush(struct live *lv, struct diag_list *d)
{
	(void)lv;	/* holding it is all a flush needs */
	return nft_flush_table(false, d) < 0 ? LIVE_REJECTED : LIVE_OK;
}
