/*
 * gpio.c - one STM32F103 GPIO port (RM0008 section 9.2).
 *
 * Design decision: the port keeps no per-pin "pin state" of its own; after
 * every change (a register write, a board drive, an alternate-function level,
 * a reset) it re-resolves all sixteen pins from the configuration and the
 * drivers (see gpio.h) and tells the outgoing lines only about bits that
 * changed. Board drives are wires, not registers: a chip reset keeps them.
 */
#include "gpio.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define GPIO_PIN_FIELD_BITS 4u
#define GPIO_PINS_PER_CR 8

/* Steps of the LCKR key sequence: write 1, write 0, write 1, read 0, read 1. */
enum lock_step {
    LOCK_IDLE = 0,
    LOCK_WROTE_1,
    LOCK_WROTE_0,
    LOCK_WROTE_1_AGAIN, /* the next read of LCKR (returning LCKK = 0) activates the lock */
};

static unsigned pin_config(const struct stm32_gpio *gpio, int pin)
{
    uint32_t cr = pin < GPIO_PINS_PER_CR ? gpio->crl : gpio->crh;
    return (cr >> ((unsigned)(pin % GPIO_PINS_PER_CR) * GPIO_PIN_FIELD_BITS)) & 0xFu;
}

/* Resolve one pin: returns its level and sets *idr to its input data bit. */
static bool pin_resolve(const struct stm32_gpio *gpio, int pin, bool *idr)
{
    unsigned cfg = pin_config(gpio, pin);
    unsigned mode = cfg & GPIO_MODE_MASK;
    unsigned cnf = (cfg & GPIO_CNF_MASK) >> GPIO_CNF_SHIFT;
    uint16_t bit = (uint16_t)(1u << pin);
    bool ext = (gpio->ext_driven & bit) != 0;
    bool ext_level = (gpio->ext_level & bit) != 0;
    bool level;

    if (mode != 0) {
        bool drive = (cnf & GPIO_CNF_OUT_AF) ? (gpio->af_level & bit) : (gpio->odr & bit);
        if (!(cnf & GPIO_CNF_OUT_OD) || !drive)
            level = drive;             /* push-pull, or open-drain pulling low */
        else
            level = ext && ext_level;  /* open-drain released: no internal pull */
        *idr = level;
        return level;
    }
    if (ext)
        level = ext_level;
    else if (cnf == GPIO_CNF_IN_PULL)
        level = (gpio->odr & bit) != 0; /* ODR selects pull-up (1) or pull-down (0) */
    else
        level = false;
    *idr = cnf != GPIO_CNF_IN_ANALOG && level;
    return level;
}

static void gpio_update(struct stm32_gpio *gpio, bool force)
{
    uint16_t pins = 0, idr = 0;
    for (int pin = 0; pin < STM32_GPIO_PINS; pin++) {
        bool in;
        if (pin_resolve(gpio, pin, &in))
            pins |= (uint16_t)(1u << pin);
        if (in)
            idr |= (uint16_t)(1u << pin);
    }
    uint16_t out_changed = force ? 0xFFFFu : (uint16_t)(pins ^ gpio->out_state);
    uint16_t idr_changed = force ? 0xFFFFu : (uint16_t)(idr ^ gpio->idr_state);
    gpio->out_state = pins;
    gpio->idr_state = idr;
    for (int pin = 0; pin < STM32_GPIO_PINS; pin++) {
        if (out_changed & (1u << pin))
            line_set(&gpio->out[pin], (pins >> pin) & 1u);
        if (idr_changed & (1u << pin))
            line_set(&gpio->level[pin], (idr >> pin) & 1u);
    }
}

/* A CR write leaves the fields of locked pins alone. */
static uint32_t cr_apply_lock(const struct stm32_gpio *gpio, int first_pin, uint32_t old,
                              uint32_t v)
{
    if (!gpio->lckk)
        return v;
    for (int i = 0; i < GPIO_PINS_PER_CR; i++) {
        if (gpio->lck & (1u << (first_pin + i))) {
            uint32_t field = 0xFu << ((unsigned)i * GPIO_PIN_FIELD_BITS);
            v = (v & ~field) | (old & field);
        }
    }
    return v;
}

static void lckr_write(struct stm32_gpio *gpio, uint32_t v)
{
    if (gpio->lckk)
        return; /* locked until the next reset */
    uint16_t lck = (uint16_t)(v & GPIO_LCKR_LCK_MASK);
    bool key = (v & GPIO_LCKR_LCKK) != 0;
    bool same = lck == gpio->lock_key;
    gpio->lck = lck;
    switch (gpio->lock_step) {
    case LOCK_WROTE_1:
        if (!key && same) {
            gpio->lock_step = LOCK_WROTE_0;
            return;
        }
        break;
    case LOCK_WROTE_0:
        if (key && same) {
            gpio->lock_step = LOCK_WROTE_1_AGAIN;
            return;
        }
        break;
    default:
        break;
    }
    /* Anything else aborts the sequence; a write of 1 may start a new one. */
    gpio->lock_step = key ? LOCK_WROTE_1 : LOCK_IDLE;
    gpio->lock_key = lck;
}

static uint32_t lckr_read(struct stm32_gpio *gpio)
{
    uint32_t v = gpio->lck | (gpio->lckk ? GPIO_LCKR_LCKK : 0);
    if (gpio->lock_step == LOCK_WROTE_1_AGAIN) {
        /* "Read 0": this read returns LCKK = 0 and completes the sequence. */
        gpio->lckk = true;
        gpio->lock_step = LOCK_IDLE;
    }
    return v;
}

