//! `cargo run -p weir-kustomize --example kbuild -- DIR`: prints the build of DIR as kustomize would.

use std::path::PathBuf;
use std::process::ExitCode;

use weir_kustomize::{BuildOptions, DiskFs, build_output};

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: kbuild DIR");
        return ExitCode::from(2);
    };
    match build_output(&DiskFs::new(), &dir, None, &BuildOptions::default()) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("{w}");
            }
            print!("{}", weir_yaml::to_string_multi(&out.resources));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
