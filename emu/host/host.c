/*
 * host.c - starts and stops the host adapters, runs the machine (on an
 * emulator thread when an adapter needs the main thread, as SDL does), and
 * carries the mailbox from other threads to the emulator thread (a machine
 * service: machine_kick wakes the emulator thread, which empties it).
 */
#include "host.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * SIGINT and SIGTERM end any run cleanly at the current virtual instant: the
 * trace is complete, the images are on disk, the umockdev testbed is gone.
 * The handler only sets flags the CPU loop and the pacing sleep poll.
 */
static struct machine *volatile signalled_machine;
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    struct machine *m = signalled_machine;
    stop_signal = sig;
    if (m) {
        __atomic_store_n(&m->exit_requested, true, __ATOMIC_RELEASE);
        __atomic_store_n(&m->sim.attention, true, __ATOMIC_RELEASE);
        __atomic_store_n(&m->kicked, 1, __ATOMIC_RELEASE);
    }
}

/* From host_create to host_destroy; a signal before the machine runs ends the run as soon as it starts. */
static void catch_stop_signals(bool on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_stop_signal : SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* machine service: runs on the emulator thread after a kick */
static void drain_mailbox(void *opaque)
{
    struct host *h = opaque;
    for (;;) {
        pthread_mutex_lock(&h->mailbox_lock);
        if (h->mailbox_count == 0) {
            pthread_mutex_unlock(&h->mailbox_lock);
            return;
        }
        struct host_message msg = h->mailbox[h->mailbox_head];
        h->mailbox_head = (h->mailbox_head + 1) % HOST_MAILBOX_SIZE;
        h->mailbox_count--;
        pthread_mutex_unlock(&h->mailbox_lock);
        msg.fn(h, msg.arg);
    }
}

int host_post(struct host *h, host_message_fn fn, void *arg)
{
    pthread_mutex_lock(&h->mailbox_lock);
    if (h->mailbox_count == HOST_MAILBOX_SIZE) {
        pthread_mutex_unlock(&h->mailbox_lock);
        return -1;
    }
    int tail = (h->mailbox_head + h->mailbox_count) % HOST_MAILBOX_SIZE;
    h->mailbox[tail].fn = fn;
    h->mailbox[tail].arg = arg;
    h->mailbox_count++;
    pthread_mutex_unlock(&h->mailbox_lock);
    machine_kick(h->m);
    return 0;
}

/* machine hook: every 10 ms of virtual time */
static void on_pace(struct machine *m)
{
    struct host *h = m->host;
    for (int i = 0; i < h->nadapters; i++)
        if (h->adapters[i].ops->pace)
            h->adapters[i].ops->pace(h, h->adapters[i].self);
}

/* machine hook: the guest can never wake by itself; input from another thread still may wake it */
static bool wait_for_input(struct machine *m)
{
    struct host *h = m->host;
    if (h->input_sources == 0)
        return false;
    on_pace(m);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return !m->exit_requested;
}

int host_create(struct host *h, const struct options *opt, const struct host_adapter *const *adapters, int n,
                char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    h->opt = opt;
    stop_signal = 0;
    signalled_machine = NULL;
    catch_stop_signals(true);
    h->run_for = opt->run_for;
    pthread_mutex_init(&h->mailbox_lock, NULL);
    for (int i = 0; i < n && i < HOST_MAX_ADAPTERS; i++) {
        struct host_slot *s = &h->adapters[h->nadapters];
        s->ops = adapters[i];
        if (s->ops->create && s->ops->create(h, &s->self, err, errlen))
            return -1;
        h->nadapters++;
    }
    return 0;
}

int host_attach(struct host *h, struct spark_core *board, const char *firmware_name, char *err, size_t errlen)
{
    h->board = board;
    h->m = spark_core_machine(board);
    h->firmware_name = firmware_name;
    for (int i = 0; i < h->nadapters; i++)
        if (h->adapters[i].ops->attach && h->adapters[i].ops->attach(h, h->adapters[i].self, err, errlen))
            return -1;
    h->m->host = h;
    /* a USB adapter means a cable to a computer; otherwise the Core sits on a charger */
    const struct options *o = h->opt;
    usb_host_plug(spark_core_usb_host(board),
                  o->nusb_host_cmds || o->usb_umockdev || o->usbip || o->serial || h->usb_cable);
    h->m->on_pace = on_pace;
    h->m->wait_for_input = wait_for_input;
    if (machine_add_service(h->m, drain_mailbox, h)) {
        snprintf(err, errlen, "too many emulator-thread services");
        return -1;
    }
    return 0;
}

static void run_ended(struct host *h)
{
    for (int i = 0; i < h->nadapters; i++)
        if (h->adapters[i].ops->ended)
            h->adapters[i].ops->ended(h, h->adapters[i].self);
}

static void stop_all(struct host *h)
{
    for (int i = 0; i < h->nadapters; i++)
        if (h->adapters[i].ops->stop)
            h->adapters[i].ops->stop(h, h->adapters[i].self);
}

static void *emulator_thread(void *opaque)
{
    struct host *h = opaque;
    h->run_status = machine_run(h->m, h->run_for);
    h->run_done = true;
    run_ended(h);
    return NULL;
}

int host_run(struct host *h)
{
    struct host_slot *main_taker = NULL;
    signalled_machine = h->m;
    if (stop_signal)
        on_stop_signal(stop_signal); /* it came while the host was being set up */
    for (int i = 0; i < h->nadapters; i++) {
        struct host_slot *s = &h->adapters[i];
        if (s->ops->start && s->ops->start(h, s->self) && !main_taker)
            main_taker = s;
    }
    pthread_t thread;
    if (main_taker && pthread_create(&thread, NULL, emulator_thread, h) != 0) {
        main_taker->ops->stop(h, main_taker->self);
        main_taker = NULL;
    }
    if (!main_taker) {
        h->run_status = machine_run(h->m, h->run_for);
        h->run_done = true;
        run_ended(h);
    } else {
        main_taker->ops->main_loop(h, main_taker->self);
        pthread_join(thread, NULL);
    }
    stop_all(h);
    signalled_machine = NULL;
    /* interrupted: as a shell reports it, except that Ctrl-C is how --usb umockdev's serve mode ends */
    if (stop_signal && !h->opt->usb_umockdev)
        return 128 + stop_signal;
    return h->run_status;
}

void host_destroy(struct host *h)
{
    catch_stop_signals(false);
    signalled_machine = NULL;
    for (int i = h->nadapters - 1; i >= 0; i--)
        if (h->adapters[i].ops->destroy)
            h->adapters[i].ops->destroy(h, h->adapters[i].self);
    h->nadapters = 0;
    pthread_mutex_destroy(&h->mailbox_lock);
}