static uint32_t gpio_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_gpio *gpio = opaque;
    uint32_t v;
    switch (offset & ~3u) {
    case GPIO_CRL: v = gpio->crl; break;
    case GPIO_CRH: v = gpio->crh; break;
    case GPIO_IDR: v = gpio->idr_state; break;
    case GPIO_ODR: v = gpio->odr; break;
    case GPIO_BSRR:
    case GPIO_BRR: v = 0; break; /* write-only */
    case GPIO_LCKR:
        sim_note_volatile_read(gpio->sim); /* the read is a step of the lock sequence */
        v = lckr_read(gpio);
        break;
    default:
        sim_warn_once(gpio->sim, gpio->name, offset, false, NULL);
        return 0;
    }
    return lane_read(v, offset, size);
}

static void gpio_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_gpio *gpio = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    if (gpio->held_in_reset)
        return;
    switch (w.reg) {
    case GPIO_CRL: gpio->crl = cr_apply_lock(gpio, 0, gpio->crl, lane_merge(gpio->crl, &w)); break;
    case GPIO_CRH:
        gpio->crh = cr_apply_lock(gpio, GPIO_PINS_PER_CR, gpio->crh, lane_merge(gpio->crh, &w));
        break;
    case GPIO_IDR: return; /* read-only */
    case GPIO_ODR: gpio->odr = (uint16_t)lane_merge(gpio->odr, &w); break;
    case GPIO_BSRR: {
        uint16_t set = (uint16_t)w.value, reset = (uint16_t)(w.value >> 16);
        gpio->odr = (uint16_t)((gpio->odr & ~reset) | set); /* BSx wins over BRx */
        break;
    }
    case GPIO_BRR: gpio->odr &= (uint16_t)~w.value; break;
    case GPIO_LCKR:
        lckr_write(gpio, lane_merge(gpio->lck | (gpio->lckk ? GPIO_LCKR_LCKK : 0), &w));
        return;
    default:
        sim_warn_once(gpio->sim, gpio->name, offset, true, NULL);
        return;
    }
    gpio_update(gpio, false);
}

const struct mmio_ops stm32_gpio_mmio = {
    .name = "GPIO",
    .read = gpio_read,
    .write = gpio_write,
};

static bool pin_valid(int pin)
{
    return pin >= 0 && pin < STM32_GPIO_PINS;
}

void stm32_gpio_pin_in(void *opaque, int pin, bool level)
{
    struct stm32_gpio *gpio = opaque;
    if (!pin_valid(pin))
        return;
    uint16_t bit = (uint16_t)(1u << pin);
    gpio->ext_driven |= bit;
    gpio->ext_level = level ? (uint16_t)(gpio->ext_level | bit) : (uint16_t)(gpio->ext_level & ~bit);
    gpio_update(gpio, false);
}

void stm32_gpio_pin_release(struct stm32_gpio *gpio, int pin)
{
    if (!pin_valid(pin))
        return;
    gpio->ext_driven &= (uint16_t)~(1u << pin);
    gpio_update(gpio, false);
}

void stm32_gpio_af_in(void *opaque, int pin, bool level)
{
    struct stm32_gpio *gpio = opaque;
    if (!pin_valid(pin))
        return;
    uint16_t bit = (uint16_t)(1u << pin);
    gpio->af_level = level ? (uint16_t)(gpio->af_level | bit) : (uint16_t)(gpio->af_level & ~bit);
    gpio_update(gpio, false);
}

uint16_t stm32_gpio_pins(const struct stm32_gpio *gpio)
{
    return gpio->out_state;
}

static void gpio_reset_registers(struct stm32_gpio *gpio)
{
    gpio->crl = GPIO_CR_RESET;
    gpio->crh = GPIO_CR_RESET;
    gpio->odr = 0;
    gpio->lck = 0;
    gpio->lckk = false;
    gpio->lock_step = LOCK_IDLE;
    gpio->lock_key = 0;
}

void stm32_gpio_reset_in(void *opaque, int n, bool level)
{
    struct stm32_gpio *gpio = opaque;
    (void)n;
    if (level && !gpio->held_in_reset) {
        gpio_reset_registers(gpio);
        gpio_update(gpio, false);
    }
    gpio->held_in_reset = level;
}

void stm32_gpio_reset(void *dev, enum reset_cause cause)
{
    struct stm32_gpio *gpio = dev;
    gpio_reset_registers(gpio);
    gpio->held_in_reset = false;
    /* After a power-on every receiver learns every level once. */
    gpio_update(gpio, cause == RESET_POWER);
}

void stm32_gpio_init(struct stm32_gpio *gpio, struct sim *sim, const char *name)
{
    memset(gpio, 0, sizeof *gpio);
    gpio->sim = sim;
    gpio->name = name ? name : "GPIO";
    stm32_gpio_reset(gpio, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void gpio_fields(struct stm32_gpio *d, struct snap_io *io)
{
    snap_io_u32(io, &d->crl);
    snap_io_u32(io, &d->crh);
    snap_io_u16(io, &d->odr);
    snap_io_u16(io, &d->lck);
    snap_io_bool(io, &d->lckk);
    snap_io_int(io, &d->lock_step);
    snap_io_u16(io, &d->lock_key);
    snap_io_bool(io, &d->held_in_reset);
    snap_io_u16(io, &d->ext_driven);
    snap_io_u16(io, &d->ext_level);
    snap_io_u16(io, &d->af_level);
    snap_io_u16(io, &d->out_state);
    snap_io_u16(io, &d->idr_state);
}

SNAP_DEFINE_PAIR(stm32_gpio, struct stm32_gpio, gpio_fields)
