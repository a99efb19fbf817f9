/* live: the state directory's lock (a second command times out naming the
 * holder; the kernel lets go when the holder exits), and the
 * transactions with a failure injected at every step (fault.h) and a
 * fake kernel: apply with and without a confirm, rollback, the undo of
 * an unconfirmed apply, confirm, each leaves the old state or the new
 * one, the kernel always holding what `current` names.  Then the
 * watcher: its deadline, its record, and a pending confirm nobody
 * holds.  Then history: a rolled back generation is never rollback's
 * target, rollback --to can choose it, and history says what became of
 * each generation. */
#include "config.h"

#include "audit_util.h"
#include "fake_sagated.h"
#include "fault.h"
#include "history.h"
#include "live.h"
#include "nft_apply.h"
#include "nft_read.h"
#include "restore.h"

#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>

/* The fake kernel is made of wrapped calls (Makefile.am), and a call
 * the wrapping misses reaches the real one: as root, the whole run gets
 * a network namespace of its own first, so such a slip changes nothing
 * outside it (and the real kernel it reaches holds nothing to confuse a
 * test).  Before main, so Criterion's workers inherit it. */
__attribute__((constructor)) static void own_netns(void)
{
	if (geteuid() == 0 && unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_live: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		abort();
	}
}

static char top[] = "/tmp/sagate-live-XXXXXX";
static char dir[PATH_MAX];	/* the state directory, in top */

static char run[PATH_MAX];	/* SAGATE_RUN_DIR: sagated's control socket, if a fake serves it */

