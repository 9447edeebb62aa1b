/*
 * usb_umockdev.c - the umockdev bridge: publishes the device on the virtual
 * USB host as sysfs records and a /dev/bus/usb node in a umockdev testbed,
 * and answers the usbfs ioctls libusb sends to that node (see
 * usb_umockdev.h, and docs usb-host.md section 1 for the facts behind it).
 *
 * Design decision: two threads, neither ever waits for the other. umockdev's
 * worker thread runs the ioctl handler: it checks the request, turns it into
 * an URB for usb_host_submit and returns; the emulator thread completes the
 * URB, and its completion callback completes the ioctl
 * (umockdev_ioctl_client_complete is thread-safe). One lock guards the state
 * both touch (open fds, their URB lists, the published view); a second lock,
 * never taken inside the first, guards the testbed (umockdev may synchronise
 * with its worker there, and the worker may be waiting for the first lock).
 *
 * What a usbfs client sees, as the kernel does it:
 * - SUBMITURB returns at once; the URB is reaped later with its status
 *   (0, -EPIPE stall, -EPROTO, -ENODEV after a detach, -ENOENT when the
 *   client discarded it) and actual_length (control: data stage only).
 * - REAPURB waits for a completion. REAPURBNDELAY answers EAGAIN when
 *   nothing is done, but, while URBs are in flight, only after holding the
 *   reply up to HOLD_REAP_US: libusb polls a umockdev node in a busy loop
 *   (the node is a regular file, so poll() always says it is ready), and the
 *   hold turns that loop into one round trip per completion.
 * - After the device is gone, completed URBs can still be reaped, then every
 *   ioctl answers ENODEV (REAP_AFTER_DISCONNECT).
 * Every client request is hostile input: sizes and pointers go through
 * umockdev_ioctl_data_resolve, and a client that dies mid-transfer has its
 * URBs unlinked; completions for it are dropped.
 *
 * Hotplug: clients learn of attach and detach through udev events, which
 * umockdev can only send when this process runs under its preload
 * (umockdev-wrapper spark-emu ...). Without it, a detach or attach still
 * changes the testbed, so every new process sees the current device, but a
 * running client (node-usb hotplug, libusb_hotplug) is not told.
 */
#include "usb_umockdev.h"

#include "emu/usb_host.h"

#include <errno.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <umockdev.h>

#define PRELOAD_LIB "libumockdev-preload.so.0"
#define BUSNUM 1
#define HUB_PATH "/devices/platform/spark-emu/usb1"
#define USB_DEVICE_MAJOR 189
#define TTY_ACM_MAJOR 166
#define USB_CLASS_COMM 0x02u       /* CDC 1.2, table 15 */
#define USB_CDC_SUBCLASS_ACM 0x02u /* PSTN 1.2, abstract control model */
#define USB_SPEED_FULL 2        /* enum usb_device_speed */
#define HOLD_REAP_US 1000       /* see the file comment */
#define MAX_URBS_PER_FD 1024
#define MAX_BYTES_PER_FD (16u << 20) /* usbfs_memory_mb's default */
#define MAX_CONTROL_DATA 4096   /* usbfs refuses wLength > PAGE_SIZE */
#define RESET_TIMEOUT SIM_S(10)
#define MAX_TTYS 4
#define CLOSE_SCAN_MS 100

#define CAPS                                                                                       \
    (USBDEVFS_CAP_ZERO_PACKET | USBDEVFS_CAP_BULK_CONTINUATION | USBDEVFS_CAP_NO_PACKET_SIZE_LIM | \
     USBDEVFS_CAP_REAP_AFTER_DISCONNECT)

/* The ioctl handler's verdicts besides a result >= 0 or -errno. */
#define PENDING INT_MIN        /* completed later, from a URB completion or a timer */
#define COMPLETED (INT_MIN + 1) /* already completed by the handler */

struct um_fd;

/* An URB in flight for a client: SUBMITURB (async) or a synchronous ioctl. */
struct um_urb {
    struct usb_urb urb;
    struct usb_umockdev *u;
    struct um_fd *fd;
    bool async;
    unsigned long request;    /* sync: the ioctl it completes */
    UMockdevIoctlData *data;  /* async: the client's usbdevfs_urb; sync CONTROL: its data stage */
    UMockdevIoctlData *buf;   /* async: the client's buffer, or NULL */
    unsigned long client_addr; /* async: the client's usbdevfs_urb pointer (DISCARDURB names it) */
    uint8_t *mem;             /* our copy of setup + data */
    size_t memlen;
    bool discarded, timed_out, single_alt;
    struct um_urb *next;
};

/* One open() of a device node by one client process. */
struct um_fd {
    struct usb_umockdev *u;
    UMockdevIoctlClient *client; /* ref */
    unsigned id;                 /* for timers, which must not hold a pointer */
    unsigned generation;         /* the device incarnation it opened; 0 = none */
    bool dead;                   /* the client closed it */
    struct um_urb *inflight;
    struct um_urb *done, **done_tail;
    int ninflight;
    size_t inflight_bytes;
    UMockdevIoctlData *reap_arg; /* a REAPURB(NDELAY) waiting, ref */
    bool reap_ndelay;
    struct um_urb *sync;         /* a synchronous ioctl's URB in flight */
    GSource *timer;              /* the held reap's or the CONTROL's time-out */
    GPtrArray *retired;          /* data of completed ioctls, kept until the next ioctl */
    uint32_t claimed;            /* interfaces 0-31 */
    struct um_fd *next;
};

struct um_tty {
    unsigned generation;
    char syspath[PATH_MAX];
    char devnode[64];
    char ptymap[PATH_MAX]; /* our dev/.ptymap entry, removed with the tty */
};

struct usb_umockdev {
    struct usb_host *host;
    UMockdevTestbed *tb;
    UMockdevIoctlBase *handler;
    GQuark fd_quark;
    char dir[PATH_MAX];
    char env[PATH_MAX + 128];
    bool preloaded; /* this process runs under umockdev's preload: uevents reach clients */

    /* the testbed: emulator thread and usb_umockdev_add_tty; never taken inside `lock` */
    pthread_mutex_t tb_lock;
    bool hub_added;
    char syspath[PATH_MAX];   /* the published device's sysfs path (testbed's form) */
    char ifpaths[32][PATH_MAX / 4];
    int nifpaths;
    struct um_tty ttys[MAX_TTYS];
    int nttys;
    char tty_name[33];    /* the CDC ACM port's node (ttyACM0), once usb_umockdev_set_tty said where it leads */
    char tty_target[128];

    /* shared by the worker and the emulator thread */
    pthread_mutex_t lock;
    bool published, stopping;
    struct usb_device_view view;
    char devnode[64];
    struct um_fd *fds;
    GSource *scan_timer; /* looks for closed fds, on the worker */
    unsigned next_fd_id;
    struct usb_umockdev_stats stats;

    /* usbfs RESET: asked on the worker, done on the emulator thread */
    UMockdevIoctlClient *reset_client; /* ref, while one is pending */
    unsigned reset_generation;
    bool reset_wanted, reset_running;
    uint64_t reset_deadline;
    struct event reset_event;
};

/* ---- small helpers ------------------------------------------------------ */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void put_setup(uint8_t *s, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t len)
{
    s[0] = type;
    s[1] = req;
    s[2] = (uint8_t)value;
    s[3] = (uint8_t)(value >> 8);
    s[4] = (uint8_t)index;
    s[5] = (uint8_t)(index >> 8);
    s[6] = (uint8_t)len;
    s[7] = (uint8_t)(len >> 8);
}

/* snprintf for paths built from our own short parts; false if it did not fit. */
static bool __attribute__((format(printf, 3, 4))) fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, len, f, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < len;
}

static void kick(struct usb_umockdev *u)
{
    if (u->host->kick)
        u->host->kick(u->host->kick_opaque);
}

/*
 * Walk the configuration descriptor's interface descriptors. Calls fn for
 * each (bInterfaceNumber, bAlternateSetting, the descriptor); a malformed
 * blob (firmware's, so untrusted) ends the walk.
 */
typedef bool (*iface_fn)(const uint8_t *d, void *opaque);
static void for_each_interface(const struct usb_device_view *v, iface_fn fn, void *opaque)
{
    const uint8_t *c = v->config;
    for (unsigned o = 0; o + 2 <= v->config_len && c[o] >= 2; o += c[o]) {
        if (o + c[o] > v->config_len)
            return;
        if (c[o + 1] == USB_DT_INTERFACE && c[o] >= 9 && !fn(c + o, opaque))
            return;
    }
}

