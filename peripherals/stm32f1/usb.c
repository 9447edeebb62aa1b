/*
 * usb.c - STM32F103 USB full-speed device interface (RM0008 section 23): the
 * endpoint registers with their write-0-to-clear and toggle-on-write bits,
 * CNTR/ISTR/FNR/DADDR/BTABLE, the packet memory with its buffer descriptor
 * table, and the serial interface engine's answers to SETUP, OUT and IN.
 *
 * Design decision: every packet-memory access the engine makes goes through
 * pma_get/pma_put, which wrap the 9-bit PMA address, so no BTABLE, ADDRn or
 * COUNTn value a guest writes can reach outside the 512 bytes. A reception
 * larger than the buffer that COUNTn_RX allocates is stored up to the end of
 * that buffer and answered STALL without CTR_RX (RM0008 23.4.2, "buffer
 * overrun"); the CRC bytes the silicon also stores after a shorter packet are
 * not written.
 *
 * Not modelled (warned once when used): double-buffered bulk and isochronous
 * endpoints (no answer), remote wake-up signalling (CNTR.RESUME), the ERR and
 * PMAOVR conditions (a model has no bit errors and no memory latency).
 */
#include "usb.h"

#include "emu/snapshot.h"

#include "stm32_lanes.h"

#include <string.h>

#define USB_REG_BITS 0xFFFFu /* every register is 16 bits in a 32-bit slot */
#define USB_PMA_MASK (STM32_USB_PMA_BYTES - 1u)
#define USB_ENDPOINT_NUMBERS 16u
#define USB_SETUP_BYTES 8u
#define USB_LOCK_SOFS 2u /* FNR.LCK after two consecutive SOFs */
#define USB_LSOF_MAX 3u
#define USB_BLOCK_SMALL 2u /* COUNTn_RX.BL_SIZE = 0 */
#define USB_BLOCK_LARGE 32u /* COUNTn_RX.BL_SIZE = 1 */

#define USB_ISTR_FLAGS                                                                             \
    (USB_ISTR_PMAOVR | USB_ISTR_ERR | USB_ISTR_WKUP | USB_ISTR_SUSP | USB_ISTR_RESET |             \
     USB_ISTR_SOF | USB_ISTR_ESOF)

/* ---- the register-field helper ------------------------------------------- */

/*
 * How each bit of a register answers a write, in RM0008's notation. Bits in
 * none of the masks are read-only (r) or reserved and keep their value. A lane
 * the access did not write behaves as writing "no change": 0 for toggle bits,
 * 1 for write-0-to-clear bits, the old value for read/write bits.
 */
struct usb_fields {
    uint16_t rw; /* read/write */
    uint16_t rc_w0; /* cleared by writing 0; writing 1 leaves it */
    uint16_t t; /* toggled by writing 1; writing 0 leaves it */
};

static uint16_t usb_field_write(uint16_t old, uint16_t value, uint16_t lanes,
                                const struct usb_fields *f)
{
    uint16_t written = value & lanes;
    uint16_t rw = (uint16_t)(((old & ~lanes) | written) & f->rw);
    uint16_t rc_w0 = (uint16_t)(old & f->rc_w0 & (written | (uint16_t)~lanes));
    uint16_t t = (uint16_t)((old ^ written) & f->t);
    uint16_t ro = (uint16_t)(old & ~(f->rw | f->rc_w0 | f->t));
    return (uint16_t)(rw | rc_w0 | t | ro);
}

static const struct usb_fields epr_fields = {
    .rw = USB_EPR_EP_TYPE | USB_EPR_EP_KIND | USB_EPR_EA,
    .rc_w0 = USB_EPR_CTR_RX | USB_EPR_CTR_TX,
    .t = USB_EPR_DTOG_RX | USB_EPR_STAT_RX | USB_EPR_DTOG_TX | USB_EPR_STAT_TX,
};
static const struct usb_fields cntr_fields = {
    .rw = 0xFF00u | USB_CNTR_RESUME | USB_CNTR_FSUSP | USB_CNTR_LP_MODE | USB_CNTR_PDWN |
          USB_CNTR_FRES,
};
static const struct usb_fields istr_fields = {.rc_w0 = USB_ISTR_FLAGS};
static const struct usb_fields daddr_fields = {.rw = USB_DADDR_EF | USB_DADDR_ADD};
static const struct usb_fields btable_fields = {.rw = 0xFFF8u};

