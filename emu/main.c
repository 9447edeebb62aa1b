/*
 * main.c - the spark-emu command: parse the options, check every input before
 * anything stored is touched, build the board, power on, run.
 */
#include "boards/spark_core.h"
#include "machine.h"
#include "options.h"

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

    struct spark_core *board = NULL;
    if (spark_core_create(&board, &opt, err, sizeof err)) {
        fprintf(stderr, "spark-emu: %s\n", err);
        options_free(&opt);
        return EXIT_BAD_INPUT;
    }
    struct machine *m = spark_core_machine(board);
    double t0 = wall_seconds();
    int status = spark_core_run(board);
    double t1 = wall_seconds();
    if (opt.stats)
        print_stats(m, t1 - t0);
    spark_core_destroy(board);
    options_free(&opt);
    return status;
}
