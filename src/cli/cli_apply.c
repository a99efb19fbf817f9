/* sagate apply / rollback / confirm / flush: the commands that change the
 * live firewall.  What they do is live.h's, each a transaction under the
 * state directory's lock; here are their options and their output, and
 * the process of the confirm watcher (made, detached, logging, ended). */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "compile.h"
#include "handover.h"
#include "live.h"
#include "nft_apply.h"
#include "state.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

static const char *mode_text(enum plan_mode m)
{
	return m == PLAN_ENGINE ? "engine" : "kernel-only";
}

static void say(json_t *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line of text output; with --json (res), one of its "messages". */
static void say(json_t *res, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (!res) {
		vprintf(fmt, ap);
		putchar('\n');
	} else if (vasprintf(&s, fmt, ap) >= 0) {
		json_t *m = json_object_get(res, "messages");

		if (!m)
			json_object_set_new(res, "messages", m = json_array());
		json_array_append_new(m, json_string(s));
		free(s);
	}
	va_end(ap);
}

/* The --json result object: {"command", "ok", "exit", ...res, "diagnostics"};
 * without --json, the diagnostics on stderr. */
static int finish(json_t *res, const char *command, int rc, const struct diag_list *d)
{
	json_t *j;

	if (!res) {
		cli_print_diags(stderr, d);
		return rc;
	}
	j = json_pack("{s:s, s:b, s:i}", "command", command, "ok", rc == EXIT_OK, "exit", rc);
	json_object_update(j, res);
	json_decref(res);
	json_object_set_new(j, "diagnostics", cli_diags_json(d));
	return cli_dump_json(j) < 0 && rc == EXIT_OK ? EXIT_SYSTEM : rc;
}

static void set_counts(json_t *res, const char *file, const struct loaded *l,
		       enum plan_mode mode)
{
	if (res)
		json_object_update_new(res, json_pack("{s:s, s:s, s:I, s:I}", "file", file,
			"mode", mode_text(mode), "kernel_rules", (json_int_t)plan_rule_count(l->plan),
			"elements", (json_int_t)plan_elem_count(l->plan)));
}

/* The kernel rejected the engine layout; its own errors are in l->diags
 * and stand.  Kernel-only mode is weaker (any IPsec SA admits a
 * require-ipsec flow, even ESP-null or AH), so only --no-engine ever
 * chooses it.  When the kernel takes the kernel-only layout (a dry run),
 * what it lacks is the nft queue expression: say so, and how to go on. */
static void explain_engine_refusal(struct loaded *l, const char *file, uint16_t queue)
{
	struct diag_list probe;
	struct loaded k;
	bool kernel_only_loads = false;

	if (cli_load(file, PLAN_KERNEL_ONLY, queue, 1, false, CLI_FINDINGS_NONE, &k) == EXIT_OK) {
		diag_list_init(&probe);
		kernel_only_loads = nft_apply(k.plan, k.pol, true, &probe) == 0;
		diag_list_fini(&probe);
	}
	cli_unload(&k);
	if (kernel_only_loads)
		diag_add(&l->diags, DIAG_ERROR, file, "", NULL,
			 "this kernel has no nft queue expression (CONFIG_NFT_QUEUE): sagated cannot be used here; apply with --no-engine to enforce require-ipsec in the kernel alone (then any IPsec SA, even ESP-null or AH, satisfies it)");
}

/* What sagated was told, for the user: a message, and with --json the
 * "engine" member. */
static void say_handover(json_t *res, const struct live_result *r)
{
	static const char *const names[] = { "none", "no-sagated", "loaded", "serving" };

	if (r->engine_note[0])
		say(res, "%s", r->engine_note);
	if (res)
		json_object_set_new(res, "engine", json_pack("{s:s, s:i}", "handover",
				    names[r->engine_state], "queue", (int)r->engine_queue));
}

/* The watcher's outcome in syslog. */
static void watcher_log(enum live_watch_end end, const struct diag_list *d)
{
	openlog("sagate", LOG_PID, LOG_DAEMON);
	if (end == LIVE_WATCH_ROLLED_BACK)
		syslog(LOG_WARNING, "apply was not confirmed in time: rolled back");
	for (size_t i = 0; end == LIVE_WATCH_FAILED && i < d->count; i++)
		if (d->items[i].severity == DIAG_ERROR)
			syslog(LOG_ERR, "rollback after an unconfirmed apply failed: %s",
			       d->items[i].message);
}

/* What became of the established flows (flows.h). */
static void say_flows(json_t *res, const struct live_result *r)
{
	if (r->keep_flows)
		say(res, "kept established flows as they are (--keep-flows)");
	else if (r->flows.ran)
		say(res, "ended %u established flows no longer admitted", r->flows.ended);
	if (res)
		json_object_set_new(res, "flows", json_pack("{s:b, s:b, s:i, s:i, s:i, s:i}",
			"kept_all", r->keep_flows, "checked", r->flows.ran,
			"ended", (int)r->flows.ended, "sockets_aborted", (int)r->flows.sockets,
			"still_admitted", (int)r->flows.kept, "not_ended", (int)r->flows.failed));
}

/* Whether the apply sent only the difference, and what it changed; or
 * why it replaced the whole table (on standard error too: the admin
 * expected the difference). */
static void say_incr(json_t *res, const char *file, const struct live_incr *ir, bool dry_run,
		     bool full)
{
	const struct nft_diff *x = &ir->diff;

	if (ir->done)
		say(res, "%s%s only the difference: %zu set elements deleted, %zu added, %zu kept with their counters; %zu chains' rules replaced (%zu rules deleted, %zu added), %zu chains added, %zu deleted",
		    file, dry_run ? ": dry run: an apply would send" : ": sent",
		    x->elems_deleted, x->elems_added, x->elems_kept, x->chains_replaced,
		    x->rules_deleted, x->rules_added, x->chains_added, x->chains_deleted);
	else if (ir->tried && full)
		say(res, "%s: replaced the whole table (--full)", file);
	else if (ir->tried)
		fprintf(stderr, "sagate: %s: %s the whole table: %s\n", file,
			dry_run ? "an apply would replace" : "replaced", ir->why);
	if (res)
		json_object_set_new(res, "incremental", json_pack(
			"{s:b, s:b, s:b, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}}",
			"tried", ir->tried, "done", ir->done, "kept_plan", ir->kept,
			"fallback", ir->done || !ir->tried ? "" : full ? "--full" : ir->why,
			"diff", "elements_deleted", (int)x->elems_deleted,
			"elements_added", (int)x->elems_added, "elements_kept", (int)x->elems_kept,
			"rules_deleted", (int)x->rules_deleted, "rules_added", (int)x->rules_added,
			"chains_replaced", (int)x->chains_replaced,
			"chains_added", (int)x->chains_added, "chains_deleted", (int)x->chains_deleted));
}

/* The confirm watcher's process: live_watch, then its outcome in syslog. */
static void watcher_main(struct live_watch *w)
{
	struct diag_list d;

	diag_list_init(&d);
	watcher_log(live_watch(w, &d), &d);
	diag_list_fini(&d);
	_exit(0);
}

/* Does path name the same namespace as PID 1's? */
static bool pid1_ns(const char *ns)
{
	char mine[64], init[64];
	struct stat a, b;

	snprintf(mine, sizeof(mine), "/proc/self/ns/%s", ns);
	snprintf(init, sizeof(init), "/proc/1/ns/%s", ns);
	return stat(mine, &a) == 0 && stat(init, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* systemd-run, when the host runs systemd and we run in its network and
 * mount namespaces (a transient service runs in PID 1's: from `ip netns
 * exec` it would watch another firewall).  NULL otherwise. */
static const char *systemd_run(void)
{
	static const char *const paths[] = { "/usr/bin/systemd-run", "/bin/systemd-run" };

	if (access("/run/systemd/system", F_OK) < 0 || !pid1_ns("net") || !pid1_ns("mnt"))
		return NULL;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* The watcher as a transient service, sagate-confirm-TOKEN.service,
 * outside the admin's login session: logind's KillUserProcesses cannot
 * reach it.  1 once systemd started it, -1 when it could not. */
static int spawn_transient(const char *sdrun, struct live_watch *w)
{
	char self[PATH_MAX], unit[96], sdir[PATH_MAX + 32], rdir[PATH_MAX + 32];
	const char *argv[12];
	const char *run = getenv("SAGATE_RUN_DIR");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t a = 0;
	pid_t pid;
	int status;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	snprintf(unit, sizeof(unit), "--unit=sagate-confirm-%s", live_watch_token_of(w));
	snprintf(sdir, sizeof(sdir), "--setenv=SAGATE_STATE_DIR=%s", live_watch_dir(w));
	argv[a++] = sdrun;
	argv[a++] = unit;
	argv[a++] = "--collect";
	argv[a++] = "--quiet";
	argv[a++] = "--description=sagate apply --confirm: rolls back unless confirmed";
	argv[a++] = sdir;
	if (run && *run) {
		snprintf(rdir, sizeof(rdir), "--setenv=SAGATE_RUN_DIR=%s", run);
		argv[a++] = rdir;
	}
	argv[a++] = "--";
	argv[a++] = self;
	argv[a++] = "confirm-timer";
	argv[a++] = live_watch_token_of(w);
	argv[a] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* systemd-run's own output is not ours to show */
		if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		execv(sdrun, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -1;
}

/* live_spawn_fn.  Under systemd, a transient service; else (or when
 * systemd-run fails, with a warning) a process detached from the
 * terminal and the session, so that it outlives the SSH session apply
 * ran in, but not a logind that kills the session's processes: see BUGS
 * in sagate(8). */
static int spawn_watcher(struct live_watch *w)
{
	const char *sdrun = systemd_run();
	pid_t pid;
	int status;

	if (sdrun && spawn_transient(sdrun, w) == 1)
		return 1;
	if (sdrun)
		fprintf(stderr, "sagate: warning: systemd-run could not start the confirm timer as a service: it runs in this session instead, and logging out may end it\n");
	fflush(NULL);	/* or the child would print our buffered output again */
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout) ||
		    !freopen("/dev/null", "w", stderr))
			_exit(1);
		watcher_main(w);
	}
	/* the middle process, gone at once; live_watch says when the
	 * watcher runs (or that it did not) */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static int exit_status(enum live_status st)
{
	switch (st) {
	case LIVE_OK: return EXIT_OK;
	case LIVE_PENDING: return EXIT_USAGE;
	case LIVE_NOTHING: return EXIT_POLICY;
	default: return EXIT_SYSTEM;	/* LIVE_ENGINE_REFUSED too: nothing changed */
	}
}

/* *unchanged: the kernel or sagated refused the transaction (nothing
 * changed); *rejected: the kernel did.  The plan of l was compiled for
 * queue, the first of the bank the live table does not use. */
static int apply_loaded(const struct cli_opts *o, const char *file, struct loaded *l,
			enum plan_mode mode, uint16_t queue, struct live *lv, json_t *res,
			bool *rejected, bool *unchanged)
{
	struct live_policy p = { l->pol, l->plan, file, mode, queue, o->queue, l->plan->queue_count };
	struct live_result r;
	enum live_status st;
	char *source, *comment;

	*rejected = false;
	if (o->dry_run) {
		struct live_incr ir = { 0 };
		int irc = o->full ? 1 : live_incr_dry_run(state_dir(), l->plan, l->pol, &ir, &l->diags);

		if (irc < 0) {
			*rejected = *unchanged = true;
			return EXIT_SYSTEM;
		}
		say_incr(res, file, &ir, true, o->full);
		if (irc == 0) {
			set_counts(res, file, l, mode);
			return EXIT_OK;
		}
		if (nft_apply(l->plan, l->pol, true, &l->diags) < 0) {
			*rejected = *unchanged = true;
			return EXIT_SYSTEM;
		}
		say(res, "%s: dry run: the kernel accepts %zu kernel rules and %zu set elements (%s mode); nothing was changed",
		    file, plan_rule_count(l->plan), plan_elem_count(l->plan), mode_text(mode));
		set_counts(res, file, l, mode);
		return EXIT_OK;
	}
	/* recorded, and named in the table's comment, as an absolute path:
	 * what rollback, restore, status and explain name later is the
	 * admin's file wherever they run */
	source = path_absolute(file);
	comment = source ? compile_table_comment(source, l->pol->sha256) : NULL;
	if (!comment) {
		free(source);
		diag_add(&l->diags, DIAG_ERROR, file, "", NULL,
			 "cannot make the path absolute (out of memory, or the current directory is gone)");
		return EXIT_SYSTEM;
	}
	free(l->plan->comment);
	l->plan->comment = comment;
	p.source = source;
	st = live_apply(lv, &p, o->confirm, spawn_watcher, &r, &l->diags);
	*rejected = st == LIVE_REJECTED;
	*unchanged = st == LIVE_REJECTED || st == LIVE_ENGINE_REFUSED || st == LIVE_MOVED ||
		     st == LIVE_PENDING;
	if (st != LIVE_OK && !r.generation) {
		live_result_fini(&r);
		free(source);
		return exit_status(st);
	}
	say(res, "%s: applied: %zu kernel rules, %zu set elements (%s mode, generation %u)",
	    file, plan_rule_count(l->plan), plan_elem_count(l->plan), mode_text(mode), r.generation);
	say_incr(res, file, &r.incr, false, o->full);
	say_handover(res, &r);
	say_flows(res, &r);
	set_counts(res, file, l, mode);
	cli_log_warn_unread(l->pol, &l->diags);	/* its lines would be lost */
	if (res)
		json_object_set_new(res, "generation", json_integer(r.generation));
	if (o->confirm) {
		say(res, "run `sagate confirm` within %u seconds, or this apply is rolled back",
		    o->confirm);
		if (res)
			json_object_set_new(res, "confirm_seconds", json_integer(o->confirm));
	}
	live_result_fini(&r);
	free(source);
	return exit_status(st);	/* after the switch: sagated's answer lost (LIVE_UNKNOWN) or a refusal */
}

int cli_apply(const struct cli_opts *o, const char *file)
{
	enum plan_mode mode = o->no_engine ? PLAN_KERNEL_ONLY : PLAN_ENGINE;
	bool rejected = false, unchanged = false;
	json_t *res = o->json ? json_pack("{s:b}", "dry_run", o->dry_run) : NULL;
	struct live *lv = NULL;
	struct loaded l = { 0 };
	uint16_t queue = o->queue;
	unsigned count = 0;
	int rc = EXIT_OK;

	/* the lock first (a dry run changes nothing: none): the queue bank
	 * depends on what is live, which only the lock holder may read; then
	 * the policy, whose "queues" sizes the banks */
	diag_list_init(&l.diags);
	if (!o->dry_run && !(lv = live_lock(state_dir(), "apply", o->wait, &l.diags)))
		rc = EXIT_SYSTEM;
	if (lv) {
		live_keep_flows(lv, o->keep_flows);
		live_full(lv, o->full);
	}
	if (rc == EXIT_OK) {
		diag_list_fini(&l.diags);
		rc = cli_parse(file, &l);
	}
	if (rc == EXIT_OK && (!(count = cli_queue_count(o->queues, l.pol, o->queue, &l.diags)) ||
			      live_next_queue(state_dir(), o->queue, count, &queue, &l.diags) < 0))
		rc = EXIT_USAGE;
	if (rc == EXIT_OK)
		rc = cli_build(file, mode, queue, count, false, cli_findings_shown(o, true), &l);
	if (rc == EXIT_OK)
		rc = apply_loaded(o, file, &l, mode, queue, lv, res, &rejected, &unchanged);
	if (rc == EXIT_SYSTEM && rejected && mode == PLAN_ENGINE)
		explain_engine_refusal(&l, file, queue);
	live_unlock(lv);
	rc = finish(res, "apply", rc, &l.diags);
	if ((rc == EXIT_POLICY || unchanged) && !o->json)
		fprintf(stderr, "%s: not applied; the live firewall is unchanged\n", file);
	cli_unload(&l);
	return rc;
}

int cli_confirm_timer(const struct cli_opts *o, const char *token)
{
	struct diag_list d;
	enum live_watch_end end;

	(void)o;
	diag_list_init(&d);
	end = live_watch_token(state_dir(), token, &d);
	watcher_log(end, &d);
	cli_print_diags(stderr, &d);	/* the service's journal */
	diag_list_fini(&d);
	return end == LIVE_WATCH_FAILED ? EXIT_SYSTEM : EXIT_OK;
}

int cli_confirm(const struct cli_opts *o)
{
	json_t *res = o->json ? json_object() : NULL;
	struct diag_list d;
	struct live *lv;
	int rc;

	diag_list_init(&d);
	lv = live_lock(state_dir(), "confirm", o->wait, &d);
	rc = lv ? exit_status(live_confirm(lv, &d)) : EXIT_SYSTEM;
	live_unlock(lv);
	if (rc == EXIT_OK)
		say(res, "confirmed: the applied policy stays");
	rc = finish(res, "confirm", rc, &d);
	diag_list_fini(&d);
	return rc;
}

/* rollback --to N: a generation number, decimal; 0 when it is not one. */
static unsigned generation_arg(const char *s)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return 0;
	v = strtoul(s, &end, 10);
	return *end || v > 999999 ? 0 : (unsigned)v;
}

int cli_rollback(const struct cli_opts *o)
{
	json_t *res = o->json ? json_object() : NULL;
	struct live_result r = { 0 };
	unsigned to = o->to ? generation_arg(o->to) : 0;
	struct diag_list d;
	struct live *lv;
	int rc;

	if (o->to && !to) {
		json_decref(res);
		fprintf(stderr, "sagate rollback: --to takes a generation number (see `sagate history`), not \"%s\"\n",
			o->to);
		return EXIT_USAGE;
	}
	diag_list_init(&d);
	lv = live_lock(state_dir(), to ? "rollback --to" : "rollback", o->wait, &d);
	if (lv) {
		live_keep_flows(lv, o->keep_flows);
		live_full(lv, o->full);
	}
	if (lv && to)
		rc = exit_status(live_rollback_to(lv, to, &r, &d));
	else
		rc = lv ? exit_status(live_rollback(lv, &r, &d)) : EXIT_SYSTEM;
	live_unlock(lv);
	if (res)
		json_object_set_new(res, "cancelled_confirm", json_boolean(r.cancelled_confirm));
	if (r.cancelled_confirm)
		say(res, "cancelled the pending confirm");
	if (rc == EXIT_OK && r.table_removed)
		say(res, "removed table inet sagate: there was no earlier policy");
	else if (rc == EXIT_OK)
		say(res, "rolled back to generation %u (%s, applied from %s)", r.generation,
		    mode_text(r.meta.mode), r.meta.source);
	if (rc == EXIT_OK && res && r.table_removed)
		json_object_set_new(res, "table_removed", json_true());
	else if (rc == EXIT_OK && res)
		json_object_update_new(res, json_pack("{s:i, s:s, s:s, s:b}", "generation",
			r.generation, "mode", mode_text(r.meta.mode), "source", r.meta.source,
			"table_removed", 0));
	if (rc == EXIT_OK) {
		say_incr(res, r.meta.source ? r.meta.source : "table inet sagate", &r.incr, false,
			 o->full);
		say_handover(res, &r);
		say_flows(res, &r);
	}
	live_result_fini(&r);
	rc = finish(res, "rollback", rc, &d);
	diag_list_fini(&d);
	return rc;
}

int cli_flush(const struct cli_opts *o)
{
	json_t *res = o->json ? json_pack("{s:b}", "dry_run", o->dry_run) : NULL;
	struct live *lv = NULL;
	struct diag_list d;
	int rc;

	diag_list_init(&d);
	if (o->dry_run)
		rc = nft_flush_table(true, &d) < 0 ? EXIT_SYSTEM : EXIT_OK;
	else if ((lv = live_lock(state_dir(), "flush", o->wait, &d)))
		rc = exit_status(live_flush(lv, &d));
	else
		rc = EXIT_SYSTEM;
	live_unlock(lv);
	if (rc == EXIT_OK)
		say(res, "%s", o->dry_run ? "dry run: table inet sagate would be removed" :
		    "table inet sagate removed; other tables untouched");
	rc = finish(res, "flush", rc, &d);
	diag_list_fini(&d);
	return rc;
}
