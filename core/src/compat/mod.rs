//! Other systems' client APIs, answered from strata's datasets: what their clients see of a
//! dataset, decided by the same gates as strata's own routes.

pub mod ckan;
pub mod hf;
pub mod iceberg;
pub mod s3;
