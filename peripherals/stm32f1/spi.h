/*
 * spi.h - STM32F103 SPI1/SPI2 in master mode (RM0008 section 25), exchanging
 * frames with the slaves of an attached `struct spi_bus` (emu/periph.h).
 *
 * A frame takes 8 or 16 bit-times of PCLK / 2^(BR+1) on the wire: a DR write
 * fills the TX buffer, which moves to the shift register when it is idle
 * (TXE set again, BSY set); at the end of the frame the slaves' answer lands
 * in RX (RXNE, or OVR) and a waiting frame follows. DMA requests (TXE, RXNE)
 * therefore come one per frame. PCLK is PCLK2 for SPI1 and PCLK1 for SPI2
 * (stm32_spi_set_clock, from the clock tree).
 */
#ifndef PERIPHERALS_STM32F1_SPI_H
#define PERIPHERALS_STM32F1_SPI_H

#include "periph.h"

#include <stdbool.h>
#include <stdint.h>

/* Register offsets */
#define SPI_CR1 0x00u
#define SPI_CR2 0x04u
#define SPI_SR 0x08u
#define SPI_DR 0x0Cu
#define SPI_CRCPR 0x10u
#define SPI_RXCRCR 0x14u
#define SPI_TXCRCR 0x18u
#define SPI_I2SCFGR 0x1Cu
#define SPI_I2SPR 0x20u

/* SPI_CR1 */
#define SPI_CR1_CPHA (1u << 0)
#define SPI_CR1_CPOL (1u << 1)
#define SPI_CR1_MSTR (1u << 2)
#define SPI_CR1_BR_SHIFT 3
#define SPI_CR1_BR_MASK (7u << 3)
#define SPI_CR1_SPE (1u << 6)
#define SPI_CR1_LSBFIRST (1u << 7)
#define SPI_CR1_SSI (1u << 8)
#define SPI_CR1_SSM (1u << 9)
#define SPI_CR1_RXONLY (1u << 10)
#define SPI_CR1_DFF (1u << 11)
#define SPI_CR1_CRCNEXT (1u << 12)
#define SPI_CR1_CRCEN (1u << 13)
#define SPI_CR1_BIDIOE (1u << 14)
#define SPI_CR1_BIDIMODE (1u << 15)
/* SPI_CR2 */
#define SPI_CR2_RXDMAEN (1u << 0)
#define SPI_CR2_TXDMAEN (1u << 1)
#define SPI_CR2_SSOE (1u << 2)
#define SPI_CR2_ERRIE (1u << 5)
#define SPI_CR2_RXNEIE (1u << 6)
#define SPI_CR2_TXEIE (1u << 7)
/* SPI_SR */
#define SPI_SR_RXNE (1u << 0)
#define SPI_SR_TXE (1u << 1)
#define SPI_SR_CHSIDE (1u << 2)
#define SPI_SR_UDR (1u << 3)
#define SPI_SR_CRCERR (1u << 4)
#define SPI_SR_MODF (1u << 5)
#define SPI_SR_OVR (1u << 6)
#define SPI_SR_BSY (1u << 7)
/* SPI_I2SCFGR */
#define SPI_I2SCFGR_I2SMOD (1u << 11)

#define SPI_SR_RESET SPI_SR_TXE
#define SPI_CRCPR_RESET 0x0007u
#define SPI_I2SPR_RESET 0x0002u

struct stm32_spi {
    struct sim *sim;
    const char *name;

    uint16_t cr1, cr2, sr, crcpr, i2scfgr, i2spr;
    uint16_t rx_buf;  /* what a DR read returns */
    uint16_t tx_buf;  /* a frame written while it could not be sent yet */
    bool tx_full;
    bool shifting;      /* BSY: shift_buf is on the wire until shift_done */
    uint16_t shift_buf; /* the frame in the shift register */
    uint32_t pclk_hz;   /* the APB clock the baud rate divides */
    struct event shift_done;
    bool ovr_dr_read;  /* OVR clearing: DR was read, an SR read completes it */
    bool modf_sr_read; /* MODF clearing: SR was read, a CR1 write completes it */

    /* Connections: the bus the board attaches the slaves to, and outputs. */
    struct spi_bus *bus;
    struct line irq;    /* SPI1 35, SPI2 36 */
    struct line dma_rx; /* RXNE && RXDMAEN: SPI1 -> DMA1 ch2, SPI2 -> ch4 */
    struct line dma_tx; /* TXE && TXDMAEN && SPE: SPI1 -> ch3, SPI2 -> ch5 */
    bool irq_level, dma_rx_level, dma_tx_level;
};

void stm32_spi_init(struct stm32_spi *spi, struct sim *sim, const char *name);
void stm32_spi_reset(void *dev, enum reset_cause cause);
/* PCLK of the SPI's APB bus (SPI1: PCLK2, SPI2: PCLK1), in Hz. */
void stm32_spi_set_clock(struct stm32_spi *spi, uint32_t pclk_hz);
extern const struct mmio_ops stm32_spi_mmio;

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void stm32_spi_save(const struct stm32_spi *d, struct snap_writer *w);
void stm32_spi_load(struct stm32_spi *d, struct snap_reader *r);

#endif
