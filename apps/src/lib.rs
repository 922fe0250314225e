//! Apps, without HTTP or SQL: an app's manifest ([`Manifest`], TOML, validated with clear
//! messages) and the process runner ([`process`]) that starts an instance in its own process group
//! on a port of 127.0.0.1 with a clean environment, keeps its log lines in a bounded buffer,
//! pauses and resumes it, and stops it with everything it started, each instance in a Landlock
//! [`sandbox`] that keeps it out of strata's data; the Kubernetes runner
//! ([`kube`]: a Deployment per (user, app) scaled between 0 and 1); and the [`lifecycle`] of
//! instances per (user, app): one start under concurrent requests, idle stops, per-user limits.
//! A manifest's [`access`]: roles mapped into the app, who may install it, its declared workload.
//! A [`job`] declared in a dataset: validated here, run by strata's core.

pub mod access;
pub mod job;
pub mod kube;
pub mod lifecycle;
pub mod manifest;
pub mod process;
pub mod sandbox;

pub use access::{Roles, Workload};
pub use lifecycle::{OnIdle, Status, Supervisor};
pub use manifest::{image_digest, Changes, Manifest, ManifestError, Prefix, Runner};
