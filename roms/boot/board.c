/*
 * board.c - the Spark Core as the boot ROM drives it: 72 MHz clocks, the
 * pins, the RGB LED on TIM1, the MODE button, the 1 ms SysTick time base,
 * backup registers, the independent watchdog, resets and the jump into
 * firmware.
 *
 * Design decision: the SysTick handler is the ROM's only interrupt and it
 * does two things, counting milliseconds and blinking the LED, so the thread
 * code (flash copies, the button wait) never has to remember to blink. The
 * state it shares with thread code is the one file-scope struct below: an
 * exception handler gets no argument, and the ROM is one program on one chip.
 */
#include "boot.h"

#define HSI_HZ 8000000u
#define SYSCLK_HZ 72000000u    /* 8 MHz HSE x 9 */
#define HSE_STARTUP_TRIES 0x500u /* then stay on HSI, as the original does */
#define SYSTICK_HZ 1000u
#define SYSTICK_PRIORITY 13u

/* RGB LED: PWM on TIM1 CH1..CH3, about 100 Hz, common anode (active low). */
#define LED_PORT GPIOA_BASE
#define LED_BLUE_PIN 8u   /* TIM1_CH1 */
#define LED_RED_PIN 9u    /* TIM1_CH2 */
#define LED_GREEN_PIN 10u /* TIM1_CH3 */
#define LED_PWM_PRESCALER 72u /* PSC: 72 MHz / 73 */
#define LED_PWM_PERIOD 10000u /* ARR + 1 */
/* The Core's default brightness 96/255: a full channel is CCR 3735. */
#define LED_BRIGHTNESS 96u
#define LED_SCALE_SHIFT 16

#define MODE_BUTTON_PORT GPIOB_BASE
#define MODE_BUTTON_PIN 2u /* pressed = low */

#define USB_DISCONNECT_PORT GPIOB_BASE
#define USB_DISCONNECT_PIN 10u /* open drain: low = D+ pull-up on */

#define CC3000_PORT GPIOB_BASE
#define CC3000_WLAN_EN_PIN 8u /* high = powered */
#define CC3000_CS_PIN 12u     /* low = selected */

/* IWDG on the 40 kHz LSI: /256, 781 counts = about 5 s. */
#define WATCHDOG_RELOAD 781u

struct gpio_pin {
    uint32_t port;
    unsigned pin;
};

/* D0..D7: driven low at boot, as the original bootloader leaves them. */
static const struct gpio_pin digital_pins[] = {
    {GPIOB_BASE, 7}, {GPIOB_BASE, 6}, {GPIOB_BASE, 5}, {GPIOB_BASE, 4},
    {GPIOB_BASE, 3}, {GPIOA_BASE, 15}, {GPIOA_BASE, 14}, {GPIOA_BASE, 13},
};

static struct {
    uint32_t sysclk_hz;
    volatile uint32_t millis;
    uint32_t tick_cycles; /* DWT_CYCCNT at the last millisecond counted */
    uint32_t cycles_per_ms;
    /* CCR values of the current colour: blue (CH1), red (CH2), green (CH3). */
    uint16_t blue, red, green;
    bool lit;
    uint32_t blink_ms; /* 0: steady */
    uint32_t blink_elapsed_ms;
} board;

void gpio_configure(uint32_t port, unsigned pin, uint32_t mode)
{
    volatile uint32_t *cr = pin < GPIO_PINS_PER_CR ? &GPIO_CRL(port) : &GPIO_CRH(port);
    unsigned shift = (pin % GPIO_PINS_PER_CR) * GPIO_CR_FIELD_BITS;

    *cr = (*cr & ~(GPIO_CR_FIELD_MASK << shift)) | (mode << shift);
}

void gpio_set(uint32_t port, unsigned pin) { GPIO_BSRR(port) = 1u << pin; }
void gpio_reset(uint32_t port, unsigned pin) { GPIO_BRR(port) = 1u << pin; }

/* SYSCLK from the PLL (HSE x 9), AHB and APB2 /1, APB1 /2, USB 48 MHz. */
static uint32_t clocks_init(void)
{
    RCC_CR |= RCC_CR_HSION;
    RCC_CIR = RCC_CIR_CLEAR_ALL;
    RCC_CR |= RCC_CR_HSEON;
    for (unsigned tries = 0; !(RCC_CR & RCC_CR_HSERDY); tries++) {
        if (tries >= HSE_STARTUP_TRIES)
            return HSI_HZ;
    }
    FLASH_ACR = FLASH_ACR_PRFTBE;
    FLASH_ACR = FLASH_ACR_PRFTBE | FLASH_ACR_LATENCY_2;
    RCC_CFGR = RCC_CFGR_HPRE_DIV1 | RCC_CFGR_PPRE2_DIV1 | RCC_CFGR_PPRE1_DIV2 |
               RCC_CFGR_PLLSRC_HSE | RCC_CFGR_PLLXTPRE_DIV1 | RCC_CFGR_PLLMUL9 |
               RCC_CFGR_USBPRE_DIV1_5;
    RCC_CR |= RCC_CR_PLLON;
    while (!(RCC_CR & RCC_CR_PLLRDY)) {
    }
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL;
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL) {
    }
    return SYSCLK_HZ;
}

