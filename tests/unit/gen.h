/* Random policies for property tests and benchmarks. */
#ifndef SAGATE_TEST_GEN_H
#define SAGATE_TEST_GEN_H

#include "model.h"

#include <stdint.h>

/** Shape of a generated policy. */
struct gen_opts {
	size_t nrules;
	uint32_t addr_span;	/**< peers drawn from 10.0.0.0 + [0, span) and fd00:: + [0, span) */
	unsigned port_span;	/**< ports drawn from 1 .. port_span */
	bool use_local;		/**< some rules name local addresses */
	bool use_v6;
	unsigned wide_pct;	/**< percent of rules with any peer, or any / a port-less protocol */
};

/** Deterministic xorshift generator. */
uint64_t gen_rand(uint64_t *state);

/** A random policy: overlapping hosts, CIDRs, ranges, ports, port ranges,
 *  all three actions, both directions. */
struct policy *gen_policy(const struct gen_opts *o, uint64_t *state);

#endif
