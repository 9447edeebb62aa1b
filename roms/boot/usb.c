/*
 * usb.c - the STM32F103's USB full-speed device block (RM0008 section 23) as
 * the Core's DFU device uses it: packet memory and buffer table, control
 * transfers on endpoint 0, the standard requests (USB 2.0 section 9.4) and
 * the descriptors of docs/spark-core-hardware.md section 8.1. Class requests
 * go to dfu.c.
 *
 * Design decision: all the work happens in the USB_LP_CAN1_RX0 interrupt, one
 * control transfer at a time; the thread only waits. A request handler
 * answers in the SETUP stage with the data it has or the buffer to fill, and
 * is called again when an OUT data stage has all arrived and when the status
 * stage has completed. Whatever must wait for the host's acknowledgement
 * happens there: the new device address (USB 2.0 9.4.6), and dfu.c's flash
 * writes and manifestation, which run inside this interrupt as on the
 * original (the host polls meanwhile; SETUPs are accepted by the hardware and
 * answered afterwards).
 */
#include "boot.h"

/* Packet memory (USB local addresses): the buffer table, then endpoint 0's buffers. */
#define BTABLE_ADDRESS 0x00u
#define EP0_RX_ADDRESS 0x10u
#define EP0_TX_ADDRESS 0x50u
#define EP0_MAX_PACKET 64u

/* Above SysTick (13), as on the original: the LED stops while flash is written. */
#define USB_IRQ_PRIORITY 2u

/* The interrupts the original unmasks (every one but PMAOVR): CNTR = 0xBF00. */
#define USB_CNTR_INTERRUPTS                                                                 \
    (USB_CNTR_CTRM | USB_CNTR_WKUPM | USB_CNTR_SUSPM | USB_CNTR_ERRM | USB_CNTR_SOFM |      \
     USB_CNTR_ESOFM | USB_CNTR_RESETM)
/* ISTR flags that are only acknowledged. */
#define USB_ISTR_EVENTS                                                                     \
    (USB_ISTR_ESOF | USB_ISTR_SOF | USB_ISTR_SUSP | USB_ISTR_WKUP | USB_ISTR_ERR | USB_ISTR_PMAOVR)

/* EPnR bits that read back as written, and the value that changes nothing in the others. */
#define EPR_READ_WRITE (USB_EPR_EA_MASK | USB_EPR_EP_TYPE_MASK | USB_EPR_EP_KIND)
#define EPR_UNCHANGED (USB_EPR_CTR_RX | USB_EPR_CTR_TX) /* rc_w0 bits as 1, toggles as 0 */

/* ---- USB 2.0 chapter 9 ---- */
#define USB_REQ_GET_STATUS 0x00u
#define USB_REQ_SET_ADDRESS 0x05u
#define USB_REQ_GET_DESCRIPTOR 0x06u
#define USB_REQ_GET_CONFIGURATION 0x08u
#define USB_REQ_SET_CONFIGURATION 0x09u
#define USB_REQ_GET_INTERFACE 0x0Au
#define USB_REQ_SET_INTERFACE 0x0Bu
/* One switch key per (bmRequestType, bRequest). */
#define REQUEST(type, request) (((uint32_t)(type) << 8) | (request))

#define USB_DT_DEVICE 0x01u
#define USB_DT_CONFIGURATION 0x02u
#define USB_DT_STRING 0x03u
#define USB_DT_INTERFACE 0x04u
#define USB_DEVICE_STATUS_SELF_POWERED 0x01u
#define USB_ENDPOINT_NUMBER_MASK 0x0Fu
#define SETUP_PACKET_SIZE 8u

