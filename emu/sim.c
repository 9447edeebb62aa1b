/*
 * sim.c - the shared simulation context: logging, warn-once, the JSON Lines
 * trace and reset requests.
 */
#include "sim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct warned {
    struct warned *next;
    const char *block;
    uint32_t offset;
    bool write;
};

void sim_init(struct sim *sim)
{
    memset(sim, 0, sizeof *sim);
    sim->clock.deadline = UINT64_MAX;
    sim->log_level = LOG_WARN;
    sim->log = stderr;
    sim->hclk.hz = (uint32_t)SIM_HZ;
    sim->hclk.step = 1ull << 32;
}

void sim_free(struct sim *sim)
{
    clock_free(&sim->clock);
    while (sim->warned) {
        struct warned *w = sim->warned;
        sim->warned = w->next;
        free(w);
    }
}

const char *reset_cause_name(enum reset_cause cause)
{
    switch (cause) {
    case RESET_POWER: return "power";
    case RESET_SOFTWARE: return "software";
    case RESET_IWDG: return "iwdg";
    case RESET_PIN: return "button";
    case RESET_STANDBY: return "standby";
    }
    return "unknown";
}

static const char *level_name[] = {"error", "warning", "info", "debug"};

void sim_log(struct sim *sim, enum log_level level, const char *fmt, ...)
{
    if (level > sim->log_level || !sim->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(sim->log, "spark-emu: [%10llu us] %s: ", (unsigned long long)sim_now_us(sim),
            level_name[level]);
    vfprintf(sim->log, fmt, ap);
    fputc('\n', sim->log);
    va_end(ap);
}

void sim_warn_once(struct sim *sim, const char *block, uint32_t offset, bool write,
                   const char *what)
{
    for (struct warned *w = sim->warned; w; w = w->next)
        if (w->offset == offset && w->write == write && strcmp(w->block, block) == 0)
            return;
    struct warned *w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->block = block;
    w->offset = offset;
    w->write = write;
    w->next = sim->warned;
    sim->warned = w;
    char pc[128] = "";
    if (sim->describe_pc)
        sim->describe_pc(sim, pc, sizeof pc);
    sim_log(sim, LOG_WARN, "%s %s at offset 0x%03x %s (pc %s)", write ? "write to" : "read of",
            block, (unsigned)offset, what ? what : "is not modelled", pc[0] ? pc : "?");
}

void sim_trace(struct sim *sim, const char *kind, const char *fields, ...)
{
    if (!sim->trace)
        return;
    fprintf(sim->trace, "{\"t_us\":%llu,\"kind\":\"%s\"", (unsigned long long)sim_now_us(sim),
            kind);
    if (fields && fields[0]) {
        va_list ap;
        va_start(ap, fields);
        fputc(',', sim->trace);
        vfprintf(sim->trace, fields, ap);
        va_end(ap);
    }
    fputs("}\n", sim->trace);
}

/* n * num / den without overflow for n up to 2^64 / SIM_HZ * den (num, den <= SIM_HZ) */
static uint64_t scale(uint64_t n, uint64_t num, uint64_t den, bool round_up)
{
    uint64_t q = n / den, r = n % den;
    return q * num + (r * num + (round_up ? den - 1 : 0)) / den;
}

void sim_set_hclk(struct sim *sim, uint32_t hz)
{
    if (hz == 0 || hz == sim->hclk.hz)
        return;
    struct core_clock *c = &sim->hclk;
    c->base_cycle = sim_hclk_cycles(sim, sim->clock.now);
    c->base_tick = sim->clock.now;
    c->hz = hz;
    c->step = (uint64_t)(((unsigned __int128)SIM_HZ << 32) / hz);
    c->frac = 0;
    if (sim->hclk_changed)
        sim->hclk_changed(sim);
}

uint64_t sim_hclk_cycles(const struct sim *sim, uint64_t t)
{
    const struct core_clock *c = &sim->hclk;
    if (t <= c->base_tick)
        return c->base_cycle;
    return c->base_cycle + scale(t - c->base_tick, c->hz, SIM_HZ, false);
}

uint64_t sim_hclk_tick_of(const struct sim *sim, uint64_t cycles)
{
    const struct core_clock *c = &sim->hclk;
    if (cycles <= c->base_cycle)
        return c->base_tick;
    return c->base_tick + scale(cycles - c->base_cycle, SIM_HZ, c->hz, true);
}

void sim_request_reset(struct sim *sim, enum reset_cause cause)
{
    if (!sim->reset_requested) {
        sim->reset_requested = true;
        sim->reset_cause = cause;
    }
    sim->attention = true;
}
