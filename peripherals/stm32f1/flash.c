/*
 * flash.c - STM32F103 flash memory interface (FPEC) and option bytes
 * (RM0008 section 3, PM0075).
 *
 * Design decision: an operation changes the buffer when it starts and only
 * its status (BSY, then EOP) runs in virtual time. Code running from the
 * flash stalls until BSY clears, as on the chip: the CPU loop charges that
 * wait before the next block fetched from the flash (sim.fetch_stall_until),
 * so a BSY polling loop there costs no host time. A new operation that
 * arrives while BSY is still set (from code in SRAM) completes the pending
 * one first: the CPU would stall on that access until BSY cleared, which this
 * model cannot do from inside a store, so that stall collapses to zero time.
 * The option bytes are reloaded into FLASH_OBR/FLASH_WRPR at every reset,
 * never when they are programmed (RM0008: the new values take effect after
 * the next reset).
 */
#include "flash.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define FLASH_ACR_RESET (FLASH_ACR_PRFTBE | FLASH_ACR_PRFTBS)
#define FLASH_ACR_WRITABLE (FLASH_ACR_LATENCY_MASK | FLASH_ACR_HLFCYA | FLASH_ACR_PRFTBE)
#define FLASH_CR_MODES (FLASH_CR_PG | FLASH_CR_PER | FLASH_CR_MER | FLASH_CR_OPTPG | \
                        FLASH_CR_OPTER | FLASH_CR_ERRIE | FLASH_CR_EOPIE)
#define FLASH_SR_W1C (FLASH_SR_PGERR | FLASH_SR_WRPRTERR | FLASH_SR_EOP)
#define FLASH_SR_ERRORS (FLASH_SR_PGERR | FLASH_SR_WRPRTERR)
#define FLASH_ERASED_HALF 0xFFFFu
#define FLASH_ZERO_HALF 0x0000u
#define OB_PAIRS (STM32_OPTBYTES_SIZE / 2u)
#define OB_WRP_COUNT 4u
#define OB_BYTE_ERASED 0xFFu
#define RDP_PROTECTED_PAGES 4u /* read protection also write-protects the first 4 KiB */

enum key_step { KEY_NONE = 0, KEY_FIRST };

/* ---- helpers -------------------------------------------------------------- */

