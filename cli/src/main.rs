//! `gatelab`: size, test and check face-recognition gates of residential compounds. The whole
//! command lives in the `gatelab_cli` library; this is only its entry point.

fn main() -> std::process::ExitCode {
    gatelab_cli::main()
}
