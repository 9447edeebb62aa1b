/*
 * bootrom.c - the project's own Spark Core boot ROM: at every reset it decides
 * between starting the firmware at 0x08005000, applying an over-the-air
 * update, restoring the backup or factory image from external flash, and DFU
 * mode, exactly as a firmware and a user can observe the Core's factory
 * bootloader (spark/bootloader 3683099) doing it.
 *
 * Design decision: the decision is made first, as a plain struct of requests
 * filled in the original's order of precedence (flags page and BKP_DR10, the
 * factory-reset flag, the watchdog-recovery ladder in BKP_DR1, then the MODE
 * button held at reset), and only then carried out. Every path that rewrites
 * the firmware ends in finish_update() and a system reset, so the next boot
 * decides again from the flags it left; a copy that fails stops in DFU mode
 * without marking the firmware valid.
 */
#include "boot.h"

/* (MSP & mask) == SRAM start: the image's word 0 is a plausible stack pointer. */
#define FIRMWARE_STACK_MASK 0x2FFE0000u
#define BUTTON_DFU_MS 3000u
#define BUTTON_FACTORY_RESET_MS 10000u
#define COPY_CHUNK_BYTES 256u

struct boot_request {
    bool run_firmware;     /* 0x5000: the firmware is valid */
    bool ota_available;    /* 0x0005: an update waits in external flash */
    bool restore_backup;   /* 0x5555, or the first watchdog recovery step */
    bool factory_reset;    /* Factory_Reset_SysFlag, button 10 s, or recovery step 2 */
    bool dfu;              /* nothing valid, button 3 s, or recovery step 3 */
};

static bool boot_mode_is(const struct system_flags *flags, uint16_t boot_mode, uint16_t value)
{
    return boot_mode == value || flags->flash_ota_update == value;
}

/* BKP_DR10 or FLASH_OTA_Update_SysFlag, whichever names a mode, in this order. */
static void request_from_flags(struct boot_request *request, const struct system_flags *flags)
{
    uint16_t boot_mode = backup_read(BKP_BOOT_MODE);

    if (boot_mode_is(flags, boot_mode, FLAG_RUN_FIRMWARE))
        request->run_firmware = true;
    else if (boot_mode_is(flags, boot_mode, FLAG_OTA_READY))
        request->ota_available = true;
    else if (boot_mode_is(flags, boot_mode, FLAG_OTA_COPYING))
        request->restore_backup = true;
    else
        request->dfu = true;
    if (flags->factory_reset == FLAG_FACTORY_RESET)
        request->factory_reset = true;
}

/*
 * The firmware writes SYS_HEALTH_OK to BKP_DR1 once it has run for a while;
 * the ROM sets it back to SYS_HEALTH_FIRST_BOOT on every start. A watchdog
 * reset that finds DR1 still at a ladder step means the firmware never got
 * healthy: restore the backup, then the factory image, then give up to DFU
 * with the firmware area erased.
 */
static void watchdog_recovery(struct boot_request *request, struct system_flags *flags)
{
    uint16_t health = backup_read(BKP_SYS_HEALTH);

    if (health == SYS_HEALTH_OK) {
        backup_write(BKP_SYS_HEALTH, SYS_HEALTH_FIRST_BOOT);
        return;
    }
    if (!reset_was_watchdog())
        return;

    request->ota_available = false;
    request->restore_backup = false;
    request->factory_reset = false;
    request->dfu = false;
    switch (health) {
    case SYS_HEALTH_FIRST_BOOT:
        request->restore_backup = true;
        backup_write(BKP_SYS_HEALTH, SYS_HEALTH_RESTORED_BACKUP);
        break;
    case SYS_HEALTH_RESTORED_BACKUP:
        request->factory_reset = true;
        backup_write(BKP_SYS_HEALTH, SYS_HEALTH_FACTORY_RESET);
        break;
    case SYS_HEALTH_FACTORY_RESET:
        request->dfu = true;
        (void)iflash_erase_firmware_area(); /* DFU follows whether or not it all erased */
        backup_write(BKP_SYS_HEALTH, SYS_HEALTH_OK);
        break;
    default: /* it got past start-up: just run it again */
        backup_write(BKP_SYS_HEALTH, SYS_HEALTH_OK);
        break;
    }
    flags->ota_flashed_status = FLAG_OTA_NOT_FLASHED;
    (void)system_flags_save(flags); /* only the OTA_FLASHED note is at stake */
    reset_flags_clear();
}

/* MODE held at reset: 3 s asks for DFU (LED yellow), 10 s for a factory reset. */
static void mode_button_at_reset(struct boot_request *request, struct system_flags *flags)
{
    uint32_t start = board_millis();

    while (mode_button_pressed()) {
        uint32_t held = board_millis() - start;

        if (held >= BUTTON_FACTORY_RESET_MS) {
            request->factory_reset = true;
            flags->nvmem_spark_reset = FLAG_NVMEM_WIPE_PROFILES;
            return;
        }
        if (held >= BUTTON_DFU_MS && !request->dfu) {
            led_set(LED_YELLOW, LED_BLINK_DFU_MS);
            request->dfu = true;
        }
        board_idle();
    }
}

