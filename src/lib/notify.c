/*
 * notify.c: the sd_notify(3) datagram protocol in a few lines: one
 * SOCK_DGRAM message to the unix socket in $NOTIFY_SOCKET. A leading '@'
 * names the abstract namespace (the '@' becomes a NUL byte and the address
 * length counts exactly the name, no trailing NUL).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

int
ir_notify(const char *state, char *err)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t n;
	ssize_t w;
	int fd;

	if (!path || !*path)
		return IR_OK;
	n = strlen(path);
	if (n >= sizeof sa.sun_path || n < 2)
		return ir_err(err, IR_EINVAL, "NOTIFY_SOCKET: bad address %s",
		    path);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	else if (path[0] != '/')
		return ir_err(err, IR_EINVAL,
		    "NOTIFY_SOCKET: neither a path nor @name: %s", path);
	salen = offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] == '@' ? 0 : 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ir_syserr(err, "NOTIFY_SOCKET: socket");
	w = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, salen);
	if (w < 0) {
		int r = ir_syserr(err, "NOTIFY_SOCKET: send to %s", path);

		close(fd);
		return r;
	}
	close(fd);
	return IR_OK;
}
