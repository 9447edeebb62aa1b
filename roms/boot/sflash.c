/*
 * sflash.c - the SST25VF016B external flash on SPI2 (chip select PB9):
 * reading, 4 KiB sector erase, AAI word programming and byte programming.
 *
 * Design decision: SPI2 is driven by polling, one byte out and one byte in
 * per exchange (TXE, DR, RXNE, DR), and the ROM is its only user, so it is
 * configured once (mode 0, master, /2, 8-bit, software NSS) and the CC3000's
 * chip select simply stays high. Reads stream any length in one READ
 * instruction; busy waits poll RDSR with chip select held low, bounded by the
 * millisecond clock.
 */
#include "boot.h"

#define SFLASH_PORT GPIOB_BASE
#define SFLASH_CS_PIN 9u
#define SPI2_SCK_PIN 13u
#define SPI2_MISO_PIN 14u
#define SPI2_MOSI_PIN 15u

/* Instructions (SST25VF016B datasheet names). */
#define SST25_READ 0x03u
#define SST25_SECTOR_ERASE_4K 0x20u
#define SST25_BYTE_PROGRAM 0x02u
#define SST25_AAI_WORD_PROGRAM 0xADu
#define SST25_RDSR 0x05u
#define SST25_EWSR 0x50u
#define SST25_WRSR 0x01u
#define SST25_WREN 0x06u
#define SST25_WRDI 0x04u
#define SST25_DBSY 0x80u
#define SST25_JEDEC_ID 0x9Fu

#define SST25_SR_BUSY (1u << 0)
#define SST25_SR_UNPROTECTED 0x00u /* BP0..BP3 clear */
#define SST25VF016B_JEDEC_ID 0xBF2541u
#define SST25VF040B_JEDEC_ID 0xBF258Du
#define SPI_DUMMY 0xFFu
#define SST25_BUSY_TIMEOUT_MS 100u /* sector erase: 25 ms max */

static void select_chip(void) { gpio_reset(SFLASH_PORT, SFLASH_CS_PIN); }
static void deselect_chip(void) { gpio_set(SFLASH_PORT, SFLASH_CS_PIN); }

static uint8_t spi_exchange(uint8_t out)
{
    while (!(SPI2_SR & SPI_SR_TXE)) {
    }
    SPI2_DR = out;
    while (!(SPI2_SR & SPI_SR_RXNE)) {
    }
    return (uint8_t)SPI2_DR;
}

static void send_address(uint32_t address)
{
    spi_exchange((uint8_t)(address >> 16));
    spi_exchange((uint8_t)(address >> 8));
    spi_exchange((uint8_t)address);
}

static void command(uint8_t instruction)
{
    select_chip();
    spi_exchange(instruction);
    deselect_chip();
}

static bool wait_while_busy(void)
{
    uint32_t start = board_millis();
    bool ready;

    select_chip();
    spi_exchange(SST25_RDSR);
    for (;;) {
        ready = !(spi_exchange(SPI_DUMMY) & SST25_SR_BUSY);
        if (ready || board_millis() - start > SST25_BUSY_TIMEOUT_MS)
            break;
    }
    deselect_chip();
    return ready;
}

static uint32_t read_jedec_id(void)
{
    uint32_t id;

    select_chip();
    spi_exchange(SST25_JEDEC_ID);
    id = (uint32_t)spi_exchange(SPI_DUMMY) << 16;
    id |= (uint32_t)spi_exchange(SPI_DUMMY) << 8;
    id |= spi_exchange(SPI_DUMMY);
    deselect_chip();
    return id;
}

void sflash_init(void)
{
    uint32_t id;

    RCC_APB2ENR |= RCC_APB2ENR_IOPBEN;
    RCC_APB1ENR |= RCC_APB1ENR_SPI2EN;
    deselect_chip();
    gpio_configure(SFLASH_PORT, SFLASH_CS_PIN, GPIO_MODE_OUTPUT_PP_50MHZ);
    gpio_configure(SFLASH_PORT, SPI2_SCK_PIN, GPIO_MODE_AF_PP_50MHZ);
    gpio_configure(SFLASH_PORT, SPI2_MISO_PIN, GPIO_MODE_INPUT_FLOATING);
    gpio_configure(SFLASH_PORT, SPI2_MOSI_PIN, GPIO_MODE_AF_PP_50MHZ);

    SPI2_CR1 = SPI_CR1_MSTR | SPI_CR1_BR_DIV2 | SPI_CR1_SSM | SPI_CR1_SSI;
    SPI2_CR1 |= SPI_CR1_SPE;

    /* The chip powers up write-protected (BP bits set) and may be mid-AAI after a reset. */
    id = read_jedec_id();
    if (id == SST25VF016B_JEDEC_ID || id == SST25VF040B_JEDEC_ID)
        command(SST25_DBSY);
    command(SST25_WRDI);
    command(SST25_EWSR);
    select_chip();
    spi_exchange(SST25_WRSR);
    spi_exchange(SST25_SR_UNPROTECTED);
    deselect_chip();
    command(SST25_WRDI);
}

void sflash_read(uint32_t address, void *buffer, size_t length)
{
    uint8_t *to = buffer;

    select_chip();
    spi_exchange(SST25_READ);
    send_address(address);
    while (length--)
        *to++ = spi_exchange(SPI_DUMMY);
    deselect_chip();
}

bool sflash_erase_sector(uint32_t address)
{
    command(SST25_WREN);
    select_chip();
    spi_exchange(SST25_SECTOR_ERASE_4K);
    send_address(address);
    deselect_chip();
    return wait_while_busy();
}

bool sflash_program(uint32_t address, const void *data, size_t length)
{
    const uint8_t *from = data;
    bool ok = true;

    if ((address | length) & 1u)
        return false;
    if (length == 0)
        return true;
    command(SST25_WREN);
    /* Only the first AAI instruction carries the address; the chip then counts by two. */
    select_chip();
    spi_exchange(SST25_AAI_WORD_PROGRAM);
    send_address(address);
    for (size_t done = 0; ok && done < length; done += 2) {
        if (done != 0) {
            select_chip();
            spi_exchange(SST25_AAI_WORD_PROGRAM);
        }
        spi_exchange(from[done]);
        spi_exchange(from[done + 1]);
        deselect_chip();
        ok = wait_while_busy();
    }
    command(SST25_WRDI);
    return ok;
}

static bool program_byte(uint32_t address, uint8_t value)
{
    command(SST25_WREN);
    select_chip();
    spi_exchange(SST25_BYTE_PROGRAM);
    send_address(address);
    spi_exchange(value);
    deselect_chip();
    return wait_while_busy();
}

bool sflash_write(uint32_t address, const void *data, size_t length)
{
    const uint8_t *from = data;
    size_t even;

    if (length != 0 && (address & 1u)) {
        if (!program_byte(address, *from))
            return false;
        address++;
        from++;
        length--;
    }
    even = length & ~(size_t)1u;
    if (!sflash_program(address, from, even))
        return false;
    if (length & 1u)
        return program_byte(address + even, from[even]);
    return true;
}
