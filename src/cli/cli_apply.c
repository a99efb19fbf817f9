/* sagate apply / rollback / confirm / flush / status: the commands that
 * change or read the live firewall.  The kernel is changed only through
 * nft_apply (one transaction), and the state directory only after the
 * kernel took the change. */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "compile.h"
#include "nft_apply.h"
#include "util.h"
#include "state.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
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

/* The kernel rejected the engine layout: when it takes the kernel-only
 * one (a dry run), it lacks the nft queue expression (CONFIG_NFT_QUEUE).
 * Then, as the design asks, *l becomes the kernel-only plan, with a
 * clear warning.  Trying the engine layout for real first (and this
 * only after a failure) spares every apply on a capable kernel a second
 * pass through the kernel. */
static bool fall_back_to_kernel_only(struct loaded *l, const char *file, uint16_t queue)
{
	struct diag_list probe;
	struct loaded k;
	bool ok;

	if (cli_load(file, PLAN_KERNEL_ONLY, queue, false, &k) != EXIT_OK) {
		cli_unload(&k);
		return false;
	}
	diag_list_init(&probe);
	ok = nft_apply(k.plan, k.pol, true, &probe) == 0;
	diag_list_fini(&probe);
	if (!ok) {	/* not the queue: the engine layout's errors stand */
		cli_unload(&k);
		return false;
	}
	diag_add(&k.diags, DIAG_WARNING, file, "", NULL,
		 "this kernel rejects the engine layout (no nft queue expression): applying kernel-only mode, where require-ipsec means only \"arrived through IPsec\"");
	cli_unload(l);
	*l = k;
	return true;
}

/* The watcher of a pending confirm, from the pending file (0: none). */
static pid_t pending_watcher(const char *path)
{
	json_t *j = json_load_file(path, 0, NULL);
	json_t *w = json_object_get(j, "watcher");
	pid_t pid = json_is_integer(w) && json_integer_value(w) > 1 ?
		    (pid_t)json_integer_value(w) : 0;

	json_decref(j);
	return pid;
}

/* Remove the pending confirm and stop its watcher.  Returns 0 when there
 * was one to cancel. */
static int cancel_pending(const char *dir)
{
	char path[PATH_MAX];
	pid_t w;

	if (state_path(path, sizeof(path), dir, STATE_PENDING) < 0)
		return -1;
	w = pending_watcher(path);
	if (unlink(path) < 0)
		return -1;
	if (w)
		kill(w, SIGTERM);
	return 0;
}

/* Is an apply --confirm waiting?  A pending file whose watcher is gone
 * (the machine rebooted, or someone killed it) can never roll back:
 * drop it, and say so. */
static bool confirm_pending(const char *dir)
{
	char path[PATH_MAX];
	pid_t w;

	if (state_path(path, sizeof(path), dir, STATE_PENDING) < 0 || access(path, F_OK) < 0)
		return false;
	w = pending_watcher(path);
	if (w && (kill(w, 0) == 0 || errno == EPERM))
		return true;
	unlink(path);
	fprintf(stderr, "sagate: dropped a pending confirm whose timer is gone (reboot?); the policy it guarded stays applied\n");
	return false;
}

/* *rejected: the kernel refused the transaction (nothing changed). */
static int apply_loaded(const struct cli_opts *o, const char *file, struct loaded *l,
			enum plan_mode mode, json_t *res, bool *rejected)
{
	struct state_meta m = { .source = (char *)file, .mode = mode, .queue = o->queue };
	const char *dir = state_dir();
	unsigned gen;

	memcpy(m.sha256, l->pol->sha256, sizeof(m.sha256));
	*rejected = false;
	if (o->dry_run) {
		if (nft_apply(l->plan, l->pol, true, &l->diags) < 0) {
			*rejected = true;
			return EXIT_SYSTEM;
		}
		say(res, "%s: dry run: the kernel accepts %zu kernel rules and %zu set elements (%s mode); nothing was changed",
		    file, plan_rule_count(l->plan), plan_elem_count(l->plan), mode_text(mode));
		set_counts(res, file, l, mode);
		return EXIT_OK;
	}
	/* record first, switch after: a failed apply leaves no trace */
	gen = state_prepare(dir, l->pol, &m, &l->diags);
	trace_phase("record");
	if (!gen)
		return EXIT_SYSTEM;
	if (nft_apply(l->plan, l->pol, false, &l->diags) < 0) {
		state_discard(dir, gen);
		*rejected = true;
		return EXIT_SYSTEM;
	}
	trace_phase("kernel");
	if (state_commit(dir, gen, &l->diags) < 0) {
		diag_add(&l->diags, DIAG_ERROR, dir, "", NULL,
			 "the kernel holds the new policy, but it could not be recorded: rollback will not know it");
		return EXIT_SYSTEM;
	}
	say(res, "%s: applied: %zu kernel rules, %zu set elements (%s mode, generation %u)",
	    file, plan_rule_count(l->plan), plan_elem_count(l->plan), mode_text(mode), gen);
	set_counts(res, file, l, mode);
	if (res)
		json_object_set_new(res, "generation", json_integer(gen));
	return EXIT_OK;
}