static uint16_t half_at(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void put_half(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void flash_update_irq(struct stm32_flash *f, bool force)
{
    bool level = ((f->sr & FLASH_SR_EOP) && (f->cr & FLASH_CR_EOPIE)) ||
                 ((f->sr & FLASH_SR_ERRORS) && (f->cr & FLASH_CR_ERRIE));
    if (level != f->irq_level || force) {
        f->irq_level = level;
        line_set(&f->irq, level);
    }
}

static void flash_error(struct stm32_flash *f, uint32_t flag)
{
    f->sr |= flag;
    flash_update_irq(f, false);
}

/* The buffer changed: tell the CPU's translation cache, both aliases. */
static void flash_changed(struct stm32_flash *f, const char *op, uint32_t offset, uint32_t len)
{
    sim_invalidate_code(f->sim, FLASH_BASE + offset, len);
    sim_invalidate_code(f->sim, offset, len);
    sim_trace(f->sim, "flash", "\"op\":\"%s\",\"dev\":\"internal\",\"addr\":%u,\"len\":%u", op,
              (unsigned)(FLASH_BASE + offset), (unsigned)len);
}

/* ---- option bytes --------------------------------------------------------- */

void stm32_flash_default_option_bytes(uint8_t opt[STM32_OPTBYTES_SIZE])
{
    static const uint8_t value[OB_PAIRS] = {
        OB_RDP_UNPROTECTED, /* RDP */
        0xFF,               /* USER: software watchdog, no reset on Stop/Standby */
        0xFF, 0xFF,         /* Data0, Data1 */
        0xF0,               /* WRP0: bits 0-3 clear = pages 0-15 (the bootloader) protected */
        0xFF, 0xFF, 0xFF,   /* WRP1..WRP3 */
    };
    for (unsigned i = 0; i < OB_PAIRS; i++) {
        opt[2 * i] = value[i];
        opt[2 * i + 1] = (uint8_t)~value[i];
    }
}

/* The option byte loader: what OBR and WRPR show after a reset. */
static void flash_load_option_bytes(struct stm32_flash *f)
{
    bool opterr = false;
    uint8_t byte[OB_PAIRS];
    for (unsigned i = 0; i < OB_PAIRS; i++) {
        uint8_t v = f->opt[2 * i], nv = f->opt[2 * i + 1];
        if ((uint8_t)(v ^ nv) != 0xFFu) {
            opterr = true;
            v = OB_BYTE_ERASED; /* a byte that fails its complement reads as 0xFF */
        }
        byte[i] = v;
    }
    bool rdprt = !(f->opt[OB_RDP] == OB_RDP_UNPROTECTED &&
                   f->opt[OB_RDP + 1] == (uint8_t)~OB_RDP_UNPROTECTED);
    f->obr = (opterr ? FLASH_OBR_OPTERR : 0) | (rdprt ? FLASH_OBR_RDPRT : 0) |
             ((uint32_t)byte[OB_USER / 2] << FLASH_OBR_USER_SHIFT) |
             ((uint32_t)byte[OB_DATA0 / 2] << FLASH_OBR_DATA0_SHIFT) |
             ((uint32_t)byte[OB_DATA1 / 2] << FLASH_OBR_DATA1_SHIFT);
    f->wrpr = 0;
    for (unsigned k = 0; k < OB_WRP_COUNT; k++)
        f->wrpr |= (uint32_t)byte[OB_WRP0 / 2 + k] << (8 * k);
}

void stm32_flash_set_option_bytes(struct stm32_flash *f, const uint8_t opt[STM32_OPTBYTES_SIZE])
{
    memcpy(f->opt, opt, STM32_OPTBYTES_SIZE);
}

bool stm32_flash_page_protected(const struct stm32_flash *f, unsigned page)
{
    if (page >= STM32_FLASH_PAGES)
        return true;
    if ((f->obr & FLASH_OBR_RDPRT) && page < RDP_PROTECTED_PAGES)
        return true;
    return !(f->wrpr & (1u << (page / STM32_FLASH_PAGES_PER_WRP_BIT)));
}

/* ---- operations ----------------------------------------------------------- */

static void flash_end_operation(struct stm32_flash *f)
{
    f->sim->fetch_stall_until = 0;
    f->sr = (f->sr & ~FLASH_SR_BSY) | FLASH_SR_EOP;
    f->cr &= ~FLASH_CR_STRT;
    flash_update_irq(f, false);
}

static void flash_busy_event(struct sim *sim, void *opaque)
{
    (void)sim;
    flash_end_operation(opaque);
}

/* A new operation: let the one in progress finish first (the CPU would stall). */
static void flash_wait_idle(struct stm32_flash *f)
{
    if (event_pending(&f->busy)) {
        event_cancel(f->sim, &f->busy);
        flash_end_operation(f);
    }
}

static void flash_begin(struct stm32_flash *f, uint64_t duration)
{
    f->sr |= FLASH_SR_BSY;
    event_schedule_in(f->sim, &f->busy, duration);
    f->sim->fetch_stall_until = f->busy.when;
    f->sim->attention = true;
}

static void flash_erase_page(struct stm32_flash *f)
{
    uint32_t ar = f->ar;
    uint32_t offset;
    if (ar - FLASH_BASE < FLASH_SIZE)
        offset = ar - FLASH_BASE;
    else if (ar < FLASH_SIZE)
        offset = ar;
    else {
        sim_warn_once(f->sim, "FLASH", FLASH_AR, true,
                      "holds an address outside the main flash at page erase (nothing erased)");
        f->cr &= ~FLASH_CR_STRT;
        return;
    }
    unsigned page = offset / STM32_FLASH_PAGE_SIZE;
    if (stm32_flash_page_protected(f, page)) {
        f->cr &= ~FLASH_CR_STRT;
        flash_error(f, FLASH_SR_WRPRTERR);
        return;
    }
    uint32_t start = page * STM32_FLASH_PAGE_SIZE;
    memset(f->mem + start, 0xFF, STM32_FLASH_PAGE_SIZE);
    flash_changed(f, "erase", start, STM32_FLASH_PAGE_SIZE);
    flash_begin(f, STM32_FLASH_PAGE_ERASE_CYCLES);
}

static void flash_erase_all(struct stm32_flash *f)
{
    memset(f->mem, 0xFF, FLASH_SIZE);
    flash_changed(f, "erase", 0, FLASH_SIZE);
}

static void flash_mass_erase(struct stm32_flash *f)
{
    if (f->wrpr != 0xFFFFFFFFu) {
        /* Any write-protected page refuses the whole mass erase. */
        f->cr &= ~FLASH_CR_STRT;
        flash_error(f, FLASH_SR_WRPRTERR);
        return;
    }
    flash_erase_all(f);
    flash_begin(f, STM32_FLASH_MASS_ERASE_CYCLES);
}

static void flash_option_erase(struct stm32_flash *f)
{
    /*
     * Leaving read protection goes through this erase: the FPEC wipes the
     * main flash first, so protected code can never be read back out.
     */
    if (f->obr & FLASH_OBR_RDPRT)
        flash_erase_all(f);
    memset(f->opt, 0xFF, STM32_OPTBYTES_SIZE);
    sim_trace(f->sim, "flash", "\"op\":\"erase\",\"dev\":\"option\",\"addr\":%u,\"len\":%u",
              (unsigned)OPTBYTES_BASE, (unsigned)STM32_OPTBYTES_SIZE);
    flash_begin(f, STM32_FLASH_PAGE_ERASE_CYCLES);
}

static void flash_start(struct stm32_flash *f)
{
    flash_wait_idle(f);
    f->cr |= FLASH_CR_STRT;
    if (f->cr & FLASH_CR_OPTER) {
        if (f->cr & FLASH_CR_OPTWRE)
            flash_option_erase(f);
        else
            f->cr &= ~FLASH_CR_STRT;
    } else if (f->cr & FLASH_CR_MER) {
        flash_mass_erase(f);
    } else if (f->cr & FLASH_CR_PER) {
        flash_erase_page(f);
    } else {
        f->cr &= ~FLASH_CR_STRT; /* nothing selected to erase */
    }
}

enum stm32_flash_status stm32_flash_store(struct stm32_flash *f, uint32_t offset, uint32_t value,
                                          unsigned size)
{
    offset &= FLASH_SIZE - 1;
    if (!(f->cr & FLASH_CR_PG) || (f->cr & FLASH_CR_LOCK)) {
        sim_warn_once(f->sim, "FLASH", FLASH_CR, false,
                      "has PG clear during a store to flash (store ignored)");
        return STM32_FLASH_OK;
    }
    if (size != 2 || (offset & 1u))
        return STM32_FLASH_BUS_ERROR; /* the FPEC programs half-words only */
    flash_wait_idle(f);
    f->ar = FLASH_BASE + offset;
    if (stm32_flash_page_protected(f, offset / STM32_FLASH_PAGE_SIZE)) {
        flash_error(f, FLASH_SR_WRPRTERR);
        return STM32_FLASH_OK;
    }
    uint16_t half = (uint16_t)value;
    if (half_at(f->mem + offset) != FLASH_ERASED_HALF && half != FLASH_ZERO_HALF) {
        flash_error(f, FLASH_SR_PGERR);
        return STM32_FLASH_OK;
    }
    put_half(f->mem + offset, half);
    flash_changed(f, "program", offset, 2);
    flash_begin(f, STM32_FLASH_PROGRAM_CYCLES);
    return STM32_FLASH_OK;
}

enum stm32_flash_status stm32_flash_cpu_store(struct stm32_flash *f, uint32_t offset,
                                              uint32_t value, unsigned size, uint32_t old)
{
    offset &= FLASH_SIZE - 1;
    if (size > 4 || offset + size > FLASH_SIZE)
        return STM32_FLASH_BUS_ERROR;
    for (unsigned i = 0; i < size; i++)
        f->mem[offset + i] = (uint8_t)(old >> (8 * i));
    return stm32_flash_store(f, offset, value, size);
}

enum stm32_flash_status stm32_flash_option_store(struct stm32_flash *f, uint32_t offset,
                                                 uint32_t value, unsigned size)
{
    if (!(f->cr & FLASH_CR_OPTPG) || !(f->cr & FLASH_CR_OPTWRE) || (f->cr & FLASH_CR_LOCK))
        return STM32_FLASH_OK;
    if (size != 2 || (offset & 1u) || offset >= STM32_OPTBYTES_SIZE)
        return STM32_FLASH_BUS_ERROR;
    flash_wait_idle(f);
    if (half_at(f->opt + offset) != FLASH_ERASED_HALF) {
        flash_error(f, FLASH_SR_PGERR);
        return STM32_FLASH_OK;
    }
    uint8_t byte = (uint8_t)value; /* the FPEC writes the complement itself */
    put_half(f->opt + offset, (uint16_t)(byte | ((uint8_t)~byte << 8)));
    sim_trace(f->sim, "flash", "\"op\":\"program\",\"dev\":\"option\",\"addr\":%u,\"len\":2",
              (unsigned)(OPTBYTES_BASE + offset));
    flash_begin(f, STM32_FLASH_PROGRAM_CYCLES);
    return STM32_FLASH_OK;
}

static void flash_bus_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_flash *f = opaque;
    if (stm32_flash_store(f, offset, value, size) != STM32_FLASH_OK)
        sim_log(f->sim, LOG_WARN, "flash: %u-byte store at 0x%08x rejected by the FPEC (bus error)",
                size, (unsigned)(FLASH_BASE + offset));
}

/* ---- registers ------------------------------------------------------------ */

static uint32_t flash_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_flash *f = opaque;
    uint32_t v;
    switch (offset & ~3u) {
    case FLASH_ACR: v = f->acr; break;
    case FLASH_KEYR:
    case FLASH_OPTKEYR: v = 0; break; /* write-only */
    case FLASH_SR: v = f->sr; break;
    case FLASH_CR: v = f->cr; break;
    case FLASH_AR: v = f->ar; break;
    case FLASH_OBR: v = f->obr; break;
    case FLASH_WRPR: v = f->wrpr; break;
    default:
        sim_warn_once(f->sim, "FLASH", offset, false, NULL);
        return 0;
    }
    return lane_read(v, offset, size);
}

