//! `cargo xtask bench-http`: builds the load benchmark (`benches/load`) in release mode, runs it
//! and writes `docs/performance.md`.

const USAGE: &str = "usage: cargo xtask bench-http [--rounds N] [--duration S] [--connections C] [--warmup S] [--configs a,b,...]";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    // Only the flags the benchmark knows pass through; it validates their values.
    let mut pass = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--rounds" | "--duration" | "--connections" | "--warmup" | "--configs" => {
                let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                pass.extend([flag.clone(), value.clone()]);
            }
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
        }
    }
    let out = crate::root().join("docs").join("performance.md");
    let mut cmd = crate::test::cargo();
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "obs-load-bench",
        "--",
        "drive",
    ])
    .args(&pass)
    .arg("--out")
    .arg(&out);
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the load benchmark failed ({status})"))
    }
}
