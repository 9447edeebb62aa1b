/*
 * usb_cmd.c - --usb-host-cmd: run host programs (dfu-util, lsusb, particle)
 * against the emulated Core once its USB device has enumerated, with the
 * environment that lets them see it, and end the run with their status.
 *
 * Design decision: a command starts on the emulator thread when a device is
 * enumerated (at once if one already is), and a thread of its own waits for
 * it, so neither the emulator nor the child ever waits on the other; while a
 * command runs, time is paced against the wall clock, because the program
 * measures its time-outs on it. Commands run in order and the first failure
 * ends the sequence, as `sh -e` would.
 */
#include "usb_cmd.h"

#include "host.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define ENUMERATION_WAIT SIM_S(60) /* no device after this long: give up */

struct usb_cmd {
    struct machine *m;
    struct usb_host *host;
    const char *const *cmds;
    int ncmds, next;
    char **env;               /* environ plus the adapter's variables */
    uint64_t run_after;       /* --run-for after the last command, 0 = stop at once */
    struct host_program prog;
    int status;               /* the run's exit status so far */
    struct event give_up_event, end_event;
    bool done;
};

static void finish_run(struct usb_cmd *c, int status)
{
    c->done = true;
    c->status = status;
    if (c->run_after && status == 0) {
        event_schedule(&c->m->sim, &c->end_event, c->m->sim.clock.now + c->run_after);
        return;
    }
    c->m->exit_status = status;
    c->m->exit_requested = true;
    machine_request_stop(c->m);
}

static void end_of_run(struct sim *sim, void *opaque)
{
    struct usb_cmd *c = opaque;
    (void)sim;
    c->m->exit_status = c->status;
    c->m->exit_requested = true;
    machine_request_stop(c->m);
}

static void give_up(struct sim *sim, void *opaque)
{
    struct usb_cmd *c = opaque;
    if (c->prog.running || c->done)
        return;
    sim_log(sim, LOG_ERROR, "--usb-host-cmd: no USB device enumerated within %llu s of virtual time; not running '%s'",
            (unsigned long long)(ENUMERATION_WAIT / SIM_HZ), c->cmds[c->next]);
    finish_run(c, EXIT_USB_NO_DEVICE);
}

/* ---- one program, waited for on a thread of its own ---- */

static void *wait_child(void *opaque)
{
    struct host_program *p = opaque;
    int st = 0;
    while (waitpid(p->child, &st, 0) < 0 && errno == EINTR)
        ;
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    __atomic_store_n(&p->finished, 1, __ATOMIC_RELEASE);
    machine_kick(p->m);
    return NULL;
}

int host_program_start(struct host_program *p, struct machine *m, const char *cmd, char *const env[])
{
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    memset(p, 0, sizeof *p);
    p->m = m;
    int rc = posix_spawn(&p->child, "/bin/sh", NULL, NULL, argv, env);
    if (rc != 0)
        return rc;
    p->running = true;
    machine_hold_realtime(m, true);
    if (pthread_create(&p->waiter, NULL, wait_child, p) != 0) {
        /* cannot wait in the background: wait here, the emulator pauses meanwhile */
        wait_child(p);
    } else {
        p->waiter_started = true;
    }
    return 0;
}

bool host_program_reap(struct host_program *p, int *status)
{
    if (!p->running || !__atomic_load_n(&p->finished, __ATOMIC_ACQUIRE))
        return false;
    if (p->waiter_started)
        pthread_join(p->waiter, NULL);
    p->waiter_started = false;
    p->running = false;
    machine_hold_realtime(p->m, false);
    *status = p->status;
    return true;
}

void host_program_kill(struct host_program *p)
{
    if (!p->running)
        return;
    kill(p->child, SIGTERM);
    if (p->waiter_started)
        pthread_join(p->waiter, NULL);
    p->waiter_started = false;
    p->running = false;
    machine_hold_realtime(p->m, false);
}

/* ---- --usb-host-cmd ---- */

static void start_next(struct usb_cmd *c)
{
    if (c->prog.running || c->done || c->next >= c->ncmds || !usb_host_device(c->host))
        return;
    const char *cmd = c->cmds[c->next];
    sim_log(&c->m->sim, LOG_INFO, "--usb-host-cmd: running '%s'", cmd);
    int rc = host_program_start(&c->prog, c->m, cmd, c->env);
    if (rc != 0) {
        sim_log(&c->m->sim, LOG_ERROR, "--usb-host-cmd: cannot start /bin/sh: %s", strerror(rc));
        finish_run(c, 127);
        return;
    }
    event_cancel(&c->m->sim, &c->give_up_event);
}

