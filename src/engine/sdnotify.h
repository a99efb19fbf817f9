/* sdnotify: systemd's readiness protocol without libsystemd.
 *
 * One datagram of "KEY=VALUE\n" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).  No
 * $NOTIFY_SOCKET: nothing to do, not an error.
 */
#ifndef SAGATE_SDNOTIFY_H
#define SAGATE_SDNOTIFY_H

/** Send msg ("READY=1", "RELOADING=1\nMONOTONIC_USEC=...", "STOPPING=1").
 *  1 sent, 0 no $NOTIFY_SOCKET, -1 with errno on failure. */
int sd_notify_send(const char *msg);

/** RELOADING=1 with the MONOTONIC_USEC systemd wants next to it. */
int sd_notify_reloading(void);

#endif
