/*
 * gdb.c - the GDB remote serial protocol server (--gdb [ADDR:]PORT,
 * --gdb-wait, docs/gdb.md): gdb-multiarch attaches with
 * `target extended-remote :3333` and finds a Cortex-M3 (the m-profile target
 * description), the memory map with the flash, breakpoints, watchpoints,
 * single steps, Ctrl-C, `load` (vFlash packets) and monitor commands (reset,
 * reset halt, press BUTTON DURATION, time). The machine side is emu/debug.c.
 *
 * Design decision: no thread of its own. The socket is served on the
 * emulator thread: in poll() (at most 100 ms at a time, so the run still
 * notices a stop signal) while the core is halted, and with a non-blocking
 * poll from the pacing hook, at most every 2 ms of wall time, while it runs.
 * A halted emulator sleeps, a running one sees Ctrl-C within milliseconds,
 * and every packet is handled between slices with no locks. Every byte is
 * hostile input: packets have a size limit, bad checksums are refused with
 * '-', garbage between packets is skipped, and a client that vanishes is a
 * detach: its breakpoints go and the core runs on.
 */
#include "host.h"
#include "tcp_listen.h"
#include "emu/debug.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GDB_DEFAULT_ADDR "127.0.0.1"
#define GDB_DEFAULT_PORT "3333"
#define PACKET_MAX 4096           /* the PacketSize we announce: the longest payload we take */
#define QUEUE_LEN 4               /* packets read ahead while the core runs */
#define INBUF_SIZE 16384
#define OUT_MAX (1u << 20)        /* replies a client does not read: beyond this it is dropped */
#define HALTED_POLL_MS 100
#define RUNNING_POLL_NS 2000000ull /* while running: look at the socket at most this often */
#define GDB_THREAD "1"

enum parse_state { P_IDLE = 0, P_DATA, P_CSUM1, P_CSUM2 };

struct packet {
    char data[PACKET_MAX + 1]; /* NUL-terminated for the text packets; binary ones use len */
    size_t len;
    bool too_long;
};

struct gdb {
    struct host *h;
    struct machine *m;
    char addr[128], port[16];
    int listen_fd, fd;
    char peer[80];

    /* input: raw bytes, the packet being framed, complete packets waiting */
    uint8_t inbuf[INBUF_SIZE];
    size_t inpos, inlen;
    enum parse_state pstate;
    struct packet cur;
    uint8_t sum, csum;
    struct packet queue[QUEUE_LEN];
    int qhead, qcount;

    /* output */
    uint8_t *out;
    size_t out_len, out_cap;
    uint8_t *last;           /* the last packet sent, for a '-' */
    size_t last_len;

    bool no_ack;             /* QStartNoAckMode */
    bool owe_stop;           /* a continue or step is under way: its stop reply is owed */
    bool detach_when_halted; /* the client went while the core ran */
    bool bad_logged;
    uint64_t last_poll_ns;
    struct event release[2]; /* monitor press: the buttons' release */
    uint64_t releases_at[2];
};

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- output ------------------------------------------------------------------- */

static void client_close(struct gdb *g, const char *why);

static void flush_out(struct gdb *g)
{
    while (g->fd >= 0 && g->out_len) {
        ssize_t n = send(g->fd, g->out, g->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            memmove(g->out, g->out + n, g->out_len - (size_t)n);
            g->out_len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            client_close(g, "the connection broke");
            return;
        }
    }
}

static void out_bytes(struct gdb *g, const void *p, size_t n)
{
    if (g->fd < 0)
        return;
    if (g->out_len + n > OUT_MAX) {
        client_close(g, "it does not read its replies");
        return;
    }
    if (g->out_len + n > g->out_cap) {
        size_t cap = g->out_cap ? g->out_cap : 4096;
        while (cap < g->out_len + n)
            cap *= 2;
        uint8_t *nb = realloc(g->out, cap);
        if (!nb) {
            client_close(g, "out of memory");
            return;
        }
        g->out = nb;
        g->out_cap = cap;
    }
    memcpy(g->out + g->out_len, p, n);
    g->out_len += n;
}

/* One packet: $payload#cs, with '$', '#', '}' and '*' escaped (they end, start or run-length a packet). */
static void send_packet(struct gdb *g, const char *payload, size_t len)
{
    if (g->fd < 0)
        return;
    uint8_t *frame = malloc(2 * len + 4);
    if (!frame) {
        client_close(g, "out of memory");
        return;
    }
    size_t n = 0;
    uint8_t sum = 0;
    frame[n++] = '$';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)payload[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            frame[n++] = '}';
            sum += '}';
            c ^= 0x20;
        }
        frame[n++] = c;
        sum += c;
    }
    static const char hex[] = "0123456789abcdef";
    frame[n++] = '#';
    frame[n++] = (uint8_t)hex[sum >> 4];
    frame[n++] = (uint8_t)hex[sum & 15];
    out_bytes(g, frame, n);
    free(g->last);
    g->last = frame;
    g->last_len = n;
    flush_out(g);
}

static void send_str(struct gdb *g, const char *s) { send_packet(g, s, strlen(s)); }