static void setup(void)
{
	cr_assert_not_null(mkdtemp(top));
	snprintf(dir, sizeof(dir), "%s/state", top);
	snprintf(run, sizeof(run), "%s/run", top);
	cr_assert_eq(setenv("SAGATE_RUN_DIR", run, 1), 0);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(live, .init = setup, .fini = teardown);

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool has(const struct diag_list *d, const char *text)
{
	for (size_t i = 0; i < d->count; i++)
		if (strstr(d->items[i].message, text))
			return true;
	return false;
}

/* --- the lock -------------------------------------------------------- */

/* A child that takes the lock as "apply", says so on ready, and holds it
 * until quit closes (or, with die, exits at once without letting go). */
static pid_t holder(int *quit_w, bool die)
{
	int ready[2], quit[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(quit), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct diag_list d;

		diag_list_init(&d);
		if (!live_lock(dir, "apply", 0, &d))
			_exit(1);
		c = 'x';
		if (fwrite(&c, 1, 1, fdopen(ready[1], "w")) != 1)
			_exit(1);
		fflush(NULL);
		if (die)
			_exit(0);	/* no live_unlock */
		close(quit[1]);
		while (read(quit[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(quit[0]);
	cr_assert_eq(read(ready[0], &c, 1), 1, "the holder did not take the lock");
	close(ready[0]);
	*quit_w = quit[1];
	return pid;
}

Test(live, a_second_command_times_out_naming_the_holder)
{
	struct diag_list d;
	char want[64];
	double t0;
	int quit, st;
	pid_t pid = holder(&quit, false);

	diag_list_init(&d);
	t0 = seconds();
	cr_assert_null(live_lock(dir, "rollback", 1, &d));
	cr_assert_geq(seconds() - t0, 1.0, "gave up before its --wait");
	cr_assert_lt(seconds() - t0, 3.0);
	snprintf(want, sizeof(want), "(pid %d: apply)", (int)pid);
	cr_assert(has(&d, want), "%s", d.count ? d.items[0].message : "no message");
	cr_assert(has(&d, "the state directory is locked by another sagate command"));
	cr_assert(has(&d, "nothing was changed"));
	cr_assert_str_eq(d.items[0].file, dir);
	diag_list_fini(&d);

	/* --wait 0: at once */
	diag_list_init(&d);
	t0 = seconds();
	cr_assert_null(live_lock(dir, "rollback", 0, &d));
	cr_assert_lt(seconds() - t0, 0.5);
	diag_list_fini(&d);

	/* a waiter gets it when the holder lets go within its wait */
	diag_list_init(&d);
	close(quit);
	struct live *lv = live_lock(dir, "rollback", 10, &d);

	cr_assert_not_null(lv, "%s", d.count ? d.items[0].message : "?");
	live_unlock(lv);
	waitpid(pid, &st, 0);
	diag_list_fini(&d);
}

Test(live, the_lock_goes_when_its_holder_exits)
{
	struct diag_list d;
	struct live *lv;
	double t0;
	int quit, st;
	pid_t pid = holder(&quit, true);

	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	diag_list_init(&d);
	t0 = seconds();
	lv = live_lock(dir, "apply", 0, &d);
	cr_assert_not_null(lv, "%s", d.count ? d.items[0].message : "?");
	cr_assert_lt(seconds() - t0, 0.5);
	live_unlock(lv);
	close(quit);
	diag_list_fini(&d);
}

Test(live, the_lock_file_is_not_followed)
{
	struct diag_list d;
	char path[PATH_MAX];

	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/lock", dir);
	cr_assert_eq(symlink("/tmp/elsewhere", path), 0);
	diag_list_init(&d);
	cr_assert_null(live_lock(dir, "apply", 0, &d));
	cr_assert(has(&d, "cannot open the lock file"));
	diag_list_fini(&d);
}

/* --- a fake kernel ---------------------------------------------------- */

/* What the kernel holds: the comment of the table last applied, in a
 * file, so that a watcher's process changes it for everyone. */
static const char *kernel_file(void)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/kernel", top);
	return path;
}

/* Where the fake kernel and the fake sagated log what they were asked,
 * in order. */
static const char *events_file(void)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/events", top);
	return path;
}

static void kernel_set(const char *comment)
{
	FILE *f = fopen(kernel_file(), "w");

	cr_assert_not_null(f);
	fputs(comment ? comment : "", f);
	fclose(f);
	if ((f = fopen(events_file(), "a"))) {
		fprintf(f, "commit %s\n", comment ? comment : "(no table)");
		fclose(f);
	}
}

static char *kernel_get(char *buf, size_t len)
{
	FILE *f = fopen(kernel_file(), "r");

	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = '\0';
		fclose(f);
	}
	return buf;
}

int __wrap_nft_apply(const struct plan *p, const struct policy *pol, bool dry_run,
		     struct diag_list *d);
int __wrap_nft_apply_measured(const struct plan *p, const struct policy *pol, bool dry_run,
			      struct nft_apply_stats *st, struct diag_list *d);
int __wrap_nft_flush_table(bool dry_run, struct diag_list *d);
int __wrap_nft_read_live(struct nft_live *out, struct diag_list *d);
int __wrap_nft_read_genid(uint32_t *genid, struct diag_list *d);

/* An apply's process dies in the fake kernel: DIE_BEFORE_COMMIT before
 * the commit, DIE_AFTER_COMMIT after it (before the switch of current),
 * as a SIGKILL there would leave things. */
enum { DIE_NEVER, DIE_BEFORE_COMMIT, DIE_AFTER_COMMIT };
static int die_in_kernel;
#define DIED 77		/* its exit status */
void __wrap_flows_end(const struct plan *p, const struct policy *pol, struct flows_tally *t,
		      struct diag_list *d);

/* The established flows are a fake too: each time they are judged, the
 * comment of the plan they are judged under goes on a line of a file
 * (the watcher's process writes there as well). */
static const char *flows_file(void)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/flows", top);
	return path;
}

void __wrap_flows_end(const struct plan *p, const struct policy *pol, struct flows_tally *t,
		      struct diag_list *d)
{
	FILE *f = fopen(flows_file(), "a");

	cr_assert_not_null(f);
	fprintf(f, "%s\n", p->comment ? p->comment : "");
	fclose(f);
	memset(t, 0, sizeof(*t));
	t->ran = true;
	t->ended = 1;
}

/* The plans flows were judged under since the last call, one a line. */
static char *flows_judged(char *buf, size_t len)
{
	FILE *f = fopen(flows_file(), "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
	unlink(flows_file());
	return buf;
}

/* The next n commits find the ruleset changed since it was read (n in a
 * file, for the watcher's process too). */
static void kernel_moves(int n)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/moves", top);
	cr_assert_not_null(f = fopen(path, "w"));
	fprintf(f, "%d\n", n);
	fclose(f);
}

static bool kernel_moved(void)
{
	char path[PATH_MAX];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/moves", top);
	if (!(f = fopen(path, "r")))
		return false;
	if (fscanf(f, "%d", &n) != 1)
		n = 0;
	fclose(f);
	if (n > 0)
		kernel_moves(n - 1);
	return n > 0;
}

int __wrap_nft_apply(const struct plan *p, const struct policy *pol, bool dry_run,
		     struct diag_list *d)
{
	if (dry_run)
		return 0;
	if (kernel_moved()) {
		diag_add(d, DIAG_ERROR, pol->file, "", NULL, "the ruleset changed (fake)");
		return NFT_APPLY_MOVED;
	}
	if (fault_step("kernel commit")) {
		diag_add(d, DIAG_ERROR, pol->file, "", NULL, "transaction: fake kernel refused it");
		return -1;
	}
	if (die_in_kernel == DIE_BEFORE_COMMIT)
		_exit(DIED);
	kernel_set(p->comment);
	if (die_in_kernel == DIE_AFTER_COMMIT)
		_exit(DIED);
	return 0;
}

/* The full replace as the incremental apply calls it: the same fake; no
 * ruleset generation, so no plan is kept. */
int __wrap_nft_apply_measured(const struct plan *p, const struct policy *pol, bool dry_run,
			      struct nft_apply_stats *st, struct diag_list *d)
{
	if (st)
		memset(st, 0, sizeof(*st));
	return __wrap_nft_apply(p, pol, dry_run, d);
}

/* The fake kernel has no ruleset generation: an apply never sends only
 * the difference (nft_diff has tests of its own, tests/netns/incr-apply.sh
 * on a real kernel), and nothing here reaches the real one. */
int __wrap_nft_read_genid(uint32_t *genid, struct diag_list *d)
{
	*genid = 0;
	diag_add(d, DIAG_ERROR, "nft", "", NULL, "the fake kernel has no ruleset generation");
	return -1;
}

/* The live table as the fake kernel has it: its comment. */
int __wrap_nft_read_live(struct nft_live *out, struct diag_list *d)
{
	char k[256];

	(void)d;
	memset(out, 0, sizeof(*out));
	kernel_get(k, sizeof(k));
	out->present = k[0] != '\0';
	if (out->present)
		cr_assert_not_null(out->comment = strdup(k));
	return 0;
}

int __wrap_nft_flush_table(bool dry_run, struct diag_list *d)
{
	if (dry_run)
		return 0;
	if (fault_step("kernel flush")) {
		diag_add(d, DIAG_ERROR, "table inet sagate", "", NULL, "fake kernel refused it");
		return -1;
	}
	kernel_set(NULL);
	return 0;
}

/* --- policies and their generations ----------------------------------- */

/* Three policies, told apart by their digests. */
static const char *const texts[] = {
	"{\"version\": 1, \"rules\": [{\"name\": \"a\", \"action\": \"permit\", "
	"\"peers\": \"10.0.0.1\", \"protocol\": \"tcp\", \"ports\": 22}]}",
	"{\"version\": 1, \"rules\": [{\"name\": \"b\", \"action\": \"permit\", "
	"\"peers\": \"10.0.0.2\", \"protocol\": \"tcp\", \"ports\": 22}]}",
	"{\"version\": 1, \"rules\": [{\"name\": \"c\", \"action\": \"permit\", "
	"\"peers\": \"10.0.0.3\", \"protocol\": \"tcp\", \"ports\": 22}]}",
};

struct compiled {
	struct policy *pol;
	struct classes *cls;
	struct plan *plan;
};

/* Policy i, compiled once, before any failure is armed: compiling is not
 * a step of a transaction. */
static const struct compiled *compiled(int i)
{
	static struct compiled c[3];

	if (!c[i].plan) {
		c[i].pol = tu_policy(texts[i]);
		c[i].cls = classify(c[i].pol, 0);
		c[i].plan = compile_plan(c[i].pol, c[i].cls,
					 &(struct compile_opts){ PLAN_KERNEL_ONLY, 0, 0 });
		cr_assert_not_null(c[i].plan);
	}
	return &c[i];
}

/* The watchers this process started, to wait for. */
static pid_t watchers[64];
static size_t nwatchers;

static int spawn(struct live_watch *w)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct diag_list d;

		fault_disarm();		/* one failure, the parent's */
		diag_list_init(&d);
		live_watch(w, &d);
		_exit(0);
	}
	cr_assert_lt(nwatchers, sizeof(watchers) / sizeof(watchers[0]));
	watchers[nwatchers++] = pid;
	return 0;
}

/* Every watcher started has ended (within a few seconds). */
static void watchers_ended(const char *when)
{
	for (size_t i = 0; i < nwatchers; i++) {
		double until = seconds() + 5;
		int st;

		while (waitpid(watchers[i], &st, WNOHANG) == 0) {
			cr_assert_lt(seconds(), until, "%s: watcher %d did not end", when,
				     (int)watchers[i]);
			nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
		}
	}
	nwatchers = 0;
}

/* How apply() starts its watcher (spawn, or spawn_apart). */
static live_spawn_fn spawner = spawn;

static enum live_status apply(int i, unsigned confirm, struct diag_list *d)
{
	const struct compiled *c = compiled(i);
	struct live_policy p = { c->pol, c->plan, "p.json", PLAN_KERNEL_ONLY, 0, 0, 1 };
	struct live_result r;
	struct live *lv = live_lock(dir, "apply", 0, d);
	enum live_status st = lv ? live_apply(lv, &p, confirm, spawner, &r, d) : LIVE_FAILED;

	if (lv && st == LIVE_OK)
		live_result_fini(&r);
	live_unlock(lv);
	return st;
}

static enum live_status rollback(struct diag_list *d)
{
	struct live_result r;
	struct live *lv = live_lock(dir, "rollback", 0, d);
	enum live_status st = lv ? live_rollback(lv, &r, d) : LIVE_FAILED;

	if (lv)
		live_result_fini(&r);
	live_unlock(lv);
	return st;
}