void board_init_clocks(void)
{
    SCB_VTOR = FLASH_BASE;
    board.sysclk_hz = clocks_init();
    RCC_APB1ENR |= RCC_APB1ENR_PWREN | RCC_APB1ENR_BKPEN;
    PWR_CR |= PWR_CR_DBP;
}

/* Branch-free, so the three compare values change together as far as anyone can see. */
static void led_output(void)
{
    uint32_t mask = 0u - (uint32_t)board.lit;

    TIM1_CCR2 = board.red & mask;
    TIM1_CCR3 = board.green & mask;
    TIM1_CCR1 = board.blue & mask;
}

static void led_init(void)
{
    RCC_APB2ENR |= RCC_APB2ENR_TIM1EN;
    TIM1_PSC = LED_PWM_PRESCALER;
    TIM1_ARR = LED_PWM_PERIOD - 1;
    TIM1_RCR = 0;
    TIM1_CCR1 = 0;
    TIM1_CCR2 = 0;
    TIM1_CCR3 = 0;
    TIM1_CCMR1 = (TIM_OCM_PWM1 << TIM_CCMR1_OC1M_SHIFT) | (TIM_OCM_PWM1 << TIM_CCMR1_OC2M_SHIFT);
    TIM1_CCMR2 = TIM_OCM_PWM1 << TIM_CCMR2_OC3M_SHIFT;
    /* Active-low outputs: the LED cathodes sink, so CCR 0 is dark. */
    TIM1_CCER = TIM_CCER_CC1E | TIM_CCER_CC1P | TIM_CCER_CC2E | TIM_CCER_CC2P |
                TIM_CCER_CC3E | TIM_CCER_CC3P;
    TIM1_BDTR = TIM_BDTR_MOE;
    TIM1_EGR = TIM_EGR_UG; /* load PSC now, not at the first overflow */
    TIM1_CR1 = TIM_CR1_ARPE | TIM_CR1_CEN;

    gpio_configure(LED_PORT, LED_BLUE_PIN, GPIO_MODE_AF_PP_50MHZ);
    gpio_configure(LED_PORT, LED_RED_PIN, GPIO_MODE_AF_PP_50MHZ);
    gpio_configure(LED_PORT, LED_GREEN_PIN, GPIO_MODE_AF_PP_50MHZ);
}

static uint16_t led_channel(uint32_t byte)
{
    return (uint16_t)((byte * LED_BRIGHTNESS * LED_PWM_PERIOD) >> LED_SCALE_SHIFT);
}

void led_set(uint32_t rgb, uint32_t blink_ms)
{
    uint16_t red = led_channel((rgb >> 16) & 0xFFu);
    uint16_t green = led_channel((rgb >> 8) & 0xFFu);
    uint16_t blue = led_channel(rgb & 0xFFu);
    uint32_t primask = get_primask();

    /* Asking again for what already shows must not restart the blink phase. */
    if (red == board.red && green == board.green && blue == board.blue &&
        blink_ms == board.blink_ms)
        return;
    cpsid_i();
    board.red = red;
    board.green = green;
    board.blue = blue;
    board.lit = true;
    board.blink_ms = blink_ms;
    board.blink_elapsed_ms = 0;
    led_output();
    set_primask(primask);
}

/*
 * Counts the milliseconds that passed, not the interrupts: code running from
 * the flash stalls while the flash erases (20-40 ms a page) or programs, and
 * the SysTick interrupts of that time are one pending bit, so the time comes
 * from the cycle counter, which runs on (RM0008 3.3.3). The LED blinks on
 * after a stall in the phase it would have had.
 */
void SysTick_Handler(void)
{
    uint32_t elapsed = DWT_CYCCNT - board.tick_cycles;
    uint32_t ms = elapsed / board.cycles_per_ms;
    if (ms == 0)
        ms = 1; /* a tick came a little early: it still is one */
    board.tick_cycles += ms * board.cycles_per_ms;
    board.millis += ms;
    if (board.blink_ms != 0) {
        board.blink_elapsed_ms += ms;
        if (board.blink_elapsed_ms >= board.blink_ms) {
            uint32_t toggles = board.blink_elapsed_ms / board.blink_ms;
            board.blink_elapsed_ms %= board.blink_ms;
            if (toggles & 1u) {
                board.lit = !board.lit;
                led_output();
            }
        }
    }
}

uint32_t board_millis(void) { return board.millis; }

void board_idle(void) { wfi(); }

