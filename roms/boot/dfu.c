/*
 * dfu.c - DFU 1.1 with ST's DfuSe extensions on interface 0, as the Core's
 * bootloader 3683099 answers them (docs: spark-core-hardware.md 8.2-8.3):
 * DNLOAD block 0 carries a DfuSe command, blocks >= 2 carry data for
 * address pointer + (block - 2) * wTransferSize, and the address, not the
 * alternate setting, picks the memory: 0x08xxxxxx the STM32's flash,
 * 0x00xxxxxx the SPI flash, anything else none.
 *
 * Design decision: DNLOAD only stores its block. The GETSTATUS that follows
 * answers dfuDNBUSY with the memory's poll time, and the command, erase or
 * write runs once that GETSTATUS's status stage has completed (from usb.c's
 * interrupt), so the host is already waiting when the work starts; the next
 * GETSTATUS reports how it went. Manifestation works the same way: GETSTATUS
 * answers dfuMANIFEST, and its status stage marks the firmware valid and
 * resets the chip through the ROM's usual end of an update.
 *
 * bwPollTimeout, and the status bytes in general: the original (ST's DFU
 * demo) keeps the six GETSTATUS bytes from one request to the next and sets
 * the poll time in two places only: on entering dfuDNBUSY (the timing table
 * below for the memory the address pointer selects at that moment, i.e.
 * before a SET_ADDRESS_POINTER or ERASE in the waiting block moves it: the
 * erase time if the block is an ERASE command, the write time for any other
 * block; 0 if the pointer is in no memory) and on entering dfuMANIFEST
 * (1 ms). Every other state change clears it. So it reads 0 in dfuIDLE,
 * dfuDNLOAD_SYNC, dfuDNLOAD_IDLE, dfuUPLOAD_IDLE and dfuERROR, and a
 * GETSTATUS repeated in dfuDNBUSY repeats the busy time; this file does the
 * same. bStatus changes only on entering dfuERROR, CLRSTATUS and ABORT, and
 * iString is always 0.
 *
 * Where this ROM differs from the original, on purpose: a block that does
 * not fit its memory, or whose address is in no memory, ends in dfuERROR
 * with errADDRESS and writes nothing (the original reports OK); so does a
 * SET_ADDRESS_POINTER or ERASE to an address in no memory, and the pointer
 * keeps its last valid value (the original takes any address); a failed
 * erase or write ends in dfuERROR with the matching status (the original
 * ignores it); every class request to the DFU interface that the ROM
 * STALLs (one the state does not allow, DETACH, an unknown bRequest, the
 * wrong direction, wLength or more than wTransferSize bytes) enters
 * dfuERROR with errSTALLEDPKT, as DFU 1.1 appendix A has it, where the
 * original stalls and keeps its state.
 */
#include "boot.h"

#define DFU_INTERFACE 0u
#define DFU_STATUS_LENGTH 6u
#define DFU_MANIFEST_POLL_MS 1u

/* Class requests (DFU 1.1 table 3.2). */
enum dfu_request {
    DFU_DETACH = 0,
    DFU_DNLOAD = 1,
    DFU_UPLOAD = 2,
    DFU_GETSTATUS = 3,
    DFU_CLRSTATUS = 4,
    DFU_GETSTATE = 5,
    DFU_ABORT = 6,
};

/* bState (DFU 1.1 6.1.2). */
enum dfu_state {
    appIDLE = 0,
    appDETACH = 1,
    dfuIDLE = 2,
    dfuDNLOAD_SYNC = 3,
    dfuDNBUSY = 4,
    dfuDNLOAD_IDLE = 5,
    dfuMANIFEST_SYNC = 6,
    dfuMANIFEST = 7,
    dfuMANIFEST_WAIT_RESET = 8,
    dfuUPLOAD_IDLE = 9,
    dfuERROR = 10,
};

