//! Every dataset is also an S3 bucket (`crate::compat::s3`), named `{namespace}.{name}`: which
//! datasets a bucket name names, and the refusal of a new dataset whose bucket name another has
//! (checked where datasets are made, so no surface can make two of one bucket name).

use crate::error::{Error, Result};
use crate::Core;

/// The bucket name of dataset `ns/name`.
pub fn bucket_name(ns: &str, name: &str) -> String {
    format!("{ns}.{name}")
}

/// The datasets whose bucket name is `bucket`: `(ns, name)` for each way of cutting it at a dot
/// that names a dataset.
pub async fn named(core: &Core, bucket: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (i, _) in bucket.match_indices('.') {
        let (ns, name) = (&bucket[..i], &bucket[i + 1..]);
        if !ns.is_empty() && !name.is_empty() && core.db.repo_by_path(ns, name).await?.is_some() {
            out.push((ns.to_owned(), name.to_owned()));
        }
    }
    Ok(out)
}

/// Refuses a new dataset `ns/name` whose bucket name another dataset has already (`a/b.c` and
/// `a.b/c` are both `a.b.c`): a bucket names one dataset, and nobody can take another's.
pub async fn check_new_bucket(core: &Core, ns: &str, name: &str) -> Result<()> {
    let bucket = bucket_name(ns, name);
    if named(core, &bucket)
        .await?
        .iter()
        .any(|(n, m)| (n.as_str(), m.as_str()) != (ns, name))
    {
        return Err(Error::conflict(format!(
            "{ns}/{name} would have the S3 bucket name {bucket:?} of another dataset: pick another name"
        )));
    }
    Ok(())
}
