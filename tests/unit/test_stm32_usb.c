/*
 * test_stm32_usb.c - the STM32F103 USB full-speed device block on a bare
 * `struct sim` and `struct bus`: the guest side through bus_read/bus_write at
 * the RM0008 addresses, the USB side through the token interface a host
 * controller calls (stm32_usb_device_ops). No CPU, no host controller.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "emu/bus.h"
#include "emu/sim.h"
#include "emu/usb.h"
#include "peripherals/stm32f1/usb.h"

#define REG(off) (STM32_USB_BASE + (off))
/* The CPU address of PMA byte offset `off` (even). */
#define PMA(off) (STM32_USB_PMA_BASE + 2u * (off))

/* The bootloader's layout (spark-core-hardware.md 4.9): BTABLE 0, EP0 RX at 0x10, TX at 0x50. */
#define EP0_RX_BUF 0x10u
#define EP0_TX_BUF 0x50u
#define EP1_RX_BUF 0x90u
#define EP1_TX_BUF 0xD0u
#define COUNT_RX_64 (USB_COUNT_RX_BL_SIZE | (1u << USB_COUNT_RX_NUM_BLOCK_SHIFT)) /* 2 x 32 */

#define ADDR0 0
#define EP0 0
#define EP1 1

/* A line receiver that remembers its level and its rising edges. */
struct probe {
    bool level;
    int rises;
};

static void probe_in(void *opaque, int n, bool level)
{
    (void)n;
    struct probe *p = opaque;
    if (level && !p->level)
        p->rises++;
    p->level = level;
}

