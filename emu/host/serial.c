/*
 * serial.c - the host's CDC ACM driver for the Core's USB serial port (see
 * serial.h): Linux's cdc-acm and tty layer in small, on the virtual USB host's
 * URB interface, with a pty, stdio or a file as the tty.
 *
 * Design decision: two threads, one owner each. The port's I/O thread owns
 * the file descriptors: it polls them (with a 20 ms time-out, to notice the
 * slave being opened and closed, a new baud rate, and stop) and publishes the
 * port's state and the bytes typed into a locked shared area, then kicks the
 * machine. The emulator thread owns everything USB: its service reconciles
 * the device with that published state (open -> line coding, DTR|RTS,
 * reading; closed -> DTR|RTS off) and submits every URB; completions put the
 * Core's output in a bounded buffer the I/O thread writes out. Nothing on the
 * emulator thread ever blocks on a file descriptor.
 */
#include "emu/host/serial.h"

#include <asm/termbits.h> /* struct termios2: arbitrary baud rates (BOTHER), as serialport sets 14400 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* CDC 1.2 (PSTN 1.2) */
#define USB_CLASS_COMM 0x02u
#define USB_CLASS_CDC_DATA 0x0Au
#define USB_CDC_SUBCLASS_ACM 0x02u
#define USB_CDC_REQ_SET_LINE_CODING 0x20u
#define USB_CDC_REQ_SET_CONTROL_LINE_STATE 0x22u
#define USB_CDC_CTRL_DTR 0x01u
#define USB_CDC_CTRL_RTS 0x02u
#define USB_CDC_LINE_CODING_SIZE 7u
#define USB_CDC_1_STOP_BITS 0u
#define USB_CDC_2_STOP_BITS 2u
#define USB_CDC_NO_PARITY 0u
#define USB_CDC_ODD_PARITY 1u
#define USB_CDC_EVEN_PARITY 2u

#define SERIAL_PACKET 64u              /* bulk URB size: one full-speed packet */
#define SERIAL_IN_URBS 2               /* bulk IN URBs kept submitted while reading */
#define SERIAL_BUFFER (64u * 1024u)    /* bytes buffered each way */
#define SERIAL_POLL_MS 20              /* how often the I/O thread looks at open/close and termios */
#define SERIAL_READ_CHUNK 4096u
#define SERIAL_CLOSE_DRAIN SIM_MS(500) /* how long a close waits for typed bytes to reach the Core */

struct ring {
    uint8_t *data;
    size_t head, len, cap;
};

/* The CDC ACM function found in the configuration descriptor. */
struct cdc_acm {
    uint8_t comm_interface, data_interface;
    uint8_t notify_ep, bulk_in_ep, bulk_out_ep; /* bEndpointAddress, 0 = none */
    uint16_t notify_size;
};

struct usb_serial {
    struct usb_host *host;
    struct machine *m;
    enum serial_kind kind;
    int in_fd, out_fd;   /* what is read for the Core and written from it (-1: none) */
    bool close_in, close_out;
    bool is_pty;
    char path[64];
    int wake[2];         /* a pipe: wakes the I/O thread */
    pthread_t thread;
    bool thread_started;

    /* shared by both threads, under lock */
    pthread_mutex_t lock;
    bool stopping;
    bool port_open;                           /* someone has the port open */
    unsigned open_seq;                        /* counts opens, so a short open/close is not missed */
    uint8_t coding[USB_CDC_LINE_CODING_SIZE]; /* what the tty's termios say */
    struct ring to_device;                    /* typed by the user, for bulk OUT */
    struct ring to_host;                      /* from bulk IN, for out_fd */