/* ---- endpoint register fields --------------------------------------------- */

static unsigned epr_stat_rx(uint16_t epr)
{
    return (epr & USB_EPR_STAT_RX) >> USB_EPR_STAT_RX_SHIFT;
}
static unsigned epr_stat_tx(uint16_t epr)
{
    return (epr & USB_EPR_STAT_TX) >> USB_EPR_STAT_TX_SHIFT;
}
static unsigned epr_type(uint16_t epr)
{
    return (epr & USB_EPR_EP_TYPE) >> USB_EPR_EP_TYPE_SHIFT;
}

static uint16_t epr_with_stat_rx(uint16_t epr, unsigned stat)
{
    return (uint16_t)((epr & ~USB_EPR_STAT_RX) | (stat << USB_EPR_STAT_RX_SHIFT));
}

static uint16_t epr_with_stat_tx(uint16_t epr, unsigned stat)
{
    return (uint16_t)((epr & ~USB_EPR_STAT_TX) | (stat << USB_EPR_STAT_TX_SHIFT));
}

/* Isochronous and double-buffered bulk endpoints interrupt through USB_HP. */
static bool epr_high_priority(uint16_t epr)
{
    unsigned type = epr_type(epr);
    return type == USB_EP_TYPE_ISO || (type == USB_EP_TYPE_BULK && (epr & USB_EPR_EP_KIND));
}

/* ---- packet memory -------------------------------------------------------- */

static uint8_t pma_get(const struct stm32_usb *usb, uint32_t addr)
{
    return usb->pma[addr & USB_PMA_MASK];
}

static void pma_put(struct stm32_usb *usb, uint32_t addr, uint8_t value)
{
    usb->pma[addr & USB_PMA_MASK] = value;
}

static uint16_t pma_get16(const struct stm32_usb *usb, uint32_t addr)
{
    addr &= ~1u;
    return (uint16_t)(pma_get(usb, addr) | (pma_get(usb, addr + 1u) << 8));
}

static void pma_put16(struct stm32_usb *usb, uint32_t addr, uint16_t value)
{
    addr &= ~1u;
    pma_put(usb, addr, (uint8_t)value);
    pma_put(usb, addr + 1u, (uint8_t)(value >> 8));
}

static uint32_t bdt_addr(const struct stm32_usb *usb, int n, uint32_t field)
{
    return (uint32_t)usb->btable + USB_BDT_ENTRY * (uint32_t)n + field;
}

static uint16_t bdt_get(const struct stm32_usb *usb, int n, uint32_t field)
{
    return pma_get16(usb, bdt_addr(usb, n, field));
}

/* A buffer [addr, addr+len) the descriptor table names: say once if it leaves the PMA. */
static void pma_check_span(struct stm32_usb *usb, int n, uint32_t addr, uint32_t len, bool rx)
{
    if (addr + len > STM32_USB_PMA_BYTES)
        sim_warn_once(usb->sim, rx ? "USB RX buffer" : "USB TX buffer", USB_EPR(n), !rx,
                      "reaches past the end of the 512-byte PMA (the address wraps around)");
}

/* The reception buffer size COUNTn_RX allocates: BL_SIZE selects 2- or 32-byte blocks. */
static unsigned rx_buffer_size(uint16_t count_rx)
{
    unsigned blocks = (count_rx & USB_COUNT_RX_NUM_BLOCK) >> USB_COUNT_RX_NUM_BLOCK_SHIFT;
    if (count_rx & USB_COUNT_RX_BL_SIZE)
        return USB_BLOCK_LARGE * (blocks + 1u);
    return USB_BLOCK_SMALL * blocks;
}

/*
 * Store a received packet in endpoint register n's reception buffer. Returns
 * false on a buffer overrun: what fits is written, COUNTn_RX is left alone.
 */
static bool usb_store_rx(struct stm32_usb *usb, int n, const uint8_t *data, unsigned len)
{
    uint16_t count_rx = bdt_get(usb, n, USB_COUNT_RX);
    uint32_t addr = bdt_get(usb, n, USB_ADDR_RX) & ~1u;
    unsigned size = rx_buffer_size(count_rx);
    unsigned stored = len < size ? len : size;
    pma_check_span(usb, n, addr, stored, true);
    for (unsigned i = 0; i < stored; i++)
        pma_put(usb, addr + i, data[i]);
    if (len > size) {
        sim_warn_once(usb->sim, "USB RX overrun", USB_EPR(n), false,
                      "received a packet larger than its COUNTn_RX buffer (answered STALL)");
        return false;
    }
    pma_put16(usb, bdt_addr(usb, n, USB_COUNT_RX),
              (uint16_t)((count_rx & ~USB_COUNT_RX_COUNT) | (len & USB_COUNT_RX_COUNT)));
    return true;
}