/* bStatus (DFU 1.1 6.1.2). */
enum dfu_status {
    OK = 0x00,
    errTARGET = 0x01,
    errFILE = 0x02,
    errWRITE = 0x03,
    errERASE = 0x04,
    errCHECK_ERASED = 0x05,
    errPROG = 0x06,
    errVERIFY = 0x07,
    errADDRESS = 0x08,
    errNOTDONE = 0x09,
    errFIRMWARE = 0x0A,
    errVENDOR = 0x0B,
    errUSBR = 0x0C,
    errPOR = 0x0D,
    errUNKNOWN = 0x0E,
    errSTALLEDPKT = 0x0F,
};

/* DfuSe commands in DNLOAD block 0 (UM0391): command byte, then a little-endian address. */
#define DFUSE_GET_COMMANDS 0x00u
#define DFUSE_SET_ADDRESS_POINTER 0x21u
#define DFUSE_ERASE 0x41u
#define DFUSE_ADDRESS_COMMAND_LENGTH 5u
#define DFUSE_COMMAND_BLOCK 0u
#define DFUSE_DATA_BLOCK_FIRST 2u

static const uint8_t dfuse_commands[] = {DFUSE_GET_COMMANDS, DFUSE_SET_ADDRESS_POINTER, DFUSE_ERASE};

/* ---- The memories, routed by address bits 31:26 ---- */
#define MEMORY_SELECT_MASK 0xFC000000u
#define EXTERNAL_FLASH_DFU_BASE 0x00000000u

enum memory { MEMORY_NONE, MEMORY_INTERNAL_FLASH, MEMORY_EXTERNAL_FLASH };

static const struct {
    uint32_t base;
    uint32_t size;
    uint8_t erase_ms; /* bwPollTimeout for an ERASE command */
    uint8_t write_ms; /* ... for anything else */
} memories[] = {
    [MEMORY_NONE] = {0, 0, 0, 0},
    [MEMORY_INTERNAL_FLASH] = {FLASH_BASE, INTERNAL_FLASH_SIZE, 50, 50},
    [MEMORY_EXTERNAL_FLASH] = {EXTERNAL_FLASH_DFU_BASE, EXTERNAL_FLASH_SIZE, 20, 30},
};

/* Shared by the USB interrupt's calls; nothing else touches it. */
static struct {
    uint8_t state;            /* bState */
    uint8_t status;           /* bStatus */
    uint32_t poll_timeout_ms; /* bwPollTimeout, 24 bits */
    uint32_t address_pointer;
    uint16_t block_num;    /* wBlockNum of the block waiting for GETSTATUS */
    uint16_t block_length; /* its length; 0 when none waits */
    uint8_t status_reply[DFU_STATUS_LENGTH];
    uint8_t buffer[DFU_TRANSFER_SIZE];
} dfu;

static void enter_state(uint8_t state)
{
    dfu.state = state;
    dfu.poll_timeout_ms = 0;
}

static void fail(uint8_t status)
{
    enter_state(dfuERROR);
    dfu.status = status;
    dfu.block_length = 0;
}

/* A DFU request the ROM STALLs: enter dfuERROR, keeping the first error. */
static bool stall_with_error(void)
{
    fail(dfu.state == dfuERROR ? dfu.status : errSTALLEDPKT);
    return false;
}

static enum memory memory_at(uint32_t address)
{
    switch (address & MEMORY_SELECT_MASK) {
    case FLASH_BASE:
        return MEMORY_INTERNAL_FLASH;
    case EXTERNAL_FLASH_DFU_BASE:
        return MEMORY_EXTERNAL_FLASH;
    default:
        return MEMORY_NONE;
    }
}

/* Bytes from `address` to the end of its memory; 0 past the end or in no memory. */
static uint32_t memory_left(enum memory memory, uint32_t address)
{
    uint32_t offset = address - memories[memory].base;

    return offset < memories[memory].size ? memories[memory].size - offset : 0;
}

