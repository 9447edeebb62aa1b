/*
 * usb_cmd.h - --usb-host-cmd: host programs run against the emulated USB
 * device once it has enumerated (see usb_cmd.c).
 */
#ifndef EMU_HOST_USB_CMD_H
#define EMU_HOST_USB_CMD_H

#include "emu/machine.h"
#include "emu/usb_host.h"

#define EXIT_USB_NO_DEVICE 6 /* --usb-host-cmd: the device never enumerated */

struct usb_cmd;

/*
 * Run `cmds` (sh -c each, in order) with the environment plus `extra_env`
 * ("NAME=value" strings, NULL-terminated); the run then ends with the first
 * failing status, or after `run_after` more cycles with status 0.
 */
int usb_cmd_start(struct usb_cmd **out, struct machine *m, struct usb_host *host, const char *const *cmds, int ncmds,
                  const char *const *extra_env, uint64_t run_after, char *err, size_t errlen);

#endif
