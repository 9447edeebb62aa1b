/*
 * bitband - the two bit-band regions (ARMv7-M B3.1.3):
 *   SRAM alias 0x22000000 + (offset * 32) + (bit * 4): a write sets or clears
 *   exactly that bit from bit 0 of the written value, other bits unchanged; a
 *   read returns 0 or 1; byte-addressed variables map to the right word bit;
 *   peripheral alias 0x42000000 + ...: the same read-modify-write on a real
 *   peripheral register, USART1_BRR (RM0008 27.6.3), which both our STM32F103
 *   and qemu's stm32vldiscovery model as a plain read/write register.
 *
 * Design decision: USART_BRR rather than a GPIO or RCC register, because qemu's
 * STM32F100 leaves GPIO and RCC unimplemented (reads 0, writes ignored), and
 * BRR has no side effects while the USART is disabled.
 */
#include "rom.h"

#define RCC_APB2ENR REG32(0x40021018u)
#define RCC_APB2ENR_USART1EN (1u << 14)
#define USART1_BRR_ADDRESS 0x40013808u
#define USART1_BRR REG32(USART1_BRR_ADDRESS)
#define BRR_START 0x1D4Cu

#define SRAM_ALIAS(addr, bit) REG32(BITBAND_ALIAS(SRAM_BASE, SRAM_BB_BASE, (addr), (bit)))
#define PERIPH_ALIAS(addr, bit) REG32(BITBAND_ALIAS(PERIPH_BASE, PERIPH_BB_BASE, (addr), (bit)))

static volatile uint32_t word;
static volatile union {
    uint32_t word;
    uint8_t bytes[4];
} bytes_and_word;

static void test_sram_alias(void)
{
    uintptr_t address = (uintptr_t)&word;

    word = 0;
    SRAM_ALIAS(address, 5) = 1;
    check_eq(word, 1u << 5, "alias write of 1 sets bit 5 only");
    check_eq(SRAM_ALIAS(address, 5), 1, "alias read of a set bit is 1");
    check_eq(SRAM_ALIAS(address, 4), 0, "alias read of a clear bit is 0");
    SRAM_ALIAS(address, 5) = 0xFFFFFFFEu;
    check_eq(word, 0, "only bit 0 of the written value counts");

    word = 0xFFFFFFFFu;
    SRAM_ALIAS(address, 31) = 0;
    check_eq(word, 0x7FFFFFFFu, "alias write of 0 clears bit 31 only");
    SRAM_ALIAS(address, 0) = 0;
    check_eq(word, 0x7FFFFFFEu, "alias write of 0 clears bit 0 only");
    check_eq(SRAM_ALIAS(address, 31), 0, "alias read after clearing bit 31");
    check_eq(SRAM_ALIAS(address, 30), 1, "alias read of a set bit is 1, not the bit's value");

    word = 0x0000A5A5u;
    uint32_t ones = 0;
    for (unsigned bit = 0; bit < 32; bit++)
        ones |= SRAM_ALIAS(address, bit) << bit;
    check_eq(ones, 0x0000A5A5u, "reading all 32 aliases rebuilds the word");

    bytes_and_word.word = 0;
    SRAM_ALIAS(&bytes_and_word.bytes[3], 2) = 1;
    check_eq(bytes_and_word.word, 1u << 26, "alias of byte 3 bit 2 is word bit 26");
    check_eq(bytes_and_word.bytes[3], 1u << 2, "byte 3 bit 2 is set");
}

static void test_peripheral_alias(void)
{
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    USART1_BRR = BRR_START;
    check_eq(USART1_BRR, BRR_START, "USART1_BRR reads back");

    PERIPH_ALIAS(USART1_BRR_ADDRESS, 15) = 1;
    check_eq(USART1_BRR, BRR_START | (1u << 15), "peripheral alias sets BRR bit 15 only");
    PERIPH_ALIAS(USART1_BRR_ADDRESS, 2) = 0;
    check_eq(USART1_BRR, (BRR_START | (1u << 15)) & ~(1u << 2),
             "peripheral alias clears BRR bit 2 only");
    check_eq(PERIPH_ALIAS(USART1_BRR_ADDRESS, 3), 1, "peripheral alias read of a set bit");
    check_eq(PERIPH_ALIAS(USART1_BRR_ADDRESS, 4), 0, "peripheral alias read of a clear bit");
    USART1_BRR = 0;
}

int main(void)
{
    test_sram_alias();
    test_peripheral_alias();
    pass();
}