static uint8_t iflash_dfu_status(enum iflash_status status, uint8_t failed)
{
    switch (status) {
    case IFLASH_OK:
        return OK;
    case IFLASH_WRITE_PROTECTED: /* the bootloader pages of a shipped Core */
        return errWRITE;
    case IFLASH_VERIFY_ERROR:
        return failed == errERASE ? errCHECK_ERASED : errVERIFY;
    default:
        return failed;
    }
}

/* DfuSe ERASE: the 1 KiB page or 4 KiB sector that holds `address`. */
static uint8_t memory_erase(uint32_t address)
{
    enum memory memory = memory_at(address);

    if (memory_left(memory, address) == 0)
        return errADDRESS;
    if (memory == MEMORY_INTERNAL_FLASH)
        return iflash_dfu_status(iflash_erase_page(address & ~(FLASH_PAGE_SIZE - 1)), errERASE);
    return sflash_erase_sector(address & ~(EXTERNAL_FLASH_SECTOR_SIZE - 1)) ? OK : errERASE;
}

/*
 * Half-word programming. The original programs words and pads a partial last
 * word with 0xFF; a half-word of padding alone would change no erased flash,
 * so only half-words holding data are programmed, an odd last byte with 0xFF
 * above it.
 */
static uint8_t internal_flash_write(uint32_t address, const uint8_t *data, uint32_t length)
{
    if (address & 1u)
        return errADDRESS;
    for (uint32_t i = 0; i < length; i += 2) {
        uint16_t high = i + 1 < length ? data[i + 1] : 0xFFu;
        enum iflash_status status = iflash_program_halfword(address + i, (uint16_t)(data[i] | high << 8));

        if (status != IFLASH_OK)
            return iflash_dfu_status(status, errPROG);
    }
    return OK;
}

/* All or nothing: a block that does not fit its memory writes nothing. */
static uint8_t memory_write(uint32_t address, const uint8_t *data, uint32_t length)
{
    enum memory memory = memory_at(address);

    if (memory == MEMORY_NONE || length > memory_left(memory, address))
        return errADDRESS;
    if (memory == MEMORY_INTERNAL_FLASH)
        return internal_flash_write(address, data, length);
    return sflash_write(address, data, length) ? OK : errWRITE;
}

/*
 * Up to `length` bytes at `address`: the STM32's flash straight from the
 * memory map, the SPI flash read into the transfer buffer. Fewer at the end
 * of the memory. False if the address is in no memory.
 */
static bool memory_read(uint32_t address, uint16_t length, const uint8_t **data, uint16_t *actual)
{
    enum memory memory = memory_at(address);
    uint32_t left = memory_left(memory, address);

    if (memory == MEMORY_NONE)
        return false;
    *actual = length < left ? length : (uint16_t)left;
    if (memory == MEMORY_INTERNAL_FLASH) {
        *data = (const uint8_t *)(uintptr_t)address;
    } else {
        sflash_read(address, dfu.buffer, *actual);
        *data = dfu.buffer;
    }
    return true;
}

static bool memory_contains(uint32_t address)
{
    return memory_left(memory_at(address), address) != 0;
}

/*
 * Cannot wrap past 4 GiB: the pointer is always inside a memory (at most
 * 0x0801FFFF) and a block adds less than 64 MiB, so a block beyond a memory
 * is beyond it, never back at SPI flash address 0.
 */
static uint32_t block_address(uint16_t block_num)
{
    return dfu.address_pointer + (uint32_t)(block_num - DFUSE_DATA_BLOCK_FIRST) * DFU_TRANSFER_SIZE;
}

static uint32_t get_le32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

/*
 * Block 0. GET_COMMANDS needs nothing done; like the original, a mass erase
 * (a one-byte ERASE), read unprotect (0x92) and any other command are
 * ignored and report OK.
 */