struct alt_query {
    int iface, alt; /* alt < 0: any */
    int found, alts;
};
static bool match_alt(const uint8_t *d, void *opaque)
{
    struct alt_query *q = opaque;
    if (d[2] == q->iface) {
        q->alts++;
        if (q->alt < 0 || d[3] == q->alt)
            q->found = 1;
    }
    return true;
}

static bool interface_exists(const struct usb_device_view *v, int iface, int alt, int *nalts)
{
    struct alt_query q = {iface, alt, 0, 0};
    for_each_interface(v, match_alt, &q);
    if (nalts)
        *nalts = q.alts;
    return q.found != 0;
}

static bool endpoint_exists(const struct usb_device_view *v, uint8_t ep)
{
    if ((ep & 0x0Fu) == 0)
        return true;
    const uint8_t *c = v->config;
    for (unsigned o = 0; o + 2 <= v->config_len && c[o] >= 2; o += c[o])
        if (c[o + 1] == USB_DT_ENDPOINT && c[o] >= 7 && o + 7 <= v->config_len && c[o + 2] == ep)
            return true;
    return false;
}

/* ---- sysfs records ------------------------------------------------------ */

/* An A: value: the testbed unescapes backslashes; a firmware string may hold anything. */
static void append_attr_text(GString *s, const char *name, const char *value)
{
    g_string_append_printf(s, "A: %s=", name);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '\\')
            g_string_append(s, "\\\\");
        else if (*p < 0x20 || *p == 0x7F)
            g_string_append_c(s, '?');
        else
            g_string_append_c(s, (char)*p);
    }
    g_string_append(s, "\\n\n"); /* sysfs text ends in a newline; lsusb chops one character */
}

static void append_hex(GString *s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g_string_append_printf(s, "%02X", p[i]); /* umockdev reads upper-case hex only */
}

/* udev's ID_VENDOR/ID_MODEL: whitespace to '_', anything unsafe dropped (udev_replace_chars). */
static void append_udev_plain(GString *s, const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == ' ')
            g_string_append_c(s, '_');
        else if (g_ascii_isalnum(*p) || strchr("#+-.:=@_", *p))
            g_string_append_c(s, (char)*p);
        else
            g_string_append_c(s, '_');
    }
}

/* udev's ID_*_ENC: \xNN for every byte outside [0-9A-Za-z#+-.:=@_]. */
static void append_udev_enc(GString *s, const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (g_ascii_isalnum(*p) || strchr("#+-.:=@_", *p))
            g_string_append_c(s, (char)*p);
        else
            g_string_append_printf(s, "\\x%02x", *p);
    }
}

/* The properties udev's usb_id builtin gives a device and what hangs below it. */
static void append_usb_id(GString *s, const struct usb_device_view *v)
{
    const uint8_t *d = v->device;
    char vid[8], pid[8];
    snprintf(vid, sizeof vid, "%04x", get16(d + 8));
    snprintf(pid, sizeof pid, "%04x", get16(d + 10));
    g_string_append(s, "E: ID_VENDOR=");
    append_udev_plain(s, v->manufacturer[0] ? v->manufacturer : vid);
    g_string_append(s, "\nE: ID_VENDOR_ENC=");
    append_udev_enc(s, v->manufacturer[0] ? v->manufacturer : vid);
    g_string_append_printf(s, "\nE: ID_VENDOR_ID=%s\nE: ID_MODEL=", vid);
    append_udev_plain(s, v->product[0] ? v->product : pid);
    g_string_append(s, "\nE: ID_MODEL_ENC=");
    append_udev_enc(s, v->product[0] ? v->product : pid);
    g_string_append_printf(s, "\nE: ID_MODEL_ID=%s\nE: ID_REVISION=%04x\nE: ID_SERIAL=", pid, get16(d + 12));
    append_udev_plain(s, v->manufacturer[0] ? v->manufacturer : vid);
    g_string_append_c(s, '_');
    append_udev_plain(s, v->product[0] ? v->product : pid);
    if (v->serial[0]) {
        g_string_append_c(s, '_');
        append_udev_plain(s, v->serial);
        g_string_append(s, "\nE: ID_SERIAL_SHORT=");
        append_udev_plain(s, v->serial);
    }
    g_string_append(s, "\nE: ID_BUS=usb\n");
}

static bool append_iface_triple(const uint8_t *d, void *opaque)
{
    GString *s = opaque;
    if (d[3] == 0)
        g_string_append_printf(s, "%02x%02x%02x:", d[5], d[6], d[7]);
    return true;
}

/* The root hub of bus 1: the virtual host controller's own, so a fixed USB 1.1 hub. */
static const uint8_t hub_descriptors[] = {
    18, USB_DT_DEVICE, 0x10, 0x01, 9, 0, 0, 64, 0x6b, 0x1d, 0x01, 0x00, 0x00, 0x01, 3, 2, 1, 1,
    9, USB_DT_CONFIG, 25, 0, 1, 1, 0, 0xE0, 0,
    9, USB_DT_INTERFACE, 0, 0, 1, 9, 0, 0, 0,
    7, USB_DT_ENDPOINT, 0x81, USB_ENDPOINT_XFER_INT, 2, 0, 0xFF,
};

static char *hub_record(void)
{
    GString *s = g_string_new(NULL);
    g_string_append_printf(s,
                           "P: " HUB_PATH "\nN: bus/usb/%03d/001=",
                           BUSNUM);
    append_hex(s, hub_descriptors, sizeof hub_descriptors);
    g_string_append_printf(s,
                           "\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: DEVNAME=/dev/bus/usb/%03d/001\n"
                           "E: DRIVER=usb\nE: PRODUCT=1d6b/1/100\nE: TYPE=9/0/0\nE: BUSNUM=%03d\nE: DEVNUM=001\n"
                           "E: MAJOR=%d\nE: MINOR=%d\n"
                           "A: busnum=%d\\n\nA: devnum=1\\n\nA: devpath=0\\n\nA: speed=12\\n\nA: maxchild=1\\n\n"
                           "A: idVendor=1d6b\\n\nA: idProduct=0001\\n\nA: bcdDevice=0100\\n\nA: version= 1.10\\n\n"
                           "A: bDeviceClass=09\\n\nA: bDeviceSubClass=00\\n\nA: bDeviceProtocol=00\\n\n"
                           "A: bMaxPacketSize0=64\\n\nA: bNumConfigurations=1\\n\nA: bNumInterfaces= 1\\n\n"
                           "A: bConfigurationValue=1\\n\nA: bmAttributes=e0\\n\nA: bMaxPower=0mA\\n\n"
                           "A: authorized=1\\n\nA: removable=unknown\\n\nA: dev=%d:%d\\n\n",
                           BUSNUM, BUSNUM, USB_DEVICE_MAJOR, (BUSNUM - 1) * 128, BUSNUM, USB_DEVICE_MAJOR,
                           (BUSNUM - 1) * 128);
    append_attr_text(s, "manufacturer", "spark-emu");
    append_attr_text(s, "product", "spark-emu virtual USB host");
    append_attr_text(s, "serial", "spark-emu");
    g_string_append(s, "H: descriptors=");
    append_hex(s, hub_descriptors, sizeof hub_descriptors);
    g_string_append(s, "\n");
    return g_string_free(s, FALSE);
}

struct iface_records {
    GString *s;
    const struct usb_device_view *v;
    const char *devpath;
    struct usb_umockdev *u;
};

static bool append_interface_record(const uint8_t *d, void *opaque)
{
    struct iface_records *r = opaque;
    const struct usb_device_view *v = r->v;
    const uint8_t *dd = v->device;
    if (d[3] != 0)
        return true; /* sysfs shows the interface once, in its current (first) setting */
    if (r->u->nifpaths >= (int)G_N_ELEMENTS(r->u->ifpaths))
        return false;
    char *path = r->u->ifpaths[r->u->nifpaths++];
    fmt(path, sizeof r->u->ifpaths[0], "%s/%u-%u:%u.%u", r->devpath, v->busnum, v->portnum, v->config[5],
        d[2]);
    g_string_append_printf(r->s,
                           "\nP: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\nE: PRODUCT=%x/%x/%x\n"
                           "E: TYPE=%u/%u/%u\nE: INTERFACE=%u/%u/%u\n"
                           "E: MODALIAS=usb:v%04Xp%04Xd%04Xdc%02Xdsc%02Xdp%02Xic%02Xisc%02Xip%02Xin%02X\n",
                           path, get16(dd + 8), get16(dd + 10), get16(dd + 12), dd[4], dd[5], dd[6], d[5], d[6],
                           d[7], get16(dd + 8), get16(dd + 10), get16(dd + 12), dd[4], dd[5], dd[6], d[5], d[6],
                           d[7], d[2]);
    append_usb_id(r->s, v);
    g_string_append_printf(r->s,
                           "A: bInterfaceNumber=%02x\\n\nA: bAlternateSetting=%2u\\n\nA: bNumEndpoints=%02x\\n\n"
                           "A: bInterfaceClass=%02x\\n\nA: bInterfaceSubClass=%02x\\n\n"
                           "A: bInterfaceProtocol=%02x\\n\nA: authorized=1\\n\nA: supports_autosuspend=1\\n\n",
                           d[2], d[3], d[4], d[5], d[6], d[7]);
    return true;
}

