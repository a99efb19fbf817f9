/* The incremental apply: when table inet sagate is exactly the plan of
 * the current generation (its comment, chains, rules and elements, as
 * the audit's drift check compares them, read in the same ruleset
 * generation the transaction carries), an apply sends only the
 * difference to the new plan (nft_diff.h); otherwise, or with --full,
 * the whole table is replaced (nft_apply.h), and why is told. */
#include "config.h"

#include "audit.h"
#include "live_int.h"
#include "nft_apply.h"
#include "nft_read.h"
#include "nft_snap.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

void live_full(struct live *lv, bool full)
{
	lv->full = full;
}

/* The first error in q, or "?". */
static const char *first(const struct diag_list *q)
{
	for (size_t i = 0; i < q->count; i++)
		if (q->items[i].severity == DIAG_ERROR)
			return q->items[i].message;
	return q->count ? q->items[0].message : "?";
}

/* The findings of q, added to d. */
static void pass_on(struct diag_list *d, const struct diag_list *q)
{
	for (size_t i = 0; i < q->count; i++)
		diag_add(d, q->items[i].severity, q->items[i].file, q->items[i].path,
			 q->items[i].rule, "%s", q->items[i].message);
}

/* Is the live table exactly generation g's plan?  true, with the
 * ruleset generation it was read in and the table's comment; else false
 * and why. */
static bool live_is(const struct recorded *g, uint32_t *genid, char *comment, size_t clen,
		    struct live_incr *ir)
{
	struct audit_list al = { 0 };
	struct diag_list q;
	struct nft_snap s = { 0 };
	bool ok = false;

	diag_list_init(&q);
	/* the generation first: a commit after it makes the kernel refuse
	 * the difference built from what is read next */
	if (nft_read_genid(genid, &q) < 0 || nft_snap_read(&s, &q) < 0 ||
	    (trace_phase("incr-read"), false)) {
		snprintf(ir->why, sizeof(ir->why), "the live table could not be read: %s", first(&q));
		goto out;
	}
	if (!s.present) {
		snprintf(ir->why, sizeof(ir->why), "table inet %s is not loaded", PLAN_TABLE);
		goto out;
	}
	audit_drift(g->plan, g->pol, &s, &al);
	trace_phase("incr-compare");
	for (size_t i = 0; i < al.n && !ok; i++)
		if (al.v[i].severity == AUDIT_ERROR) {
			snprintf(ir->why, sizeof(ir->why),
				 "the live table is not generation %u as applied (%s: %s)",
				 g->m.generation, al.v[i].kind, al.v[i].message);
			goto out;
		}
	if (al.oom || !s.comment || strlen(s.comment) >= clen) {
		snprintf(ir->why, sizeof(ir->why), "the live table's comment could not be kept");
		goto out;
	}
	snprintf(comment, clen, "%s", s.comment);
	ok = true;
out:
	audit_list_fini(&al);
	nft_snap_fini(&s);
	diag_list_fini(&q);
	return ok;
}

/* The current generation, when the live table is exactly it and p can
 * follow it by a difference: 0 with *g, *genid and comment; 1 (and
 * ir->why) when not. */
static int incr_base(const char *dir, const struct plan *p, struct recorded *g,
		     uint32_t *genid, char *comment, size_t clen, struct live_incr *ir)
{
	unsigned cur = state_generation(dir, STATE_CURRENT);
	struct diag_list q;
	int rc = 1;

	memset(g, 0, sizeof(*g));
	if (!cur)
		return 1;	/* the first apply: nothing to differ from */
	ir->tried = true;
	diag_list_init(&q);
	trace_phase("incr-start");
	if (recorded_load(dir, cur, g, &q) < 0)
		snprintf(ir->why, sizeof(ir->why), "generation %u could not be compiled again: %s",
			 cur, first(&q));
	else if (trace_phase("incr-recompile"),
		 nft_diff_possible(g->plan, p, ir->why, sizeof(ir->why)))
		rc = live_is(g, genid, comment, clen, ir) ? 0 : 1;
	diag_list_fini(&q);
	return rc;
}

int live_incr_apply(struct live *lv, unsigned gen, const struct plan *p,
		    const struct policy *pol, struct live_incr *ir, struct diag_list *d)
{
	char comment[sizeof(((struct state_meta *)0)->table_comment)];
	struct recorded g = { 0 };
	struct diag_list q;
	uint32_t genid = 0;
	int rc;

	memset(ir, 0, sizeof(*ir));
	if (lv->full) {
		ir->tried = state_generation(lv->dir, STATE_CURRENT) != 0;
		return nft_apply(p, pol, false, d);
	}
	if (incr_base(lv->dir, p, &g, &genid, comment, sizeof(comment), ir) != 0) {
		recorded_fini(&g);
		return nft_apply(p, pol, false, d);
	}
	diag_list_init(&q);
	rc = nft_apply_diff(g.plan, g.pol, p, pol, false, genid, &ir->diff, NULL, &q);
	trace_phase("incr-commit");
	recorded_fini(&g);
	if (rc == 0) {
		ir->done = true;
		/* the kernel keeps the table's comment: status and audit know
		 * this generation by it */
		if (state_set_table_comment(lv->dir, gen, comment, &q) < 0)
			diag_add(d, DIAG_WARNING, lv->dir, "", NULL,
				 "generation %u was applied, but the table comment it kept could not be recorded (status will say the table differs): %s",
				 gen, first(&q));
	} else if (rc == NFT_APPLY_MOVED) {
		/* someone committed since the table was read: refused, as the
		 * full replace is, nothing changed, and said so */
		pass_on(d, &q);
	} else {
		/* nothing changed: the full replace reads the ruleset afresh */
		snprintf(ir->why, sizeof(ir->why), "%s%s",
			 ir->diff.too_large ? "" : "the kernel refused the difference: ", first(&q));
		rc = nft_apply(p, pol, false, d);
	}
	diag_list_fini(&q);
	return rc;
}

int live_incr_dry_run(const char *dir, const struct plan *p, const struct policy *pol,
		      struct live_incr *ir, struct diag_list *d)
{
	char comment[sizeof(((struct state_meta *)0)->table_comment)];
	struct recorded g = { 0 };
	uint32_t genid = 0;
	int rc;

	memset(ir, 0, sizeof(*ir));
	rc = incr_base(dir, p, &g, &genid, comment, sizeof(comment), ir);
	if (rc == 0) {
		struct diag_list q;

		diag_list_init(&q);
		rc = nft_apply_diff(g.plan, g.pol, p, pol, true, 0, &ir->diff, NULL, &q) < 0 ? -1 : 0;
		ir->done = rc == 0;
		if (rc < 0 && ir->diff.too_large) {
			snprintf(ir->why, sizeof(ir->why), "%s", first(&q));
			rc = 1;
		} else {
			pass_on(d, &q);
		}
		diag_list_fini(&q);
	}
	recorded_fini(&g);
	return rc;
}
