//! Records the commit the binary was built from (`git rev-parse --short
//! HEAD`) as `BREAKWATER_COMMIT`, for `--version` and `run.txt`, so a
//! report names the seed + scenario + commit that replays it. Without git
//! (a source tarball) it is "unknown"; the build never fails for it.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BREAKWATER_COMMIT={commit}");
    // Rebuild when HEAD moves; only name files that exist, or cargo would
    // rerun this script on every build.
    let git = Path::new("../.git");
    for file in ["HEAD", "packed-refs"] {
        if git.join(file).is_file() {
            println!("cargo:rerun-if-changed={}", git.join(file).display());
        }
    }
    if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
        if let Some(reference) = head.trim().strip_prefix("ref: ") {
            if git.join(reference).is_file() {
                println!("cargo:rerun-if-changed={}", git.join(reference).display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