static enum live_status confirm(struct diag_list *d)
{
	struct live *lv = live_lock(dir, "confirm", 0, d);
	enum live_status st = lv ? live_confirm(lv, d) : LIVE_FAILED;

	live_unlock(lv);
	return st;
}

static unsigned rollback_to_gen = 1;

static enum live_status rollback_to(struct diag_list *d)
{
	struct live_result r;
	struct live *lv = live_lock(dir, "rollback --to", 0, d);
	enum live_status st = lv ? live_rollback_to(lv, rollback_to_gen, &r, d) : LIVE_FAILED;

	if (lv)
		live_result_fini(&r);
	live_unlock(lv);
	return st;
}

/* The state: current and previous, a pending confirm (its generation,
 * 0: none) and whether its watcher lives. */
struct snap {
	unsigned cur, prev, pending;
	bool watcher;
};

static bool same(struct snap a, struct snap b)
{
	return a.cur == b.cur && a.prev == b.prev && a.pending == b.pending &&
	       (!a.pending || a.watcher == b.watcher);
}

static struct snap snap_of(const char *when)
{
	struct live_pending p;
	struct diag_list d;
	struct snap s = { state_generation(dir, STATE_CURRENT),
			  state_generation(dir, STATE_PREVIOUS), 0, false };

	diag_list_init(&d);
	cr_assert_geq(live_pending_get(dir, &p, &d), 0, "%s", when);
	if (live_pending_get(dir, &p, &d) == 1) {
		s.pending = p.generation;
		s.watcher = p.watcher;
	}
	diag_list_fini(&d);
	return s;
}

/* The kernel holds what current names (no table without a current), and
 * nothing but whole generations is in the directory. */
static void consistent(const char *when)
{
	unsigned cur = state_generation(dir, STATE_CURRENT);
	char k[256], want[64];
	struct state_meta m;
	struct diag_list d;
	DIR *dh;
	struct dirent *e;

	kernel_get(k, sizeof(k));
	if (!cur) {
		cr_assert_str_empty(k, "%s: no current generation, but the kernel holds %s", when, k);
	} else {
		diag_list_init(&d);
		cr_assert_eq(state_read_meta(dir, cur, &m, &d), 0, "%s: current %u unreadable",
			     when, cur);
		snprintf(want, sizeof(want), "sha256 %.16s", m.sha256);
		cr_assert_not_null(strstr(k, want), "%s: current is %u, but the kernel holds \"%s\"",
				   when, cur, k);
		state_meta_fini(&m);
		diag_list_fini(&d);
	}
	cr_assert_not_null(dh = opendir(dir));
	while ((e = readdir(dh)))
		cr_assert_null(strstr(e->d_name, ".tmp."), "%s: stray %s", when, e->d_name);
	closedir(dh);
}

/* Steps before each attempt: a fresh state directory holding
 * generations 1 (policy 0) and 2 (policy 1), 2 current. */
static void fresh(void)
{
	struct diag_list d;
	char cmd[PATH_MAX + 16];

	for (int i = 0; i < 3; i++)
		compiled(i);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	diag_list_init(&d);
	cr_assert_eq(apply(0, 0, &d), LIVE_OK);
	cr_assert_eq(apply(1, 0, &d), LIVE_OK);
	diag_list_fini(&d);
}

typedef enum live_status (*step_fn)(struct diag_list *d);

/* Run before() (unfailed), then act() with its kth call failing, for
 * every k until act() runs out of calls to fail: each time, the state is
 * old or new and the kernel holds what current names; the outcome is
 * LIVE_OK exactly when the state is the new one. */
static void every_step(void (*before)(void), step_fn act, struct snap old, struct snap new,
		       void (*after)(void))
{
	unsigned k;

	for (k = 1;; k++) {
		struct diag_list d;
		enum live_status st;
		struct snap s;
		char when[700];

		before();
		diag_list_init(&d);
		fault_arm(k);
		st = act(&d);
		fault_disarm();
		snprintf(when, sizeof(when), "failing %s (step %u)",
			 fault_fired() ? fault_what() : "nothing", k);
		s = snap_of(when);
		cr_assert(same(s, old) || same(s, new),
			  "%s: current %u, previous %u, pending %u (watcher %d): neither old nor new",
			  when, s.cur, s.prev, s.pending, s.watcher);
		cr_assert_eq(st == LIVE_OK, same(s, new), "%s: outcome %d for the %s state (%s)",
			     when, st, same(s, new) ? "new" : "old",
			     d.count ? d.items[0].message : "no message");
		if (st != LIVE_OK)
			cr_assert_gt(d.errors, 0, "%s: a failure without a message", when);
		consistent(when);
		if (after)
			after();
		watchers_ended(when);
		diag_list_fini(&d);
		if (!fault_fired())
			break;
	}
	cr_assert_gt(k, 4, "only %u steps: is fault.c linked?", k);
	cr_log_info("%u steps, each failed in turn", k - 1);
}

static enum live_status apply_2(struct diag_list *d)
{
	return apply(2, 0, d);
}

static enum live_status apply_2_confirm(struct diag_list *d)
{
	return apply(2, 600, d);
}

/* Stop a watcher left pending, as confirm would; or one whose record is
 * no longer in force (a rollback that could not remove it), as the next
 * apply or rollback would. */
static void end_pending(void)
{
	struct diag_list d;
	char path[PATH_MAX];

	diag_list_init(&d);
	if (snap_of("cleaning up").pending)
		cr_assert_eq(confirm(&d), LIVE_OK);
	snprintf(path, sizeof(path), "%s/pending", dir);
	unlink(path);
	diag_list_fini(&d);
}

Test(live, a_failure_at_any_step_of_apply_leaves_old_or_new)
{
	every_step(fresh, apply_2, (struct snap){ 2, 1, 0, false }, (struct snap){ 3, 2, 0, false }, NULL);
}

Test(live, a_failure_at_any_step_of_apply_confirm_leaves_old_or_new)
{
	every_step(fresh, apply_2_confirm, (struct snap){ 2, 1, 0, false },
		   (struct snap){ 3, 2, 3, true }, end_pending);
}

Test(live, a_failure_at_any_step_of_rollback_leaves_old_or_new)
{
	every_step(fresh, rollback, (struct snap){ 2, 1, 0, false }, (struct snap){ 1, 0, 0, false }, NULL);
}

Test(live, a_failure_at_any_step_of_rollback_to_leaves_old_or_new)
{
	rollback_to_gen = 1;
	every_step(fresh, rollback_to, (struct snap){ 2, 1, 0, false }, (struct snap){ 1, 2, 0, false }, NULL);
}

/* Generation 3 applied with a confirm, waiting. */
static void fresh_pending(void)
{
	struct diag_list d;

	fresh();
	diag_list_init(&d);
	cr_assert_eq(apply(2, 600, &d), LIVE_OK);
	diag_list_fini(&d);
}

Test(live, a_failure_at_any_step_of_undoing_an_unconfirmed_apply_leaves_old_or_new)
{
	every_step(fresh_pending, rollback, (struct snap){ 3, 2, 3, true },
		   (struct snap){ 2, 1, 0, false }, end_pending);
}

