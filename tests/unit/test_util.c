/* base/util's file helpers: atomic replacement that never writes through
 * a planted link, and the private-directory check the state directory
 * gets. */
#include "config.h"

#include "diag.h"
#include "util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/sagate-util-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len;

	cr_assert_eq(read_file_limited(path, 1 << 20, &buf, &len, NULL), 0, "%s", path);
	return buf;
}

static int entries(const char *d)
{
	DIR *dh = opendir(d);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(dh);
	while ((e = readdir(dh)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(dh);
	return n;
}

TestSuite(util, .init = setup, .fini = teardown);

/* The new content replaces the file whole, with the mode asked for, and
 * nothing of the temporary file is left. */
Test(util, write_file_atomic_replaces)
{
	char path[128], *s;
	struct stat st;

	snprintf(path, sizeof(path), "%s/meta.json", dir);
	cr_assert_eq(write_file_atomic(path, "old\n", 4, 0600, true, NULL), 0);
	cr_assert_eq(write_file_atomic(path, "new\n", 4, 0640, true, NULL), 0);
	s = slurp(path);
	cr_assert_str_eq(s, "new\n");
	free(s);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	cr_assert_eq(entries(dir), 1, "a temporary file was left behind");
}

/* A symlink planted at the name, or at the name the old code used for its
 * temporary file, is replaced or ignored: its target is never written. */
Test(util, write_file_atomic_never_follows_a_link)
{
	char path[128], victim[128], planted[160], *s;
	struct stat st;
	FILE *f;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	cr_assert_not_null(f = fopen(victim, "w"));
	fputs("precious\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/pending", dir);
	cr_assert_eq(symlink(victim, path), 0);
	snprintf(planted, sizeof(planted), "%s.tmp.%d", path, (int)getpid());
	cr_assert_eq(symlink(victim, planted), 0);
	cr_assert_eq(write_file_atomic(path, "x\n", 2, 0600, false, NULL), 0);
	s = slurp(victim);
	cr_assert_str_eq(s, "precious\n");
	free(s);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "the link was written through, not replaced");
}

Test(util, write_file_atomic_says_what_failed)
{
	char path[128];
	const char *step = NULL;

	snprintf(path, sizeof(path), "%s/no/such/dir/file", dir);
	cr_assert_eq(write_file_atomic(path, "x", 1, 0600, true, &step), -1);
	cr_assert_str_eq(step, "create");
}

static const char *private_dir_error(const char *d)
{
	static char msg[512];
	struct diag_list l;

	diag_list_init(&l);
	msg[0] = '\0';
	if (check_private_dir(d, "the state directory", &l) < 0) {
		cr_assert_eq(l.count, 1);
		snprintf(msg, sizeof(msg), "%s", l.items[0].message);
	}
	diag_list_fini(&l);
	return msg;
}

Test(util, check_private_dir)
{
	char sub[128], link[128], want[512], file[128];
	FILE *f;

	snprintf(sub, sizeof(sub), "%s/state", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_str_eq(private_dir_error(sub), "");
	cr_assert_eq(chmod(sub, 0755), 0);
	cr_assert_str_eq(private_dir_error(sub), "");

	cr_assert_eq(chmod(sub, 0777), 0);
	snprintf(want, sizeof(want), "the state directory may be written by any user (mode 0777), who could then choose what the firewall loads: run `chmod go-w %s`", sub);
	cr_assert_str_eq(private_dir_error(sub), want);
	cr_assert_eq(chmod(sub, 0770), 0);
	snprintf(want, sizeof(want), "the state directory may be written by its group (mode 0770), who could then choose what the firewall loads: run `chmod go-w %s`", sub);
	cr_assert_str_eq(private_dir_error(sub), want);
	cr_assert_eq(chmod(sub, 01777), 0);
	cr_assert(strstr(private_dir_error(sub), "(mode 1777)"));

	cr_assert_eq(chmod(sub, 0700), 0);
	snprintf(link, sizeof(link), "%s/link", dir);
	cr_assert_eq(symlink(sub, link), 0);
	cr_assert_str_eq(private_dir_error(link),
			 "the state directory is a symbolic link, not a directory: name the directory itself");
	snprintf(file, sizeof(file), "%s/file", dir);
	cr_assert_not_null(f = fopen(file, "w"));
	fclose(f);
	cr_assert_str_eq(private_dir_error(file), "the state directory is a regular file, not a directory");
	snprintf(file, sizeof(file), "%s/none", dir);
	cr_assert_str_eq(private_dir_error(file), "the state directory cannot be read: No such file or directory");
}

/* sagated warns at start on a kernel older than 5.18 (no NFQA_PRIORITY). */
Test(util, kernel_at_least)
{
	cr_assert(kernel_at_least("6.1.0-57-amd64", 5, 18));
	cr_assert(kernel_at_least("5.18.0", 5, 18));
	cr_assert(kernel_at_least("5.18", 5, 18));
	cr_assert(kernel_at_least("10.0.1", 5, 18));
	cr_assert_not(kernel_at_least("5.17.15-1", 5, 18));
	cr_assert_not(kernel_at_least("5.15.0-91-generic", 5, 18));
	cr_assert_not(kernel_at_least("4.19.0", 5, 18));
	cr_assert_not(kernel_at_least("5", 5, 18));
	cr_assert_not(kernel_at_least("x5.18", 5, 18));
	cr_assert_not(kernel_at_least("", 5, 18));
	cr_assert_not(kernel_at_least(NULL, 5, 18));
	cr_assert(kernel_at_least("99999999999999999999.0", 5, 18));	/* saturates, no wrap */
}

/* The parser's path builders write what snprintf("%s.%s") and
 * snprintf("%s[%zu]") write, cut at every buffer size the same way. */
Test(util, path_key_and_index_as_snprintf)
{
	static const char *const bases[] = { "", "rules[3]", "rules[12345].ipsec.gateways[7]" };
	static const size_t idx[] = { 0, 7, 10, 255, 123456789, SIZE_MAX };
	char got[64], want[64];

	for (size_t b = 0; b < ARRAY_SIZE(bases); b++)
		for (size_t size = 1; size <= sizeof(got); size++) {
			memset(got, 'x', sizeof(got));
			memset(want, 'x', sizeof(want));
			path_key(got, size, bases[b], "ports");
			snprintf(want, size, "%s.%s", bases[b], "ports");
			cr_assert_eq(memcmp(got, want, sizeof(got)), 0, "key %s size %zu: %s / %s",
				     bases[b], size, got, want);
			path_key(got, size, bases[b], NULL);
			snprintf(want, size, "%s", bases[b]);
			cr_assert_eq(memcmp(got, want, sizeof(got)), 0);
			for (size_t i = 0; i < ARRAY_SIZE(idx); i++) {
				path_index(got, size, bases[b], idx[i]);
				snprintf(want, size, "%s[%zu]", bases[b], idx[i]);
				cr_assert_eq(memcmp(got, want, sizeof(got)), 0,
					     "index %s %zu size %zu: %s / %s", bases[b], idx[i],
					     size, got, want);
			}
		}
}
