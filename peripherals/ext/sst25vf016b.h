/*
 * sst25vf016b.h - the SST25VF016B 2 MiB SPI NOR flash on the Core's SPI2
 * (chip select PB9): an SPI slave that programs and erases a caller-owned
 * 2 MiB buffer (the board maps the image file there).
 *
 * Design decision: a program or erase changes the buffer when its busy time
 * (datasheet maximum: Tbp 10 us, Tse/Tbe 25 ms, Tsce 50 ms) has elapsed in
 * virtual time, not when the command is accepted; until then the status
 * register reports BUSY and every command except RDSR is ignored.
 */
#ifndef PERIPHERALS_EXT_SST25VF016B_H
#define PERIPHERALS_EXT_SST25VF016B_H

#include <stdbool.h>
#include <stdint.h>

#include "emu/periph.h"

#define SST25_SIZE (2u * 1024u * 1024u)
#define SST25_SECTOR_SIZE 0x1000u    /* 4 KiB sector erase (0x20) */
#define SST25_BLOCK32_SIZE 0x8000u   /* 32 KiB block erase (0x52) */
#define SST25_BLOCK64_SIZE 0x10000u  /* 64 KiB block erase (0xD8) */

/* JEDEC identification: manufacturer SST, memory type, device SST25VF016B. */
#define SST25_JEDEC_MANUFACTURER 0xBF
#define SST25_JEDEC_MEMORY_TYPE 0x25
#define SST25_JEDEC_DEVICE 0x41

/* Instructions (datasheet names). */
enum sst25_opcode {
    SST25_WRSR = 0x01,      /* Write-Status-Register */
    SST25_BYTE_PROGRAM = 0x02,
    SST25_READ = 0x03,      /* 25 MHz read */
    SST25_WRDI = 0x04,      /* Write-Disable; also ends AAI */
    SST25_RDSR = 0x05,      /* Read-Status-Register */
    SST25_WREN = 0x06,      /* Write-Enable */
    SST25_HIGH_SPEED_READ = 0x0B,
    SST25_SECTOR_ERASE = 0x20,
    SST25_EWSR = 0x50,      /* Enable-Write-Status-Register */
    SST25_BLOCK_ERASE_32K = 0x52,
    SST25_CHIP_ERASE = 0x60,
    SST25_EBSY = 0x70,      /* SO outputs RY/BY# during AAI */
    SST25_DBSY = 0x80,
    SST25_RDID = 0x90,      /* Read-ID; 0xAB is the same instruction */
    SST25_JEDEC_ID = 0x9F,
    SST25_RDID_ALT = 0xAB,
    SST25_AAI_WORD_PROGRAM = 0xAD,
    SST25_CHIP_ERASE_ALT = 0xC7,
    SST25_BLOCK_ERASE_64K = 0xD8,
};

/* Software status register bits. */
#define SST25_SR_BUSY (1u << 0)
#define SST25_SR_WEL (1u << 1)
#define SST25_SR_BP0 (1u << 2)
#define SST25_SR_BP1 (1u << 3)
#define SST25_SR_BP2 (1u << 4)
#define SST25_SR_BP3 (1u << 5)
#define SST25_SR_AAI (1u << 6)
#define SST25_SR_BPL (1u << 7)
#define SST25_SR_BP_MASK (SST25_SR_BP0 | SST25_SR_BP1 | SST25_SR_BP2 | SST25_SR_BP3)
/* Power-up value: BP0-BP2 set, i.e. the whole array write-protected. */
#define SST25_SR_POWER_UP (SST25_SR_BP0 | SST25_SR_BP1 | SST25_SR_BP2)

/* Busy times in virtual time (datasheet maxima). */
#define SST25_TBP SIM_US(10)   /* byte program, and each AAI word */
#define SST25_TSE SIM_MS(25)   /* 4 KiB sector erase */
#define SST25_TBE SIM_MS(25)   /* 32/64 KiB block erase */
#define SST25_TSCE SIM_MS(50)  /* chip erase */

enum sst25_busy_op { SST25_IDLE = 0, SST25_BUSY_PROGRAM, SST25_BUSY_AAI_WORD, SST25_BUSY_ERASE };

struct sst25 {
    struct sim *sim;
    uint8_t *mem; /* SST25_SIZE bytes, owned by the caller */

    /* Stored status bits (WEL, BP0-BP3, AAI, BPL); BUSY comes from busy_op. */
    uint8_t status;
    bool ewsr_enabled;  /* EWSR was the previous instruction: WRSR may follow */
    bool ebsy;          /* EBSY given: SO shows RY/BY# while an AAI word programs */
    /*
     * WP# pin level. WP# and HOLD# are tied high on the Core, so BPL never
     * locks the status register there; a board may set this to model WP# low.
     */
    bool wp_low;

    /* The instruction of the current chip-select cycle. */
    bool selected;
    uint8_t opcode;
    bool ignored;      /* instruction not accepted (busy, or invalid during AAI) */
    uint32_t count;    /* bytes exchanged in this cycle, opcode included */
    uint32_t addr;     /* assembled A23-A0, then the running read address */
    uint8_t data[2];   /* program / WRSR data bytes */
    bool ewsr_was_enabled; /* EWSR preceded this instruction */

    /* AAI word programming, kept across chip-select cycles. */
    uint32_t aai_addr;      /* address of the next word */
    uint32_t aai_run_addr;  /* start of this AAI sequence (for the trace) */
    uint32_t aai_run_len;   /* bytes programmed so far in this sequence */

    /* The internal operation in progress. */
    enum sst25_busy_op busy_op;
    uint32_t busy_addr, busy_len;
    uint8_t busy_data[2];
    struct event busy_done;
};

void sst25_init(struct sst25 *dev, struct sim *sim, uint8_t *mem);
/*
 * Power-on: status register back to SST25_SR_POWER_UP, any operation in
 * progress is lost. Any other cause leaves the chip alone (it is not wired to
 * the STM32's reset) except that the half-sent instruction is dropped.
 */
void sst25_reset(struct sst25 *dev, enum reset_cause cause);
/* The status register as RDSR would return it now. */
uint8_t sst25_status(struct sst25 *dev);

extern const struct spi_slave_ops sst25_spi_ops;

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void sst25_save(const struct sst25 *d, struct snap_writer *w);
void sst25_load(struct sst25 *d, struct snap_reader *r);

#endif
