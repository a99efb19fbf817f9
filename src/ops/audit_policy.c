#include "config.h"

#include "audit.h"
#include "findings.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void audit_policy(const struct policy *p, const struct classes *c, enum plan_mode mode,
		  struct audit_list *out)
{
	struct diag_list d;

	diag_list_init(&d);
	findings_add(p, c, mode, &d);
	for (size_t i = 0; i < d.count; i++) {
		const struct diag *x = &d.items[i];
		int kind = model_finding_from_name(x->kind ? x->kind : "");

		audit_add(out, kind >= 0 && findings_severity(kind) == DIAG_ERROR ? AUDIT_ERROR :
			  AUDIT_WARNING, x->kind ? x->kind : "policy-warning", x->rule, NULL,
			  "%s%s%s", x->path && *x->path ? x->path : "", x->path && *x->path ? ": " : "",
			  x->message ? x->message : "out of memory");
		if (x->acknowledged && out->n)
			out->v[out->n - 1].acknowledged = true;
	}
	diag_list_fini(&d);
}

/* The SPD entries of direction dir covering peer: required / optional. */
static void spd_cover(const struct xfrm_spd_list *spd, uint8_t dir, enum addr_family fam,
		      u128 peer, bool *req, bool *opt)
{
	*req = *opt = false;
	for (size_t i = 0; i < spd->n; i++) {
		const struct xfrm_spd *e = &spd->v[i];

		if (e->dir != dir || e->block || !e->ntmpl || !xfrm_spd_covers_peer(e, fam, peer))
			continue;
		if (xfrm_spd_requires(e))
			*req = true;
		else
			*opt = true;
	}
}

void audit_spd(const struct policy *p, const struct xfrm_spd_list *spd, struct audit_list *out)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		uint8_t dir = r->dir == DIR_IN ? XFRM_SPD_IN :
			      r->dir == DIR_FWD ? XFRM_SPD_FWD : XFRM_SPD_OUT;

		if (r->action != ACT_REQUIRE_IPSEC)
			continue;
		for (size_t k = 0; k < r->peers.n; k++) {
			const struct addr_range *a = &r->peers.v[k];
			char peer[128];
			bool req, opt, req2, opt2;

			/* its first and last address stand for the interval */
			spd_cover(spd, dir, a->fam, a->lo, &req, &opt);
			spd_cover(spd, dir, a->fam, a->hi, &req2, &opt2);
			req = req && req2;
			opt = (opt || req) && (opt2 || req2);
			addr_range_format(a, peer, sizeof(peer));
			if (!req && !opt)
				audit_add(out, AUDIT_WARNING, "spd-missing", r->name, NULL,
					  "no IPsec policy (SPD, dir %s) covers peer %s: no SA protects its traffic, so the rule drops all of it",
					  xfrm_spd_dir_name(dir), peer);
			else if (!req)
				audit_add(out, AUDIT_WARNING, "spd-optional", r->name, NULL,
					  "peer %s is covered only by IPsec policies at \"level use\" (dir %s): cleartext passes the SPD, only sagate stops it",
					  peer, xfrm_spd_dir_name(dir));
		}
	}
}