    /* the emulator thread's own */
    bool attached, dead;
    unsigned generation;
    struct cdc_acm acm;
    bool open;            /* the device has been told the port is open */
    unsigned seen_seq;
    bool reading, in_failed, notify_failed;
    bool coding_valid;
    uint8_t coding_sent[USB_CDC_LINE_CODING_SIZE];
    uint8_t line_state;   /* last SET_CONTROL_LINE_STATE */
    bool holding;         /* machine_hold_realtime taken */
    bool drop_warned;
    bool close_forced;
    struct event close_event;
    struct usb_urb ctrl_urb, in_urb[SERIAL_IN_URBS], notify_urb, out_urb;
    bool ctrl_busy, in_busy[SERIAL_IN_URBS], notify_busy, out_busy;
    uint8_t ctrl_buf[USB_CDC_LINE_CODING_SIZE];
    uint8_t in_buf[SERIAL_IN_URBS][SERIAL_PACKET];
    uint8_t notify_buf[SERIAL_PACKET];
    uint8_t out_buf[SERIAL_PACKET];
};

/* ---- a byte ring ---------------------------------------------------------- */

static size_t ring_room(const struct ring *r)
{
    return r->cap - r->len;
}

static size_t ring_put(struct ring *r, const uint8_t *p, size_t n)
{
    if (n > ring_room(r))
        n = ring_room(r);
    for (size_t done = 0; done < n;) {
        size_t tail = (r->head + r->len) % r->cap;
        size_t chunk = r->cap - tail;
        if (chunk > n - done)
            chunk = n - done;
        memcpy(r->data + tail, p + done, chunk);
        r->len += chunk;
        done += chunk;
    }
    return n;
}

/* The longest contiguous run at the head. */
static size_t ring_peek(const struct ring *r, const uint8_t **p)
{
    *p = r->data + r->head;
    size_t n = r->cap - r->head;
    return n < r->len ? n : r->len;
}

static void ring_drop(struct ring *r, size_t n)
{
    if (n > r->len)
        n = r->len;
    r->head = (r->head + n) % r->cap;
    r->len -= n;
    if (!r->len)
        r->head = 0;
}

static size_t ring_get(struct ring *r, uint8_t *p, size_t max)
{
    size_t done = 0;
    while (done < max && r->len) {
        const uint8_t *src;
        size_t n = ring_peek(r, &src);
        if (n > max - done)
            n = max - done;
        memcpy(p + done, src, n);
        ring_drop(r, n);
        done += n;
    }
    return done;
}

static void wake_io_thread(struct usb_serial *s)
{
    uint8_t b = 1;
    if (write(s->wake[1], &b, 1) < 0 && errno != EAGAIN)
        sim_log(&s->m->sim, LOG_WARN, "usb serial: cannot wake its I/O thread: %s", strerror(errno));
}

/* ---- the configuration descriptor ----------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/*
 * Find the ACM control interface (its interrupt IN notification endpoint is
 * optional) and a data interface with one bulk IN and one bulk OUT endpoint,
 * in alternate setting 0. The descriptor comes from the guest: every length
 * is checked against what is there.
 */
static bool find_cdc_acm(const uint8_t *config, size_t len, struct cdc_acm *acm)
{
    enum { OTHER, COMM, DATA } in = OTHER;
    bool have_comm = false, have_data = false;
    memset(acm, 0, sizeof *acm);
    if (len >= 4 && get16(config + 2) < len)
        len = get16(config + 2);
    for (size_t i = 0; i + 2 <= len;) {
        uint8_t length = config[i], type = config[i + 1];
        if (length < 2 || length > len - i)
            break;
        const uint8_t *d = config + i;
        if (type == USB_DT_INTERFACE && length >= 9) {
            if (in == DATA && !(acm->bulk_in_ep && acm->bulk_out_ep)) {
                have_data = false; /* not a usable data interface: look further */
                acm->bulk_in_ep = acm->bulk_out_ep = 0;
            }
            in = OTHER;
            if (d[3] == 0 && d[5] == USB_CLASS_COMM && d[6] == USB_CDC_SUBCLASS_ACM && !have_comm) {
                have_comm = true;
                acm->comm_interface = d[2];
                in = COMM;
            } else if (d[3] == 0 && d[5] == USB_CLASS_CDC_DATA && !have_data) {
                have_data = true;
                acm->data_interface = d[2];
                in = DATA;
            }
        } else if (type == USB_DT_ENDPOINT && length >= 7) {
            uint8_t address = d[2], kind = d[3] & 0x03u;
            uint16_t size = get16(d + 4) & 0x7FFu;
            if ((address & 0x0Fu) == 0 || size == 0) {
                /* not an endpoint one could use */
            } else if (in == COMM && kind == USB_ENDPOINT_XFER_INT && (address & USB_DIR_IN) && !acm->notify_ep) {
                acm->notify_ep = address;
                acm->notify_size = size < SERIAL_PACKET ? size : SERIAL_PACKET;
            } else if (in == DATA && kind == USB_ENDPOINT_XFER_BULK) {
                if ((address & USB_DIR_IN) && !acm->bulk_in_ep)
                    acm->bulk_in_ep = address;
                else if (!(address & USB_DIR_IN) && !acm->bulk_out_ep)
                    acm->bulk_out_ep = address;
            }
        }
        i += length;
    }
    return have_comm && have_data && acm->bulk_in_ep && acm->bulk_out_ep;
}