static void flash_write_key(struct stm32_flash *f, uint32_t key)
{
    if (f->jammed || !(f->cr & FLASH_CR_LOCK))
        return;
    if (f->key_step == KEY_NONE && key == FLASH_KEY1) {
        f->key_step = KEY_FIRST;
    } else if (f->key_step == KEY_FIRST && key == FLASH_KEY2) {
        f->key_step = KEY_NONE;
        f->cr &= ~FLASH_CR_LOCK;
    } else {
        f->jammed = true; /* RM0008: a wrong sequence locks the FPEC until the next reset */
        f->key_step = KEY_NONE;
    }
}

static void flash_write_optkey(struct stm32_flash *f, uint32_t key)
{
    if (f->cr & FLASH_CR_LOCK)
        return; /* the FPEC itself must be unlocked first */
    if (f->optkey_step == KEY_NONE && key == FLASH_KEY1) {
        f->optkey_step = KEY_FIRST;
    } else if (f->optkey_step == KEY_FIRST && key == FLASH_KEY2) {
        f->optkey_step = KEY_NONE;
        f->cr |= FLASH_CR_OPTWRE;
    } else {
        f->optkey_step = KEY_NONE;
    }
}

static void flash_write_cr(struct stm32_flash *f, const struct lane_write *w)
{
    if (f->cr & FLASH_CR_LOCK)
        return;
    uint32_t v = lane_merge(f->cr, w);
    bool start = (v & FLASH_CR_STRT) && !(f->cr & FLASH_CR_STRT);
    f->cr = (f->cr & ~FLASH_CR_MODES) | (v & FLASH_CR_MODES);
    if ((w->mask & FLASH_CR_OPTWRE) && !(v & FLASH_CR_OPTWRE))
        f->cr &= ~FLASH_CR_OPTWRE; /* software can only clear it */
    if (start)
        flash_start(f);
    if (v & FLASH_CR_LOCK) {
        f->cr |= FLASH_CR_LOCK;
        f->key_step = KEY_NONE;
    }
    flash_update_irq(f, false);
}

