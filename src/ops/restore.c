/* The generation a boot puts back, chosen (current, unless it is damaged
 * or was never confirmed; then previous), and put back in one
 * transaction.  The rules of the choice are in restore.h. */
#include "config.h"

#include "compile.h"
#include "handover.h"
#include "nft_apply.h"
#include "nft_read.h"
#include "live.h"
#include "parse.h"
#include "restore.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Is current an apply --confirm that was never confirmed?  Its pending
 * record names current and no watcher holds it (the watcher went with
 * the machine that ran it).  A record that cannot be read is taken to
 * guard current.  A watcher that still holds its record is waiting for
 * its deadline, or rolling back: that is its business, not restore's
 * (r->waiting). */
static void find_unconfirmed(const char *dir, struct restore *r, struct diag_list *d)
{
	struct live_pending p;
	struct diag_list quiet;
	char path[PATH_MAX];
	int rc;

	diag_list_init(&quiet);
	rc = live_pending_get(dir, &p, &quiet);
	/* a record that names no generation could not be read (damaged, or
	 * of an older sagate): it may guard current */
	if (rc == 0 && !p.generation && !p.watcher &&
	    state_path(path, sizeof(path), dir, STATE_PENDING) == 0 && access(path, F_OK) == 0) {
		diag_add(d, DIAG_WARNING, dir, "", NULL,
			 "the pending confirm cannot be read: taking it for an unconfirmed apply of the current generation");
		rc = 1;
	} else if (rc < 0) {
		diag_add(d, DIAG_WARNING, dir, "", NULL,
			 "the pending confirm cannot be read (%s): taking it for an unconfirmed apply of the current generation",
			 quiet.count ? quiet.items[0].message : "?");
	}
	/* a record of an apply that is settled counts as found, and is left */
	r->confirm_file = rc != 0 || p.generation;
	if (rc == 1 && p.watcher)
		r->waiting = true;
	else if (rc != 0 && r->current)
		r->rolled_back = r->current;
	diag_list_fini(&quiet);
}

static void skip(struct restore *r, unsigned gen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void skip(struct restore *r, unsigned gen, const char *fmt, ...)
{
	struct restore_skip *s = &r->skipped[r->nskipped++];
	va_list ap;

	s->generation = gen;
	va_start(ap, fmt);
	if (vasprintf(&s->why, fmt, ap) < 0)
		s->why = NULL;
	va_end(ap);
}

/* The first error of d, for a reason. */
static const char *first_error(const struct diag_list *d)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->items[i].severity == DIAG_ERROR)
			return d->items[i].message;
	return "unknown error";
}

/* Try generation gen: 1 when it is ready in r, 0 when it is damaged
 * (skipped), -1 when the system failed. */
static int try_generation(const char *dir, unsigned gen, struct restore *r)
{
	struct parse_opts po = { .max_file_size = STATE_MAX_BUNDLE };
	struct compile_opts co;
	struct diag_list d;
	char *path, *comment;

	diag_list_init(&d);
	if (state_read_meta(dir, gen, &r->meta, &d) < 0) {
		skip(r, gen, "meta.json: %s", first_error(&d));
		diag_list_fini(&d);
		return 0;
	}
	if (!(path = state_policy_path(dir, gen)))
		return -1;
	r->pol = parse_policy_file(path, &po, &d);
	free(path);
	if (!r->pol) {
		skip(r, gen, "policy.json: %s", first_error(&d));
	} else if (!state_bundle_matches(&r->meta, r->pol)) {
		skip(r, gen, "policy.json does not match the digest meta.json records (bundle_sha256 %.16s...)",
		     r->meta.bundle_sha256);
		policy_free(r->pol);
		r->pol = NULL;
	}
	diag_list_fini(&d);
	if (!r->pol) {
		state_meta_fini(&r->meta);
		return 0;
	}
	/* a policy kept byte for byte has the digest it was applied with */
	r->unverified = !r->meta.bundle_sha256[0] && strcmp(r->pol->sha256, r->meta.sha256) != 0;
	co.mode = r->meta.mode;
	co.queue = r->meta.queue;
	co.queues = r->meta.queue_count;
	/* no element limit: the generation passed its limit when applied */
	if (!(r->cls = classify(r->pol, 0)) || !(r->plan = compile_plan(r->pol, r->cls, &co)) ||
	    !(comment = state_table_comment(&r->meta)))
		return -1;
	free(r->plan->comment);
	r->plan->comment = comment;
	r->generation = gen;
	return 1;
}

