use rarvm_lang::{compile_str, Options};
use rarvm_runtime::{machine, process::Process};

fn run(src: &str, args: &[u64]) -> (String, Vec<u64>, String) {
    let c = match compile_str("t.et", src, &Options::default()) {
        Ok(c) => c,
        Err(d) => panic!("{}", d.render(false)),
    };
    let text = c.rasm();
    let m = rarvm_runtime::verify(c.module.clone()).unwrap();
    let mut root = Box::new(Process::new(m, 0));
    root.port.extend_from_slice(args);
    let root = machine::run(root, &mut rarvm_interp::Interp, 1_000_000_000, 1 << 24);
    (
        format!("{:?}/{:?}", root.status, root.fault),
        root.port.clone(),
        text,
    )
}

#[test]
fn smoke() {
    let (st, port, text) = run(
        "def f(x):\n    return x + 1\n\ndef main(x):\n    return f<50, 50>(x) else 0\n",
        &[41],
    );
    println!("{text}");
    assert_eq!(port, vec![42], "{st}");
}

#[test]
#[ignore]
fn show() {
    let path = std::env::var("ET").unwrap();
    let c = rarvm_lang::compile(
        &rarvm_lang::FsLoader,
        std::path::Path::new(&path),
        &Options::default(),
    )
    .unwrap_or_else(|d| panic!("{}", d.render(false)));
    println!("{}", c.rasm());
}