static void flash_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_flash *f = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    switch (w.reg) {
    case FLASH_ACR: {
        uint32_t v = lane_merge(f->acr, &w) & FLASH_ACR_WRITABLE;
        f->acr = v | ((v & FLASH_ACR_PRFTBE) ? FLASH_ACR_PRFTBS : 0);
        break;
    }
    case FLASH_KEYR: flash_write_key(f, w.value); break;
    case FLASH_OPTKEYR: flash_write_optkey(f, w.value); break;
    case FLASH_SR:
        f->sr &= ~(w.value & FLASH_SR_W1C);
        flash_update_irq(f, false);
        break;
    case FLASH_CR: flash_write_cr(f, &w); break;
    case FLASH_AR:
        if (!(f->sr & FLASH_SR_BSY)) /* blocked while BSY */
            f->ar = lane_merge(f->ar, &w);
        break;
    case FLASH_OBR:
    case FLASH_WRPR: break; /* read-only */
    default: sim_warn_once(f->sim, "FLASH", offset, true, NULL); break;
    }
}

const struct mmio_ops stm32_flash_mmio = {
    .name = "FLASH",
    .read = flash_read,
    .write = flash_write,
};

/* ---- life cycle ----------------------------------------------------------- */

void stm32_flash_reset(void *dev, enum reset_cause cause)
{
    struct stm32_flash *f = dev;
    event_cancel(f->sim, &f->busy); /* its effect is already in the array */
    f->sim->fetch_stall_until = 0;
    f->acr = FLASH_ACR_RESET;
    f->sr = 0;
    f->cr = FLASH_CR_LOCK;
    f->ar = 0;
    f->key_step = KEY_NONE;
    f->optkey_step = KEY_NONE;
    f->jammed = false;
    flash_load_option_bytes(f);
    bool force = cause == RESET_POWER;
    flash_update_irq(f, force);
    bool hw_watchdog = !(f->obr & FLASH_OBR_WDG_SW);
    if (hw_watchdog != f->iwdg_hw_level || force) {
        f->iwdg_hw_level = hw_watchdog;
        line_set(&f->iwdg_hw, hw_watchdog);
    }
}

