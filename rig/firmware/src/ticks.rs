//! The tick counter: DWT CYCCNT where it counts (real silicon), otherwise SysTick, which under
//! QEMU `-icount` advances with instructions executed — a count, never a time.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{DCB, DWT, SCB, SYST};
use cortex_m_rt::exception;
use gatelab_core::wire::TickSource;

use crate::service::Clock;

const SYSTICK_RELOAD: u32 = 0x00FF_FFFF;
static SYSTICK_WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    SYSTICK_WRAPS.fetch_add(1, Ordering::Relaxed);
}

pub struct Ticks {
    source: TickSource,
    /// High bits of CYCCNT (which wraps every 2^32 cycles).
    dwt_high: u64,
    dwt_last: u32,
    /// The last SysTick count handed out: a count never goes back, whatever the counter did.
    systick_last: u64,
}

impl Ticks {
    /// Start the DWT cycle counter, and use it if it actually moves; else SysTick.
    pub fn start(dcb: &mut DCB, dwt: &mut DWT, mut syst: SYST) -> Ticks {
        dcb.enable_trace();
        DWT::unlock();
        dwt.enable_cycle_counter();
        let before = DWT::cycle_count();
        for _ in 0..64 {
            cortex_m::asm::nop();
        }
        let moving = DWT::has_cycle_counter() && DWT::cycle_count() != before;
        // SysTick runs in any case: it is the only counter QEMU models.
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(SYSTICK_RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        let source = if moving { TickSource::DwtCycles } else { TickSource::SysTickIcount };
        Ticks { source, dwt_high: 0, dwt_last: 0, systick_last: 0 }
    }

    fn systick() -> u64 {
        loop {
            let wraps = SYSTICK_WRAPS.load(Ordering::Acquire);
            let value = SYST::get_current();
            // The counter can reload before its exception has run (QEMU takes interrupts between
            // translation blocks): then the wrap is pending, uncounted, and the value high.
            let uncounted = SCB::is_pendst_pending() && value > SYSTICK_RELOAD / 2;
            // A wrap between the two reads would pair the new value with the old count.
            if SYSTICK_WRAPS.load(Ordering::Acquire) == wraps {
                let wraps = u64::from(wraps) + u64::from(uncounted);
                return wraps * u64::from(SYSTICK_RELOAD + 1) + u64::from(SYSTICK_RELOAD - value);
            }
        }
    }
}

impl Clock for Ticks {
    fn ticks(&mut self) -> u64 {
        match self.source {
            TickSource::DwtCycles => {
                let now = DWT::cycle_count();
                if now < self.dwt_last {
                    self.dwt_high += 1 << 32;
                }
                self.dwt_last = now;
                self.dwt_high + u64::from(now)
            }
            TickSource::SysTickIcount => {
                self.systick_last = self.systick_last.max(Ticks::systick());
                self.systick_last
            }
        }
    }
    fn source(&self) -> TickSource {
        self.source
    }
}
