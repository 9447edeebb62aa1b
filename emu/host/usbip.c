/*
 * usbip.c - the USB/IP server: OP_REQ_DEVLIST and OP_REQ_IMPORT, then the URB
 * phase (USBIP_CMD_SUBMIT, USBIP_CMD_UNLINK) on the imported connection, as
 * the kernel's Documentation/usb/usbip_protocol.rst describes and as the
 * usbip-host stub answers. Everything it says about the device comes from the
 * descriptors the virtual host read at enumeration (the device is whatever
 * firmware runs).
 *
 * Design decision: URBs live in a fixed pool owned by the server, never by a
 * connection. A completion (emulator thread) only marks its slot done and
 * wakes the server thread, which writes the reply if the connection is still
 * there and drops it otherwise. The host keeps the pointer of an unlinked URB
 * until its next usb_host_service, which may come after the completion, so a
 * slot that was ever unlinked is reused only after two "fence" URBs (for no
 * device: they complete in usb_host_service) went through the host after it.
 * Every PDU is hostile input: sizes are capped, a malformed one closes its
 * connection with one log line.
 */
#include "usbip.h"
#include "usbip_pdu.h"
#include "tcp_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the protocol (usbip_protocol.rst, usbip_pdu.h); all fields big-endian */

#define USBIP_BUSID_SIZE 32u
#define USBIP_PATH_SIZE 256u
#define USBIP_DEVICE_SIZE 312u
#define USBIP_INTERFACE_SIZE 4u
#define USB_SPEED_FULL 2u /* enum usb_device_speed */

/* Linux URB transfer_flags the host understands */
#define URB_SHORT_NOT_OK 0x0001u
#define URB_ZERO_PACKET 0x0040u

/* the hub class request a client sends for a port reset (usbip-host turns it into usb_reset_device) */
#define USB_RT_PORT 0x23u
#define USB_PORT_FEAT_RESET 4u

/* ---- limits --------------------------------------------------------------- */

#define MAX_CONNECTIONS 8
#define MAX_URBS 64                       /* in flight or waiting for fences, all connections */
#define MAX_IN_FLIGHT_BYTES (16u << 20)   /* URB buffers in flight; beyond, -ENOMEM */
#define MAX_OUTPUT_BACKLOG (2u << 20)     /* stop reading a client that does not read its replies */
#define MAX_INTERFACES 32
#define OP_PHASE_TIMEOUT_MS 10000         /* a client must ask within this (slowloris) */
#define OUTPUT_STALL_TIMEOUT_MS 30000     /* replies not read for this long: close */
#define RESET_TIMEOUT_MS 5000
#define POLL_MS 100
#define POLL_BUSY_MS 10                   /* while the emulator thread must be kicked */
#define ACCEPT_BACKOFF_MS 100

/* ---- state ---------------------------------------------------------------- */

struct chunk {
    struct chunk *next;
    size_t len, off;
    uint8_t data[];
};

enum input_stage { IN_OP_HEADER, IN_OP_BUSID, IN_URB_HEADER, IN_URB_PAYLOAD };

struct conn {
    int fd; /* -1: unused */
    char peer[64];
    bool logged;             /* one line per bad connection */
    bool imported;           /* the URB phase */
    bool close_when_flushed; /* after an OP reply */
    bool closing;            /* close at the end of this turn */
    uint64_t opened_ms, output_progress_ms;

    enum input_stage stage;
    uint8_t hdr[USBIP_HEADER_SIZE];
    size_t have, need; /* of hdr, or of payload */
    uint8_t *payload;
    int payload_type;  /* USB_ENDPOINT_XFER_* of the pending CMD_SUBMIT */
    uint32_t payload_np;

    struct chunk *out_head, *out_tail;
    size_t out_bytes;

    /* the imported device */
    unsigned generation;
    uint32_t devid;
    uint8_t config[USB_HOST_MAX_CONFIG];
    uint16_t config_len;
};

enum slot_state { SLOT_FREE = 0, SLOT_IN_FLIGHT, SLOT_DONE, SLOT_QUARANTINE };

struct urb_slot {
    struct usb_urb urb;
    struct usbip_server *server;
    enum slot_state state;
    struct conn *conn;      /* NULL once the connection is gone: the result is dropped */
    uint32_t seqnum;
    bool in;
    bool unlinked;          /* usb_host_unlink was called: the host may still hold the pointer */
    bool unlink_reply;      /* a CMD_UNLINK asked: answer with RET_UNLINK */
    uint32_t unlink_seqnum;
    uint64_t ticket;        /* SLOT_QUARANTINE: free once this many fences completed */
    struct urb_slot *next_done;
};

enum reset_state { RESET_IDLE = 0, RESET_REQUESTED, RESET_RUNNING, RESET_DONE, RESET_FAILED };

struct usbip_server {
    struct usb_host *host;
    struct machine *m;
    FILE *log;
    enum log_level log_level;
    int listen_fd;
    uint16_t port;
    int wake_rd, wake_wr;
    pthread_t thread;
    bool thread_started;
    int stopping; /* atomic */

    struct conn conns[MAX_CONNECTIONS];
    struct conn *imported;
    bool refused_logged;
    uint64_t accept_paused_until;

