/*
 * adc_read.c - ADC1 converts the voltage the board puts on a pin: run with
 * --analog A0=1.65 --analog A7=3.0 (tests/integration/adc.py). A0 is channel 0,
 * A7 is PB1 = channel 9; 12 bits of 3.3 V.
 */
#include "rom.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_APB2ENR REG(0x40021018u)
#define RCC_APB2ENR_ADC1EN (1u << 9)
#define ADC1_SR REG(0x40012400u)
#define ADC1_CR2 REG(0x40012408u)
#define ADC1_SMPR2 REG(0x40012410u)
#define ADC1_SQR1 REG(0x4001242Cu)
#define ADC1_SQR3 REG(0x40012434u)
#define ADC1_DR REG(0x4001244Cu)
#define ADC_SR_EOC (1u << 1)
#define ADC_CR2_ADON (1u << 0)
#define ADC_CR2_CAL (1u << 2)
#define ADC_CR2_EXTSEL_SWSTART (7u << 17)
#define ADC_CR2_EXTTRIG (1u << 20)
#define ADC_CR2_SWSTART (1u << 22)

static uint32_t convert(unsigned channel)
{
    ADC1_SQR1 = 0; /* one conversion */
    ADC1_SQR3 = channel;
    ADC1_CR2 |= ADC_CR2_SWSTART;
    while (!(ADC1_SR & ADC_SR_EOC)) {
    }
    return ADC1_DR & 0xFFFu;
}

int main(void)
{
    RCC_APB2ENR |= RCC_APB2ENR_ADC1EN;
    ADC1_CR2 = ADC_CR2_ADON | ADC_CR2_EXTSEL_SWSTART | ADC_CR2_EXTTRIG;
    ADC1_CR2 |= ADC_CR2_CAL;
    while (ADC1_CR2 & ADC_CR2_CAL) {
    }
    ADC1_SMPR2 = 7u; /* channel 0: 239.5 cycles */
    uint32_t a0 = convert(0), a7 = convert(9), a1 = convert(1);
    rom_printf("A0 %u A7 %u A1 %u\n", (unsigned)a0, (unsigned)a7, (unsigned)a1);
    check(a0 >= 2046 && a0 <= 2050, "A0 = 1.65 V reads half scale (2048)");
    check(a7 >= 3721 && a7 <= 3725, "A7 = 3.0 V reads 3723");
    check(a1 == 0, "an unset pin reads 0 V");
    pass();
}