/* Internal flash <- external flash at `source`, the whole firmware area. */
static bool firmware_restore(uint32_t source)
{
    uint16_t chunk[COPY_CHUNK_BYTES / sizeof(uint16_t)];

    if (iflash_erase_firmware_area() != IFLASH_OK)
        return false;
    for (uint32_t offset = 0; offset < FIRMWARE_SIZE; offset += sizeof chunk) {
        sflash_read(source + offset, chunk, sizeof chunk);
        for (size_t i = 0; i < sizeof chunk / sizeof chunk[0]; i++) {
            uint32_t address = FIRMWARE_ADDRESS + offset + i * sizeof chunk[0];

            /* The page erase already verified the erased half-words. */
            if (chunk[i] != FLAG_ERASED &&
                iflash_program_halfword(address, chunk[i]) != IFLASH_OK)
                return false;
        }
    }
    return true;
}

/* External flash backup slot <- the firmware now in internal flash. */
static bool firmware_backup(void)
{
    for (uint32_t offset = 0; offset < EXTERNAL_FLASH_SLOT_SIZE; offset += EXTERNAL_FLASH_SECTOR_SIZE) {
        if (!sflash_erase_sector(EXTERNAL_FLASH_BACKUP_ADDRESS + offset))
            return false;
    }
    return sflash_program(EXTERNAL_FLASH_BACKUP_ADDRESS, (const void *)FIRMWARE_ADDRESS,
                          FIRMWARE_SIZE);
}

/* Mark the firmware valid everywhere the next boot looks, detach USB and reset. */
static NORETURN void finish_update(struct system_flags *flags)
{
    flags->flash_ota_update = FLAG_RUN_FIRMWARE;
    /* Even if the page write failed, BKP_DR10 alone makes the next boot run the new image. */
    (void)system_flags_save(flags);
    backup_write(BKP_BOOT_MODE, FLAG_RUN_FIRMWARE);
    usb_pullup_disconnect();
    system_reset();
}

void firmware_update_finished(void)
{
    struct system_flags flags;

    /* Nothing has changed the page since main() read it: DFU mode writes no flags. */
    system_flags_load(&flags);
    finish_update(&flags);
}

/*
 * Back up the running firmware, mark the copy as started (so an interrupted
 * copy restores the backup on the next boot), then install the update.
 */
static void ota_update(struct system_flags *flags)
{
    led_set(LED_MAGENTA, LED_BLINK_COPY_MS);
    sflash_init();
    if (!firmware_backup())
        return;
    flags->flash_ota_update = FLAG_OTA_COPYING;
    if (system_flags_save(flags) != IFLASH_OK)
        return;
    backup_write(BKP_BOOT_MODE, FLAG_OTA_COPYING);
    if (!firmware_restore(EXTERNAL_FLASH_OTA_ADDRESS))
        return;
    flags->ota_flashed_status = FLAG_OTA_FLASHED;
    finish_update(flags);
}

static void factory_reset(struct system_flags *flags)
{
    led_set(LED_WHITE, LED_BLINK_COPY_MS);
    sflash_init();
    if (!firmware_restore(EXTERNAL_FLASH_FACTORY_ADDRESS))
        return;
    flags->factory_reset = FLAG_ERASED;
    finish_update(flags);
}

static void backup_restore(struct system_flags *flags)
{
    led_set(LED_RED, LED_BLINK_COPY_MS);
    sflash_init();
    if (!firmware_restore(EXTERNAL_FLASH_BACKUP_ADDRESS))
        return;
    finish_update(flags);
}

/* Returns only if the firmware area holds no plausible image. */
static void firmware_start_if_valid(void)
{
    uint32_t stack = REG32(FIRMWARE_ADDRESS);

    if ((stack & FIRMWARE_STACK_MASK) != SRAM_BASE)
        return;
    /* Firmware waking into Stop mode must not be reset by a watchdog it cannot feed. */
    if ((backup_read(BKP_SLEEP_MODE) >> SLEEP_STOP_MODE_SHIFT) != SLEEP_STOP_MODE_NIBBLE)
        watchdog_start();
    firmware_start(FIRMWARE_ADDRESS);
}

/*
 * The USB DFU device (docs: spark-core-hardware.md section 8): DfuSe on the
 * internal and external flash, starting in dfuERROR/errFIRMWARE. From here
 * on the USB interrupt does all the work (usb.c, dfu.c).
 */
static void usb_dfu_start(void)
{
    dfu_init();
    usb_init();
}

static NORETURN void dfu_mode(void)
{
    led_set(LED_YELLOW, LED_BLINK_DFU_MS);
    iflash_unlock();
    usb_pullup_disconnect();
    sflash_init();
    usb_pullup_connect();
    usb_clock_enable();
    usb_dfu_start();
    for (;;)
        board_idle();
}

int main(void)
{
    struct boot_request request = {0};
    struct system_flags flags;

    board_init_clocks();
    if (backup_read(BKP_SLEEP_MODE) == SLEEP_STANDBY_REQUEST) {
        backup_write(BKP_SLEEP_MODE, SLEEP_NONE);
        standby_enter();
    }
    board_init();
    system_flags_load(&flags);

    request_from_flags(&request, &flags);
    watchdog_recovery(&request, &flags);
    mode_button_at_reset(&request, &flags);

    if (request.ota_available) {
        ota_update(&flags);
    } else if (request.factory_reset) {
        factory_reset(&flags);
    } else if (!request.dfu) {
        if (request.restore_backup)
            backup_restore(&flags);
        else if (request.run_firmware)
            firmware_start_if_valid();
    }
    dfu_mode();
}