    /* shared with the emulator thread, under lock */
    pthread_mutex_t lock;
    struct urb_slot slots[MAX_URBS];
    struct urb_slot *done_head, *done_tail;
    size_t in_flight_bytes;
    bool have_device;
    struct usb_device_view view;
    char busid[USBIP_BUSID_SIZE];
    bool detach_pending;
    unsigned detached_generation;
    struct usb_urb fence;
    bool fence_busy;
    uint64_t fences_submitted, fences_completed;
    struct {
        enum reset_state state;
        struct conn *conn;
        unsigned generation;
        uint32_t seqnum;
        bool unlink_reply;
        uint32_t unlink_seqnum;
        uint64_t deadline_ms;
    } reset;
};

/* ---- small helpers -------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void server_log(struct usbip_server *s, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void server_log(struct usbip_server *s, enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (!s->log || level > s->log_level)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(s->log, "spark-emu: %s: usbip: %s\n", names[level], line);
}

/* One line per bad connection, then it is closed. */
static void conn_fail(struct usbip_server *s, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_fail(struct usbip_server *s, struct conn *c, const char *fmt, ...)
{
    if (!c->logged) {
        char why[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        server_log(s, LOG_WARN, "%s: %s; closing the connection", c->peer, why);
        c->logged = true;
    }
    c->closing = true;
}

static void wake(struct usbip_server *s)
{
    char b = 1;
    ssize_t r = write(s->wake_wr, &b, 1); /* non-blocking: a full pipe already wakes */
    (void)r;
}

/* ---- the device as USB/IP describes it ------------------------------------ */

/* struct usbip_usb_device (312 bytes) for the view; returns bNumInterfaces. */
static int put_device(uint8_t *p, const struct usb_device_view *v, const char *busid)
{
    struct usbip_interface_info ifs[MAX_INTERFACES];
    int nifs = usbip_config_interfaces(v->config, v->config_len, ifs, MAX_INTERFACES);
    memset(p, 0, USBIP_DEVICE_SIZE);
    snprintf((char *)p, USBIP_PATH_SIZE, "/sys/devices/platform/spark-emu/usb%u/%s", v->busnum, busid);
    snprintf((char *)p + USBIP_PATH_SIZE, USBIP_BUSID_SIZE, "%s", busid);
    uint8_t *q = p + USBIP_PATH_SIZE + USBIP_BUSID_SIZE;
    put_be32(q, v->busnum);
    put_be32(q + 4, v->devnum);
    put_be32(q + 8, USB_SPEED_FULL);
    put_be16(q + 12, get_le16(v->device + 8));  /* idVendor */
    put_be16(q + 14, get_le16(v->device + 10)); /* idProduct */
    put_be16(q + 16, get_le16(v->device + 12)); /* bcdDevice */
    q[18] = v->device[4];                       /* bDeviceClass, SubClass, Protocol */
    q[19] = v->device[5];
    q[20] = v->device[6];
    q[21] = v->configuration;
    q[22] = v->device[17]; /* bNumConfigurations */
    q[23] = (uint8_t)nifs;
    return nifs;
}

/* ---- output --------------------------------------------------------------- */

static uint8_t *conn_queue(struct conn *c, size_t len)
{
    struct chunk *k = malloc(sizeof *k + len);
    if (!k)
        return NULL;
    k->next = NULL;
    k->len = len;
    k->off = 0;
    if (c->out_tail)
        c->out_tail->next = k;
    else
        c->out_head = k;
    c->out_tail = k;
    if (!c->out_bytes)
        c->output_progress_ms = now_ms();
    c->out_bytes += len;
    memset(k->data, 0, len);
    return k->data;
}

static void conn_flush(struct usbip_server *s, struct conn *c)
{
    while (c->out_head) {
        struct chunk *k = c->out_head;
        ssize_t n = send(c->fd, k->data + k->off, k->len - k->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            c->closing = true; /* the peer went away: nothing to tell anyone */
            return;
        }
        c->output_progress_ms = now_ms();
        k->off += (size_t)n;
        c->out_bytes -= (size_t)n;
        if (k->off < k->len)
            return;
        c->out_head = k->next;
        if (!c->out_head)
            c->out_tail = NULL;
        free(k);
    }
    if (c->close_when_flushed)
        c->closing = true;
    (void)s;
}

/* RET_SUBMIT: `actual` bytes transferred, of which `len` (IN data) follow the header. */
static void queue_ret_submit(struct conn *c, uint32_t seqnum, int status, uint32_t actual, const uint8_t *data,
                             uint32_t len, uint32_t np, const uint8_t *iso)
{
    uint8_t *p = conn_queue(c, USBIP_HEADER_SIZE + len + (size_t)np * USBIP_ISO_DESC_SIZE);
    if (!p) {
        c->closing = true;
        return;
    }
    put_be32(p, USBIP_RET_SUBMIT);
    put_be32(p + 4, seqnum); /* devid, direction, ep: 0, as usbip-host sends them */
    put_be32(p + 20, (uint32_t)status);
    put_be32(p + 24, actual);
    put_be32(p + 32, np);
    if (len)
        memcpy(p + USBIP_HEADER_SIZE, data, len);
    if (np)
        memcpy(p + USBIP_HEADER_SIZE + len, iso, (size_t)np * USBIP_ISO_DESC_SIZE);
}

static void queue_ret_unlink(struct conn *c, uint32_t seqnum, int status)
{
    uint8_t *p = conn_queue(c, USBIP_HEADER_SIZE);
    if (!p) {
        c->closing = true;
        return;
    }
    put_be32(p, USBIP_RET_UNLINK);
    put_be32(p + 4, seqnum);
    put_be32(p + 20, (uint32_t)status);
}

/* ---- URB slots ------------------------------------------------------------ */

/* Emulator thread. */
static void urb_complete(struct usb_urb *urb)
{
    struct urb_slot *slot = urb->context;
    struct usbip_server *s = slot->server;
    pthread_mutex_lock(&s->lock);
    slot->state = SLOT_DONE;
    slot->next_done = NULL;
    if (s->done_tail)
        s->done_tail->next_done = slot;
    else
        s->done_head = slot;
    s->done_tail = slot;
    pthread_mutex_unlock(&s->lock);
    wake(s);
}

/* Emulator thread: a fence went through usb_host_service. */
static void fence_complete(struct usb_urb *urb)
{
    struct usbip_server *s = urb->context;
    pthread_mutex_lock(&s->lock);
    s->fences_completed++;
    s->fence_busy = false;
    pthread_mutex_unlock(&s->lock);
    wake(s);
}

/* Server thread, under lock. */
static struct urb_slot *slot_alloc(struct usbip_server *s)
{
    for (int i = 0; i < MAX_URBS; i++) {
        struct urb_slot *slot = &s->slots[i];
        if (slot->state == SLOT_QUARANTINE && s->fences_completed >= slot->ticket)
            slot->state = SLOT_FREE;
        if (slot->state == SLOT_FREE) {
            memset(slot, 0, sizeof *slot);
            slot->server = s;
            return slot;
        }
    }
    return NULL;
}

/* Server thread, under lock: the reply is written; the host may still know the URB if it was unlinked. */
static void slot_release(struct usbip_server *s, struct urb_slot *slot)
{
    s->in_flight_bytes -= slot->urb.length;
    free(slot->urb.buffer);
    slot->urb.buffer = NULL;
    slot->conn = NULL;
    if (slot->unlinked) {
        slot->state = SLOT_QUARANTINE;
        slot->ticket = s->fences_submitted + 2;
    } else {
        slot->state = SLOT_FREE;
    }
}

static bool quarantine_waiting(const struct usbip_server *s)
{
    for (int i = 0; i < MAX_URBS; i++)
        if (s->slots[i].state == SLOT_QUARANTINE && s->fences_completed < s->slots[i].ticket)
            return true;
    return false;
}

/* Server thread: one fence at a time while a slot waits in quarantine. */
static void send_fence(struct usbip_server *s)
{
    pthread_mutex_lock(&s->lock);
    bool go = !s->fence_busy && quarantine_waiting(s);
    if (go) {
        memset(&s->fence, 0, sizeof s->fence);
        s->fence.type = USB_URB_CONTROL;
        s->fence.generation = 0; /* no device has it: completes with -ENODEV in usb_host_service */
        s->fence.complete = fence_complete;
        s->fence.context = s;
        s->fence_busy = true;
        s->fences_submitted++;
    }
    pthread_mutex_unlock(&s->lock);
    if (!go)
        return;
    if (usb_host_submit(s->host, &s->fence) != 0) {
        pthread_mutex_lock(&s->lock);
        s->fence_busy = false;
        s->fences_submitted--;
        pthread_mutex_unlock(&s->lock);
    }
    if (s->m)
        machine_kick(s->m);
}

/* Server thread: write the replies of completed URBs, in completion order. */
static void process_done(struct usbip_server *s)
{
    pthread_mutex_lock(&s->lock);
    struct urb_slot *slot = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    /* the slots taken are the server thread's alone until released */
    while (slot) {
        struct urb_slot *next = slot->next_done;
        struct conn *c = slot->conn;
        if (c && !c->closing) {
            struct usb_urb *u = &slot->urb;
            uint32_t actual = u->actual <= u->length ? u->actual : u->length;
            if (slot->unlink_reply && u->status == -ECONNRESET) {
                queue_ret_unlink(c, slot->unlink_seqnum, -ECONNRESET);
            } else {
                queue_ret_submit(c, slot->seqnum, u->status, actual, u->buffer, slot->in ? actual : 0, 0, NULL);
                if (slot->unlink_reply)
                    queue_ret_unlink(c, slot->unlink_seqnum, 0);
            }
        }
        pthread_mutex_lock(&s->lock);
        slot_release(s, slot);
        pthread_mutex_unlock(&s->lock);
        slot = next;
    }
}

/* ---- connections ---------------------------------------------------------- */

static void conn_close(struct usbip_server *s, struct conn *c)
{
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < MAX_URBS; i++) {
        struct urb_slot *slot = &s->slots[i];
        if (slot->conn != c)
            continue;
        slot->conn = NULL; /* its completion is dropped */
        if (slot->state == SLOT_IN_FLIGHT && !slot->unlinked && !__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
            slot->unlinked = true;
            usb_host_unlink(s->host, &slot->urb);
        }
    }
    if (s->reset.conn == c)
        s->reset.conn = NULL;
    pthread_mutex_unlock(&s->lock);
    if (c == s->imported) {
        s->imported = NULL;
        if (s->m) {
            machine_hold_realtime(s->m, false);
            machine_kick(s->m);
        }
        server_log(s, LOG_INFO, "%s: the client let go of the device", c->peer);
    }
    close(c->fd);
    free(c->payload);
    while (c->out_head) {
        struct chunk *k = c->out_head;
        c->out_head = k->next;
        free(k);
    }
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void conn_open(struct usbip_server *s, int fd, const struct sockaddr_storage *ss)
{
    struct conn *c = NULL;
    for (int i = 0; i < MAX_CONNECTIONS && !c; i++)
        if (s->conns[i].fd < 0)
            c = &s->conns[i];
    if (!c) {
        if (!s->refused_logged)
            server_log(s, LOG_WARN, "more than %d connections; refusing new ones until one closes",
                       MAX_CONNECTIONS);
        s->refused_logged = true;
        close(fd);
        return;
    }
    memset(c, 0, sizeof *c);
    c->fd = fd;
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%u", host, port);
    c->opened_ms = now_ms();
    c->stage = IN_OP_HEADER;
    c->need = OP_HEADER_SIZE;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void accept_clients(struct usbip_server *s)
{
    for (int tries = 0; tries < 16; tries++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                s->accept_paused_until = now_ms() + ACCEPT_BACKOFF_MS; /* EMFILE and friends */
            return;
        }
        conn_open(s, fd, &ss);
    }
}

/* ---- OP requests ---------------------------------------------------------- */

static void reply_devlist(struct usbip_server *s, struct conn *c)
{
    pthread_mutex_lock(&s->lock);
    bool have = s->have_device;
    struct usb_device_view v;
    char busid[USBIP_BUSID_SIZE];
    if (have) {
        v = s->view;
        memcpy(busid, s->busid, sizeof busid);
    }
    pthread_mutex_unlock(&s->lock);

    uint8_t dev[USBIP_DEVICE_SIZE];
    struct usbip_interface_info ifs[MAX_INTERFACES];
    int nifs = 0;
    if (have) {
        put_device(dev, &v, busid);
        nifs = usbip_config_interfaces(v.config, v.config_len, ifs, MAX_INTERFACES);
    }
    size_t len = OP_HEADER_SIZE + 4 + (have ? USBIP_DEVICE_SIZE + (size_t)nifs * USBIP_INTERFACE_SIZE : 0);
    uint8_t *p = conn_queue(c, len);
    if (!p) {
        c->closing = true;
        return;
    }
    put_be16(p, USBIP_VERSION);
    put_be16(p + 2, OP_REP_DEVLIST);
    put_be32(p + 4, OP_STATUS_OK);
    put_be32(p + 8, have ? 1 : 0);
    if (have) {
        memcpy(p + 12, dev, USBIP_DEVICE_SIZE);
        uint8_t *q = p + 12 + USBIP_DEVICE_SIZE;
        for (int i = 0; i < nifs; i++, q += USBIP_INTERFACE_SIZE) {
            q[0] = ifs[i].class;
            q[1] = ifs[i].subclass;
            q[2] = ifs[i].protocol;
        }
    }
    c->close_when_flushed = true;
}

static void printable(char *dst, size_t dstlen, const uint8_t *src, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && src[i] && o + 1 < dstlen; i++)
        dst[o++] = src[i] >= 0x20 && src[i] < 0x7F ? (char)src[i] : '?';
    dst[o] = '\0';
}

static void reply_import(struct usbip_server *s, struct conn *c, const uint8_t *busid_field)
{
    char busid[USBIP_BUSID_SIZE + 1];
    memcpy(busid, busid_field, USBIP_BUSID_SIZE);
    busid[USBIP_BUSID_SIZE] = '\0';

    const char *refusal = NULL;
    uint8_t dev[USBIP_DEVICE_SIZE];
    pthread_mutex_lock(&s->lock);
    if (!s->have_device || strcmp(busid, s->busid) != 0)
        refusal = "no such device";
    else if (s->imported)
        refusal = "the device is already imported";
    if (!refusal) {
        put_device(dev, &s->view, s->busid);
        c->generation = s->view.generation;
        c->devid = (uint32_t)s->view.busnum << 16 | s->view.devnum;
        c->config_len = s->view.config_len;
        memcpy(c->config, s->view.config, s->view.config_len);
    }
    pthread_mutex_unlock(&s->lock);

    uint8_t *p = conn_queue(c, OP_HEADER_SIZE + (refusal ? 0 : USBIP_DEVICE_SIZE));
    if (!p) {
        c->closing = true;
        return;
    }
    put_be16(p, USBIP_VERSION);
    put_be16(p + 2, OP_REP_IMPORT);
    put_be32(p + 4, refusal ? OP_STATUS_NA : OP_STATUS_OK);
    if (refusal) {
        char shown[USBIP_BUSID_SIZE + 1];
        printable(shown, sizeof shown, busid_field, USBIP_BUSID_SIZE);
        server_log(s, LOG_INFO, "%s: import of \"%s\" refused: %s", c->peer, shown, refusal);
        c->close_when_flushed = true;
        return;
    }
    memcpy(p + OP_HEADER_SIZE, dev, USBIP_DEVICE_SIZE);
    c->imported = true;
    s->imported = c;
    if (s->m)
        machine_hold_realtime(s->m, true);
    server_log(s, LOG_INFO, "%s imported %s", c->peer, busid);
    c->stage = IN_URB_HEADER;
    c->need = USBIP_HEADER_SIZE;
    c->have = 0;
}

/* ---- URB requests --------------------------------------------------------- */

static void submit_iso_refused(struct conn *c, uint32_t seqnum, uint32_t np, const uint8_t *descs)
{
    /* answer every packet with no data and the error, so the client's bookkeeping adds up */
    uint8_t *iso = calloc(np ? np : 1, USBIP_ISO_DESC_SIZE);
    if (!iso) {
        c->closing = true;
        return;
    }
    for (uint32_t i = 0; i < np; i++) {
        memcpy(iso + i * USBIP_ISO_DESC_SIZE, descs + i * USBIP_ISO_DESC_SIZE, 8); /* offset, length */
        put_be32(iso + i * USBIP_ISO_DESC_SIZE + 12, (uint32_t)-ENOSYS);
    }
    queue_ret_submit(c, seqnum, -ENOSYS, 0, NULL, 0, np, iso);
    free(iso);
}

static void request_port_reset(struct usbip_server *s, struct conn *c, uint32_t seqnum)
{
    pthread_mutex_lock(&s->lock);
    bool busy = s->reset.state != RESET_IDLE;
    if (!busy) {
        s->reset.state = RESET_REQUESTED;
        s->reset.conn = c;
        s->reset.generation = c->generation;
        s->reset.seqnum = seqnum;
        s->reset.unlink_reply = false;
        s->reset.deadline_ms = now_ms() + RESET_TIMEOUT_MS;
    }
    pthread_mutex_unlock(&s->lock);
    if (busy)
        queue_ret_submit(c, seqnum, -EBUSY, 0, NULL, 0, 0, NULL);
    else if (s->m)
        machine_kick(s->m);
}

/* The reset's answer, once the host has enumerated the device again (or gave up). */
static void finish_port_reset(struct usbip_server *s)
{
    pthread_mutex_lock(&s->lock);
    int status = 1;
    if (s->reset.state == RESET_DONE)
        status = 0;
    else if (s->reset.state == RESET_FAILED)
        status = -ENODEV;
    else if (s->reset.state != RESET_IDLE && now_ms() > s->reset.deadline_ms)
        status = -ETIMEDOUT;
    struct conn *c = s->reset.conn;
    uint32_t seqnum = s->reset.seqnum, unlink_seqnum = s->reset.unlink_seqnum;
    bool unlink_reply = s->reset.unlink_reply;
    if (status != 1) {
        s->reset.state = RESET_IDLE;
        s->reset.conn = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (status == 1 || !c || c->closing)
        return;
    queue_ret_submit(c, seqnum, status, 0, NULL, 0, 0, NULL);
    if (unlink_reply)
        queue_ret_unlink(c, unlink_seqnum, 0);
}

static void handle_submit(struct usbip_server *s, struct conn *c)
{
    const uint8_t *h = c->hdr;
    uint32_t seqnum = get_be32(h + 4), devid = get_be32(h + 8), dir = get_be32(h + 12), ep = get_be32(h + 16);
    uint32_t flags = get_be32(h + 20), length = get_be32(h + 24);
    const uint8_t *setup = h + 40;
    bool in = dir == USBIP_DIR_IN;
    uint32_t out_len = in ? 0 : length;

    if (devid != c->devid) {
        queue_ret_submit(c, seqnum, -ENODEV, 0, NULL, 0, 0, NULL);
        return;
    }
    if (c->payload_type < 0) {
        queue_ret_submit(c, seqnum, -ENOENT, 0, NULL, 0, 0, NULL); /* usb_submit_urb: no such endpoint */
        return;
    }
    if (c->payload_type == (int)USB_ENDPOINT_XFER_ISOC) {
        submit_iso_refused(c, seqnum, c->payload_np, c->payload_np ? c->payload + out_len : NULL);
        return;
    }
    enum usb_urb_type type = c->payload_type == (int)USB_ENDPOINT_XFER_CONTROL ? USB_URB_CONTROL
                             : c->payload_type == (int)USB_ENDPOINT_XFER_BULK ? USB_URB_BULK
                                                                          : USB_URB_INTERRUPT;
    if (type == USB_URB_CONTROL) {
        if (setup[0] == USB_RT_PORT && setup[1] == USB_REQ_SET_FEATURE && get_le16(setup + 2) == USB_PORT_FEAT_RESET) {
            request_port_reset(s, c, seqnum);
            return;
        }
        if (get_le16(setup + 6) > length) {
            queue_ret_submit(c, seqnum, -EINVAL, 0, NULL, 0, 0, NULL);
            return;
        }
        in = (setup[0] & USB_DIR_IN) != 0;
    }

    pthread_mutex_lock(&s->lock);
    struct urb_slot *slot = NULL;
    if (s->in_flight_bytes + length <= MAX_IN_FLIGHT_BYTES)
        slot = slot_alloc(s);
    uint8_t *buffer = slot ? calloc(1, length ? length : 1) : NULL; /* no stale bytes reach the device */
    if (slot && !buffer)
        slot = NULL;
    if (slot) {
        struct usb_urb *u = &slot->urb;
        u->type = type;
        u->endpoint = (uint8_t)(ep | (in ? USB_DIR_IN : 0));
        memcpy(u->setup, setup, 8);
        u->buffer = buffer;
        u->length = length;
        u->flags = flags & (URB_SHORT_NOT_OK | URB_ZERO_PACKET);
        u->generation = c->generation;
        u->complete = urb_complete;
        u->context = slot;
        if (out_len)
            memcpy(buffer, c->payload, out_len);
        slot->conn = c;
        slot->seqnum = seqnum;
        slot->in = in;
        slot->state = SLOT_IN_FLIGHT;
        s->in_flight_bytes += length;
    }
    pthread_mutex_unlock(&s->lock);
    if (!slot) {
        queue_ret_submit(c, seqnum, -ENOMEM, 0, NULL, 0, 0, NULL);
        return;
    }
    int rc = usb_host_submit(s->host, &slot->urb);
    if (rc) {
        /* not queued, never completed: the host has no pointer to it */
        pthread_mutex_lock(&s->lock);
        slot_release(s, slot);
        pthread_mutex_unlock(&s->lock);
        queue_ret_submit(c, seqnum, rc, 0, NULL, 0, 0, NULL);
    }
}

static void handle_unlink(struct usbip_server *s, struct conn *c)
{
    uint32_t seqnum = get_be32(c->hdr + 4), victim = get_be32(c->hdr + 20);
    bool pending = false;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < MAX_URBS && !pending; i++) {
        struct urb_slot *slot = &s->slots[i];
        if (slot->conn != c || slot->seqnum != victim || slot->unlink_reply ||
            (slot->state != SLOT_IN_FLIGHT && slot->state != SLOT_DONE))
            continue;
        pending = true;
        slot->unlink_reply = true;
        slot->unlink_seqnum = seqnum;
        if (slot->state == SLOT_IN_FLIGHT && !slot->unlinked) {
            slot->unlinked = true;
            usb_host_unlink(s->host, &slot->urb);
        }
    }
    if (!pending && s->reset.state != RESET_IDLE && s->reset.conn == c && s->reset.seqnum == victim &&
        !s->reset.unlink_reply) {
        pending = true; /* a port reset runs to its end; both answers follow it */
        s->reset.unlink_reply = true;
        s->reset.unlink_seqnum = seqnum;
    }
    pthread_mutex_unlock(&s->lock);
    /* not found: it completed and its RET_SUBMIT is already queued before this */
    if (!pending)
        queue_ret_unlink(c, seqnum, 0);
}

/* A complete URB-phase header: decide how much follows, or reject it. */
static void urb_header_ready(struct usbip_server *s, struct conn *c)
{
    struct usbip_urb_request req;
    char why[128];
    c->have = 0;
    if (usbip_parse_urb_header(c->hdr, c->config, c->config_len, &req, why, sizeof why) < 0) {
        conn_fail(s, c, "%s", why);
        return;
    }
    if (req.command == USBIP_CMD_UNLINK) {
        handle_unlink(s, c);
        c->need = USBIP_HEADER_SIZE;
        return;
    }
    c->payload_type = req.transfer_type;
    c->payload_np = req.iso_packets;
    size_t need = req.payload_len;
    if (!need) {
        handle_submit(s, c);
        c->need = USBIP_HEADER_SIZE;
        return;
    }
    c->payload = malloc(need);
    if (!c->payload) {
        conn_fail(s, c, "out of memory for %zu bytes", need);
        return;
    }
    c->stage = IN_URB_PAYLOAD;
    c->need = need;
}

static void op_header_ready(struct usbip_server *s, struct conn *c)
{
    uint16_t code;
    char why[128];
    if (usbip_parse_op_header(c->hdr, &code, why, sizeof why) < 0) {
        conn_fail(s, c, "%s", why);
    } else if (code == OP_REQ_DEVLIST) {
        reply_devlist(s, c);
    } else {
        c->stage = IN_OP_BUSID;
        c->have = 0;
        c->need = USBIP_BUSID_SIZE;
    }
}

/* Read what the current stage still needs, and act on every complete piece. */
static void conn_read(struct usbip_server *s, struct conn *c)
{
    for (int turns = 0; turns < 64 && !c->closing && !c->close_when_flushed; turns++) {
        if (c->out_bytes > MAX_OUTPUT_BACKLOG)
            return; /* the client reads its replies first */
        uint8_t *dst = c->stage == IN_URB_PAYLOAD ? c->payload : c->hdr;
        ssize_t n = recv(c->fd, dst + c->have, c->need - c->have, MSG_DONTWAIT);
        if (n == 0) {
            bool mid = c->have > 0 || c->stage == IN_URB_PAYLOAD || c->stage == IN_OP_BUSID;
            if (mid)
                conn_fail(s, c, "connection closed in the middle of a request");
            c->closing = true;
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                c->closing = true;
            return;
        }
        c->have += (size_t)n;
        if (c->have < c->need)
            continue;
        switch (c->stage) {
        case IN_OP_HEADER:
            op_header_ready(s, c);
            break;
        case IN_OP_BUSID:
            reply_import(s, c, c->hdr);
            break;
        case IN_URB_HEADER:
            urb_header_ready(s, c);
            break;
        case IN_URB_PAYLOAD:
            handle_submit(s, c);
            free(c->payload);
            c->payload = NULL;
            c->stage = IN_URB_HEADER;
            c->have = 0;
            c->need = USBIP_HEADER_SIZE;
            break;
        }
    }
}

static void check_timeouts(struct usbip_server *s, struct conn *c, uint64_t now)
{
    if (!c->imported && !c->close_when_flushed && now - c->opened_ms > OP_PHASE_TIMEOUT_MS)
        conn_fail(s, c, "no complete request within %d s", OP_PHASE_TIMEOUT_MS / 1000);
    else if (c->out_bytes && now - c->output_progress_ms > OUTPUT_STALL_TIMEOUT_MS)
        conn_fail(s, c, "replies not read for %d s", OUTPUT_STALL_TIMEOUT_MS / 1000);
}

/* The device went away (detached): as usbip-host does, drop the client that imported it. */
static void process_detach(struct usbip_server *s)
{
    pthread_mutex_lock(&s->lock);
    bool pending = s->detach_pending;
    unsigned gen = s->detached_generation;
    s->detach_pending = false;
    pthread_mutex_unlock(&s->lock);
    if (!pending || !s->imported || s->imported->generation != gen)
        return;
    process_done(s); /* the -ENODEV completions came before the detach */
    struct conn *c = s->imported;
    server_log(s, LOG_INFO, "the device went away; closing %s's connection", c->peer);
    conn_flush(s, c); /* the -ENODEV answers, if the socket takes them */
    c->closing = true;
}

/* ---- the server thread ---------------------------------------------------- */

static void *server_thread(void *arg)
{
    struct usbip_server *s = arg;
    struct pollfd pfd[2 + MAX_CONNECTIONS];
    struct conn *pconn[2 + MAX_CONNECTIONS];
    while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
        uint64_t now = now_ms();
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = s->wake_rd, .events = POLLIN};
        int nconns = 0;
        for (int i = 0; i < MAX_CONNECTIONS; i++)
            nconns += s->conns[i].fd >= 0;
        if (nconns < MAX_CONNECTIONS)
            s->refused_logged = false;
        if (now >= s->accept_paused_until)
            pfd[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        for (int i = 0; i < MAX_CONNECTIONS; i++) {
            struct conn *c = &s->conns[i];
            if (c->fd < 0)
                continue;
            short ev = 0;
            if (c->out_bytes <= MAX_OUTPUT_BACKLOG && !c->close_when_flushed)
                ev |= POLLIN;
            if (c->out_head)
                ev |= POLLOUT;
            pconn[n] = c;
            pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        }
        pthread_mutex_lock(&s->lock);
        bool busy = s->reset.state == RESET_REQUESTED || s->reset.state == RESET_RUNNING ||
                    (s->fence_busy && s->m);
        pthread_mutex_unlock(&s->lock);
        int timeout = busy ? POLL_BUSY_MS : POLL_MS;
        if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
            break;
        if (busy && s->m)
            machine_kick(s->m); /* the emulator thread may be asleep in a pacing wait */

        if (pfd[0].revents & POLLIN) {
            char buf[256];
            while (read(s->wake_rd, buf, sizeof buf) > 0) {
            }
        }
        process_done(s);
        process_detach(s);
        finish_port_reset(s);
        send_fence(s);

        for (int i = 1; i < n; i++) {
            if (pfd[i].fd == s->listen_fd) {
                if (pfd[i].revents & POLLIN)
                    accept_clients(s);
                continue;
            }
            struct conn *c = pconn[i];
            if (c->fd < 0)
                continue;
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                conn_read(s, c);
            if (c->out_head || c->close_when_flushed)
                conn_flush(s, c);
        }
        now = now_ms();
        for (int i = 0; i < MAX_CONNECTIONS; i++) {
            struct conn *c = &s->conns[i];
            if (c->fd < 0)
                continue;
            check_timeouts(s, c, now);
            if (c->closing)
                conn_close(s, c);
        }
    }
    return NULL;
}

