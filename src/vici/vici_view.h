/* vici_view: fills an ike_view (what charon has loaded and negotiated)
 * from decoded vici event messages: list-conn (one per connection) and
 * list-sa (one per IKE_SA, its CHILD_SAs inside).  No socket (core
 * layer); vici_dump.c asks charon for them. */
#ifndef SAGATE_VICI_VIEW_H
#define SAGATE_VICI_VIEW_H

#include "ike_view.h"
#include "vici_msg.h"

#include <stddef.h>

/** Add the connections of one list-conn event message to v.  0, or -1
 *  with what is wrong in err (a selector or mode charon would not print,
 *  or no memory); v stays whole either way. */
int vici_view_add_conns(struct ike_view *v, const struct vici_node *msg, char *err, size_t errlen);

/** Add the CHILD_SAs of one list-sa event message to v (those with an
 *  inbound SPI: installed ones).  0, or -1 as above. */
int vici_view_add_sas(struct ike_view *v, const struct vici_node *msg, char *err, size_t errlen);

#endif
