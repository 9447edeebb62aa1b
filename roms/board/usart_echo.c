/*
 * usart_echo.c - Serial1 (USART2, PA2 TX / PA3 RX) end to end: the ROM sends a
 * greeting, then reads one line from the host (--uart-rx) and sends it back in
 * upper case; tests/integration/usart.py checks the trace's uart records.
 * Runs from the reset clock (HSI 8 MHz: PCLK1 = 8 MHz).
 */
#include "rom.h"

#define RCC_APB2ENR (*(volatile uint32_t *)0x40021018u)
#define RCC_APB1ENR (*(volatile uint32_t *)0x4002101Cu)
#define RCC_APB2ENR_IOPAEN (1u << 2)
#define RCC_APB1ENR_USART2EN (1u << 17)
#define GPIOA_CRL (*(volatile uint32_t *)0x40010800u)
#define USART2_SR (*(volatile uint32_t *)0x40004400u)
#define USART2_DR (*(volatile uint32_t *)0x40004404u)
#define USART2_BRR (*(volatile uint32_t *)0x40004408u)
#define USART2_CR1 (*(volatile uint32_t *)0x4000440Cu)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TC (1u << 6)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_UE (1u << 13)

static void put(char c)
{
    while (!(USART2_SR & USART_SR_TXE)) {
    }
    USART2_DR = (uint8_t)c;
}

static void puts_line(const char *s)
{
    while (*s)
        put(*s++);
    put('\n');
}

int main(void)
{
    RCC_APB2ENR |= RCC_APB2ENR_IOPAEN;
    RCC_APB1ENR |= RCC_APB1ENR_USART2EN;
    /* PA2 alternate-function push-pull 50 MHz (0xB), PA3 floating input (0x4) */
    GPIOA_CRL = (GPIOA_CRL & ~0xFF00u) | 0x4B00u;
    USART2_BRR = 8000000u / 115200u;
    USART2_CR1 = USART_CR1_UE | USART_CR1_TE;

    puts_line("hello from USART2");
    /* receive only now: bytes arriving while nobody reads DR would overrun (ORE), as on the chip */
    USART2_CR1 |= USART_CR1_RE;
    char line[64];
    unsigned n = 0;
    for (;;) {
        while (!(USART2_SR & USART_SR_RXNE)) {
        }
        char c = (char)USART2_DR;
        if (c == '\n' || n == sizeof line - 1)
            break;
        line[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    line[n] = '\0';
    puts_line(line);
    while (!(USART2_SR & USART_SR_TC)) {
    }
    check(n > 0, "a line arrived from the host");
    pass();
}
