#!/usr/bin/env python3
"""libusb_client.py - a small libusb 1.0 client (ctypes, no extra packages) for
the umockdev bridge test: run under the bridge's environment, it does what
dfu-util does not, and prints one result line per check.

  libusb_client.py latency VID:PID N     N GETSTATUS control transfers; prints the mean in µs
  libusb_client.py errors VID:PID        a stall (-9 PIPE) and a timed-out, discarded transfer (-7 TIMEOUT)
  libusb_client.py echo VID:PID          bulk OUT then bulk IN on the CDC data interface
  libusb_client.py hang VID:PID          a control transfer that never ends (the test kills us)
  libusb_client.py hotplug VID SECONDS   prints "arrived VID:PID" / "left VID:PID" for libusb hotplug events
"""
import ctypes
import sys
import time

lib = ctypes.CDLL("libusb-1.0.so.0")
lib.libusb_open_device_with_vid_pid.restype = ctypes.c_void_p
lib.libusb_open_device_with_vid_pid.argtypes = [ctypes.c_void_p, ctypes.c_uint16, ctypes.c_uint16]
lib.libusb_control_transfer.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint16,
                                        ctypes.c_uint16, ctypes.c_char_p, ctypes.c_uint16, ctypes.c_uint]
lib.libusb_bulk_transfer.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.c_char_p, ctypes.c_int,
                                     ctypes.POINTER(ctypes.c_int), ctypes.c_uint]
lib.libusb_claim_interface.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.libusb_release_interface.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.libusb_set_interface_alt_setting.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
lib.libusb_close.argtypes = [ctypes.c_void_p]


class DeviceDescriptor(ctypes.Structure):
    _fields_ = [("bLength", ctypes.c_uint8), ("bDescriptorType", ctypes.c_uint8), ("bcdUSB", ctypes.c_uint16),
                ("bDeviceClass", ctypes.c_uint8), ("bDeviceSubClass", ctypes.c_uint8),
                ("bDeviceProtocol", ctypes.c_uint8), ("bMaxPacketSize0", ctypes.c_uint8),
                ("idVendor", ctypes.c_uint16), ("idProduct", ctypes.c_uint16), ("bcdDevice", ctypes.c_uint16),
                ("iManufacturer", ctypes.c_uint8), ("iProduct", ctypes.c_uint8), ("iSerialNumber", ctypes.c_uint8),
                ("bNumConfigurations", ctypes.c_uint8)]


HOTPLUG_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)


def hotplug(vid, seconds):
    ctx = ctypes.c_void_p()
    lib.libusb_init(ctypes.byref(ctx))

    def event(_ctx, dev, what, _user):
        d = DeviceDescriptor()
        lib.libusb_get_device_descriptor(ctypes.c_void_p(dev), ctypes.byref(d))
        print("%s %04x:%04x" % ("arrived" if what == 1 else "left", d.idVendor, d.idProduct), flush=True)
        return 0

    cb = HOTPLUG_CB(event)
    handle = ctypes.c_int()
    lib.libusb_hotplug_register_callback.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                                     ctypes.c_int, ctypes.c_int, HOTPLUG_CB, ctypes.c_void_p,
                                                     ctypes.POINTER(ctypes.c_int)]
    r = lib.libusb_hotplug_register_callback(ctx, 3, 1, vid, -1, -1, cb, None, ctypes.byref(handle))
    print("registered", r, flush=True)
    tv = (ctypes.c_long * 2)(0, 100000)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        lib.libusb_handle_events_timeout_completed(ctx, ctypes.byref(tv), None)
    lib.libusb_exit(ctx)
    return 0


def main():
    what, ids = sys.argv[1], sys.argv[2]
    if what == "hotplug":
        return hotplug(int(ids, 16), float(sys.argv[3]))
    vid, pid = (int(x, 16) for x in ids.split(":"))
    ctx = ctypes.c_void_p()
    if lib.libusb_init(ctypes.byref(ctx)):
        print("init failed")
        return 1
    h = lib.libusb_open_device_with_vid_pid(ctx, vid, pid)
    if not h:
        print("open failed")
        return 1
    buf = ctypes.create_string_buffer(64)
    if what == "latency":
        n = int(sys.argv[3])
        print("claim", lib.libusb_claim_interface(h, 0))
        print("setalt", lib.libusb_set_interface_alt_setting(h, 0, 1))
        t = time.monotonic()
        for _ in range(n):
            r = lib.libusb_control_transfer(h, 0xA1, 3, 0, 0, buf, 6, 1000)
            if r != 6:
                print("getstatus", r)
                return 1
        dt = time.monotonic() - t
        print("getstatus ok state=%d" % buf.raw[4])
        print("mean_us %.0f" % (dt / n * 1e6))
    elif what == "errors":
        print("claim", lib.libusb_claim_interface(h, 0))
        print("stall", lib.libusb_control_transfer(h, 0xC0, 0x43, 0, 0, buf, 4, 1000))
        t = time.monotonic()
        r = lib.libusb_control_transfer(h, 0xC0, 0x42, 0, 0, buf, 4, 200)
        print("timeout", r, "after_ms %.0f" % ((time.monotonic() - t) * 1000))
        print("after", lib.libusb_control_transfer(h, 0xA1, 3, 0, 0, buf, 6, 1000))
    elif what == "echo":
        print("claim", lib.libusb_claim_interface(h, 1))
        n = ctypes.c_int()
        data = bytes(range(100))
        print("out", lib.libusb_bulk_transfer(h, 0x03, data, len(data), ctypes.byref(n), 1000), n.value)
        back = ctypes.create_string_buffer(256)
        r = lib.libusb_bulk_transfer(h, 0x81, back, 256, ctypes.byref(n), 1000)
        print("in", r, n.value, "same" if back.raw[:n.value] == data else "different")
    elif what == "hang":
        print("claim", lib.libusb_claim_interface(h, 0), flush=True)
        lib.libusb_control_transfer(h, 0xC0, 0x42, 0, 0, buf, 4, 0)
        print("hang returned")
    lib.libusb_close(h)
    lib.libusb_exit(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
