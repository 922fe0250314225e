//! The configuration's own tests.

use super::*;

/// A configuration printed with `{:?}` (a start-up error, a debugger) shows no key and no
/// database password, and says the secrets are there.
#[test]
fn debug_output_redacts_secrets() {
    let mut config = Config::with_data_dir("/tmp/strata");
    config.database_url = Some("postgres://strata:db-password@db/strata".into());
    config.s3_secret_access_key = Some("s3-secret".into());
    config.azure_access_key = Some("azure-secret".into());
    config.master_key = Some("00112233445566778899aabbccddeeff".into());
    config.url_signing_keys = vec!["k1=ffeeddccbbaa99887766554433221100".into()];
    let shown = format!("{config:?}");
    for secret in [
        "db-password",
        "s3-secret",
        "azure-secret",
        "00112233",
        "ffeeddcc",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(
        shown.contains("/tmp/strata"),
        "the rest still shows: {shown}"
    );
}