/* ---- interrupts ----------------------------------------------------------- */

/* The endpoint register ISTR.EP_ID names: high-priority endpoints first, then the lowest n. */
static int usb_ctr_endpoint(const struct stm32_usb *usb)
{
    for (int pass = 0; pass < 2; pass++)
        for (int n = 0; n < STM32_USB_ENDPOINTS; n++) {
            uint16_t epr = usb->epr[n];
            if ((epr & (USB_EPR_CTR_RX | USB_EPR_CTR_TX)) && epr_high_priority(epr) == (pass == 0))
                return n;
        }
    return -1;
}

static uint16_t usb_istr_value(const struct stm32_usb *usb)
{
    uint16_t v = usb->istr & USB_ISTR_FLAGS;
    int n = usb_ctr_endpoint(usb);
    if (n >= 0) {
        v |= (uint16_t)(USB_ISTR_CTR | (unsigned)n);
        if (usb->epr[n] & USB_EPR_CTR_RX)
            v |= USB_ISTR_DIR;
    }
    return v;
}

static void usb_update_irqs(struct stm32_usb *usb, bool force)
{
    bool ctr_lp = false, ctr_hp = false;
    for (int n = 0; n < STM32_USB_ENDPOINTS; n++) {
        if (!(usb->epr[n] & (USB_EPR_CTR_RX | USB_EPR_CTR_TX)))
            continue;
        if (epr_high_priority(usb->epr[n]))
            ctr_hp = true;
        else
            ctr_lp = true;
    }
    bool ctrm = usb->cntr & USB_CNTR_CTRM;
    /* ISTR flag bits 14..8 sit where their CNTR mask bits are */
    bool lp = (usb->istr & usb->cntr & USB_ISTR_FLAGS) || (ctrm && ctr_lp);
    bool hp = ctrm && ctr_hp;
    if (lp != usb->irq_lp_level || force) {
        usb->irq_lp_level = lp;
        line_set(&usb->irq_lp, lp);
    }
    if (hp != usb->irq_hp_level || force) {
        usb->irq_hp_level = hp;
        line_set(&usb->irq_hp, hp);
    }
}

static void usb_pulse(const struct line *l)
{
    line_set(l, true);
    line_set(l, false);
}

/* ---- bus events ----------------------------------------------------------- */

/* The serial interface engine runs: clocked, out of reset, powered, not forced into reset. */
static bool usb_engine_running(const struct stm32_usb *usb)
{
    return usb->clocked && !usb->held && !(usb->cntr & (USB_CNTR_PDWN | USB_CNTR_FRES));
}

/*
 * What a USB reset does to the block (RM0008: the function address and the
 * endpoint registers are reset; CNTR, BTABLE and the PMA are not).
 */
static void usb_reset_state(struct stm32_usb *usb)
{
    usb->daddr = 0;
    memset(usb->epr, 0, sizeof usb->epr);
    usb->fnr &= (uint16_t) ~(USB_FNR_LCK | USB_FNR_LSOF);
    usb->sof_run = 0;
    usb->istr |= USB_ISTR_RESET;
}

/* Bus activity while in suspend mode (FSUSP) wakes the block: WKUP, and EXTI line 18. */
static void usb_wake(struct stm32_usb *usb)
{
    if (!(usb->cntr & USB_CNTR_FSUSP))
        return;
    usb->istr |= USB_ISTR_WKUP;
    usb->cntr &= (uint16_t)~USB_CNTR_LP_MODE;
    usb_pulse(&usb->wakeup);
}

static void usb_bus_reset(void *dev)
{
    struct stm32_usb *usb = dev;
    if (!usb->clocked || usb->held || (usb->cntr & USB_CNTR_PDWN))
        return;
    usb_wake(usb);
    usb_reset_state(usb);
    usb_update_irqs(usb, false);
}

