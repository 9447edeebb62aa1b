/*
 * report.c - formatted output and the PASS / FAIL / SKIP verdicts.
 *
 * Design decision: text is formatted into a buffer on the stack and handed to
 * SYS_WRITE0 a line at a time, so one semihosting call carries one message and
 * the output is identical on every host; no newlib stdio is linked.
 */
#include "rom.h"

#define LINE_BUFFER_SIZE 160

struct line_buffer {
    char text[LINE_BUFFER_SIZE];
    unsigned used;
};

static void flush(struct line_buffer *out)
{
    if (out->used == 0)
        return;
    out->text[out->used] = '\0';
    semihost_write0(out->text);
    out->used = 0;
}

static void put_char(struct line_buffer *out, char c)
{
    if (out->used == LINE_BUFFER_SIZE - 1)
        flush(out);
    out->text[out->used++] = c;
}

static void put_string(struct line_buffer *out, const char *s)
{
    while (*s)
        put_char(out, *s++);
}

static void put_number(struct line_buffer *out, uint32_t value, unsigned base, unsigned width,
                       char pad)
{
    char digits[10];
    unsigned n = 0;
    do {
        unsigned d = value % base;
        digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        value /= base;
    } while (value != 0);
    for (unsigned i = n; i < width; i++)
        put_char(out, pad);
    while (n > 0)
        put_char(out, digits[--n]);
}

static void format(struct line_buffer *out, const char *fmt, va_list args)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put_char(out, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        unsigned width = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (unsigned)(*fmt++ - '0');
        switch (*fmt) {
        case 's':
            put_string(out, va_arg(args, const char *));
            break;
        case 'c':
            put_char(out, (char)va_arg(args, int));
            break;
        case 'd': {
            int value = va_arg(args, int);
            if (value < 0) {
                put_char(out, '-');
                put_number(out, 0u - (uint32_t)value, 10, width, pad);
            } else {
                put_number(out, (uint32_t)value, 10, width, pad);
            }
            break;
        }
        case 'u':
            put_number(out, va_arg(args, unsigned), 10, width, pad);
            break;
        case 'x':
            put_number(out, va_arg(args, unsigned), 16, width, pad);
            break;
        case '%':
            put_char(out, '%');
            break;
        default: /* unknown conversion: show it rather than guess */
            put_char(out, '%');
            if (*fmt == '\0')
                return;
            put_char(out, *fmt);
            break;
        }
    }
}

void rom_vprintf(const char *fmt, va_list args)
{
    struct line_buffer out = {.used = 0};
    format(&out, fmt, args);
    flush(&out);
}

void rom_printf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    rom_vprintf(fmt, args);
    va_end(args);
}

void pass(void)
{
    semihost_write0("PASS " ROM_NAME "\n");
    semihost_exit(0);
}

void fail(const char *fmt, ...)
{
    struct line_buffer out = {.used = 0};
    va_list args;
    put_string(&out, "FAIL " ROM_NAME ": ");
    va_start(args, fmt);
    format(&out, fmt, args);
    va_end(args);
    put_char(&out, '\n');
    flush(&out);
    semihost_exit(1);
}

void skip(const char *reason)
{
    rom_printf("SKIP: %s\n", reason);
}

void check_at(bool ok, const char *what, int line)
{
    if (!ok)
        fail("%s (line %d)", what, line);
}

void check_eq_at(uint32_t actual, uint32_t expected, const char *what, int line)
{
    if (actual != expected)
        fail("%s: got 0x%08x, expected 0x%08x (line %d)", what, (unsigned)actual,
             (unsigned)expected, line);
}