struct fixture {
    struct sim sim;
    struct bus bus;
    uint8_t *flash, *sram, *sysmem;
    struct stm32_usb *usb; /* on the heap on its own: a stray PMA index leaves the object */
    struct probe lp, hp, wakeup, ready;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->flash = calloc(1, FLASH_SIZE);
    f->sram = calloc(1, SRAM_SIZE);
    f->sysmem = calloc(1, SYSMEM_SIZE + 0x400);
    f->usb = calloc(1, sizeof *f->usb);
    sim_init(&f->sim);
    f->sim.log = NULL; /* warn-once messages are not under test */
    bus_init(&f->bus, &f->sim, f->flash, f->sram, f->sysmem);
    stm32_usb_init(f->usb, &f->sim);
    f->usb->irq_lp = line_to(probe_in, &f->lp, 0);
    f->usb->irq_hp = line_to(probe_in, &f->hp, 0);
    f->usb->wakeup = line_to(probe_in, &f->wakeup, 0);
    f->usb->ready = line_to(probe_in, &f->ready, 0);
    assert_int_equal(bus_map(&f->bus, STM32_USB_BASE, STM32_USB_SIZE, &stm32_usb_mmio, f->usb), 0);
    assert_int_equal(
        bus_map(&f->bus, STM32_USB_PMA_BASE, STM32_USB_PMA_SIZE, &stm32_usb_pma_mmio, f->usb), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sim_free(&f->sim);
    free(f->usb);
    free(f->flash);
    free(f->sram);
    free(f->sysmem);
    free(f);
    return 0;
}

static uint32_t rd(struct fixture *f, uint32_t addr)
{
    uint32_t value = 0;
    assert_int_equal(bus_read(&f->bus, addr, 4, &value), BUS_OK);
    return value;
}

static uint32_t rd_size(struct fixture *f, uint32_t addr, unsigned size)
{
    uint32_t value = 0;
    assert_int_equal(bus_read(&f->bus, addr, size, &value), BUS_OK);
    return value;
}

static void wr(struct fixture *f, uint32_t addr, uint32_t value)
{
    assert_int_equal(bus_write(&f->bus, addr, 4, value), BUS_OK);
}

static void wr_size(struct fixture *f, uint32_t addr, uint32_t value, unsigned size)
{
    assert_int_equal(bus_write(&f->bus, addr, size, value), BUS_OK);
}

/* PMA half-word at byte offset `off`, the way the ST library writes it (32-bit stores). */
static void pma_wr16(struct fixture *f, uint32_t off, uint16_t value)
{
    wr(f, PMA(off), value);
}
static uint16_t pma_rd16(struct fixture *f, uint32_t off)
{
    return (uint16_t)rd(f, PMA(off));
}

static void pma_write_bytes(struct fixture *f, uint32_t off, const uint8_t *data, unsigned len)
{
    for (unsigned i = 0; i < len; i += 2)
        pma_wr16(f, off + i, (uint16_t)(data[i] | (i + 1 < len ? data[i + 1] << 8 : 0)));
}

static uint8_t pma_byte(struct fixture *f, uint32_t off)
{
    return (uint8_t)(pma_rd16(f, off & ~1u) >> ((off & 1u) * 8u));
}

/*
 * Set an endpoint register's toggle fields to the wanted values the way
 * firmware must: write 1 where they differ, keep the CTR bits (write 1).
 */
static void epr_set(struct fixture *f, int n, uint16_t type_kind_ea, unsigned stat_rx,
                    unsigned stat_tx)
{
    uint16_t cur = (uint16_t)rd(f, REG(USB_EPR(n)));
    uint16_t want_t =
        (uint16_t)((stat_rx << USB_EPR_STAT_RX_SHIFT) | (stat_tx << USB_EPR_STAT_TX_SHIFT));
    uint16_t stat = USB_EPR_STAT_RX | USB_EPR_STAT_TX;
    uint16_t v =
        (uint16_t)(USB_EPR_CTR_RX | USB_EPR_CTR_TX | type_kind_ea | ((cur ^ want_t) & stat));
    wr(f, REG(USB_EPR(n)), v);
}

static unsigned stat_rx(struct fixture *f, int n)
{
    return (rd(f, REG(USB_EPR(n))) & USB_EPR_STAT_RX) >> USB_EPR_STAT_RX_SHIFT;
}

static unsigned stat_tx(struct fixture *f, int n)
{
    return (rd(f, REG(USB_EPR(n))) & USB_EPR_STAT_TX) >> USB_EPR_STAT_TX_SHIFT;
}

/* What the ST library does at power-on and on RESET: a working device at address 0 with EP0. */
static void device_up(struct fixture *f)
{
    wr(f, REG(USB_CNTR), USB_CNTR_FRES);
    wr(f, REG(USB_CNTR), 0);
    wr(f, REG(USB_ISTR), 0);
    wr(f, REG(USB_BTABLE), 0);
    pma_wr16(f, USB_ADDR_TX, EP0_TX_BUF);
    pma_wr16(f, USB_ADDR_RX, EP0_RX_BUF);
    pma_wr16(f, USB_COUNT_RX, COUNT_RX_64);
    epr_set(f, 0, USB_EP_TYPE_CONTROL << USB_EPR_EP_TYPE_SHIFT, USB_EP_STAT_VALID, USB_EP_STAT_NAK);
    wr(f, REG(USB_DADDR), USB_DADDR_EF | 0);
}

/* An extra endpoint register n with EA = ep, its buffers at the given PMA offsets. */
static void endpoint_up(struct fixture *f, int n, uint8_t ep, unsigned type, uint16_t count_rx,
                        unsigned srx, unsigned stx)
{
    pma_wr16(f, USB_BDT_ENTRY * (unsigned)n + USB_ADDR_TX, (uint16_t)EP1_TX_BUF);
    pma_wr16(f, USB_BDT_ENTRY * (unsigned)n + USB_ADDR_RX, (uint16_t)EP1_RX_BUF);
    pma_wr16(f, USB_BDT_ENTRY * (unsigned)n + USB_COUNT_RX, count_rx);
    epr_set(f, n, (uint16_t)((type << USB_EPR_EP_TYPE_SHIFT) | ep), srx, stx);
}

static enum usb_handshake setup_tok(struct fixture *f, uint8_t addr, uint8_t ep,
                                    const uint8_t req[8])
{
    return stm32_usb_device_ops.setup(f->usb, addr, ep, req);
}

static enum usb_handshake out_tok(struct fixture *f, uint8_t addr, uint8_t ep, bool data1,
                                  const uint8_t *data, unsigned len)
{
    return stm32_usb_device_ops.out(f->usb, addr, ep, data1, data, len);
}

static enum usb_handshake in_tok(struct fixture *f, uint8_t addr, uint8_t ep, uint8_t *buf,
                                 unsigned *len, bool *data1)
{
    return stm32_usb_device_ops.in(f->usb, addr, ep, buf, USB_MAX_PACKET_ISO, len, data1);
}

static const uint8_t get_device_descriptor[8] = {
    0x80, USB_REQ_GET_DESCRIPTOR, 0, USB_DT_DEVICE, 0, 0, 18, 0};

/* ---- registers -------------------------------------------------------------- */

static void test_usb_reset_values(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, REG(USB_CNTR)), USB_CNTR_FRES | USB_CNTR_PDWN);
    assert_int_equal(rd(f, REG(USB_ISTR)), 0);
    assert_int_equal(rd(f, REG(USB_DADDR)), 0);
    assert_int_equal(rd(f, REG(USB_BTABLE)), 0);
    for (int n = 0; n < STM32_USB_ENDPOINTS; n++)
        assert_int_equal(rd(f, REG(USB_EPR(n))), 0);
    assert_false(f->lp.level);
    assert_false(f->hp.level);
}

