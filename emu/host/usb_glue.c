/*
 * usb_glue.c - the USB adapters as host adapters: which command-line option
 * starts which (the serial port, the umockdev bridge, the USB/IP server), and
 * what they share through struct host (the environment for libusb programs,
 * the pty the bridge made as /dev/ttyACM0). The adapters themselves are
 * serial.c, usb_umockdev.c and usbip.c; they know nothing of the options.
 */
#include "emu/host/host.h"
#include "emu/host/serial.h"
#ifdef SPARK_EMU_HAVE_UMOCKDEV
#include "emu/host/usb_umockdev.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the host adapter: --serial pty|stdio|FILE ---- */


static int serial_adapter_create(struct host *h, void **self, char *err, size_t errlen)
{
    (void)h;
    (void)err;
    (void)errlen;
    *self = NULL;
    return 0;
}

static int serial_adapter_attach(struct host *h, void *self, char *err, size_t errlen)
{
    (void)self;
    /*
     * With the umockdev bridge, the port exists as the kernel's cdc_acm makes
     * it, without --serial: libusb programs run beside it (particle serial
     * list / identify / wifi) find /dev/ttyACM0 while the firmware's CDC
     * function is attached. --serial pty also prints the pty's own path.
     */
    enum serial_kind kind = h->opt->serial;
    if (kind == SERIAL_NONE && h->umockdev)
        kind = SERIAL_PTY;
    if (kind == SERIAL_NONE)
        return 0;
    struct usb_serial *s;
    if (usb_serial_start(&s, spark_core_usb_host(h->board), h->m, kind, h->opt->serial_file, err, errlen))
        return -1;
    for (int i = 0; i < h->nadapters; i++)
        if (h->adapters[i].ops == &host_serial)
            h->adapters[i].self = s;
#ifdef SPARK_EMU_HAVE_UMOCKDEV
    if (h->umockdev && kind == SERIAL_PTY &&
        usb_umockdev_set_tty(h->umockdev, "ttyACM0", usb_serial_path(s), err, errlen))
        return -1;
#endif
    if (h->opt->serial == SERIAL_PTY) {
        if (h->umockdev)
            printf("spark-emu: USB serial on %s (/dev/ttyACM0 to programs that see the USB device)\n",
                   usb_serial_path(s));
        else
            printf("spark-emu: USB serial on %s\n", usb_serial_path(s));
        fflush(stdout);
    }
    return 0;
}

static void serial_adapter_destroy(struct host *h, void *self)
{
    (void)h;
    usb_serial_stop(self);
}

const struct host_adapter host_serial = {
    .name = "serial",
    .create = serial_adapter_create,
    .attach = serial_adapter_attach,
    .destroy = serial_adapter_destroy,
};

/* ---- --usb umockdev, and the environment --usb-host-cmd gives its commands ---- */

#ifdef SPARK_EMU_HAVE_UMOCKDEV

struct umockdev_adapter {
    struct usb_umockdev *u;
    char dir_env[4200];
    bool serve;
};

static int umockdev_adapter_create(struct host *h, void **self, char *err, size_t errlen)
{
    *self = NULL;
    if (!h->opt->usb_umockdev && !h->opt->nusb_host_cmds && !h->usb_programs)
        return 0;
    struct umockdev_adapter *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->serve = h->opt->usb_umockdev;
    *self = a;
    return 0;
}

static int umockdev_adapter_attach(struct host *h, void *self, char *err, size_t errlen)
{
    struct umockdev_adapter *a = self;
    if (!a)
        return 0;
    if (usb_umockdev_start(&a->u, spark_core_usb_host(h->board), err, errlen))
        return -1;
    if (machine_add_service(h->m, usb_umockdev_service, a->u)) {
        snprintf(err, errlen, "too many emulator-thread services");
        return -1;
    }
    h->umockdev = a->u;
    snprintf(a->dir_env, sizeof a->dir_env, "UMOCKDEV_DIR=%s", usb_umockdev_dir(a->u));
    h->usb_env[0] = a->dir_env;
    h->usb_env[1] = "LD_PRELOAD=libumockdev-preload.so.0";
    h->usb_env[2] = NULL;
    if (a->serve) {
        printf("%s\n", usb_umockdev_env(a->u));
        fflush(stdout);
        machine_hold_realtime(h->m, true); /* a client may come at any moment; Ctrl-C ends it (host.c) */
    }
    return 0;
}

static void umockdev_adapter_destroy(struct host *h, void *self)
{
    struct umockdev_adapter *a = self;
    if (!a)
        return;
    h->usb_env[0] = NULL;
    h->umockdev = NULL;
    if (a->u)
        usb_umockdev_stop(a->u);
    free(a);
}

const struct host_adapter host_umockdev = {
    .name = "umockdev",
    .create = umockdev_adapter_create,
    .attach = umockdev_adapter_attach,
    .destroy = umockdev_adapter_destroy,
};
#else
static int umockdev_missing(struct host *h, void **self, char *err, size_t errlen)
{
    *self = NULL;
    if (!h->opt->usb_umockdev && !h->opt->nusb_host_cmds && !h->usb_programs)
        return 0; /* a script's run steps need it too */
    snprintf(err, errlen, "--usb umockdev and --usb-host-cmd need libumockdev: this spark-emu was built without "
                          "it (install libumockdev-dev and rebuild; tools/setup.sh does both)");
    return -1;
}

const struct host_adapter host_umockdev = {
    .name = "umockdev",
    .create = umockdev_missing,
};
#endif

/* ---- --usbip [ADDR:]PORT ---- */

#include "emu/host/usbip.h"

static int usbip_adapter_attach(struct host *h, void *self, char *err, size_t errlen)
{
    (void)self;
    if (!h->opt->usbip)
        return 0;
    struct usbip_server *s;
    if (usbip_server_start(&s, spark_core_usb_host(h->board), h->m, h->opt->usbip, err, errlen))
        return -1;
    for (int i = 0; i < h->nadapters; i++)
        if (h->adapters[i].ops == &host_usbip)
            h->adapters[i].self = s;
    sim_log(&h->m->sim, LOG_WARN, "USB/IP: serving busid 1-1 on port %u (usbip list -r HOST; usbip attach -r HOST -b 1-1)",
            usbip_server_port(s));
    return 0;
}

static void usbip_adapter_destroy(struct host *h, void *self)
{
    (void)h;
    if (self)
        usbip_server_stop(self);
}

const struct host_adapter host_usbip = {
    .name = "usbip",
    .attach = usbip_adapter_attach,
    .destroy = usbip_adapter_destroy,
};