static void usb_sof(void *dev, uint16_t frame_number)
{
    struct stm32_usb *usb = dev;
    if (!usb_engine_running(usb))
        return;
    usb->fnr = (uint16_t)((usb->fnr & ~(USB_FNR_FN | USB_FNR_LSOF)) | (frame_number & USB_FNR_FN));
    if (usb->sof_run < USB_LOCK_SOFS && ++usb->sof_run == USB_LOCK_SOFS)
        usb->fnr |= USB_FNR_LCK;
    usb->istr |= USB_ISTR_SOF;
    usb_update_irqs(usb, false);
}

/*
 * Three expected SOFs went missing (ESOF each time, FNR.LSOF counting them),
 * then SUSP, unless the block is already in suspend mode (FSUSP): its suspend
 * detection is off until the resume ends.
 */
static void usb_suspend(void *dev)
{
    struct stm32_usb *usb = dev;
    if (!usb_engine_running(usb))
        return;
    usb->istr |= USB_ISTR_ESOF;
    usb->fnr = (uint16_t)((usb->fnr & ~(USB_FNR_LSOF | USB_FNR_LCK)) |
                          (USB_LSOF_MAX << USB_FNR_LSOF_SHIFT));
    usb->sof_run = 0;
    if (!(usb->cntr & USB_CNTR_FSUSP))
        usb->istr |= USB_ISTR_SUSP;
    usb_update_irqs(usb, false);
}

static void usb_resume(void *dev)
{
    struct stm32_usb *usb = dev;
    if (!usb->clocked || usb->held || (usb->cntr & USB_CNTR_PDWN))
        return;
    usb->sof_run = 0;
    usb->fnr &= (uint16_t)~USB_FNR_LCK;
    usb_wake(usb);
    usb_update_irqs(usb, false);
}

/* ---- transactions --------------------------------------------------------- */

/* The device takes part in a transaction addressed to `addr`. */
static bool usb_addressed(const struct stm32_usb *usb, uint8_t addr, uint8_t ep)
{
    /* after a USB reset nothing is received or sent until the guest clears ISTR.RESET */
    return usb_engine_running(usb) && !(usb->istr & USB_ISTR_RESET) &&
           (usb->daddr & USB_DADDR_EF) && addr == (usb->daddr & USB_DADDR_ADD) &&
           ep < USB_ENDPOINT_NUMBERS;
}

/*
 * The endpoint register whose EA is `ep`: the first whose direction (STAT_RX
 * or STAT_TX in `stat`) is enabled, else the first with that EA, else -1.
 */
static int usb_find_endpoint(const struct stm32_usb *usb, uint8_t ep, uint16_t stat)
{
    int first = -1;
    for (int n = 0; n < STM32_USB_ENDPOINTS; n++) {
        if ((usb->epr[n] & USB_EPR_EA) != ep)
            continue;
        if (usb->epr[n] & stat)
            return n;
        if (first < 0)
            first = n;
    }
    return first;
}

/* Endpoint kinds this model does not serve: say so once and do not answer. */
static bool usb_unmodelled_endpoint(struct stm32_usb *usb, int n)
{
    uint16_t epr = usb->epr[n];
    if (epr_type(epr) == USB_EP_TYPE_ISO) {
        sim_warn_once(usb->sim, "USB isochronous endpoint", USB_EPR(n), false,
                      "is not modelled (the device does not answer)");
        return true;
    }
    if (epr_type(epr) == USB_EP_TYPE_BULK && (epr & USB_EPR_EP_KIND)) {
        sim_warn_once(usb->sim, "USB double-buffered endpoint", USB_EPR(n), false,
                      "is not modelled (the device does not answer)");
        return true;
    }
    return false;
}

static enum usb_handshake usb_setup(void *dev, uint8_t addr, uint8_t ep, const uint8_t packet[8])
{
    struct stm32_usb *usb = dev;
    if (!usb_addressed(usb, addr, ep))
        return USB_NO_ANSWER;
    int n = usb_find_endpoint(usb, ep, USB_EPR_STAT_RX);
    if (n < 0)
        return USB_NO_ANSWER;
    uint16_t epr = usb->epr[n];
    /* only control endpoints take SETUP, whatever STAT_RX says unless it is DISABLED */
    if (epr_type(epr) != USB_EP_TYPE_CONTROL || epr_stat_rx(epr) == USB_EP_STAT_DISABLED)
        return USB_NO_ANSWER;
    if (!usb_store_rx(usb, n, packet, USB_SETUP_BYTES))
        return USB_STALL;
    /*
     * The SETUP PID sets DTOG_TX and clears DTOG_RX; the DATA0 that follows
     * matches and toggles DTOG_RX. Both directions go to NAK so the guest
     * decides what comes next. SETUP is frozen while CTR_RX is still set.
     */
    bool frozen = epr & USB_EPR_CTR_RX;
    epr = (uint16_t)(epr | USB_EPR_DTOG_TX | USB_EPR_DTOG_RX | USB_EPR_CTR_RX);
    epr = epr_with_stat_tx(epr_with_stat_rx(epr, USB_EP_STAT_NAK), USB_EP_STAT_NAK);
    if (!frozen)
        epr |= USB_EPR_SETUP;
    usb->epr[n] = epr;
    usb_update_irqs(usb, false);
    return USB_ACK;
}