void stm32_flash_init(struct stm32_flash *f, struct sim *sim, struct bus *bus, uint8_t *flash,
                      uint8_t *optbytes)
{
    memset(f, 0, sizeof *f);
    f->sim = sim;
    f->mem = flash;
    f->opt = optbytes;
    event_init(&f->busy, flash_busy_event, f, "flash-busy");
    stm32_flash_default_option_bytes(optbytes);
    if (bus) {
        bus->flash_write = flash_bus_write;
        bus->flash_write_opaque = f;
    }
    stm32_flash_reset(f, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void flash_fields(struct stm32_flash *d, struct snap_io *io)
{
    snap_io_u32(io, &d->acr);
    snap_io_u32(io, &d->sr);
    snap_io_u32(io, &d->cr);
    snap_io_u32(io, &d->ar);
    snap_io_u32(io, &d->obr);
    snap_io_u32(io, &d->wrpr);
    snap_io_int(io, &d->key_step);
    snap_io_int(io, &d->optkey_step);
    snap_io_bool(io, &d->jammed);
    snap_io_event(io, &d->busy);
    snap_io_bool(io, &d->irq_level);
    snap_io_bool(io, &d->iwdg_hw_level);
}

SNAP_DEFINE_PAIR(stm32_flash, struct stm32_flash, flash_fields)