/* ---- the emulator thread: the driver ------------------------------------ */

static void pump(struct usb_serial *s);

static void hold_realtime(struct usb_serial *s, bool hold)
{
    if (hold != s->holding) {
        s->holding = hold;
        machine_hold_realtime(s->m, hold);
    }
}

static void urb_failed(struct usb_serial *s, struct usb_urb *urb)
{
    if (urb->status == -ENODEV && urb->generation == s->generation)
        s->dead = true; /* gone; the detach is on its way */
}

static void ctrl_complete(struct usb_urb *urb)
{
    struct usb_serial *s = urb->context;
    s->ctrl_busy = false;
    if (urb->status && urb->generation == s->generation && s->attached) {
        if (urb->status != -ENODEV)
            sim_log(&s->m->sim, LOG_DEBUG, "usb serial: class request 0x%02x failed (%d)", urb->setup[1],
                    urb->status);
        urb_failed(s, urb);
    }
    pump(s);
}

static void in_complete(struct usb_urb *urb)
{
    struct usb_serial *s = urb->context;
    int i = (int)(urb - s->in_urb);
    s->in_busy[i] = false;
    if (urb->generation == s->generation && s->attached) {
        if (urb->status == 0 && urb->actual && s->open) {
            pthread_mutex_lock(&s->lock);
            size_t put = ring_put(&s->to_host, urb->buffer, urb->actual);
            pthread_mutex_unlock(&s->lock);
            if (put < urb->actual && !s->drop_warned) {
                s->drop_warned = true;
                sim_log(&s->m->sim, LOG_WARN, "usb serial: nobody reads %s; dropping the Core's output",
                        s->path[0] ? s->path : "the output");
            }
            wake_io_thread(s);
        } else if (urb->status && urb->status != -ECONNRESET) {
            /* a stall or a dead endpoint: no more reads until the port opens again */
            s->in_failed = true;
            urb_failed(s, urb);
        }
    }
    pump(s);
}

static void notify_complete(struct usb_urb *urb)
{
    struct usb_serial *s = urb->context;
    s->notify_busy = false;
    /* SERIAL_STATE notifications carry nothing a pty can show: read and forget */
    if (urb->status && urb->status != -ECONNRESET && urb->generation == s->generation) {
        s->notify_failed = true;
        urb_failed(s, urb);
    }
    pump(s);
}

static void out_complete(struct usb_urb *urb)
{
    struct usb_serial *s = urb->context;
    s->out_busy = false;
    if (urb->status && urb->generation == s->generation && s->attached) {
        if (urb->status != -ENODEV)
            sim_log(&s->m->sim, LOG_WARN, "usb serial: %u bytes to the Core lost (%d)", urb->length, urb->status);
        urb_failed(s, urb);
    }
    pump(s);
}

static bool submit(struct usb_serial *s, struct usb_urb *urb, bool *busy)
{
    urb->generation = s->generation;
    urb->context = s;
    *busy = true;
    if (usb_host_submit(s->host, urb) == 0)
        return true;
    *busy = false;
    s->dead = true; /* only a gone device refuses our well-formed URBs */
    return false;
}

