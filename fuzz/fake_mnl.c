/* fake_mnl: the libmnl socket calls fuzz_nft_dump wraps (see fake_mnl.h). */
#include "config.h"

#include "fake_mnl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <string.h>
#include <sys/types.h>

struct mnl_socket *__real_mnl_socket_open(int bus);
int __real_mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid);
unsigned int __real_mnl_socket_get_portid(const struct mnl_socket *nl);
int __real_mnl_socket_close(struct mnl_socket *nl);
ssize_t __real_mnl_socket_sendto(const struct mnl_socket *nl, const void *buf, size_t len);
ssize_t __real_mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t size);
struct mnl_socket *__wrap_mnl_socket_open(int bus);
int __wrap_mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid);
unsigned int __wrap_mnl_socket_get_portid(const struct mnl_socket *nl);
int __wrap_mnl_socket_close(struct mnl_socket *nl);
ssize_t __wrap_mnl_socket_sendto(const struct mnl_socket *nl, const void *buf, size_t len);
ssize_t __wrap_mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t size);

#define FAKE_PORTID 4242u

static const uint8_t *in;
static size_t left;
static FILE *rec;
static int open_sockets;
static char fake_socket;	/* what the fake's handles point at */

void fake_mnl_feed(const uint8_t *data, size_t size)
{
	in = data;
	left = size;
}

void fake_mnl_record(FILE *f)
{
	rec = f;
}

int fake_mnl_open_sockets(void)
{
	return open_sockets;
}

struct mnl_socket *__wrap_mnl_socket_open(int bus)
{
	struct mnl_socket *nl = rec ? __real_mnl_socket_open(bus) :
				(struct mnl_socket *)&fake_socket;

	if (nl)
		open_sockets++;
	return nl;
}

int __wrap_mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid)
{
	return rec ? __real_mnl_socket_bind(nl, groups, pid) : 0;
}

unsigned int __wrap_mnl_socket_get_portid(const struct mnl_socket *nl)
{
	return rec ? __real_mnl_socket_get_portid(nl) : FAKE_PORTID;
}

int __wrap_mnl_socket_close(struct mnl_socket *nl)
{
	open_sockets--;
	return rec ? __real_mnl_socket_close(nl) : 0;
}

ssize_t __wrap_mnl_socket_sendto(const struct mnl_socket *nl, const void *buf, size_t len)
{
	return rec ? __real_mnl_socket_sendto(nl, buf, len) : (ssize_t)len;
}

/* A reply as a seed chunk, its messages' sequence numbers and port ids
 * zeroed. */
static void record(void *buf, ssize_t n)
{
	uint8_t hdr[2] = { (uint8_t)(n & 0xff), (uint8_t)((size_t)n >> 8) };
	struct nlmsghdr *nlh = buf;
	int len = (int)n;

	if (n <= 0 || n > 0xffff)
		return;
	while (mnl_nlmsg_ok(nlh, len)) {
		nlh->nlmsg_seq = 0;
		nlh->nlmsg_pid = 0;
		nlh = mnl_nlmsg_next(nlh, &len);
	}
	fwrite(hdr, 1, 2, rec);
	fwrite(buf, 1, (size_t)n, rec);
}

ssize_t __wrap_mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t size)
{
	size_t n;

	if (rec) {
		ssize_t r = __real_mnl_socket_recvfrom(nl, buf, size);

		record(buf, r);
		return r;
	}
	if (left < 2)
		return 0;
	n = (size_t)in[0] | (size_t)in[1] << 8;
	in += 2;
	left -= 2;
	if (n == 0) {
		errno = ENOBUFS;
		return -1;
	}
	if (n > left)
		n = left;
	if (n > size)
		n = size;
	memcpy(buf, in, n);
	in += n;
	left -= n;
	return (ssize_t)n;
}