static enum usb_handshake usb_out(void *dev, uint8_t addr, uint8_t ep, bool data1,
                                  const uint8_t *packet, unsigned len)
{
    struct stm32_usb *usb = dev;
    if (!usb_addressed(usb, addr, ep))
        return USB_NO_ANSWER;
    int n = usb_find_endpoint(usb, ep, USB_EPR_STAT_RX);
    if (n < 0 || usb_unmodelled_endpoint(usb, n))
        return USB_NO_ANSWER;
    uint16_t epr = usb->epr[n];
    switch (epr_stat_rx(epr)) {
    case USB_EP_STAT_DISABLED: return USB_NO_ANSWER;
    case USB_EP_STAT_STALL: return USB_STALL;
    case USB_EP_STAT_NAK: return USB_NAK;
    default: break;
    }
    /* STATUS_OUT: a control endpoint expects only the zero-length status packet */
    if (epr_type(epr) == USB_EP_TYPE_CONTROL && (epr & USB_EPR_EP_KIND) && len > 0)
        return USB_STALL;
    /* a DATA PID that does not match DTOG_RX is a retransmission: acknowledged, ignored */
    if (data1 != ((epr & USB_EPR_DTOG_RX) != 0))
        return USB_ACK;
    if (!usb_store_rx(usb, n, packet, len))
        return USB_STALL;
    bool frozen = epr & USB_EPR_CTR_RX;
    epr = (uint16_t)((epr ^ USB_EPR_DTOG_RX) | USB_EPR_CTR_RX);
    epr = epr_with_stat_rx(epr, USB_EP_STAT_NAK);
    if (!frozen)
        epr &= (uint16_t)~USB_EPR_SETUP;
    usb->epr[n] = epr;
    usb_update_irqs(usb, false);
    return USB_ACK;
}

static enum usb_handshake usb_in(void *dev, uint8_t addr, uint8_t ep, uint8_t *packet, unsigned max,
                                 unsigned *len, bool *data1)
{
    struct stm32_usb *usb = dev;
    *len = 0;
    if (!usb_addressed(usb, addr, ep))
        return USB_NO_ANSWER;
    int n = usb_find_endpoint(usb, ep, USB_EPR_STAT_TX);
    if (n < 0 || usb_unmodelled_endpoint(usb, n))
        return USB_NO_ANSWER;
    uint16_t epr = usb->epr[n];
    switch (epr_stat_tx(epr)) {
    case USB_EP_STAT_DISABLED: return USB_NO_ANSWER;
    case USB_EP_STAT_STALL: return USB_STALL;
    case USB_EP_STAT_NAK: return USB_NAK;
    default: break;
    }
    uint32_t buf = bdt_get(usb, n, USB_ADDR_TX) & ~1u;
    unsigned count = bdt_get(usb, n, USB_COUNT_TX) & USB_COUNT_TX_COUNT;
    if (count > max) {
        sim_warn_once(usb->sim, "USB TX count", USB_EPR(n), false,
                      "COUNTn_TX exceeds what the host accepts (the packet is cut short)");
        count = max;
    }
    pma_check_span(usb, n, buf, count, false);
    for (unsigned i = 0; i < count; i++)
        packet[i] = pma_get(usb, buf + i);
    *len = count;
    *data1 = (epr & USB_EPR_DTOG_TX) != 0;
    /* the host's ACK came back */
    epr = (uint16_t)((epr ^ USB_EPR_DTOG_TX) | USB_EPR_CTR_TX);
    usb->epr[n] = epr_with_stat_tx(epr, USB_EP_STAT_NAK);
    usb_update_irqs(usb, false);
    return USB_ACK;
}