static uint8_t dfuse_command(void)
{
    uint32_t address = get_le32(&dfu.buffer[1]);

    if (dfu.block_length != DFUSE_ADDRESS_COMMAND_LENGTH)
        return OK;
    switch (dfu.buffer[0]) {
    case DFUSE_SET_ADDRESS_POINTER:
        if (!memory_contains(address))
            return errADDRESS;
        dfu.address_pointer = address;
        return OK;
    case DFUSE_ERASE:
        if (!memory_contains(address))
            return errADDRESS;
        dfu.address_pointer = address; /* as the original: the pointer follows the erase */
        return memory_erase(address);
    default:
        return OK;
    }
}

/* In the status stage of the GETSTATUS that answered dfuDNBUSY. */
static void block_execute(void)
{
    uint8_t status = OK;

    if (dfu.block_num == DFUSE_COMMAND_BLOCK)
        status = dfuse_command();
    else if (dfu.block_num >= DFUSE_DATA_BLOCK_FIRST)
        status = memory_write(block_address(dfu.block_num), dfu.buffer, dfu.block_length);
    /* block 1 means nothing in DfuSe and does nothing, as on the original */
    dfu.block_length = 0;
    if (status == OK)
        enter_state(dfuDNLOAD_SYNC); /* the next GETSTATUS gives dfuDNLOAD_IDLE */
    else
        fail(status);
}

static uint8_t busy_poll_timeout_ms(void)
{
    enum memory memory = memory_at(dfu.address_pointer);
    bool erase = dfu.block_num == DFUSE_COMMAND_BLOCK && dfu.buffer[0] == DFUSE_ERASE;

    return erase ? memories[memory].erase_ms : memories[memory].write_ms;
}

static bool reply(struct usb_data_stage *stage, const uint8_t *data, uint16_t length)
{
    stage->in = data;
    stage->in_length = length;
    return true;
}

static bool dnload(const struct usb_setup *setup, struct usb_data_stage *stage)
{
    if (dfu.state != dfuIDLE && dfu.state != dfuDNLOAD_IDLE)
        return false;
    if (setup->wLength > DFU_TRANSFER_SIZE)
        return false;
    if (setup->wLength == 0) {
        /* The end of the download (dfu-util's :leave); the original takes it in dfuIDLE too. */
        enter_state(dfuMANIFEST_SYNC);
        return true;
    }
    stage->out = dfu.buffer;
    return true;
}

static bool upload(const struct usb_setup *setup, struct usb_data_stage *stage)
{
    const uint8_t *data;
    uint16_t length;

    if (dfu.state != dfuIDLE && dfu.state != dfuUPLOAD_IDLE)
        return false;
    if (setup->wLength > DFU_TRANSFER_SIZE)
        return false;
    if (setup->wLength == 0) {
        enter_state(dfuIDLE); /* the original ends the upload */
        return true;
    }
    if (setup->wValue == DFUSE_COMMAND_BLOCK) {
        data = dfuse_commands;
        length = sizeof dfuse_commands;
    } else if (setup->wValue < DFUSE_DATA_BLOCK_FIRST) {
        /* The original answers block 1 by storing 0x0F (errSTALLEDPKT) as its state. */
        return false;
    } else if (!memory_read(block_address(setup->wValue), setup->wLength, &data, &length)) {
        fail(errADDRESS);
        return false;
    }
    /* A frame shorter than asked for ends the upload (DFU 1.1 6.2). */
    enter_state(length < setup->wLength ? dfuIDLE : dfuUPLOAD_IDLE);
    return reply(stage, data, length);
}

static bool getstatus(const struct usb_setup *setup, struct usb_data_stage *stage)
{
    if (setup->wLength != DFU_STATUS_LENGTH)
        return false;
    switch (dfu.state) {
    case dfuDNLOAD_SYNC:
        if (dfu.block_length != 0) {
            dfu.state = dfuDNBUSY;
            dfu.poll_timeout_ms = busy_poll_timeout_ms();
        } else {
            enter_state(dfuDNLOAD_IDLE);
        }
        break;
    case dfuMANIFEST_SYNC:
        dfu.state = dfuMANIFEST;
        dfu.poll_timeout_ms = DFU_MANIFEST_POLL_MS;
        break;
    default:
        break;
    }
    dfu.status_reply[0] = dfu.status;
    dfu.status_reply[1] = (uint8_t)dfu.poll_timeout_ms;
    dfu.status_reply[2] = (uint8_t)(dfu.poll_timeout_ms >> 8);
    dfu.status_reply[3] = (uint8_t)(dfu.poll_timeout_ms >> 16);
    dfu.status_reply[4] = dfu.state;
    dfu.status_reply[5] = 0; /* iString */
    return reply(stage, dfu.status_reply, DFU_STATUS_LENGTH);
}