static void class_request(struct usb_serial *s, uint8_t request, uint16_t value, const uint8_t *data, uint16_t len)
{
    struct usb_urb *u = &s->ctrl_urb;
    memset(u, 0, sizeof *u);
    u->type = USB_URB_CONTROL;
    u->setup[0] = USB_TYPE_CLASS | USB_RECIP_INTERFACE; /* host to device */
    u->setup[1] = request;
    u->setup[2] = (uint8_t)value;
    u->setup[3] = (uint8_t)(value >> 8);
    u->setup[4] = s->acm.comm_interface;
    u->setup[5] = 0;
    u->setup[6] = (uint8_t)len;
    u->setup[7] = (uint8_t)(len >> 8);
    if (len)
        memcpy(s->ctrl_buf, data, len);
    u->buffer = s->ctrl_buf;
    u->length = len;
    u->complete = ctrl_complete;
    submit(s, u, &s->ctrl_busy);
}

static void read_urb(struct usb_serial *s, struct usb_urb *u, uint8_t endpoint, enum usb_urb_type type,
                     uint8_t *buf, uint32_t len, void (*complete)(struct usb_urb *), bool *busy)
{
    memset(u, 0, sizeof *u);
    u->type = type;
    u->endpoint = endpoint;
    u->buffer = buf;
    u->length = len;
    u->complete = complete;
    submit(s, u, busy);
}

static void port_opened(struct usb_serial *s)
{
    s->open = true;
    s->reading = true;
    s->in_failed = s->notify_failed = false;
    s->coding_valid = false; /* every open tells the device the line coding, so 14400 always triggers */
    s->drop_warned = false;
    s->close_forced = false;
}

static void port_closed(struct usb_serial *s)
{
    s->open = false;
    s->reading = false;
    for (int i = 0; i < SERIAL_IN_URBS; i++)
        if (s->in_busy[i])
            usb_host_unlink(s->host, &s->in_urb[i]);
    if (s->notify_busy)
        usb_host_unlink(s->host, &s->notify_urb);
    event_cancel(&s->m->sim, &s->close_event);
    s->close_forced = false;
    pthread_mutex_lock(&s->lock);
    ring_drop(&s->to_device, s->to_device.len);
    pthread_mutex_unlock(&s->lock);
}

static void close_timeout(struct sim *sim, void *opaque)
{
    struct usb_serial *s = opaque;
    (void)sim;
    s->close_forced = true;
    pump(s);
}

/* Bring the device in line with the port's state: the one place that submits URBs. */
static void pump(struct usb_serial *s)
{
    bool want_open;
    unsigned seq;
    uint8_t coding[USB_CDC_LINE_CODING_SIZE];
    size_t pending;
    pthread_mutex_lock(&s->lock);
    want_open = s->port_open;
    seq = s->open_seq;
    memcpy(coding, s->coding, sizeof coding);
    pending = s->to_device.len;
    pthread_mutex_unlock(&s->lock);

    if (!s->attached || s->dead) {
        hold_realtime(s, false);
        return;
    }
    if (seq != s->seen_seq && !s->open) {
        s->seen_seq = seq;
        port_opened(s);
    }
    s->seen_seq = seq;
    if (!want_open && s->open) {
        /* as a tty's close waits for its output to drain, but not forever */
        if ((!pending && !s->out_busy) || s->close_forced)
            port_closed(s);
        else if (!event_pending(&s->close_event))
            event_schedule(&s->m->sim, &s->close_event, s->m->sim.clock.now + SERIAL_CLOSE_DRAIN);
    }

    uint8_t line_state = s->open ? USB_CDC_CTRL_DTR | USB_CDC_CTRL_RTS : 0;
    if (!s->ctrl_busy) {
        if (s->open && (!s->coding_valid || memcmp(coding, s->coding_sent, sizeof coding))) {
            memcpy(s->coding_sent, coding, sizeof coding);
            s->coding_valid = true;
            class_request(s, USB_CDC_REQ_SET_LINE_CODING, 0, coding, sizeof coding);
        } else if (line_state != s->line_state) {
            s->line_state = line_state;
            class_request(s, USB_CDC_REQ_SET_CONTROL_LINE_STATE, line_state, NULL, 0);
        }
    }
    if (s->reading && !s->in_failed)
        for (int i = 0; i < SERIAL_IN_URBS && !s->dead; i++)
            if (!s->in_busy[i])
                read_urb(s, &s->in_urb[i], s->acm.bulk_in_ep, USB_URB_BULK, s->in_buf[i], SERIAL_PACKET,
                         in_complete, &s->in_busy[i]);
    if (s->reading && s->acm.notify_ep && !s->notify_failed && !s->notify_busy && !s->dead)
        read_urb(s, &s->notify_urb, s->acm.notify_ep, USB_URB_INTERRUPT, s->notify_buf, s->acm.notify_size,
                 notify_complete, &s->notify_busy);

    /* typed bytes go out once the device knows the port is open, after the line coding and DTR */
    if (s->open && s->coding_valid && s->line_state && !s->ctrl_busy && !s->out_busy && pending && !s->dead) {
        pthread_mutex_lock(&s->lock);
        bool was_full = ring_room(&s->to_device) == 0;
        size_t n = ring_get(&s->to_device, s->out_buf, SERIAL_PACKET);
        pthread_mutex_unlock(&s->lock);
        if (was_full)
            wake_io_thread(s);
        struct usb_urb *u = &s->out_urb;
        memset(u, 0, sizeof *u);
        u->type = USB_URB_BULK;
        u->endpoint = s->acm.bulk_out_ep;
        u->buffer = s->out_buf;
        u->length = (uint32_t)n;
        u->complete = out_complete;
        submit(s, u, &s->out_busy);
    }
    hold_realtime(s, s->open && !s->dead);
}

