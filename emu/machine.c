/*
 * machine.c - one Cortex-M3 system: memories, reset, the run loop (slices,
 * sleep, lockup), pacing against the wall clock, and diagnostics.
 *
 * Design decision: the run loop owns "what happens between slices"; time
 * advances inside slices (block hook) or, while the core sleeps, by jumping
 * straight to the next event. Pacing only ever delays the host, so a trace is
 * the same at any --speed.
 */
#include "machine.h"
#include "debug.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PACE_INTERVAL SIM_MS(10)
#define PACE_INTERVAL_LIVE SIM_MS(1) /* while a live client holds real time: little lead over the wall */
#define LOCKUP_WATCHDOG_HORIZON SIM_S(30)

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *describe_pc(struct sim *sim, char *buf, size_t len)
{
    struct machine *m = sim->machine;
    if (!m->uc)
        return NULL;
    uint32_t pc = cpu_pc(m);
    char sym[96];
    const char *s = machine_symbolize(m, pc, sym, sizeof sym);
    snprintf(buf, len, "0x%08x%s%s%s", pc, s ? " (" : "", s ? s : "", s ? ")" : "");
    return buf;
}

static void invalidate_code(struct sim *sim, uint32_t addr, uint32_t len)
{
    cpu_invalidate(sim->machine, addr, len);
}

static void hclk_changed(struct sim *sim)
{
    struct machine *m = sim->machine;
    nvic_hclk_changed(&m->nvic);
}

static void run_end(struct sim *sim, void *opaque)
{
    struct machine *m = opaque;
    m->run_ended = true;
    m->stop_requested = true;
    sim->attention = true;
}

