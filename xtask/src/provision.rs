//! Provisioning what the tests need from the machine's own packages.

use std::process::Command;

/// Whether `program` runs (`program --version` or the given probe arguments exit 0).
pub(crate) fn has(program: &str, probe: &[&str]) -> bool {
    Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure `program` exists, installing the Debian `package` with apt when running as root.
pub(crate) fn ensure(program: &str, probe: &[&str], package: &str) -> Result<(), String> {
    if has(program, probe) {
        return Ok(());
    }
    if !is_root() || !has("apt-get", &["--version"]) {
        return Err(format!(
            "`{program}` is needed by the tests: install the Debian package `{package}` (apt-get install {package})"
        ));
    }
    eprintln!("xtask: installing {package} for {program}");
    let update = Command::new("apt-get").args(["update", "-qq"]).status();
    let install = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    match (update, install) {
        (Ok(_), Ok(s)) if s.success() && has(program, probe) => Ok(()),
        _ => Err(format!(
            "apt-get could not install `{package}` for `{program}`"
        )),
    }
}