/* ---- the emulator side ---------------------------------------------------- */

static void on_attached(void *opaque, const struct usb_device_view *v)
{
    struct usbip_server *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->view = *v;
    s->have_device = true;
    snprintf(s->busid, sizeof s->busid, "%u-%u", v->busnum, v->portnum);
    pthread_mutex_unlock(&s->lock);
}

static void on_detached(void *opaque, unsigned generation)
{
    struct usbip_server *s = opaque;
    pthread_mutex_lock(&s->lock);
    if (s->have_device && s->view.generation == generation)
        s->have_device = false;
    s->detach_pending = true;
    s->detached_generation = generation;
    pthread_mutex_unlock(&s->lock);
    wake(s);
}

void usbip_server_service(void *server)
{
    struct usbip_server *s = server;
    pthread_mutex_lock(&s->lock);
    bool start = s->reset.state == RESET_REQUESTED;
    if (start)
        s->reset.state = RESET_RUNNING;
    pthread_mutex_unlock(&s->lock);
    if (start)
        usb_host_reset_device(s->host); /* completes what is in flight: not under our lock */

    const struct usb_device_view *v = usb_host_device(s->host);
    pthread_mutex_lock(&s->lock);
    bool done = false;
    if (s->reset.state == RESET_RUNNING && v) {
        s->reset.state = v->generation == s->reset.generation ? RESET_DONE : RESET_FAILED;
        done = true;
    }
    pthread_mutex_unlock(&s->lock);
    if (done)
        wake(s);
}