/* Sleep until the wall clock reaches `target_ns`, or until another thread kicks. */
static void sleep_until(struct machine *m, uint64_t target_ns)
{
    struct timespec ts = {(time_t)(target_ns / 1000000000ull), (long)(target_ns % 1000000000ull)};
    pthread_mutex_lock(&m->wake_lock);
    while (!__atomic_load_n(&m->kicked, __ATOMIC_ACQUIRE) && wall_ns() < target_ns)
        if (pthread_cond_timedwait(&m->wake_cond, &m->wake_lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&m->wake_lock);
}

static void pace(struct sim *sim, void *opaque)
{
    struct machine *m = opaque;
    bool live = __atomic_load_n(&m->realtime_holds, __ATOMIC_ACQUIRE) > 0;
    bool paced = live || m->pacing != PACE_MAX;
    double factor = live || m->pacing == PACE_REALTIME ? 1.0 : m->speed;
    uint64_t now = wall_ns();
    if (paced && live != m->pace_was_realtime) {
        /* a live client came or went: measure from here */
        m->pace_wall_start_ns = now;
        m->pace_virt_start = sim->clock.now;
    }
    m->pace_was_realtime = live;
    if (paced) {
        uint64_t virt_ns = (sim->clock.now - m->pace_virt_start) * 1000ull / SIM_CYCLES_PER_US;
        uint64_t target = m->pace_wall_start_ns + (uint64_t)((double)virt_ns / factor);
        if (target > now + 1000000ull * 200) {
            /* far ahead (e.g. after a long stall of the host): re-anchor instead of sleeping long */
            m->pace_wall_start_ns = now;
            m->pace_virt_start = sim->clock.now;
        } else if (target > now) {
            sleep_until(m, target);
        }
    }
    if (m->on_pace)
        m->on_pace(m);
    machine_run_services(m);
    event_schedule(sim, &m->pace_event, m->pace_event.when + (live ? PACE_INTERVAL_LIVE : PACE_INTERVAL));
}

void machine_kick(struct machine *m)
{
    __atomic_store_n(&m->kicked, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&m->sim.attention, true, __ATOMIC_RELEASE);
    pthread_mutex_lock(&m->wake_lock);
    pthread_cond_broadcast(&m->wake_cond);
    pthread_mutex_unlock(&m->wake_lock);
}

int machine_add_service(struct machine *m, void (*fn)(void *opaque), void *opaque)
{
    if (m->nservices == MACHINE_MAX_SERVICES)
        return -1;
    m->services[m->nservices].fn = fn;
    m->services[m->nservices].opaque = opaque;
    m->nservices++;
    return 0;
}

void machine_run_services_now(struct machine *m)
{
    __atomic_store_n(&m->kicked, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < m->nservices; i++)
        m->services[i].fn(m->services[i].opaque);
}

void machine_hold_realtime(struct machine *m, bool hold)
{
    __atomic_add_fetch(&m->realtime_holds, hold ? 1 : -1, __ATOMIC_ACQ_REL);
    machine_kick(m);
}

int machine_init(struct machine *m, const struct machine_config *cfg, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    sim_init(&m->sim);
    m->sim.machine = m;
    m->sim.describe_pc = describe_pc;
    m->sim.invalidate_code = invalidate_code;
    m->sim.hclk_changed = hclk_changed;
    m->sim.trace = cfg->trace;
    m->sim.log_level = cfg->log_level;
    m->pacing = cfg->pacing;
    m->speed = cfg->speed > 0 ? cfg->speed : 1.0;
    m->run_until = UINT64_MAX;

    /* Memories: host buffers, 4 KiB aligned as uc_mem_map_ptr wants. */
    if (cfg->flash) {
        m->flash = cfg->flash;
        m->flash_is_mapped_file = cfg->flash_is_mapped_file;
    } else {
        m->flash = aligned_alloc(4096, FLASH_SIZE);
        if (m->flash)
            memset(m->flash, 0xFF, FLASH_SIZE);
    }
    m->sram = aligned_alloc(4096, 32 * 1024);
    m->sysmem = aligned_alloc(4096, 4096);
    if (!m->flash || !m->sram || !m->sysmem) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(m->sram, 0, 32 * 1024);
    memset(m->sysmem, 0xFF, 4096);
    /* system memory: the ST boot loader ROM is not modelled; the flash size (KiB) and UID are */
    memset(m->sysmem, 0, SYSMEM_SIZE);
    m->sysmem[FLASHSIZE_ADDR - SYSMEM_BASE] = (uint8_t)(FLASH_SIZE / 1024);
    m->sysmem[FLASHSIZE_ADDR - SYSMEM_BASE + 1] = (uint8_t)((FLASH_SIZE / 1024) >> 8);
    memcpy(m->sysmem + (UID_ADDR - SYSMEM_BASE), cfg->uid, 12);

    bus_init(&m->bus, &m->sim, m->flash, m->sram, m->sysmem);
    nvic_init(&m->nvic, &m->sim);
    if (bus_map(&m->bus, 0xE000E000u, 0x1000, &nvic_scs_mmio, &m->nvic) ||
        bus_map(&m->bus, 0xE0001000u, 0x1000, &nvic_dwt_mmio, &m->nvic)) {
        snprintf(err, errlen, "cannot map the System Control Space");
        return -1;
    }
    event_init(&m->run_end_event, run_end, m, "run-for");
    event_init(&m->pace_event, pace, m, "pacing");
    pthread_mutex_init(&m->wake_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (cpu_open(m, err, errlen))
        return -1;
    return 0;
}

void machine_free(struct machine *m)
{
    semihost_close_all(m);
    cpu_close(m);
    if (!m->flash_is_mapped_file)
        free(m->flash);
    free(m->sram);
    free(m->sysmem);
    for (int i = 0; i < m->nimages; i++)
        image_free(&m->images[i]);
    sim_free(&m->sim);
    pthread_mutex_destroy(&m->wake_lock);
    pthread_cond_destroy(&m->wake_cond);
}

void machine_add_periph(struct machine *m, const char *name, void *dev,
                        void (*reset)(void *dev, enum reset_cause cause))
{
    if (m->nperiphs == MACHINE_MAX_PERIPHS)
        abort(); /* a wiring bug, not a user error */
    m->periphs[m->nperiphs].name = name;
    m->periphs[m->nperiphs].dev = dev;
    m->periphs[m->nperiphs].reset = reset;
    m->nperiphs++;
}

int machine_map(struct machine *m, uint32_t base, uint32_t size, const struct mmio_ops *ops,
                void *opaque)
{
    return bus_map(&m->bus, base, size, ops, opaque);
}

int machine_load_image(struct machine *m, struct image *img, char *err, size_t errlen)
{
    static const struct mem_region regions[] = {
        {"flash", FLASH_BASE, FLASH_SIZE},
        {"SRAM", SRAM_BASE, SRAM_SIZE},
    };
    if (image_check_fit(img, regions, 2, err, errlen))
        return -1;
    for (int i = 0; i < m->nimages; i++)
        if (image_check_overlap(&m->images[i], img, err, errlen))
            return -1;
    if (m->nimages == MACHINE_MAX_IMAGES) {
        snprintf(err, errlen, "%s: too many images (at most %d)", img->path, MACHINE_MAX_IMAGES);
        return -1;
    }
    for (int i = 0; i < img->nsegments; i++) {
        struct image_segment *s = &img->segments[i];
        uint8_t *dst = s->addr >= SRAM_BASE ? m->sram + (s->addr - SRAM_BASE)
                                            : m->flash + (s->addr - FLASH_BASE);
        memcpy(dst, s->data, s->size);
        cpu_invalidate(m, s->addr, s->size);
        if (s->addr < SRAM_BASE)
            cpu_invalidate(m, s->addr - FLASH_BASE, s->size);
    }
    m->images[m->nimages++] = *img;
    memset(img, 0, sizeof *img);
    return 0;
}

void machine_reset(struct machine *m, enum reset_cause cause)
{
    struct sim *sim = &m->sim;
    sim->reset_requested = false;
    sim_trace(sim, "reset", "\"cause\":\"%s\"", reset_cause_name(cause));
    if (cause == RESET_POWER || cause == RESET_STANDBY)
        memset(m->sram, 0, SRAM_SIZE); /* SRAM is powered off in Standby too */
    nvic_reset(&m->nvic);
    for (int i = 0; i < m->nperiphs; i++)
        if (m->periphs[i].reset)
            m->periphs[i].reset(m->periphs[i].dev, cause);
    m->sleeping = m->sleep_on_exit = m->locked_up = m->idle_forever = false;
    m->sleep_kind = SLEEP_NORMAL;
    m->event_register = false;
    m->npending_stores = 0;
    /* Boot from main flash (BOOT0 = 0): the vector table is read through the alias at 0. */
    uint32_t sp, pc;
    memcpy(&sp, m->flash, 4);
    memcpy(&pc, m->flash + 4, 4);
    cpu_reset_core(m, sp, pc);
    if (m->on_reset)
        m->on_reset(m, cause);
    sim->attention = true;
}

void machine_jump_to(struct machine *m, uint32_t vector_table)
{
    uint32_t sp = 0, pc = 0;
    bus_read(&m->bus, vector_table, 4, &sp);
    bus_read(&m->bus, vector_table + 4, 4, &pc);
    cpu_reset_core(m, sp, pc);
}

void machine_enter_sleep(struct machine *m)
{
    m->sleep_kind = SLEEP_NORMAL;
    if ((m->nvic.scr & SCB_SCR_SLEEPDEEP) && m->deep_sleep_kind)
        m->sleep_kind = m->deep_sleep_kind(m);
    if (m->sleep_kind == SLEEP_STOP)
        nvic_systick_pause(&m->nvic, true); /* HCLK stops: so does SysTick */
    if (m->sleep_kind != SLEEP_NORMAL)
        sim_log(&m->sim, LOG_DEBUG, "entering %s mode", m->sleep_kind == SLEEP_STOP ? "Stop" : "Standby");
}

static bool sleep_wakes(struct machine *m)
{
    switch (m->sleep_kind) {
    case SLEEP_NORMAL:
        return exc_wfi_wakeup(m, ~0ull) || (m->sleep_is_wfe && machine_event_register(m));
    case SLEEP_STOP:
        return exc_wfi_wakeup(m, m->stop_wake_mask);
    case SLEEP_STANDBY:
        return false; /* only a reset (wake-up, IWDG, NRST) ends Standby */
    }
    return false;
}

void machine_request_stop(struct machine *m)
{
    m->stop_requested = true;
    m->sim.attention = true;
}

const char *machine_symbolize(struct machine *m, uint32_t addr, char *buf, size_t len)
{
    for (int i = 0; i < m->nimages; i++) {
        uint32_t off;
        const char *name = image_symbolize(&m->images[i], addr, &off);
        if (!name && addr < FLASH_SIZE)
            name = image_symbolize(&m->images[i], addr + FLASH_BASE, &off);
        if (name) {
            if (off)
                snprintf(buf, len, "%s+0x%x", name, off);
            else
                snprintf(buf, len, "%s", name);
            return buf;
        }
    }
    return NULL;
}

void machine_report_fault(struct machine *m, const char *what, uint32_t pc)
{
    char sym[128];
    const char *s = machine_symbolize(m, pc, sym, sizeof sym);
    struct nvic *n = &m->nvic;
    sim_log(&m->sim, LOG_ERROR,
            "lockup: %s at pc 0x%08x%s%s%s; CFSR 0x%08x HFSR 0x%08x BFAR 0x%08x MMFAR 0x%08x", what,
            pc, s ? " (" : "", s ? s : "", s ? ")" : "", n->cfsr, n->hfsr, n->bfar, n->mmfar);
    sim_trace(&m->sim, "fault", "\"pc\":%u,\"what\":\"lockup: %s\"", pc, what);
}

/* Advance time while the core sleeps or is locked up. Returns false if nothing can ever happen. */
static bool idle_until_event(struct machine *m)
{
    struct sim *sim = &m->sim;
    if (sim->clock.deadline == UINT64_MAX)
        return false;
    if (sim->clock.deadline >= m->snap_at) {
        /* the jump reaches a snapshot's instant: take it first; a loaded one redoes this loop turn */
        m->snap_at = UINT64_MAX;
        m->snap_pc = 1u; /* between slices: the PC is the CPU's */
        if (m->snap_take)
            m->snap_take(m, SNAP_AT_LOOP);
    }
    if (sim->clock.deadline > sim->clock.now) {
        m->stats.idle_cycles += sim->clock.deadline - sim->clock.now;
        sim->clock.now = sim->clock.deadline;
    }
    sim->time_frozen = false;
    clock_run_due(sim);
    m->ff_gen++;
    m->probe_wanted = true;
    m->watch_moves = 0;
    return true;
}

int machine_run(struct machine *m, uint64_t run_for)
{
    struct sim *sim = &m->sim;
    if (run_for) {
        /* after a loaded snapshot, from the instant it was taken for */
        m->run_until = (m->run_origin != UINT64_MAX ? m->run_origin : sim->clock.now) + run_for;
        event_schedule(sim, &m->run_end_event, m->run_until);
    }
    /* paced or not, the pacing tick also serves the front ends and live clients */
    m->pace_wall_start_ns = wall_ns();
    m->pace_virt_start = sim->clock.now;
    m->pace_was_realtime = false;
    if (!event_pending(&m->pace_event)) /* a loaded snapshot keeps its pacing tick, an event like any other */
        event_schedule(sim, &m->pace_event, sim->clock.now + PACE_INTERVAL);

    while (!m->exit_requested) {
        if (m->resume_in_slice)
            goto slice; /* a snapshot taken inside a slice goes on there */
        m->stop_requested = false;
        machine_run_services(m);
        if (m->run_ended)
            break;
        if (m->debug && debug_hold(m))
            continue; /* halted for the debugger: time stands still */
        if (sim->reset_requested) {
            machine_reset(m, sim->reset_cause);
            continue;
        }
        if (m->sleep_on_exit) {
            m->sleep_on_exit = false;
            m->sleeping = true;
            m->sleep_is_wfe = false;
        }
        if (m->held_in_reset) {
            if (!idle_until_event(m) && !(m->wait_for_input && m->wait_for_input(m)))
                break; /* held in reset, and nothing will ever release it */
            continue;
        }
        if (m->locked_up || m->sleeping || m->idle_forever) {
            if (m->sleeping && !m->locked_up && sleep_wakes(m)) {
                if (m->sleep_kind == SLEEP_STOP)
                    nvic_systick_pause(&m->nvic, false);
                m->sleeping = false;
                if (m->sleep_is_wfe)
                    m->event_register = false; /* the WFE consumed the event that woke it */
                m->sleep_kind = SLEEP_NORMAL;
                continue;
            }
            if (m->idle_forever && sim->clock.deadline != UINT64_MAX) {
                m->idle_forever = false;
                continue;
            }
            if (!idle_until_event(m)) {
                if (m->wait_for_input && m->wait_for_input(m))
                    continue;
                sim_log(sim, LOG_WARN, "the guest %s and nothing is scheduled that could wake it; stopping",
                        m->locked_up ? "is locked up" : "waits forever");
                m->exit_status = m->locked_up ? EXIT_LOCKUP : 0;
                break;
            }
            /*
             * Locked up with no end of run: a running IWDG resets the chip within
             * its longest timeout (4096 * 256 / 40 kHz = 26.2 s), and with a window
             * the RESET button can; otherwise nothing ever will.
             */
            if (m->locked_up && !run_for && !m->sim.reset_requested &&
                sim->clock.now - m->locked_up_at > LOCKUP_WATCHDOG_HORIZON &&
                !(m->wait_for_input && m->wait_for_input(m))) {
                m->exit_status = EXIT_LOCKUP;
                break;
            }
            continue;
        }
    slice:
        if (cpu_run_slice(m) < 0) {
            m->exit_status = EXIT_EMULATOR_ERROR;
            break;
        }
    }
    event_cancel(sim, &m->run_end_event);
    event_cancel(sim, &m->pace_event);
    /* a run that ends with the core still locked up says so, whatever --timeout-status says */
    if (m->locked_up && !m->exit_requested)
        return EXIT_LOCKUP;
    if (m->run_ended && !m->exit_requested)
        return m->timeout_status;
    return m->exit_status;
}