/* ---- The Core's DFU-mode descriptors (docs 8.1) ---- */
#define USB_VID 0x1D50u
#define USB_PID 0x607Fu
#define BCD_USB 0x0100u
#define BCD_DEVICE 0x0200u
#define CONFIGURATION_VALUE 1u
#define ALTERNATE_SETTINGS 2u /* 0: internal flash, 1: SPI flash (names only; the address routes) */
#define CONFIGURATION_TOTAL_LENGTH 36u
#define CONFIGURATION_ATTRIBUTES 0xC0u /* the original's value: self-powered by the USB spec */
#define CONFIGURATION_MAX_POWER 0x32u  /* 100 mA */
#define DFU_INTERFACE_CLASS 0xFEu      /* application specific */
#define DFU_INTERFACE_SUBCLASS 0x01u
#define DFU_INTERFACE_PROTOCOL_DFU_MODE 0x02u
#define DFU_DT_FUNCTIONAL 0x21u
#define DFU_FUNCTIONAL_LENGTH 9u
/* bitCanDnload | bitCanUpload | bitWillDetach; not manifestation tolerant */
#define DFU_ATTRIBUTES 0x0Bu
#define DFU_DETACH_TIMEOUT_MS 255u
#define BCD_DFU_VERSION_DFUSE 0x011Au

#define LOW_BYTE(x) ((uint8_t)((x) & 0xFFu))
#define HIGH_BYTE(x) ((uint8_t)((x) >> 8))

static const uint8_t device_descriptor[] = {
    18, USB_DT_DEVICE, LOW_BYTE(BCD_USB), HIGH_BYTE(BCD_USB),
    0, 0, 0, /* class, subclass, protocol: per interface */
    EP0_MAX_PACKET,
    LOW_BYTE(USB_VID), HIGH_BYTE(USB_VID), LOW_BYTE(USB_PID), HIGH_BYTE(USB_PID),
    LOW_BYTE(BCD_DEVICE), HIGH_BYTE(BCD_DEVICE),
    1, 2, 3, /* iManufacturer, iProduct, iSerialNumber */
    1,       /* bNumConfigurations */
};

enum string_index {
    STRING_LANGUAGES,
    STRING_MANUFACTURER,
    STRING_PRODUCT,
    STRING_SERIAL,
    STRING_INTERNAL_FLASH,
    STRING_EXTERNAL_FLASH,
    STRING_COUNT,
};

#define INTERFACE_DESCRIPTOR(alternate, string)                                          \
    9, USB_DT_INTERFACE, 0, (alternate), 0 /* endpoints */, DFU_INTERFACE_CLASS,         \
        DFU_INTERFACE_SUBCLASS, DFU_INTERFACE_PROTOCOL_DFU_MODE, (string)

static const uint8_t configuration_descriptor[CONFIGURATION_TOTAL_LENGTH] = {
    9, USB_DT_CONFIGURATION, LOW_BYTE(CONFIGURATION_TOTAL_LENGTH),
    HIGH_BYTE(CONFIGURATION_TOTAL_LENGTH), 1 /* interfaces */, CONFIGURATION_VALUE,
    0 /* iConfiguration */, CONFIGURATION_ATTRIBUTES, CONFIGURATION_MAX_POWER,
    INTERFACE_DESCRIPTOR(0, STRING_INTERNAL_FLASH),
    INTERFACE_DESCRIPTOR(1, STRING_EXTERNAL_FLASH),
    DFU_FUNCTIONAL_LENGTH, DFU_DT_FUNCTIONAL, DFU_ATTRIBUTES,
    LOW_BYTE(DFU_DETACH_TIMEOUT_MS), HIGH_BYTE(DFU_DETACH_TIMEOUT_MS),
    LOW_BYTE(DFU_TRANSFER_SIZE), HIGH_BYTE(DFU_TRANSFER_SIZE),
    LOW_BYTE(BCD_DFU_VERSION_DFUSE), HIGH_BYTE(BCD_DFU_VERSION_DFUSE),
};

#define LANGID_ENGLISH_US 0x0409u
#define SERIAL_DIGITS 12u
#define STRING_LENGTH_MAX 98u

