/* util: small helpers shared by every module. */
#ifndef SAGATE_UTIL_H
#define SAGATE_UTIL_H

#include "diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** strdup that tolerates NULL (returns NULL). */
char *xstrdup_or_null(const char *s);

/** out = "BASE.KEY" (BASE alone when key is NULL), cut to size - 1 bytes
 *  as snprintf cuts: the parser's JSON paths, built for every value it
 *  reads, and snprintf's machinery is most of the cost of that. */
void path_key(char *out, size_t size, const char *base, const char *key);
/** out = "BASE[I]", cut as path_key. */
void path_index(char *out, size_t size, const char *base, size_t i);

/** Grow *arr (element size esz) so that it can hold at least need items.
 *  Returns 0, or -1 on OOM with *arr untouched. */
int grow_array(void *arr, size_t *cap, size_t need, size_t esz);

/** What kind of file a st_mode names, for messages: "a FIFO", "a
 *  directory", "a character device", ... */
const char *file_kind(mode_t mode);

/** Read a whole regular file into a NUL-terminated buffer of at most max
 *  bytes.  Anything else is refused, before it is opened when stat()
 *  tells (opening a FIFO waits for a writer; opening a device can act on
 *  it), and again on the open descriptor, in case the path changed in
 *  between; the open neither blocks nor takes a controlling terminal.
 *  Returns 0; -1 with errno set (EFBIG when the file is larger than max).
 *  *kind (when kind is not NULL) is then NULL, or, when the path is not a
 *  regular file, what it is instead (file_kind()). */
int read_file_limited(const char *path, size_t max, char **buf, size_t *len,
		      const char **kind);

/** Replace path with len bytes, whole or not at all: a temporary file
 *  of a random name in the same directory (path.tmp.XXXXXX, created O_EXCL, so a symlink
 *  planted there is never followed), fsync, rename over path, fsync of
 *  the directory.  With durable false both fsyncs are left out (for files
 *  made again every second that mean nothing after a crash).  Returns 0;
 *  -1 with errno set, and *step (when step is not NULL) naming what
 *  failed: "create", "write" or "rename". */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode,
		      bool durable, const char **step);
/** write_file_atomic, with the file flock(2)ed (LOCK_EX) before it takes
 *  path's name: returns the descriptor that holds the lock (close it to
 *  let go), or -1 as write_file_atomic. */
int write_file_atomic_locked(const char *path, const void *buf, size_t len, mode_t mode,
			     bool durable, const char **step);

/** Is dir fit to hold what root applies?  A directory, not a symlink,
 *  owned by root or by the caller, that no group and no other user may
 *  write (sshd's StrictModes, for the same reason: whoever can write
 *  there decides what the firewall loads).  Returns 0; -1 with an error
 *  in d that calls it what (e.g. "the state directory") and says how to
 *  fix it. */
int check_private_dir(const char *dir, const char *what, struct diag_list *d);

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

/** How many leading bytes of buf (len received, buf aligned for a
 *  struct nlmsghdr) hold whole netlink messages, each nlmsg_len compared
 *  unsigned with what is left.  libmnl's mnl_nlmsg_ok, which mnl_cb_run
 *  uses, compares it as an int: a length over 2 GiB passes as negative and
 *  the walk leaves the buffer.  Give mnl_cb_run and mnl_nlmsg_ok loops
 *  this many bytes, never the length received. */
size_t netlink_span(const void *buf, size_t len);

/** Is the kernel release string (uname -r: "6.1.0-57-amd64") at least
 *  major.minor?  A string that does not start with two numbers is not. */
bool kernel_at_least(const char *release, unsigned major, unsigned minor);

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

/** path made absolute against the current directory, without resolving
 *  links (the name stays the admin's); leading "./" dropped.  Caller
 *  frees; NULL on OOM or when the current directory is unknown. */
char *path_absolute(const char *path);

/** "Did you mean": the candidate closest to a misspelt word, fed one at
 *  a time with suggest_try.  A candidate that differs only in case wins;
 *  otherwise the fewest edits (insert, delete, replace, swap two
 *  neighbours, case ignored), at most one per four characters of the
 *  word and at least one. */
struct suggest {
	const char *word;
	const char *best;	/**< borrowed; NULL while none is close */
	unsigned dist;
};

void suggest_init(struct suggest *s, const char *word);
void suggest_try(struct suggest *s, const char *candidate);
/** "; did you mean \"best\"?" in buf (len bytes), or "" when none was
 *  close: the tail of an "unknown ..." message. */
const char *suggest_text(const struct suggest *s, char *buf, size_t len);

#endif