const struct usb_device_ops stm32_usb_device_ops = {
    .bus_reset = usb_bus_reset,
    .sof = usb_sof,
    .suspend = usb_suspend,
    .resume = usb_resume,
    .setup = usb_setup,
    .out = usb_out,
    .in = usb_in,
};

/* ---- registers ------------------------------------------------------------ */

static uint16_t usb_fnr_value(const struct stm32_usb *usb)
{
    /* the lines idle in the J state (D+ high) while the transceiver is on */
    uint16_t lines = (usb->cntr & USB_CNTR_PDWN) ? 0 : USB_FNR_RXDP;
    return (uint16_t)((usb->fnr & ~(USB_FNR_RXDP | USB_FNR_RXDM)) | lines);
}

static bool usb_register_exists(uint32_t reg)
{
    return reg < USB_EPR(STM32_USB_ENDPOINTS) || reg == USB_CNTR || reg == USB_ISTR ||
           reg == USB_FNR || reg == USB_DADDR || reg == USB_BTABLE;
}

static uint32_t usb_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_usb *usb = opaque;
    uint32_t reg = offset & ~3u;
    uint32_t v;
    if (reg < USB_EPR(STM32_USB_ENDPOINTS)) {
        v = usb->epr[reg / 4u];
    } else {
        switch (reg) {
        case USB_CNTR: v = usb->cntr; break;
        case USB_ISTR: v = usb_istr_value(usb); break;
        case USB_FNR: v = usb_fnr_value(usb); break;
        case USB_DADDR: v = usb->daddr; break;
        case USB_BTABLE: v = usb->btable; break;
        default: sim_warn_once(usb->sim, "USB", offset, false, NULL); return 0;
        }
    }
    return lane_read(v, offset, size);
}

static void usb_write_epr(struct stm32_usb *usb, int n, uint16_t value, uint16_t lanes)
{
    uint16_t old = usb->epr[n];
    uint16_t epr = usb_field_write(old, value, lanes, &epr_fields);
    usb->epr[n] = epr;
    bool tx_valid = epr_stat_tx(epr) == USB_EP_STAT_VALID && epr_stat_tx(old) != USB_EP_STAT_VALID;
    bool rx_valid = epr_stat_rx(epr) == USB_EP_STAT_VALID && epr_stat_rx(old) != USB_EP_STAT_VALID;
    if (tx_valid || rx_valid)
        usb_pulse(&usb->ready);
}

static void usb_write_cntr(struct stm32_usb *usb, uint16_t value, uint16_t lanes)
{
    uint16_t old = usb->cntr;
    usb->cntr = usb_field_write(old, value, lanes, &cntr_fields);
    /* FRES: a USB reset exactly as one from the bus, held while the bit is set */
    if (usb->cntr & USB_CNTR_FRES)
        usb_reset_state(usb);
    if ((usb->cntr & USB_CNTR_RESUME) && !(old & USB_CNTR_RESUME))
        sim_warn_once(usb->sim, "USB", USB_CNTR, true,
                      "sets RESUME: remote wake-up signalling is not passed to the host");
}

static void usb_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_usb *usb = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    uint16_t lanes = (uint16_t)(w.mask & USB_REG_BITS);
    uint16_t v = (uint16_t)(w.value & USB_REG_BITS);
    if (size == 1)
        sim_warn_once(usb->sim, "USB", offset, true,
                      "is a byte store; the registers take half-words or words");
    if (!usb_register_exists(w.reg)) {
        sim_warn_once(usb->sim, "USB", offset, true, NULL);
        return;
    }
    if (usb->held || lanes == 0)
        return; /* RCC holds the block in reset, or the empty upper half of a slot */
    if (w.reg < USB_EPR(STM32_USB_ENDPOINTS)) {
        usb_write_epr(usb, (int)(w.reg / 4u), v, lanes);
    } else {
        switch (w.reg) {
        case USB_CNTR: usb_write_cntr(usb, v, lanes); break;
        case USB_ISTR: usb->istr = usb_field_write(usb->istr, v, lanes, &istr_fields); break;
        case USB_FNR: sim_warn_once(usb->sim, "USB", offset, true, "is read-only (FNR)"); break;
        case USB_DADDR: usb->daddr = usb_field_write(usb->daddr, v, lanes, &daddr_fields); break;
        case USB_BTABLE:
            usb->btable = usb_field_write(usb->btable, v, lanes, &btable_fields);
            if (usb->btable + USB_BDT_ENTRY * STM32_USB_ENDPOINTS > STM32_USB_PMA_BYTES)
                sim_warn_once(usb->sim, "USB", offset, true,
                              "puts the buffer descriptor table past the end of the PMA "
                              "(its addresses wrap around)");
            break;
        default: break;
        }
    }
    usb_update_irqs(usb, false);
}

