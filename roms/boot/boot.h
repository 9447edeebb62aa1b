/*
 * boot.h - what the boot ROM's files share: the Spark Core's wiring and
 * memory layout, and the board, internal-flash and external-flash functions.
 *
 * Design decision: the ROM is written from the documented facts of the Spark
 * Core bootloader's observable behaviour (docs/spark-core-hardware.md sections
 * 2-8), not from its sources; every number below is one of those facts, named
 * once here. Functions that can fail return a status; the decision logic in
 * bootrom.c chooses what a failure means.
 */
#ifndef BOOT_BOOT_H
#define BOOT_BOOT_H

#include "stm32f1.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NORETURN __attribute__((noreturn))

/* ---- Internal flash layout ---- */
#define INTERNAL_FLASH_SIZE 0x20000u     /* 128 KiB: STM32F103CB */
#define SYSTEM_FLAGS_ADDRESS 0x08004C00u /* page 19 */
#define FIRMWARE_ADDRESS 0x08005000u     /* pages 20-127 */
#define FIRMWARE_SIZE 0x1B000u           /* 108 KiB: up to the end of the 128 KiB part */

/* ---- External flash (SST25VF016B) layout ---- */
#define EXTERNAL_FLASH_SIZE 0x200000u /* 2 MiB */
#define EXTERNAL_FLASH_FACTORY_ADDRESS 0x020000u
#define EXTERNAL_FLASH_BACKUP_ADDRESS 0x040000u
#define EXTERNAL_FLASH_OTA_ADDRESS 0x060000u
#define EXTERNAL_FLASH_SLOT_SIZE 0x20000u /* each image slot; only FIRMWARE_SIZE is used */
#define EXTERNAL_FLASH_SECTOR_SIZE 0x1000u

/* ---- System flags page values (half-words) ---- */
#define FLAG_RUN_FIRMWARE 0x5000u    /* FLASH_OTA_Update_SysFlag / BKP_DR10 */
#define FLAG_OTA_READY 0x0005u       /* an OTA image waits in external flash */
#define FLAG_OTA_COPYING 0x5555u     /* an OTA copy began: restore the backup */
#define FLAG_FACTORY_RESET 0xAAAAu   /* Factory_Reset_SysFlag: firmware asks for one */
#define FLAG_ERASED 0xFFFFu
#define FLAG_NVMEM_WIPE_PROFILES 0x0001u /* NVMEM_SPARK_Reset_SysFlag */
#define FLAG_OTA_FLASHED 0x0001u     /* OTA_FLASHED_Status_SysFlag after an OTA */
#define FLAG_OTA_NOT_FLASHED 0x0000u

/*
 * The half-words the Core bootloader owns, in page order. Saving rewrites
 * exactly these (the rest of the page reads erased afterwards), as the
 * original bootloader does; later firmware fields beyond +0x9 do not survive
 * a bootloader save on a real Core either.
 */
struct system_flags {
    uint16_t core_fw_version;    /* +0x0 CORE_FW_Version_SysFlag (kept as found) */
    uint16_t nvmem_spark_reset;  /* +0x2 NVMEM_SPARK_Reset_SysFlag */
    uint16_t flash_ota_update;   /* +0x4 FLASH_OTA_Update_SysFlag */
    uint16_t ota_flashed_status; /* +0x6 OTA_FLASHED_Status_SysFlag */
    uint16_t factory_reset;      /* +0x8 Factory_Reset_SysFlag */
};

/* ---- Backup registers ---- */
#define BKP_SYS_HEALTH 1u  /* BKP_DR1 */
#define BKP_SLEEP_MODE 9u  /* BKP_DR9 */
#define BKP_BOOT_MODE 10u  /* BKP_DR10 */

#define SYS_HEALTH_OK 0xFFFFu          /* firmware proved itself healthy */
#define SYS_HEALTH_FIRST_BOOT 1u       /* set before each start of healthy firmware */
#define SYS_HEALTH_RESTORED_BACKUP 2u  /* the backup was restored after a watchdog reset */
#define SYS_HEALTH_FACTORY_RESET 3u    /* then the factory image */
#define SLEEP_STANDBY_REQUEST 0xA5A5u  /* BKP_DR9: enter Standby on this reset */
#define SLEEP_NONE 0xFFFFu
#define SLEEP_STOP_MODE_NIBBLE 0xAu    /* BKP_DR9 bits 15..12: firmware runs Stop mode */
#define SLEEP_STOP_MODE_SHIFT 12

/* ---- RGB LED colours (0xRRGGBB) ---- */
#define LED_RED 0xFF0000u
#define LED_YELLOW 0xFFFF00u
#define LED_MAGENTA 0xFF00FFu
#define LED_WHITE 0xFFFFFFu
#define LED_BLINK_DFU_MS 100u
#define LED_BLINK_COPY_MS 50u