static void test_usb_epr_toggle_and_w0c_bits(void **state)
{
    struct fixture *f = *state;
    wr(f, REG(USB_CNTR), 0);

    /* rw fields take the value; toggle fields toggle on 1 */
    wr(f, REG(USB_EPR(2)),
       USB_EPR_CTR_RX | USB_EPR_CTR_TX | (USB_EP_TYPE_INTERRUPT << USB_EPR_EP_TYPE_SHIFT) |
           USB_EPR_EP_KIND | 0x5u | USB_EPR_DTOG_RX | (USB_EP_STAT_NAK << USB_EPR_STAT_TX_SHIFT));
    uint32_t v = rd(f, REG(USB_EPR(2)));
    assert_int_equal(v, (USB_EP_TYPE_INTERRUPT << USB_EPR_EP_TYPE_SHIFT) | USB_EPR_EP_KIND | 0x5u |
                            USB_EPR_DTOG_RX | (USB_EP_STAT_NAK << USB_EPR_STAT_TX_SHIFT));
    /* writing the value read back toggles again: back to 0 in the toggle fields */
    wr(f, REG(USB_EPR(2)), v);
    assert_int_equal(rd(f, REG(USB_EPR(2))),
                     (USB_EP_TYPE_INTERRUPT << USB_EPR_EP_TYPE_SHIFT) | USB_EPR_EP_KIND | 0x5u);
    /* STAT_RX 00 -> write 11 -> 11 (VALID); write 01 -> 10 (NAK) */
    wr(f, REG(USB_EPR(2)), USB_EPR_STAT_RX | 0x5u);
    assert_int_equal(stat_rx(f, 2), USB_EP_STAT_VALID);
    wr(f, REG(USB_EPR(2)), (1u << USB_EPR_STAT_RX_SHIFT) | 0x5u);
    assert_int_equal(stat_rx(f, 2), USB_EP_STAT_NAK);

    /* CTR bits: the hardware sets them; writing 1 leaves them, writing 0 clears */
    device_up(f);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_ACK);
    uint32_t e = rd(f, REG(USB_EPR(0)));
    assert_true(e & USB_EPR_CTR_RX);
    assert_true(e & USB_EPR_SETUP);
    wr(f, REG(USB_EPR(0)), USB_EPR_CTR_RX | USB_EPR_CTR_TX | (e & 0x070Fu));
    assert_true(rd(f, REG(USB_EPR(0))) & USB_EPR_CTR_RX);
    /* SETUP is read-only: writing 0 there changes nothing; clearing CTR_RX keeps other bits */
    wr(f, REG(USB_EPR(0)), USB_EPR_CTR_TX | (e & 0x070Fu));
    uint32_t after = rd(f, REG(USB_EPR(0)));
    assert_false(after & USB_EPR_CTR_RX);
    assert_true(after & USB_EPR_SETUP);
    assert_int_equal(after & 0x7F7Fu, e & 0x7F7Fu);
    /* the upper half of the slot reads 0 */
    assert_int_equal(rd_size(f, REG(USB_EPR(0)) + 2, 2), 0);
}

static void test_usb_epr_narrow_write_touches_only_its_lanes(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_ACK);
    uint32_t e = rd(f, REG(USB_EPR(0)));
    /* a byte store to the low byte: CTR_RX (high byte) is not written, so it stays */
    wr_size(f, REG(USB_EPR(0)), USB_EPR_CTR_TX | USB_EPR_STAT_TX, 1);
    uint32_t after = rd(f, REG(USB_EPR(0)));
    assert_true(after & USB_EPR_CTR_RX);
    assert_int_equal(after & USB_EPR_STAT_RX, e & USB_EPR_STAT_RX);
    assert_int_equal(after & USB_EPR_STAT_TX, (e ^ USB_EPR_STAT_TX) & USB_EPR_STAT_TX);
}

static void test_usb_istr_flags_are_write0_to_clear(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    stm32_usb_device_ops.bus_reset(f->usb);
    stm32_usb_device_ops.sof(f->usb, 5);
    uint32_t istr = rd(f, REG(USB_ISTR));
    assert_true(istr & USB_ISTR_RESET);
    assert_true(istr & USB_ISTR_SOF);
    wr(f, REG(USB_ISTR), 0xFFFF);
    assert_int_equal(rd(f, REG(USB_ISTR)), istr);
    wr(f, REG(USB_ISTR), (uint16_t)~USB_ISTR_SOF);
    assert_int_equal(rd(f, REG(USB_ISTR)), USB_ISTR_RESET);
    wr(f, REG(USB_ISTR), 0);
    assert_int_equal(rd(f, REG(USB_ISTR)), 0);
}

static void test_usb_fres_resets_like_the_bus_and_sets_reset(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    wr(f, REG(USB_DADDR), USB_DADDR_EF | 9);
    wr(f, REG(USB_CNTR), USB_CNTR_RESETM | USB_CNTR_FRES);
    assert_int_equal(rd(f, REG(USB_DADDR)), 0);
    assert_int_equal(rd(f, REG(USB_EPR(0))), 0);
    assert_true(rd(f, REG(USB_ISTR)) & USB_ISTR_RESET);
    assert_true(f->lp.level);
    wr(f, REG(USB_CNTR), USB_CNTR_RESETM);
    wr(f, REG(USB_ISTR), 0);
    assert_false(f->lp.level);
}

/* ---- transactions ----------------------------------------------------------- */

