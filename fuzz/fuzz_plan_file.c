/* fuzz_plan_file: libFuzzer target for the kept plan's reader
 * (plan_file.c): the bytes of a damaged or hostile plan.bin.
 *
 * An incremental apply reads the plan it kept with the current
 * generation; a file cut short, from another build or altered must be
 * refused (EINVAL), never read out of bounds or leaked.  Checked:
 *   - a refused file sets errno to EINVAL (or ENOMEM), and what it
 *     holds is freed by plan_file_fini (the sanitizers see a leak);
 *   - a plan read is written again (without rule names), and what was
 *     written reads back and writes the same bytes: the writer and the
 *     reader agree on everything a plan read can hold. */
#include "config.h"

#include "plan_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/fuzz-plan-file.XXXXXX";

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_plan_file: %s\n", what);
	abort();
}

static void remove_dir(void)
{
	rmdir(dir);
}

/* The bytes of the file at path (malloc'd), *len its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		fail("a file just written cannot be opened");
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	else
		fail("a file just written cannot be read");
	fclose(f);
	return buf;
}

/* Write f's plan to path with the tag of the input (or zeros). */
static void write_back(const struct plan_file *f, const char *path, const uint8_t *tag)
{
	if (plan_file_write(path, f->plan, NULL, tag) < 0)
		fail("a plan that was read cannot be written");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t zero[PLAN_FILE_TAG];
	struct plan_file f, g;
	char a[64], b[64], *blob = malloc(size ? size : 1), *x, *y;
	size_t nx, ny;

	if (!blob)
		return 0;
	if (dir[sizeof(dir) - 2] == 'X') {
		if (!mkdtemp(dir))
			fail("no scratch directory");
		atexit(remove_dir);
	}
	memcpy(blob, data, size);
	errno = 0;
	if (plan_file_parse(&f, blob, size) < 0) {
		if (errno != EINVAL && errno != ENOMEM)
			fail("a refused file does not say EINVAL");
		plan_file_fini(&f);
		return 0;
	}
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	write_back(&f, a, size >= 8 + PLAN_FILE_TAG ? data + 8 : zero);
	if (plan_file_read(a, &g) < 0)
		fail("what was written cannot be read back");
	write_back(&g, b, size >= 8 + PLAN_FILE_TAG ? data + 8 : zero);
	x = slurp(a, &nx);
	y = slurp(b, &ny);
	if (nx != ny || memcmp(x, y, nx))
		fail("a plan read back writes other bytes");
	free(x);
	free(y);
	plan_file_fini(&g);
	plan_file_fini(&f);
	unlink(a);
	unlink(b);
	return 0;
}
