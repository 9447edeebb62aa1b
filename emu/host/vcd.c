/*
 * vcd.c - --vcd FILE: the board's pins as a Value Change Dump (IEEE 1364
 * section 18) that GTKWave, PulseView and sigrok-cli open. The pins are named
 * as on the board (D0-D7, A0-A7, MODE, the chip selects, USB_PULLUP; see
 * spark_core_signals), one-bit wires; the RGB LED's channels are real
 * variables holding the fraction of each PWM period they are lit, so a 1 kHz
 * PWM is one value per duty change, not two edges a millisecond.
 *
 * Design decision: changes are collected per virtual instant and written when
 * time moves on, only where the value differs from what the file already
 * says: a firmware that sets a colour channel by channel, or a pin that
 * glitches and returns within one instant, writes one change or none.
 * Time is in nanoseconds of virtual time.
 */
#include "host.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VCD_MAX_SIGNALS 64
#define VCD_FIRST_ID '!' /* identifier codes are printable ASCII from '!' on */

struct vcd {
    struct host *h;
    FILE *f;
    const char *path;
    const struct spark_core_signal *signals;
    int nsignals;
    double value[VCD_MAX_SIGNALS];   /* latest, for the pending instant */
    double written[VCD_MAX_SIGNALS]; /* what the file says; NAN = x (not yet known) */
    uint64_t pending_ns;
    bool pending, dumped;
};

static uint64_t cycles_to_ns(uint64_t cycles)
{
    return cycles / SIM_HZ * 1000000000ull + cycles % SIM_HZ * 1000000000ull / SIM_HZ;
}

static void write_value(struct vcd *v, int i, double value)
{
    char id = (char)(VCD_FIRST_ID + i);
    if (isnan(value))
        fprintf(v->f, v->signals[i].pwm ? "r0 %c\n" : "x%c\n", id); /* a real has no x: dark */
    else if (v->signals[i].pwm)
        fprintf(v->f, "r%.6g %c\n", value, id);
    else
        fprintf(v->f, "%d%c\n", value != 0.0, id);
}

static void write_header(struct vcd *v)
{
    fprintf(v->f, "$version spark-emu $end\n");
    fprintf(v->f, "$comment Spark Core pins by board name (levels); LED_R/G/B: the fraction of each PWM period "
                  "the channel is lit $end\n");
    fprintf(v->f, "$timescale 1ns $end\n$scope module spark_core $end\n");
    for (int i = 0; i < v->nsignals; i++)
        fprintf(v->f, "$var %s %d %c %s $end\n", v->signals[i].pwm ? "real" : "wire", v->signals[i].pwm ? 64 : 1,
                VCD_FIRST_ID + i, v->signals[i].name);
    fprintf(v->f, "$upscope $end\n$enddefinitions $end\n");
}

/* Write the pending instant's changes (the first one opens with $dumpvars at #0). */
static void flush(struct vcd *v)
{
    if (!v->pending)
        return;
    v->pending = false;
    if (!v->dumped) {
        v->dumped = true;
        bool at_zero = v->pending_ns == 0;
        fprintf(v->f, "#0\n$dumpvars\n");
        for (int i = 0; i < v->nsignals; i++) {
            double initial = at_zero ? v->value[i] : NAN;
            write_value(v, i, initial);
            v->written[i] = initial;
        }
        fprintf(v->f, "$end\n");
        if (at_zero)
            return;
    }
    bool stamped = false;
    for (int i = 0; i < v->nsignals; i++) {
        bool same = isnan(v->value[i]) ? isnan(v->written[i]) : v->value[i] == v->written[i];
        if (same)
            continue;
        if (!stamped) {
            fprintf(v->f, "#%llu\n", (unsigned long long)v->pending_ns);
            stamped = true;
        }
        write_value(v, i, v->value[i]);
        v->written[i] = v->value[i];
    }
}

static void signal_changed(void *opaque, int signal, double value)
{
    struct vcd *v = opaque;
    if (signal < 0 || signal >= v->nsignals)
        return;
    uint64_t now = cycles_to_ns(v->h->m->sim.clock.now);
    if (v->pending && now != v->pending_ns)
        flush(v);
    v->pending = true;
    v->pending_ns = now;
    v->value[signal] = value;
}

static int vcd_create(struct host *h, void **self, char *err, size_t errlen)
{
    *self = NULL;
    if (!h->opt->vcd)
        return 0;
    struct vcd *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    v->h = h;
    v->path = h->opt->vcd;
    v->signals = spark_core_signals(&v->nsignals);
    if (v->nsignals > VCD_MAX_SIGNALS)
        v->nsignals = VCD_MAX_SIGNALS;
    v->f = fopen(v->path, "w");
    if (!v->f) {
        snprintf(err, errlen, "--vcd %s: cannot write the file: %s", v->path, strerror(errno));
        free(v);
        return -1;
    }
    for (int i = 0; i < v->nsignals; i++)
        v->value[i] = v->written[i] = NAN;
    *self = v;
    return 0;
}

static int vcd_attach(struct host *h, void *self, char *err, size_t errlen)
{
    struct vcd *v = self;
    (void)err;
    (void)errlen;
    if (!v)
        return 0;
    write_header(v);
    spark_core_set_signal_observer(h->board, signal_changed, v);
    return 0;
}

/* The last instant, and a final time stamp so viewers show how long the last values lasted. */
static void vcd_ended(struct host *h, void *self)
{
    struct vcd *v = self;
    if (!v)
        return;
    uint64_t now = cycles_to_ns(h->m->sim.clock.now);
    flush(v);
    if (!v->dumped) {
        v->pending = true; /* nothing ever changed: still a complete file */
        v->pending_ns = 0;
        flush(v);
    }
    fprintf(v->f, "#%llu\n", (unsigned long long)now);
    fflush(v->f);
}

static void vcd_destroy(struct host *h, void *self)
{
    struct vcd *v = self;
    if (!v)
        return;
    if (h->board)
        spark_core_set_signal_observer(h->board, NULL, NULL);
    if (ferror(v->f) | fclose(v->f))
        fprintf(stderr, "spark-emu: --vcd %s: the file could not be written completely\n", v->path);
    free(v);
}

const struct host_adapter host_vcd = {
    .name = "vcd",
    .create = vcd_create,
    .attach = vcd_attach,
    .ended = vcd_ended,
    .destroy = vcd_destroy,
};