/* ---- life cycle ----------------------------------------------------------- */

static int parse_addr_port(const char *arg, char *addr, size_t addrlen, char *port, size_t portlen, char *err,
                           size_t errlen)
{
    const char *p = arg && arg[0] ? arg : USBIP_DEFAULT_ADDR ":3240";
    const char *colon = strrchr(p, ':');
    const char *portstr;
    if (p[0] == '[') {
        const char *close = strchr(p, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "--usbip: '%s' is not [IPv6-ADDR]:PORT", p);
            return -1;
        }
        snprintf(addr, addrlen, "%.*s", (int)(close - p - 1), p + 1);
        portstr = close + 2;
    } else if (colon) {
        if (strchr(p, ':') != colon) {
            snprintf(err, errlen, "--usbip: '%s': write an IPv6 address in brackets, [ADDR]:PORT", p);
            return -1;
        }
        snprintf(addr, addrlen, "%.*s", (int)(colon - p), p);
        portstr = colon + 1;
    } else {
        snprintf(addr, addrlen, "%s", USBIP_DEFAULT_ADDR);
        portstr = p;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(portstr, &end, 10);
    if (!portstr[0] || *end || errno || v < 0 || v > 65535) {
        snprintf(err, errlen, "--usbip: '%s' is not a TCP port (expected [ADDR:]PORT, e.g. 3240 or 0.0.0.0:3240)",
                 portstr);
        return -1;
    }
    if (!addr[0]) {
        snprintf(err, errlen, "--usbip: '%s' has an empty address (expected [ADDR:]PORT)", p);
        return -1;
    }
    snprintf(port, portlen, "%ld", v);
    return 0;
}

