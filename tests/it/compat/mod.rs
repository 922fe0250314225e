//! Other systems' clients, unchanged, against strata: `huggingface_hub` (`hf`), and S3 clients
//! through the S3 gateway (`s3`).

mod hf;
pub mod s3;
mod s3_more;