/*
 * Strings as ASCII, each sent in UTF-16LE with exactly the bLength the
 * original declares; text shorter than that is followed by UTF-16 NULs
 * (the two flash layouts declare 98 bytes for 96 and 80 bytes of text).
 */
static const struct {
    const char *text;
    uint8_t length;
} strings[STRING_COUNT] = {
    [STRING_MANUFACTURER] = {"Spark Devices     ", 38},
    [STRING_PRODUCT] = {"CORE DFU ", 20},
    [STRING_SERIAL] = {NULL, 2u + 2u * SERIAL_DIGITS},
    [STRING_INTERNAL_FLASH] = {"@Internal Flash  /0x08000000/20*001Ka,108*001Kg", STRING_LENGTH_MAX},
    [STRING_EXTERNAL_FLASH] = {"@SPI Flash : SST25x/0x00000000/512*04Kg", STRING_LENGTH_MAX},
};

/* ---- Endpoint 0 state ---- */
enum ep0_stage {
    EP0_IDLE,       /* waiting for a SETUP */
    EP0_DATA_IN,    /* sending a device-to-host data stage */
    EP0_DATA_OUT,   /* receiving a host-to-device data stage */
    EP0_STATUS_IN,  /* sending the zero-length status packet */
    EP0_STATUS_OUT, /* all data sent, waiting for the host's zero-length status packet */
};

/* Shared by the interrupt's calls; nothing else touches it. */
static struct {
    enum ep0_stage stage;
    struct usb_setup setup;
    const uint8_t *in_next;
    uint16_t in_left;
    bool in_short; /* the reply is shorter than wLength: end it with a short packet */
    bool in_last;  /* the packet now in the TX buffer ends the data stage */
    uint8_t *out_next;
    uint16_t out_left;
    uint8_t configuration; /* bConfigurationValue; 0 = not configured */
    uint8_t alternate_setting;
    uint8_t reply[STRING_LENGTH_MAX];
} usb;

/* ---- Packet memory ---- */
/* Buffer table fields, with the word accesses the original makes. */
static void btable_write(uint32_t local, uint16_t value) { REG32(USB_PMA_ADDR(local)) = value; }
static uint16_t btable_read(uint32_t local) { return (uint16_t)REG32(USB_PMA_ADDR(local)); }

static void pma_write(uint32_t local, const uint8_t *from, unsigned length)
{
    for (unsigned i = 0; i < length; i += 2) {
        uint16_t half = from[i];

        if (i + 1 < length)
            half |= (uint16_t)(from[i + 1] << 8);
        REG16(USB_PMA_ADDR(local + i)) = half;
    }
}

static void pma_read(uint32_t local, uint8_t *to, unsigned length)
{
    for (unsigned i = 0; i < length; i += 2) {
        uint32_t half = REG32(USB_PMA_ADDR(local + i));

        to[i] = (uint8_t)half;
        if (i + 1 < length)
            to[i + 1] = (uint8_t)(half >> 8);
    }
}

static unsigned ep0_received_count(void)
{
    return btable_read(USB_COUNT_RX(BTABLE_ADDRESS, 0)) & USB_COUNT_RX_COUNT_MASK;
}

/* ---- Endpoint 0 register: read-modify-write that changes only what is asked ---- */
static void ep0_write_stat(uint32_t field, uint32_t wanted)
{
    uint32_t epr = USB_EPR(0);

    USB_EPR(0) = (epr & EPR_READ_WRITE) | EPR_UNCHANGED | ((epr ^ wanted) & field);
}

static void ep0_set_rx(uint32_t stat) { ep0_write_stat(USB_EPR_STAT_RX_MASK, stat << USB_EPR_STAT_RX_SHIFT); }
static void ep0_set_tx(uint32_t stat) { ep0_write_stat(USB_EPR_STAT_TX_MASK, stat << USB_EPR_STAT_TX_SHIFT); }

static void ep0_clear_ctr(uint32_t ctr)
{
    USB_EPR(0) = (USB_EPR(0) & EPR_READ_WRITE) | (EPR_UNCHANGED & ~ctr);
}