/* The device and its interfaces, from the host's view and nothing else. */
static char *device_record(struct usb_umockdev *u, const struct usb_device_view *v, char *devpath, size_t pathlen)
{
    const uint8_t *d = v->device, *c = v->config;
    unsigned minor = (v->busnum - 1u) * 128u + (v->devnum - 1u);
    GString *s = g_string_new(NULL);
    snprintf(devpath, pathlen, HUB_PATH "/%u-%u", v->busnum, v->portnum);
    g_string_append_printf(s, "P: %s\nN: bus/usb/%03u/%03u=", devpath, v->busnum, v->devnum);
    append_hex(s, d, USB_DT_DEVICE_SIZE);
    append_hex(s, c, v->config_len);
    g_string_append_printf(s,
                           "\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: DEVNAME=/dev/bus/usb/%03u/%03u\n"
                           "E: DRIVER=usb\nE: PRODUCT=%x/%x/%x\nE: TYPE=%u/%u/%u\nE: BUSNUM=%03u\nE: DEVNUM=%03u\n"
                           "E: MAJOR=%d\nE: MINOR=%u\n",
                           v->busnum, v->devnum, get16(d + 8), get16(d + 10), get16(d + 12), d[4], d[5], d[6],
                           v->busnum, v->devnum, USB_DEVICE_MAJOR, minor);
    append_usb_id(s, v);
    g_string_append(s, "E: ID_USB_INTERFACES=:");
    for_each_interface(v, append_iface_triple, s);
    g_string_append(s, "\n");
    g_string_append_printf(s,
                           "A: busnum=%u\\n\nA: devnum=%u\\n\nA: devpath=%u\\n\nA: speed=12\\n\nA: maxchild=0\\n\n"
                           "A: idVendor=%04x\\n\nA: idProduct=%04x\\n\nA: bcdDevice=%04x\\n\nA: version=%2x.%02x\\n\n"
                           "A: bDeviceClass=%02x\\n\nA: bDeviceSubClass=%02x\\n\nA: bDeviceProtocol=%02x\\n\n"
                           "A: bMaxPacketSize0=%u\\n\nA: bNumConfigurations=%u\\n\nA: bNumInterfaces=%2u\\n\n"
                           "A: bmAttributes=%2x\\n\nA: bMaxPower=%umA\\n\nA: dev=%d:%u\\n\n"
                           "A: authorized=1\\n\nA: avoid_reset_port=0\\n\nA: removable=removable\\n\n"
                           "A: quirks=0x0\\n\nA: ltm_capable=no\\n\nA: urbnum=0\\n\nA: rx_lanes=1\\n\nA: tx_lanes=1\\n\n",
                           v->busnum, v->devnum, v->portnum, get16(d + 8), get16(d + 10), get16(d + 12), d[3], d[2],
                           d[4], d[5], d[6], d[7], d[17], c[4], c[7], c[8] * 2u, USB_DEVICE_MAJOR, minor);
    if (v->configuration)
        g_string_append_printf(s, "A: bConfigurationValue=%u\\n\n", v->configuration);
    else
        g_string_append(s, "A: bConfigurationValue=\\n\n");
    if (v->manufacturer[0])
        append_attr_text(s, "manufacturer", v->manufacturer);
    if (v->product[0])
        append_attr_text(s, "product", v->product);
    if (v->serial[0])
        append_attr_text(s, "serial", v->serial);
    /* what libusb reads: the device descriptor, then the configuration, as the kernel caches them */
    g_string_append(s, "H: descriptors=");
    append_hex(s, d, USB_DT_DEVICE_SIZE);
    append_hex(s, c, v->config_len);
    g_string_append(s, "\n");

    struct iface_records r = {s, v, devpath, u};
    u->nifpaths = 0;
    for_each_interface(v, append_interface_record, &r);
    return g_string_free(s, FALSE);
}

/* ---- per-fd state (lock held) ------------------------------------------- */

static void urb_free(struct um_urb *m)
{
    if (m->data)
        g_object_unref(m->data);
    if (m->buf)
        g_object_unref(m->buf);
    free(m->mem);
    free(m);
}

static void fd_cancel_timer(struct um_fd *fd)
{
    if (fd->timer) {
        g_source_destroy(fd->timer);
        g_source_unref(fd->timer);
        fd->timer = NULL;
    }
}

static void fd_free(struct usb_umockdev *u, struct um_fd *fd)
{
    for (struct um_fd **p = &u->fds; *p; p = &(*p)->next) {
        if (*p == fd) {
            *p = fd->next;
            break;
        }
    }
    fd_cancel_timer(fd);
    while (fd->done) {
        struct um_urb *m = fd->done;
        fd->done = m->next;
        urb_free(m);
    }
    if (fd->reap_arg)
        g_object_unref(fd->reap_arg);
    g_ptr_array_unref(fd->retired);
    g_object_unref(fd->client);
    free(fd);
}

/* A closed fd goes once nothing of it is in flight. */
static void fd_maybe_free(struct usb_umockdev *u, struct um_fd *fd)
{
    if (fd->dead && !fd->inflight)
        fd_free(u, fd);
}

static struct um_fd *fd_get(struct usb_umockdev *u, UMockdevIoctlClient *client)
{
    struct um_fd *fd = g_object_get_qdata(G_OBJECT(client), u->fd_quark);
    if (fd)
        return fd;
    fd = calloc(1, sizeof *fd);
    if (!fd)
        return NULL;
    fd->u = u;
    fd->client = g_object_ref(client);
    fd->id = ++u->next_fd_id;
    fd->done_tail = &fd->done;
    fd->retired = g_ptr_array_new_with_free_func(g_object_unref);
    const char *node = umockdev_ioctl_client_get_devnode(client);
    if (u->published && node && strcmp(node, u->devnode) == 0)
        fd->generation = u->view.generation;
    fd->next = u->fds;
    u->fds = fd;
    g_object_set_qdata(G_OBJECT(client), u->fd_quark, fd);
    return fd;
}

static bool fd_stale(const struct usb_umockdev *u, const struct um_fd *fd)
{
    return !u->published || fd->generation == 0 || fd->generation != u->view.generation;
}

