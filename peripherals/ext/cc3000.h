/*
 * cc3000.h - a TI CC3000 WiFi module stub on SPI2 (chip select PB12): the SPI
 * framing and IRQ handshake of the TI/Spark host driver, the HCI commands the
 * Spark firmware sends, an NVMEM file store, and a scripted network (N stored
 * profiles => connect + DHCP after auto-connect; DNS, sockets that never
 * receive data).
 *
 * Design decision: every response is a queued packet with the virtual time at
 * which it becomes ready, kept in time order; IRQ is a pure function of
 * (powered, chip select, head of the queue ready), re-evaluated by one event.
 * So unsolicited events scheduled long in advance (connect, DHCP) and command
 * replies interleave the way the chip would deliver them.
 */
#ifndef PERIPHERALS_EXT_CC3000_H
#define PERIPHERALS_EXT_CC3000_H

#include <stdbool.h>
#include <stdint.h>

#include "emu/periph.h"

/* HCI packet types (first byte of an HCI packet). */
#define CC3000_HCI_TYPE_CMND 0x01
#define CC3000_HCI_TYPE_DATA 0x02
#define CC3000_HCI_TYPE_PATCH 0x03
#define CC3000_HCI_TYPE_EVNT 0x04

/* SPI operation bytes (first byte of a chip-select cycle). */
#define CC3000_SPI_WRITE 0x01
#define CC3000_SPI_READ 0x03
#define CC3000_SPI_HEADER_SIZE 5

/* HCI opcodes (TI host driver names). */
enum cc3000_opcode {
    CC3000_HCI_CMND_WLAN_CONNECT = 0x0001,
    CC3000_HCI_CMND_WLAN_DISCONNECT = 0x0002,
    CC3000_HCI_CMND_WLAN_IOCTL_SET_SCANPARAM = 0x0003,
    CC3000_HCI_CMND_WLAN_IOCTL_SET_CONNECTION_POLICY = 0x0004,
    CC3000_HCI_CMND_WLAN_IOCTL_ADD_PROFILE = 0x0005,
    CC3000_HCI_CMND_WLAN_IOCTL_DEL_PROFILE = 0x0006,
    CC3000_HCI_CMND_WLAN_IOCTL_GET_SCAN_RESULTS = 0x0007,
    CC3000_HCI_CMND_EVENT_MASK = 0x0008,
    CC3000_HCI_CMND_WLAN_IOCTL_STATUSGET = 0x0009,
    CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_START = 0x000A,
    CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_STOP = 0x000B,
    CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_SET_PREFIX = 0x000C,
    CC3000_HCI_CMND_WLAN_CONFIGURE_PATCH = 0x000D,
    CC3000_HCI_CMND_NVMEM_READ = 0x0201,
    CC3000_HCI_EVNT_NVMEM_WRITE = 0x0202,
    CC3000_HCI_CMND_NVMEM_CREATE_ENTRY = 0x0203,
    CC3000_HCI_CMND_NVMEM_WRITE_PATCH = 0x0204,
    CC3000_HCI_CMND_NVMEM_SWAP_ENTRY = 0x0205,
    CC3000_HCI_CMND_READ_SP_VERSION = 0x0207,
    CC3000_HCI_EVNT_PATCHES_REQ = 0x1000,
    CC3000_HCI_CMND_SOCKET = 0x1001,
    CC3000_HCI_CMND_BIND = 0x1002,
    CC3000_HCI_EVNT_SEND = 0x1003,
    CC3000_HCI_CMND_RECV = 0x1004,
    CC3000_HCI_CMND_ACCEPT = 0x1005,
    CC3000_HCI_CMND_LISTEN = 0x1006,
    CC3000_HCI_CMND_CONNECT = 0x1007,
    CC3000_HCI_CMND_BSD_SELECT = 0x1008,
    CC3000_HCI_CMND_SETSOCKOPT = 0x1009,
    CC3000_HCI_CMND_GETSOCKOPT = 0x100A,
    CC3000_HCI_CMND_CLOSE_SOCKET = 0x100B,
    CC3000_HCI_CMND_RECVFROM = 0x100D,
    CC3000_HCI_EVNT_SENDTO = 0x100F,
    CC3000_HCI_CMND_GETHOSTNAME = 0x1010, /* gethostbyname */
    CC3000_HCI_CMND_MDNS_ADVERTISE = 0x1011,
    CC3000_HCI_CMND_GETMSSVALUE = 0x1012,
    CC3000_HCI_NETAPP_DHCP = 0x2001,
    CC3000_HCI_NETAPP_PING_SEND = 0x2002,
    CC3000_HCI_NETAPP_PING_REPORT = 0x2003,
    CC3000_HCI_NETAPP_PING_STOP = 0x2004,
    CC3000_HCI_NETAPP_IPCONFIG = 0x2005,
    CC3000_HCI_NETAPP_ARP_FLUSH = 0x2006,
    CC3000_HCI_NETAPP_SET_DEBUG_LEVEL = 0x2008,
    CC3000_HCI_NETAPP_SET_TIMERS = 0x2009,
    CC3000_HCI_CMND_SIMPLE_LINK_START = 0x4000,
    CC3000_HCI_CMND_READ_BUFFER_SIZE = 0x400B,
    CC3000_HCI_EVNT_DATA_UNSOL_FREE_BUFF = 0x4100,
    CC3000_HCI_EVNT_WLAN_UNSOL_CONNECT = 0x8001,
    CC3000_HCI_EVNT_WLAN_UNSOL_DISCONNECT = 0x8002,
    CC3000_HCI_EVNT_WLAN_UNSOL_DHCP = 0x8010,
};

