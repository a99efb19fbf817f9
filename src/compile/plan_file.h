/* plan_file: a compiled plan, and the names of its policy's rules, kept in
 * a compact binary file, so that a later apply knows what the kernel was
 * given without parsing and compiling that policy again.
 *
 * The file is this machine's and this build's: native byte order, a magic
 * and a version; anything else in it is refused (and the caller compiles
 * again).  A fixed-size tag of the caller's (what the kernel's ruleset
 * was after the commit) heads it, readable without the rest.
 */
#ifndef SAGATE_PLAN_FILE_H
#define SAGATE_PLAN_FILE_H

#include "model.h"
#include "plan.h"

#include <stddef.h>
#include <stdint.h>

#define PLAN_FILE_TAG 64

/** A plan read back, with its rules' names (pointing into blob). */
struct plan_file {
	struct plan *plan;
	const char **names;	/**< by policy rule index */
	size_t nnames;
	char *blob;		/**< the file's bytes */
};

/** Write p and the names of pol's rules, tagged, to path (through a
 *  temporary file and a rename: a reader sees the old file or the new
 *  one).  0, or -1 with errno. */
int plan_file_write(const char *path, const struct plan *p, const struct policy *pol,
		    const uint8_t tag[PLAN_FILE_TAG]);

/** The tag of the file at path: 0, or -1 with errno (EINVAL: not a plan
 *  file of this build). */
int plan_file_tag(const char *path, uint8_t tag[PLAN_FILE_TAG]);

/** Read the file at path into *f: 0, or -1 with errno (EINVAL: not a
 *  whole plan file of this build).  plan_file_fini frees it either way. */
int plan_file_read(const char *path, struct plan_file *f);
/** The same from len bytes at blob, which *f then owns (malloc'd; freed
 *  by plan_file_fini, either way). */
int plan_file_parse(struct plan_file *f, char *blob, size_t len);
void plan_file_fini(struct plan_file *f);

#endif