Test(live, a_failure_at_any_step_of_confirm_leaves_old_or_new)
{
	every_step(fresh_pending, confirm, (struct snap){ 3, 2, 3, true },
		   (struct snap){ 3, 2, 0, false }, end_pending);
}

/* --- established flows ----------------------------------------------- */

/* Once the kernel holds the new table, apply and rollback judge the
 * established flows under the plan the kernel now holds, and so does
 * the watcher's rollback; with live_keep_flows they are left alone. */
Test(live, flows_are_judged_under_the_plan_the_kernel_now_holds)
{
	char seen[1024], k[256], want[300];
	struct live_policy p = { compiled(2)->pol, compiled(2)->plan, "p.json", PLAN_KERNEL_ONLY, 0, 0, 1 };
	struct live_result r;
	struct diag_list d;
	struct live *lv;

	fresh();
	diag_list_init(&d);
	flows_judged(seen, sizeof(seen));
	cr_assert_eq(apply(2, 0, &d), LIVE_OK);
	snprintf(want, sizeof(want), "%s\n", kernel_get(k, sizeof(k)));
	cr_assert_str_eq(flows_judged(seen, sizeof(seen)), want, "apply");
	cr_assert_eq(rollback(&d), LIVE_OK);
	snprintf(want, sizeof(want), "%s\n", kernel_get(k, sizeof(k)));
	cr_assert_str_eq(flows_judged(seen, sizeof(seen)), want, "rollback");

	cr_assert_not_null(lv = live_lock(dir, "apply", 0, &d));
	live_keep_flows(lv, true);
	cr_assert_eq(live_apply(lv, &p, 0, spawn, &r, &d), LIVE_OK);
	cr_assert(r.keep_flows && !r.flows.ran);
	live_result_fini(&r);
	cr_assert_eq(live_rollback(lv, &r, &d), LIVE_OK);
	cr_assert(r.keep_flows && !r.flows.ran);
	live_result_fini(&r);
	live_unlock(lv);
	cr_assert_str_empty(flows_judged(seen, sizeof(seen)), "--keep-flows");

	/* the watcher's rollback: after the apply's own line, its own */
	cr_assert_eq(apply(2, 1, &d), LIVE_OK);
	watchers_ended("at the deadline");
	snprintf(want, sizeof(want), "%s\n%s\n", compiled(2)->plan->comment,
		 kernel_get(k, sizeof(k)));
	cr_assert_str_eq(flows_judged(seen, sizeof(seen)), want, "the watcher");
	diag_list_fini(&d);
}

/* --- the watcher ------------------------------------------------------- */

Test(live, an_unconfirmed_apply_is_rolled_back_and_recorded)
{
	struct live_rollback_record rb;
	struct diag_list d;
	double t0;

	fresh();
	diag_list_init(&d);
	t0 = seconds();
	cr_assert_eq(apply(2, 1, &d), LIVE_OK);
	cr_assert(snap_of("armed").watcher, "the watcher holds its record");
	watchers_ended("at the deadline");
	cr_assert_geq(seconds() - t0, 0.9, "rolled back before the deadline");
	cr_assert(same(snap_of("rolled back"), (struct snap){ 2, 1, 0, false }));
	consistent("rolled back");
	cr_assert_eq(live_rollback_record_get(dir, &rb, &d), 1);
	cr_assert_eq(rb.generation, 3);
	cr_assert_eq(rb.to, 2);
	cr_assert_null(rb.error);
	live_rollback_record_fini(&rb);
	cr_assert_eq(confirm(&d), LIVE_NOTHING);
	cr_assert(has(&d, "nothing to confirm: already rolled back at "), "%s",
		  d.items[d.count - 1].message);
	/* the next apply clears the record */
	cr_assert_eq(apply(0, 0, &d), LIVE_OK);
	cr_assert_eq(live_rollback_record_get(dir, &rb, &d), 0);
	diag_list_fini(&d);
}

/* At the deadline the ruleset changed under the watcher twice: it reads
 * it again and rolls back all the same; a rollback command would have
 * said so and stopped. */
Test(live, the_watcher_tries_again_when_the_ruleset_moved)
{
	struct live_rollback_record rb;
	struct diag_list d;

	fresh();
	diag_list_init(&d);
	kernel_moves(1);
	cr_assert_eq(rollback(&d), LIVE_MOVED);
	cr_assert(same(snap_of("moved"), (struct snap){ 2, 1, 0, false }));
	cr_assert_eq(apply(2, 1, &d), LIVE_OK);
	kernel_moves(2);
	watchers_ended("at the deadline");
	cr_assert(same(snap_of("rolled back"), (struct snap){ 2, 1, 0, false }));
	consistent("rolled back");
	cr_assert_eq(live_rollback_record_get(dir, &rb, &d), 1);
	cr_assert_null(rb.error);
	live_rollback_record_fini(&rb);
	diag_list_fini(&d);
}

/* A confirmed apply's watcher ends at once, without waiting for its
 * deadline, and touches nothing. */
Test(live, a_confirmed_watcher_ends_at_once)
{
	struct diag_list d;
	double t0;

	fresh();
	diag_list_init(&d);
	cr_assert_eq(apply(2, 600, &d), LIVE_OK);
	t0 = seconds();
	cr_assert_eq(confirm(&d), LIVE_OK);
	watchers_ended("confirmed");
	cr_assert_lt(seconds() - t0, 3);
	cr_assert(same(snap_of("confirmed"), (struct snap){ 3, 2, 0, false }));
	cr_assert_eq(confirm(&d), LIVE_NOTHING);
	cr_assert(has(&d, "nothing to confirm (no apply --confirm is waiting)"));
	diag_list_fini(&d);
}

/* A pending record that nobody holds (its watcher died, the machine
 * rebooted) is dropped by the next apply; one that is held refuses it. */