static void send_fmt(struct gdb *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_fmt(struct gdb *g, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    send_str(g, buf);
}

/* ---- hex ---------------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A hex number of at most 8 digits at *p; advances *p. */
static bool parse_hex(const char **p, uint32_t *v)
{
    const char *s = *p;
    uint32_t x = 0;
    int n = 0;
    while (hexval(*s) >= 0) {
        if (++n > 8)
            return false;
        x = x << 4 | (uint32_t)hexval(*s++);
    }
    if (n == 0)
        return false;
    *v = x;
    *p = s;
    return true;
}

static void put_hex_bytes(char *dst, const uint8_t *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = hex[src[i] >> 4];
        dst[2 * i + 1] = hex[src[i] & 15];
    }
    dst[2 * n] = '\0';
}

static void put_le32(char *dst, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put_hex_bytes(dst, b, 4);
}

static bool get_le32(const char *s, uint32_t *v)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        x |= (uint32_t)(hi << 4 | lo) << (8 * i);
    }
    *v = x;
    return true;
}

/* Binary data as X and vFlashWrite carry it: '}' escapes the next byte (xor 0x20). */
static size_t unescape(const char *src, size_t n, uint8_t *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)src[i];
        if (c == '}' && i + 1 < n)
            c = (uint8_t)src[++i] ^ 0x20;
        dst[o++] = c;
    }
    return o;
}

/* ---- what gdb is told about the target ------------------------------------------ */

