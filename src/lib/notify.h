/*
 * notify.h: readiness notification for service managers (systemd
 * Type=notify, s6 and others speaking the same datagram protocol),
 * without libsystemd.
 */
#ifndef IR_NOTIFY_H
#define IR_NOTIFY_H

#include "util.h"

/*
 * Sends state (e.g. "READY=1", "STOPPING=1") as one datagram to the unix
 * socket named by $NOTIFY_SOCKET: a path, or an abstract-namespace name
 * when it starts with '@'. Returns IR_OK when sent or when NOTIFY_SOCKET
 * is unset (nothing to notify), else IR_ESYS / IR_EINVAL with the reason.
 */
int ir_notify(const char *state, char *err);

#endif
