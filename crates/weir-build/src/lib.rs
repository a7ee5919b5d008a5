//! The Flux build step, shared by `weir check` and the controller: what kustomize-controller does
//! between "the artifact is on disk" and "these objects are applied".
//!
//! - [`render`]: one Kustomization rendered from an artifact root: the spec merged as an overlay,
//!   loads confined to the root, postBuild substitution, `commonMetadata`.
//! - [`variables`]: the postBuild variables from `substitute` and `substituteFrom` ConfigMaps and
//!   Secrets (the caller fetches the objects; `optional` is honoured here).
//! - [`envsubst`]: Flux's substitution language, exactly; [`substitute`] applies it to objects.
//! - [`decryption`]: `spec.decryption`: SOPS-encrypted objects decrypted with age keys.
//! - [`artifact`]: an ArtifactGenerator's `copy` operations assembled as a virtual tree.
//!
//! ```no_run
//! use std::path::Path;
//! use weir_build::{Options, render, variables};
//! # fn ks() -> weir_api::flux::Kustomization { unimplemented!() }
//! let ks = ks();
//! let vars = variables::resolve(ks.spec.post_build.as_ref(), |_| variables::Lookup::NotFound)?;
//! let fs = weir_kustomize::DiskFs::confined(Path::new("/artifact"))?;
//! let rendered = render(&fs, Path::new("/artifact"), &ks, &vars, &Options::default())?;
//! print!("{}", weir_yaml::to_string_multi(&rendered.objects));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod artifact;
pub mod decryption;
pub mod envsubst;
pub mod render;
pub mod substitute;
pub mod variables;

pub use artifact::ArtifactFs;
pub use render::{Error as BuildError, Options, Rendered, build_dir, overlay, render};
pub use variables::{Lookup, Variables};
