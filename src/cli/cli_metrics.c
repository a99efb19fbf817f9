/* sagate metrics: the firewall's numbers in Prometheus' text exposition
 * format (version 0.0.4), for node_exporter's textfile collector or any
 * scraper that reads a file.  What it reads is what status and list read:
 * the kernel's table and counters, the state directory, and sagated's
 * counters file; it changes nothing.
 *
 * Names follow Prometheus' conventions: one sagate_ prefix, counters end
 * in _total, times in seconds since the epoch (_timestamp_seconds),
 * sizes in bytes.  Every family has HELP and TYPE lines, even when it has
 * no sample (an empty policy), so that a dashboard's queries never name
 * a metric that does not exist. */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "cli_view.h"
#include "handover.h"
#include "model.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a scrape reports: what status reads, and sagated's counters. */
struct scrape {
	struct cli_view v;
	json_t *engine;		/* sagated's counters file, or NULL */
};

static int scrape_load(struct scrape *s)
{
	char epath[4096];

	s->engine = handover_counters(epath, sizeof(epath));
	return cli_view_load(&s->v);
}

static void scrape_fini(struct scrape *s)
{
	cli_view_fini(&s->v);
	json_decref(s->engine);
}

/* ----------------------------------------------------------- the format */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped, as the
 * format wants (rule names and paths are the admin's own strings). */
static void label_value(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

/* name{k1="v1",k2="v2"} value: labels as NULL-terminated key, value pairs */
static void sample(FILE *f, const char *name, uint64_t value, const char *const *labels)
{
	fputs(name, f);
	for (size_t i = 0; labels && labels[i]; i += 2) {
		fprintf(f, "%s%s=", i ? "," : "{", labels[i]);
		label_value(f, labels[i + 1]);
	}
	fprintf(f, "%s %" PRIu64 "\n", labels && labels[0] ? "}" : "", value);
}

static void plain(FILE *f, const char *name, uint64_t value)
{
	sample(f, name, value, NULL);
}

static uint64_t json_u64(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

/* ------------------------------------------------------------ the parts */

static void print_policy(FILE *f, const struct scrape *s)
{
	family(f, "sagate_policy_generation", "gauge",
	       "Generation of the applied policy in the state directory (0: none applied).");
	plain(f, "sagate_policy_generation", s->v.gen);
	family(f, "sagate_policy_info", "gauge",
	       "The applied policy: its source file, digest and mode (always 1).");
	if (s->v.gen) {
		const char *l[] = { "source", s->v.meta.source, "sha256", s->v.meta.sha256,
				    "mode", s->v.meta.mode == PLAN_ENGINE ? "engine" : "kernel-only",
				    NULL };

		sample(f, "sagate_policy_info", 1, l);
	}
	family(f, "sagate_policy_applied_timestamp_seconds", "gauge",
	       "When the applied policy was applied, in seconds since the epoch.");
	if (s->v.gen)
		plain(f, "sagate_policy_applied_timestamp_seconds",
		      s->v.meta.applied_at > 0 ? (uint64_t)s->v.meta.applied_at : 0);
	family(f, "sagate_confirm_pending", "gauge",
	       "1 while an apply --confirm waits for sagate confirm.");
	plain(f, "sagate_confirm_pending", s->v.pending);
	family(f, "sagate_confirm_deadline_timestamp_seconds", "gauge",
	       "When the pending apply is rolled back unless confirmed, in seconds since the epoch.");
	if (s->v.pending && s->v.confirm.deadline > 0)
		plain(f, "sagate_confirm_deadline_timestamp_seconds", (uint64_t)s->v.confirm.deadline);
}

static void print_rule(FILE *f, const char *rule, const char *action, const char *dir,
		       const struct nft_count *c)
{
	const char *l[] = { "rule", rule, "action", action, "direction", dir, NULL };

	sample(f, "sagate_rule_packets_total", c ? c->packets : 0, l);
}

static void print_rule_bytes(FILE *f, const char *rule, const char *action, const char *dir,
			     const struct nft_count *c)
{
	const char *l[] = { "rule", rule, "action", action, "direction", dir, NULL };

	sample(f, "sagate_rule_bytes_total", c ? c->bytes : 0, l);
}

static void print_kernel(FILE *f, const struct scrape *s)
{
	const struct policy *p = s->v.pol;

	family(f, "sagate_table_loaded", "gauge", "1 when table inet sagate is in the kernel.");
	plain(f, "sagate_table_loaded", s->v.live.present);
	family(f, "sagate_table_matches_applied", "gauge",
	       "1 when the kernel's table carries the applied policy's digest.");
	plain(f, "sagate_table_matches_applied", cli_view_table_matches(&s->v));
	family(f, "sagate_table_elements", "gauge", "Set and map elements in the kernel's table.");
	plain(f, "sagate_table_elements", s->v.live.elements);
	/* two loops per family: a family's samples must be consecutive */
	family(f, "sagate_rule_packets_total", "counter",
	       "Packets of new flows decided by a policy rule (its map elements' counters).");
	for (size_t i = 0; p && i < p->nrules; i++)
		print_rule(f, p->rules[i].name, action_name(p->rules[i].action),
			   direction_name(p->rules[i].dir), nft_live_elem(&s->v.live, p->rules[i].name));
	for (size_t i = 0; !p && i < s->v.live.nelems; i++)
		print_rule(f, s->v.live.elems[i].comment, "unknown", "unknown", &s->v.live.elems[i]);
	family(f, "sagate_rule_bytes_total", "counter",
	       "Bytes of new flows decided by a policy rule (its map elements' counters).");
	for (size_t i = 0; p && i < p->nrules; i++)
		print_rule_bytes(f, p->rules[i].name, action_name(p->rules[i].action),
				 direction_name(p->rules[i].dir),
				 nft_live_elem(&s->v.live, p->rules[i].name));
	for (size_t i = 0; !p && i < s->v.live.nelems; i++)
		print_rule_bytes(f, s->v.live.elems[i].comment, "unknown", "unknown",
				 &s->v.live.elems[i]);
	family(f, "sagate_chain_rule_packets_total", "counter",
	       "Packets counted by the table's own chain rules, by their comment.");
	for (size_t i = 0; i < s->v.live.nrules; i++) {
		const char *l[] = { "comment", s->v.live.rules[i].comment, NULL };

		sample(f, "sagate_chain_rule_packets_total", s->v.live.rules[i].packets, l);
	}
	family(f, "sagate_cleartext_dropped_packets_total", "counter",
	       "Packets of require-ipsec flows dropped for arriving or leaving in cleartext.");
	plain(f, "sagate_cleartext_dropped_packets_total", cli_view_cleartext_drops(&s->v.live));
}

static void print_engine(FILE *f, const struct scrape *s)
{
	const json_t *e = s->engine;
	bool running = e && json_is_true(json_object_get(e, "alive")) &&
		       strcmp(json_string_value(json_object_get(e, "state")) ?: "", "running") == 0;
	char why[512];
	const char *reason;
	json_t *n;

	family(f, "sagate_engine_running", "gauge", "1 while sagated runs.");
	plain(f, "sagate_engine_running", running);
	family(f, "sagate_engine_serves_applied", "gauge",
	       "1 when sagated serves the applied policy's generation on its queue (or none is needed).");
	if (s->v.gen)
		plain(f, "sagate_engine_serves_applied",
		      handover_check(e, &s->v.meta, why, sizeof(why)) == HANDOVER_SERVED);
	family(f, "sagate_engine_start_timestamp_seconds", "gauge",
	       "When sagated started, in seconds since the epoch.");
	if (e)
		plain(f, "sagate_engine_start_timestamp_seconds", json_u64(e, "started"));
	family(f, "sagate_engine_verdicts_total", "counter",
	       "sagated's verdicts on new require-ipsec flows, by verdict and reason.");
	if (e) {
		const char *l[] = { "verdict", "accept", "reason", "accept", NULL };

		sample(f, "sagate_engine_verdicts_total", json_u64(e, "accepted"), l);
		json_object_foreach((json_t *)json_object_get(e, "drops"), reason, n) {
			const char *d[] = { "verdict", "drop", "reason", reason, NULL };

			sample(f, "sagate_engine_verdicts_total",
			       json_integer_value(n) > 0 ? (uint64_t)json_integer_value(n) : 0, d);
		}
	}
	family(f, "sagate_engine_queue_overruns_total", "counter",
	       "Packets the kernel could not queue to sagated (queue socket overruns).");
	if (e)
		plain(f, "sagate_engine_queue_overruns_total", json_u64(e, "queue_enobufs"));
	family(f, "sagate_engine_xfrm_overruns_total", "counter",
	       "XFRM event socket overruns, each followed by a fresh dump of the SAs.");
	if (e)
		plain(f, "sagate_engine_xfrm_overruns_total", json_u64(e, "xfrm_enobufs"));
	family(f, "sagate_engine_sas", "gauge", "IPsec SAs in sagated's cache.");
	if (e)
		plain(f, "sagate_engine_sas", json_u64(e, "sas"));
}

/* ------------------------------------------------------------ the command */

int cli_metrics(const struct cli_opts *o)
{
	struct scrape s;
	int rc = scrape_load(&s);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (rc != EXIT_OK) {
		cli_print_diags(stderr, &s.v.diags);
		scrape_fini(&s);
		return rc;
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		fprintf(stderr, "sagate metrics: out of memory\n");
		scrape_fini(&s);
		return EXIT_SYSTEM;
	}
	print_policy(f, &s);
	print_kernel(f, &s);
	print_engine(f, &s);
	if (fclose(f) != 0 || !buf) {
		fprintf(stderr, "sagate metrics: out of memory\n");
		rc = EXIT_SYSTEM;
	} else if (o->output) {
		const char *step = NULL;

		/* whole or not at all: a collector never reads half a scrape */
		if (write_file_atomic(o->output, buf, len, 0644, false, &step) < 0) {
			fprintf(stderr, "%s: error: cannot %s the metrics file: %s\n", o->output,
				step ? step : "write", strerror(errno));
			rc = EXIT_SYSTEM;
		}
	} else if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "sagate metrics: cannot write to standard output: %s\n",
			strerror(errno));
		rc = EXIT_SYSTEM;
	}
	free(buf);
	cli_print_diags(stderr, &s.v.diags);
	scrape_fini(&s);
	return rc;
}