static void service(void *opaque)
{
    pump(opaque);
}

static void on_attached(void *opaque, const struct usb_device_view *v)
{
    struct usb_serial *s = opaque;
    struct cdc_acm acm;
    if (!find_cdc_acm(v->config, v->config_len <= sizeof v->config ? v->config_len : sizeof v->config, &acm))
        return; /* not the firmware's serial port (DFU mode, another function) */
    s->acm = acm;
    s->attached = true;
    s->dead = false;
    s->generation = v->generation;
    s->open = false;
    s->reading = false;
    s->coding_valid = false;
    s->line_state = 0; /* a reset device has DTR and RTS off */
    pump(s);
}

static void on_detached(void *opaque, unsigned generation)
{
    struct usb_serial *s = opaque;
    if (!s->attached || generation != s->generation)
        return;
    /* URBs in flight complete with -ENODEV on their own; what was typed for this device is lost */
    s->attached = false;
    s->open = false;
    s->reading = false;
    event_cancel(&s->m->sim, &s->close_event);
    pthread_mutex_lock(&s->lock);
    ring_drop(&s->to_device, s->to_device.len);
    pthread_mutex_unlock(&s->lock);
    hold_realtime(s, false);
}

/* ---- the I/O thread: the tty side ----------------------------------------- */

static uint32_t baud_of(const struct termios2 *t)
{
    static const struct {
        unsigned code;
        uint32_t baud;
    } rates[] = {
        {B50, 50},         {B75, 75},         {B110, 110},       {B134, 134},         {B150, 150},
        {B200, 200},       {B300, 300},       {B600, 600},       {B1200, 1200},       {B1800, 1800},
        {B2400, 2400},     {B4800, 4800},     {B9600, 9600},     {B19200, 19200},     {B38400, 38400},
        {B57600, 57600},   {B115200, 115200}, {B230400, 230400}, {B460800, 460800},   {B500000, 500000},
        {B576000, 576000}, {B921600, 921600}, {B1000000, 1000000}, {B1152000, 1152000}, {B1500000, 1500000},
        {B2000000, 2000000}, {B2500000, 2500000}, {B3000000, 3000000}, {B3500000, 3500000}, {B4000000, 4000000},
    };
    unsigned code = t->c_cflag & CBAUD;
    if (code != BOTHER)
        for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
            if (rates[i].code == code)
                return rates[i].baud;
    return t->c_ospeed;
}