/* Emulator thread, after every kick: a command may have ended. */
static void service(void *opaque)
{
    struct usb_cmd *c = opaque;
    int st;
    if (!host_program_reap(&c->prog, &st))
        return;
    sim_log(&c->m->sim, st ? LOG_WARN : LOG_INFO, "--usb-host-cmd: '%s' exited with status %d", c->cmds[c->next], st);
    c->next++;
    if (st != 0 || c->next == c->ncmds) {
        finish_run(c, st);
        return;
    }
    if (usb_host_device(c->host))
        start_next(c);
    else
        event_schedule(&c->m->sim, &c->give_up_event, c->m->sim.clock.now + ENUMERATION_WAIT);
}

static void attached(void *opaque, const struct usb_device_view *dev)
{
    (void)dev;
    start_next(opaque);
}

char **host_program_env(const char *const *extra)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (extra && extra[k])
        k++;
    char **env = calloc(n + k + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < k; j++) {
            const char *eq = strchr(extra[j], '=');
            size_t name = eq ? (size_t)(eq - extra[j]) + 1 : strlen(extra[j]);
            if (strncmp(environ[i], extra[j], name) == 0)
                replaced = true;
        }
        if (!replaced)
            env[o++] = environ[i];
    }
    for (size_t j = 0; j < k; j++)
        env[o++] = (char *)extra[j];
    env[o] = NULL;
    return env;
}

int usb_cmd_start(struct usb_cmd **out, struct machine *m, struct usb_host *host, const char *const *cmds, int ncmds,
                  const char *const *extra_env, uint64_t run_after, char *err, size_t errlen)
{
    struct usb_cmd *c = calloc(1, sizeof *c);
    if (!c || !(c->env = host_program_env(extra_env))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->m = m;
    c->host = host;
    c->cmds = cmds;
    c->ncmds = ncmds;
    c->run_after = run_after;
    event_init(&c->give_up_event, give_up, c, "--usb-host-cmd enumeration wait");
    event_init(&c->end_event, end_of_run, c, "--usb-host-cmd run-for");
    if (machine_add_service(m, service, c)) {
        snprintf(err, errlen, "too many host adapters");
        free(c->env);
        free(c);
        return -1;
    }
    struct usb_host_observer o = {attached, NULL, c};
    usb_host_observe(host, &o);
    event_schedule(&m->sim, &c->give_up_event, m->sim.clock.now + ENUMERATION_WAIT);
    *out = c;
    return 0;
}

/* ---- the host adapter ---- */

static int adapter_create(struct host *h, void **self, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    *self = NULL;
    if (h->opt->nusb_host_cmds)
        h->run_for = 0; /* --run-for counts from the end of the commands */
    return 0;
}

static int adapter_attach(struct host *h, void *self, char *err, size_t errlen)
{
    (void)self;
    if (!h->opt->nusb_host_cmds)
        return 0;
    struct usb_cmd *c;
    if (usb_cmd_start(&c, h->m, spark_core_usb_host(h->board), h->opt->usb_host_cmds, h->opt->nusb_host_cmds,
                      h->usb_env, h->opt->run_for, err, errlen))
        return -1;
    /* the adapter's state lives in its slot */
    for (int i = 0; i < h->nadapters; i++)
        if (h->adapters[i].ops == &host_usb_cmd)
            h->adapters[i].self = c;
    return 0;
}

/* The run ended under a command (a fault, the window closed): do not leave it behind. */
static void adapter_stop(struct host *h, void *self)
{
    (void)h;
    struct usb_cmd *c = self;
    if (c)
        host_program_kill(&c->prog);
}

static void adapter_destroy(struct host *h, void *self)
{
    struct usb_cmd *c = self;
    if (!c)
        return;
    adapter_stop(h, c);
    event_cancel(&c->m->sim, &c->give_up_event);
    event_cancel(&c->m->sim, &c->end_event);
    free(c->env);
    free(c);
}

const struct host_adapter host_usb_cmd = {
    .name = "usb-host-cmd",
    .create = adapter_create,
    .attach = adapter_attach,
    .stop = adapter_stop,
    .destroy = adapter_destroy,
};
