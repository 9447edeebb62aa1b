/*
 * dma.h - STM32F103 DMA1, channels 1..7 (RM0008 section 13).
 *
 * Transfers are bus accesses through bus_read/bus_write on sim->bus, so a
 * peripheral's DR side effects happen exactly as for a real DMA access. A
 * transfer takes no virtual time, but a channel moves one item per request:
 * whenever an enabled channel has its request high (or is MEM2MEM), the
 * controller transfers until no channel has a pending request, and only then
 * do the interrupt lines follow the new flags. A peripheral whose data takes
 * time (an SPI frame) drops its request after each item and raises it at its
 * next frame, so such a transfer is paced by the peripheral.
 */
#ifndef PERIPHERALS_STM32F1_DMA_H
#define PERIPHERALS_STM32F1_DMA_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

#define DMA_CHANNELS 7

/* Register offsets; channel x (1..7) registers at DMA_CCR(x) etc. */
#define DMA_ISR 0x00u
#define DMA_IFCR 0x04u
#define DMA_CHANNEL_STRIDE 0x14u
#define DMA_CCR(x) (0x08u + DMA_CHANNEL_STRIDE * ((x) - 1u))
#define DMA_CNDTR(x) (0x0Cu + DMA_CHANNEL_STRIDE * ((x) - 1u))
#define DMA_CPAR(x) (0x10u + DMA_CHANNEL_STRIDE * ((x) - 1u))
#define DMA_CMAR(x) (0x14u + DMA_CHANNEL_STRIDE * ((x) - 1u))

/* DMA_ISR / DMA_IFCR: channel x (1..7) owns bits 4(x-1) .. 4(x-1)+3 */
#define DMA_ISR_GIF(x) (1u << (4u * ((x) - 1u)))
#define DMA_ISR_TCIF(x) (2u << (4u * ((x) - 1u)))
#define DMA_ISR_HTIF(x) (4u << (4u * ((x) - 1u)))
#define DMA_ISR_TEIF(x) (8u << (4u * ((x) - 1u)))

/* DMA_CCRx */
#define DMA_CCR_EN (1u << 0)
#define DMA_CCR_TCIE (1u << 1)
#define DMA_CCR_HTIE (1u << 2)
#define DMA_CCR_TEIE (1u << 3)
#define DMA_CCR_DIR (1u << 4) /* 1: read from memory (CMAR), write to peripheral (CPAR) */
#define DMA_CCR_CIRC (1u << 5)
#define DMA_CCR_PINC (1u << 6)
#define DMA_CCR_MINC (1u << 7)
#define DMA_CCR_PSIZE_SHIFT 8
#define DMA_CCR_MSIZE_SHIFT 10
#define DMA_CCR_PL_SHIFT 12
#define DMA_CCR_MEM2MEM (1u << 14)
#define DMA_CCR_MASK 0x7FFFu

/*
 * The request input `n` of stm32_dma_request_in(): the channel (1..7), plus
 * 16 * k to tell apart up to 8 requesters k = 0..7 that share one channel
 * (RM0008 table 78: e.g. SPI2_RX and USART1_TX on channel 4). A channel's
 * request is the OR of its requesters' levels.
 */
#define DMA_REQUEST(channel, requester) ((int)(channel) | ((int)(requester) << 4))

struct stm32_dma_channel {
    uint32_t ccr, cndtr, cpar, cmar;
    uint32_t cndtr_reload;     /* CNDTR as programmed: circular reload and half-transfer */
    uint32_t cur_par, cur_mar; /* the internal current addresses */
    uint8_t request;           /* one bit per requester whose line is high */
};

struct stm32_dma {
    struct sim *sim;
    const char *name;

    uint32_t isr;
    struct stm32_dma_channel ch[DMA_CHANNELS]; /* index 0 = channel 1 */

    bool servicing;           /* inside the transfer loop: requests just queue */
    struct event resume;      /* continues a loop cut short by the burst limit */
    uint32_t dirty_lo, dirty_hi; /* SRAM bytes written during this loop */

    struct line irq[DMA_CHANNELS]; /* NVIC 11..17 for channels 1..7 */
    bool irq_level[DMA_CHANNELS];
};

void stm32_dma_init(struct stm32_dma *dma, struct sim *sim, const char *name);
void stm32_dma_reset(void *dev, enum reset_cause cause);
/* A peripheral's DMA request line: n = DMA_REQUEST(channel, requester). */
void stm32_dma_request_in(void *opaque, int n, bool level);
extern const struct mmio_ops stm32_dma_mmio;

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_dma_save(const struct stm32_dma *d, struct snap_writer *w);
void stm32_dma_load(struct stm32_dma *d, struct snap_reader *r);

#endif
