//! `--decrypt` / `--age-key-file`: the age identities `weir check` and `weir build ks` decrypt
//! SOPS-encrypted objects with, found where `sops` looks for them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use weir_sops::Identities;

/// Decrypt SOPS-encrypted objects as Flux's `spec.decryption` does (age keys only).
#[derive(clap::Args, Debug, Clone)]
pub struct DecryptArgs {
    /// Decrypt SOPS-encrypted objects of Kustomizations with spec.decryption (and the root sync),
    /// so encrypted substituteFrom Secrets give real variables. Keys: --age-key-file, else
    /// SOPS_AGE_KEY and SOPS_AGE_KEY_FILE, else sops's own key file (~/.config/sops/age/keys.txt).
    /// Decrypted values appear in `weir build ks` output; never in findings.
    #[arg(long)]
    decrypt: bool,
    /// An age key file (lines of AGE-SECRET-KEY-1…, as age-keygen writes); implies --decrypt.
    #[arg(long, value_name = "FILE")]
    age_key_file: Option<PathBuf>,
}

/// sops's default key file: `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`.
fn default_key_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("sops/age/keys.txt"))
}

fn read_file(ids: &mut Identities, path: &Path, origin: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the age key file {} ({origin})", path.display()))?;
    ids.add(&text)
        .with_context(|| format!("age key file {} ({origin})", path.display()))
}

impl DecryptArgs {
    /// The identities to decrypt with, or `None` without `--decrypt`.
    pub fn identities(&self) -> anyhow::Result<Option<Arc<Identities>>> {
        if !self.decrypt && self.age_key_file.is_none() {
            return Ok(None);
        }
        let mut ids = Identities::default();
        let mut looked = Vec::new();
        if let Some(path) = &self.age_key_file {
            read_file(&mut ids, path, "--age-key-file")?;
        } else {
            if let Some(text) = std::env::var_os("SOPS_AGE_KEY") {
                // Like sops: comment lines skipped, several keys may share a line.
                let text = text
                    .to_string_lossy()
                    .lines()
                    .filter(|l| !l.trim_start().starts_with('#'))
                    .flat_map(str::split_whitespace)
                    .collect::<Vec<_>>()
                    .join("\n");
                ids.add(&text)
                    .context("the SOPS_AGE_KEY environment variable")?;
            }
            looked.push("SOPS_AGE_KEY".to_string());
            if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE") {
                read_file(&mut ids, Path::new(&path), "SOPS_AGE_KEY_FILE")?;
            }
            looked.push("SOPS_AGE_KEY_FILE".to_string());
            if let Some(path) = default_key_file() {
                if path.is_file() {
                    read_file(&mut ids, &path, "sops's default key file")?;
                }
                looked.push(path.display().to_string());
            }
        }
        if ids.is_empty() {
            bail!(
                "--decrypt: no age identity found (looked in {}); pass --age-key-file FILE or set SOPS_AGE_KEY_FILE",
                if looked.is_empty() {
                    "--age-key-file".to_string()
                } else {
                    looked.join(", ")
                }
            );
        }
        Ok(Some(Arc::new(ids)))
    }
}
