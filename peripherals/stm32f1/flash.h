/*
 * flash.h - STM32F103 flash memory interface (FPEC) and option bytes
 * (RM0008 section 3 and the flash programming manual PM0075), registers at
 * 0x40022000; the main flash (128 KiB, 1 KiB pages) and the option bytes
 * (0x1FFFF800..0x1FFFF80F) are host buffers the CPU reads directly.
 *
 * Programming follows the NOR rules of the FPEC: only a half-word store with
 * FLASH_CR.PG = 1 programs; the location must read 0xFFFF (else PGERR, except
 * that 0x0000 may always be written); a write-protected page gives WRPRTERR
 * and is left alone. Any other store size with PG = 1 is a bus error.
 * The effect of a program/erase lands in the buffer when the operation starts,
 * because the CPU would be stalled on any flash access until it ends; BSY then
 * stays set for the datasheet time in virtual time, and EOP follows.
 */
#ifndef PERIPHERALS_STM32F1_FLASH_H
#define PERIPHERALS_STM32F1_FLASH_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_FLASH_IF_BASE 0x40022000u
#define STM32_FLASH_IF_SIZE 0x400u
#define STM32_FLASH_PAGE_SIZE 1024u
#define STM32_FLASH_PAGES (FLASH_SIZE / STM32_FLASH_PAGE_SIZE)
#define STM32_FLASH_PAGES_PER_WRP_BIT 4u /* medium density: one WRPR bit per 4 KiB */
#define STM32_OPTBYTES_SIZE 16u          /* 0x1FFFF800..0x1FFFF80F */

/* Register offsets */
#define FLASH_ACR 0x00u
#define FLASH_KEYR 0x04u
#define FLASH_OPTKEYR 0x08u
#define FLASH_SR 0x0Cu
#define FLASH_CR 0x10u
#define FLASH_AR 0x14u
#define FLASH_OBR 0x1Cu
#define FLASH_WRPR 0x20u

/* FLASH_ACR */
#define FLASH_ACR_LATENCY_MASK 0x7u
#define FLASH_ACR_HLFCYA (1u << 3)
#define FLASH_ACR_PRFTBE (1u << 4)
#define FLASH_ACR_PRFTBS (1u << 5)

/* Unlock keys (FLASH_KEYR and FLASH_OPTKEYR) */
#define FLASH_KEY1 0x45670123u
#define FLASH_KEY2 0xCDEF89ABu

/* FLASH_SR */
#define FLASH_SR_BSY (1u << 0)
#define FLASH_SR_PGERR (1u << 2)
#define FLASH_SR_WRPRTERR (1u << 4)
#define FLASH_SR_EOP (1u << 5)

/* FLASH_CR */
#define FLASH_CR_PG (1u << 0)
#define FLASH_CR_PER (1u << 1)
#define FLASH_CR_MER (1u << 2)
#define FLASH_CR_OPTPG (1u << 4)
#define FLASH_CR_OPTER (1u << 5)
#define FLASH_CR_STRT (1u << 6)
#define FLASH_CR_LOCK (1u << 7)
#define FLASH_CR_OPTWRE (1u << 9)
#define FLASH_CR_ERRIE (1u << 10)
#define FLASH_CR_EOPIE (1u << 12)

/* FLASH_OBR */
#define FLASH_OBR_OPTERR (1u << 0)
#define FLASH_OBR_RDPRT (1u << 1)
#define FLASH_OBR_USER_SHIFT 2
#define FLASH_OBR_WDG_SW (1u << 2)
#define FLASH_OBR_nRST_STOP (1u << 3)
#define FLASH_OBR_nRST_STDBY (1u << 4)
#define FLASH_OBR_DATA0_SHIFT 10
#define FLASH_OBR_DATA1_SHIFT 18

/* Option bytes: each byte is followed by its complement */
#define OB_RDP 0x0u
#define OB_USER 0x2u
#define OB_DATA0 0x4u
#define OB_DATA1 0x6u
#define OB_WRP0 0x8u /* WRP0..WRP3 at 0x8, 0xA, 0xC, 0xE */
#define OB_RDP_UNPROTECTED 0xA5u

