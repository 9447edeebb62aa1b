/*
 * iflash.c - erasing and programming the STM32's own flash through the flash
 * program and erase controller (FPEC), and the system flags page (page 19).
 *
 * Design decision: every operation checks its own result (status bits, then
 * the flash contents) and returns it, and waits for BSY against the SysTick
 * millisecond clock rather than an iteration count, so a timeout means the
 * same thing at any clock speed. The ROM runs from the flash it programs; the
 * CPU simply stalls on fetches while BSY is set.
 */
#include "boot.h"

#define ERASE_TIMEOUT_MS 100u  /* page erase: 20 ms typical, 40 ms max */
#define PROGRAM_TIMEOUT_MS 5u  /* half-word program: 70 us max */
#define ERASED_WORD 0xFFFFFFFFu
#define FLASH_SR_CLEAR (FLASH_SR_EOP | FLASH_SR_PGERR | FLASH_SR_WRPRTERR)

void iflash_unlock(void)
{
    /* A key write while unlocked counts as a wrong sequence and locks the FPEC until reset. */
    if (FLASH_CR & FLASH_CR_LOCK) {
        FLASH_KEYR = FLASH_KEY1;
        FLASH_KEYR = FLASH_KEY2;
    }
}

static enum iflash_status wait_while_busy(uint32_t timeout_ms)
{
    uint32_t start = board_millis();
    uint32_t status;

    while (FLASH_SR & FLASH_SR_BSY) {
        if (board_millis() - start > timeout_ms)
            return IFLASH_TIMEOUT;
    }
    status = FLASH_SR;
    FLASH_SR = FLASH_SR_CLEAR;
    if (status & FLASH_SR_WRPRTERR)
        return IFLASH_WRITE_PROTECTED;
    if (status & FLASH_SR_PGERR)
        return IFLASH_PROGRAM_ERROR;
    return IFLASH_OK;
}

/* Unlocks, and finishes whatever was still running, before a new operation. */
static enum iflash_status prepare(void)
{
    enum iflash_status status;

    iflash_unlock();
    status = wait_while_busy(ERASE_TIMEOUT_MS);
    if (status == IFLASH_TIMEOUT)
        return status;
    FLASH_SR = FLASH_SR_CLEAR;
    return IFLASH_OK;
}

enum iflash_status iflash_erase_page(uint32_t address)
{
    enum iflash_status status = prepare();

    if (status != IFLASH_OK)
        return status;
    FLASH_CR |= FLASH_CR_PER;
    FLASH_AR = address;
    FLASH_CR |= FLASH_CR_STRT;
    status = wait_while_busy(ERASE_TIMEOUT_MS);
    FLASH_CR &= ~FLASH_CR_PER;
    if (status != IFLASH_OK)
        return status;
    for (uint32_t offset = 0; offset < FLASH_PAGE_SIZE; offset += sizeof(uint32_t)) {
        if (REG32(address + offset) != ERASED_WORD)
            return IFLASH_VERIFY_ERROR;
    }
    return IFLASH_OK;
}

enum iflash_status iflash_program_halfword(uint32_t address, uint16_t value)
{
    enum iflash_status status = prepare();

    if (status != IFLASH_OK)
        return status;
    FLASH_CR |= FLASH_CR_PG;
    REG16(address) = value;
    status = wait_while_busy(PROGRAM_TIMEOUT_MS);
    FLASH_CR &= ~FLASH_CR_PG;
    if (status == IFLASH_OK && REG16(address) != value)
        status = IFLASH_VERIFY_ERROR;
    return status;
}

enum iflash_status iflash_erase_firmware_area(void)
{
    for (uint32_t offset = 0; offset < FIRMWARE_SIZE; offset += FLASH_PAGE_SIZE) {
        enum iflash_status status = iflash_erase_page(FIRMWARE_ADDRESS + offset);

        if (status != IFLASH_OK)
            return status;
    }
    return IFLASH_OK;
}

/* Half-word offsets in the flags page (docs: spark-core-hardware.md 2.3). */
#define FLAG_OFFSET_CORE_FW_VERSION 0x0u
#define FLAG_OFFSET_NVMEM_SPARK_RESET 0x2u
#define FLAG_OFFSET_FLASH_OTA_UPDATE 0x4u
#define FLAG_OFFSET_OTA_FLASHED_STATUS 0x6u
#define FLAG_OFFSET_FACTORY_RESET 0x8u

void system_flags_load(struct system_flags *flags)
{
    flags->core_fw_version = REG16(SYSTEM_FLAGS_ADDRESS + FLAG_OFFSET_CORE_FW_VERSION);
    flags->nvmem_spark_reset = REG16(SYSTEM_FLAGS_ADDRESS + FLAG_OFFSET_NVMEM_SPARK_RESET);
    flags->flash_ota_update = REG16(SYSTEM_FLAGS_ADDRESS + FLAG_OFFSET_FLASH_OTA_UPDATE);
    flags->ota_flashed_status = REG16(SYSTEM_FLAGS_ADDRESS + FLAG_OFFSET_OTA_FLASHED_STATUS);
    flags->factory_reset = REG16(SYSTEM_FLAGS_ADDRESS + FLAG_OFFSET_FACTORY_RESET);
}

/* As the original bootloader writes the page: erase it, then its five half-words in order. */
enum iflash_status system_flags_save(const struct system_flags *flags)
{
    const struct {
        uint32_t offset;
        uint16_t value;
    } fields[] = {
        {FLAG_OFFSET_CORE_FW_VERSION, flags->core_fw_version},
        {FLAG_OFFSET_NVMEM_SPARK_RESET, flags->nvmem_spark_reset},
        {FLAG_OFFSET_FLASH_OTA_UPDATE, flags->flash_ota_update},
        {FLAG_OFFSET_OTA_FLASHED_STATUS, flags->ota_flashed_status},
        {FLAG_OFFSET_FACTORY_RESET, flags->factory_reset},
    };
    enum iflash_status status = iflash_erase_page(SYSTEM_FLAGS_ADDRESS);

    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && status == IFLASH_OK; i++)
        status = iflash_program_halfword(SYSTEM_FLAGS_ADDRESS + fields[i].offset, fields[i].value);
    return status;
}