static void fd_unlink(struct um_fd *fd, struct um_urb *m)
{
    for (struct um_urb **p = &fd->inflight; *p; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    m->next = NULL;
    fd->ninflight--;
    fd->inflight_bytes -= m->memlen;
}

static void retire(struct um_fd *fd, UMockdevIoctlData *d)
{
    if (d)
        g_ptr_array_add(fd->retired, d);
}

static void complete_ioctl(UMockdevIoctlClient *client, long res, int err)
{
    umockdev_ioctl_client_complete(client, res, err);
}

/* Hand the oldest completed URB to the waiting reap (lock held). */
static void deliver_reap(struct um_fd *fd)
{
    struct um_urb *m = fd->done;
    fd->done = m->next;
    if (!fd->done)
        fd->done_tail = &fd->done;
    m->next = NULL;

    struct usbdevfs_urb *cu = (struct usbdevfs_urb *)m->data->data;
    bool control = cu->type == USBDEVFS_URB_TYPE_CONTROL;
    bool in = control ? (m->urb.setup[0] & USB_DIR_IN) != 0 : (m->urb.endpoint & USB_DIR_IN) != 0;
    uint32_t actual = m->urb.actual;
    if (in && actual && m->buf) {
        size_t off = control ? 8 : 0;
        if (off + actual <= (size_t)m->buf->data_len)
            memcpy(m->buf->data + off, m->urb.buffer, actual);
    }
    cu->status = m->discarded && m->urb.status == -ECONNRESET ? -ENOENT : m->urb.status;
    cu->actual_length = (int)actual;
    cu->error_count = 0;
    umockdev_ioctl_data_set_ptr(fd->reap_arg, 0, m->data);
    complete_ioctl(fd->client, 0, 0);

    fd_cancel_timer(fd);
    retire(fd, fd->reap_arg);
    fd->reap_arg = NULL;
    retire(fd, m->data); /* synced back with the reap's completion: keep it until the next ioctl */
    retire(fd, m->buf);
    m->data = m->buf = NULL;
    urb_free(m);
    fd->u->stats.urbs_reaped++;
}

/* A waiting reap that no completion will satisfy any more (lock held). */
static void fail_reap(struct um_fd *fd, int err)
{
    fd_cancel_timer(fd);
    complete_ioctl(fd->client, -1, err);
    retire(fd, fd->reap_arg);
    fd->reap_arg = NULL;
}

/* ---- URB completion (emulator thread) ----------------------------------- */

static int sync_result(const struct um_urb *m)
{
    int st = m->urb.status;
    if (m->timed_out && st == -ECONNRESET)
        return -ETIMEDOUT;
    if (st == -EPIPE && m->request == USBDEVFS_SETINTERFACE && m->single_alt)
        return 0; /* usb_set_interface: a stalled SET_INTERFACE is fine for a one-setting interface */
    if (st)
        return st;
    return m->request == USBDEVFS_CONTROL ? (int)m->urb.actual : 0;
}

static void finish_sync(struct um_fd *fd, struct um_urb *m)
{
    fd->sync = NULL;
    fd_cancel_timer(fd);
    if (fd->dead)
        return;
    int r = sync_result(m);
    if (r >= 0 && m->request == USBDEVFS_CONTROL && (m->urb.setup[0] & USB_DIR_IN) && m->data &&
        m->urb.actual <= (uint32_t)m->data->data_len)
        memcpy(m->data->data, m->urb.buffer, m->urb.actual);
    complete_ioctl(fd->client, r < 0 ? -1 : r, r < 0 ? -r : 0);
    retire(fd, m->data);
    m->data = NULL;
}

static void update_configuration_attr(struct usb_umockdev *u, unsigned generation, uint8_t value);

static void urb_complete(struct usb_urb *urb)
{
    struct um_urb *m = urb->context;
    struct usb_umockdev *u = m->u;
    bool set_config = false;
    unsigned generation = 0;

    uint8_t value = urb->setup[2];
    pthread_mutex_lock(&u->lock);
    struct um_fd *fd = m->fd;
    fd_unlink(fd, m);
    if (!m->async) {
        if (m->request == USBDEVFS_SETCONFIGURATION && urb->status == 0) {
            set_config = true;
            generation = urb->generation;
        }
        finish_sync(fd, m);
        urb_free(m);
    } else if (fd->dead) {
        urb_free(m);
    } else {
        *fd->done_tail = m;
        fd->done_tail = &m->next;
        if (fd->reap_arg)
            deliver_reap(fd);
    }
    if (!fd->dead && !fd->inflight && !fd->done && fd->reap_arg && fd_stale(u, fd))
        fail_reap(fd, ENODEV);
    fd_maybe_free(u, fd);
    pthread_mutex_unlock(&u->lock);

    if (set_config)
        update_configuration_attr(u, generation, value);
}

/* ---- timers on the worker thread ---------------------------------------- */

struct timer_ref {
    struct usb_umockdev *u;
    unsigned fd_id;
};

static struct um_fd *fd_by_id(struct usb_umockdev *u, unsigned id)
{
    for (struct um_fd *fd = u->fds; fd; fd = fd->next)
        if (fd->id == id)
            return fd;
    return NULL;
}

static gboolean on_timer(gpointer opaque)
{
    struct timer_ref *t = opaque;
    struct usb_umockdev *u = t->u;
    pthread_mutex_lock(&u->lock);
    struct um_fd *fd = u->stopping ? NULL : fd_by_id(u, t->fd_id);
    if (fd && fd->timer == g_main_current_source()) {
        g_source_unref(fd->timer);
        fd->timer = NULL;
        if (fd->reap_arg) {
            u->stats.reap_eagain++;
            fail_reap(fd, EAGAIN);
        } else if (fd->sync) {
            fd->sync->timed_out = true;
            usb_host_unlink(u->host, &fd->sync->urb);
        }
    }
    pthread_mutex_unlock(&u->lock);
    return G_SOURCE_REMOVE;
}

/* The worker's context is the thread-default one while a handler runs. */
static void fd_start_timer(struct usb_umockdev *u, struct um_fd *fd, unsigned us)
{
    fd_cancel_timer(fd);
    struct timer_ref *t = g_new(struct timer_ref, 1);
    t->u = u;
    t->fd_id = fd->id;
    fd->timer = g_timeout_source_new((us + 999) / 1000);
    g_source_set_callback(fd->timer, on_timer, t, g_free);
    g_source_attach(fd->timer, g_main_context_get_thread_default());
}

/* ---- the ioctls (worker thread, lock held) ------------------------------- */

static UMockdevIoctlData *resolve(struct um_fd *fd, UMockdevIoctlData *arg, size_t off, size_t len)
{
    GError *e = NULL;
    UMockdevIoctlData *d = umockdev_ioctl_data_resolve(arg, off, len, &e);
    if (!d) {
        g_clear_error(&e);
        return NULL;
    }
    if ((size_t)d->data_len < len) {
        g_object_unref(d);
        return NULL;
    }
    retire(fd, d); /* lives until the next ioctl; take a ref to keep it longer */
    return d;
}

static unsigned long arg_value(UMockdevIoctlData *arg)
{
    unsigned long v = 0;
    if (arg && (size_t)arg->data_len >= sizeof v)
        memcpy(&v, arg->data, sizeof v);
    return v;
}

static struct um_urb *urb_new(struct usb_umockdev *u, struct um_fd *fd, size_t memlen)
{
    struct um_urb *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->mem = malloc(memlen ? memlen : 1);
    if (!m->mem) {
        free(m);
        return NULL;
    }
    m->memlen = memlen;
    m->u = u;
    m->fd = fd;
    m->urb.generation = fd->generation;
    m->urb.complete = urb_complete;
    m->urb.context = m;
    return m;
}

/* Queue an URB on the host; on failure it is freed. Returns 0 or -errno. */
static int urb_start(struct usb_umockdev *u, struct um_fd *fd, struct um_urb *m)
{
    m->next = fd->inflight;
    fd->inflight = m;
    fd->ninflight++;
    fd->inflight_bytes += m->memlen;
    int rc = usb_host_submit(u->host, &m->urb);
    if (rc) {
        fd_unlink(fd, m);
        urb_free(m);
        return rc;
    }
    u->stats.urbs_submitted++;
    return 0;
}

/* A standard or client control request that completes the ioctl when done. */
static int sync_control(struct usb_umockdev *u, struct um_fd *fd, unsigned long req, const uint8_t setup[8],
                        UMockdevIoctlData *data, unsigned timeout_ms)
{
    uint16_t wlength = get16(setup + 6);
    struct um_urb *m = urb_new(u, fd, wlength);
    if (!m)
        return -ENOMEM;
    m->request = req;
    m->urb.type = USB_URB_CONTROL;
    memcpy(m->urb.setup, setup, 8);
    m->urb.buffer = m->mem;
    m->urb.length = wlength;
    if (data && !(setup[0] & USB_DIR_IN))
        memcpy(m->mem, data->data, wlength);
    if (data)
        m->data = g_object_ref(data);
    if (req == USBDEVFS_SETINTERFACE) {
        int nalts = 0;
        interface_exists(&u->view, setup[4], -1, &nalts);
        m->single_alt = nalts == 1;
    }
    struct um_urb *saved = m;
    int rc = urb_start(u, fd, m);
    if (rc)
        return rc;
    fd->sync = saved;
    if (timeout_ms)
        fd_start_timer(u, fd, timeout_ms * 1000u);
    return PENDING;
}

static int claimed_elsewhere(struct usb_umockdev *u, struct um_fd *fd, unsigned iface)
{
    for (struct um_fd *o = u->fds; o; o = o->next)
        if (!o->dead && o != fd && !umockdev_ioctl_client_get_connected(o->client))
            o->claimed = 0; /* closed, and umockdev has not told us yet */
    for (struct um_fd *o = u->fds; o; o = o->next)
        if (o != fd && !o->dead && o->generation == fd->generation && (o->claimed & (1u << iface)))
            return 1;
    return 0;
}

static int claim(struct usb_umockdev *u, struct um_fd *fd, unsigned iface)
{
    if (iface >= 32)
        return -EINVAL;
    if (!interface_exists(&u->view, (int)iface, -1, NULL))
        return -ENOENT;
    if (claimed_elsewhere(u, fd, iface))
        return -EBUSY;
    fd->claimed |= 1u << iface;
    return 0;
}

static int do_submiturb(struct usb_umockdev *u, struct um_fd *fd, UMockdevIoctlData *arg)
{
    UMockdevIoctlData *d = resolve(fd, arg, 0, sizeof(struct usbdevfs_urb));
    if (!d)
        return -EFAULT;
    struct usbdevfs_urb cu;
    memcpy(&cu, d->data, sizeof cu);
    if (cu.buffer_length < 0 || (cu.buffer_length > 0 && !cu.buffer))
        return -EINVAL;
    if (cu.flags & ~(unsigned)(USBDEVFS_URB_SHORT_NOT_OK | USBDEVFS_URB_BULK_CONTINUATION |
                               USBDEVFS_URB_NO_FSBR | USBDEVFS_URB_ZERO_PACKET | USBDEVFS_URB_NO_INTERRUPT))
        return -EINVAL;
    size_t len = (size_t)cu.buffer_length;
    if (fd->ninflight >= MAX_URBS_PER_FD || fd->inflight_bytes + len > MAX_BYTES_PER_FD)
        return -ENOMEM;

    enum usb_urb_type type;
    switch (cu.type) {
    case USBDEVFS_URB_TYPE_CONTROL:
        type = USB_URB_CONTROL;
        if (len < 8)
            return -EINVAL;
        break;
    case USBDEVFS_URB_TYPE_BULK:
        type = USB_URB_BULK;
        break;
    case USBDEVFS_URB_TYPE_INTERRUPT:
        type = USB_URB_INTERRUPT;
        break;
    default:
        return -EINVAL; /* isochronous: no endpoint of ours has it */
    }
    if (!endpoint_exists(&u->view, cu.endpoint))
        return -ENOENT;

    UMockdevIoctlData *buf = NULL;
    if (len) {
        buf = resolve(fd, d, offsetof(struct usbdevfs_urb, buffer), len);
        if (!buf)
            return -EFAULT;
    }
    struct um_urb *m = urb_new(u, fd, len);
    if (!m)
        return -ENOMEM;
    if (len)
        memcpy(m->mem, buf->data, len);
    m->async = true;
    m->client_addr = d->client_addr; /* where the client's struct is: what DISCARDURB passes */
    m->data = g_object_ref(d);
    m->buf = buf ? g_object_ref(buf) : NULL;
    m->urb.type = type;
    m->urb.flags = (cu.flags & USBDEVFS_URB_SHORT_NOT_OK ? USB_URB_SHORT_NOT_OK : 0) |
                   (cu.flags & USBDEVFS_URB_ZERO_PACKET ? USB_URB_ZERO_PACKET : 0);
    if (type == USB_URB_CONTROL) {
        memcpy(m->urb.setup, m->mem, 8);
        if (get16(m->urb.setup + 6) > len - 8) {
            urb_free(m);
            return -EINVAL;
        }
        m->urb.endpoint = m->urb.setup[0] & USB_DIR_IN;
        m->urb.buffer = m->mem + 8;
        m->urb.length = get16(m->urb.setup + 6);
        if ((m->urb.setup[0] & USB_RECIP_MASK) == USB_RECIP_INTERFACE && m->urb.setup[4] < 32 &&
            claim(u, fd, m->urb.setup[4]) == -EBUSY) {
            urb_free(m);
            return -EBUSY;
        }
    } else {
        m->urb.endpoint = cu.endpoint;
        m->urb.buffer = m->mem;
        m->urb.length = (uint32_t)len;
    }
    return urb_start(u, fd, m);
}

static int do_reap(struct usb_umockdev *u, struct um_fd *fd, UMockdevIoctlData *arg, bool ndelay)
{
    if (fd->reap_arg)
        return -EBUSY;
    /*
     * Nothing to reap needs nothing from the client: answered before the
     * slot is read, which saves libusb's last reap of every transfer (the
     * one that ends its loop with EAGAIN) a round trip to the client.
     */
    if (!fd->done && !fd->inflight && fd_stale(u, fd))
        return -ENODEV;
    if (!fd->done && ndelay && !fd->inflight) {
        u->stats.reap_eagain++;
        return -EAGAIN;
    }
    /* the argument points to the client's `void *` that receives its URB's address */
    UMockdevIoctlData *slot = resolve(fd, arg, 0, sizeof(void *));
    if (!slot)
        return -EFAULT;
    if (fd->done) {
        fd->reap_arg = g_object_ref(slot);
        deliver_reap(fd);
        return COMPLETED;
    }
    fd->reap_arg = g_object_ref(slot);
    fd->reap_ndelay = ndelay;
    if (ndelay) {
        u->stats.reap_held++;
        fd_start_timer(u, fd, HOLD_REAP_US);
    }
    return PENDING;
}

static int do_discard(struct usb_umockdev *u, struct um_fd *fd, UMockdevIoctlData *arg)
{
    unsigned long addr = arg_value(arg);
    for (struct um_urb *m = fd->inflight; m; m = m->next) {
        if (m->async && m->client_addr == addr && !m->discarded) {
            m->discarded = true;
            usb_host_unlink(u->host, &m->urb);
            return 0;
        }
    }
    return -EINVAL;
}

static int dispatch(struct usb_umockdev *u, struct um_fd *fd, UMockdevIoctlClient *client, unsigned long req,
                    UMockdevIoctlData *arg)
{
    UMockdevIoctlData *d;
    uint8_t setup[8];

    /* what a client may still do on a stale fd: collect its URBs, let go */
    switch (req) {
    case USBDEVFS_REAPURB:
        return do_reap(u, fd, arg, false);
    case USBDEVFS_REAPURBNDELAY:
        return do_reap(u, fd, arg, true);
    case USBDEVFS_DISCARDURB:
        return do_discard(u, fd, arg);
    case USBDEVFS_GET_CAPABILITIES:
        if (!(d = resolve(fd, arg, 0, sizeof(uint32_t))))
            return -EFAULT;
        *(uint32_t *)d->data = CAPS;
        return 0;
    case USBDEVFS_RELEASEINTERFACE:
        if (!(d = resolve(fd, arg, 0, sizeof(unsigned))))
            return -EFAULT;
        if (*(unsigned *)d->data >= 32 || !(fd->claimed & (1u << *(unsigned *)d->data)))
            return -EINVAL;
        fd->claimed &= ~(1u << *(unsigned *)d->data);
        return 0;
    default:
        break;
    }
    if (fd_stale(u, fd))
        return -ENODEV;
    if (fd->sync)
        return -EBUSY;

    switch (req) {
    case USBDEVFS_CLAIMINTERFACE:
        if (!(d = resolve(fd, arg, 0, sizeof(unsigned))))
            return -EFAULT;
        return claim(u, fd, *(unsigned *)d->data);
    case USBDEVFS_DISCONNECT_CLAIM:
        if (!(d = resolve(fd, arg, 0, sizeof(struct usbdevfs_disconnect_claim))))
            return -EFAULT;
        return claim(u, fd, ((struct usbdevfs_disconnect_claim *)d->data)->interface);
    case USBDEVFS_GETDRIVER:
    case USBDEVFS_IOCTL:
        return -ENODATA; /* no kernel driver is ever bound */
    case USBDEVFS_CONNECTINFO: {
        if (!(d = resolve(fd, arg, 0, sizeof(struct usbdevfs_connectinfo))))
            return -EFAULT;
        struct usbdevfs_connectinfo *ci = (struct usbdevfs_connectinfo *)d->data;
        memset(ci, 0, sizeof *ci);
        ci->devnum = u->view.devnum;
        ci->slow = 0;
        return 0;
    }
    case USBDEVFS_GET_SPEED:
        return USB_SPEED_FULL;
    case USBDEVFS_RESETEP:
    case USBDEVFS_CLEAR_HALT: {
        if (!(d = resolve(fd, arg, 0, sizeof(unsigned))))
            return -EFAULT;
        unsigned ep = *(unsigned *)d->data;
        if (ep > 0xFF || (ep & 0x70) || !endpoint_exists(&u->view, (uint8_t)ep))
            return -ENOENT;
        if (req == USBDEVFS_RESETEP)
            return 0;
        put_setup(setup, USB_RECIP_ENDPOINT, USB_REQ_CLEAR_FEATURE, USB_ENDPOINT_HALT, (uint16_t)ep, 0);
        return sync_control(u, fd, req, setup, NULL, 0);
    }
    case USBDEVFS_SETINTERFACE: {
        if (!(d = resolve(fd, arg, 0, sizeof(struct usbdevfs_setinterface))))
            return -EFAULT;
        struct usbdevfs_setinterface si;
        memcpy(&si, d->data, sizeof si);
        if (si.interface >= 32 || si.altsetting > 0xFF || !interface_exists(&u->view, (int)si.interface, (int)si.altsetting, NULL))
            return -EINVAL;
        int rc = claim(u, fd, si.interface);
        if (rc)
            return rc;
        put_setup(setup, USB_RECIP_INTERFACE, USB_REQ_SET_INTERFACE, (uint16_t)si.altsetting, (uint16_t)si.interface, 0);
        return sync_control(u, fd, req, setup, NULL, 0);
    }
    case USBDEVFS_SETCONFIGURATION: {
        if (!(d = resolve(fd, arg, 0, sizeof(int))))
            return -EFAULT;
        int value = *(int *)d->data;
        if (value == -1)
            value = 0;
        if (value != 0 && value != u->view.config[5])
            return -EINVAL;
        for (struct um_fd *o = u->fds; o; o = o->next)
            if (!o->dead && o->generation == fd->generation && o->claimed)
                return -EBUSY;
        put_setup(setup, USB_RECIP_DEVICE, USB_REQ_SET_CONFIGURATION, (uint16_t)value, 0, 0);
        return sync_control(u, fd, req, setup, NULL, 0);
    }
    case USBDEVFS_CONTROL: {
        if (!(d = resolve(fd, arg, 0, sizeof(struct usbdevfs_ctrltransfer))))
            return -EFAULT;
        struct usbdevfs_ctrltransfer ct;
        memcpy(&ct, d->data, sizeof ct);
        if (ct.wLength > MAX_CONTROL_DATA)
            return -EINVAL;
        UMockdevIoctlData *data = NULL;
        if (ct.wLength && !(data = resolve(fd, d, offsetof(struct usbdevfs_ctrltransfer, data), ct.wLength)))
            return -EFAULT;
        put_setup(setup, ct.bRequestType, ct.bRequest, ct.wValue, ct.wIndex, ct.wLength);
        if ((setup[0] & USB_RECIP_MASK) == USB_RECIP_INTERFACE && setup[4] < 32 && claimed_elsewhere(u, fd, setup[4]))
            return -EBUSY;
        return sync_control(u, fd, req, setup, data, ct.timeout);
    }
    case USBDEVFS_SUBMITURB:
        return do_submiturb(u, fd, arg);
    case USBDEVFS_RESET:
        if (u->reset_client)
            return -EBUSY;
        u->reset_client = g_object_ref(client);
        u->reset_generation = fd->generation;
        u->reset_wanted = true;
        kick(u);
        return PENDING;
    default:
        return -ENOTTY;
    }
}

/* The client closed the fd (or died): unlink what it has in flight, forget the rest (lock held). */
static void fd_vanish(struct usb_umockdev *u, struct um_fd *fd)
{
    g_object_set_qdata(G_OBJECT(fd->client), u->fd_quark, NULL);
    fd->dead = true;
    fd->claimed = 0;
    fd_cancel_timer(fd);
    if (fd->reap_arg) {
        g_object_unref(fd->reap_arg);
        fd->reap_arg = NULL;
    }
    for (struct um_urb *m = fd->inflight; m; m = m->next)
        usb_host_unlink(u->host, &m->urb);
    fd_maybe_free(u, fd);
}

static void on_client_vanished(UMockdevIoctlBase *base, UMockdevIoctlClient *client, gpointer opaque)
{
    struct usb_umockdev *u = opaque;
    (void)base;
    pthread_mutex_lock(&u->lock);
    struct um_fd *fd = g_object_get_qdata(G_OBJECT(client), u->fd_quark);
    if (fd)
        fd_vanish(u, fd);
    pthread_mutex_unlock(&u->lock);
}

/*
 * The client's end of its umockdev socket. umockdev reads a client's socket
 * only between ioctls, so a client that dies while one of its ioctls is
 * pending here (a held reap, a blocking CONTROL) is never seen to close: our
 * late reply fails with EPIPE inside umockdev and the stream stays open. The
 * socket itself says so at once (POLLHUP). umockdev 0.17.16 has no accessor
 * for it; the stream is the second field of the client's private part
 * (umockdev_ioctl_client_get_connected reads it there), checked by type.
 */
static GSocket *client_socket(UMockdevIoctlClient *c)
{
    if (!c->priv)
        return NULL;
    void *stream = ((void **)c->priv)[1];
    if (!stream || !G_IS_SOCKET_CONNECTION(stream))
        return NULL;
    return g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream));
}

