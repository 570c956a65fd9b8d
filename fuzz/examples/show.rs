//! Print a fuzz input as the target reads it: `cargo run --example show -- TARGET FILE`.

use gatelab_core::AuditRecord;
use gatelab_core::audit::jsonl;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, file] = args.as_slice() else {
        eprintln!("usage: show consent_check|scenario_parse FILE");
        std::process::exit(2);
    };
    let data = std::fs::read(file).expect("input");
    match target.as_str() {
        "consent_check" => match postcard::from_bytes::<Vec<AuditRecord>>(&data) {
            Ok(log) => {
                for r in &log {
                    println!("{}", jsonl::to_line(r));
                }
            }
            Err(e) => println!("not a postcard log: {e}"),
        },
        "scenario_parse" => match postcard::from_bytes::<gatelab_fuzz::scenario::Scenario>(&data) {
            Ok(s) => println!("{s:#?}"),
            Err(_) => println!("{}", String::from_utf8_lossy(&data)),
        },
        other => println!("no reader for {other}"),
    }
}
