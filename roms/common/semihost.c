/*
 * semihost.c - the three ARM semihosting calls the ROMs use.
 *
 * Design decision: exit always tries SYS_EXIT_EXTENDED first, because on
 * AArch32 plain SYS_EXIT carries only a reason code (qemu maps it to status 0
 * or 1); the extended call carries the status itself. If a host does not
 * implement it, SYS_EXIT still gets pass/fail right.
 */
#include "rom.h"

uint32_t semihost_call(uint32_t op, uint32_t param)
{
    register uint32_t r0 __asm("r0") = op;
    register uint32_t r1 __asm("r1") = param;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_write0(const char *text)
{
    semihost_call(SYS_WRITE0, (uint32_t)(uintptr_t)text);
}

void semihost_exit(uint32_t status)
{
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, status};
    semihost_call(SYS_EXIT_EXTENDED, (uint32_t)(uintptr_t)block);
    semihost_call(SYS_EXIT, status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                        : ADP_STOPPED_RUN_TIME_ERROR_UNKNOWN);
    /* A host that ignores both calls: hang, so the run's timeout fails it. */
    for (;;)
        __asm volatile("" ::: "memory");
}
