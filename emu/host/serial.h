/*
 * serial.h - the host's CDC ACM driver for the Core's USB serial port: what
 * Linux's cdc-acm driver and tty layer do, with the tty being a pty (the
 * user's terminal program opens the slave), stdin/stdout, or an output file.
 *
 * Opening the port (a process opening the pty slave; at once for stdio and a
 * file) sends SET_LINE_CODING with the slave's baud rate and raises DTR|RTS,
 * and starts reading; a later baud change on the slave (stty, a terminal
 * program, particle-cli's 14400 and 28800 triggers) sends SET_LINE_CODING
 * again; closing it drops DTR|RTS and stops reading. The pty outlives
 * detaches, as a USB serial port that comes back as the same tty.
 */
#ifndef EMU_HOST_SERIAL_H
#define EMU_HOST_SERIAL_H

#include "emu/machine.h"
#include "emu/options.h"
#include "emu/usb_host.h"

#include <stddef.h>

struct usb_serial;

/*
 * Emulator thread, before machine_run: observe `host`, register a service on
 * `m` and start the port's I/O thread. `kind` is SERIAL_PTY (a pty of our
 * own, its slave in raw mode at 9600; the umockdev bridge may show it as
 * /dev/ttyACM0), SERIAL_STDIO (stdin to the Core, the Core to stdout) or SERIAL_FILE (the
 * Core's output to `file`, truncated). Returns 0, or -1 with a message in err.
 */
int usb_serial_start(struct usb_serial **out, struct usb_host *host, struct machine *m, enum serial_kind kind,
                     const char *file, char *err, size_t errlen);

/* The pty slave's path ("/dev/pts/N"), or "" for stdio and a file. */
const char *usb_serial_path(const struct usb_serial *s);

/*
 * Main thread, after the last machine_run returned and before machine_free:
 * join the I/O thread, close what was opened and free. The host and the
 * machine must not run again (their observer and service still point here).
 */
void usb_serial_stop(struct usb_serial *s);

#endif
