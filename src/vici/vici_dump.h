/* vici_dump: one-shot queries of charon over its vici socket (kernel
 * layer: the CLI's only vici socket). */
#ifndef SAGATE_VICI_DUMP_H
#define SAGATE_VICI_DUMP_H

#include "diag.h"
#include "ike_view.h"

/** Where charon's vici plugin listens unless strongswan.conf says otherwise. */
#define VICI_DEFAULT_SOCKET "/var/run/charon.vici"

/** Fill *v with the connections charon at socket path has loaded and the
 *  CHILD_SAs it holds.  0; -1 with an error in d naming the socket (it
 *  is missing, refused, or charon's answer did not decode), *v empty. */
int vici_dump_view(const char *path, struct ike_view *v, struct diag_list *d);

#endif