static const char target_xml[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
    "<target version=\"1.0\">\n"
    "<architecture>arm</architecture>\n"
    "<feature name=\"org.gnu.gdb.arm.m-profile\">\n"
    "<reg name=\"r0\" bitsize=\"32\" regnum=\"0\"/>\n"
    "<reg name=\"r1\" bitsize=\"32\" regnum=\"1\"/>\n"
    "<reg name=\"r2\" bitsize=\"32\" regnum=\"2\"/>\n"
    "<reg name=\"r3\" bitsize=\"32\" regnum=\"3\"/>\n"
    "<reg name=\"r4\" bitsize=\"32\" regnum=\"4\"/>\n"
    "<reg name=\"r5\" bitsize=\"32\" regnum=\"5\"/>\n"
    "<reg name=\"r6\" bitsize=\"32\" regnum=\"6\"/>\n"
    "<reg name=\"r7\" bitsize=\"32\" regnum=\"7\"/>\n"
    "<reg name=\"r8\" bitsize=\"32\" regnum=\"8\"/>\n"
    "<reg name=\"r9\" bitsize=\"32\" regnum=\"9\"/>\n"
    "<reg name=\"r10\" bitsize=\"32\" regnum=\"10\"/>\n"
    "<reg name=\"r11\" bitsize=\"32\" regnum=\"11\"/>\n"
    "<reg name=\"r12\" bitsize=\"32\" regnum=\"12\"/>\n"
    "<reg name=\"sp\" bitsize=\"32\" type=\"data_ptr\" regnum=\"13\"/>\n"
    "<reg name=\"lr\" bitsize=\"32\" regnum=\"14\"/>\n"
    "<reg name=\"pc\" bitsize=\"32\" type=\"code_ptr\" regnum=\"15\"/>\n"
    "<reg name=\"xpsr\" bitsize=\"32\" regnum=\"16\"/>\n"
    "</feature>\n"
    "<feature name=\"org.gnu.gdb.arm.m-system\">\n"
    "<reg name=\"msp\" bitsize=\"32\" type=\"data_ptr\" regnum=\"17\" group=\"system\"/>\n"
    "<reg name=\"psp\" bitsize=\"32\" type=\"data_ptr\" regnum=\"18\" group=\"system\"/>\n"
    "<reg name=\"primask\" bitsize=\"32\" regnum=\"19\" group=\"system\"/>\n"
    "<reg name=\"basepri\" bitsize=\"32\" regnum=\"20\" group=\"system\"/>\n"
    "<reg name=\"faultmask\" bitsize=\"32\" regnum=\"21\" group=\"system\"/>\n"
    "<reg name=\"control\" bitsize=\"32\" regnum=\"22\" group=\"system\"/>\n"
    "</feature>\n"
    "</target>\n";

/* The STM32F103CB's map: gdb writes the flash only with vFlash packets (load), and nothing outside the map. */
static const char memory_map_xml[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE memory-map PUBLIC \"+//IDN gnu.org//DTD GDB Memory Map V1.0//EN\" "
    "\"http://sourceware.org/gdb/gdb-memory-map.dtd\">\n"
    "<memory-map>\n"
    "<memory type=\"rom\" start=\"0x0\" length=\"0x20000\"/>\n"
    "<memory type=\"flash\" start=\"0x08000000\" length=\"0x20000\">"
    "<property name=\"blocksize\">0x400</property></memory>\n"
    "<memory type=\"rom\" start=\"0x1ffff000\" length=\"0xc00\"/>\n"
    "<memory type=\"ram\" start=\"0x20000000\" length=\"0x5000\"/>\n"
    "<memory type=\"ram\" start=\"0x22000000\" length=\"0xa0000\"/>\n"
    "<memory type=\"ram\" start=\"0x40000000\" length=\"0x24000\"/>\n"
    "<memory type=\"ram\" start=\"0x42000000\" length=\"0x480000\"/>\n"
    "<memory type=\"ram\" start=\"0xe0000000\" length=\"0x100000\"/>\n"
    "</memory-map>\n";

/* qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH -> m<chunk> (more follows) or l<chunk> (the end). */
static void send_xfer(struct gdb *g, const char *doc, const char *args)
{
    uint32_t off, len;
    if (!parse_hex(&args, &off) || *args++ != ',' || !parse_hex(&args, &len) || *args) {
        send_str(g, "E01");
        return;
    }
    size_t total = strlen(doc);
    if (off >= total) {
        send_str(g, "l");
        return;
    }
    size_t n = total - off;
    if (n > len)
        n = len;
    if (n > PACKET_MAX - 8)
        n = PACKET_MAX - 8;
    char buf[PACKET_MAX];
    buf[0] = off + n < total ? 'm' : 'l';
    memcpy(buf + 1, doc + off, n);
    send_packet(g, buf, n + 1);
}

static void send_stop(struct gdb *g, const struct debug_stop *s)
{
    int sig = s->kind == DEBUG_STOP_REQUEST ? 2 : s->kind == DEBUG_STOP_LOCKUP ? 11 : 5;
    char why[64] = "";
    if (s->kind == DEBUG_STOP_BREAKPOINT)
        snprintf(why, sizeof why, "%s", s->hw ? "hwbreak:;" : "swbreak:;");
    else if (s->kind == DEBUG_STOP_WATCHPOINT)
        snprintf(why, sizeof why, "%s:%x;",
                 s->watch == DEBUG_WATCH_WRITE ? "watch" : s->watch == DEBUG_WATCH_READ ? "rwatch" : "awatch",
                 s->watch_addr);
    char regs[3][9];
    static const int expedite[3] = {DEBUG_REG_SP, DEBUG_REG_LR, DEBUG_REG_PC};
    for (int i = 0; i < 3; i++) {
        uint32_t v = 0;
        debug_reg_read(g->m, expedite[i], &v);
        put_le32(regs[i], v);
    }
    send_fmt(g, "T%02x%sthread:" GDB_THREAD ";0d:%s;0e:%s;0f:%s;", sig, why, regs[0], regs[1], regs[2]);
}

/* ---- monitor commands (qRcmd) ------------------------------------------------- */

static void console(struct gdb *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void console(struct gdb *g, const char *fmt, ...)
{
    char text[512], pkt[2 * sizeof text + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof text)
        n = sizeof text - 1;
    pkt[0] = 'O';
    put_hex_bytes(pkt + 1, (const uint8_t *)text, (size_t)n);
    send_str(g, pkt);
}

static void release_button(struct gdb *g, enum button_id b)
{
    spark_core_set_button(g->h->board, b, false);
}
static void release_mode(struct sim *sim, void *opaque)
{
    (void)sim;
    release_button(opaque, BUTTON_MODE);
}
static void release_reset(struct sim *sim, void *opaque)
{
    (void)sim;
    release_button(opaque, BUTTON_RESET);
}

static void seconds(char *buf, size_t len, uint64_t cycles)
{
    snprintf(buf, len, "%llu.%09llu s", (unsigned long long)(cycles / SIM_HZ),
             (unsigned long long)(cycles % SIM_HZ * 1000ull / SIM_CYCLES_PER_US));
}

/* Returns false for a command it does not know (or a bad argument): the reply is then an error. */
static bool monitor(struct gdb *g, char *cmd)
{
    struct machine *m = g->m;
    char *w[4] = {0};
    int nw = 0;
    for (char *save = NULL, *t = strtok_r(cmd, " \t\r\n", &save); t && nw < 4; t = strtok_r(NULL, " \t\r\n", &save))
        w[nw++] = t;
    if (nw == 0 || strcmp(w[0], "help") == 0) {
        console(g, "monitor reset            reset the chip (SYSRESETREQ); the core runs (gdb's next command halts it)\n"
                   "monitor reset halt       reset the chip and keep the core halted at the reset vector\n"
                   "monitor press BUTTON [DURATION]  press mode or reset now, release after DURATION of\n"
                   "                         virtual time (default 100ms), e.g. monitor press mode 3500ms\n"
                   "monitor time             the virtual time\n"
                   "(after a reset, 'flushregs' makes gdb read the registers again)\n");
        return true;
    }
    if (strcmp(w[0], "reset") == 0 && nw <= 2) {
        bool halt = nw == 2 && (strcmp(w[1], "halt") == 0 || strcmp(w[1], "init") == 0);
        if (nw == 2 && !halt && strcmp(w[1], "run") != 0) {
            console(g, "monitor reset %s: expected 'halt' or 'run'\n", w[1]);
            return false;
        }
        debug_reset(m, halt);
        uint32_t pc = 0;
        debug_reg_read(m, DEBUG_REG_PC, &pc);
        console(g, halt ? "reset: halted at 0x%08x\n" : "reset: running from 0x%08x\n", pc);
        return true;
    }
    if (strcmp(w[0], "press") == 0 && (nw == 2 || nw == 3)) {
        enum button_id b;
        if (strcmp(w[1], "mode") == 0)
            b = BUTTON_MODE;
        else if (strcmp(w[1], "reset") == 0)
            b = BUTTON_RESET;
        else {
            console(g, "monitor press %s: unknown button (expected mode or reset)\n", w[1]);
            return false;
        }
        uint64_t hold = SIM_MS(100);
        if (nw == 3 && (parse_duration(w[2], &hold) || hold == 0)) {
            console(g, "monitor press %s %s: expected a positive duration like 3500ms, 3s, 250us\n", w[1], w[2]);
            return false;
        }
        uint64_t now = m->sim.clock.now;
        spark_core_set_button(g->h->board, b, true);
        event_schedule(&m->sim, &g->release[b], now + hold);
        char t0[32], t1[32];
        seconds(t0, sizeof t0, now);
        seconds(t1, sizeof t1, now + hold);
        console(g, "%s pressed at %s, released at %s (virtual time runs while the core does)\n",
                b == BUTTON_MODE ? "MODE" : "RESET", t0, t1);
        return true;
    }
    if (strcmp(w[0], "time") == 0 && nw == 1) {
        char t[32];
        seconds(t, sizeof t, m->sim.clock.now);
        console(g, "virtual time %s\n", t);
        return true;
    }
    console(g, "unknown monitor command '%s' (monitor help lists them)\n", w[0]);
    return false;
}

/* ---- packets -------------------------------------------------------------------- */

static void do_detach(struct gdb *g)
{
    debug_clear_points(g->m);
    if (debug_is_halted(g->m))
        debug_continue(g->m);
}

/* k, vKill, R, vRun: the program is "killed" by a reset; the core waits at the reset vector. */
static void do_restart(struct gdb *g)
{
    debug_clear_points(g->m);
    debug_reset(g->m, true);
}

static void resume(struct gdb *g, bool step, const char *addr)
{
    uint32_t a;
    if (addr && *addr) {
        if (!parse_hex(&addr, &a)) {
            send_str(g, "E01");
            return;
        }
        debug_reg_write(g->m, DEBUG_REG_PC, a);
    }
    g->owe_stop = true;
    if (step)
        debug_step(g->m);
    else
        debug_continue(g->m);
}

static void handle_read_memory(struct gdb *g, const char *p)
{
    uint32_t addr, len;
    if (!parse_hex(&p, &addr) || *p++ != ',' || !parse_hex(&p, &len) || *p) {
        send_str(g, "E01");
        return;
    }
    if (len > PACKET_MAX / 2)
        len = PACKET_MAX / 2;
    uint8_t buf[PACKET_MAX / 2];
    size_t n = debug_mem_read(g->m, addr, buf, len);
    if (n == 0 && len) {
        send_str(g, "E14");
        return;
    }
    char hex[PACKET_MAX + 1];
    put_hex_bytes(hex, buf, n);
    send_str(g, hex);
}

static void handle_write_memory(struct gdb *g, const char *p, size_t plen, bool binary)
{
    const char *start = p;
    uint32_t addr, len;
    if (!parse_hex(&p, &addr) || *p++ != ',' || !parse_hex(&p, &len) || *p++ != ':' || len > PACKET_MAX) {
        send_str(g, "E01");
        return;
    }
    size_t rest = plen - (size_t)(p - start);
    uint8_t buf[PACKET_MAX];
    size_t n;
    if (binary) {
        n = unescape(p, rest, buf);
    } else {
        if (rest != 2 * (size_t)len) {
            send_str(g, "E01");
            return;
        }
        for (n = 0; n < len; n++) {
            int hi = hexval(p[2 * n]), lo = hexval(p[2 * n + 1]);
            if (hi < 0 || lo < 0) {
                send_str(g, "E01");
                return;
            }
            buf[n] = (uint8_t)(hi << 4 | lo);
        }
    }
    if (n != len) {
        send_str(g, "E01");
        return;
    }
    send_str(g, debug_mem_write(g->m, addr, buf, n) ? "E14" : "OK");
}

static void handle_points(struct gdb *g, const char *p, bool insert)
{
    int type = p[0] - '0';
    uint32_t addr, kind;
    p++;
    if (type < 0 || type > 4) {
        send_str(g, "");
        return;
    }
    if (*p++ != ',' || !parse_hex(&p, &addr) || *p++ != ',' || !parse_hex(&p, &kind) || (*p && *p != ';')) {
        send_str(g, "E01");
        return;
    }
    int rc;
    if (type <= 1)
        rc = insert ? debug_breakpoint_insert(g->m, addr, type == 1) : debug_breakpoint_remove(g->m, addr);
    else
        rc = insert ? debug_watchpoint_insert(g->m, (enum debug_watch_kind)type, addr, kind)
                    : debug_watchpoint_remove(g->m, (enum debug_watch_kind)type, addr, kind);
    send_str(g, rc ? "E01" : "OK");
}

static void handle_registers(struct gdb *g, const char *p, size_t len, char op)
{
    struct machine *m = g->m;
    if (op == 'g') {
        char buf[DEBUG_NUM_REGS * 8 + 1];
        for (int r = 0; r < DEBUG_NUM_REGS; r++) {
            uint32_t v = 0;
            debug_reg_read(m, r, &v);
            put_le32(buf + 8 * r, v);
        }
        send_str(g, buf);
        return;
    }
    if (op == 'G') {
        uint32_t v[DEBUG_NUM_REGS];
        if (len != DEBUG_NUM_REGS * 8) {
            send_str(g, "E01");
            return;
        }
        for (int r = 0; r < DEBUG_NUM_REGS; r++)
            if (!get_le32(p + 8 * r, &v[r])) {
                send_str(g, "E01");
                return;
            }
        for (int r = 0; r < DEBUG_NUM_REGS; r++)
            debug_reg_write(m, r, v[r]);
        send_str(g, "OK");
        return;
    }
    uint32_t reg, v;
    if (!parse_hex(&p, &reg) || reg >= DEBUG_NUM_REGS) {
        send_str(g, "E01");
        return;
    }
    if (op == 'p') {
        char buf[9];
        debug_reg_read(m, (int)reg, &v);
        put_le32(buf, v);
        send_str(g, buf);
        return;
    }
    if (*p++ != '=' || strlen(p) != 8 || !get_le32(p, &v)) {
        send_str(g, "E01");
        return;
    }
    send_str(g, debug_reg_write(m, (int)reg, v) ? "E01" : "OK");
}

static void handle_vcont(struct gdb *g, const char *p)
{
    /* one thread: the first action decides (vCont;s:1;c steps thread 1, the others have none) */
    if (*p++ != ';') {
        send_str(g, "E01");
        return;
    }
    switch (p[0]) {
    case 'c':
    case 'C':
        resume(g, false, NULL);
        return;
    case 's':
    case 'S':
        resume(g, true, NULL);
        return;
    case 't':
        send_str(g, "OK"); /* already stopped */
        return;
    default:
        send_str(g, "E01");
    }
}

static void handle_v(struct gdb *g, const char *p, size_t len)
{
    struct machine *m = g->m;
    if (strcmp(p, "vCont?") == 0) {
        send_str(g, "vCont;c;C;s;S;t");
    } else if (strncmp(p, "vCont", 5) == 0) {
        handle_vcont(g, p + 5);
    } else if (strcmp(p, "vCtrlC") == 0) {
        send_str(g, "OK"); /* halted already */
    } else if (strncmp(p, "vFlashErase:", 12) == 0) {
        const char *a = p + 12;
        uint32_t addr, n;
        if (!parse_hex(&a, &addr) || *a++ != ',' || !parse_hex(&a, &n) || *a) {
            send_str(g, "E01");
            return;
        }
        send_str(g, debug_flash_erase(m, addr, n) ? "E01" : "OK");
    } else if (strncmp(p, "vFlashWrite:", 12) == 0) {
        const char *a = p + 12;
        uint32_t addr;
        if (!parse_hex(&a, &addr) || *a++ != ':') {
            send_str(g, "E01");
            return;
        }
        uint8_t buf[PACKET_MAX];
        size_t n = unescape(a, len - (size_t)(a - p), buf);
        bool in_flash = addr >= FLASH_BASE && (uint64_t)addr + n <= (uint64_t)FLASH_BASE + FLASH_SIZE;
        send_str(g, in_flash && debug_mem_write(m, addr, buf, n) == 0 ? "OK" : "E01");
    } else if (strcmp(p, "vFlashDone") == 0) {
        send_str(g, "OK");
    } else if (strncmp(p, "vKill", 5) == 0) {
        do_restart(g);
        send_str(g, "OK");
    } else if (strncmp(p, "vRun", 4) == 0) {
        do_restart(g);
        send_stop(g, debug_last_stop(m));
    } else if (strncmp(p, "vAttach", 7) == 0) {
        send_stop(g, debug_last_stop(m));
    } else {
        send_str(g, ""); /* vMustReplyEmpty and everything we do not know */
    }
}

#define XFER_FEATURES "qXfer:features:read:target.xml:"
#define XFER_MEMORY_MAP "qXfer:memory-map:read::"

static bool starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static void handle_q(struct gdb *g, char *p)
{
    if (strncmp(p, "qSupported", 10) == 0) {
        send_fmt(g, "PacketSize=%x;qXfer:features:read+;qXfer:memory-map:read+;QStartNoAckMode+;"
                    "vContSupported+;swbreak+;hwbreak+", PACKET_MAX);
    } else if (starts(p, XFER_FEATURES)) {
        send_xfer(g, target_xml, p + strlen(XFER_FEATURES));
    } else if (starts(p, XFER_MEMORY_MAP)) {
        send_xfer(g, memory_map_xml, p + strlen(XFER_MEMORY_MAP));
    } else if (strncmp(p, "qXfer:", 6) == 0) {
        send_str(g, "E00");
    } else if (strcmp(p, "qAttached") == 0 || strncmp(p, "qAttached:", 10) == 0) {
        send_str(g, "1"); /* quitting gdb detaches: the Core runs on */
    } else if (strcmp(p, "qC") == 0) {
        send_str(g, "QC" GDB_THREAD);
    } else if (strcmp(p, "qfThreadInfo") == 0) {
        send_str(g, "m" GDB_THREAD);
    } else if (strcmp(p, "qsThreadInfo") == 0) {
        send_str(g, "l");
    } else if (strcmp(p, "qOffsets") == 0) {
        send_str(g, "Text=0;Data=0;Bss=0");
    } else if (strncmp(p, "qSymbol", 7) == 0) {
        send_str(g, "OK");
    } else if (strncmp(p, "qRcmd,", 6) == 0) {
        char cmd[PACKET_MAX / 2 + 1];
        const char *h = p + 6;
        size_t n = 0;
        for (; h[0] && h[1] && n < sizeof cmd - 1; h += 2) {
            int hi = hexval(h[0]), lo = hexval(h[1]);
            if (hi < 0 || lo < 0)
                break;
            cmd[n++] = (char)(hi << 4 | lo);
        }
        cmd[n] = '\0';
        if (*h || memchr(cmd, '\0', n)) {
            send_str(g, "E01");
            return;
        }
        send_str(g, monitor(g, cmd) ? "OK" : "E01");
    } else {
        send_str(g, "");
    }
}

static void handle_packet(struct gdb *g, struct packet *pk)
{
    struct machine *m = g->m;
    char *p = pk->data;
    if (pk->too_long) {
        send_str(g, "E01");
        return;
    }
    switch (p[0]) {
    case '?':
        send_stop(g, debug_last_stop(m));
        break;
    case '!':
        send_str(g, "OK");
        break;
    case 'g':
    case 'G':
    case 'p':
    case 'P':
        handle_registers(g, p + 1, pk->len - 1, p[0]);
        break;
    case 'm':
        handle_read_memory(g, p + 1);
        break;
    case 'M':
        handle_write_memory(g, p + 1, pk->len - 1, false);
        break;
    case 'X':
        handle_write_memory(g, p + 1, pk->len - 1, true);
        break;
    case 'Z':
    case 'z':
        handle_points(g, p + 1, p[0] == 'Z');
        break;
    case 'c':
    case 's':
        resume(g, p[0] == 's', p + 1);
        break;
    case 'C':
    case 'S': {
        const char *semi = strchr(p, ';'); /* the signal is not delivered: a Core has no signals */
        resume(g, p[0] == 'S', semi ? semi + 1 : NULL);
        break;
    }
    case 'v':
        handle_v(g, p, pk->len);
        break;
    case 'q':
        handle_q(g, p);
        break;
    case 'Q':
        if (strcmp(p, "QStartNoAckMode") == 0) {
            send_str(g, "OK");
            g->no_ack = true;
        } else {
            send_str(g, "");
        }
        break;
    case 'H':
    case 'T':
        send_str(g, "OK");
        break;
    case 'D':
        send_str(g, "OK");
        flush_out(g);
        client_close(g, "detached");
        break;
    case 'k':
        do_restart(g); /* no reply */
        break;
    case 'R':
        do_restart(g);
        break;
    default:
        send_str(g, "");
    }
}

/* ---- input ---------------------------------------------------------------------- */

static void bad_input(struct gdb *g, const char *what)
{
    if (!g->bad_logged) {
        g->bad_logged = true;
        sim_log(&g->m->sim, LOG_WARN, "gdb: %s from %s (refused; logged once per connection)", what, g->peer);
    }
}

static void interrupt(struct gdb *g)
{
    if (debug_is_halted(g->m))
        return; /* already stopped: gdb sends ^C without knowing */
    g->owe_stop = true;
    debug_request_halt(g->m, DEBUG_STOP_REQUEST);
}

static void packet_done(struct gdb *g)
{
    if (g->csum != g->sum) {
        if (!g->no_ack)
            out_bytes(g, "-", 1);
        bad_input(g, "a packet with a bad checksum");
        return;
    }
    if (!g->no_ack)
        out_bytes(g, "+", 1);
    g->cur.data[g->cur.len] = '\0';
    if (!g->cur.too_long && strcmp(g->cur.data, "vCtrlC") == 0 && !debug_is_halted(g->m)) {
        send_str(g, "OK"); /* vCtrlC is answered at once; the stop reply follows when the core halts */
        interrupt(g);
        return;
    }
    if (g->cur.too_long)
        bad_input(g, "an over-long packet");
    int tail = (g->qhead + g->qcount) % QUEUE_LEN;
    g->queue[tail] = g->cur;
    g->qcount++;
}

/* Frame bytes from inbuf into packets until it is empty or the queue is full. */
static void parse_input(struct gdb *g)
{
    while (g->inpos < g->inlen && g->qcount < QUEUE_LEN && g->fd >= 0) {
        uint8_t c = g->inbuf[g->inpos++];
        int v;
        switch (g->pstate) {
        case P_IDLE:
            if (c == '$') {
                g->pstate = P_DATA;
                g->cur.len = 0;
                g->cur.too_long = false;
                g->sum = 0;
            } else if (c == '-') {
                if (!g->no_ack && g->last)
                    out_bytes(g, g->last, g->last_len);
            } else if (c == 0x03) {
                interrupt(g);
            } /* '+' and anything else between packets: skipped */
            break;
        case P_DATA:
            if (c == '$') { /* a new packet starts: the one before was cut short */
                g->cur.len = 0;
                g->cur.too_long = false;
                g->sum = 0;
            } else if (c == '#') {
                g->pstate = P_CSUM1;
            } else {
                g->sum = (uint8_t)(g->sum + c);
                if (g->cur.len < PACKET_MAX)
                    g->cur.data[g->cur.len++] = (char)c;
                else
                    g->cur.too_long = true;
            }
            break;
        case P_CSUM1:
        case P_CSUM2:
            v = hexval(c);
            if (v < 0) {
                g->pstate = P_IDLE;
                if (!g->no_ack)
                    out_bytes(g, "-", 1);
                bad_input(g, "a packet without a checksum");
                break;
            }
            if (g->pstate == P_CSUM1) {
                g->csum = (uint8_t)(v << 4);
                g->pstate = P_CSUM2;
            } else {
                g->csum = (uint8_t)(g->csum | v);
                g->pstate = P_IDLE;
                packet_done(g);
            }
            break;
        }
    }
    flush_out(g);
}

static void read_client(struct gdb *g)
{
    for (int rounds = 0; rounds < 8 && g->fd >= 0; rounds++) {
        parse_input(g);
        if (g->inpos < g->inlen)
            return; /* the queue is full: the rest waits */
        ssize_t n = recv(g->fd, g->inbuf, sizeof g->inbuf, MSG_DONTWAIT);
        if (n > 0) {
            g->inpos = 0;
            g->inlen = (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        client_close(g, n == 0 ? "it closed the connection" : "the connection broke");
        return;
    }
}

/* Packets waiting are handled while the core is halted; a client that owes nothing halts it by asking. */
static void process_queue(struct gdb *g)
{
    while (g->qcount > 0 && g->fd >= 0) {
        if (!debug_is_halted(g->m)) {
            if (!g->owe_stop)
                debug_request_halt(g->m, DEBUG_STOP_ATTACH);
            return;
        }
        struct packet *pk = &g->queue[g->qhead];
        g->qhead = (g->qhead + 1) % QUEUE_LEN;
        g->qcount--;
        handle_packet(g, pk);
        parse_input(g); /* room in the queue again */
    }
}

/* ---- connections ------------------------------------------------------------------ */

static void client_close(struct gdb *g, const char *why)
{
    if (g->fd < 0)
        return;
    sim_log(&g->m->sim, LOG_INFO, "gdb: %s went: %s", g->peer, why);
    close(g->fd);
    g->fd = -1;
    g->inpos = g->inlen = 0;
    g->pstate = P_IDLE;
    g->qcount = 0;
    g->out_len = 0;
    free(g->last);
    g->last = NULL;
    g->no_ack = false;
    g->owe_stop = false;
    /* a debugger that goes (detach, quit, killed) leaves no breakpoints, and the core runs on */
    if (debug_is_halted(g->m)) {
        do_detach(g);
    } else {
        /* running (perhaps inside a hook): the breakpoints go once the core halts, then it runs on */
        g->detach_when_halted = true;
        debug_request_halt(g->m, DEBUG_STOP_ATTACH);
    }
}

static void accept_clients(struct gdb *g)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(g->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        char host[64] = "?", serv[16] = "?";
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
        if (g->fd >= 0) {
            sim_log(&g->m->sim, LOG_WARN, "gdb: %s:%s refused: %s is connected (one debugger at a time)", host,
                    serv, g->peer);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        g->fd = fd;
        snprintf(g->peer, sizeof g->peer, "%s:%s", host, serv);
        g->bad_logged = false;
        g->detach_when_halted = false;
        sim_log(&g->m->sim, LOG_INFO, "gdb: %s connected", g->peer);
    }
}

/* Poll the sockets (timeout in ms; 0: just look) and act on what came. */
static void serve(struct gdb *g, int timeout_ms)
{
    struct pollfd p[2] = {{g->listen_fd, POLLIN, 0}, {g->fd, (short)(POLLIN | (g->out_len ? POLLOUT : 0)), 0}};
    int n = poll(p, g->fd >= 0 ? 2 : 1, timeout_ms);
    if (n <= 0)
        return;
    if (p[0].revents & POLLIN)
        accept_clients(g);
    if (g->fd >= 0 && p[1].fd == g->fd) {
        if (p[1].revents & POLLOUT)
            flush_out(g);
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
            read_client(g);
    }
}

/* ---- the debugger front end (emulator thread) -------------------------------------- */

static void fe_wait(void *opaque)
{
    struct gdb *g = opaque;
    flush_out(g);
    process_queue(g);
    if (!debug_is_halted(g->m))
        return;
    serve(g, HALTED_POLL_MS);
    if (g->fd >= 0)
        read_client(g);
    process_queue(g);
    flush_out(g);
}

static void fe_stopped(void *opaque, const struct debug_stop *stop)
{
    struct gdb *g = opaque;
    if (g->detach_when_halted) {
        g->detach_when_halted = false;
        do_detach(g);
        return;
    }
    if (g->owe_stop) {
        g->owe_stop = false;
        send_stop(g, stop);
    }
}

/* ---- the adapter ---------------------------------------------------------------------- */

static int parse_addr_port(struct gdb *g, const char *arg, char *err, size_t errlen)
{
    const char *colon = strrchr(arg, ':');
    const char *portstr;
    if (arg[0] == '[') {
        const char *close_br = strchr(arg, ']');
        if (!close_br || close_br[1] != ':') {
            snprintf(err, errlen, "--gdb %s: expected [IPv6-ADDR]:PORT", arg);
            return -1;
        }
        snprintf(g->addr, sizeof g->addr, "%.*s", (int)(close_br - arg - 1), arg + 1);
        portstr = close_br + 2;
    } else if (colon) {
        if (strchr(arg, ':') != colon) {
            snprintf(err, errlen, "--gdb %s: write an IPv6 address in brackets, [ADDR]:PORT", arg);
            return -1;
        }
        snprintf(g->addr, sizeof g->addr, "%.*s", (int)(colon - arg), arg);
        portstr = colon + 1;
    } else {
        snprintf(g->addr, sizeof g->addr, "%s", GDB_DEFAULT_ADDR);
        portstr = arg;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(portstr, &end, 10);
    if (!portstr[0] || *end || errno || v < 0 || v > 65535) {
        snprintf(err, errlen, "--gdb %s: '%s' is not a TCP port (expected [ADDR:]PORT, e.g. 3333 or 0.0.0.0:3333)",
                 arg, portstr);
        return -1;
    }
    if (!g->addr[0]) {
        snprintf(err, errlen, "--gdb %s: the address is empty (expected [ADDR:]PORT)", arg);
        return -1;
    }
    snprintf(g->port, sizeof g->port, "%ld", v);
    return 0;
}

static int listen_on(struct gdb *g, const char *arg, char *err, size_t errlen)
{
    char who[160];
    snprintf(who, sizeof who, "--gdb %s", arg);
    uint16_t bound = 0;
    int fd = tcp_listen(who, g->addr, g->port, 4, &bound, err, errlen);
    if (fd < 0)
        return -1;
    snprintf(g->port, sizeof g->port, "%u", (unsigned)bound); /* port 0: the one the system chose */
    g->listen_fd = fd;
    return 0;
}

static int gdb_create(struct host *h, void **self, char *err, size_t errlen)
{
    const struct options *o = h->opt;
    *self = NULL;
    if (!o->gdb)
        return 0;
    struct gdb *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "--gdb: out of memory");
        return -1;
    }
    g->h = h;
    g->listen_fd = g->fd = -1;
    if (parse_addr_port(g, o->gdb, err, errlen) || listen_on(g, o->gdb, err, errlen)) {
        free(g);
        return -1;
    }
    *self = g;
    return 0;
}

static int gdb_attach(struct host *h, void *self, char *err, size_t errlen)
{
    struct gdb *g = self;
    if (!g)
        return 0;
    g->m = h->m;
    event_init(&g->release[BUTTON_MODE], release_mode, g, "gdb: MODE release");
    event_init(&g->release[BUTTON_RESET], release_reset, g, "gdb: RESET release");
    struct debug_frontend fe = {fe_wait, fe_stopped, g};
    if (debug_attach(g->m, &fe, h->opt->gdb_wait, err, errlen))
        return -1;
    bool v6 = strchr(g->addr, ':') != NULL;
    sim_log(&g->m->sim, LOG_WARN, "gdb: listening on %s%s%s:%s%s (gdb-multiarch -ex 'target extended-remote %s%s%s:%s')",
            v6 ? "[" : "", g->addr, v6 ? "]" : "", g->port, h->opt->gdb_wait ? ", halted until a debugger continues" : "",
            v6 ? "[" : "", g->addr, v6 ? "]" : "", g->port);
    return 0;
}

/* Running: a cheap look at the sockets now and then, for Ctrl-C and new debuggers. */
static void gdb_pace(struct host *h, void *self)
{
    struct gdb *g = self;
    (void)h;
    if (!g)
        return;
    uint64_t now = wall_ns();
    if (now - g->last_poll_ns < RUNNING_POLL_NS)
        return;
    g->last_poll_ns = now;
    serve(g, 0);
    process_queue(g);
    flush_out(g);
}

/* The run ended (--run-for, the guest's exit, a signal): a debugger waiting for a stop hears that it exited. */
static void gdb_ended(struct host *h, void *self)
{
    struct gdb *g = self;
    if (!g || g->fd < 0)
        return;
    if (g->owe_stop)
        send_fmt(g, "W%02x", h->run_status & 0xFF);
    flush_out(g);
    close(g->fd);
    g->fd = -1;
}

static void gdb_destroy(struct host *h, void *self)
{
    struct gdb *g = self;
    if (!g)
        return;
    if (g->m) {
        event_cancel(&g->m->sim, &g->release[BUTTON_MODE]);
        event_cancel(&g->m->sim, &g->release[BUTTON_RESET]);
        debug_detach_all(g->m);
    }
    (void)h;
    if (g->fd >= 0)
        close(g->fd);
    if (g->listen_fd >= 0)
        close(g->listen_fd);
    free(g->out);
    free(g->last);
    free(g);
}

const struct host_adapter host_gdb = {
    .name = "gdb",
    .create = gdb_create,
    .attach = gdb_attach,
    .pace = gdb_pace,
    .ended = gdb_ended,
    .destroy = gdb_destroy,
};