/* A request error: both directions STALL until the next SETUP, which the hardware always takes. */
static void ep0_stall(void)
{
    usb.stage = EP0_IDLE;
    ep0_set_tx(USB_EP_STALL);
    ep0_set_rx(USB_EP_STALL);
}

static void ep0_send_status(void)
{
    usb.stage = EP0_STATUS_IN;
    btable_write(USB_COUNT_TX(BTABLE_ADDRESS, 0), 0);
    ep0_set_tx(USB_EP_VALID);
}

static void ep0_send_next(void)
{
    uint16_t count = usb.in_left < EP0_MAX_PACKET ? usb.in_left : EP0_MAX_PACKET;

    pma_write(EP0_TX_ADDRESS, usb.in_next, count);
    btable_write(USB_COUNT_TX(BTABLE_ADDRESS, 0), count);
    usb.in_next += count;
    usb.in_left -= count;
    usb.in_last = count < EP0_MAX_PACKET || (usb.in_left == 0 && !usb.in_short);
    ep0_set_tx(USB_EP_VALID);
}

/* ---- Standard requests ---- */
static bool reply(struct usb_data_stage *stage, const uint8_t *data, uint16_t length)
{
    stage->in = data;
    stage->in_length = length;
    return true;
}

static void hex_digits(char *out, uint32_t value, unsigned count)
{
    for (unsigned i = count; i-- > 0; value >>= 4)
        out[i] = "0123456789ABCDEF"[value & 0xFu];
}

/*
 * The serial number as the original makes it from the unique ID
 * (Get_SerialNum): 8 hex digits of the 32-bit sum of U_ID bits 31:0 and
 * 95:64, then 4 of bits 63:48.
 */
static void serial_number(char text[SERIAL_DIGITS + 1])
{
    hex_digits(text, U_ID(0) + U_ID(2), 8);
    hex_digits(text + 8, U_ID(1) >> 16, 4);
    text[SERIAL_DIGITS] = '\0';
}

static bool string_descriptor(uint8_t index, struct usb_data_stage *stage)
{
    char serial[SERIAL_DIGITS + 1];
    const char *text;
    uint8_t length;

    if (index == STRING_LANGUAGES) {
        static const uint8_t languages[] = {4, USB_DT_STRING, LOW_BYTE(LANGID_ENGLISH_US),
                                            HIGH_BYTE(LANGID_ENGLISH_US)};
        return reply(stage, languages, sizeof languages);
    }
    if (index >= STRING_COUNT)
        return false;
    text = strings[index].text;
    length = strings[index].length;
    if (index == STRING_SERIAL) {
        serial_number(serial);
        text = serial;
    }
    usb.reply[0] = length;
    usb.reply[1] = USB_DT_STRING;
    for (unsigned i = 2; i < length; i += 2) {
        usb.reply[i] = *text != '\0' ? (uint8_t)*text++ : 0;
        usb.reply[i + 1] = 0;
    }
    return reply(stage, usb.reply, length);
}

/* The host asks with its own wLength (often more, 255 or 4096); usb.c sends no more than that. */
static bool get_descriptor(const struct usb_setup *setup, struct usb_data_stage *stage)
{
    uint8_t type = HIGH_BYTE(setup->wValue);
    uint8_t index = LOW_BYTE(setup->wValue);

    switch (type) {
    case USB_DT_DEVICE:
        return index == 0 && reply(stage, device_descriptor, sizeof device_descriptor);
    case USB_DT_CONFIGURATION:
        return index == 0 &&
               reply(stage, configuration_descriptor, sizeof configuration_descriptor);
    case USB_DT_STRING:
        return string_descriptor(index, stage);
    default: /* device qualifier, DFU functional alone, ...: not for a USB 1.0 device */
        return false;
    }
}

static bool reply_status(struct usb_data_stage *stage, uint8_t status)
{
    usb.reply[0] = status;
    usb.reply[1] = 0;
    return reply(stage, usb.reply, 2);
}

