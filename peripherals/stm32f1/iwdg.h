/*
 * iwdg.h - STM32F103 independent watchdog (RM0008 section 19), at 0x40003000.
 *
 * A 12-bit down-counter clocked by the LSI (40 kHz) through a prescaler; the
 * counter is never ticked but derived from virtual time, and one event sits at
 * the moment it would reach 0, when the watchdog asks the machine for a reset
 * with cause RESET_IWDG (nothing else: the machine traces resets).
 */
#ifndef PERIPHERALS_STM32F1_IWDG_H
#define PERIPHERALS_STM32F1_IWDG_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_IWDG_BASE 0x40003000u
#define STM32_IWDG_SIZE 0x400u

#define IWDG_KR 0x00u
#define IWDG_PR 0x04u
#define IWDG_RLR 0x08u
#define IWDG_SR 0x0Cu

/* IWDG_KR keys */
#define IWDG_KR_RELOAD 0xAAAAu
#define IWDG_KR_ACCESS 0x5555u
#define IWDG_KR_START 0xCCCCu

#define IWDG_PR_MASK 0x7u     /* divider 4 << PR, /256 for PR >= 6 */
#define IWDG_RLR_MASK 0xFFFu
#define IWDG_RLR_RESET 0xFFFu
#define IWDG_SR_PVU (1u << 0)
#define IWDG_SR_RVU (1u << 1)

struct stm32_iwdg {
    struct sim *sim;
    uint32_t pr, rlr, sr;
    bool access;   /* 0x5555 written: PR and RLR writable */
    bool running;  /* started; only a reset stops it */
    bool hardware; /* option byte WDG_SW = 0: starts by itself after every reset */

    uint32_t counter; /* counter value at `anchor` */
    uint64_t anchor;  /* cycle of the last load */

    struct event expire;
    struct event pvu_done, rvu_done;

    /* Outgoing: the IWDG forces the LSI on while it runs (to RCC). */
    struct line lsi_request;
    bool lsi_level;
};

void stm32_iwdg_init(struct stm32_iwdg *iwdg, struct sim *sim);
void stm32_iwdg_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_iwdg_mmio;

/* Incoming: hardware watchdog option (FLASH_OBR.WDG_SW = 0), wire flash.iwdg_hw here. */
void stm32_iwdg_hw_mode_in(void *opaque, int n, bool level);

/* The current down-counter value (a debugger's or a test's view; not a register). */
uint32_t stm32_iwdg_counter(const struct stm32_iwdg *iwdg);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_iwdg_save(const struct stm32_iwdg *d, struct snap_writer *w);
void stm32_iwdg_load(struct stm32_iwdg *d, struct snap_reader *r);

#endif
