/* sagate audit: the policy's defects, the live kernel against it, and
 * what is used; findings with severities, exit 4 at --fail-on. */
#include "config.h"

#include "audit.h"
#include "cli.h"
#include "cli_common.h"
#include "forward.h"
#include "state.h"
#include "vici_dump.h"

#include <errno.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What the kernel holds; NULL members when it could not be read. */
struct kernel_view {
	struct nft_snap snap;
	bool snap_ok;
	struct nft_live live;
	bool live_ok;
	struct xfrm_spd_list spd;
	bool spd_ok;
	struct xfrm_cache *sas;
	struct nft_attempt *attempts;	/**< cleartext attempts, by source and port */
	size_t nattempts;
	bool attempts_ok;
	struct ike_view ike;		/**< what charon has loaded and holds */
	bool ike_ok;
};

/* charon, over vici: at --vici, or at its default socket when one is
 * there (a host without strongSwan gets an info line, not a warning). */
static void ike_read(const char *given, struct kernel_view *k, struct audit_list *out)
{
	const char *path = given ? given : VICI_DEFAULT_SOCKET;
	struct diag_list d;
	struct stat st;

	if (!given && stat(path, &st) < 0 && errno == ENOENT) {
		audit_add(out, AUDIT_INFO, "ike-unreadable", NULL, path,
			  "no vici socket: charon (strongSwan) is not running here, or not with its vici plugin; the IKE checks were skipped");
		return;
	}
	diag_list_init(&d);
	k->ike_ok = vici_dump_view(path, &k->ike, &d) == 0;
	for (size_t i = 0; i < d.count; i++)
		audit_add(out, AUDIT_WARNING, "ike-unreadable", NULL, d.items[i].file, "%s; the IKE checks were skipped",
			  d.items[i].message);
	diag_list_fini(&d);
}

static void kernel_read(const struct cli_opts *o, struct kernel_view *k, struct audit_list *out)
{
	struct diag_list d;

	memset(k, 0, sizeof(*k));
	diag_list_init(&d);
	k->snap_ok = nft_snap_read(&k->snap, &d) == 0;
	k->live_ok = k->snap_ok && nft_read_live(&k->live, &d) == 0;
	k->attempts_ok = k->snap_ok && nft_read_attempts(&k->attempts, &k->nattempts, &d) == 0;
	k->spd_ok = xfrm_dump_spd(&k->spd, &d) == 0;
	k->sas = xfrm_cache_alloc();
	if (k->sas && xfrm_dump_sas(k->sas, &d) < 0) {
		xfrm_cache_free(k->sas);
		k->sas = NULL;
	}
	for (size_t i = 0; i < d.count; i++)
		audit_add(out, d.items[i].severity == DIAG_ERROR ? AUDIT_WARNING : AUDIT_INFO,
			  "kernel-unreadable", NULL, d.items[i].file, "%s", d.items[i].message);
	diag_list_fini(&d);
	ike_read(o->vici, k, out);
}

static void kernel_fini(struct kernel_view *k)
{
	nft_snap_fini(&k->snap);
	nft_live_fini(&k->live);
	xfrm_spd_list_fini(&k->spd);
	xfrm_cache_free(k->sas);
	free(k->attempts);
	ike_view_fini(&k->ike);
}

static void run_audits(const struct loaded *l, struct kernel_view *k, struct audit_list *out)
{
	audit_policy(l->pol, l->cls, l->plan->mode, out);
	audit_families(l->pol, out);
	if (!k)		/* --policy-only: nothing of this host is read */
		return;
	audit_forward(l->pol, "/proc", out);
	if (k->spd_ok)
		audit_spd(l->pol, &k->spd, out);
	if (k->ike_ok)
		audit_ike(l->pol, &k->ike, k->sas, (uint64_t)time(NULL), out);
	if (k->snap_ok)
		audit_drift(l->plan, l->pol, &k->snap, out);
	/* the engine matters only where this policy is the live one */
	if (k->snap_ok && k->snap.present && audit_same_policy(k->snap.comment, l->plan->comment)) {
		audit_engine(l->plan, "/proc", out);
		audit_engine_served(state_dir(), out);
	}
	audit_usage(l->plan, l->pol, k->live_ok ? &k->live : NULL, k->sas,
		    (uint64_t)time(NULL), out);
	if (k->attempts_ok)
		audit_attempts(l->pol, l->cls, k->attempts, k->nattempts, out);
}