/* One-byte opcodes of data packets. */
#define CC3000_HCI_CMND_SEND 0x81
#define CC3000_HCI_CMND_SENDTO 0x83
#define CC3000_HCI_DATA_RECV 0x85
#define CC3000_HCI_CMND_NVMEM_WRITE 0x90
#define CC3000_HCI_DATA_NVMEM 0x91

/* NVMEM files the Spark firmware uses. */
#define CC3000_NVMEM_MAC_FILEID 6
#define CC3000_NVMEM_AES128_KEY_FILEID 12
#define CC3000_NVMEM_SPARK_FILEID 14 /* byte 0 = number of stored WiFi profiles */
#define CC3000_NVMEM_FILES 16
#define CC3000_NVMEM_FILE_MAX 512
#define CC3000_MAC_LEN 6
#define CC3000_SPARK_FILE_LEN 16
#define CC3000_AES_KEY_LEN 16

#define CC3000_MAX_PROFILES 7
#define CC3000_MAX_SOCKETS 8
/* Largest HCI packet either way: a full send buffer plus headers. */
#define CC3000_PACKET_MAX 1600
#define CC3000_QUEUE_LEN 16

/* Timing (virtual time). */
#define CC3000_POWER_UP_TIME SIM_MS(5)        /* WLAN_EN rising -> IRQ low */
#define CC3000_WRITE_READY_DELAY SIM_US(10)   /* CS low -> IRQ low for a write */
#define CC3000_IRQ_GAP SIM_US(20)             /* IRQ high after each transfer */
#define CC3000_RESPONSE_LATENCY SIM_US(300)   /* command -> its event */
#define CC3000_NETWORK_LATENCY SIM_MS(20)     /* DNS and TCP connect round trip */
#define CC3000_CONNECT_DELAY SIM_MS(500)      /* auto-connect policy -> 0x8001 */
#define CC3000_DHCP_DELAY SIM_MS(200)         /* 0x8001 -> 0x8010 */
#define CC3000_SELECT_MAX_WAIT SIM_S(1)       /* a blocking select answers "none" */

struct cc3000_packet {
    uint64_t ready_at;
    uint16_t len;
    uint8_t data[CC3000_PACKET_MAX];
};

struct cc3000_nvmem_file {
    uint16_t size;
    uint8_t data[CC3000_NVMEM_FILE_MAX];
};

enum cc3000_transfer { CC3000_XFER_NONE = 0, CC3000_XFER_WRITE, CC3000_XFER_READ, CC3000_XFER_OTHER };

struct cc3000 {
    struct sim *sim;
    struct line irq; /* to PB11: low = the CC3000 wants service or is ready */

    /* Non-volatile: survives WLAN_EN power cycles and chip resets. */
    struct cc3000_nvmem_file nvmem[CC3000_NVMEM_FILES];
    int profiles;     /* WiFi profiles stored in the module */
    uint8_t mac[CC3000_MAC_LEN];

    /* Power and the IRQ handshake. */
    bool enabled;     /* WLAN_EN level */
    bool booted;      /* power-up finished */
    bool boot_ready;  /* IRQ held low after power-up until the first transfer */
    bool irq_low;     /* the level we drive */
    bool selected;
    uint64_t irq_quiet_until; /* IRQ stays high until then after a transfer */
    struct event boot_event, irq_event, write_ready_event;

    /* The transfer of the current chip-select cycle. */
    enum cc3000_transfer xfer;
    uint32_t xfer_count;
    uint16_t read_len;    /* payload length announced in the read header */
    uint8_t rx[CC3000_SPI_HEADER_SIZE + CC3000_PACKET_MAX];
    uint32_t rx_len;

    /* Packets for the host, in ready_at order. */
    struct cc3000_packet queue[CC3000_QUEUE_LEN];
    int queue_count;

    /* The scripted network. */
    uint64_t connected_at, dhcp_at; /* UINT64_MAX: not scheduled */
    bool sockets[CC3000_MAX_SOCKETS];
};

void cc3000_init(struct cc3000 *dev, struct sim *sim, int wifi_profiles);
/*
 * Any reset powers the module off (the STM32 reset releases PB8, so WLAN_EN
 * falls); NVMEM and the stored profiles are kept.
 */
void cc3000_reset(struct cc3000 *dev, enum reset_cause cause);
/* Replace the MAC (NVMEM file 6) by 08:00:28 (TI's OUI) + 3 bytes mixed from seed. */
void cc3000_set_mac_seed(struct cc3000 *dev, uint32_t seed);
/* Line handler for WLAN_EN (PB8): high = powered. */
void cc3000_enable_in(void *opaque, int n, bool level);

extern const struct spi_slave_ops cc3000_spi_ops;

#endif