static void test_usb_control_read_setup_in_out_status(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    wr(f, REG(USB_CNTR), USB_CNTR_CTRM);

    /* SETUP: stored, COUNT = 8, SETUP + CTR_RX, both directions NAK, DTOG_RX = DTOG_TX = 1 */
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_ACK);
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(pma_byte(f, EP0_RX_BUF + i), get_device_descriptor[i]);
    assert_int_equal(pma_rd16(f, USB_COUNT_RX), COUNT_RX_64 | 8u);
    uint32_t e = rd(f, REG(USB_EPR(0)));
    assert_true(e & USB_EPR_CTR_RX);
    assert_true(e & USB_EPR_SETUP);
    assert_true(e & USB_EPR_DTOG_RX);
    assert_true(e & USB_EPR_DTOG_TX);
    assert_int_equal(stat_rx(f, 0), USB_EP_STAT_NAK);
    assert_int_equal(stat_tx(f, 0), USB_EP_STAT_NAK);
    assert_int_equal(rd(f, REG(USB_ISTR)), USB_ISTR_CTR | USB_ISTR_DIR | 0u);
    assert_true(f->lp.level);
    assert_false(f->hp.level);

    /* the guest clears CTR_RX, writes 18 bytes, makes TX VALID: the host is told at once */
    wr(f, REG(USB_EPR(0)), USB_EPR_CTR_TX | (e & 0x070Fu));
    assert_false(f->lp.level);
    uint8_t desc[18];
    for (unsigned i = 0; i < sizeof desc; i++)
        desc[i] = (uint8_t)(0xA0 + i);
    pma_write_bytes(f, EP0_TX_BUF, desc, sizeof desc);
    pma_wr16(f, USB_COUNT_TX, sizeof desc);
    int rises = f->ready.rises;
    epr_set(f, 0, USB_EP_TYPE_CONTROL << USB_EPR_EP_TYPE_SHIFT, USB_EP_STAT_NAK, USB_EP_STAT_VALID);
    assert_int_equal(f->ready.rises, rises + 1);
    assert_false(f->ready.level); /* a pulse */

    /* IN: DATA1, the 18 bytes, then CTR_TX, DTOG_TX toggled, STAT_TX NAK */
    uint8_t buf[USB_MAX_PACKET_ISO];
    unsigned len = 0;
    bool data1 = false;
    assert_int_equal(in_tok(f, ADDR0, EP0, buf, &len, &data1), USB_ACK);
    assert_int_equal(len, sizeof desc);
    assert_memory_equal(buf, desc, sizeof desc);
    assert_true(data1);
    e = rd(f, REG(USB_EPR(0)));
    assert_true(e & USB_EPR_CTR_TX);
    assert_false(e & USB_EPR_DTOG_TX);
    assert_int_equal(stat_tx(f, 0), USB_EP_STAT_NAK);
    assert_int_equal(rd(f, REG(USB_ISTR)), USB_ISTR_CTR | 0u); /* DIR = 0: IN */
    assert_true(f->lp.level);
    assert_int_equal(in_tok(f, ADDR0, EP0, buf, &len, &data1), USB_NAK);

    /* status stage: the guest expects a ZLP (STATUS_OUT) and makes RX VALID */
    wr(f, REG(USB_EPR(0)), USB_EPR_CTR_RX | (e & 0x070Fu));
    epr_set(f, 0, (USB_EP_TYPE_CONTROL << USB_EPR_EP_TYPE_SHIFT) | USB_EPR_EP_KIND,
            USB_EP_STAT_VALID, USB_EP_STAT_NAK);
    uint8_t junk[1] = {0x55};
    assert_int_equal(out_tok(f, ADDR0, EP0, true, junk, 1), USB_STALL);
    assert_int_equal(out_tok(f, ADDR0, EP0, true, NULL, 0), USB_ACK);
    e = rd(f, REG(USB_EPR(0)));
    assert_true(e & USB_EPR_CTR_RX);
    assert_false(e & USB_EPR_SETUP); /* an OUT, not a SETUP */
    assert_false(e & USB_EPR_DTOG_RX);
    assert_int_equal(stat_rx(f, 0), USB_EP_STAT_NAK);
    assert_int_equal(pma_rd16(f, USB_COUNT_RX), COUNT_RX_64 | 0u);
    assert_int_equal(rd(f, REG(USB_ISTR)), USB_ISTR_CTR | USB_ISTR_DIR | 0u);
}

static void test_usb_istr_names_the_lowest_endpoint_with_ctr(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    endpoint_up(f, 3, 2, USB_EP_TYPE_BULK, COUNT_RX_64, USB_EP_STAT_VALID, USB_EP_STAT_DISABLED);
    endpoint_up(f, 1, 5, USB_EP_TYPE_INTERRUPT, COUNT_RX_64, USB_EP_STAT_DISABLED,
                USB_EP_STAT_VALID);
    uint8_t data[4] = {1, 2, 3, 4}, buf[USB_MAX_PACKET_ISO];
    unsigned len;
    bool data1;
    assert_int_equal(out_tok(f, ADDR0, 2, false, data, sizeof data), USB_ACK);
    assert_int_equal(rd(f, REG(USB_ISTR)), USB_ISTR_CTR | USB_ISTR_DIR | 3u);
    assert_int_equal(in_tok(f, ADDR0, 5, buf, &len, &data1), USB_ACK);
    assert_false(data1);
    assert_int_equal(rd(f, REG(USB_ISTR)), USB_ISTR_CTR | 1u); /* register 1 before 3, IN */
    /* CTR without CTRM raises nothing; with CTRM, the low-priority line */
    assert_false(f->lp.level);
    wr(f, REG(USB_CNTR), USB_CNTR_CTRM);
    assert_true(f->lp.level);
    assert_false(f->hp.level);
}

