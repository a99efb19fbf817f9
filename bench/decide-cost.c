/* decide-cost: what sagated's own work costs per packet, without a
 * kernel: decide() (header parse, class lookup, SA lookup and checks) on
 * an accepted IPv4/UDP packet, plus the batch planning of vbatch, timed
 * over many packets.  Built and run by bench/engine on the host, against
 * the tree's src/libsagate-engine.a and src/libsagate-core.a.
 *
 *   decide-cost POLICY.json [PACKETS]
 */
#include "config.h"

#include "bench_flow.h"
#include "classify.h"
#include "decide.h"
#include "diag.h"
#include "parse.h"
#include "vbatch.h"
#include "xfrm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BURST 64

int main(int argc, char **argv)
{
	struct parse_opts po = { 0 };
	struct diag_list d;
	struct policy *pol;
	struct classes *cls;
	struct xfrm_cache *c = xfrm_cache_alloc();
	struct xfrm_sa sa;
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000, acc = 0, msgs = 0;
	unsigned char pkt[60];
	struct vbatch_pkt pk[BURST];
	struct vbatch_msg m[2 * BURST];
	struct vbatch_state st = { 0 };
	double t0, t;

	if (argc < 2 || !c)
		return 2;
	diag_list_init(&d);
	pol = parse_policy_file(argv[1], &po, &d);
	cls = pol ? classify(pol, 0) : NULL;
	if (!cls) {
		fprintf(stderr, "decide-cost: %s does not load\n", argv[1]);
		return 1;
	}
	bench_sa(&sa);
	xfrm_cache_put(c, &sa);

	struct decide_ctx ctx = { pol, cls, NULL, NULL, c, false, NULL, NULL };
	uint32_t mark = xfrm_sa_handover(&sa);
	uint64_t sec = (uint64_t)time(NULL);

	t0 = bench_now();
	for (unsigned long i = 0; i < n; i++) {
		struct verdict v;

		bench_packet(pkt, i);
		v = decide(&ctx, pkt, sizeof pkt, mark, sec);
		acc += v.accept;
		pk[i % BURST] = (struct vbatch_pkt){ (uint32_t)i + 1, v.accept };
		if (i % BURST == BURST - 1)
			msgs += vbatch_plan(&st, pk, BURST, m);
	}
	t = bench_now() - t0;
	printf("decide-cost: %lu packets, %lu accepted, %lu verdict messages: %.0f ns per packet\n",
	       n, acc, msgs, t / (double)n * 1e9);
	classes_free(cls);
	policy_free(pol);
	xfrm_cache_free(c);
	diag_list_fini(&d);
	return acc == n ? 0 : 1;
}
