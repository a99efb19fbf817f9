/* util: small helpers shared by every module. */
#ifndef SAGATE_UTIL_H
#define SAGATE_UTIL_H

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** strdup that tolerates NULL (returns NULL). */
char *xstrdup_or_null(const char *s);

/** Grow *arr (element size esz) so that it can hold at least need items.
 *  Returns 0, or -1 on OOM with *arr untouched. */
int grow_array(void *arr, size_t *cap, size_t need, size_t esz);

/** Read a whole file into a NUL-terminated buffer of at most max bytes.
 *  Returns 0; -1 with errno set (EFBIG when the file is larger than max). */
int read_file_limited(const char *path, size_t max, char **buf, size_t *len);

/** Names to indices, open addressing; names are borrowed (they must live
 *  as long as the index).  With 100,000 policy rules, a linear search by
 *  name anywhere is quadratic. */
struct nindex {
	struct nslot {
		const char *name;
		size_t idx;
	} *slot;
	size_t cap, n;
};

/** Remember name -> idx; -1 on OOM. */
int nindex_add(struct nindex *ix, const char *name, size_t idx);
/** The index of name, or -1. */
long nindex_find(const struct nindex *ix, const char *name);
void nindex_fini(struct nindex *ix);

/** With SAGATE_TRACE_TIME set in the environment, print on stderr how long
 *  the phase that ends now took (since the previous call, or the first
 *  call).  For finding where a slow apply goes; silent otherwise. */
void trace_phase(const char *phase);

/** Test-only: with SAGATE_TEST_PAUSE=POINT:FILE in the environment, stop
 *  at the point named POINT: create FILE.paused, wait until FILE exists
 *  (at most a minute), remove both, go on.  Points: "before-commit"
 *  (nft_apply, between reading the live table and sending the
 *  transaction: tests/netns/apply-race.sh changes the ruleset there) and
 *  "before-switch" (live_apply, between the kernel's commit and the
 *  switch of `current`: tests/netns/apply-cli.sh kills apply there).
 *  Does nothing otherwise. */
void test_pause(const char *point);

#endif