static bool client_gone(UMockdevIoctlClient *c)
{
    if (!umockdev_ioctl_client_get_connected(c))
        return true;
    GSocket *s = client_socket(c);
    if (!s || !(g_socket_condition_check(s, G_IO_HUP | G_IO_ERR) & (G_IO_HUP | G_IO_ERR)))
        return false;
    /* close it as umockdev does on EOF, so that nothing waits on it any more */
    g_io_stream_close(G_IO_STREAM(((void **)c->priv)[1]), NULL, NULL);
    return true;
}

/*
 * umockdev 0.17.16 does not emit client-vanished when a client closes the
 * node or dies (seen with dfu-util and a killed libusb client): look every
 * CLOSE_SCAN_MS.
 */
static gboolean scan_closed(gpointer opaque)
{
    struct usb_umockdev *u = opaque;
    pthread_mutex_lock(&u->lock);
    for (struct um_fd *fd = u->fds, *next; fd; fd = next) {
        next = fd->next;
        if (!fd->dead && client_gone(fd->client))
            fd_vanish(u, fd);
    }
    pthread_mutex_unlock(&u->lock);
    return G_SOURCE_CONTINUE;
}

static gboolean on_handle_ioctl(UMockdevIoctlBase *base, UMockdevIoctlClient *client, gpointer opaque)
{
    struct usb_umockdev *u = opaque;
    (void)base;
    unsigned long req = umockdev_ioctl_client_get_request(client);
    UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
    int r;

    pthread_mutex_lock(&u->lock);
    if (!u->scan_timer && !u->stopping) {
        u->scan_timer = g_timeout_source_new(CLOSE_SCAN_MS);
        g_source_set_callback(u->scan_timer, scan_closed, u, NULL);
        g_source_attach(u->scan_timer, g_main_context_get_thread_default());
    }
    struct um_fd *fd = u->stopping ? NULL : fd_get(u, client);
    if (!fd) {
        r = u->stopping ? -ENODEV : -ENOMEM;
    } else {
        g_ptr_array_set_size(fd->retired, 0); /* the previous ioctl has been synced back */
        u->stats.ioctls++;
        r = dispatch(u, fd, client, req, arg);
    }
    pthread_mutex_unlock(&u->lock);

    if (r != PENDING && r != COMPLETED)
        complete_ioctl(client, r < 0 ? -1 : r, r < 0 ? -r : 0);
    return TRUE;
}