/* A bundle's table comment names the file the policy first came from, so
 * that status and listings read the same after a rollback. */
static int name_source(struct loaded *l, const struct state_meta *m)
{
	char *c = compile_table_comment(m->source, m->sha256);

	if (!c)
		return EXIT_SYSTEM;
	free(l->plan->comment);
	l->plan->comment = c;
	return EXIT_OK;
}

/* Apply the generation behind `previous` and make it current. */
static int rollback_to_previous(const char *dir, struct diag_list *d, json_t *res)
{
	unsigned prev = state_generation(dir, STATE_PREVIOUS);
	struct state_meta m;
	struct loaded l;
	char *path;
	int rc;

	if (!prev) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "no previous policy to return to");
		return EXIT_POLICY;
	}
	if (state_read_meta(dir, prev, &m, d) < 0)
		return EXIT_SYSTEM;
	path = state_policy_path(dir, prev);
	rc = path ? cli_load(path, m.mode, m.queue, false, &l) : EXIT_SYSTEM;
	if (path && rc == EXIT_OK)
		rc = name_source(&l, &m);
	if (path && rc == EXIT_OK && nft_apply(l.plan, l.pol, false, &l.diags) < 0)
		rc = EXIT_SYSTEM;
	if (rc == EXIT_OK && state_swap(dir, &l.diags) < 0)
		rc = EXIT_SYSTEM;
	if (path) {
		for (size_t i = 0; i < l.diags.count; i++)
			if (l.diags.items[i].severity == DIAG_ERROR)
				diag_add(d, DIAG_ERROR, l.diags.items[i].file, l.diags.items[i].path,
					 l.diags.items[i].rule, "%s", l.diags.items[i].message);
		cli_unload(&l);
	}
	if (rc == EXIT_OK)
		say(res, "rolled back to generation %u (%s, applied from %s)", prev,
		    mode_text(m.mode), m.source);
	if (rc == EXIT_OK && res)
		json_object_update_new(res, json_pack("{s:i, s:s, s:s, s:b}", "generation", prev,
			"mode", mode_text(m.mode), "source", m.source, "table_removed", 0));
	free(path);
	state_meta_fini(&m);
	return rc;
}

/* Undo the current apply: the previous generation, or, when the current
 * one was the first, the state before it: no table inet sagate. */
static int undo_apply(const char *dir, struct diag_list *d, json_t *res)
{
	if (state_generation(dir, STATE_PREVIOUS))
		return rollback_to_previous(dir, d, res);
	if (nft_flush_table(false, d) < 0)
		return EXIT_SYSTEM;
	if (state_uncommit(dir, d) < 0)
		return EXIT_SYSTEM;
	say(res, "removed table inet sagate: there was no earlier policy");
	if (res)
		json_object_set_new(res, "table_removed", json_true());
	return EXIT_OK;
}

/* The commit-confirm watcher: a detached process that rolls back at the
 * deadline unless `sagate confirm` removed the pending file first.  The
 * rename is the lock: whoever moves or removes the pending file first
 * wins. */
static void watcher(const char *dir, const char *pending, const char *expired,
		    time_t deadline)
{
	struct diag_list d;
	struct timespec ts;

	while (time(NULL) < deadline) {
		ts.tv_sec = deadline - time(NULL);
		ts.tv_nsec = 0;
		nanosleep(&ts, NULL);
	}
	if (rename(pending, expired) < 0)
		_exit(0);	/* confirmed in time */
	if (pending_watcher(expired) != getpid()) {
		/* a later apply's confirm, not ours: put it back */
		rename(expired, pending);
		_exit(0);
	}
	diag_list_init(&d);
	openlog("sagate", LOG_PID, LOG_DAEMON);
	if (undo_apply(dir, &d, NULL) == EXIT_OK)
		syslog(LOG_WARNING, "apply was not confirmed in time: rolled back");
	else
		for (size_t i = 0; i < d.count; i++)
			syslog(LOG_ERR, "rollback after an unconfirmed apply failed: %s",
			       d.items[i].message);
	unlink(expired);
	diag_list_fini(&d);
	_exit(0);
}

static int start_watcher(const char *dir, unsigned seconds, unsigned gen,
			 struct diag_list *d)
{
	char pending[PATH_MAX], expired[PATH_MAX];
	time_t deadline = time(NULL) + seconds;
	pid_t pid;
	int fds[2];
	json_t *j;

	/* both names before the fork: a watcher that cannot name the file
	 * it claims at the deadline could never roll back */
	if (state_path(pending, sizeof(pending), dir, STATE_PENDING) < 0 ||
	    state_path(expired, sizeof(expired), dir, STATE_PENDING_EXPIRED) < 0 ||
	    pipe(fds) < 0)
		return -1;
	fflush(NULL);	/* or the child would print our buffered output again */
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		/* detached from the terminal: an SSH session may die */
		pid_t me = getpid();