/* Chapter 9 requests, each with exactly the wIndex and wLength USB 2.0 9.4 gives it. */
static bool standard_request(const struct usb_setup *setup, struct usb_data_stage *stage)
{
    bool configured = usb.configuration != 0;

    switch (REQUEST(setup->bmRequestType, setup->bRequest)) {
    case REQUEST(USB_DIR_IN | USB_RECIP_DEVICE, USB_REQ_GET_DESCRIPTOR):
        return get_descriptor(setup, stage);
    case REQUEST(USB_DIR_OUT | USB_RECIP_DEVICE, USB_REQ_SET_ADDRESS):
        /* DADDR changes once the status stage is done (status_stage_done). */
        return setup->wValue <= USB_DADDR_ADD_MASK && setup->wIndex == 0 && setup->wLength == 0;
    case REQUEST(USB_DIR_OUT | USB_RECIP_DEVICE, USB_REQ_SET_CONFIGURATION):
        if (setup->wValue > CONFIGURATION_VALUE || setup->wIndex != 0 || setup->wLength != 0)
            return false;
        usb.configuration = (uint8_t)setup->wValue;
        usb.alternate_setting = 0;
        return true;
    case REQUEST(USB_DIR_IN | USB_RECIP_DEVICE, USB_REQ_GET_CONFIGURATION):
        if (setup->wValue != 0 || setup->wIndex != 0 || setup->wLength != 1)
            return false;
        return reply(stage, &usb.configuration, 1);
    case REQUEST(USB_DIR_IN | USB_RECIP_DEVICE, USB_REQ_GET_STATUS):
        if (setup->wValue != 0 || setup->wIndex != 0 || setup->wLength != 2)
            return false;
        return reply_status(stage, USB_DEVICE_STATUS_SELF_POWERED); /* bmAttributes 0xC0 */
    case REQUEST(USB_DIR_IN | USB_RECIP_INTERFACE, USB_REQ_GET_STATUS):
        if (!configured || setup->wValue != 0 || setup->wIndex != 0 || setup->wLength != 2)
            return false;
        return reply_status(stage, 0);
    case REQUEST(USB_DIR_IN | USB_RECIP_ENDPOINT, USB_REQ_GET_STATUS):
        /* Endpoint 0 is the only one, and a control endpoint is never halted. */
        if (setup->wValue != 0 || (setup->wIndex & ~USB_DIR_IN) != 0 || setup->wLength != 2)
            return false;
        return reply_status(stage, 0);
    case REQUEST(USB_DIR_OUT | USB_RECIP_INTERFACE, USB_REQ_SET_INTERFACE):
        /* Accepted and remembered, but the DfuSe address, not the setting, picks the memory. */
        if (!configured || setup->wValue >= ALTERNATE_SETTINGS || setup->wIndex != 0 ||
            setup->wLength != 0)
            return false;
        usb.alternate_setting = (uint8_t)setup->wValue;
        return true;
    case REQUEST(USB_DIR_IN | USB_RECIP_INTERFACE, USB_REQ_GET_INTERFACE):
        if (!configured || setup->wValue != 0 || setup->wIndex != 0 || setup->wLength != 1)
            return false;
        return reply(stage, &usb.alternate_setting, 1);
    default: /* CLEAR_FEATURE, SET_FEATURE, SET_DESCRIPTOR, SYNCH_FRAME, ...: not supported */
        return false;
    }
}

static bool is_class_request(const struct usb_setup *setup)
{
    return (setup->bmRequestType & USB_TYPE_MASK) == USB_TYPE_CLASS &&
           (setup->bmRequestType & USB_RECIP_MASK) == USB_RECIP_INTERFACE;
}

static bool request(const struct usb_setup *setup, struct usb_data_stage *stage)
{
    if ((setup->bmRequestType & USB_TYPE_MASK) == USB_TYPE_STANDARD)
        return standard_request(setup, stage);
    if (is_class_request(setup))
        return dfu_request(setup, stage);
    return false; /* vendor requests, class requests to the device or an endpoint */
}

