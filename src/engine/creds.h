/* creds: sagated's privileges given up: a user of its own, and of all
 * capabilities CAP_NET_ADMIN alone (NFQUEUE, XFRM netlink,
 * SO_RCVBUFFORCE need no more).
 *
 * Started as root (by hand, or by a unit without User=), sagated gives
 * its run directory to the user, drops every other capability from its
 * bounding set, switches to the user's uid and gid keeping CAP_NET_ADMIN
 * (PR_SET_KEEPCAPS, then capset), and sets no_new_privs.  Started as the
 * user with CAP_NET_ADMIN ambient (sagated.service), it only checks that
 * it holds CAP_NET_ADMIN and no other capability, dropping any other it
 * was given.  No libcap: two system calls and prctl.
 */
#ifndef SAGATE_CREDS_H
#define SAGATE_CREDS_H

#include "diag.h"
#include "state.h"

#include <stdbool.h>
#include <stddef.h>

/** The user sagated runs as unless --user names another. */
#define CREDS_USER STATE_READER

/** Give up root as described above.  user: the user to become (NULL:
 *  CREDS_USER; a missing CREDS_USER keeps uid 0, with CAP_NET_ADMIN
 *  alone and a warning in d; a missing named user is an error).  run_dir:
 *  created if missing, and given to the user.  who: "uid U (NAME)" as
 *  the log says it.  0, or -1 with the error in d (nothing is dropped
 *  halfway: sagated must then exit). */
int creds_drop(const char *user, const char *run_dir, char *who, size_t wholen,
	       struct diag_list *d);

#endif