static void test_usb_handshakes_follow_stat(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    uint8_t data[8] = {0}, buf[USB_MAX_PACKET_ISO];
    unsigned len;
    bool data1;
    static const unsigned stats[] = {USB_EP_STAT_DISABLED, USB_EP_STAT_STALL, USB_EP_STAT_NAK};
    static const enum usb_handshake answers[] = {USB_NO_ANSWER, USB_STALL, USB_NAK};
    for (int i = 0; i < 3; i++) {
        endpoint_up(f, 1, EP1, USB_EP_TYPE_BULK, COUNT_RX_64, stats[i], stats[i]);
        assert_int_equal(out_tok(f, ADDR0, EP1, false, data, sizeof data), answers[i]);
        assert_int_equal(in_tok(f, ADDR0, EP1, buf, &len, &data1), answers[i]);
        assert_int_equal(rd(f, REG(USB_EPR(1))) & (USB_EPR_CTR_RX | USB_EPR_CTR_TX), 0);
    }
    /* no register has EA 7 */
    assert_int_equal(in_tok(f, ADDR0, 7, buf, &len, &data1), USB_NO_ANSWER);
    /* SETUP is only for control endpoints */
    endpoint_up(f, 1, EP1, USB_EP_TYPE_BULK, COUNT_RX_64, USB_EP_STAT_VALID, USB_EP_STAT_NAK);
    assert_int_equal(setup_tok(f, ADDR0, EP1, get_device_descriptor), USB_NO_ANSWER);
    /* a control endpoint takes SETUP even while STALLed or NAKing, and that clears the stall */
    epr_set(f, 0, USB_EP_TYPE_CONTROL << USB_EPR_EP_TYPE_SHIFT, USB_EP_STAT_STALL,
            USB_EP_STAT_STALL);
    assert_int_equal(in_tok(f, ADDR0, EP0, buf, &len, &data1), USB_STALL);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_ACK);
    assert_int_equal(stat_rx(f, 0), USB_EP_STAT_NAK);
    assert_int_equal(stat_tx(f, 0), USB_EP_STAT_NAK);
    /* but not while its reception is DISABLED */
    epr_set(f, 0, USB_EP_TYPE_CONTROL << USB_EPR_EP_TYPE_SHIFT, USB_EP_STAT_DISABLED,
            USB_EP_STAT_NAK);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_NO_ANSWER);
}

static void test_usb_out_toggle_mismatch_is_acked_and_discarded(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    endpoint_up(f, 1, EP1, USB_EP_TYPE_BULK, COUNT_RX_64, USB_EP_STAT_VALID, USB_EP_STAT_DISABLED);
    uint8_t first[3] = {1, 2, 3}, again[3] = {7, 8, 9};
    assert_int_equal(out_tok(f, ADDR0, EP1, false, first, 3), USB_ACK);
    uint32_t e = rd(f, REG(USB_EPR(1)));
    assert_true(e & USB_EPR_DTOG_RX);
    /* the guest takes the packet and re-arms; the host, having lost the ACK, resends DATA0 */
    wr(f, REG(USB_EPR(1)), USB_EPR_CTR_TX | (e & 0x070Fu));
    epr_set(f, 1, (USB_EP_TYPE_BULK << USB_EPR_EP_TYPE_SHIFT) | EP1, USB_EP_STAT_VALID,
            USB_EP_STAT_DISABLED);
    assert_int_equal(out_tok(f, ADDR0, EP1, false, again, 3), USB_ACK);
    e = rd(f, REG(USB_EPR(1)));
    assert_false(e & USB_EPR_CTR_RX);
    assert_true(e & USB_EPR_DTOG_RX);
    assert_int_equal(stat_rx(f, 1), USB_EP_STAT_VALID);
    assert_int_equal(pma_byte(f, EP1_RX_BUF), 1);
    /* the next DATA1 is taken */
    assert_int_equal(out_tok(f, ADDR0, EP1, true, again, 3), USB_ACK);
    assert_true(rd(f, REG(USB_EPR(1))) & USB_EPR_CTR_RX);
    assert_int_equal(pma_byte(f, EP1_RX_BUF), 7);
}

