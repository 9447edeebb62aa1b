"""snapshot_fields.py - every field of a block's struct is in the block's snapshot field list (xxx_fields() in
its .c, emu/snapshot.h), unless it is wiring (a line, a pointer, a name); the same for struct sim and struct
machine (time_fields, cpu_snapshot_save). A field added to a block later and
not saved would make a loaded snapshot go on differently from the run that saved it; this catches it at
once, by reading the sources (comments removed, one declaration per ';')."""
import os
import re
import sys

top = sys.argv[1]
pairs = [
 ('peripherals/stm32f1/rcc','stm32_rcc','rcc_fields'),('peripherals/stm32f1/rcc','stm32_rcc_osc','rcc_fields'),
 ('peripherals/stm32f1/flash','stm32_flash','flash_fields'),('peripherals/stm32f1/gpio','stm32_gpio','gpio_fields'),
 ('peripherals/stm32f1/afio','stm32_afio','afio_fields'),('peripherals/stm32f1/exti','stm32_exti','exti_fields'),
 ('peripherals/stm32f1/bkp','stm32_bkp','bkp_fields'),('peripherals/stm32f1/pwr','stm32_pwr','pwr_fields'),
 ('peripherals/stm32f1/rtc','stm32_rtc','rtc_fields'),('peripherals/stm32f1/dbgmcu','stm32_dbgmcu','dbgmcu_fields'),
 ('peripherals/stm32f1/crc','stm32_crc','crc_fields'),('peripherals/stm32f1/tim','stm32_tim','tim_fields'),
 ('peripherals/stm32f1/spi','stm32_spi','spi_fields'),('peripherals/stm32f1/dma','stm32_dma','dma_fields'),
 ('peripherals/stm32f1/dma','stm32_dma_channel','dma_fields'),
 ('peripherals/stm32f1/usart','stm32_usart','usart_fields'),('peripherals/stm32f1/adc','stm32_adc','adc_fields'),
 ('peripherals/stm32f1/usb','stm32_usb','usb_fields'),('peripherals/stm32f1/iwdg','stm32_iwdg','iwdg_fields'),
 ('peripherals/ext/sst25vf016b','sst25','sst25_fields'),('peripherals/ext/rgb_led','rgb_led','rgb_led_fields'),
 ('peripherals/ext/button','button','button_fields'),('peripherals/ext/cc3000','cc3000','cc3000_fields'),
 ('emu/nvic','nvic','nvic_fields'),
]
wiring = {'sim','name','irq','dma','dual','bus','dma_rx','dma_tx','sink','pwm','irq_up','irq_cc','irq_brk','irq_trg',
          'exti','event','out','level','dbp','pvd','rtc_clock','backup_reset','clock_change','apb1_reset','apb2_reset',
          'alarm','lsi_request','iwdg_hw','mem','opt','irq_tamper','observer','observer_opaque','net','net_ctx',
          'irq_lp','irq_hp','wakeup','ready','rcc','id','advanced'}
# the shared context: virtual time and the CPU loop's flags are the machine's (emu/machine_snapshot.c)
pairs += [('emu/sim', 'sim', 'time_fields', 'emu/machine_snapshot'),
          ('emu/sim', 'core_clock', 'time_fields', 'emu/machine_snapshot')]
wiring |= {'clock', 'hclk', 'trace', 'log_level', 'log', 'refresh', 'hclk_changed', 'invalidate_code', 'describe_pc',
           'machine', 'warned'}
# the machine: cpu_snapshot_save() saves the CPU loop's state; the rest is wiring, the run's own control, or
# saved by machine_snapshot.c (time, NVIC, SRAM, the flashes)
machine_not_state = {
    'sim', 'bus', 'nvic', 'flash', 'sram', 'sysmem', 'flash_is_mapped_file', 'periphs', 'nperiphs', 'images',
    'nimages', 'h_block', 'h_intr', 'h_insn_invalid', 'h_flash_write', 'h_div', 'h_unaligned', 'holes', 'bitband',
    'stop_reason', 'stop_requested', 'stop_wake_mask', 'exit_requested', 'exit_status', 'run_until',
    'run_end_event', 'run_ended', 'fault_addr', 'fault_is_write', 'fault_regs', 'pacing', 'speed',
    'pace_wall_start_ns', 'pace_virt_start', 'wake_lock', 'wake_cond', 'kicked', 'realtime_holds',
    'pace_was_realtime', 'services', 'nservices', 'on_reset', 'on_pace', 'wait_for_input', 'deep_sleep_kind',
    'timeout_status', 'board', 'host', 'snap_at', 'snap_take', 'snap_opaque', 'resume_in_slice', 'resume_stage',
    'resume_now', 'resume_snap_at', 'resume_frac', 'run_origin', 'debug', 'itrace_from'}
pairs += [('emu/machine', 'machine', 'cpu_snapshot_save', 'emu/cpu', machine_not_state)]
bad=0
for entry in pairs:
    base, st, fn = entry[:3]
    src = entry[3] if len(entry) > 3 else base
    not_state = wiring | (entry[4] if len(entry) > 4 else set())
    h=open(os.path.join(top, base+'.h')).read(); c=open(os.path.join(top, src+'.c')).read()
    m=re.search(r'struct %s \{(.*?)\n\};' % st, h, re.S)
    body=re.sub(r'/\*.*?\*/','',m.group(1),flags=re.S)
    body=re.sub(r'//.*','',body)
    body=re.sub(r'^\s*#.*$','',body,flags=re.M)                           # a #define inside the struct
    body=re.sub(r'struct \{[^{}]*\} (\w+)(\[[^\]]*\])?;', r'int \1;', body)  # an anonymous struct member
    body=re.sub(r'\(\*(\w+)\)\([^()]*\)', r'\1', body)                    # a function pointer
    body=re.sub(r'struct cc3000_socket \{.*?\} sockets\[[^\]]*\];','',body,flags=re.S)
    body=re.sub(r'enum \{[^}]*\} wait;','int wait;',body)
    names=[]
    for decl in body.split(';'):
        decl=decl.strip()
        if not decl: continue
        typ_names = re.sub(r'\[[^\]]*\]','',decl)
        parts=typ_names.split(',')
        first=parts[0].split()
        names.append(first[-1].lstrip('*'))
        for p in parts[1:]: names.append(p.strip().lstrip('*'))
    f=re.search(r'(static )?void %s\(.*?\n\}' % fn, c, re.S).group(0)
    for n in names:
        if n in not_state and not re.search(r'->%s\b' % n, f): continue
        if not re.search(r'(->|\.)%s\b' % n, f):
            print(f"FAIL: {base}.h: struct {st} has '{n}', which {fn}() in {src}.c does not save: a snapshot "
                  f"would lose it (add it to the field list, or to the wiring list here if it is a connection)")
            bad += 1
if bad:
    sys.exit(1)
print(f"PASS: every field of {len(pairs)} structs (the blocks, the NVIC, the shared context, the CPU loop) is in its snapshot field list or is wiring")
