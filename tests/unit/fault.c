/* fault: the wrappers behind fault.h.  Each counts itself while armed,
 * and the one whose turn it is fails without doing anything (close
 * closes, as the kernel does whatever close returns). */
#include "config.h"

#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static struct {
	bool armed, fired;
	unsigned nth, count;
	char what[512];
} f;

void fault_arm(unsigned nth)
{
	f.armed = true;
	f.fired = false;
	f.nth = nth;
	f.count = 0;
	f.what[0] = '\0';
}

unsigned fault_disarm(void)
{
	f.armed = false;
	return f.count;
}

bool fault_fired(void)
{
	return f.fired;
}

const char *fault_what(void)
{
	return f.what;
}

/* Is it this call's turn to fail?  Then errno is err. */
static bool turn(const char *call, const char *arg, int err)
{
	if (!f.armed || ++f.count != f.nth)
		return false;
	f.fired = true;
	snprintf(f.what, sizeof(f.what), "%s(%s)", call, arg ? arg : "");
	errno = err;
	return true;
}

bool fault_step(const char *what)
{
	return turn(what, "", EIO);
}

/* The real call (the linker's __real_name) and our wrapper of it, both
 * declared, as -Wmissing-prototypes wants. */
#define WRAPS(ret, name, params) ret __real_##name params; ret __wrap_##name params

WRAPS(int, open, (const char *path, int flags, ...));
WRAPS(int, mkdir, (const char *path, mode_t mode));
WRAPS(ssize_t, write, (int fd, const void *buf, size_t len));
WRAPS(int, fsync, (int fd));
WRAPS(int, close, (int fd));
WRAPS(int, rename, (const char *from, const char *to));
WRAPS(int, symlink, (const char *target, const char *path));
WRAPS(int, unlink, (const char *path));
WRAPS(int, rmdir, (const char *path));
WRAPS(int, flock, (int fd, int op));

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (turn("open", path, EIO))
		return -1;
	return __real_open(path, flags, mode);
}

int __wrap_mkdir(const char *path, mode_t mode)
{
	return turn("mkdir", path, ENOSPC) ? -1 : __real_mkdir(path, mode);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
	return turn("write", NULL, ENOSPC) ? -1 : __real_write(fd, buf, len);
}

int __wrap_fsync(int fd)
{
	return turn("fsync", NULL, EIO) ? -1 : __real_fsync(fd);
}

int __wrap_close(int fd)
{
	int rc = __real_close(fd);

	return turn("close", NULL, EIO) ? -1 : rc;
}

int __wrap_rename(const char *from, const char *to)
{
	return turn("rename", to, EIO) ? -1 : __real_rename(from, to);
}

int __wrap_symlink(const char *target, const char *path)
{
	return turn("symlink", path, ENOSPC) ? -1 : __real_symlink(target, path);
}

int __wrap_unlink(const char *path)
{
	return turn("unlink", path, EIO) ? -1 : __real_unlink(path);
}

int __wrap_rmdir(const char *path)
{
	return turn("rmdir", path, EIO) ? -1 : __real_rmdir(path);
}

int __wrap_flock(int fd, int op)
{
	return turn("flock", NULL, ENOLCK) ? -1 : __real_flock(fd, op);
}
