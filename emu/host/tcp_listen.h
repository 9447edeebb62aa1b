/*
 * tcp_listen.h - a listening TCP socket for the host adapters that serve a
 * protocol (--usbip, --gdb): ADDR and PORT as the user gave them, the first
 * address that works, non-blocking and close-on-exec.
 */
#ifndef EMU_HOST_TCP_LISTEN_H
#define EMU_HOST_TCP_LISTEN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Listen on addr:port (port "0": a free one) with `backlog`. Returns the
 * socket and sets *bound_port to the port it got; on failure returns -1 with
 * "WHO: cannot use address ..." or "WHO: cannot listen on ADDR:PORT: reason"
 * in err, WHO being the option as the user wrote it.
 */
int tcp_listen(const char *who, const char *addr, const char *port, int backlog, uint16_t *bound_port, char *err,
               size_t errlen);

#endif