static void test_usb_count_rx_block_sizes(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    uint8_t data[1100];
    memset(data, 0x3C, sizeof data);
    struct {
        uint16_t count_rx;
        unsigned size;
    } cases[] = {
        {(uint16_t)(4u << USB_COUNT_RX_NUM_BLOCK_SHIFT), 8}, /* 4 x 2 */
        {(uint16_t)(31u << USB_COUNT_RX_NUM_BLOCK_SHIFT), 62}, /* 31 x 2 */
        {(uint16_t)0, 0}, /* nothing */
        {(uint16_t)USB_COUNT_RX_BL_SIZE, 32}, /* 1 x 32 */
        {(uint16_t)(USB_COUNT_RX_BL_SIZE | (1u << USB_COUNT_RX_NUM_BLOCK_SHIFT)), 64}, /* 2 x 32 */
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        endpoint_up(f, 1, EP1, USB_EP_TYPE_BULK, cases[i].count_rx, USB_EP_STAT_VALID,
                    USB_EP_STAT_DISABLED);
        if (rd(f, REG(USB_EPR(1))) & USB_EPR_DTOG_RX)
            wr(f, REG(USB_EPR(1)),
               USB_EPR_CTR_RX | USB_EPR_CTR_TX | USB_EPR_DTOG_RX |
                   (rd(f, REG(USB_EPR(1))) & 0x070Fu));
        /* one byte too many: overrun, STALL, no CTR, COUNT untouched */
        assert_int_equal(out_tok(f, ADDR0, EP1, false, data, cases[i].size + 1), USB_STALL);
        assert_false(rd(f, REG(USB_EPR(1))) & USB_EPR_CTR_RX);
        assert_int_equal(pma_rd16(f, USB_BDT_ENTRY + USB_COUNT_RX), cases[i].count_rx);
        /* exactly the buffer: taken */
        assert_int_equal(out_tok(f, ADDR0, EP1, false, data, cases[i].size), USB_ACK);
        assert_int_equal(pma_rd16(f, USB_BDT_ENTRY + USB_COUNT_RX),
                         cases[i].count_rx | cases[i].size);
        wr(f, REG(USB_EPR(1)), USB_EPR_CTR_TX | (rd(f, REG(USB_EPR(1))) & 0x070Fu));
    }
}

static void test_usb_answers_only_its_address_when_enabled(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    uint8_t buf[USB_MAX_PACKET_ISO];
    unsigned len;
    bool data1;
    wr(f, REG(USB_DADDR), 0); /* EF = 0: nothing is handled */
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_NO_ANSWER);
    wr(f, REG(USB_DADDR), USB_DADDR_EF | 5);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_NO_ANSWER);
    assert_int_equal(setup_tok(f, 6, EP0, get_device_descriptor), USB_NO_ANSWER);
    assert_int_equal(setup_tok(f, 5, EP0, get_device_descriptor), USB_ACK);
    assert_int_equal(in_tok(f, 5, EP0, buf, &len, &data1), USB_NAK);
    assert_int_equal(in_tok(f, 5 | 0x80, EP0, buf, &len, &data1), USB_NO_ANSWER);
    assert_int_equal(in_tok(f, 5, 16, buf, &len, &data1), USB_NO_ANSWER);
}

static void test_usb_bus_reset_clears_address_and_endpoints(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    wr(f, REG(USB_CNTR), USB_CNTR_RESETM);
    wr(f, REG(USB_DADDR), USB_DADDR_EF | 12);
    endpoint_up(f, 1, EP1, USB_EP_TYPE_BULK, COUNT_RX_64, USB_EP_STAT_VALID, USB_EP_STAT_VALID);
    wr(f, REG(USB_BTABLE), 0x40);
    stm32_usb_device_ops.bus_reset(f->usb);
    assert_int_equal(rd(f, REG(USB_DADDR)), 0);
    for (int n = 0; n < STM32_USB_ENDPOINTS; n++)
        assert_int_equal(rd(f, REG(USB_EPR(n))), 0);
    assert_int_equal(rd(f, REG(USB_BTABLE)), 0x40); /* configuration registers stay */
    assert_int_equal(rd(f, REG(USB_CNTR)), USB_CNTR_RESETM);
    assert_true(rd(f, REG(USB_ISTR)) & USB_ISTR_RESET);
    assert_true(f->lp.level);

    /* nothing is received until the guest clears RESET and sets the device up again */
    wr(f, REG(USB_BTABLE), 0);
    epr_set(f, 0, USB_EP_TYPE_CONTROL << USB_EPR_EP_TYPE_SHIFT, USB_EP_STAT_VALID, USB_EP_STAT_NAK);
    wr(f, REG(USB_DADDR), USB_DADDR_EF);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_NO_ANSWER);
    wr(f, REG(USB_ISTR), (uint16_t)~USB_ISTR_RESET);
    assert_false(f->lp.level);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_ACK);
}

static void test_usb_powered_down_or_unclocked_does_not_answer(void **state)
{
    struct fixture *f = *state;
    /* reset state: FRES | PDWN */
    wr(f, REG(USB_DADDR), USB_DADDR_EF);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_NO_ANSWER);
    device_up(f);
    wr(f, REG(USB_CNTR), USB_CNTR_PDWN);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_NO_ANSWER);
    stm32_usb_device_ops.sof(f->usb, 1);
    assert_int_equal(rd(f, REG(USB_ISTR)), 0);
    wr(f, REG(USB_CNTR), 0);
    stm32_usb_clock_in(f->usb, 0, false);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_NO_ANSWER);
    stm32_usb_clock_in(f->usb, 0, true);
    assert_int_equal(setup_tok(f, ADDR0, EP0, get_device_descriptor), USB_ACK);
    /* RCC_APB1RSTR.USBRST: registers back to reset values, the device is gone */
    stm32_usb_reset_in(f->usb, 0, true);
    assert_int_equal(rd(f, REG(USB_CNTR)), USB_CNTR_RESET_VALUE);
    assert_int_equal(rd(f, REG(USB_EPR(0))), 0);
    stm32_usb_reset_in(f->usb, 0, false);
}

