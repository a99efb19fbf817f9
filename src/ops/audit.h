/* audit: findings about a policy and the kernel that enforces it.
 *
 * Three families, each its own module:
 *   audit_policy.c  defects of the policy itself (and against the SPD)
 *   audit_drift.c   the live table vs the compiled plan, foreign chains
 *   audit_usage.c   counters and SAs: what is used, what is not
 * Findings carry a severity, a stable kind (documented in sagate(8)),
 * the policy rule or kernel object they concern, and a sentence.
 */
#ifndef SAGATE_AUDIT_H
#define SAGATE_AUDIT_H

#include "classify.h"
#include "diag.h"
#include "model.h"
#include "nft_read.h"
#include "nft_snap.h"
#include "plan.h"
#include "ike_view.h"
#include "xfrm.h"
#include "xfrm_dump.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/** How bad a finding is; ordered. */
enum audit_severity { AUDIT_INFO, AUDIT_WARNING, AUDIT_ERROR };

/** One finding; strings owned. */
struct audit_finding {
	enum audit_severity severity;
	char *kind;		/**< stable name: "drift-element-added", "contradiction", ... */
	char *rule;		/**< policy rule, or NULL */
	char *object;		/**< kernel object ("set in4_ports", "chain input"), or NULL */
	char *message;
	bool acknowledged;	/**< its rule's "accept-findings" lists its kind:
				     shown, not counted for --fail-on */
};

struct audit_list {
	struct audit_finding *v;
	size_t n, cap;
	bool oom;
};

void audit_list_fini(struct audit_list *l);
void audit_add(struct audit_list *l, enum audit_severity sev, const char *kind,
	       const char *rule, const char *object, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/** Highest severity present, acknowledged findings left out; -1 when
 *  there are none. */
int audit_max_severity(const struct audit_list *l);
const char *audit_severity_name(enum audit_severity s);
/** The findings as a JSON array of {"severity", "kind", "rule", "object",
 *  "message"}, with "acknowledged": true on those acknowledged. */
json_t *audit_json(const struct audit_list *l);

/** Policy defects: findings.c's, of its kinds and severities (the same
 *  as `sagate check` gives), acknowledged where the rule accepts them.
 *  c must be analysed (CLASSIFY_ANALYSE). */
void audit_policy(const struct policy *p, const struct classes *c, enum plan_mode mode,
		  struct audit_list *out);

/** Rules that name only one family's addresses of a host group of p
 *  (p's groups: of its file and includes, or those its bundle kept; a
 *  bundle written before bundles kept groups has none, and gives no
 *  finding) that has both: "family-counterpart".  ICMP-only rules are
 *  exempt.  Reads no file. */
void audit_families(const struct policy *p, struct audit_list *out);

/** require-ipsec rules against the SPD: peers no IPsec policy covers
 *  ("spd-missing"), and peers covered only at "level use" ("spd-optional"). */
void audit_spd(const struct policy *p, const struct xfrm_spd_list *spd, struct audit_list *out);

/** require-ipsec rules against what charon has loaded and negotiated
 *  (audit_ike.c): "ike-uncovered" for peers no loaded child carries the
 *  rule's traffic from in a mode it admits; "ike-mode" for a child that
 *  carries it in a mode the rule refuses; "ike-sa-refused" for a
 *  CHILD_SA that is up whose kernel SA (in sas, by its inbound SPI; sas
 *  may be NULL) an inbound rule from whose peers it comes refuses. */
void audit_ike(const struct policy *p, const struct ike_view *v, const struct xfrm_cache *sas,
	       uint64_t now, struct audit_list *out);

/** The live table vs the plan: "table-missing", "digest-mismatch",
 *  "drift-chain-added/removed/changed", "drift-rule-added/removed",
 *  "drift-set-added/removed", "drift-element-added/removed/changed"; and
 *  "foreign-chain-before" for another table's base chain on input /
 *  output that runs before ours and accepts. */
void audit_drift(const struct plan *plan, const struct policy *p, const struct nft_snap *s,
		 struct audit_list *out);

/** Do a live table's comment and a plan's name the same policy digest
 *  (the path in them may differ: the same file named from elsewhere, or
 *  as the absolute path apply records)? */
bool audit_same_policy(const char *live, const char *plan);

/** Can set ss be compared with ps key by key (the kernel's keys have the
 *  layout of ps's fields; not a one-field interval set)? */
bool audit_elems_comparable(const struct plan_set *ps, const struct snap_set *ss);
/** Compare ps and ss element by element: "drift-element-added",
 *  "drift-element-removed" (with the key) and "drift-element-changed"
 *  (same key, another verdict); at most 5 of each, then a count. */
void audit_set_exact(const struct policy *pol, const struct plan_set *ps,
		     const struct snap_set *ss, struct audit_list *out);

/** What the engine needs: engine-mode plans queue; is a sagated process
 *  alive and a queue of the plan's number bound?  proc is the /proc to
 *  read (tests pass their own).  "engine-not-running", "queue-unbound". */
void audit_engine(const struct plan *plan, const char *proc, struct audit_list *out);
/** Does the running sagated judge the current generation of state
 *  directory dir (engine mode) by its policy, on the queue its table
 *  uses (handover.h)?  "engine-policy-mismatch" when not; nothing when no
 *  sagated runs (audit_engine says so). */
void audit_engine_served(const char *dir, struct audit_list *out);

/** Usage: "cleartext-attempts", per source and port that tried a
 *  require-ipsec class without IPsec (the PLAN_ATTEMPTS sets, v), most
 *  packets first, with the rule that class belongs to and how long ago
 *  the last packet came; at most AUDIT_ATTEMPTS_MAX, then one finding
 *  with the count of the rest. */
#define AUDIT_ATTEMPTS_MAX 20
void audit_attempts(const struct policy *p, const struct classes *c,
		    const struct nft_attempt *v, size_t n, struct audit_list *out);

/** Usage: "never-hit" rules (no packet on any of their elements),
 *  "cleartext-dropped" on require-ipsec chains, "sas-in-use" per
 *  require-ipsec rule (sas may be NULL: not read). */
void audit_usage(const struct plan *plan, const struct policy *p, const struct nft_live *live,
		 const struct xfrm_cache *sas, uint64_t now, struct audit_list *out);

#endif