/* The CDC line coding a termios stands for, as cdc-acm's set_termios computes it. */
static void line_coding_of(const struct termios2 *t, uint8_t coding[USB_CDC_LINE_CODING_SIZE])
{
    uint32_t baud = baud_of(t);
    static const uint8_t bits[4] = {5, 6, 7, 8};
    coding[0] = (uint8_t)baud;
    coding[1] = (uint8_t)(baud >> 8);
    coding[2] = (uint8_t)(baud >> 16);
    coding[3] = (uint8_t)(baud >> 24);
    coding[4] = t->c_cflag & CSTOPB ? USB_CDC_2_STOP_BITS : USB_CDC_1_STOP_BITS;
    coding[5] = !(t->c_cflag & PARENB) ? USB_CDC_NO_PARITY
                : t->c_cflag & PARODD ? USB_CDC_ODD_PARITY
                                      : USB_CDC_EVEN_PARITY;
    coding[6] = bits[(t->c_cflag & CSIZE) / CS6];
}

static void default_line_coding(uint8_t coding[USB_CDC_LINE_CODING_SIZE])
{
    static const uint8_t c9600_8n1[USB_CDC_LINE_CODING_SIZE] = {0x80, 0x25, 0, 0, USB_CDC_1_STOP_BITS,
                                                                USB_CDC_NO_PARITY, 8};
    memcpy(coding, c9600_8n1, USB_CDC_LINE_CODING_SIZE);
}

/* Whether a process has the slave open: the master reports POLLHUP while none has. */
static bool pty_slave_open(int master)
{
    struct pollfd p = {.fd = master, .events = POLLIN};
    return poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP);
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read what is there for the Core, as far as the buffer has room. Returns false at end of input. */
static bool read_input(struct usb_serial *s)
{
    uint8_t buf[SERIAL_READ_CHUNK];
    for (;;) {
        pthread_mutex_lock(&s->lock);
        size_t room = ring_room(&s->to_device);
        pthread_mutex_unlock(&s->lock);
        if (!room)
            return true;
        ssize_t n = read(s->in_fd, buf, room < sizeof buf ? room : sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EIO)) /* EIO: the slave was closed and all read */
            return true;
        if (n <= 0)
            return false;
        pthread_mutex_lock(&s->lock);
        ring_put(&s->to_device, buf, (size_t)n);
        pthread_mutex_unlock(&s->lock);
        machine_kick(s->m);
        if (!s->is_pty)
            return true; /* stdin may block: one read per poll */
    }
}

/* Write the Core's output without blocking. */
static void write_output(struct usb_serial *s)
{
    pthread_mutex_lock(&s->lock);
    const uint8_t *p;
    size_t n = ring_peek(&s->to_host, &p);
    uint8_t chunk[PIPE_BUF];
    if (n > sizeof chunk)
        n = sizeof chunk; /* at most PIPE_BUF: a blocking pipe or tty polled writable takes it without waiting */
    memcpy(chunk, p, n);
    pthread_mutex_unlock(&s->lock);
    if (!n)
        return;
    ssize_t w = write(s->out_fd, chunk, n);
    if (w > 0) {
        pthread_mutex_lock(&s->lock);
        ring_drop(&s->to_host, (size_t)w);
        pthread_mutex_unlock(&s->lock);
    }
}