/* ---- frames, suspend, wake-up ------------------------------------------------ */

static void test_usb_sof_esof_suspend_and_wakeup(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    wr(f, REG(USB_CNTR), USB_CNTR_SOFM);
    stm32_usb_device_ops.sof(f->usb, 0x7FE);
    assert_int_equal(rd(f, REG(USB_FNR)) & USB_FNR_FN, 0x7FE);
    assert_false(rd(f, REG(USB_FNR)) & USB_FNR_LCK);
    assert_true(f->lp.level);
    stm32_usb_device_ops.sof(f->usb, 0x7FF);
    assert_true(rd(f, REG(USB_FNR)) & USB_FNR_LCK);
    wr(f, REG(USB_ISTR), (uint16_t)~USB_ISTR_SOF);
    assert_false(f->lp.level);

    /* three SOFs missing: ESOF, LSOF = 3, SUSP; the lock is lost */
    wr(f, REG(USB_CNTR), USB_CNTR_SUSPM | USB_CNTR_WKUPM);
    stm32_usb_device_ops.suspend(f->usb);
    uint32_t istr = rd(f, REG(USB_ISTR));
    assert_true(istr & USB_ISTR_ESOF);
    assert_true(istr & USB_ISTR_SUSP);
    assert_int_equal((rd(f, REG(USB_FNR)) & USB_FNR_LSOF) >> USB_FNR_LSOF_SHIFT, 3);
    assert_false(rd(f, REG(USB_FNR)) & USB_FNR_LCK);
    assert_true(f->lp.level);

    /* the guest enters suspend mode; resume signalling wakes it through WKUP and EXTI 18 */
    wr(f, REG(USB_ISTR), 0);
    wr(f, REG(USB_CNTR), USB_CNTR_SUSPM | USB_CNTR_WKUPM | USB_CNTR_FSUSP | USB_CNTR_LP_MODE);
    assert_false(f->lp.level);
    stm32_usb_device_ops.resume(f->usb);
    assert_true(rd(f, REG(USB_ISTR)) & USB_ISTR_WKUP);
    assert_false(rd(f, REG(USB_CNTR)) & USB_CNTR_LP_MODE);
    assert_int_equal(f->wakeup.rises, 1);
    assert_false(f->wakeup.level);
    assert_true(f->lp.level);
    /* a SOF clears the lost-SOF count */
    stm32_usb_device_ops.sof(f->usb, 3);
    assert_int_equal(rd(f, REG(USB_FNR)) & (USB_FNR_LSOF | USB_FNR_FN), 3);
}

static void test_usb_double_buffered_endpoint_is_not_answered(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    wr(f, REG(USB_CNTR), USB_CNTR_CTRM);
    /* not modelled: no answer (and a warning), and no CTR */
    endpoint_up(f, 1, EP1, USB_EP_TYPE_BULK, COUNT_RX_64, USB_EP_STAT_VALID, USB_EP_STAT_VALID);
    wr(f, REG(USB_EPR(1)), USB_EPR_CTR_RX | USB_EPR_CTR_TX | USB_EPR_EP_KIND | EP1);
    uint8_t data[4] = {0};
    assert_int_equal(out_tok(f, ADDR0, EP1, false, data, 4), USB_NO_ANSWER);
    assert_false(f->hp.level);
    assert_false(f->lp.level);
}

/* ---- the packet memory as the CPU sees it ------------------------------------ */

static void test_usb_pma_half_words_at_a_32_bit_stride(void **state)
{
    struct fixture *f = *state;
    wr(f, STM32_USB_PMA_BASE + 4, 0xDEADBEEF); /* PMA bytes 2, 3 = EF BE; DE AD go nowhere */
    assert_int_equal(rd(f, STM32_USB_PMA_BASE + 4), 0xBEEF);
    assert_int_equal(rd_size(f, STM32_USB_PMA_BASE + 4, 2), 0xBEEF);
    assert_int_equal(rd_size(f, STM32_USB_PMA_BASE + 5, 1), 0xBE);
    assert_int_equal(rd_size(f, STM32_USB_PMA_BASE + 6, 2), 0);
    assert_int_equal(f->usb->pma[2], 0xEF);
    assert_int_equal(f->usb->pma[3], 0xBE);
    assert_int_equal(f->usb->pma[4], 0);
    wr_size(f, STM32_USB_PMA_BASE + 6, 0x1234, 2); /* the empty half */
    assert_int_equal(rd(f, STM32_USB_PMA_BASE + 4), 0xBEEF);
    assert_int_equal(rd(f, STM32_USB_PMA_BASE + 8), 0);
    wr_size(f, STM32_USB_PMA_BASE + 8, 0x4321, 2);
    assert_int_equal(f->usb->pma[4], 0x21);
    assert_int_equal(f->usb->pma[5], 0x43);
    /* a byte store lands in both bytes of its half-word */
    wr_size(f, STM32_USB_PMA_BASE + 9, 0x77, 1);
    assert_int_equal(rd(f, STM32_USB_PMA_BASE + 8), 0x7777);
    /* the last half-word */
    wr(f, STM32_USB_PMA_BASE + 0x3FC, 0xCAFE);
    assert_int_equal(f->usb->pma[510], 0xFE);
    assert_int_equal(f->usb->pma[511], 0xCA);
}

