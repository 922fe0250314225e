//! Azure encryption scopes: what strata can check of them. A SAS URL cannot carry a scope a
//! client must keep, and `object_store`'s own writes send none, so the guarantee has to come from
//! the container: its default encryption scope, with overrides denied. [`CloudStore::
//! check_encryption_scope`] proves it at start by writing a probe blob and asking which scope
//! Azure put it in.

use std::time::Duration;

use object_store::ObjectStoreExt;

use super::CloudStore;

impl CloudStore {
    /// Writes a probe blob the way strata and its clients write (no scope asked for), reads the
    /// scope Azure encrypted it with (`x-ms-encryption-scope`), and removes it. An error, saying
    /// what to change, unless that is `scope`.
    pub async fn check_encryption_scope(&self, scope: &str) -> Result<(), String> {
        let key = self.prefixed(".strata-encryption-probe");
        let fail = |e: &dyn std::fmt::Display| format!("checking encryption scope {scope}: {e}");
        self.store
            .put(&key, bytes::Bytes::from_static(b"probe").into())
            .await
            .map_err(|e| fail(&e))?;
        let signed = self
            .presign("GET", key.as_ref(), &[], Duration::from_secs(60))
            .await
            .map_err(|e| fail(&e));
        let found = match signed {
            Ok(signed) => self
                .http
                .head(&signed.url)
                .send()
                .await
                .map_err(|e| fail(&e))
                .map(|r| {
                    r.headers()
                        .get("x-ms-encryption-scope")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                }),
            Err(e) => Err(e),
        };
        let _ = self.store.delete(&key).await;
        match found? {
            Some(found) if found == scope => Ok(()),
            found => {
                Err(format!(
                "blobs written to this container land in encryption scope {}, not {scope}: make \
                 {scope} the container's default encryption scope and deny overrides \
                 (az storage container create --default-encryption-scope {scope} \
                 --prevent-encryption-scope-override true)",
                found.as_deref().unwrap_or("(none named: the account's key)")
            ))
            }
        }
    }
}
