/*
 * usb.h - USB 2.0 full speed at the level of the wire: the token interface
 * between the host controller core (emu/usb_host.c) and a device's USB block
 * (peripherals/stm32f1/usb.c), and the chapter 9 constants both sides use.
 *
 * Design decision: the host controller drives one transaction at a time and
 * the device answers it at once with the handshake its endpoint registers
 * give (ACK, NAK, STALL) or with silence, as the USB serial interface engine
 * does in hardware; the device's firmware only ever sees the result later,
 * through its interrupt. Nothing in a transaction waits for the guest.
 */
#ifndef EMU_USB_H
#define EMU_USB_H

#include <stdbool.h>
#include <stdint.h>

/* ---- USB 2.0 chapter 9 ---- */
#define USB_DIR_IN 0x80u
#define USB_TYPE_MASK 0x60u
#define USB_TYPE_STANDARD 0x00u
#define USB_TYPE_CLASS 0x20u
#define USB_TYPE_VENDOR 0x40u
#define USB_RECIP_MASK 0x1Fu
#define USB_RECIP_DEVICE 0x00u
#define USB_RECIP_INTERFACE 0x01u
#define USB_RECIP_ENDPOINT 0x02u

#define USB_REQ_GET_STATUS 0x00u
#define USB_REQ_CLEAR_FEATURE 0x01u
#define USB_REQ_SET_FEATURE 0x03u
#define USB_REQ_SET_ADDRESS 0x05u
#define USB_REQ_GET_DESCRIPTOR 0x06u
#define USB_REQ_SET_DESCRIPTOR 0x07u
#define USB_REQ_GET_CONFIGURATION 0x08u
#define USB_REQ_SET_CONFIGURATION 0x09u
#define USB_REQ_GET_INTERFACE 0x0Au
#define USB_REQ_SET_INTERFACE 0x0Bu

#define USB_DT_DEVICE 0x01u
#define USB_DT_CONFIG 0x02u
#define USB_DT_STRING 0x03u
#define USB_DT_INTERFACE 0x04u
#define USB_DT_ENDPOINT 0x05u
#define USB_DT_DEVICE_SIZE 18u
#define USB_DT_CONFIG_SIZE 9u

#define USB_ENDPOINT_HALT 0u /* feature selector */

#define USB_ENDPOINT_XFER_CONTROL 0u
#define USB_ENDPOINT_XFER_ISOC 1u
#define USB_ENDPOINT_XFER_BULK 2u
#define USB_ENDPOINT_XFER_INT 3u

#define USB_FS_MAX_PACKET 64u    /* control, bulk and interrupt at full speed */
#define USB_MAX_PACKET_ISO 1023u /* the largest data packet at full speed */

/* ---- the token interface ---- */

/* What the device answers a transaction with. */
enum usb_handshake {
    USB_ACK = 0,   /* data accepted (SETUP, OUT) or data sent (IN, the host's ACK follows) */
    USB_NAK,       /* endpoint busy: the host tries again */
    USB_STALL,     /* endpoint halted or request not supported */
    USB_NO_ANSWER, /* no device at that address or endpoint, powered down, or in reset: a bus time-out */
};

/*
 * Operations a device's USB block offers the host controller. All are called
 * on the emulator thread, from a virtual-time event. `addr` is the device
 * address the token carries and `ep` the endpoint number (0-15); a device only
 * answers tokens for its own address (DADDR) and its enabled endpoints.
 */
struct usb_device_ops {
    /* SE0 on the bus for a reset (>= 10 ms); the device sees its RESET interrupt. */
    void (*bus_reset)(void *dev);
    /* Start of frame, every 1 ms while the bus is not suspended. */
    void (*sof)(void *dev, uint16_t frame_number);
    /* The bus went idle for 3 ms (suspend), and host resume signalling. */
    void (*suspend)(void *dev);
    void (*resume)(void *dev);
    /* SETUP + DATA0 with the 8-byte request. */
    enum usb_handshake (*setup)(void *dev, uint8_t addr, uint8_t ep, const uint8_t packet[8]);
    /* OUT + DATAx: `data1` is the PID's toggle. */
    enum usb_handshake (*out)(void *dev, uint8_t addr, uint8_t ep, bool data1, const uint8_t *packet,
                              unsigned len);
    /*
     * IN: on USB_ACK the device has put DATAx in packet[0..*len) (at most
     * `max`, which is USB_MAX_PACKET_ISO) with its toggle in *data1, and has
     * seen the host's ACK.
     */
    enum usb_handshake (*in)(void *dev, uint8_t addr, uint8_t ep, uint8_t *packet, unsigned max,
                             unsigned *len, bool *data1);
};

#endif
