/*
 * usb.h - STM32F103 USB full-speed device interface (RM0008 section 23):
 * registers at 0x40005C00 (EP0R..EP7R, CNTR, ISTR, FNR, DADDR, BTABLE) and the
 * 512-byte packet memory (PMA) at 0x40006000, which the CPU sees as 256
 * half-words at a 32-bit stride (CPU address = 0x40006000 + 2 * PMA offset).
 *
 * The USB side is the token interface of emu/usb.h: the host controller calls
 * stm32_usb_device_ops with `dev` = the struct stm32_usb, and every
 * transaction is answered at once from the endpoint registers, the buffer
 * descriptor table and the PMA, exactly as the serial interface engine does;
 * the guest sees the result through CTR_RX/CTR_TX and its interrupt.
 */
#ifndef PERIPHERALS_STM32F1_USB_H
#define PERIPHERALS_STM32F1_USB_H

#include "periph.h"

#include "emu/usb.h"

#include <stdbool.h>
#include <stdint.h>

#define STM32_USB_BASE 0x40005C00u
#define STM32_USB_SIZE 0x400u
#define STM32_USB_PMA_BASE 0x40006000u
#define STM32_USB_PMA_SIZE 0x400u /* CPU window: 256 half-words at a 32-bit stride */
#define STM32_USB_PMA_BYTES 512u /* the packet memory itself */
#define STM32_USB_ENDPOINTS 8 /* EP0R..EP7R */

/* Register offsets */
#define USB_EPR(n) (0x04u * (unsigned)(n)) /* USB_EP0R .. USB_EP7R */
#define USB_CNTR 0x40u
#define USB_ISTR 0x44u
#define USB_FNR 0x48u
#define USB_DADDR 0x4Cu
#define USB_BTABLE 0x50u

/* USB_EPnR */
#define USB_EPR_CTR_RX (1u << 15) /* rc_w0 */
#define USB_EPR_DTOG_RX (1u << 14) /* t */
#define USB_EPR_STAT_RX_SHIFT 12 /* t */
#define USB_EPR_STAT_RX (3u << 12)
#define USB_EPR_SETUP (1u << 11) /* r */
#define USB_EPR_EP_TYPE_SHIFT 9 /* rw */
#define USB_EPR_EP_TYPE (3u << 9)
#define USB_EPR_EP_KIND (1u << 8) /* rw: DBL_BUF (bulk), STATUS_OUT (control) */
#define USB_EPR_CTR_TX (1u << 7) /* rc_w0 */
#define USB_EPR_DTOG_TX (1u << 6) /* t */
#define USB_EPR_STAT_TX_SHIFT 4 /* t */
#define USB_EPR_STAT_TX (3u << 4)
#define USB_EPR_EA 0x000Fu /* rw */

/* STAT_RX / STAT_TX values */
#define USB_EP_STAT_DISABLED 0u
#define USB_EP_STAT_STALL 1u
#define USB_EP_STAT_NAK 2u
#define USB_EP_STAT_VALID 3u

/* EP_TYPE values */
#define USB_EP_TYPE_BULK 0u
#define USB_EP_TYPE_CONTROL 1u
#define USB_EP_TYPE_ISO 2u
#define USB_EP_TYPE_INTERRUPT 3u

/* USB_CNTR */
#define USB_CNTR_FRES (1u << 0)
#define USB_CNTR_PDWN (1u << 1)
#define USB_CNTR_LP_MODE (1u << 2)
#define USB_CNTR_FSUSP (1u << 3)
#define USB_CNTR_RESUME (1u << 4)
#define USB_CNTR_ESOFM (1u << 8)
#define USB_CNTR_SOFM (1u << 9)
#define USB_CNTR_RESETM (1u << 10)
#define USB_CNTR_SUSPM (1u << 11)
#define USB_CNTR_WKUPM (1u << 12)
#define USB_CNTR_ERRM (1u << 13)
#define USB_CNTR_PMAOVRM (1u << 14)
#define USB_CNTR_CTRM (1u << 15)
#define USB_CNTR_RESET_VALUE (USB_CNTR_FRES | USB_CNTR_PDWN)