static const char *level_name(enum cli_level l)
{
	static const char *const n[] = { "info", "warning", "error", "never" };

	return n[l];
}

static int print(const struct cli_opts *o, const struct loaded *l, const char *source,
		 const struct audit_list *a, int rc)
{
	size_t count[3] = { 0 }, acked = 0;

	for (size_t i = 0; i < a->n; i++) {
		if (a->v[i].acknowledged)
			acked++;
		else
			count[a->v[i].severity]++;
	}
	if (o->json)
		return cli_dump_json(json_pack("{s:s, s:b, s:s, s:b, s:o, s:{s:I, s:I, s:I, s:I}, s:s, s:i}",
			"command", "audit", "ok", rc == EXIT_OK, "policy", source,
			"policy_only", o->policy_only,
			"findings", audit_json(a), "counts", "error", (json_int_t)count[AUDIT_ERROR],
			"warning", (json_int_t)count[AUDIT_WARNING], "info", (json_int_t)count[AUDIT_INFO],
			"acknowledged", (json_int_t)acked,
			"fail_on", level_name(o->fail_on), "exit", rc)) < 0 ? EXIT_SYSTEM : rc;
	for (size_t i = 0; i < a->n; i++) {
		const struct audit_finding *f = &a->v[i];

		printf("%-7s %-22s ", f->acknowledged ? "ack" : audit_severity_name(f->severity),
		       f->kind);
		if (f->rule)
			printf("rule \"%s\": ", f->rule);
		if (f->object)
			printf("%s: ", f->object);
		printf("%s\n", f->message ? f->message : "out of memory");
	}
	printf("audit of %s%s: %zu error(s), %zu warning(s), %zu info", source,
	       o->policy_only ? " (the policy only)" : "",
	       count[AUDIT_ERROR], count[AUDIT_WARNING], count[AUDIT_INFO]);
	if (acked)
		printf(", %zu acknowledged", acked);
	printf("\n");
	return fflush(stdout) == 0 ? rc : EXIT_SYSTEM;
}

int cli_audit(const struct cli_opts *o, const char *file)
{
	struct cli_opts opts = *o;
	struct loaded l;
	struct state_meta m;
	struct audit_list a = { 0 };
	struct kernel_view k;
	int rc;

	if (o->policy_only && o->vici) {
		fprintf(stderr, "sagate: audit: --vici reads charon, --policy-only reads nothing of this host: give one\n");
		return EXIT_USAGE;
	}
	rc = cli_load_either(o, file, true, &l, &m);
	if (opts.fail_on == LEVEL_NEVER && !o->fail_on_given)
		opts.fail_on = LEVEL_ERROR;
	if (rc == EXIT_OK && o->policy_only) {
		run_audits(&l, NULL, &a);
	} else if (rc == EXIT_OK) {
		kernel_read(o, &k, &a);
		/* the applied policy is its bundle, groups and all: the
		 * source it names may have changed since */
		run_audits(&l, &k, &a);
		kernel_fini(&k);
	}
	if (rc == EXIT_OK) {
		if (a.oom)
			rc = EXIT_SYSTEM;
		else if (opts.fail_on != LEVEL_NEVER && audit_max_severity(&a) >= (int)opts.fail_on)
			rc = EXIT_FINDINGS;
		rc = print(&opts, &l, file ? file : m.source ? m.source : l.pol->file, &a, rc);
	}
	cli_print_errors(stderr, &l.diags);
	audit_list_fini(&a);
	state_meta_fini(&m);
	cli_unload(&l);
	return rc;
}
