//! `cargo xtask bench-http` and `cargo xtask bench-instructions`: build the load benchmark
//! (`benches/load`) in release mode, run it and write `docs/performance.md` or
//! `docs/instructions.md`.

const USAGE: &str = "usage: cargo xtask bench-http [--rounds N] [--duration S] [--connections C] [--warmup S] [--configs a,b,...]\n       cargo xtask bench-instructions [--requests N] [--configs a,b,...]";

/// Runs the benchmark's `mode` with the flags it knows (it validates their values), writing `doc`.
fn bench(mode: &str, flags: &[&str], doc: &str, args: &[String]) -> Result<(), String> {
    let mut pass = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if !flags.contains(&flag.as_str()) {
            return Err(format!("unknown option {flag:?}\n{USAGE}"));
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        pass.extend([flag.clone(), value.clone()]);
    }
    let out = crate::root().join("docs").join(doc);
    let mut cmd = crate::test::cargo();
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "obs-load-bench",
        "--",
        mode,
    ])
    .args(&pass)
    .arg("--out")
    .arg(&out);
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the benchmark failed ({status})"))
    }
}

/// The load benchmark: `docs/performance.md`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let flags = [
        "--rounds",
        "--duration",
        "--connections",
        "--warmup",
        "--configs",
    ];
    bench("drive", &flags, "performance.md", args)
}

/// Instructions per request under callgrind: `docs/instructions.md`.
pub(crate) fn instructions(args: &[String]) -> Result<(), String> {
    crate::provision::ensure("valgrind", &["--version"], "valgrind")?;
    bench(
        "instructions",
        &["--requests", "--configs"],
        "instructions.md",
        args,
    )
}
