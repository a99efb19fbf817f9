/* log_chain: the chains that log a packet before its verdict, one per
 * rule with "log" (log_N) and one per direction whose default logs
 * (log_default_DIR), at most the policy's log rate. */
#include "config.h"

#include "compile_int.h"

#include <stdio.h>

/* A log chain's first two rules: past the policy's log rate, count the
 * line lost and decide (then); else log to the nflog group, and go on to
 * the rule that decides. */
static void log_head(struct kctx *k, struct plan_chain *c, const char *comment,
		     const char *prefix, struct plan_verdict then)
{
	const struct policy_logging *l = &k->pol->logging;
	char lost[160];
	struct plan_rule *pr;

	snprintf(lost, sizeof(lost), "log lines lost to the rate: %s", comment);
	if ((pr = rule_or_oom(k, c, lost))) {
		pr->stmts[pr->nstmts++] = (struct plan_stmt){ .kind = PS_LIMIT, .arg = l->rate,
							      .unit = l->unit, .burst = l->burst };
		stmt(pr, PS_COUNTER, 0, NULL);
		pr->verdict = then;
	}
	if ((pr = rule_or_oom(k, c, comment)))
		stmt(pr, PS_LOG, l->group, plan_strdup(k->plan, prefix));
	if ((pr = rule_or_oom(k, c, comment)))
		pr->verdict = then;
}

/* Rules with "log": a small chain each that logs (at most the policy's
 * log rate), then decides. */
void compile_rule_chains(struct kctx *k)
{
	for (size_t i = 0; i < k->pol->nrules && !k->oom; i++) {
		const struct rule *r = &k->pol->rules[i];
		const char *target = compile_target_chain(k, r);
		char name[32], prefix[128];
		struct plan_verdict then = { PV_NONE, NULL, 0, 0 };

		if (!r->log || !k->cls->info[i].boxes) {
			k->verdict_chain[i] = target;
			continue;
		}
		snprintf(name, sizeof(name), "log_%zu", i);
		/* sagate(8) LOG LINES: "sagate RULE ACTION: ", read back by nflog_msg.c */
		snprintf(prefix, sizeof(prefix), "sagate %s %s: ", r->name,
			 action_name(r->action));
		if (target)
			then = (struct plan_verdict){ PV_GOTO, target, 0, 0 };
		else
			then.kind = r->action == ACT_PERMIT ? PV_ACCEPT : PV_DROP;
		log_head(k, plan_add_chain(k->plan, name, PH_NONE), r->name, prefix, then);
		k->verdict_chain[i] = plan_strdup(k->plan, name);
	}
}

/* defaults.log: the packets that reach the end of a base chain (a new
 * flow no rule matched) go to log_default_DIR, which logs them and
 * decides as the chain's policy would. */
void compile_default_log(struct kctx *k, enum direction d, const char *base)
{
	const char *dn = d == DIR_IN ? "in" : d == DIR_OUT ? "out" : "forward";
	char name[32], prefix[64], comment[48];
	struct plan_verdict then = { k->pol->defaults[d] == ACT_BLOCK ? PV_DROP : PV_ACCEPT,
				     NULL, 0, 0 };
	struct plan_rule *r;

	if (!k->pol->log_default[d])
		return;
	snprintf(name, sizeof(name), "log_default_%s", dn);
	snprintf(prefix, sizeof(prefix), "sagate default %s %s: ", dn,
		 action_name(k->pol->defaults[d]));
	snprintf(comment, sizeof(comment), "default %s", dn);
	log_head(k, plan_add_chain(k->plan, name, PH_NONE), comment, prefix, then);
	/* the add may have moved the base chain: found again */
	if ((r = rule_or_oom(k, plan_find_chain(k->plan, base), comment)))
		r->verdict = (struct plan_verdict){ PV_GOTO, plan_strdup(k->plan, name), 0, 0 };
}