/* USB_ISTR */
#define USB_ISTR_EP_ID 0x000Fu
#define USB_ISTR_DIR (1u << 4)
#define USB_ISTR_ESOF (1u << 8)
#define USB_ISTR_SOF (1u << 9)
#define USB_ISTR_RESET (1u << 10)
#define USB_ISTR_SUSP (1u << 11)
#define USB_ISTR_WKUP (1u << 12)
#define USB_ISTR_ERR (1u << 13)
#define USB_ISTR_PMAOVR (1u << 14)
#define USB_ISTR_CTR (1u << 15)

/* USB_FNR */
#define USB_FNR_FN 0x07FFu
#define USB_FNR_LSOF_SHIFT 11
#define USB_FNR_LSOF (3u << 11)
#define USB_FNR_LCK (1u << 13)
#define USB_FNR_RXDM (1u << 14)
#define USB_FNR_RXDP (1u << 15)

/* USB_DADDR */
#define USB_DADDR_ADD 0x7Fu
#define USB_DADDR_EF (1u << 7)

/* Buffer descriptor table: entry n at BTABLE + 8n, offsets of its half-words */
#define USB_BDT_ENTRY 8u
#define USB_ADDR_TX 0u
#define USB_COUNT_TX 2u
#define USB_ADDR_RX 4u
#define USB_COUNT_RX 6u
#define USB_COUNT_TX_COUNT 0x03FFu
#define USB_COUNT_RX_COUNT 0x03FFu
#define USB_COUNT_RX_NUM_BLOCK_SHIFT 10
#define USB_COUNT_RX_NUM_BLOCK (0x1Fu << 10)
#define USB_COUNT_RX_BL_SIZE (1u << 15)

struct stm32_usb {
    struct sim *sim;

    uint16_t epr[STM32_USB_ENDPOINTS];
    uint16_t cntr;
    uint16_t istr; /* the latched flags only; CTR, DIR and EP_ID are derived from EPnR */
    uint16_t fnr;
    uint16_t daddr;
    uint16_t btable;
    unsigned sof_run; /* consecutive SOFs since the last reset, resume or suspend (FNR.LCK) */

    /* incoming levels */
    bool clocked; /* RCC_APB1ENR.USBEN; true until a board wires stm32_usb_clock_in */
    bool held; /* RCC_APB1RSTR.USBRST */

    /*
     * Outgoing connections.
     *   irq_lp  USB_LP_CAN1_RX0 (NVIC 20), a level: (ISTR flags & CNTR masks), or
     *           CTRM and a correct transfer on any other endpoint than below
     *   irq_hp  USB_HP_CAN1_TX (NVIC 19), a level: CTRM and a correct transfer on an
     *           isochronous or double-buffered bulk endpoint
     *   wakeup  pulses (high then low) when ISTR.WKUP is set: EXTI line 18
     *   ready   pulses when the guest makes STAT_TX or STAT_RX of an endpoint VALID,
     *           so a host controller can retry a NAKed transaction at once
     */
    struct line irq_lp, irq_hp, wakeup, ready;
    bool irq_lp_level, irq_hp_level;

    /* last: a stray index past it would leave the struct, where a sanitizer sees it */
    uint8_t pma[STM32_USB_PMA_BYTES];
};

void stm32_usb_init(struct stm32_usb *usb, struct sim *sim);
void stm32_usb_reset(void *dev, enum reset_cause cause);
extern const struct mmio_ops stm32_usb_mmio; /* at STM32_USB_BASE */
extern const struct mmio_ops stm32_usb_pma_mmio; /* at STM32_USB_PMA_BASE */
/* The token interface for the host controller (emu/usb.h); dev = the struct stm32_usb. */
extern const struct usb_device_ops stm32_usb_device_ops;

/* Incoming: RCC_APB1ENR.USBEN (level high = clocked). Unclocked, the block does not answer. */
void stm32_usb_clock_in(void *opaque, int n, bool level);
/* Incoming: RCC_APB1RSTR.USBRST (level high = held in reset). */
void stm32_usb_reset_in(void *opaque, int n, bool level);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_usb_save(const struct stm32_usb *d, struct snap_writer *w);
void stm32_usb_load(struct stm32_usb *d, struct snap_reader *r);

#endif