static void *io_thread(void *opaque)
{
    struct usb_serial *s = opaque;
    bool open = false, short_open = false, input_eof = s->in_fd < 0;
    uint8_t coding[USB_CDC_LINE_CODING_SIZE];
    uint64_t termios_checked = 0;
    default_line_coding(coding);

    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool stopping = s->stopping, have_output = s->to_host.len > 0, room = ring_room(&s->to_device) > 0;
        pthread_mutex_unlock(&s->lock);
        if (stopping)
            break;

        /* the port: open, closed, a new line coding */
        bool now_open = s->is_pty ? pty_slave_open(s->in_fd) : true;
        bool changed = false;
        if (s->is_pty && monotonic_ms() - termios_checked >= SERIAL_POLL_MS) {
            struct termios2 t;
            termios_checked = monotonic_ms();
            if (ioctl(s->in_fd, TCGETS2, &t) == 0) { /* on a master: the slave's termios */
                uint8_t c[USB_CDC_LINE_CODING_SIZE];
                line_coding_of(&t, c);
                if (memcmp(c, coding, sizeof c)) {
                    memcpy(coding, c, sizeof c);
                    changed = true;
                }
            }
        }
        if (s->is_pty && !now_open) {
            /* what was typed before the close still goes to the Core (a short open is noticed here) */
            struct pollfd p = {.fd = s->in_fd, .events = POLLIN};
            if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
                read_input(s);
                if (!open && !short_open) {
                    /* the bytes first: the emulator thread opens, sends them, then closes */
                    short_open = true;
                    pthread_mutex_lock(&s->lock);
                    memcpy(s->coding, coding, sizeof coding);
                    s->open_seq++;
                    pthread_mutex_unlock(&s->lock);
                    machine_kick(s->m);
                }
            } else {
                short_open = false;
            }
        }
        if (now_open != open || changed) {
            pthread_mutex_lock(&s->lock);
            if (now_open && !open)
                s->open_seq++;
            if (!now_open)
                ring_drop(&s->to_host, s->to_host.len); /* nobody will read it */
            s->port_open = now_open;
            memcpy(s->coding, coding, sizeof coding);
            pthread_mutex_unlock(&s->lock);
            open = now_open;
            machine_kick(s->m);
        }

        /* wait for data either way, the wake-up pipe, or the next look at the port */
        struct pollfd fds[3];
        int nfds = 0, in_at = -1, out_at = -1;
        fds[nfds++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        if (open && room && !input_eof) {
            in_at = nfds;
            fds[nfds++] = (struct pollfd){.fd = s->in_fd, .events = POLLIN};
        }
        if (open && have_output) {
            if (in_at >= 0 && s->out_fd == s->in_fd) {
                fds[in_at].events |= POLLOUT;
                out_at = in_at;
            } else {
                out_at = nfds;
                fds[nfds++] = (struct pollfd){.fd = s->out_fd, .events = POLLOUT};
            }
        }
        int rc = poll(fds, (nfds_t)nfds, SERIAL_POLL_MS);
        if (rc < 0 && errno != EINTR) {
            sim_log(&s->m->sim, LOG_ERROR, "usb serial: poll: %s", strerror(errno));
            break;
        }
        if (rc <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            uint8_t drain[64];
            while (read(s->wake[0], drain, sizeof drain) > 0) {
            }
        }
        if (in_at >= 0 && (fds[in_at].revents & (POLLIN | POLLHUP | POLLERR)))
            if (!read_input(s))
                input_eof = true; /* stdin ended: the port stays open, the Core just gets no more input */
        if (out_at >= 0 && (fds[out_at].revents & POLLOUT))
            write_output(s);
        else if (out_at >= 0 && (fds[out_at].revents & (POLLERR | POLLHUP)) && !s->is_pty) {
            pthread_mutex_lock(&s->lock); /* stdout went away: forget the output */
            ring_drop(&s->to_host, s->to_host.len);
            pthread_mutex_unlock(&s->lock);
        }
    }
    return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static int open_own_pty(struct usb_serial *s, char *err, size_t errlen)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) || unlockpt(master) || ptsname_r(master, s->path, sizeof s->path)) {
        snprintf(err, errlen, "--serial pty: cannot create a pty: %s", strerror(errno));
        if (master >= 0)
            close(master);
        return -1;
    }
    /*
     * Raw 9600 8N1 on the slave, so that a plain `cat` sees the Core's bytes
     * unchanged and nothing is echoed back to it. The slave is closed again:
     * while nobody has it open the port counts as closed.
     */
    int slave = open(s->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios2 t;
    if (slave < 0 || ioctl(slave, TCGETS2, &t)) {
        snprintf(err, errlen, "--serial pty: cannot set up %s: %s", s->path, strerror(errno));
        if (slave >= 0)
            close(slave);
        close(master);
        return -1;
    }
    t.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= ~(unsigned)OPOST;
    t.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(unsigned)(CSIZE | PARENB | CSTOPB | CBAUD);
    t.c_cflag |= CS8 | B9600;
    t.c_ispeed = t.c_ospeed = 9600;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (ioctl(slave, TCSETS2, &t)) {
        snprintf(err, errlen, "--serial pty: cannot set up %s: %s", s->path, strerror(errno));
        close(slave);
        close(master);
        return -1;
    }
    close(slave);
    return master;
}