/* ---- publishing (emulator thread) --------------------------------------- */

static void send_uevent(struct usb_umockdev *u, const char *syspath, const char *action)
{
    if (u->preloaded)
        umockdev_testbed_uevent(u->tb, syspath, action);
}

/* The testbed's paths start with /sys. */
static void sys_path(char *out, size_t len, const char *devpath)
{
    fmt(out, len, "/sys%s", devpath);
}

static void add_tty(struct usb_umockdev *u, const struct usb_device_view *v);

static void on_attached(void *opaque, const struct usb_device_view *v)
{
    struct usb_umockdev *u = opaque;
    GError *e = NULL;
    char devpath[PATH_MAX];

    pthread_mutex_lock(&u->tb_lock);
    if (!u->hub_added) {
        char *rec = hub_record();
        if (!umockdev_testbed_add_from_string(u->tb, rec, &e)) {
            sim_log(u->host->sim, LOG_WARN, "umockdev: cannot add the root hub: %s", e->message);
            g_clear_error(&e);
        } else {
            u->hub_added = true;
        }
        g_free(rec);
    }
    char *rec = device_record(u, v, devpath, sizeof devpath);
    char devnode[64];
    snprintf(devnode, sizeof devnode, "/dev/bus/usb/%03u/%03u", v->busnum, v->devnum);
    if (!umockdev_testbed_add_from_string(u->tb, rec, &e)) {
        sim_log(u->host->sim, LOG_WARN, "umockdev: cannot publish %04x:%04x: %s", get16(v->device + 8),
                get16(v->device + 10), e->message);
        g_clear_error(&e);
        g_free(rec);
        pthread_mutex_unlock(&u->tb_lock);
        return;
    }
    g_free(rec);
    sys_path(u->syspath, sizeof u->syspath, devpath);
    for (int i = 0; i < u->nifpaths; i++) {
        char p[PATH_MAX];
        sys_path(p, sizeof p, u->ifpaths[i]);
        fmt(u->ifpaths[i], sizeof u->ifpaths[i], "%s", p);
    }
    if (!umockdev_testbed_attach_ioctl(u->tb, devnode, u->handler, &e)) {
        sim_log(u->host->sim, LOG_WARN, "umockdev: cannot serve %s: %s", devnode, e->message);
        g_clear_error(&e);
    }
    pthread_mutex_lock(&u->lock);
    u->view = *v;
    snprintf(u->devnode, sizeof u->devnode, "%s", devnode);
    u->published = true;
    pthread_mutex_unlock(&u->lock);
    add_tty(u, v);
    pthread_mutex_unlock(&u->tb_lock);
    sim_log(u->host->sim, LOG_INFO, "umockdev: %04x:%04x is %s (%s)", get16(v->device + 8), get16(v->device + 10),
            devnode, u->syspath);
}

