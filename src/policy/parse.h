/* parse: policy JSON files -> struct policy, strictly.
 *
 * Every problem is reported (file, JSON path, rule name), not just the
 * first; a policy with any error is not returned at all.
 */
#ifndef SAGATE_PARSE_H
#define SAGATE_PARSE_H

#include "diag.h"
#include "model.h"

#include <stddef.h>

/** Largest policy or rules file accepted by default. */
#define PARSE_DEFAULT_MAX_SIZE (32u << 20)
/** How deep includes may nest. */
#define PARSE_MAX_INCLUDE_DEPTH 16
/** How deep host groups may nest: @a holding @b holding @c is 3 deep. */
#define PARSE_MAX_GROUP_DEPTH 32
/** Knobs of the parser. */
struct parse_opts {
	size_t max_file_size;	/**< 0: PARSE_DEFAULT_MAX_SIZE */
	bool json_arena;	/**< build the JSON tree in an arena (json_arena.h):
				     faster, but only for single-threaded callers */
};

/** Parse a policy file and everything it includes.  Returns the policy,
 *  or NULL when diags gained an error (or on OOM, also reported there). */
struct policy *parse_policy_file(const char *path, const struct parse_opts *opts,
				 struct diag_list *diags);

#endif