static int open_fds(struct usb_serial *s, enum serial_kind kind, const char *file, char *err, size_t errlen)
{
    switch (kind) {
    case SERIAL_PTY: {
        int master = open_own_pty(s, err, errlen);
        if (master < 0)
            return -1;
        /* the emulator's side of a pty never waits for the user */
        fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
        s->in_fd = s->out_fd = master;
        s->close_in = true;
        s->is_pty = true;
        return 0;
    }
    case SERIAL_STDIO:
        s->in_fd = STDIN_FILENO;
        s->out_fd = STDOUT_FILENO;
        return 0;
    case SERIAL_FILE:
        if (!file || !*file) {
            snprintf(err, errlen, "--serial: a file name, pty or stdio is needed");
            return -1;
        }
        s->out_fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (s->out_fd < 0) {
            snprintf(err, errlen, "--serial %s: %s", file, strerror(errno));
            return -1;
        }
        s->close_out = true;
        return 0;
    case SERIAL_NONE:
    default:
        snprintf(err, errlen, "usb serial: no --serial destination");
        return -1;
    }
}

static void free_serial(struct usb_serial *s)
{
    if (s->close_in && s->in_fd >= 0)
        close(s->in_fd);
    if (s->close_out && s->out_fd >= 0 && s->out_fd != s->in_fd)
        close(s->out_fd);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    free(s->to_device.data);
    free(s->to_host.data);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int usb_serial_start(struct usb_serial **out, struct usb_host *host, struct machine *m, enum serial_kind kind,
                     const char *file, char *err, size_t errlen)
{
    *out = NULL;
    struct usb_serial *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "usb serial: out of memory");
        return -1;
    }
    s->host = host;
    s->m = m;
    s->kind = kind;
    s->in_fd = s->out_fd = -1;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->lock, NULL);
    s->to_device = (struct ring){.data = malloc(SERIAL_BUFFER), .cap = SERIAL_BUFFER};
    s->to_host = (struct ring){.data = malloc(SERIAL_BUFFER), .cap = SERIAL_BUFFER};
    default_line_coding(s->coding);
    event_init(&s->close_event, close_timeout, s, "usb-serial-close");
    if (!s->to_device.data || !s->to_host.data) {
        snprintf(err, errlen, "usb serial: out of memory");
        free_serial(s);
        return -1;
    }
    if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC)) {
        snprintf(err, errlen, "usb serial: pipe: %s", strerror(errno));
        free_serial(s);
        return -1;
    }
    if (open_fds(s, kind, file, err, errlen)) {
        free_serial(s);
        return -1;
    }
    /* stdio and a file are open from the start, as a tty someone holds open */
    s->port_open = !s->is_pty;
    s->open_seq = s->port_open ? 1 : 0;
    if (host->nobservers == USB_HOST_MAX_OBSERVERS) {
        snprintf(err, errlen, "usb serial: the USB host has no room for another observer");
        free_serial(s);
        return -1;
    }
    int rc = pthread_create(&s->thread, NULL, io_thread, s);
    if (rc) {
        snprintf(err, errlen, "usb serial: cannot start its thread: %s", strerror(rc));
        free_serial(s);
        return -1;
    }
    s->thread_started = true;
    if (machine_add_service(m, service, s)) {
        snprintf(err, errlen, "usb serial: the machine has no room for another service");
        usb_serial_stop(s);
        return -1;
    }
    struct usb_host_observer o = {on_attached, on_detached, s};
    usb_host_observe(host, &o);
    const struct usb_device_view *v = usb_host_device(host);
    if (v)
        on_attached(s, v);
    *out = s;
    return 0;
}

const char *usb_serial_path(const struct usb_serial *s)
{
    return s->path;
}

void usb_serial_stop(struct usb_serial *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_mutex_unlock(&s->lock);
        wake_io_thread(s);
        pthread_join(s->thread, NULL);
    }
    event_cancel(&s->m->sim, &s->close_event);
    hold_realtime(s, false);
    free_serial(s);
}
