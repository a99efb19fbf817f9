/* Internal to the state module: the names inside a generation, shared by
 * the reading half (state.c, which spells every name of the directory)
 * and the writing half (state_write.c). */
#ifndef SAGATE_STATE_INT_H
#define SAGATE_STATE_INT_H

#include "state.h"

#include <stddef.h>

/** A generation's directory and the files in it. */
enum state_gen_file {
	STATE_GEN_DIR,		/**< gen-NNNNNN itself */
	STATE_GEN_POLICY,	/**< gen-NNNNNN/policy.json */
	STATE_GEN_META,		/**< gen-NNNNNN/meta.json */
	STATE_GEN_PREVIOUS,	/**< gen-NNNNNN/previous: link to its rollback target */
	STATE_GEN_OUTCOME,	/**< gen-NNNNNN/outcome.json: what became of it */
	STATE_GEN_PLAN,		/**< gen-NNNNNN/plan.bin: its compiled plan as the
				     kernel took it (plan_file.h), a cache */
};

/** Path of f of generation gen of dir into buf.  0, or -1 (errno
 *  ENAMETOOLONG) when it does not fit. */
int state_gen_path(char *buf, size_t len, const char *dir, unsigned gen,
		   enum state_gen_file f);
/** A generation's name ("gen-000012"), which a link points to; as
 *  state_gen_path. */
int state_gen_name(char *buf, size_t len, unsigned gen);
/** The generation a name in the directory stands for, or 0. */
unsigned state_gen_number(const char *name);
/** A generation's name as its successor's `previous` link names it
 *  ("../gen-000012"); as state_gen_path. */
int state_gen_link(char *buf, size_t len, unsigned gen);
/** What the top-level link `previous` points to: the current
 *  generation's own. */
#define STATE_PREVIOUS_TARGET "current/previous"

#endif
