/* The incremental apply: when table inet sagate is exactly the plan of
 * the current generation, an apply sends only the difference to the new
 * plan (nft_diff.h); otherwise, or with --full, the whole table is
 * replaced (nft_apply.h), and why is told.
 *
 * "Exactly": after each commit of ours, the plan the kernel took is kept
 * in the generation's directory (plan.bin, plan_file.h), tagged with the
 * ruleset generation that commit made, the boot and the network
 * namespace.  When the kernel's ruleset generation is still that one,
 * nobody committed since, and the kept plan is the live table: neither
 * compiled again nor read.  Otherwise the current generation is compiled
 * again and the live table read and compared with it, as the audit's
 * drift check compares them.  Either way the transaction carries the
 * ruleset generation it was decided in: a commit in between makes the
 * kernel refuse it. */
#include "config.h"

#include "audit.h"
#include "live_int.h"
#include "nft_apply.h"
#include "nft_read.h"
#include "nft_snap.h"
#include "plan_file.h"
#include "state_int.h"
#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

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

/* --- the kept plan ------------------------------------------------------- */

/* The tag of a plan the kernel took in ruleset generation genid, here:
 * this boot, this network namespace (its cookie, never reused).  false
 * when either is unknown (a kernel before 5.14: no cookie). */
static bool here_tag(uint8_t tag[PLAN_FILE_TAG], uint32_t genid)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	char boot[37] = "";
	int fd;
	bool ok;

	memset(tag, 0, PLAN_FILE_TAG);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ok = fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0 &&
	     len == sizeof(cookie) && cookie;
	if (fd >= 0)
		close(fd);
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ok = ok && fd >= 0 && read(fd, boot, 36) == 36;
	if (fd >= 0)
		close(fd);
	tag[0] = 1;	/* the tag's version */
	memcpy(tag + 4, &genid, sizeof(genid));
	memcpy(tag + 8, &cookie, sizeof(cookie));
	memcpy(tag + 16, boot, 36);
	return ok;
}

/* Keep p (pol), which the kernel took in the commit st describes, as
 * generation gen's; and drop the kept plan of generation old, which the
 * kernel no longer holds.  A plan not kept only makes the next apply
 * compare the live table: no error. */
static void keep_plan(const char *dir, unsigned gen, unsigned old, const struct plan *p,
		      const struct policy *pol, const struct nft_apply_stats *st)
{
	/* a commit that changes nothing (a difference of BATCH_BEGIN and
	 * BATCH_END alone) leaves the kernel's ruleset generation as it was */
	uint32_t genid = st->batch.messages > 2 ? nft_genid_next(st->genid) : st->genid;
	uint8_t tag[PLAN_FILE_TAG];
	char path[PATH_MAX];

	trace_phase("commit");
	if (old && old != gen && state_gen_path(path, sizeof(path), dir, old, STATE_GEN_PLAN) == 0)
		unlink(path);
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_PLAN) < 0)
		return;
	if (!st->genid || !here_tag(tag, genid) ||
	    plan_file_write(path, p, pol, tag) < 0)
		unlink(path);
	trace_phase("incr-keep");
}

/* Generation cur's kept plan, when the kernel's ruleset is still in the
 * generation its commit made (genid, read now): true with *f. */
static bool kept_is_live(const char *dir, unsigned cur, uint32_t genid, struct plan_file *f)
{
	uint8_t want[PLAN_FILE_TAG], have[PLAN_FILE_TAG];
	char path[PATH_MAX];

	memset(f, 0, sizeof(*f));
	return state_gen_path(path, sizeof(path), dir, cur, STATE_GEN_PLAN) == 0 &&
	       here_tag(want, genid) && plan_file_tag(path, have) == 0 &&
	       memcmp(want, have, sizeof(want)) == 0 && plan_file_read(path, f) == 0;
}

/* --- the base of a difference -------------------------------------------- */

/* What the kernel holds, when a difference can follow from it: the
 * current generation's plan (kept, or compiled again), the names of its
 * rules, the ruleset generation it was vouched for in and the table's
 * comment. */
struct base {
	struct recorded g;
	struct plan_file f;
	const struct plan *plan;
	struct nft_names names;
	uint32_t genid;
	char comment[sizeof(((struct state_meta *)0)->table_comment)];
};

static void base_fini(struct base *b)
{
	if (b->names.v != b->f.names)	/* else the kept plan's */
		nft_names_fini(&b->names);
	recorded_fini(&b->g);
	plan_file_fini(&b->f);
}

/* The kept plan of generation cur vouched for by the ruleset generation:
 * 0; 1 when it is not (then the live table must be read). */
static int base_kept(const char *dir, unsigned cur, struct base *b, struct diag_list *q)
{
	struct state_meta m = { 0 };
	char *comment = NULL;
	bool ok;

	if (nft_read_genid(&b->genid, q) < 0 || !kept_is_live(dir, cur, b->genid, &b->f)) {
		plan_file_fini(&b->f);
		return 1;
	}
	ok = state_read_meta(dir, cur, &m, q) == 0 && (comment = state_table_comment(&m)) &&
	     strlen(comment) < sizeof(b->comment);
	if (ok) {
		snprintf(b->comment, sizeof(b->comment), "%s", comment);
		b->plan = b->f.plan;
		b->names = (struct nft_names){ b->f.names, b->f.nnames };
	} else {
		plan_file_fini(&b->f);
	}
	free(comment);
	state_meta_fini(&m);
	return ok ? 0 : 1;
}