const struct mmio_ops stm32_usb_mmio = {
    .name = "USB",
    .read = usb_read,
    .write = usb_write,
};

/* ---- the PMA as the CPU sees it ------------------------------------------- */

/*
 * CPU offset 4k + 0/1 is PMA half-word k; offsets 4k + 2/3 hold nothing (read
 * 0, writes ignored). A byte store lands in both bytes of its half-word: the
 * 16-bit memory is written whole with the byte repeated across the lanes, as
 * observed on this USB block in other STM32 parts (not confirmed on the F103).
 */
static uint32_t pma_read(void *opaque, uint32_t offset, unsigned size)
{
    struct stm32_usb *usb = opaque;
    uint32_t slot = pma_get16(usb, (offset >> 2) * 2u);
    return lane_read(slot, offset, size);
}

static void pma_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct stm32_usb *usb = opaque;
    struct lane_write w = lane_write_of(offset, value, size);
    uint16_t lanes = (uint16_t)(w.mask & USB_REG_BITS);
    if (lanes == 0)
        return;
    uint32_t addr = (offset >> 2) * 2u;
    uint16_t half;
    if (size == 1) {
        sim_warn_once(usb->sim, "USB PMA", offset, true,
                      "is a byte store (written to both bytes of the half-word)");
        half = (uint16_t)((value & 0xFFu) * 0x0101u);
    } else {
        half = (uint16_t)((pma_get16(usb, addr) & ~lanes) | (w.value & lanes));
    }
    pma_put16(usb, addr, half);
}

const struct mmio_ops stm32_usb_pma_mmio = {
    .name = "USB PMA",
    .read = pma_read,
    .write = pma_write,
};

/* ---- connections, reset --------------------------------------------------- */

static void usb_registers_reset(struct stm32_usb *usb)
{
    memset(usb->epr, 0, sizeof usb->epr);
    usb->cntr = USB_CNTR_RESET_VALUE;
    usb->istr = 0;
    usb->fnr = 0;
    usb->daddr = 0;
    usb->btable = 0;
    usb->sof_run = 0;
}

void stm32_usb_clock_in(void *opaque, int n, bool level)
{
    struct stm32_usb *usb = opaque;
    (void)n;
    usb->clocked = level;
}

void stm32_usb_reset_in(void *opaque, int n, bool level)
{
    struct stm32_usb *usb = opaque;
    (void)n;
    usb->held = level;
    if (level) {
        usb_registers_reset(usb);
        usb_update_irqs(usb, false);
    }
}

void stm32_usb_reset(void *dev, enum reset_cause cause)
{
    struct stm32_usb *usb = dev;
    usb_registers_reset(usb);
    /* the packet memory is SRAM: only a power-on loses it */
    if (cause == RESET_POWER)
        memset(usb->pma, 0, sizeof usb->pma);
    usb_update_irqs(usb, cause == RESET_POWER);
}

void stm32_usb_init(struct stm32_usb *usb, struct sim *sim)
{
    memset(usb, 0, sizeof *usb);
    usb->sim = sim;
    usb->clocked = true;
    stm32_usb_reset(usb, RESET_POWER);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void usb_fields(struct stm32_usb *d, struct snap_io *io)
{
    SNAP_IO_U16S(io, d->epr);
    snap_io_u16(io, &d->cntr);
    snap_io_u16(io, &d->istr);
    snap_io_u16(io, &d->fnr);
    snap_io_u16(io, &d->daddr);
    snap_io_u16(io, &d->btable);
    snap_io_unsigned(io, &d->sof_run);
    snap_io_bool(io, &d->clocked);
    snap_io_bool(io, &d->held);
    snap_io_bool(io, &d->irq_lp_level);
    snap_io_bool(io, &d->irq_hp_level);
    snap_io_bytes(io, d->pma, sizeof d->pma);
}

SNAP_DEFINE_PAIR(stm32_usb, struct stm32_usb, usb_fields)
