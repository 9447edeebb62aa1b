/*
 * uart.c - the USARTs on the host side: every line the firmware transmits
 * becomes a trace record (kind "uart") and, with --verbose, a log line; the
 * bytes of --uart-rx FILE are fed to Serial1 (USART2) one per frame time.
 */
#include "host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UART_RX_MAX (1024 * 1024)

struct uart_port {
    struct host *h;
    const char *name;
    char line[128];
    size_t len;
};

struct uart_host {
    struct host *h;
    struct uart_port port[SPARK_CORE_UARTS];
    uint8_t *rx;
    size_t rx_len, rx_pos;
    struct event rx_event;
};

/* A transmitted line becomes a trace record (and a log line with --verbose). */
static void uart_flush_line(struct uart_port *u)
{
    struct sim *sim = &u->h->m->sim;
    char text[sizeof u->line * 6 + 1];
    size_t o = 0;
    for (size_t i = 0; i < u->len; i++) {
        unsigned char c = (unsigned char)u->line[i];
        if (c == '"' || c == '\\') {
            text[o++] = '\\';
            text[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7F) {
            o += (size_t)snprintf(text + o, sizeof text - o, "\\u%04x", c);
        } else {
            text[o++] = (char)c;
        }
    }
    text[o] = '\0';
    sim_trace(sim, "uart", "\"port\":\"%s\",\"text\":\"%s\"", u->name, text);
    sim_log(sim, LOG_INFO, "%s: %s", u->name, text);
    u->len = 0;
}

static void uart_tx(void *opaque, uint8_t byte)
{
    struct uart_port *u = opaque;
    if (byte == '\r')
        return;
    if (byte != '\n')
        u->line[u->len++] = (char)byte;
    if (byte == '\n' || u->len == sizeof u->line)
        uart_flush_line(u);
}

/* --uart-rx: one byte per frame time, once the firmware's receiver takes them. */
static void uart_rx_next(struct sim *sim, void *opaque)
{
    struct uart_host *u = opaque;
    struct spark_core *board = u->h->board;
    if (u->rx_pos >= u->rx_len)
        return;
    if (spark_core_uart_receive(board, SPARK_CORE_USART2, u->rx[u->rx_pos])) {
        u->rx_pos++;
        event_schedule(sim, &u->rx_event, sim->clock.now + spark_core_uart_frame_cycles(board, SPARK_CORE_USART2));
    } else {
        event_schedule(sim, &u->rx_event, sim->clock.now + SIM_MS(1)); /* receiver off: try later */
    }
}

static int uart_create(struct host *h, void **self, char *err, size_t errlen)
{
    const struct options *opt = h->opt;
    struct uart_host *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    u->h = h;
    if (opt->uart_rx) {
        FILE *f = fopen(opt->uart_rx, "rb");
        if (!f) {
            snprintf(err, errlen, "%s: cannot read the --uart-rx input: %s", opt->uart_rx, strerror(errno));
            free(u);
            return -1;
        }
        u->rx = malloc(UART_RX_MAX);
        u->rx_len = u->rx ? fread(u->rx, 1, UART_RX_MAX, f) : 0;
        bool more = fgetc(f) != EOF;
        fclose(f);
        if (!u->rx || more) {
            snprintf(err, errlen, "%s: --uart-rx input is larger than %d bytes", opt->uart_rx, UART_RX_MAX);
            free(u->rx);
            free(u);
            return -1;
        }
    }
    *self = u;
    return 0;
}

static int uart_attach(struct host *h, void *self, char *err, size_t errlen)
{
    static const char *const names[SPARK_CORE_UARTS] = {"USART1", "USART2"};
    struct uart_host *u = self;
    (void)err;
    (void)errlen;
    for (int i = 0; i < SPARK_CORE_UARTS; i++) {
        u->port[i].h = h;
        u->port[i].name = names[i];
        spark_core_set_uart_sink(h->board, (enum spark_core_uart)i, uart_tx, &u->port[i]);
    }
    if (u->rx) {
        event_init(&u->rx_event, uart_rx_next, u, "UART input");
        event_schedule(&h->m->sim, &u->rx_event, 0);
    }
    return 0;
}

/* A line the firmware left unterminated still reaches the trace and the log. */
static void uart_destroy(struct host *h, void *self)
{
    struct uart_host *u = self;
    (void)h;
    for (int i = 0; i < SPARK_CORE_UARTS; i++)
        if (u->port[i].len)
            uart_flush_line(&u->port[i]);
    free(u->rx);
    free(u);
}

const struct host_adapter host_uart = {
    .name = "uart",
    .create = uart_create,
    .attach = uart_attach,
    .destroy = uart_destroy,
};
