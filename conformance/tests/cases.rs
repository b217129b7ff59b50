//! One test per case under `tests/cases/`, each run on every engine, plus a test that every
//! opcode in the instruction table has a case.

use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};
use rarvm_conformance::case::{find_cases, uncovered_opcodes, Case};

fn main() {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut trials: Vec<Trial> = find_cases(&dir)
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(&dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            Trial::test(name, move || {
                Case::load(&path)?.check().map_err(Failed::from)
            })
        })
        .collect();
    let cases = dir.clone();
    trials.push(Trial::test("every_opcode_has_a_case", move || {
        let missing = uncovered_opcodes(&cases);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("opcodes without a case: {}", missing.join(", ")).into())
        }
    }));
    libtest_mimic::run(&args, trials).exit();
}