/* The current generation, when the live table is exactly it and p can
 * follow it by a difference: 0 with *b; 1 (and ir->why) when not. */
static int incr_base(const char *dir, const struct plan *p, struct base *b,
		     struct live_incr *ir)
{
	unsigned cur = state_generation(dir, STATE_CURRENT);
	struct diag_list q;
	int rc = 1;

	memset(b, 0, sizeof(*b));
	if (!cur)
		return 1;	/* the first apply: nothing to differ from */
	ir->tried = true;
	diag_list_init(&q);
	trace_phase("incr-start");
	if (base_kept(dir, cur, b, &q) == 0) {
		trace_phase("incr-kept");
		ir->kept = true;
		rc = nft_diff_possible(b->plan, p, ir->why, sizeof(ir->why)) ? 0 : 1;
	} else if (recorded_load(dir, cur, &b->g, &q) < 0) {
		snprintf(ir->why, sizeof(ir->why), "generation %u could not be compiled again: %s",
			 cur, first(&q));
	} else if (trace_phase("incr-recompile"),
		   nft_diff_possible(b->g.plan, p, ir->why, sizeof(ir->why)) &&
		   live_is(&b->g, &b->genid, b->comment, sizeof(b->comment), ir)) {
		b->plan = b->g.plan;
		rc = nft_names_of(&b->names, b->g.pol) < 0 ? 1 : 0;
		if (rc)
			snprintf(ir->why, sizeof(ir->why), "out of memory");
	}
	diag_list_fini(&q);
	return rc;
}

bool live_incr_holds(const char *dir, unsigned gen, char *comment, size_t clen)
{
	struct live_incr ir = { 0 };
	struct plan_file f = { 0 };
	struct recorded g = { 0 };
	struct diag_list q;
	uint32_t genid = 0;
	bool yes;

	diag_list_init(&q);
	/* kept after the commit: the kernel's generation says it */
	yes = nft_read_genid(&genid, &q) == 0 && kept_is_live(dir, gen, genid, &f);
	plan_file_fini(&f);
	if (yes) {
		struct nft_live k = { 0 };

		/* the comment the table kept, for gen's meta */
		yes = nft_read_live(&k, &q) == 0 && k.comment && strlen(k.comment) < clen;
		if (yes)
			snprintf(comment, clen, "%s", k.comment);
		nft_live_fini(&k);
	} else {
		/* not kept (ended before): the live table against gen's plan */
		yes = recorded_load(dir, gen, &g, &q) == 0 && live_is(&g, &genid, comment, clen, &ir);
		recorded_fini(&g);
	}
	diag_list_fini(&q);
	return yes;
}

int live_incr_apply(struct live *lv, unsigned gen, const struct plan *p,
		    const struct policy *pol, struct live_incr *ir, struct diag_list *d)
{
	unsigned cur = state_generation(lv->dir, STATE_CURRENT);
	struct nft_apply_stats st = { 0 };
	struct base b;
	struct diag_list q;
	int rc;

	memset(ir, 0, sizeof(*ir));
	memset(&b, 0, sizeof(b));
	if (lv->full) {
		ir->tried = cur != 0;
		rc = nft_apply_measured(p, pol, false, &st, d);
		goto out;
	}
	if (incr_base(lv->dir, p, &b, ir) != 0) {
		base_fini(&b);
		memset(&b, 0, sizeof(b));
		rc = nft_apply_measured(p, pol, false, &st, d);
		goto out;
	}
	diag_list_init(&q);
	rc = nft_apply_diff(b.plan, &b.names, p, pol, false, b.genid, &ir->diff, &st, &q);
	trace_phase("incr-commit");
	if (rc == 0) {
		ir->done = true;
		/* the kernel keeps the table's comment: status and audit know
		 * this generation by it */
		if (state_set_table_comment(lv->dir, gen, b.comment, &q) < 0)
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
		base_fini(&b);	/* its memory, before the full replace needs more */
		memset(&b, 0, sizeof(b));
		rc = nft_apply_measured(p, pol, false, &st, d);
	}
	diag_list_fini(&q);
out:
	base_fini(&b);
	if (rc == 0)
		keep_plan(lv->dir, gen, cur, p, pol, &st);
	return rc;
}

int live_incr_dry_run(const char *dir, const struct plan *p, const struct policy *pol,
		      struct live_incr *ir, struct diag_list *d)
{
	struct base b;
	int rc;

	memset(ir, 0, sizeof(*ir));
	rc = incr_base(dir, p, &b, ir);
	if (rc == 0) {
		struct diag_list q;

		diag_list_init(&q);
		rc = nft_apply_diff(b.plan, &b.names, p, pol, true, 0, &ir->diff, NULL, &q) < 0 ? -1 : 0;
		ir->done = rc == 0;
		if (rc < 0 && ir->diff.too_large) {
			snprintf(ir->why, sizeof(ir->why), "%s", first(&q));
			rc = 1;
		} else {
			pass_on(d, &q);
		}
		diag_list_fini(&q);
	}
	base_fini(&b);
	return rc;
}
