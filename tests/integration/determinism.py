"""Same images and inputs give the same trace, byte for byte, at any pacing: --speed max and --speed 8."""
import filecmp
from sparktest import Run, check, firmware, ok

args = ["--firmware", firmware("core_tinker.bin"), "--wifi-profiles", "1", "--press", "mode@1500ms+200ms",
        "--run-for", "2500ms"]
fast = Run(args + ["--speed", "max"])
paced = Run(args + ["--speed", "8"])
check(len(fast.records) > 50, f"too few trace records to compare: {len(fast.records)}")
check(filecmp.cmp(fast.trace_path, paced.trace_path, shallow=False),
      f"traces differ between --speed max and --speed 8: {fast.trace_path} {paced.trace_path}")
ok(f"{len(fast.records)} identical trace records at --speed max and --speed 8")
