//! Other systems' client APIs on strata's port, so their stock clients work against it: the
//! Hugging Face Hub's ([`hf`]). Their routes are theirs (not under `/api/v1`, not in strata's
//! OpenAPI document); the domain answers them (`strata_core::compat`).

pub mod ckan;
pub mod delta_sharing;
pub mod hf;
mod hf_access;
mod hf_paths;
mod hf_repos;
pub mod iceberg;
pub mod s3;
pub mod xet;
