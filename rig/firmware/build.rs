//! Put the selected board's memory map where cortex-m-rt's link.x looks for `memory.x`.
use std::path::PathBuf;

fn main() {
    let boards: Vec<&str> = ["qemu-mps2-an500", "nucleo-h743zi", "qemu-mps3-an547", "nucleo-n657x0"]
        .into_iter()
        .filter(|b| std::env::var_os(format!("CARGO_FEATURE_{}", b.to_uppercase().replace('-', "_"))).is_some())
        .collect();
    let board = match boards.as_slice() {
        [one] => *one,
        _ => panic!(
            "select exactly one board feature (qemu-mps2-an500, nucleo-h743zi, qemu-mps3-an547 or \
             nucleo-n657x0), e.g. --no-default-features --features nucleo-h743zi; got {boards:?}"
        ),
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let map = PathBuf::from("boards").join(board).join("memory.x");
    std::fs::copy(&map, out.join("memory.x")).unwrap_or_else(|e| panic!("{}: {e}", map.display()));
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", map.display());
    println!("cargo:rerun-if-changed=build.rs");
}