/* The warnings about what was passed over, now that the outcome is known. */
static void report_choice(const char *dir, const struct restore *r, struct diag_list *d)
{
	char instead[64] = "";

	if (r->rolled_back && r->generation)
		diag_add(d, DIAG_WARNING, dir, "", NULL,
			 "generation %u was applied with --confirm and never confirmed: rolled back to generation %u",
			 r->rolled_back, r->generation);
	else if (r->rolled_back)
		diag_add(d, DIAG_WARNING, dir, "", NULL,
			 "generation %u was applied with --confirm and never confirmed: not restored",
			 r->rolled_back);
	if (r->generation)
		snprintf(instead, sizeof(instead), ": restoring generation %u, the one before it",
			 r->generation);
	for (size_t i = 0; i < r->nskipped; i++)
		diag_add(d, DIAG_WARNING, dir, "", NULL, "generation %u is damaged (%s)%s",
			 r->skipped[i].generation,
			 r->skipped[i].why ? r->skipped[i].why : "out of memory", instead);
	if (r->generation && r->unverified)
		diag_add(d, DIAG_WARNING, dir, "", NULL,
			 "generation %u records no digest of its policy.json (an older sagate wrote it): it parses, but that it is the policy applied cannot be checked",
			 r->generation);
}

/* What to do when nothing can be restored. */
static void report_none(const char *dir, const struct restore *r, struct diag_list *d)
{
	if (r->nskipped)
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "no usable generation to restore: nothing was loaded (the kernel is as it was); apply a policy again with `sagate apply FILE`; the damaged generations are kept for inspection");
	else if (r->rolled_back)
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "nothing to restore: no policy was confirmed before generation %u; apply one with `sagate apply FILE` (and `sagate confirm` it if applied with --confirm)",
			 r->rolled_back);
	else
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "nothing to restore: no policy was ever applied with this state directory; apply one with `sagate apply FILE`, and it is restored at every boot after");
}

enum restore_status restore_choose(const char *dir, struct restore *r, struct diag_list *d)
{
	unsigned candidates[2];
	size_t n = 0;

	memset(r, 0, sizeof(*r));
	r->current = state_generation(dir, STATE_CURRENT);
	r->previous = state_generation(dir, STATE_PREVIOUS);
	find_unconfirmed(dir, r, d);
	if (r->waiting) {
		r->rolled_back = 0;
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "an apply --confirm is waiting for its confirm (its watcher runs): `sagate confirm` keeps it, `sagate rollback` undoes it; restore changes nothing meanwhile");
		return r->status = RESTORE_WAITING;
	}
	if (r->current && !r->rolled_back)
		candidates[n++] = r->current;
	if (r->previous && r->previous != r->current)
		candidates[n++] = r->previous;
	r->status = RESTORE_NOTHING;
	for (size_t i = 0; i < n; i++) {
		int rc = try_generation(dir, candidates[i], r);

		if (rc < 0) {
			diag_add(d, DIAG_ERROR, dir, "", NULL,
				 "out of memory while loading generation %u", candidates[i]);
			return r->status = RESTORE_FAILED;
		}
		if (rc > 0) {
			r->status = RESTORE_CHOSEN;
			break;
		}
		r->status = RESTORE_DAMAGED;
	}
	report_choice(dir, r, d);
	if (r->status != RESTORE_CHOSEN)
		report_none(dir, r, d);
	return r->status;
}

/* Record in gen's history what restore did to it (quietly: only
 * history, and the switch is done). */
static void note(const char *dir, unsigned gen, enum state_note what, unsigned to)
{
	struct state_actor who;
	struct diag_list quiet;

	state_actor_self(&who, "restore");
	diag_list_init(&quiet);
	state_note(dir, gen, what, &who, to, &quiet);
	diag_list_fini(&quiet);
}

/* Remove the pending confirm: the apply it guarded is settled. */
static void drop_confirm_files(const char *dir)
{
	char path[PATH_MAX];

	if (state_path(path, sizeof(path), dir, STATE_PENDING) == 0)
		unlink(path);
}