		if (write(fds[1], &me, sizeof(me)) != sizeof(me))
			_exit(1);
		close(fds[1]);
		freopen("/dev/null", "r", stdin);
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		watcher(dir, pending, expired, deadline);
	}
	close(fds[1]);
	pid_t wpid = 0;

	if (read(fds[0], &wpid, sizeof(wpid)) != sizeof(wpid))
		wpid = 0;
	close(fds[0]);
	j = json_pack("{s:i, s:I, s:i}", "generation", gen,
		      "deadline", (json_int_t)deadline, "watcher", (int)wpid);
	if (!j || state_write_json(pending, j, d) < 0) {
		json_decref(j);
		return -1;
	}
	json_decref(j);
	return 0;
}

int cli_apply(const struct cli_opts *o, const char *file)
{
	enum plan_mode mode = o->no_engine ? PLAN_KERNEL_ONLY : PLAN_ENGINE;
	bool rejected = false;
	json_t *res = o->json ? json_pack("{s:b}", "dry_run", o->dry_run) : NULL;
	struct loaded l;
	int rc;

	if (!o->dry_run && confirm_pending(state_dir())) {
		fprintf(stderr, "sagate apply: an earlier apply --confirm is waiting: run `sagate confirm` or `sagate rollback` first\n");
		json_decref(res);
		return EXIT_USAGE;
	}
	rc = cli_load(file, mode, o->queue, false, &l);
	if (rc == EXIT_OK)
		rc = apply_loaded(o, file, &l, mode, res, &rejected);
	if (rc == EXIT_SYSTEM && rejected && mode == PLAN_ENGINE &&
	    fall_back_to_kernel_only(&l, file, o->queue)) {
		mode = PLAN_KERNEL_ONLY;
		rc = apply_loaded(o, file, &l, mode, res, &rejected);
	}
	if (rc == EXIT_OK && o->confirm && !o->dry_run &&
	    start_watcher(state_dir(), o->confirm, state_generation(state_dir(), STATE_CURRENT),
			  &l.diags) < 0) {
		diag_add(&l.diags, DIAG_ERROR, state_dir(), "", NULL,
			 "could not start the confirm timer: rolling back now");
		undo_apply(state_dir(), &l.diags, NULL);
		rc = EXIT_SYSTEM;
	} else if (rc == EXIT_OK && o->confirm && !o->dry_run) {
		say(res, "run `sagate confirm` within %u seconds, or this apply is rolled back",
		    o->confirm);
		if (res)
			json_object_set_new(res, "confirm_seconds", json_integer(o->confirm));
	}
	rc = finish(res, "apply", rc, &l.diags);
	if (rc == EXIT_POLICY && !o->json)
		fprintf(stderr, "%s: not applied; the live firewall is unchanged\n", file);
	cli_unload(&l);
	return rc;
}

int cli_confirm(const struct cli_opts *o)
{
	json_t *res = o->json ? json_object() : NULL;
	struct diag_list d;
	int rc = EXIT_OK;

	diag_list_init(&d);
	if (cancel_pending(state_dir()) < 0) {
		diag_add(&d, DIAG_ERROR, state_dir(), "", NULL, "nothing to confirm (%s)",
			 errno == ENOENT ? "no apply --confirm is waiting, or it already rolled back" :
			 strerror(errno));
		rc = EXIT_POLICY;
	} else {
		say(res, "confirmed: the applied policy stays");
	}
	rc = finish(res, "confirm", rc, &d);
	diag_list_fini(&d);
	return rc;
}

int cli_rollback(const struct cli_opts *o)
{
	struct diag_list d;
	bool pending = cancel_pending(state_dir()) == 0;
	json_t *res = o->json ? json_pack("{s:b}", "cancelled_confirm", pending) : NULL;
	int rc;

	if (pending)
		say(res, "cancelled the pending confirm");
	diag_list_init(&d);
	/* undoing an unconfirmed first apply leaves no table, like the timer */
	rc = pending ? undo_apply(state_dir(), &d, res) : rollback_to_previous(state_dir(), &d, res);
	rc = finish(res, "rollback", rc, &d);
	diag_list_fini(&d);
	return rc;
}

int cli_flush(const struct cli_opts *o)
{
	json_t *res = o->json ? json_pack("{s:b}", "dry_run", o->dry_run) : NULL;
	struct diag_list d;
	int rc;

	diag_list_init(&d);
	rc = nft_flush_table(o->dry_run, &d) < 0 ? EXIT_SYSTEM : EXIT_OK;
	if (rc == EXIT_OK)
		say(res, "%s", o->dry_run ? "dry run: table inet sagate would be removed" :
		    "table inet sagate removed; other tables untouched");
	rc = finish(res, "flush", rc, &d);
	diag_list_fini(&d);
	return rc;
}