static bool clrstatus(const struct usb_setup *setup)
{
    if (setup->wLength != 0)
        return false;
    if (dfu.state == dfuERROR) {
        enter_state(dfuIDLE);
        dfu.status = OK;
    } else {
        fail(errUNKNOWN); /* the original's answer; DFU 1.1 would stall */
    }
    return true;
}

static bool abort_transfer(const struct usb_setup *setup)
{
    if (setup->wLength != 0)
        return false;
    switch (dfu.state) {
    case dfuIDLE:
    case dfuDNLOAD_SYNC:
    case dfuDNLOAD_IDLE:
    case dfuMANIFEST_SYNC:
    case dfuUPLOAD_IDLE:
        enter_state(dfuIDLE);
        dfu.status = OK;
        dfu.block_length = 0;
        break;
    default: /* dfuERROR, dfuDNBUSY, dfuMANIFEST: acknowledged and ignored, as the original does */
        break;
    }
    return true;
}

void dfu_init(void)
{
    enter_state(dfuERROR);
    dfu.status = errFIRMWARE;
    dfu.block_length = 0;
    /* Where blocks go before any SET_ADDRESS_POINTER: the firmware. */
    dfu.address_pointer = FIRMWARE_ADDRESS;
}

/* False: the request is not one the ROM takes in this state, or not well formed. */
static bool interface_request(const struct usb_setup *setup, struct usb_data_stage *stage)
{
    bool in = setup->bmRequestType & USB_DIR_IN;

    switch (setup->bRequest) {
    case DFU_DNLOAD:
        return !in && dnload(setup, stage);
    case DFU_UPLOAD:
        return in && upload(setup, stage);
    case DFU_GETSTATUS:
        return in && getstatus(setup, stage);
    case DFU_CLRSTATUS:
        return !in && clrstatus(setup);
    case DFU_GETSTATE:
        return in && setup->wLength == 1 && reply(stage, &dfu.state, 1);
    case DFU_ABORT:
        return !in && abort_transfer(setup);
    default: /* DFU_DETACH too: a device already in DFU mode has nothing to detach */
        return false;
    }
}

/*
 * DFU 1.1 appendix A: in every DFU-mode state, a request the state does not
 * list STALLs and enters dfuERROR. errSTALLEDPKT ("the device stalled an
 * unexpected request") is the status for all of them, malformed ones too,
 * so a host learns from GETSTATUS why its request failed. A request to
 * another interface is no DFU request: a plain STALL (USB 2.0 9.2.7).
 */
bool dfu_request(const struct usb_setup *setup, struct usb_data_stage *stage)
{
    if (setup->wIndex != DFU_INTERFACE)
        return false;
    return interface_request(setup, stage) || stall_with_error();
}

void dfu_data_stage_done(const struct usb_setup *setup)
{
    if (setup->bRequest != DFU_DNLOAD)
        return;
    dfu.block_num = setup->wValue;
    dfu.block_length = setup->wLength;
    dfu.state = dfuDNLOAD_SYNC;
}

void dfu_status_stage_done(const struct usb_setup *setup)
{
    if (setup->bRequest != DFU_GETSTATUS)
        return;
    if (dfu.state == dfuDNBUSY) {
        block_execute();
    } else if (dfu.state == dfuMANIFEST) {
        /* Not manifestation tolerant: wait for a reset, which the ROM makes itself. */
        enter_state(dfuMANIFEST_WAIT_RESET);
        firmware_update_finished();
    }
}