/* ---- hostile guests ---------------------------------------------------------- */

static void test_usb_hostile_descriptors_stay_inside_the_pma(void **state)
{
    struct fixture *f = *state;
    device_up(f);
    uint8_t buf[USB_MAX_PACKET_ISO];
    unsigned len;
    bool data1;

    /* TX buffer at the end of PMA with COUNT_TX = 1023 (the top bits ignored) */
    pma_wr16(f, USB_ADDR_TX, 0xFFFE);
    pma_wr16(f, USB_COUNT_TX, 0xFFFF);
    epr_set(f, 0, USB_EP_TYPE_CONTROL << USB_EPR_EP_TYPE_SHIFT, USB_EP_STAT_VALID,
            USB_EP_STAT_VALID);
    assert_int_equal(in_tok(f, ADDR0, EP0, buf, &len, &data1), USB_ACK);
    assert_int_equal(len, 1023);
    /* a host with a smaller buffer gets no more than it has room for */
    epr_set(f, 0, USB_EP_TYPE_CONTROL << USB_EPR_EP_TYPE_SHIFT, USB_EP_STAT_VALID,
            USB_EP_STAT_VALID);
    uint8_t small[16];
    assert_int_equal(stm32_usb_device_ops.in(f->usb, ADDR0, EP0, small, sizeof small, &len, &data1),
                     USB_ACK);
    assert_int_equal(len, sizeof small);

    /* RX buffer of 1024 bytes starting near the end; an enormous OUT packet */
    static uint8_t huge[100000];
    memset(huge, 0xA5, sizeof huge);
    pma_wr16(f, USB_ADDR_RX, 0x1FE);
    pma_wr16(f, USB_COUNT_RX, USB_COUNT_RX_BL_SIZE | USB_COUNT_RX_NUM_BLOCK);
    assert_int_equal(out_tok(f, ADDR0, EP0, false, huge, sizeof huge), USB_STALL);
    assert_false(rd(f, REG(USB_EPR(0))) & USB_EPR_CTR_RX);
    /* what fitted wrapped over the whole PMA, descriptors included; set them again */
    assert_int_equal(pma_rd16(f, USB_COUNT_RX), 0xA5A5);
    pma_wr16(f, USB_ADDR_RX, 0x1FE);
    pma_wr16(f, USB_COUNT_RX, USB_COUNT_RX_BL_SIZE | USB_COUNT_RX_NUM_BLOCK);
    /* 1024 bytes fit that "buffer": accepted, all in the PMA (COUNT is 10 bits) */
    assert_int_equal(out_tok(f, ADDR0, EP0, false, huge, 1024), USB_ACK);
    assert_int_equal(rd(f, REG(USB_CNTR)), 0);
    assert_true(rd(f, REG(USB_EPR(0))) & USB_EPR_CTR_RX);

    /* BTABLE at the very end: entry 1 onwards wraps to the start of the PMA */
    wr(f, REG(USB_BTABLE), 0xFFF8);
    assert_int_equal(rd(f, REG(USB_BTABLE)), 0xFFF8);
    endpoint_up(f, 7, 3, USB_EP_TYPE_BULK, 0xFFFF, USB_EP_STAT_VALID, USB_EP_STAT_VALID);
    assert_int_equal(in_tok(f, ADDR0, 3, buf, &len, &data1), USB_ACK);
    assert_true(len <= USB_MAX_PACKET_ISO);
    assert_int_not_equal(out_tok(f, ADDR0, 3, false, huge, sizeof huge), USB_ACK);
    assert_int_equal(out_tok(f, ADDR0, 3, false, huge, 0), USB_ACK);

    /* registers outside the block and upper halves: no effect, no crash */
    wr(f, REG(0x3FC), 0xFFFFFFFF);
    assert_int_equal(rd(f, REG(0x3FC)), 0);
    assert_int_equal(rd(f, REG(USB_FNR + 2)), 0);
    wr(f, REG(USB_FNR), 0xFFFF);
    assert_int_equal(rd(f, REG(USB_FNR)) & USB_FNR_FN, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usb_reset_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_epr_toggle_and_w0c_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_epr_narrow_write_touches_only_its_lanes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usb_istr_flags_are_write0_to_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_fres_resets_like_the_bus_and_sets_reset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usb_control_read_setup_in_out_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_istr_names_the_lowest_endpoint_with_ctr, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usb_handshakes_follow_stat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_out_toggle_mismatch_is_acked_and_discarded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usb_count_rx_block_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_answers_only_its_address_when_enabled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usb_bus_reset_clears_address_and_endpoints, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usb_powered_down_or_unclocked_does_not_answer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usb_sof_esof_suspend_and_wakeup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_double_buffered_endpoint_is_not_answered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usb_pma_half_words_at_a_32_bit_stride, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usb_hostile_descriptors_stay_inside_the_pma, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