/* ---- board.c: clocks, pins, LED, button, time, watchdog, resets ---- */
/* SYSCLK 72 MHz, VTOR, and write access to the backup registers. */
void board_init_clocks(void);
/* Pins, LED, MODE button and the 1 ms SysTick; after board_init_clocks(). */
void board_init(void);
/* One pin's CRL/CRH field (GPIO_MODE_*); its port clock must be on. */
void gpio_configure(uint32_t port, unsigned pin, uint32_t mode);
void gpio_set(uint32_t port, unsigned pin);
void gpio_reset(uint32_t port, unsigned pin);
/* Milliseconds since board_init(), counted by the SysTick interrupt. */
uint32_t board_millis(void);
/* Shows `rgb` now and, if blink_ms is non-zero, toggles it every blink_ms. */
void led_set(uint32_t rgb, uint32_t blink_ms);
bool mode_button_pressed(void);
/* Waits for the next interrupt (SysTick at the latest, 1 ms). */
void board_idle(void);
void usb_pullup_connect(void);
void usb_pullup_disconnect(void);
void usb_clock_enable(void);
/* BKP_DR1..DR10 (16 bits each); writable once board_init_clocks() has set DBP. */
uint16_t backup_read(unsigned reg);
void backup_write(unsigned reg, uint16_t value);
bool reset_was_watchdog(void);
void reset_flags_clear(void);
NORETURN void standby_enter(void);
void watchdog_start(void);
NORETURN void system_reset(void);
/*
 * Starts the image whose vector table is at `vectors`, as the Core bootloader
 * does: privileged thread mode on MSP = word 0, PC = word 1, interrupts
 * enabled, peripherals left configured; only the ROM's own SysTick interrupt
 * is turned off first so that no ROM handler runs on the firmware's RAM.
 */
NORETURN void firmware_start(uint32_t vectors);

/* ---- iflash.c: the flash interface (FPEC) and the system flags page ---- */
enum iflash_status {
    IFLASH_OK = 0,
    IFLASH_TIMEOUT,        /* BSY did not clear in time */
    IFLASH_WRITE_PROTECTED, /* WRPRTERR */
    IFLASH_PROGRAM_ERROR,  /* PGERR: target not erased */
    IFLASH_VERIFY_ERROR,   /* read back differs from what was written */
};
void iflash_unlock(void);
enum iflash_status iflash_erase_page(uint32_t address);
enum iflash_status iflash_program_halfword(uint32_t address, uint16_t value);
enum iflash_status iflash_erase_firmware_area(void);
void system_flags_load(struct system_flags *flags);
enum iflash_status system_flags_save(const struct system_flags *flags);

/* ---- sflash.c: the SST25VF016B on SPI2 ---- */
/* Configures SPI2 and its pins, and clears the chip's block protection. */
void sflash_init(void);
void sflash_read(uint32_t address, void *buffer, size_t length);
bool sflash_erase_sector(uint32_t address);
/* Programs `length` bytes (even) at an even address with AAI word programming. */
bool sflash_program(uint32_t address, const void *data, size_t length);
/*
 * Programs any `length` at any address, as the 2014 driver does: a byte
 * program for a leading odd address, AAI for the even part, a byte program
 * for a trailing odd byte.
 */
bool sflash_write(uint32_t address, const void *data, size_t length);

/* ---- bootrom.c ---- */
/*
 * The end of every update, DFU manifestation included: marks the firmware
 * valid (flags page and BKP_DR10), detaches from USB and resets.
 */
NORETURN void firmware_update_finished(void);

/* ---- usb.c: the USB device on endpoint 0 (USB 2.0 chapter 9) ---- */
/* bmRequestType (USB 2.0 table 9-2) */
#define USB_DIR_OUT 0x00u
#define USB_DIR_IN 0x80u
#define USB_TYPE_MASK 0x60u
#define USB_TYPE_STANDARD 0x00u
#define USB_TYPE_CLASS 0x20u
#define USB_RECIP_MASK 0x1Fu
#define USB_RECIP_DEVICE 0x00u
#define USB_RECIP_INTERFACE 0x01u
#define USB_RECIP_ENDPOINT 0x02u

/* A SETUP packet, fields in host order. */
struct usb_setup {
    uint8_t bmRequestType;
    uint8_t bRequest;
    uint16_t wValue;
    uint16_t wIndex;
    uint16_t wLength;
};

/*
 * A request handler's answer in the SETUP stage: for a device-to-host request
 * the data it has (usb.c sends at most wLength of it, and ends a shorter
 * reply with a short packet); for a host-to-device one the buffer that takes
 * the wLength bytes of the data stage.
 */
struct usb_data_stage {
    const uint8_t *in;
    uint16_t in_length;
    uint8_t *out;
};

/* Powers the USB block up and unmasks its interrupts; the host's bus reset starts endpoint 0. */
void usb_init(void);

/* ---- dfu.c: DFU 1.1 with the DfuSe extensions, on interface 0 ---- */
#define DFU_TRANSFER_SIZE 1024u /* wTransferSize */

/* dfuERROR / errFIRMWARE, as a Core enters DFU mode. */
void dfu_init(void);
/* A class request to the interface, in its SETUP stage; false: STALL it. */
bool dfu_request(const struct usb_setup *setup, struct usb_data_stage *stage);
/* The data stage of an accepted host-to-device request has all arrived. */
void dfu_data_stage_done(const struct usb_setup *setup);
/* The status stage of an accepted request has completed; may not return. */
void dfu_status_stage_done(const struct usb_setup *setup);

#endif
