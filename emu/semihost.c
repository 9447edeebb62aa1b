/*
 * semihost.c - ARM semihosting (BKPT 0xAB; r0 = operation, r1 = parameter),
 * the convention QEMU and OpenOCD implement, so test ROMs report the same way
 * on both. Only the console is reachable: SYS_OPEN accepts ":tt" and nothing
 * else, so a guest cannot touch host files.
 */
#include "machine.h"

#include <string.h>
#include <unistd.h>

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITEC = 0x03,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_READC = 0x07,
    SYS_ISERROR = 0x08,
    SYS_ISTTY = 0x09,
    SYS_SEEK = 0x0A,
    SYS_FLEN = 0x0C,
    SYS_CLOCK = 0x10,
    SYS_TIME = 0x11,
    SYS_ERRNO = 0x13,
    SYS_GET_CMDLINE = 0x15,
    SYS_HEAPINFO = 0x16,
    SYS_EXIT = 0x18,
    SYS_EXIT_EXTENDED = 0x20,
    SYS_ELAPSED = 0x30,
    SYS_TICKFREQ = 0x31,
};

#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define SH_HANDLE_STDIN 1
#define SH_HANDLE_STDOUT 2
#define SH_HANDLE_STDERR 3
#define SH_ENOENT 2
#define SH_EBADF 9

static uint32_t rd(struct machine *m, int reg)
{
    uint32_t v = 0;
    uc_reg_read(m->uc, reg, &v);
    return v;
}

static bool guest_word(struct machine *m, uint32_t addr, uint32_t *v)
{
    return bus_read(&m->bus, addr, 4, v) == BUS_OK;
}

static bool guest_byte(struct machine *m, uint32_t addr, uint8_t *v)
{
    uint32_t w;
    if (bus_read(&m->bus, addr, 1, &w) != BUS_OK)
        return false;
    *v = (uint8_t)w;
    return true;
}

static FILE *handle_stream(uint32_t h)
{
    switch (h) {
    case SH_HANDLE_STDOUT: return stdout;
    case SH_HANDLE_STDERR: return stderr;
    default: return NULL;
    }
}

static void finish(struct machine *m, int status)
{
    fflush(stdout);
    m->exit_requested = true;
    m->exit_status = status;
    m->stop_reason = STOP_SEMIHOST_EXIT;
}

void semihost_call(struct machine *m)
{
    uint32_t op = rd(m, UC_ARM_REG_R0);
    uint32_t arg = rd(m, UC_ARM_REG_R1);
    uint32_t ret = 0;
    uint32_t a[4] = {0};
    uint8_t c;

    switch (op) {
    case SYS_WRITEC:
        if (guest_byte(m, arg, &c))
            fputc(c, stdout);
        fflush(stdout);
        return; /* r0 is corrupted by the call; leave it */
    case SYS_WRITE0:
        for (uint32_t p = arg; guest_byte(m, p, &c) && c; p++)
            fputc(c, stdout);
        fflush(stdout);
        return;
    case SYS_WRITE: {
        /* {handle, buffer, length}; returns the number of bytes NOT written */
        for (int i = 0; i < 3; i++)
            guest_word(m, arg + 4u * i, &a[i]);
        FILE *f = handle_stream(a[0]);
        if (!f) {
            ret = a[2];
            m->sh_errno = SH_EBADF;
            break;
        }
        uint32_t n = 0;
        for (; n < a[2] && n < (1u << 20) && guest_byte(m, a[1] + n, &c); n++)
            fputc(c, f);
        fflush(f);
        ret = a[2] - n;
        break;
    }
    case SYS_OPEN: {
        /* {name, mode, length}: only ":tt" (the console) */
        for (int i = 0; i < 3; i++)
            guest_word(m, arg + 4u * i, &a[i]);
        char name[8] = {0};
        for (uint32_t i = 0; i < a[2] && i < sizeof name - 1 && guest_byte(m, a[0] + i, &c); i++)
            name[i] = (char)c;
        if (strcmp(name, ":tt") == 0) {
            /* modes 0-3 read, 4-7 write, 8-11 append (stderr by convention) */
            ret = a[1] < 4 ? SH_HANDLE_STDIN : a[1] < 8 ? SH_HANDLE_STDOUT : SH_HANDLE_STDERR;
        } else {
            ret = (uint32_t)-1;
            m->sh_errno = SH_ENOENT;
        }
        break;
    }
    case SYS_CLOSE:
        ret = 0;
        break;
    case SYS_ISTTY:
        guest_word(m, arg, &a[0]);
        ret = a[0] >= SH_HANDLE_STDIN && a[0] <= SH_HANDLE_STDERR;
        break;
    case SYS_READ:
        /* the console has no input here: nothing read */
        guest_word(m, arg + 8, &a[2]);
        ret = a[2];
        break;
    case SYS_READC:
        ret = (uint32_t)-1;
        break;
    case SYS_ISERROR:
        guest_word(m, arg, &a[0]);
        ret = (int32_t)a[0] < 0;
        break;
    case SYS_SEEK:
    case SYS_FLEN:
        ret = (uint32_t)-1;
        m->sh_errno = SH_EBADF;
        break;
    case SYS_CLOCK: /* centiseconds of virtual time */
        ret = (uint32_t)(m->sim.clock.now / (SIM_HZ / 100));
        break;
    case SYS_TIME: /* seconds: virtual time, so runs stay deterministic */
        ret = (uint32_t)(m->sim.clock.now / SIM_HZ);
        break;
    case SYS_ELAPSED: {
        uint64_t t = m->sim.clock.now;
        uc_mem_write(m->uc, arg, &t, 8);
        ret = 0;
        break;
    }
    case SYS_TICKFREQ:
        ret = (uint32_t)SIM_HZ;
        break;
    case SYS_ERRNO:
        ret = (uint32_t)m->sh_errno;
        break;
    case SYS_GET_CMDLINE: {
        /* {buffer, length}: an empty command line */
        guest_word(m, arg, &a[0]);
        uint8_t zero = 0;
        uint32_t len = 0;
        uc_mem_write(m->uc, a[0], &zero, 1);
        uc_mem_write(m->uc, arg + 4, &len, 4);
        ret = 0;
        break;
    }
    case SYS_HEAPINFO: {
        /* {heap base, heap limit, stack base, stack limit}: zeros let the C library use its own */
        guest_word(m, arg, &a[0]);
        uint32_t block[4] = {0, 0, 0, 0};
        uc_mem_write(m->uc, a[0], block, sizeof block);
        ret = 0;
        break;
    }
    case SYS_EXIT:
        /* 32-bit: r1 is the reason code itself */
        finish(m, arg == ADP_STOPPED_APPLICATION_EXIT ? 0 : 1);
        return;
    case SYS_EXIT_EXTENDED:
        /* {reason, subcode}: the application's exit status is the subcode */
        guest_word(m, arg, &a[0]);
        guest_word(m, arg + 4, &a[1]);
        finish(m, a[0] == ADP_STOPPED_APPLICATION_EXIT ? (int)(a[1] & 0xFF) : 1);
        return;
    default:
        sim_log(&m->sim, LOG_WARN, "semihosting operation 0x%02x is not supported", op);
        ret = (uint32_t)-1;
        break;
    }
    uc_reg_write(m->uc, UC_ARM_REG_R0, &ret);
}

void semihost_close_all(struct machine *m)
{
    (void)m;
    fflush(stdout);
    fflush(stderr);
}
