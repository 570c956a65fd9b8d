//! The byte link to the host: the board's UART, or SEGGER RTT ring buffers in RAM that a debug
//! probe (or QEMU's gdbstub) reads and writes while the core runs.

#[cfg(not(feature = "rtt"))]
pub use crate::board::DefaultLink as Link;

#[cfg(feature = "rtt")]
pub use rtt::Rtt as Link;

#[cfg(feature = "rtt")]
mod rtt {
    use rtt_target::{ChannelMode, DownChannel, UpChannel};

    /// Up and down channel 0, named "gatelab", 4 KiB each: one whole frame fits either way.
    pub struct Rtt {
        up: UpChannel,
        down: DownChannel,
    }

    impl Rtt {
        pub fn open() -> Rtt {
            let channels = rtt_target::rtt_init! {
                up: {
                    0: { size: 4096, mode: ChannelMode::BlockIfFull, name: "gatelab" }
                }
                down: {
                    0: { size: 4096, name: "gatelab" }
                }
            };
            Rtt { up: channels.up.0, down: channels.down.0 }
        }

        pub fn read(&mut self, buf: &mut [u8]) -> usize {
            self.down.read(buf)
        }

        pub fn write_all(&mut self, mut data: &[u8]) {
            // BlockIfFull: waits for the host to drain the ring, never drops a frame.
            while !data.is_empty() {
                let n = self.up.write(data);
                data = &data[n..];
            }
        }
    }
}
