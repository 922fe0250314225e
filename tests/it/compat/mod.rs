//! Other systems' clients, unchanged, against strata: `huggingface_hub` (`hf`; gated datasets in
//! `hf_gated`), CKAN's (`ckan`),
//! Delta Sharing's (`delta_sharing`), PyIceberg and the engines (`iceberg`), and S3 clients
//! through the S3 gateway (`s3`, `s3_more`; rclone and s3cmd in `s3_tools`).

mod ckan;
mod delta_sharing;
mod hf;
mod hf_gated;
mod iceberg;
mod iceberg_writes;
mod python_pkg;
pub mod s3;
mod s3_more;
mod s3_tools;
pub(crate) mod xet;
mod xet_chunking;
mod xet_erase;
mod xet_hostile;
