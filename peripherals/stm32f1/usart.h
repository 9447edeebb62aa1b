/*
 * usart.h - STM32F103 USART1/USART2 in asynchronous mode (RM0008 section 27).
 *
 * TX: a byte written to DR moves to the shift register and reaches the sink
 * one frame time later (start + data + parity + stop bits at the baud rate
 * BRR sets from PCLK); TXE and TC follow that timing through events.
 * RX: the machine hands bytes in with stm32_usart_receive(), which the
 * receiver takes at once; pacing the host's bytes (no faster than
 * stm32_usart_frame_cycles() apart) is the caller's business.
 */
#ifndef PERIPHERALS_STM32F1_USART_H
#define PERIPHERALS_STM32F1_USART_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

/* Register offsets */
#define USART_SR 0x00u
#define USART_DR 0x04u
#define USART_BRR 0x08u
#define USART_CR1 0x0Cu
#define USART_CR2 0x10u
#define USART_CR3 0x14u
#define USART_GTPR 0x18u

/* USART_SR */
#define USART_SR_PE (1u << 0)
#define USART_SR_FE (1u << 1)
#define USART_SR_NE (1u << 2)
#define USART_SR_ORE (1u << 3)
#define USART_SR_IDLE (1u << 4)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TC (1u << 6)
#define USART_SR_TXE (1u << 7)
#define USART_SR_LBD (1u << 8)
#define USART_SR_CTS (1u << 9)
/* USART_CR1 */
#define USART_CR1_SBK (1u << 0)
#define USART_CR1_RWU (1u << 1)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_IDLEIE (1u << 4)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_TCIE (1u << 6)
#define USART_CR1_TXEIE (1u << 7)
#define USART_CR1_PEIE (1u << 8)
#define USART_CR1_PS (1u << 9)
#define USART_CR1_PCE (1u << 10)
#define USART_CR1_WAKE (1u << 11)
#define USART_CR1_M (1u << 12)
#define USART_CR1_UE (1u << 13)
/* USART_CR2 */
#define USART_CR2_STOP_SHIFT 12
#define USART_CR2_STOP_MASK (3u << 12)
#define USART_CR2_CLKEN (1u << 11)
#define USART_CR2_LINEN (1u << 14)
/* USART_CR3 */
#define USART_CR3_EIE (1u << 0)
#define USART_CR3_IREN (1u << 1)
#define USART_CR3_HDSEL (1u << 3)
#define USART_CR3_SCEN (1u << 5)
#define USART_CR3_DMAR (1u << 6)
#define USART_CR3_DMAT (1u << 7)
#define USART_CR3_RTSE (1u << 8)
#define USART_CR3_CTSE (1u << 9)
#define USART_CR3_CTSIE (1u << 10)

#define USART_SR_RESET (USART_SR_TXE | USART_SR_TC)

/* Where transmitted bytes go (a log, a console, a pty). 9-bit frames give their low 8 bits. */
struct usart_sink {
    void (*tx)(void *opaque, uint8_t byte);
    void *opaque;
};

struct stm32_usart {
    struct sim *sim;
    const char *name;
    uint32_t pclk_hz; /* PCLK2 for USART1, PCLK1 for USART2 */

    uint16_t sr, brr, cr1, cr2, cr3, gtpr;
    uint16_t tdr, rdr;       /* transmit data register, receive data register */
    bool tdr_full;           /* TDR holds a byte the shifter has not taken */
    bool shifting;           /* the shift register is sending `shift_byte` */
    uint16_t shift_byte;
    bool sr_read;            /* first half of the "read SR, then DR" clearing sequence */

    struct event tx_done;    /* end of the frame in the shift register */
    struct event idle_ev;    /* a frame time of idle line after a received byte */

    struct usart_sink sink;
    struct line irq;    /* USART1 37, USART2 38 */
    struct line dma_tx; /* TXE && DMAT: USART1 -> DMA1 ch4, USART2 -> ch7 */
    struct line dma_rx; /* RXNE && DMAR: USART1 -> ch5, USART2 -> ch6 */
    bool irq_level, dma_tx_level, dma_rx_level;
};

/* pclk_hz: 72 MHz for USART1 (APB2), 36 MHz for USART2 (APB1) with the Spark clock tree. */
void stm32_usart_init(struct stm32_usart *usart, struct sim *sim, const char *name,
                      uint32_t pclk_hz);
void stm32_usart_reset(void *dev, enum reset_cause cause);
void stm32_usart_set_clock(struct stm32_usart *usart, uint32_t pclk_hz);
extern const struct mmio_ops stm32_usart_mmio;

/*
 * A byte arrives on RX. Returns false if the receiver is off (UE or RE clear)
 * and the byte is dropped. A byte arriving while RXNE is still set is lost
 * and sets ORE, as on the chip.
 */
bool stm32_usart_receive(struct stm32_usart *usart, uint8_t byte);
/* Duration of one frame at the current settings, in CPU cycles. */
uint64_t stm32_usart_frame_cycles(const struct stm32_usart *usart);

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_usart_save(const struct stm32_usart *d, struct snap_writer *w);
void stm32_usart_load(struct stm32_usart *d, struct snap_reader *r);

#endif
