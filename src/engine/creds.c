/* sagated's privileges given up: its own user, and CAP_NET_ADMIN alone
 * (creds.h). */
#include "config.h"

#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NET_ADMIN_BIT (UINT32_C(1) << CAP_NET_ADMIN)	/* in word 0 of the sets */

#define fail(d, ...) ({ diag_add((d), DIAG_ERROR, "", "", NULL, __VA_ARGS__); -1; })

/* The effective, permitted and inheritable sets, 64 bits each (two words). */
struct capsets {
	struct __user_cap_data_struct w[2];
};

static int caps_get(struct capsets *c)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capget, &h, c->w);
}

/* Effective and permitted: CAP_NET_ADMIN, nothing else; inheritable:
 * nothing. */
static int caps_set_net_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct capsets c;

	memset(&c, 0, sizeof(c));
	c.w[0].effective = c.w[0].permitted = NET_ADMIN_BIT;
	return (int)syscall(SYS_capset, &h, c.w);
}

/* CAP_NET_ADMIN alone, effective and permitted; inheritable may hold it
 * too (AmbientCapabilities= needs it there), nothing else. */
static bool caps_exactly_net_admin(const struct capsets *c)
{
	return c->w[0].effective == NET_ADMIN_BIT && c->w[0].permitted == NET_ADMIN_BIT &&
	       !(c->w[0].inheritable & ~NET_ADMIN_BIT) && !c->w[1].effective &&
	       !c->w[1].permitted && !c->w[1].inheritable;
}

/* Every capability but CAP_NET_ADMIN out of the bounding set (needs
 * CAP_SETPCAP: root's). */
static int bounding_drop(struct diag_list *d)
{
	for (int cap = 0; cap < 64; cap++) {
		int r;

		if (cap == CAP_NET_ADMIN)
			continue;
		r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (r < 0)
			break;	/* EINVAL: past the kernel's last capability */
		if (r == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return fail(d, "cannot drop capability %d from the bounding set: %s", cap,
				    strerror(errno));
	}
	return 0;
}

/* The run directory: made if missing, and the user's (its counters file
 * and control socket are written there).  Only a directory, never a
 * link, owned by root or the user already. */
static int give_run_dir(const char *dir, uid_t uid, gid_t gid, struct diag_list *d)
{
	struct stat st;
	int fd;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return fail(d, "cannot create %s: %s", dir, strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(d, "%s: %s (the run directory must be a directory, not a link)", dir,
			    strerror(errno));
	if (fstat(fd, &st) < 0 || (st.st_uid != 0 && st.st_uid != uid)) {
		close(fd);
		return fail(d, "%s belongs to uid %u, neither root nor sagated's user: not giving it to uid %u",
			    dir, (unsigned)st.st_uid, (unsigned)uid);
	}
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0755) < 0) {
		int err = errno;

		close(fd);
		return fail(d, "cannot give %s to uid %u: %s", dir, (unsigned)uid, strerror(err));
	}
	close(fd);
	return 0;
}

/* Not root: hold CAP_NET_ADMIN and nothing else, or say why not. */
static int trim(struct diag_list *d)
{
	struct capsets c;

	if (caps_get(&c) < 0)
		return fail(d, "capget: %s", strerror(errno));
	if (!(c.w[0].permitted & NET_ADMIN_BIT))
		return fail(d, "sagated needs CAP_NET_ADMIN: run it as root (it then becomes user %s itself), or give it the capability (sagated.service: AmbientCapabilities=CAP_NET_ADMIN)",
			    CREDS_USER);
	/* under sagated.service this is so already (capset is then not even
	 * allowed: SystemCallFilter=~@privileged) */
	if (!caps_exactly_net_admin(&c) && caps_set_net_admin() < 0)
		return fail(d, "cannot give up every capability but CAP_NET_ADMIN: %s", strerror(errno));
	/* nothing for a child: sagated starts none */
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

int creds_drop(const char *user, const char *run_dir, char *who, size_t wholen,
	       struct diag_list *d)
{
	const struct passwd *pw;
	const char *name = user ? user : CREDS_USER;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0) {
		snprintf(who, wholen, "uid %u", (unsigned)geteuid());
		return trim(d);
	}
	errno = 0;
	pw = getpwnam(name);
	if (!pw && user)
		return fail(d, "no user %s (--user): %s", name, errno ? strerror(errno) : "not found");
	if (!pw || pw->pw_uid == 0) {
		if (!pw)
			diag_add(d, DIAG_WARNING, "", "", NULL,
				 "there is no user %s: staying uid 0, with CAP_NET_ADMIN alone; create the user (sagated(8), USER AND CAPABILITIES)",
				 name);
		snprintf(who, wholen, "uid 0 (root)");
		if (bounding_drop(d) < 0)
			return -1;
		if (caps_set_net_admin() < 0)
			return fail(d, "cannot give up every capability but CAP_NET_ADMIN: %s",
				    strerror(errno));
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ?
			fail(d, "no_new_privs: %s", strerror(errno)) : 0;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	snprintf(who, wholen, "uid %u (%s)", (unsigned)uid, name);
	if (give_run_dir(run_dir, uid, gid, d) < 0 || bounding_drop(d) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return fail(d, "keepcaps: %s", strerror(errno));
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return fail(d, "cannot become %s (uid %u, gid %u): %s", name, (unsigned)uid,
			    (unsigned)gid, strerror(errno));
	/* keepcaps kept the permitted set; effective was cleared */
	if (caps_set_net_admin() < 0)
		return fail(d, "cannot keep CAP_NET_ADMIN as %s: %s", name, strerror(errno));
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(d, "no_new_privs: %s", strerror(errno));
	/* and there is no way back */
	if (setuid(0) == 0)
		return fail(d, "uid 0 could be taken back after becoming %s", name);
	return 0;
}