/* Datasheet (STM32F103x8/B, table "Flash memory characteristics") */
#define STM32_FLASH_PROGRAM_CYCLES (SIM_US(52) + SIM_CYCLES_PER_US / 2) /* tPROG 52.5 us typ */
#define STM32_FLASH_PAGE_ERASE_CYCLES SIM_MS(20)                         /* tERASE 20 ms min */
#define STM32_FLASH_MASS_ERASE_CYCLES SIM_MS(20)                         /* tME 20 ms min */

enum stm32_flash_status {
    STM32_FLASH_OK = 0,
    STM32_FLASH_BUS_ERROR, /* the FPEC answers the store with a bus error (HardFault) */
};

struct stm32_flash {
    struct sim *sim;
    uint8_t *mem;      /* FLASH_SIZE bytes at FLASH_BASE (and aliased at 0) */
    uint8_t *opt;      /* STM32_OPTBYTES_SIZE bytes at OPTBYTES_BASE */

    uint32_t acr, sr, cr, ar;
    uint32_t obr, wrpr; /* loaded from the option bytes at each reset */

    int key_step, optkey_step;
    bool jammed;        /* a wrong key: FPEC locked until the next reset */

    struct event busy;  /* end of the operation in progress (BSY -> EOP) */

    /*
     * Outgoing connections.
     *   irq      FLASH global interrupt (NVIC 4): EOP & EOPIE, PGERR/WRPRTERR & ERRIE
     *   iwdg_hw  hardware watchdog selected (option byte WDG_SW = 0), to the IWDG
     */
    struct line irq;
    struct line iwdg_hw;
    bool irq_level, iwdg_hw_level;
};

/*
 * `flash`: the FLASH_SIZE main array (persistent; programs and erases go
 * straight into it). `optbytes`: the STM32_OPTBYTES_SIZE bytes the CPU reads
 * at 0x1FFFF800; init fills them with the Spark Core default (see
 * stm32_flash_default_option_bytes). `bus` (may be NULL): its flash_write is
 * pointed at this FPEC (for DMA, tools and tests).
 */
void stm32_flash_init(struct stm32_flash *f, struct sim *sim, struct bus *bus, uint8_t *flash,
                      uint8_t *optbytes);
void stm32_flash_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_flash_mmio;

/*
 * A CPU store to flash. Unicorn has ALREADY written `value` into the buffer
 * when this is called; `old` holds the `size` bytes that were there before
 * (little-endian). This puts the buffer back to `old` and then applies the
 * store as the FPEC would (program, error flag, or nothing). `offset` is
 * relative to the start of flash (alias at 0 or FLASH_BASE alike).
 * STM32_FLASH_BUS_ERROR: the CPU should take a BusFault for this store.
 */
enum stm32_flash_status stm32_flash_cpu_store(struct stm32_flash *f, uint32_t offset,
                                              uint32_t value, unsigned size, uint32_t old);
/* A store to flash that has not landed anywhere (DMA, tools: bus->flash_write). */
enum stm32_flash_status stm32_flash_store(struct stm32_flash *f, uint32_t offset, uint32_t value,
                                          unsigned size);
/*
 * A store to the option bytes (offset from 0x1FFFF800) that has not landed:
 * programs with FLASH_CR.OPTPG and OPTWRE, the complement written by hardware.
 */
enum stm32_flash_status stm32_flash_option_store(struct stm32_flash *f, uint32_t offset,
                                                 uint32_t value, unsigned size);

/* Spark Core option bytes: RDP off (0xA5), pages 0-15 write-protected (WRP0 = 0xF0). */
void stm32_flash_default_option_bytes(uint8_t opt[STM32_OPTBYTES_SIZE]);
/* Replace the option bytes (a persisted image); they are loaded at the next reset. */
void stm32_flash_set_option_bytes(struct stm32_flash *f, const uint8_t opt[STM32_OPTBYTES_SIZE]);

/* Whether page `page` (0..127) is protected against program/erase now. */
bool stm32_flash_page_protected(const struct stm32_flash *f, unsigned page);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_flash_save(const struct stm32_flash *d, struct snap_writer *w);
void stm32_flash_load(struct stm32_flash *d, struct snap_reader *r);

#endif