Test(live, a_pending_confirm_is_alive_only_while_held)
{
	struct diag_list d;
	char path[PATH_MAX];
	FILE *f;

	fresh();
	snprintf(path, sizeof(path), "%s/pending", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("{\"generation\": 2, \"replaces\": 1, \"deadline\": 1, \"token\": \"x\"}\n", f);
	fflush(f);
	diag_list_init(&d);
	{
		struct live_pending p;

		cr_assert_eq(live_pending_get(dir, &p, &d), 1);
		cr_assert_not(p.watcher);
	}
	/* held by someone: a watcher, as far as anyone can tell */
	int go[2], st;
	pid_t pid;

	cr_assert_eq(pipe(go), 0);
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		char c;

		if (flock(fileno(f), LOCK_EX) < 0)
			_exit(1);
		while (read(go[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(go[0]);
	for (int i = 0; i < 200 && !snap_of("held").watcher; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	cr_assert_eq(apply(2, 0, &d), LIVE_PENDING);
	cr_assert(has(&d, "an earlier apply --confirm is waiting"));
	close(go[1]);
	waitpid(pid, &st, 0);
	fclose(f);
	cr_assert_eq(apply(2, 0, &d), LIVE_OK);
	cr_assert(has(&d, "dropped a pending confirm whose timer is gone"));
	cr_assert_eq(snap_of("dropped").pending, 0);
	diag_list_fini(&d);
}

/* --- history ------------------------------------------------------------ */

/* What history says of generation gen. */
static const struct history_entry *entry(const struct history *h, unsigned gen)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].generation == gen)
			return &h->v[i];
	cr_assert_fail("generation %u is not in history", gen);
	return NULL;
}

static bool kernel_holds(unsigned gen)
{
	char k[256], want[64];
	struct state_meta m;
	struct diag_list d;
	bool yes;

	diag_list_init(&d);
	cr_assert_eq(state_read_meta(dir, gen, &m, &d), 0);
	snprintf(want, sizeof(want), "sha256 %.16s", m.sha256);
	yes = strstr(kernel_get(k, sizeof(k)), want) != NULL;
	state_meta_fini(&m);
	diag_list_fini(&d);
	return yes;
}

/* Issue 17: 1 and 2 applied, 3 applied with a confirm and rolled back at
 * its deadline.  A plain rollback goes back to 1, never forward to the
 * rejected 3; rollback --to 3 can still choose it. */
Test(live, a_rolled_back_apply_is_never_rollback_s_target)
{
	struct live_result r;
	struct history h;
	struct diag_list d;
	struct live *lv;

	fresh();
	diag_list_init(&d);
	cr_assert_eq(apply(2, 1, &d), LIVE_OK);
	watchers_ended("at the deadline");
	cr_assert(same(snap_of("expired"), (struct snap){ 2, 1, 0, false }), "previous is %u",
		  snap_of("expired").prev);
	cr_assert_eq(history_read(dir, &h, &d), 0);
	cr_assert_eq(h.n, 3);
	cr_assert_eq(h.v[0].generation, 3, "newest first");
	cr_assert_eq(entry(&h, 3)->outcome, HISTORY_ROLLED_BACK);
	cr_assert(entry(&h, 3)->what.by_expiry);
	cr_assert_eq(entry(&h, 3)->what.rolled_back_to, 2);
	cr_assert_str_eq(entry(&h, 3)->what.rolled_back_by.command, "expiry");
	cr_assert_eq(entry(&h, 3)->meta.confirm, 1);
	cr_assert_eq(entry(&h, 2)->outcome, HISTORY_LIVE);
	cr_assert_str_eq(entry(&h, 2)->what.reinstated_by.command, "expiry");
	cr_assert_eq(entry(&h, 1)->outcome, HISTORY_SUPERSEDED);
	cr_assert(entry(&h, 1)->target && !entry(&h, 3)->target);
	history_fini(&h);

	cr_assert_eq(rollback(&d), LIVE_OK);
	cr_assert(same(snap_of("rolled back"), (struct snap){ 1, 0, 0, false }));
	cr_assert(kernel_holds(1), "rollback went to 1, not to the rejected 3");
	cr_assert_eq(rollback(&d), LIVE_NOTHING, "nothing behind 1: not 2, not 3");
	cr_assert(kernel_holds(1));

	lv = live_lock(dir, "rollback --to", 0, &d);
	cr_assert_not_null(lv);
	cr_assert_eq(live_rollback_to(lv, 3, &r, &d), LIVE_OK);
	cr_assert_eq(r.generation, 3);
	live_result_fini(&r);
	cr_assert(kernel_holds(3));
	cr_assert(same(snap_of("to 3"), (struct snap){ 3, 1, 0, false }));
	cr_assert_eq(live_rollback_to(lv, 9, &r, &d), LIVE_NOTHING);
	cr_assert(has(&d, "no generation 9 in the state directory"));
	cr_assert_eq(live_rollback_to(lv, 3, &r, &d), LIVE_NOTHING);
	cr_assert(has(&d, "generation 3 is already current"));
	live_unlock(lv);
	cr_assert_eq(history_read(dir, &h, &d), 0);
	cr_assert_eq(entry(&h, 3)->outcome, HISTORY_LIVE);
	cr_assert_str_eq(entry(&h, 3)->what.reinstated_by.command, "rollback --to");
	cr_assert_eq(entry(&h, 2)->outcome, HISTORY_ROLLED_BACK, "an admin's rollback rejects");
	cr_assert_not(entry(&h, 2)->what.by_expiry);
	cr_assert_str_eq(entry(&h, 2)->what.rolled_back_by.command, "rollback");
	history_fini(&h);
	diag_list_fini(&d);
}

/* A generation whose copy is not what its meta records is refused by
 * rollback --to, and nothing changes. */
Test(live, rollback_to_a_damaged_generation_changes_nothing)
{
	char path[PATH_MAX];
	struct diag_list d;
	FILE *f;

	fresh();
	diag_list_init(&d);
	snprintf(path, sizeof(path), "%s/gen-000001/policy.json", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(texts[2], f);	/* valid, but not the policy applied */
	fclose(f);
	rollback_to_gen = 1;
	cr_assert_eq(rollback_to(&d), LIVE_FAILED);
	cr_assert(has(&d, "generation 1 is damaged: policy.json does not match the digest"));
	cr_assert(same(snap_of("refused"), (struct snap){ 2, 1, 0, false }));
	consistent("refused");
	cr_assert(kernel_holds(2));
	cr_assert_eq(rollback(&d), LIVE_FAILED, "a plain rollback refuses it too");
	cr_assert(kernel_holds(2));
	snprintf(path, sizeof(path), "%s/gen-000001/meta.json", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("{}", f);
	fclose(f);
	cr_assert_eq(rollback_to(&d), LIVE_FAILED);
	cr_assert(has(&d, "generation 1 is damaged (its meta.json)"));
	cr_assert(kernel_holds(2));
	diag_list_fini(&d);
}

/* history: a pending confirm, then confirmed; a rollback --to while a
 * confirm waits is refused. */
Test(live, history_follows_a_confirm)
{
	struct history h;
	struct diag_list d;

	fresh();
	diag_list_init(&d);
	cr_assert_eq(apply(2, 600, &d), LIVE_OK);
	cr_assert_eq(history_read(dir, &h, &d), 0);
	cr_assert_eq(entry(&h, 3)->outcome, HISTORY_PENDING);
	cr_assert(h.pending_watcher);
	cr_assert_gt(h.pending_deadline, 0);
	cr_assert_eq(entry(&h, 2)->outcome, HISTORY_SUPERSEDED);
	history_fini(&h);
	rollback_to_gen = 1;
	cr_assert_eq(rollback_to(&d), LIVE_PENDING);
	cr_assert(has(&d, "an apply --confirm is waiting"));
	cr_assert_eq(confirm(&d), LIVE_OK);
	watchers_ended("confirmed");
	cr_assert_eq(history_read(dir, &h, &d), 0);
	cr_assert_eq(entry(&h, 3)->outcome, HISTORY_CONFIRMED);
	cr_assert_str_eq(entry(&h, 3)->what.confirmed_by.command, "confirm");
	cr_assert_eq(entry(&h, 3)->meta.applied_by.uid, (long)getuid());
	history_fini(&h);
	/* superseded, it stays confirmed */
	cr_assert_eq(apply(0, 0, &d), LIVE_OK);
	cr_assert_eq(history_read(dir, &h, &d), 0);
	cr_assert_eq(entry(&h, 3)->outcome, HISTORY_SUPERSEDED);
	cr_assert(entry(&h, 3)->what.confirmed);
	cr_assert_eq(entry(&h, 4)->outcome, HISTORY_LIVE);
	history_fini(&h);
	/* no state directory: no history, no error */
	cr_assert_eq(history_read("/nonexistent/sagate-state", &h, &d), 0);
	cr_assert_eq(h.n, 0);
	history_fini(&h);
	diag_list_fini(&d);
}

/* --- an apply that ended between its prepare and its switch ------------ */

/* Generations 1 and 2 (current), then act by a process that dies in the
 * fake kernel, before or after its commit: as a SIGKILL there leaves it,
 * current still names 2.  apply_dies: generation 3 (policy 2) applied. */
static void dies_in_kernel(int when, step_fn act)
{
	pid_t pid;
	int st;

	fresh();
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct diag_list d;

		die_in_kernel = when;
		diag_list_init(&d);
		act(&d);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == DIED, "it did not die in the kernel");
	cr_assert_eq(state_generation(dir, STATE_CURRENT), 2);
}

static void apply_dies(int when)
{
	dies_in_kernel(when, apply_2);
	cr_assert_eq(kernel_holds(3), when == DIE_AFTER_COMMIT);
}

static const char settled_switch[] = "ended between the kernel's commit and its switch: the kernel holds its generation 3, now made current";

Test(live, an_apply_killed_after_the_kernel_commit_is_made_current_by_confirm)
{
	struct diag_list d;

	apply_dies(DIE_AFTER_COMMIT);
	diag_list_init(&d);
	cr_assert_eq(confirm(&d), LIVE_NOTHING);
	cr_assert(has(&d, settled_switch), "%s", d.count ? d.items[0].message : "no message");
	cr_assert(same(snap_of("settled"), (struct snap){ 3, 2, 0, false }));
	consistent("settled by confirm");
	diag_list_fini(&d);
}

Test(live, an_apply_killed_after_the_kernel_commit_is_made_current_then_rolled_back)
{
	struct diag_list d;

	apply_dies(DIE_AFTER_COMMIT);
	diag_list_init(&d);
	cr_assert_eq(rollback(&d), LIVE_OK);
	cr_assert(has(&d, settled_switch));
	/* the rollback goes back from 3, the kernel's, to 2 (3, rolled back, is no rollback target) */
	cr_assert(same(snap_of("rolled back"), (struct snap){ 2, 1, 0, false }));
	consistent("settled by rollback");
	diag_list_fini(&d);
}

Test(live, an_apply_killed_after_the_kernel_commit_is_settled_by_the_next_apply)
{
	struct diag_list d;

	apply_dies(DIE_AFTER_COMMIT);
	diag_list_init(&d);
	cr_assert_eq(apply(0, 0, &d), LIVE_OK);
	cr_assert(has(&d, settled_switch));
	cr_assert(same(snap_of("applied"), (struct snap){ 4, 3, 0, false }));
	consistent("settled by apply");
	diag_list_fini(&d);
}

Test(live, an_apply_killed_after_the_kernel_commit_is_settled_by_restore)
{
	struct restore r;
	struct diag_list d;
	struct live *lv;

	apply_dies(DIE_AFTER_COMMIT);
	diag_list_init(&d);
	cr_assert_not_null(lv = live_lock(dir, "restore", 0, &d));
	cr_assert_eq(live_recover(lv, &d), LIVE_OK);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_CHOSEN);
	cr_assert_eq(r.generation, 3);
	cr_assert_eq(restore_apply(dir, &r, false, &d), 0);
	restore_fini(&r);
	live_unlock(lv);
	cr_assert(has(&d, settled_switch));
	cr_assert(same(snap_of("restored"), (struct snap){ 3, 2, 0, false }));
	consistent("settled by restore");
	diag_list_fini(&d);
}

Test(live, an_apply_killed_before_the_kernel_commit_is_discarded)
{
	struct diag_list d;
	char path[PATH_MAX];

	apply_dies(DIE_BEFORE_COMMIT);
	diag_list_init(&d);
	cr_assert_eq(confirm(&d), LIVE_NOTHING);
	cr_assert(has(&d, "ended before the kernel took its generation 3: discarded it; generation 2 stays current"),
		  "%s", d.count ? d.items[0].message : "no message");
	snprintf(path, sizeof(path), "%s/gen-000003", dir);
	cr_assert_neq(access(path, F_OK), 0, "generation 3 was kept");
	cr_assert(same(snap_of("discarded"), (struct snap){ 2, 1, 0, false }));
	consistent("discarded");
	diag_list_fini(&d);
}

/* After died() (a command killed after the kernel's commit), the command
 * that settles it (confirm) fails at any step: what it leaves is settled
 * by the one after, to want. */
static void settled_at_any_step(void (*died)(void), struct snap want)
{
	unsigned k;

	for (k = 1;; k++) {
		struct diag_list d;
		char when[600];
		bool fired;

		died();
		diag_list_init(&d);
		fault_arm(k);
		confirm(&d);
		fault_disarm();
		fired = fault_fired();
		snprintf(when, sizeof(when), "failing %s (step %u)", fired ? fault_what() : "nothing", k);
		diag_list_fini(&d);
		diag_list_init(&d);
		cr_assert_eq(confirm(&d), LIVE_NOTHING, "%s", when);
		cr_assert(same(snap_of(when), want),
			  "%s: then current %u, previous %u", when, state_generation(dir, STATE_CURRENT),
			  state_generation(dir, STATE_PREVIOUS));
		consistent(when);
		diag_list_fini(&d);
		if (!fired)
			break;
	}
	cr_assert_gt(k, 4, "only %u steps: is fault.c linked?", k);
}

static void apply_died(void)
{
	apply_dies(DIE_AFTER_COMMIT);
}

Test(live, a_failure_at_any_step_of_settling_it_leaves_it_to_the_next_command)
{
	settled_at_any_step(apply_died, (struct snap){ 3, 2, 0, false });
}

/* --- a rollback that ended between its record and its switch ----------- */

/* Every message of d, for an assertion's output. */
static const char *all_errors(const struct diag_list *d)
{
	static char buf[4096];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < d->count && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s | ", d->items[i].message);
	return buf;
}

/* A rollback (to: rollback --to 1) killed in the fake kernel
 * (dies_in_kernel): current still names 2. */
static void rollback_dies(int when, bool to)
{
	rollback_to_gen = 1;
	dies_in_kernel(when, to ? rollback_to : rollback);
	cr_assert_eq(kernel_holds(1), when == DIE_AFTER_COMMIT);
}

static const char rolled_switch[] = "ended between the kernel's commit and its switch: the kernel holds generation 1, now made current";

Test(live, a_rollback_killed_after_the_kernel_commit_is_made_current_by_confirm)
{
	struct history h;
	struct diag_list d;

	rollback_dies(DIE_AFTER_COMMIT, false);
	diag_list_init(&d);
	cr_assert_eq(confirm(&d), LIVE_NOTHING);
	cr_assert(has(&d, rolled_switch), "%s", all_errors(&d));
	cr_assert(has(&d, "an earlier rollback from generation 2 to 1"), "%s", all_errors(&d));
	/* as the rollback leaves it: 1 keeps its own target (none) */
	cr_assert(same(snap_of("settled"), (struct snap){ 1, 0, 0, false }));
	consistent("settled by confirm");
	cr_assert_eq(history_read(dir, &h, &d), 0);
	cr_assert_eq(entry(&h, 2)->outcome, HISTORY_ROLLED_BACK);
	cr_assert_str_eq(entry(&h, 2)->what.rolled_back_by.command, "rollback");
	cr_assert_str_eq(entry(&h, 1)->what.reinstated_by.command, "rollback");
	history_fini(&h);
	diag_list_fini(&d);
}

Test(live, a_rollback_to_killed_after_the_kernel_commit_is_made_current_by_apply)
{
	struct diag_list d;

	rollback_dies(DIE_AFTER_COMMIT, true);
	diag_list_init(&d);
	cr_assert_eq(apply(2, 0, &d), LIVE_OK);
	cr_assert(has(&d, rolled_switch), "%s", all_errors(&d));
	/* rollback --to made 2 the rollback target of 1; the apply replaced 1 */
	cr_assert(same(snap_of("applied"), (struct snap){ 3, 1, 0, false }));
	cr_assert_eq(state_target(dir, 1), 2);
	consistent("settled by apply");
	diag_list_fini(&d);
}

Test(live, a_rollback_killed_before_the_kernel_commit_keeps_its_target)
{
	struct diag_list d;
	char path[PATH_MAX];

	rollback_dies(DIE_BEFORE_COMMIT, false);
	diag_list_init(&d);
	cr_assert_eq(confirm(&d), LIVE_NOTHING);
	cr_assert(has(&d, "an earlier rollback to generation 1 ended before the kernel took it: generation 2 stays current"),
		  "%s", all_errors(&d));
	snprintf(path, sizeof(path), "%s/gen-000001/meta.json", dir);
	cr_assert_eq(access(path, F_OK), 0, "generation 1 was discarded");
	cr_assert(same(snap_of("kept"), (struct snap){ 2, 1, 0, false }));
	consistent("kept");
	/* and the rollback can be run again */
	cr_assert_eq(rollback(&d), LIVE_OK);
	cr_assert(same(snap_of("rolled back"), (struct snap){ 1, 0, 0, false }));
	consistent("rolled back");
	diag_list_fini(&d);
}

/* A record that cannot be read names nothing to settle: it goes, with a
 * warning, and nothing else changes. */
Test(live, a_damaged_rollback_record_is_removed_and_changes_nothing)
{
	static const char *const damaged[] = {
		"not json", "{}", "{\"generation\": 1, \"replaces\": 2}",
		"{\"generation\": 1, \"replaces\": 2, \"switch\": \"sideways\", \"by\": \"rollback\"}",
		"{\"generation\": 1, \"replaces\": 2, \"switch\": \"swap\", \"by\": \"\"}",
		"{\"generation\": 0, \"replaces\": 2, \"switch\": \"swap\", \"by\": \"rollback\"}",
	};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		struct diag_list d;
		FILE *f;

		fresh();
		snprintf(path, sizeof(path), "%s/rolling-back", dir);
		cr_assert_not_null(f = fopen(path, "w"));
		fputs(damaged[i], f);
		fclose(f);
		diag_list_init(&d);
		cr_assert_eq(confirm(&d), LIVE_NOTHING);
		cr_assert(has(&d, "damaged record of an interrupted rollback: removed"), "%s: %s",
			  damaged[i], all_errors(&d));
		cr_assert_neq(access(path, F_OK), 0, "%s: the record stays", damaged[i]);
		cr_assert(same(snap_of(damaged[i]), (struct snap){ 2, 1, 0, false }));
		consistent(damaged[i]);
		diag_list_fini(&d);
	}
}

static void rollback_died(void)
{
	rollback_dies(DIE_AFTER_COMMIT, false);
}

Test(live, a_failure_at_any_step_of_settling_a_rollback_leaves_it_to_the_next_command)
{
	settled_at_any_step(rollback_died, (struct snap){ 1, 0, 0, false });
}

/* --- sagated's answers --------------------------------------------------- */

/* Policy i applied in engine mode, on the bank the live table does not
 * use. */
static enum live_status apply_engine(int i, struct live_result *r, struct diag_list *d)
{
	const struct compiled *c = compiled(i);
	struct live *lv = live_lock(dir, "apply", 0, d);
	enum live_status st;
	struct plan *plan;
	uint16_t q;

	cr_assert_not_null(lv);
	cr_assert_eq(live_next_queue(dir, 0, 1, &q, d), 0);
	plan = compile_plan(c->pol, c->cls, &(struct compile_opts){ PLAN_ENGINE, q, 0 });
	cr_assert_not_null(plan);
	st = live_apply(lv, &(struct live_policy){ c->pol, plan, "p.json", PLAN_ENGINE, q, 0, 1 },
			0, spawn, r, d);
	live_unlock(lv);
	plan_free(plan);
	return st;
}

static char *events(char *buf, size_t len)
{
	FILE *f = fopen(events_file(), "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
	return buf;
}

/* sagated takes the load and never answers: after the timeout, apply
 * says the outcome is unknown and what the kernel, read again, holds
 * (the generation before: it never switched), and changes no mode. */
Test(live, a_load_never_answered_is_an_unknown_outcome)
{
	struct live_result r;
	struct diag_list d;
	char ev[1024];
	double t0;
	pid_t fake;

	cr_assert_eq(setenv("SAGATE_HANDOVER_TIMEOUT", "1", 1), 0);
	diag_list_init(&d);
	cr_assert_eq(apply_engine(0, &r, &d), LIVE_OK, "%s", all_errors(&d));	/* no sagated: nothing to hand over */
	live_result_fini(&r);
	fake = fake_sagated_start(run, FAKE_SILENT, events_file());
	t0 = seconds();
	cr_assert_eq(apply_engine(1, &r, &d), LIVE_UNKNOWN, "%s", all_errors(&d));
	fake_sagated_stop(fake, run);
	cr_assert_geq(seconds() - t0, 0.9, "gave up before the timeout");
	cr_assert_lt(seconds() - t0, 5);
	cr_assert(has(&d, "outcome unknown: sagated's answer about generation 2 was lost; read again, the kernel holds generation 1 (p.json, engine mode, as before)"),
		  "%s", all_errors(&d));
	cr_assert(has(&d, "sagated was not confirmed to serve it"));
	cr_assert(has(&d, "no mode was changed"));
	cr_assert(same(snap_of("unknown"), (struct snap){ 1, 0, 0, false }));
	consistent("unknown before the switch");
	/* asked to load, and the kernel never asked after that */
	cr_assert_not_null(strstr(events(ev, sizeof(ev)), "load 2 1\n"), "%s", ev);
	cr_assert_null(strstr(strstr(ev, "load 2 1\n"), "commit"), "%s", ev);
	live_result_fini(&r);
	diag_list_fini(&d);
}

/* sagated answers the load, then its answer to "live" never comes (or
 * the connection closes): the kernel switched, and apply says so, read
 * again, and that sagated is not confirmed to serve it. */
Test(live, a_lost_answer_after_the_switch_is_an_unknown_outcome)
{
	static const enum fake_sagated_mode modes[] = { FAKE_SILENT_LIVE, FAKE_CLOSE_LIVE };

	cr_assert_eq(setenv("SAGATE_HANDOVER_TIMEOUT", "1", 1), 0);
	for (size_t i = 0; i < 2; i++) {
		struct live_result r;
		struct diag_list d;
		char cmd[PATH_MAX + 16], ev[1024];
		pid_t fake;

		snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, events_file());
		cr_assert_eq(system(cmd), 0);
		kernel_set(NULL);
		diag_list_init(&d);
		cr_assert_eq(apply_engine(0, &r, &d), LIVE_OK);
		live_result_fini(&r);
		fake = fake_sagated_start(run, modes[i], events_file());
		cr_assert_eq(apply_engine(1, &r, &d), LIVE_UNKNOWN, "%s", all_errors(&d));
		fake_sagated_stop(fake, run);
		cr_assert_eq(r.generation, 2);
		cr_assert(has(&d, "outcome unknown: sagated's answer about generation 2 was lost; read again, the kernel holds generation 2 (p.json, engine mode, the one asked for); sagated was not confirmed to serve it"),
			  "%s", all_errors(&d));
		cr_assert(same(snap_of("unknown"), (struct snap){ 2, 1, 0, false }));
		consistent("unknown after the switch");
		cr_assert_not_null(strstr(events(ev, sizeof(ev)), "load 2 1\ncommit "), "%s", ev);
		cr_assert_not_null(strstr(ev, "live 2 1\n"), "%s", ev);
		live_result_fini(&r);
		diag_list_fini(&d);
	}
}

/* --- restore and a running sagated ---------------------------------- */

static void restore_now(struct diag_list *d)
{
	struct restore r;
	struct live *lv;

	cr_assert_not_null(lv = live_lock(dir, "restore", 0, d));
	cr_assert_eq(live_recover(lv, d), LIVE_OK);
	cr_assert_eq(restore_choose(dir, &r, d), RESTORE_CHOSEN, "%s", all_errors(d));
	cr_assert_eq(restore_apply(dir, &r, false, d), 0, "%s", all_errors(d));
	restore_fini(&r);
	live_unlock(lv);
}

static uint16_t queue_of(unsigned gen)
{
	struct state_meta m;
	struct diag_list d;
	uint16_t q;

	diag_list_init(&d);
	cr_assert_eq(state_read_meta(dir, gen, &m, &d), 0);
	q = m.queue;
	state_meta_fini(&m);
	diag_list_fini(&d);
	return q;
}

/* restore hands the policy to a sagated that runs before the kernel
 * switches, and says "live" after: at boot (no table) on the recorded
 * bank; with the table live, on the bank it does not use. */
Test(live, restore_hands_over_to_a_running_sagated)
{
	struct live_result r;
	struct diag_list d;
	char ev[1024], cmd[PATH_MAX + 16];
	pid_t fake;

	diag_list_init(&d);
	cr_assert_eq(apply_engine(0, &r, &d), LIVE_OK);
	live_result_fini(&r);
	cr_assert_eq(apply_engine(1, &r, &d), LIVE_OK);
	live_result_fini(&r);
	cr_assert_eq(queue_of(2), 1);
	snprintf(cmd, sizeof(cmd), "rm -f %s", events_file());
	fake = fake_sagated_start(run, FAKE_ANSWER, events_file());

	/* the table live (bank 1): generation 2 again, on bank 0 */
	cr_assert_eq(system(cmd), 0);
	restore_now(&d);
	cr_assert_eq(strncmp(events(ev, sizeof(ev)), "load 2 0\ncommit ", 16), 0, "%s", ev);
	cr_assert_not_null(strstr(ev, "\nlive 2 0\n"), "%s", ev);
	cr_assert_eq(queue_of(2), 0);
	consistent("restored over a live table");

	/* at boot: no table, the recorded bank */
	kernel_set(NULL);
	cr_assert_eq(system(cmd), 0);
	restore_now(&d);
	fake_sagated_stop(fake, run);
	events(ev, sizeof(ev));
	cr_assert_eq(strncmp(ev, "load 2 0\ncommit ", 16), 0, "%s", ev);
	cr_assert_not_null(strstr(ev, "\nlive 2 0\n"), "%s", ev);
	cr_assert_eq(queue_of(2), 0);
	consistent("restored at boot");
	diag_list_fini(&d);
}

/* --- a watcher started on its own (a transient systemd service) ------- */

/* As systemd would: a process that shares nothing with apply (every
 * descriptor closed, as exec closes apply's: no lock comes with it),
 * knowing only the state directory and the token, as `sagate
 * confirm-timer` does; started, as systemd-run returns, once that is
 * so. */
static int spawn_apart(struct live_watch *w)
{
	char wdir[PATH_MAX], token[64], c;
	int closed[2];
	pid_t pid;

	snprintf(wdir, sizeof(wdir), "%s", live_watch_dir(w));
	snprintf(token, sizeof(token), "%s", live_watch_token_of(w));
	cr_assert_eq(pipe(closed), 0);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid != 0) {
		close(closed[1]);
		while (read(closed[0], &c, 1) > 0)	/* EOF: the child closed them all */
			;
		close(closed[0]);
	}
	if (pid == 0) {
		struct diag_list d;

		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		fault_disarm();
		/* started a moment later, as a service is */
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
		diag_list_init(&d);
		live_watch_token(wdir, token, &d);
		_exit(0);
	}
	cr_assert_lt(nwatchers, sizeof(watchers) / sizeof(watchers[0]));
	watchers[nwatchers++] = pid;
	return 1;
}