/* Emulator thread, lock held: the RESET waiting ends (err 0: the device is back). */
static void fail_reset(struct usb_umockdev *u, int err)
{
    event_cancel(u->host->sim, &u->reset_event);
    u->reset_running = false;
    u->reset_wanted = false;
    if (u->reset_client) {
        complete_ioctl(u->reset_client, err ? -1 : 0, err);
        g_object_unref(u->reset_client);
        u->reset_client = NULL;
    }
}

static void unpublish(struct usb_umockdev *u)
{
    GError *e = NULL;
    for (int i = u->nttys - 1; i >= 0; i--) {
        send_uevent(u, u->ttys[i].syspath, "remove");
        umockdev_testbed_remove_device(u->tb, u->ttys[i].syspath);
        if (u->ttys[i].ptymap[0])
            unlink(u->ttys[i].ptymap);
    }
    u->nttys = 0;
    for (int i = u->nifpaths - 1; i >= 0; i--)
        send_uevent(u, u->ifpaths[i], "remove");
    send_uevent(u, u->syspath, "remove");
    if (!umockdev_testbed_detach_ioctl(u->tb, u->devnode, &e))
        g_clear_error(&e);
    /* children one by one: removing the parent leaves their /sys/bus/usb/devices links behind */
    for (int i = u->nifpaths - 1; i >= 0; i--)
        umockdev_testbed_remove_device(u->tb, u->ifpaths[i]);
    umockdev_testbed_remove_device(u->tb, u->syspath);
    u->nifpaths = 0;
    u->syspath[0] = '\0';
}

static void on_detached(void *opaque, unsigned generation)
{
    struct usb_umockdev *u = opaque;
    pthread_mutex_lock(&u->tb_lock);
    pthread_mutex_lock(&u->lock);
    if (!u->published || u->view.generation != generation) {
        pthread_mutex_unlock(&u->lock);
        pthread_mutex_unlock(&u->tb_lock);
        return;
    }
    u->published = false;
    /* the host failed every URB with -ENODEV already; waiting reaps with nothing left end here */
    for (struct um_fd *fd = u->fds; fd; fd = fd->next)
        if (!fd->dead && fd->reap_arg && !fd->done && !fd->inflight)
            fail_reap(fd, ENODEV);
    if (u->reset_client && u->reset_generation == generation)
        fail_reset(u, ENODEV);
    pthread_mutex_unlock(&u->lock);
    unpublish(u);
    pthread_mutex_unlock(&u->tb_lock);
}

static void update_configuration_attr(struct usb_umockdev *u, unsigned generation, uint8_t value)
{
    pthread_mutex_lock(&u->tb_lock);
    pthread_mutex_lock(&u->lock);
    bool current = u->published && u->view.generation == generation;
    if (current)
        u->view.configuration = value;
    pthread_mutex_unlock(&u->lock);
    if (current) {
        char text[8] = "";
        if (value)
            snprintf(text, sizeof text, "%u", value);
        char *attr = g_strdup_printf("%s\n", text);
        umockdev_testbed_set_attribute(u->tb, u->syspath, "bConfigurationValue", attr);
        g_free(attr);
    }
    pthread_mutex_unlock(&u->tb_lock);
}

/* ---- RESET (emulator thread) -------------------------------------------- */

static void reset_check(struct sim *sim, void *opaque)
{
    struct usb_umockdev *u = opaque;
    pthread_mutex_lock(&u->lock);
    if (u->reset_running) {
        const struct usb_device_view *v = usb_host_device(u->host);
        if (v && v->generation == u->reset_generation)
            fail_reset(u, 0); /* re-enumerated as the same device */
        else if (v || sim->clock.now >= u->reset_deadline)
            fail_reset(u, ENODEV); /* it came back as another device, or not at all */
        else
            event_schedule(sim, &u->reset_event, sim->clock.now + SIM_MS(1));
    }
    pthread_mutex_unlock(&u->lock);
}

void usb_umockdev_service(void *opaque)
{
    struct usb_umockdev *u = opaque;
    struct sim *sim = u->host->sim;
    pthread_mutex_lock(&u->lock);
    if (u->reset_wanted) {
        u->reset_wanted = false;
        const struct usb_device_view *v = usb_host_device(u->host);
        if (!v || v->generation != u->reset_generation) {
            fail_reset(u, ENODEV);
        } else {
            u->reset_running = true;
            u->reset_deadline = sim->clock.now + RESET_TIMEOUT;
            pthread_mutex_unlock(&u->lock);
            usb_host_reset_device(u->host); /* fails URBs in flight: their completions take the lock */
            pthread_mutex_lock(&u->lock);
            if (u->reset_running)
                event_schedule(sim, &u->reset_event, sim->clock.now + SIM_MS(1));
        }
    }
    pthread_mutex_unlock(&u->lock);
}

/* ---- the serial port ---------------------------------------------------- */

/* The first CDC ACM communication interface (class 2, subclass 2) of the configuration, or -1. */
static bool match_acm(const uint8_t *d, void *opaque)
{
    int *found = opaque;
    if (d[5] == USB_CLASS_COMM && d[6] == USB_CDC_SUBCLASS_ACM) {
        *found = d[2];
        return false;
    }
    return true;
}

/* The path of a testbed file under the root directory. */
static void testbed_file(const struct usb_umockdev *u, char *out, size_t len, const char *rel)
{
    fmt(out, len, "%s/%s", u->dir, rel);
}

/*
 * Emulator thread or usb_umockdev_set_tty, tb_lock held: what the kernel's
 * cdc_acm does on binding: /dev/<tty_name> parented to the communication
 * interface, with the udev properties serial-port listers read. Its node
 * leads to tty_target (the serial driver's pty, which outlives detaches),
 * with a .ptymap entry so a stat of the opened port still says char 166:N,
 * as umockdev does for the ptys it makes.
 */