static void data_stage_done(void)
{
    if (is_class_request(&usb.setup))
        dfu_data_stage_done(&usb.setup);
}

static void status_stage_done(void)
{
    const struct usb_setup *setup = &usb.setup;

    if (REQUEST(setup->bmRequestType, setup->bRequest) ==
        REQUEST(USB_DIR_OUT | USB_RECIP_DEVICE, USB_REQ_SET_ADDRESS))
        USB_DADDR = USB_DADDR_EF | setup->wValue;
    else if (is_class_request(setup))
        dfu_status_stage_done(setup);
}

/* ---- Endpoint 0 transactions ---- */
static void ep0_setup(void)
{
    uint8_t packet[SETUP_PACKET_SIZE];
    struct usb_data_stage stage = {0};
    struct usb_setup *setup = &usb.setup;
    unsigned count = ep0_received_count();

    /* Read before CTR_RX is cleared: until then the hardware refuses the next SETUP. */
    pma_read(EP0_RX_ADDRESS, packet, sizeof packet);
    ep0_clear_ctr(USB_EPR_CTR_RX);
    usb.stage = EP0_IDLE;
    if (count != SETUP_PACKET_SIZE) {
        ep0_stall();
        return;
    }
    setup->bmRequestType = packet[0];
    setup->bRequest = packet[1];
    setup->wValue = (uint16_t)(packet[2] | packet[3] << 8);
    setup->wIndex = (uint16_t)(packet[4] | packet[5] << 8);
    setup->wLength = (uint16_t)(packet[6] | packet[7] << 8);

    if (!request(setup, &stage)) {
        ep0_stall();
    } else if (setup->wLength == 0) {
        ep0_send_status();
    } else if (setup->bmRequestType & USB_DIR_IN) {
        if (stage.in == NULL && stage.in_length != 0) {
            ep0_stall();
            return;
        }
        usb.stage = EP0_DATA_IN;
        usb.in_next = stage.in;
        usb.in_short = stage.in_length < setup->wLength;
        usb.in_left = usb.in_short ? stage.in_length : setup->wLength;
        ep0_send_next();
        /* The host may end the data stage early with its status packet. */
        ep0_set_rx(USB_EP_VALID);
    } else if (stage.out == NULL) {
        ep0_stall();
    } else {
        usb.stage = EP0_DATA_OUT;
        usb.out_next = stage.out;
        usb.out_left = setup->wLength;
        ep0_set_rx(USB_EP_VALID);
    }
}

static void ep0_out(void)
{
    unsigned count = ep0_received_count();

    switch (usb.stage) {
    case EP0_DATA_OUT:
        if (count > usb.out_left) {
            ep0_clear_ctr(USB_EPR_CTR_RX);
            ep0_stall();
            return;
        }
        pma_read(EP0_RX_ADDRESS, usb.out_next, count);
        ep0_clear_ctr(USB_EPR_CTR_RX);
        usb.out_next += count;
        usb.out_left -= (uint16_t)count;
        if (usb.out_left == 0) {
            data_stage_done();
            ep0_send_status();
        } else if (count < EP0_MAX_PACKET) {
            ep0_stall(); /* a short packet before wLength bytes */
        } else {
            ep0_set_rx(USB_EP_VALID);
        }
        break;
    case EP0_DATA_IN:
    case EP0_STATUS_OUT:
        /* The host's status packet: the transfer is complete. */
        ep0_clear_ctr(USB_EPR_CTR_RX);
        usb.stage = EP0_IDLE;
        ep0_set_tx(USB_EP_NAK);
        ep0_set_rx(USB_EP_VALID);
        status_stage_done();
        break;
    default:
        ep0_clear_ctr(USB_EPR_CTR_RX);
        ep0_stall();
        break;
    }
}

