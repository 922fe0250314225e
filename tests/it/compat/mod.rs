//! Other systems' clients, unchanged, against strata: `huggingface_hub` (`hf`), and S3 clients
//! through the S3 gateway (`s3`).

mod hf;
mod s3;