static void add_tty(struct usb_umockdev *u, const struct usb_device_view *v)
{
    int iface = -1;
    for_each_interface(v, match_acm, &iface);
    if (iface < 0 || !u->tty_target[0] || u->nttys >= MAX_TTYS)
        return;
    const char *name = u->tty_name;
    const char *ifpath = NULL;
    char want[64];
    snprintf(want, sizeof want, "/%u-%u:%u.%u", v->busnum, v->portnum, v->config[5], (unsigned)iface);
    for (int i = 0; i < u->nifpaths; i++)
        if (g_str_has_suffix(u->ifpaths[i], want))
            ifpath = u->ifpaths[i];
    if (!ifpath)
        return;
    struct um_tty *t = &u->ttys[u->nttys];
    int index = 0;
    sscanf(name + strcspn(name, "0123456789"), "%d", &index);
    GString *s = g_string_new(NULL);
    /* P: paths are without the /sys prefix */
    /*
     * No N: line: umockdev would make the node a pty of its own and remember
     * it for the whole testbed, so the same name could never come back after
     * a detach (0.17.16 asserts). The node is ours (below); removing the
     * device still unlinks it, through DEVNAME.
     */
    g_string_append_printf(s, "P: %s/tty/%s\nE: SUBSYSTEM=tty\nE: DEVNAME=/dev/%s\nE: MAJOR=%d\nE: MINOR=%d\n",
                           ifpath + 4, name, name, TTY_ACM_MAJOR, index);
    append_usb_id(s, v);
    g_string_append_printf(s, "E: ID_USB_INTERFACE_NUM=%02x\nE: ID_USB_DRIVER=cdc_acm\nE: ID_PATH=platform-spark-emu-usb-0:%u:%u.%u\n"
                              "E: ID_PATH_TAG=platform-spark-emu-usb-0_%u_%u_%u\n"
                              "A: dev=%d:%d\\n\n",
                           (unsigned)iface, v->portnum, v->config[5], (unsigned)iface, v->portnum, v->config[5],
                           (unsigned)iface, TTY_ACM_MAJOR, index);
    GError *e = NULL;
    bool added = umockdev_testbed_add_from_string(u->tb, s->str, &e);
    g_string_free(s, TRUE);
    if (!added) {
        sim_log(u->host->sim, LOG_WARN, "umockdev: cannot add /dev/%s: %s", name, e->message);
        g_clear_error(&e);
        return;
    }
    snprintf(t->syspath, sizeof t->syspath, "%s/tty/%s", ifpath, name);
    snprintf(t->devnode, sizeof t->devnode, "/dev/%s", name);
    t->generation = v->generation;
    u->nttys++;

    char node[PATH_MAX], map[PATH_MAX], rel[256], dev[16];
    snprintf(rel, sizeof rel, "dev/%s", name);
    testbed_file(u, node, sizeof node, rel);
    unlink(node);
    if (symlink(u->tty_target, node))
        sim_log(u->host->sim, LOG_WARN, "umockdev: cannot point /dev/%s at %s: %s", name, u->tty_target,
                strerror(errno));
    snprintf(rel, sizeof rel, "dev/.ptymap/%s", u->tty_target);
    for (char *p = rel + strlen("dev/.ptymap/"); *p; p++)
        if (*p == '/')
            *p = '_';
    testbed_file(u, map, sizeof map, rel);
    snprintf(dev, sizeof dev, "%d:%d", TTY_ACM_MAJOR, index);
    unlink(map);
    if (symlink(dev, map) == 0)
        snprintf(t->ptymap, sizeof t->ptymap, "%s", map);
    send_uevent(u, t->syspath, "add");
    sim_log(u->host->sim, LOG_INFO, "umockdev: /dev/%s is %s", name, u->tty_target);
}

int usb_umockdev_set_tty(struct usb_umockdev *u, const char *name, const char *target, char *err, size_t errlen)
{
    if (!name || !*name || strchr(name, '/') || strlen(name) >= sizeof u->tty_name) {
        snprintf(err, errlen, "umockdev: bad tty name \"%s\" (want e.g. ttyACM0)", name ? name : "");
        return -1;
    }
    if (!target || target[0] != '/' || strlen(target) >= sizeof u->tty_target) {
        snprintf(err, errlen, "umockdev: bad tty target \"%s\" (want a pty path)", target ? target : "");
        return -1;
    }
    pthread_mutex_lock(&u->tb_lock);
    snprintf(u->tty_name, sizeof u->tty_name, "%s", name);
    snprintf(u->tty_target, sizeof u->tty_target, "%s", target);
    pthread_mutex_lock(&u->lock);
    bool published = u->published;
    struct usb_device_view v = u->view;
    pthread_mutex_unlock(&u->lock);
    if (published && u->nttys == 0)
        add_tty(u, &v);
    pthread_mutex_unlock(&u->tb_lock);
    return 0;
}

/* ---- life cycle --------------------------------------------------------- */

int usb_umockdev_start(struct usb_umockdev **out, struct usb_host *host, char *err, size_t errlen)
{
    *out = NULL;
    struct usb_umockdev *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, errlen, "umockdev: out of memory");
        return -1;
    }
    u->host = host;
    /* umockdev_in_mock_environment() says no even under umockdev-wrapper; the wrapper sets LD_PRELOAD */
    const char *preload = getenv("LD_PRELOAD");
    u->preloaded = preload && strstr(preload, "libumockdev-preload") != NULL;
    u->tb = umockdev_testbed_new();
    if (!u->tb) {
        snprintf(err, errlen, "umockdev: cannot create a testbed in $TMPDIR");
        free(u);
        return -1;
    }
    char *root = umockdev_testbed_get_root_dir(u->tb);
    snprintf(u->dir, sizeof u->dir, "%s", root);
    g_free(root);
    char *quoted = g_shell_quote(u->dir);
    snprintf(u->env, sizeof u->env, "export UMOCKDEV_DIR=%s LD_PRELOAD=" PRELOAD_LIB, quoted);
    g_free(quoted);
    u->handler = umockdev_ioctl_base_new();
    g_signal_connect(u->handler, "handle-ioctl", G_CALLBACK(on_handle_ioctl), u);
    g_signal_connect(u->handler, "client-vanished", G_CALLBACK(on_client_vanished), u);
    u->fd_quark = g_quark_from_static_string("spark-emu-usbfs-fd");
    pthread_mutex_init(&u->lock, NULL);
    pthread_mutex_init(&u->tb_lock, NULL);
    event_init(&u->reset_event, reset_check, u, "umockdev USB reset");

    struct usb_host_observer o = {on_attached, on_detached, u};
    usb_host_observe(host, &o);
    const struct usb_device_view *v = usb_host_device(host);
    if (v)
        on_attached(u, v);
    *out = u;
    return 0;
}

const char *usb_umockdev_env(const struct usb_umockdev *u) { return u->env; }

const char *usb_umockdev_dir(const struct usb_umockdev *u) { return u->dir; }

char **usb_umockdev_environ(const struct usb_umockdev *u, char *const *base)
{
    size_t n = 0;
    while (base && base[n])
        n++;
    char **envp = calloc(n + 3, sizeof *envp);
    if (!envp)
        return NULL;
    const char *preload = NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(base[i], "UMOCKDEV_DIR=", 13) == 0)
            continue;
        if (strncmp(base[i], "LD_PRELOAD=", 11) == 0) {
            preload = base[i] + 11;
            continue;
        }
        envp[o++] = strdup(base[i]);
    }
    envp[o++] = g_strdup_printf("UMOCKDEV_DIR=%s", u->dir);
    if (preload && strstr(preload, "libumockdev-preload"))
        envp[o++] = g_strdup_printf("LD_PRELOAD=%s", preload);
    else if (preload && *preload)
        envp[o++] = g_strdup_printf("LD_PRELOAD=" PRELOAD_LIB " %s", preload);
    else
        envp[o++] = strdup("LD_PRELOAD=" PRELOAD_LIB);
    for (size_t i = 0; i < o; i++) {
        if (!envp[i]) {
            usb_umockdev_free_environ(envp);
            return NULL;
        }
    }
    return envp;
}

void usb_umockdev_free_environ(char **envp)
{
    if (!envp)
        return;
    for (char **p = envp; *p; p++)
        free(*p); /* g_strdup is malloc since GLib 2.46 */
    free(envp);
}

void usb_umockdev_get_stats(struct usb_umockdev *u, struct usb_umockdev_stats *s)
{
    pthread_mutex_lock(&u->lock);
    *s = u->stats;
    pthread_mutex_unlock(&u->lock);
}

void usb_umockdev_stop(struct usb_umockdev *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->tb_lock);
    pthread_mutex_lock(&u->lock);
    u->stopping = true;
    if (u->scan_timer) {
        g_source_destroy(u->scan_timer);
        g_source_unref(u->scan_timer);
        u->scan_timer = NULL;
    }
    bool was = u->published;
    u->published = false;
    fail_reset(u, ENODEV);
    for (struct um_fd *fd = u->fds; fd; fd = fd->next) {
        fd_cancel_timer(fd);
        if (!fd->dead && fd->reap_arg)
            fail_reap(fd, ENODEV);
    }
    pthread_mutex_unlock(&u->lock);
    if (was)
        unpublish(u);
    pthread_mutex_unlock(&u->tb_lock);

    g_signal_handlers_disconnect_by_data(u->handler, u);
    /* the testbed's finalizer removes its directory */
    g_object_unref(u->tb);
    u->tb = NULL;

    pthread_mutex_lock(&u->lock);
    while (u->fds) {
        struct um_fd *fd = u->fds;
        /* the host is not serviced again: URBs it still queues never complete, free them */
        for (struct um_urb *m = fd->inflight, *n; m; m = n) {
            n = m->next;
            urb_free(m);
        }
        fd->inflight = NULL;
        fd_free(u, fd);
    }
    pthread_mutex_unlock(&u->lock);
    g_object_unref(u->handler);
    pthread_mutex_destroy(&u->lock);
    pthread_mutex_destroy(&u->tb_lock);
    free(u);
}
