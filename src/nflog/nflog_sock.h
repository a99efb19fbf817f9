/* nflog_sock: the reading end of an nflog group (kernel layer): bind the
 * group in this network namespace, take its packet messages, and tell
 * whether a group has a reader at all; and the systemd journal's native
 * socket, where the lines go under systemd.
 */
#ifndef SAGATE_NFLOG_SOCK_H
#define SAGATE_NFLOG_SOCK_H

#include "nflog_msg.h"

#include <stdint.h>

struct nflog_sock;

/** Bind group in the caller's network namespace, copying the first
 *  NFLOG_COPY bytes of each packet.  NULL with errno set: EBUSY when
 *  another process reads the group, EPERM without CAP_NET_ADMIN. */
#define NFLOG_COPY 256
struct nflog_sock *nflog_sock_open(uint16_t group);
void nflog_sock_close(struct nflog_sock *s);

/** Called for each packet message; a non-zero return stops nflog_sock_read. */
typedef int (*nflog_cb)(const struct nflog_rec *r, void *data);

/** Wait for messages and hand each packet to cb.  Returns cb's non-zero
 *  value, 0 after one batch read, or -1 with errno (ENOBUFS: the kernel
 *  dropped messages this reader was too slow for; *lost counts each such
 *  report).  A malformed message is counted in *bad and skipped. */
int nflog_sock_read(struct nflog_sock *s, nflog_cb cb, void *data, unsigned long *lost,
		    unsigned long *bad);

/** Whether group has a reader in the caller's network namespace
 *  (/proc/net/netfilter/nfnetlink_log): 1 yes, 0 no, -1 unknown. */
int nflog_group_has_reader(uint16_t group);

/** Send one native journal datagram (nflog_line_journal's) to
 *  /run/systemd/journal/socket, or path when not NULL.  0 or -1 (errno). */
int nflog_journal_send(const char *path, const char *buf, size_t len);

#endif
