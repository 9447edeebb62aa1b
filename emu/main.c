/*
 * main.c - the spark-emu command: options -> state (images) -> board -> the
 * chosen host adapters -> run. Every input is checked before anything stored
 * is touched.
 */
#include "boards/spark_core.h"
#include "host/host.h"
#include "machine.h"
#include "options.h"
#include "snapshot.h"
#include "state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_stats(struct machine *m, double wall)
{
    struct machine_stats *s = &m->stats;
    double virt = (double)m->sim.clock.now / (double)SIM_HZ;
    fprintf(stderr,
            "spark-emu: virtual %.6f s in %.3f s wall (%.1fx real time); %" PRIu64
            " exceptions, %" PRIu64 " tail-chains, %" PRIu64 " busy-wait skips, %" PRIu64
            " idle-loop skips (%" PRIu64 " timed), %.1f%% of time skipped, %" PRIu64
            " CPU slices\n",
            virt, wall, wall > 0 ? virt / wall : 0.0, s->exceptions, s->tail_chains, s->idle_skips, s->loop_skips, s->timed_searches,
            m->sim.clock.now ? 100.0 * (double)s->idle_cycles / (double)m->sim.clock.now : 0.0,
            s->emu_starts);
}

/*
 * What the machine is connected to. Adapters attach in this order, so events
 * they schedule for the same instant run in this order too.
 */
static const struct host_adapter *const adapters[] = {
    &host_uart,       /* USART lines to the trace and log, --uart-rx into Serial1 */
    &host_led_report, /* the LED summary: headless lines on stdout, the window's status */
    &host_vcd,        /* --vcd: the pins and the LED's PWM duty as a Value Change Dump */
    &host_window,     /* the SDL window, its clicks, --screenshot */
    &host_script,     /* --script: a scenario; before the USB adapters, whose need it may settle */
    &host_snapshots,  /* --snapshot-save, a scenario's snapshot save */
    &host_umockdev,   /* --usb umockdev: libusb programs see the device (also for --usb-host-cmd) */
    &host_usbip,      /* --usbip: the device over USB/IP */
    &host_net,        /* --net, --cloud: the CC3000's sockets on host sockets */
    &host_serial,     /* --serial: the firmware's USB CDC serial port on a pty, stdio or a file */
    &host_usb_cmd,    /* --usb-host-cmd: dfu-util, lsusb, particle against the USB device */
    &host_gdb,        /* --gdb: a debugger halts, steps and inspects the core (docs/gdb.md) */
};

int main(int argc, char **argv)
{
    struct options opt;
    char err[512] = "";
    int r = options_parse(argc, argv, &opt, err, sizeof err);
    if (r == 1) {
        options_usage(stdout);
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "spark-emu: %s\n", err);
        return EXIT_BAD_INPUT;
    }

    unsigned major, minor;
    unsigned v = uc_version(&major, &minor);
    if (opt.log_level > LOG_ERROR)
        fprintf(stderr, "spark-emu: Unicorn %u.%u.%u, Cortex-M3\n", major, minor, (v >> 8) & 0xFFu);

    struct state st;
    struct host host;
    FILE *trace = NULL;
    struct spark_core *board = NULL;
    bool host_created = false;
    int status = EXIT_BAD_INPUT;
    uint8_t *snapshot = NULL;
    size_t snapshot_len = 0;

    /* 1. every input, before anything stored is touched */
    if (state_check(&st, &opt, err, sizeof err))
        goto out;
    if (opt.snapshot_load) {
        uint64_t at = 0;
        if (snap_file_read(opt.snapshot_load, &snapshot, &snapshot_len, err, sizeof err))
            goto out;
        if (machine_snapshot_instant(snapshot, snapshot_len, &at)) {
            snprintf(err, sizeof err, "--snapshot-load %s: no instant in it (section POINT)", opt.snapshot_load);
            goto out;
        }
        for (int i = 0; i < opt.nsnapshot_saves; i++)
            if (opt.snapshot_saves[i].at < at) {
                snprintf(err, sizeof err, "--snapshot-save %s: %.6f s is before the loaded snapshot's instant (%.6f s)",
                         opt.snapshot_saves[i].path, (double)opt.snapshot_saves[i].at / SIM_HZ, (double)at / SIM_HZ);
                goto out;
            }
    }
    host_created = true;
    if (host_create(&host, &opt, adapters, (int)(sizeof adapters / sizeof adapters[0]), err, sizeof err))
        goto out;
    if (opt.trace && !(trace = fopen(opt.trace, "w"))) {
        snprintf(err, sizeof err, "%s: cannot write the trace: %s", opt.trace, strerror(errno));
        goto out;
    }

    /* 2. now the state may be created and changed */
    if (state_open(&st, err, sizeof err))
        goto out;

    /* 3. the board, its images, the host side */
    struct spark_core_config cfg = {&opt, state_internal_flash(&st), state_external_flash(&st), trace};
    bool start_firmware_directly = false;
    uint64_t snapshot_at = 0;
    if (spark_core_create(&board, &cfg, err, sizeof err))
        goto out;
    if (snapshot) {
        /* instead of programming images and a power-on: the machine as the snapshot has it */
        if (spark_core_snapshot_load(board, snapshot, snapshot_len, &opt, &snapshot_at, err, sizeof err))
            goto out;
    } else if (state_program(&st, spark_core_machine(board), &start_firmware_directly, err, sizeof err)) {
        goto out;
    }
    if (host_attach(&host, board, st.firmware_name, err, sizeof err))
        goto out;
    if (snapshot)
        spark_core_snapshot_announce(board);
    else
        spark_core_power_on(board, start_firmware_directly);

    struct machine *m = spark_core_machine(board);
    double t0 = wall_seconds();
    status = host_run(&host);
    double t1 = wall_seconds();
    if (opt.stats)
        print_stats(m, t1 - t0);
    err[0] = '\0';

out:
    if (err[0])
        fprintf(stderr, "spark-emu: %s\n", err);
    if (host_created)
        host_destroy(&host);
    if (board)
        spark_core_destroy(board);
    state_close(&st);
    if (trace)
        fclose(trace);
    options_free(&opt);
    free(snapshot);
    return status;
}