static void ep0_in(void)
{
    ep0_clear_ctr(USB_EPR_CTR_TX);
    switch (usb.stage) {
    case EP0_DATA_IN:
        if (usb.in_last)
            usb.stage = EP0_STATUS_OUT;
        else
            ep0_send_next();
        break;
    case EP0_STATUS_IN:
        usb.stage = EP0_IDLE;
        ep0_set_rx(USB_EP_VALID);
        status_stage_done();
        break;
    default:
        break;
    }
}

static void ep0_transfer_done(void)
{
    uint32_t epr = USB_EPR(0);

    /* IN first: a data stage's last packet is acknowledged before the status OUT that follows it. */
    if (epr & USB_EPR_CTR_TX)
        ep0_in();
    if (epr & USB_EPR_CTR_RX) {
        if (epr & USB_EPR_SETUP)
            ep0_setup();
        else
            ep0_out();
    }
}

/* USB reset on the bus: endpoint 0 at the default address, nothing configured (RM0008 23.4.2). */
static void bus_reset(void)
{
    USB_BTABLE = BTABLE_ADDRESS;
    btable_write(USB_ADDR_TX(BTABLE_ADDRESS, 0), EP0_TX_ADDRESS);
    btable_write(USB_COUNT_TX(BTABLE_ADDRESS, 0), 0);
    btable_write(USB_ADDR_RX(BTABLE_ADDRESS, 0), EP0_RX_ADDRESS);
    btable_write(USB_COUNT_RX(BTABLE_ADDRESS, 0),
                 USB_COUNT_RX_BL_SIZE |
                     (EP0_MAX_PACKET / USB_COUNT_RX_BLOCK_BYTES - 1) << USB_COUNT_RX_NUM_BLOCK_SHIFT);
    USB_EPR(0) = USB_EPR_EP_TYPE_CONTROL | EPR_UNCHANGED; /* EA 0 */
    ep0_set_tx(USB_EP_NAK);
    ep0_set_rx(USB_EP_VALID);
    USB_DADDR = USB_DADDR_EF;
    usb.stage = EP0_IDLE;
    usb.configuration = 0;
    usb.alternate_setting = 0;
}

void USB_LP_CAN1_RX0_IRQHandler(void)
{
    uint32_t istr;

    /* Merely called, through the vector table as a null pointer (see vectors.c): nothing to do. */
    if ((get_ipsr() & ICSR_VECTACTIVE_MASK) != EXC_IRQ0 + USB_LP_CAN1_RX0_IRQn)
        return;
    istr = USB_ISTR;
    if (istr & USB_ISTR_RESET) {
        USB_ISTR = USB_ISTR_MASK & ~USB_ISTR_RESET;
        bus_reset();
    }
    /* Only endpoint 0 is ever enabled, so every correct transfer is one of its. */
    while ((istr = USB_ISTR) & USB_ISTR_CTR) {
        if ((istr & USB_ISTR_EP_ID_MASK) != 0 ||
            !(USB_EPR(0) & (USB_EPR_CTR_RX | USB_EPR_CTR_TX)))
            break;
        ep0_transfer_done();
    }
    /*
     * Suspend, resume, frames and bus errors need nothing from a ROM that
     * keeps its clocks running: the Core's board powers it either way.
     */
    USB_ISTR = USB_ISTR_MASK & ~(istr & USB_ISTR_EVENTS);
}

void usb_init(void)
{
    usb.stage = EP0_IDLE;
    usb.configuration = 0;
    /* Transceiver powered (PDWN clear) with the logic held in reset, then released. */
    USB_CNTR = USB_CNTR_FRES;
    USB_CNTR = 0;
    USB_ISTR = 0;
    USB_CNTR = USB_CNTR_INTERRUPTS;
    nvic_set_priority(USB_LP_CAN1_RX0_IRQn, USB_IRQ_PRIORITY << NVIC_PRIORITY_SHIFT);
    nvic_enable(USB_LP_CAN1_RX0_IRQn);
}