static void systick_init(void)
{
    board.cycles_per_ms = board.sysclk_hz / 1000u;
    board.tick_cycles = DWT_CYCCNT;
    SYST_RVR = board.sysclk_hz / SYSTICK_HZ - 1;
    SYST_CVR = 0;
    scb_set_priority(EXC_SYSTICK, SYSTICK_PRIORITY << NVIC_PRIORITY_SHIFT);
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

void board_init(void)
{
    /* The cycle counter is the firmware's microsecond clock; start it as the original does. */
    DEMCR |= DEMCR_TRCENA;
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    DBGMCU_CR |= DBGMCU_CR_DBG_IWDG_STOP | DBGMCU_CR_DBG_WWDG_STOP;
    aircr_set_prigroup(NVIC_PRIGROUP_4_BITS_PREEMPT);

    RCC_APB2ENR |= RCC_APB2ENR_AFIOEN | RCC_APB2ENR_IOPAEN | RCC_APB2ENR_IOPBEN;
    for (size_t i = 0; i < sizeof digital_pins / sizeof digital_pins[0]; i++) {
        gpio_reset(digital_pins[i].port, digital_pins[i].pin);
        gpio_configure(digital_pins[i].port, digital_pins[i].pin, GPIO_MODE_OUTPUT_PP_50MHZ);
    }

    /* Keep the CC3000 off and off the shared SPI2 bus. */
    gpio_reset(CC3000_PORT, CC3000_WLAN_EN_PIN);
    gpio_configure(CC3000_PORT, CC3000_WLAN_EN_PIN, GPIO_MODE_OUTPUT_PP_50MHZ);
    gpio_set(CC3000_PORT, CC3000_CS_PIN);
    gpio_configure(CC3000_PORT, CC3000_CS_PIN, GPIO_MODE_OUTPUT_PP_50MHZ);

    led_init();

    gpio_set(MODE_BUTTON_PORT, MODE_BUTTON_PIN); /* ODR 1 selects the pull-up */
    gpio_configure(MODE_BUTTON_PORT, MODE_BUTTON_PIN, GPIO_MODE_INPUT_PULL);

    systick_init();
}

bool mode_button_pressed(void)
{
    return !(GPIO_IDR(MODE_BUTTON_PORT) & (1u << MODE_BUTTON_PIN));
}

void usb_pullup_connect(void)
{
    gpio_reset(USB_DISCONNECT_PORT, USB_DISCONNECT_PIN);
    gpio_configure(USB_DISCONNECT_PORT, USB_DISCONNECT_PIN, GPIO_MODE_OUTPUT_OD_50MHZ);
}

void usb_pullup_disconnect(void)
{
    gpio_set(USB_DISCONNECT_PORT, USB_DISCONNECT_PIN);
    gpio_configure(USB_DISCONNECT_PORT, USB_DISCONNECT_PIN, GPIO_MODE_OUTPUT_OD_50MHZ);
}

void usb_clock_enable(void)
{
    /* USBPRE was left clear by clocks_init(): 72 MHz / 1.5 = 48 MHz. */
    RCC_APB1ENR |= RCC_APB1ENR_USBEN;
}

uint16_t backup_read(unsigned reg) { return (uint16_t)BKP_DR(reg); }

void backup_write(unsigned reg, uint16_t value) { BKP_DR(reg) = value; }

bool reset_was_watchdog(void) { return RCC_CSR & RCC_CSR_IWDGRSTF; }

void reset_flags_clear(void) { RCC_CSR |= RCC_CSR_RMVF; }

void standby_enter(void)
{
    PWR_CR |= PWR_CR_CWUF;
    PWR_CR |= PWR_CR_PDDS;
    SCB_SCR |= SCR_SLEEPDEEP;
    for (;;)
        wfi();
}

void watchdog_start(void)
{
    IWDG_KR = IWDG_KR_ACCESS;
    IWDG_PR = IWDG_PR_DIV256;
    IWDG_RLR = WATCHDOG_RELOAD;
    IWDG_KR = IWDG_KR_RELOAD;
    IWDG_KR = IWDG_KR_START;
}

void system_reset(void)
{
    dsb();
    SCB_AIRCR = AIRCR_VECTKEY | (SCB_AIRCR & AIRCR_PRIGROUP_MASK) | AIRCR_SYSRESETREQ;
    dsb();
    for (;;)
        wfi();
}

void firmware_start(uint32_t vectors)
{
    uint32_t stack = REG32(vectors);
    uint32_t entry = REG32(vectors + 4u);

    cpsid_i();
    /* Leave the counter running, as the original does, but without the ROM's handler. */
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_ENABLE;
    SCB_ICSR = ICSR_PENDSTCLR;
    cpsie_i();
    __asm volatile("msr msp, %0\n\t"
                   "bx %1" ::"r"(stack),
                   "r"(entry)
                   : "memory");
    __builtin_unreachable();
}
