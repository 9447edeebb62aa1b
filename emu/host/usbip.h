/*
 * usbip.h - a USB/IP server (--usbip [ADDR:]PORT) that exports the device on
 * the virtual USB host's port as busid "1-1", so that on a desktop
 * `sudo modprobe vhci-hcd && sudo usbip attach -r 127.0.0.1 -b 1-1` makes the
 * emulated Core a real USB device, and `usbip list -r 127.0.0.1` lists it.
 *
 * Design decision: the server has one thread of its own that does all socket
 * I/O. The emulator thread only enters the server through URB completions,
 * host observer calls and usbip_server_service(), each of which takes the
 * server's lock briefly, queues and wakes the server thread: a slow or
 * hostile client can never block the emulator.
 */
#ifndef EMU_HOST_USBIP_H
#define EMU_HOST_USBIP_H

#include "emu/machine.h"
#include "emu/usb_host.h"

#include <stddef.h>
#include <stdint.h>

#define USBIP_DEFAULT_ADDR "127.0.0.1"
#define USBIP_DEFAULT_PORT 3240

struct usbip_server;

/*
 * Parse `addr_port` ("PORT", "ADDR:PORT" or "[IPv6]:PORT"; NULL or "" for
 * 127.0.0.1:3240; port 0 picks a free one), listen, observe `host` and start
 * the server thread. `m` (may be NULL in tests) is kicked for port resets and
 * holds real-time pacing while a client has imported the device; when not
 * NULL, usbip_server_service is registered as one of its services.
 * Call on the emulator thread before machine_run. Returns 0, or -1 with a
 * message naming the option in `err`.
 */
int usbip_server_start(struct usbip_server **out, struct usb_host *host, struct machine *m,
                       const char *addr_port, char *err, size_t errlen);
/*
 * Stop the thread, close every connection and free the server. Call once the
 * emulator thread no longer services the host (machine_run returned) and
 * before usb_host_free: the host keeps the server as an observer and may
 * still hold URBs of its.
 */
void usbip_server_stop(struct usbip_server *s);
/* Emulator thread: carry out what clients asked of the host itself (a port reset). */
void usbip_server_service(void *server);
/* The TCP port the server listens on (useful with port 0). */
uint16_t usbip_server_port(const struct usbip_server *s);

#endif
