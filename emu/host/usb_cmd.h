/*
 * usb_cmd.h - --usb-host-cmd: host programs run against the emulated USB
 * device once it has enumerated (see usb_cmd.c).
 */
#ifndef EMU_HOST_USB_CMD_H
#define EMU_HOST_USB_CMD_H

#include "emu/machine.h"
#include "emu/usb_host.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#define EXIT_USB_NO_DEVICE 6 /* --usb-host-cmd: the device never enumerated */

struct usb_cmd;

/*
 * One host program (sh -c CMD) run against the emulated Core: a thread of its
 * own waits for it and kicks the emulator thread, which reaps it; time is
 * paced in real time while it runs. --usb-host-cmd and a script's run steps
 * (script.c) both use it.
 */
struct host_program {
    struct machine *m;
    pid_t child;
    bool running;
    pthread_t waiter;
    bool waiter_started;
    int volatile finished; /* set by the waiter thread */
    int volatile status;
};
/* Start cmd with env (NULL-terminated); 0, or an errno value from posix_spawn. */
int host_program_start(struct host_program *p, struct machine *m, const char *cmd, char *const env[]);
/* Emulator thread (a machine service): true once the program has ended, with its exit status. */
bool host_program_reap(struct host_program *p, int *status);
/* Stop it (SIGTERM) and wait for it, if it runs. */
void host_program_kill(struct host_program *p);
/* environ plus "NAME=value" strings that replace variables of the same name; free() the array only. */
char **host_program_env(const char *const *extra);

/*
 * Run `cmds` (sh -c each, in order) with the environment plus `extra_env`
 * ("NAME=value" strings, NULL-terminated); the run then ends with the first
 * failing status, or after `run_after` more cycles with status 0.
 */
int usb_cmd_start(struct usb_cmd **out, struct machine *m, struct usb_host *host, const char *const *cmds, int ncmds,
                  const char *const *extra_env, uint64_t run_after, char *err, size_t errlen);

#endif
