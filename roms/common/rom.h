/*
 * rom.h - the runtime every guest test ROM links: semihosting output and exit,
 * check()/pass()/skip() reporting, and helpers for exception handlers.
 *
 * Design decision: a ROM reports only through ARM semihosting (BKPT 0xAB) and
 * its exit status: 0 = pass, 1 = a check failed or an unexpected exception was
 * taken. Nothing else (no UART, no result word in RAM), so the same ELF gives
 * the same verdict on our emulator and on qemu-system-arm. Behaviour that one
 * platform lacks by design is detected at run time and reported as
 * "SKIP: reason", never compiled out.
 */
#ifndef ROM_ROM_H
#define ROM_ROM_H

#include "cm3.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#ifndef ROM_NAME
#error "ROM_NAME must be defined (roms/meson.build passes -DROM_NAME=\"name\")"
#endif

#define NORETURN __attribute__((noreturn))
/* For constants shared between C and assembly strings. */
#define STRINGIFY_VALUE(x) #x
#define STRINGIFY(x) STRINGIFY_VALUE(x)
#define NOINIT __attribute__((section(".noinit")))

/* ---- Semihosting (ARM "Semihosting for AArch32 and AArch64", v2.0) ---- */
#define SYS_WRITE0 0x04u
#define SYS_EXIT 0x18u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUN_TIME_ERROR_UNKNOWN 0x20023u

uint32_t semihost_call(uint32_t op, uint32_t param);
void semihost_write0(const char *text);
/* Ends the run; `status` becomes the emulator's process exit status. */
NORETURN void semihost_exit(uint32_t status);

/* ---- Reporting ---- */
/* printf subset: %s %c %d %u %x %08x %% (width and 0-padding for numbers). */
void rom_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rom_vprintf(const char *fmt, va_list args);

/* Prints "PASS <ROM_NAME>" and exits 0. */
NORETURN void pass(void);
/* Prints "FAIL <ROM_NAME>: <message>" and exits 1. */
NORETURN void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "SKIP: <reason>": a check this platform cannot support was not run. */
void skip(const char *reason);

void check_at(bool ok, const char *what, int line);
void check_eq_at(uint32_t actual, uint32_t expected, const char *what, int line);

#define check(cond, what) check_at((cond), (what), __LINE__)
#define check_eq(actual, expected, what) \
    check_eq_at((uint32_t)(actual), (uint32_t)(expected), (what), __LINE__)

/* ---- Event log (events.c): one letter per event, in the order they happened ---- */
void log_event(char event);
unsigned logged_event_count(void);
/* Fails unless exactly `expected` was logged since the last call; then clears the log. */
void expect_events_at(const char *expected, const char *what, int line);
#define expect_events(expected, what) expect_events_at((expected), (what), __LINE__)

/* ---- Interrupts the tests pend by software ----
 * The EXTI0..EXTI4 lines stay unconfigured in every test ROM, so nothing but
 * the test itself ever pends these IRQs on either platform. */
#define TEST_IRQ_A 6u /* EXTI0 */
#define TEST_IRQ_B 7u /* EXTI1 */
#define TEST_IRQ_C 8u /* EXTI2 */
#define TEST_IRQ_D 9u /* EXTI3 */
#define TEST_IRQ_E 10u /* EXTI4 */
#define TEST_IRQ_A_HANDLER EXTI0_IRQHandler
#define TEST_IRQ_B_HANDLER EXTI1_IRQHandler
#define TEST_IRQ_C_HANDLER EXTI2_IRQHandler
#define TEST_IRQ_D_HANDLER EXTI3_IRQHandler
#define TEST_IRQ_E_HANDLER EXTI4_IRQHandler

/* STM32F103 medium density: 43 maskable interrupt channels (RM0008 10.1.2). */
#define ROM_NUM_IRQS 43u
#define ROM_NUM_VECTORS (16u + ROM_NUM_IRQS)

/* The flash vector table built by startup.c. */
extern const uintptr_t rom_vectors[ROM_NUM_VECTORS];

/*
 * Defines `handler` as a naked exception entry that passes the stacked frame
 * (from MSP or PSP, as EXC_RETURN says) and the EXC_RETURN value to
 * `void c_function(struct exception_frame *frame, uint32_t exc_return)`.
 * The C function returns normally; its `bx lr` is the exception return.
 */
#define HANDLER_WITH_FRAME(handler, c_function)                                 \
    void c_function(struct exception_frame *frame, uint32_t exc_return);       \
    __attribute__((naked)) void handler(void)                                  \
    {                                                                          \
        __asm volatile("tst lr, #4\n\t"                                        \
                       "ite eq\n\t"                                            \
                       "mrseq r0, msp\n\t"                                     \
                       "mrsne r0, psp\n\t"                                     \
                       "mov r1, lr\n\t"                                        \
                       "b " #c_function "\n\t");                               \
    }

/* Thumb-2: a halfword whose bits [15:11] are 0b11101..0b11111 starts a 32-bit instruction. */
static inline uint32_t thumb_instruction_length(uint32_t address)
{
    uint16_t first = *(const volatile uint16_t *)(uintptr_t)address;
    return (first >> 11) >= 0x1Du ? 4u : 2u;
}

/* Makes the exception return resume after the instruction that faulted. */
static inline void skip_faulting_instruction(struct exception_frame *frame)
{
    frame->pc += thumb_instruction_length(frame->pc);
}

/* DWT CYCCNT exists on the STM32F103; qemu's DWT reads as zero. */
bool cyccnt_start(void);

/*
 * SYSCLK = HCLK = 72 MHz from the PLL (HSE x 9), APB1 /2, as SystemInit sets
 * it; the chip leaves reset on the 8 MHz HSI. False (clocks unchanged) where
 * RCC does not answer.
 */
bool clock_72mhz(void);

#endif