Test(live, a_watcher_started_apart_holds_its_record_before_the_switch_and_rolls_back)
{
	struct live_rollback_record rb;
	struct diag_list d;
	double t0;

	fresh();
	spawner = spawn_apart;
	diag_list_init(&d);
	t0 = seconds();
	cr_assert_eq(apply(2, 1, &d), LIVE_OK, "%s", all_errors(&d));
	/* apply went on only once the watcher held its record */
	cr_assert(snap_of("armed").watcher, "the watcher does not hold its record");
	watchers_ended("at the deadline");
	cr_assert_geq(seconds() - t0, 0.9, "rolled back before the deadline");
	cr_assert(same(snap_of("rolled back"), (struct snap){ 2, 1, 0, false }));
	consistent("rolled back");
	cr_assert_eq(live_rollback_record_get(dir, &rb, &d), 1);
	cr_assert_eq(rb.generation, 3);
	live_rollback_record_fini(&rb);

	/* confirmed: it ends at once; another token's record is not its own */
	cr_assert_eq(apply(2, 600, &d), LIVE_OK, "%s", all_errors(&d));
	cr_assert_eq(confirm(&d), LIVE_OK);
	watchers_ended("confirmed");
	cr_assert(same(snap_of("confirmed"), (struct snap){ 4, 2, 0, false }));
	cr_assert_eq(live_watch_token(dir, "not-its-token", &d), LIVE_WATCH_ENDED);
	spawner = spawn;
	diag_list_fini(&d);
}
