/*
 * usb_umockdev.h - the umockdev bridge: the device on the virtual USB host
 * shows up to unmodified libusb programs (dfu-util, lsusb, node-usb 2,
 * particle-usb) run with LD_PRELOAD=libumockdev-preload.so.0 and our
 * UMOCKDEV_DIR, with no root and no kernel USB.
 *
 * Design decision: the bridge is a "kernel" made of two halves. The sysfs
 * records (bus 1 root hub, device 1-1, its interfaces) are written from the
 * host's view of the enumerated device and nothing else; the usbfs ioctls on
 * /dev/bus/usb/001/DDD arrive on umockdev's worker thread and become URBs on
 * the host, whose completions (on the emulator thread) complete the ioctls.
 * Neither thread ever waits for the other.
 *
 * Use from the emulator (see docs in the .c file's header for details):
 *   usb_umockdev_start(&u, host, err, sizeof err)    before the emulator thread runs
 *   machine_add_service(m, usb_umockdev_service, u)  RESET needs the emulator thread
 *   puts(usb_umockdev_env(u))                        for another shell to eval
 *   envp = usb_umockdev_environ(u, environ)          for a child process
 *   usb_umockdev_stop(u)                             after the emulator thread stopped
 */
#ifndef EMU_HOST_USB_UMOCKDEV_H
#define EMU_HOST_USB_UMOCKDEV_H

#include <stddef.h>
#include <stdint.h>

struct usb_host;
struct usb_umockdev;

/*
 * Create the testbed (a directory $TMPDIR/umockdev.XXXXXX, removed by stop)
 * and observe `host`. Call it on the thread that will run the emulator, before
 * that thread runs and before other threads exist: umockdev sets UMOCKDEV_DIR
 * in this process's environment. Returns 0, or -1 with a message in err.
 */
int usb_umockdev_start(struct usb_umockdev **out, struct usb_host *host, char *err, size_t errlen);

/* "export UMOCKDEV_DIR=<dir> LD_PRELOAD=libumockdev-preload.so.0", for a shell's eval. */
const char *usb_umockdev_env(const struct usb_umockdev *u);
/* The testbed's root directory (UMOCKDEV_DIR). */
const char *usb_umockdev_dir(const struct usb_umockdev *u);

/*
 * A child's environment: `base` (e.g. environ) with UMOCKDEV_DIR and
 * LD_PRELOAD set (an LD_PRELOAD already there is kept after ours). Built in
 * the parent, so that fork()+execve() or posix_spawn() need no allocation in
 * the child. Free it with usb_umockdev_free_environ. NULL when out of memory.
 */
char **usb_umockdev_environ(const struct usb_umockdev *u, char *const *base);
void usb_umockdev_free_environ(char **envp);

/*
 * Emulator thread: the work only that thread may do (usbfs RESET). Register
 * it with machine_add_service(); the bridge kicks the host when it has work.
 */
void usb_umockdev_service(void *opaque);

/*
 * Emulator thread, after the emulator stopped servicing the host (the host
 * keeps pointers to in-flight URBs and to the observer): remove every
 * published device and the testbed directory, free everything.
 */
void usb_umockdev_stop(struct usb_umockdev *u);

/*
 * The CDC ACM serial port, as the kernel's cdc_acm driver binds it: from now
 * on, every device that enumerates with a CDC ACM communication interface
 * gets /dev/<name> (e.g. "ttyACM0"), a tty parented to that interface with
 * the udev properties serial-port listers read (`udevadm info -e`), whose
 * node leads to `target`, the pty slave of the serial driver (emu/host/
 * serial.c), which outlives detaches. The node goes with the device. Any
 * thread. Returns 0, or -1 with a message in err (a bad name or target).
 */
int usb_umockdev_set_tty(struct usb_umockdev *u, const char *name, const char *target, char *err, size_t errlen);

/* Counters for tests and the status line. */
struct usb_umockdev_stats {
    uint64_t ioctls, urbs_submitted, urbs_reaped, reap_eagain, reap_held;
};
void usb_umockdev_get_stats(struct usb_umockdev *u, struct usb_umockdev_stats *s);

#endif