/* A table is live (restore run by hand, sagated serving it): the chosen
 * generation goes into the queue bank the current one does not use, as
 * every apply's does (handover.h), so that no packet the live table
 * queued is judged by the restored policy.  With no table (at boot) it
 * keeps its recorded bank.  *old gets the bank recorded before.  0, or
 * -1 with an error in d. */
static int rebank(const char *dir, struct restore *r, uint16_t *old, struct diag_list *d)
{
	struct nft_live k = { 0 };
	struct plan *plan;
	char *comment;
	uint16_t q;
	int rc;

	*old = r->meta.queue;
	if (r->meta.mode != PLAN_ENGINE)
		return 0;
	rc = nft_read_live(&k, d);
	if (rc == 0 && k.present)
		rc = live_next_queue(dir, r->meta.queue_base, r->meta.queue_count, &q, d);
	if (rc < 0 || !k.present || q == r->meta.queue) {
		nft_live_fini(&k);
		return rc;
	}
	nft_live_fini(&k);
	plan = compile_plan(r->pol, r->cls, &(struct compile_opts){ r->meta.mode, q,
										 r->meta.queue_count });
	comment = plan ? compile_table_comment(r->meta.source, r->meta.sha256) : NULL;
	if (!comment) {
		plan_free(plan);
		diag_add(d, DIAG_ERROR, dir, "", NULL, "out of memory");
		return -1;
	}
	free(plan->comment);
	plan->comment = comment;
	if (state_set_queue(dir, r->generation, q, d) < 0) {
		plan_free(plan);
		return -1;
	}
	plan_free(r->plan);
	r->plan = plan;
	r->meta.queue = q;
	return 0;
}

int restore_apply(const char *dir, struct restore *r, bool dry_run, struct diag_list *d)
{
	/* nothing usable, but the unconfirmed apply is rolled back all the
	 * same; after a failure of our own, nothing is settled */
	bool settled = r->status == RESTORE_NOTHING || r->status == RESTORE_DAMAGED;
	struct handover h = { 0 };
	uint16_t old_queue = r->meta.queue;
	int rc = 0;

	if (dry_run)
		return r->status != RESTORE_CHOSEN || nft_apply(r->plan, r->pol, true, d) == 0 ? 0 : -1;
	/* a running sagated holds the policy before the kernel queues to it,
	 * as for apply */
	r->meta.generation = r->generation;
	if (r->status == RESTORE_CHOSEN &&
	    (rebank(dir, r, &old_queue, d) < 0 || handover_prepare(&h, dir, &r->meta, d) < 0 ||
	     nft_apply(r->plan, r->pol, false, d) < 0)) {
		if (h.lost)
			live_report_unknown(dir, r->generation, d);
		if (r->meta.queue != old_queue)
			state_set_queue(dir, r->generation, old_queue, d);
		handover_fini(&h);
		return -1;
	}
	if (r->status == RESTORE_CHOSEN) {
		r->loaded = true;
		if (r->generation != r->current && state_swap(dir, d) < 0) {
			diag_add(d, DIAG_ERROR, dir, "", NULL,
				 "the kernel holds generation %u, but the state directory could not record it: status and sagated still name generation %u",
				 r->generation, r->current);
			handover_fini(&h);
			return -1;
		}
		if (r->generation != r->current)
			note(dir, r->generation, STATE_NOTE_REINSTATED, 0);
		if (r->rolled_back)
			note(dir, r->rolled_back, STATE_NOTE_EXPIRED, r->generation);
		drop_confirm_files(dir);
		/* the kernel and the state directory switched, whatever sagated
		 * answers now */
		if (handover_commit(&h, d) < 0) {
			rc = -1;
			if (h.lost)
				live_report_unknown(dir, r->generation, d);
		}
		handover_fini(&h);
	} else if (settled && r->rolled_back) {
		if (state_uncommit(dir, d) < 0)
			return -1;
		note(dir, r->rolled_back, STATE_NOTE_EXPIRED, 0);
		drop_confirm_files(dir);
	}
	return rc;
}

void restore_fini(struct restore *r)
{
	for (size_t i = 0; i < r->nskipped; i++)
		free(r->skipped[i].why);
	state_meta_fini(&r->meta);
	plan_free(r->plan);
	classes_free(r->cls);
	policy_free(r->pol);
	memset(r, 0, sizeof(*r));
}
