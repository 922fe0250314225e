//! Region stores (`--store NAME=URL`) as written and as a server starts with them: names,
//! regions and settings parsed or refused with a message saying why; start-up refusing two stores
//! of one name or region, a store in the default store's region, no region for the default store,
//! and strict encryption; a valid set opens and each region finds its store.

use strata_core::config::{Config, Encryption};
use strata_core::storage::{Location, StoreSpec};
use strata_core::Core;

use crate::common::{data_dir, run, Tally};

#[test]
fn store_specs_parse_or_say_why_not() {
    let mut t = Tally::default();
    let s3: StoreSpec =
        "eu=s3://copies/views?region=eu-west&endpoint=http://127.0.0.1:9000&path_style=true"
            .parse()
            .expect("an S3 store");
    t.eq(s3.name.as_str(), "eu", "name");
    t.eq(s3.region.as_str(), "eu-west", "region");
    t.eq(
        s3.at,
        Location::S3 {
            bucket: "copies".into(),
            prefix: "views".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            s3_region: "us-east-1".into(),
            path_style: true,
        },
        "s3 location",
    );
    let dir: StoreSpec = "b=file:///var/strata/b?region=neverland"
        .parse()
        .expect("a directory");
    t.eq(
        dir.at,
        Location::Dir("/var/strata/b".into()),
        "file location",
    );
    for (bad, says) in [
        ("eu", "NAME=URL"),
        ("EU=s3://b?region=x", "lowercase"),
        ("eu=s3://b", "region"),
        ("eu=s3://b?region=Neverland", "lowercase"),
        ("eu=s3:///prefix?region=x", "no bucket"),
        ("eu=gs://b?region=x", "s3:// or file://"),
        ("eu=s3://b?region=x&secret=y", "unknown setting"),
        ("eu=s3://b?region=x&path_style=yes", "true or false"),
        ("eu=file:///d?region=x&endpoint=http://h", "unknown setting"),
        ("eu=s3://b?region=x&endpoint=not a url", "endpoint"),
        ("eu=not a url", "--store eu"),
    ] {
        match bad.parse::<StoreSpec>() {
            Ok(s) => t.check(false, || format!("{bad} parsed as {s:?}")),
            Err(e) => t.check(e.contains(says), || format!("{bad}: {e} (want {says:?})")),
        }
    }
    t.finish("store specs");
}

/// A change to a configuration.
type Change<'a> = Box<dyn Fn(&mut Config) + 'a>;

#[test]
fn start_refuses_stores_that_cannot_hold_copies() {
    run(async {
        let mut t = Tally::default();
        let dir = data_dir();
        let store = |name: &str, region: &str| -> StoreSpec {
            let path = dir.path().join(format!("store-{name}"));
            format!("{name}=file://{}?region={region}", path.display())
                .parse()
                .unwrap()
        };
        let cases: Vec<(&str, Change<'_>, &str)> = vec![
            (
                "no region for the default store",
                Box::new(|c: &mut Config| c.stores = vec![store("b", "neverland")]),
                "--storage-region",
            ),
            (
                "the default store's region",
                Box::new(|c: &mut Config| {
                    c.region = Some("theshire".into());
                    c.stores = vec![store("b", "theshire")];
                }),
                "where the default store is",
            ),
            (
                "two of one name",
                Box::new(|c: &mut Config| {
                    c.storage_region = Some("theshire".into());
                    c.stores = vec![store("b", "neverland"), store("b", "mordor")];
                }),
                "two stores are named",
            ),
            (
                "two in one region",
                Box::new(|c: &mut Config| {
                    c.storage_region = Some("theshire".into());
                    c.stores = vec![store("b", "neverland"), store("c", "neverland")];
                }),
                "two stores are in region",
            ),
            (
                "strict encryption",
                Box::new(|c: &mut Config| {
                    c.storage_region = Some("theshire".into());
                    c.encryption = Encryption::Strict;
                    c.stores = vec![store("b", "neverland")];
                }),
                "strict",
            ),
        ];
        for (case, change, says) in cases {
            let root = data_dir();
            let mut config = Config::with_data_dir(root.path());
            change(&mut config);
            match Core::build(&config).await {
                Ok(_) => t.check(false, || format!("{case}: started")),
                Err(e) => {
                    let e = e.to_string();
                    t.check(e.contains(says), || format!("{case}: {e} (want {says:?})"))
                }
            }
        }
        let root = data_dir();
        let mut config = Config::with_data_dir(root.path());
        config.region = Some("neverland".into());
        config.storage_region = Some("theshire".into());
        config.stores = vec![store("b", "neverland"), store("c", "mordor")];
        let core = Core::build(&config).await.expect("a valid set starts");
        t.eq(core.storage.home_region(), Some("theshire"), "home region");
        t.eq(
            core.storage.store_in("neverland"),
            Some("b"),
            "neverland's store",
        );
        t.eq(core.storage.store_in("mordor"), Some("c"), "mordor's store");
        t.eq(
            core.storage.store_in("theshire"),
            None,
            "the default store's region",
        );
        t.finish("region stores at start");
    });
}