static int listen_on(struct usbip_server *s, const char *arg, char *err, size_t errlen)
{
    char addr[128], port[8];
    if (parse_addr_port(arg, addr, sizeof addr, port, sizeof port, err, errlen))
        return -1;
    int fd = tcp_listen("--usbip", addr, port, 16, &s->port, err, errlen);
    if (fd < 0)
        return -1;
    s->listen_fd = fd;
    return 0;
}

int usbip_server_start(struct usbip_server **out, struct usb_host *host, struct machine *m,
                       const char *addr_port, char *err, size_t errlen)
{
    *out = NULL;
    struct usbip_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "--usbip: out of memory");
        return -1;
    }
    s->host = host;
    s->m = m;
    s->log = host->sim ? host->sim->log : stderr;
    s->log_level = host->sim ? host->sim->log_level : LOG_WARN;
    s->listen_fd = s->wake_rd = s->wake_wr = -1;
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        s->conns[i].fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    int pipefd[2];
    if (listen_on(s, addr_port, err, errlen))
        goto fail;
    if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC)) {
        snprintf(err, errlen, "--usbip: pipe: %s", strerror(errno));
        goto fail;
    }
    s->wake_rd = pipefd[0];
    s->wake_wr = pipefd[1];
    if (m && machine_add_service(m, usbip_server_service, s)) {
        snprintf(err, errlen, "--usbip: the machine has no room for another service");
        goto fail;
    }
    const struct usb_device_view *v = usb_host_device(host);
    if (v)
        on_attached(s, v);
    struct usb_host_observer o = {on_attached, on_detached, s};
    usb_host_observe(host, &o);
    if (pthread_create(&s->thread, NULL, server_thread, s)) {
        snprintf(err, errlen, "--usbip: cannot start the server thread");
        goto fail;
    }
    s->thread_started = true;
    *out = s;
    return 0;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->wake_rd >= 0)
        close(s->wake_rd);
    if (s->wake_wr >= 0)
        close(s->wake_wr);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return -1;
}

uint16_t usbip_server_port(const struct usbip_server *s) { return s->port; }

void usbip_server_stop(struct usbip_server *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
        wake(s);
        pthread_join(s->thread, NULL);
    }
    process_done(s);
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        if (s->conns[i].fd >= 0)
            conn_close(s, &s->conns[i]);
    for (int i = 0; i < MAX_URBS; i++)
        free(s->slots[i].urb.buffer);
    close(s->listen_fd);
    close(s->wake_rd);
    close(s->wake_wr);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
