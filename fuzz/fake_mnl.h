/* fake_mnl: libmnl's socket calls for fuzz_nft_dump, wrapped at the link
 * (-Wl,--wrap=mnl_socket_open and the others): no socket is opened, and
 * every mnl_socket_recvfrom returns the next chunk of the fuzz input.
 *
 * Chunks: a length (2 bytes, little-endian) and that many bytes, in turn;
 * length 0 makes that recvfrom fail (ENOBUFS); past the last chunk
 * recvfrom returns 0 (the socket closed).  In record mode the calls go to
 * the real libmnl instead, and every reply is also written to a file as
 * such a chunk, its messages' sequence numbers and port ids zeroed (which
 * libmnl lets pass any request): a seed made from what a kernel said. */
#ifndef SAGATE_FAKE_MNL_H
#define SAGATE_FAKE_MNL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Replies come from data (size bytes, kept by the caller) from now on. */
void fake_mnl_feed(const uint8_t *data, size_t size);
/** Record mode: use the real socket, and append every reply to f (NULL:
 *  back to fake mode). */
void fake_mnl_record(FILE *f);
/** Sockets opened and not closed: 0 after every reader. */
int fake_mnl_open_sockets(void);

#endif
