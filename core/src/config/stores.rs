//! `--store NAME=URL?region=R`: a region store as written on the command line, parsed and
//! checked (`s3://BUCKET/PREFIX` with its endpoint, S3 region and path style, or
//! `file:///PATH`). Opening it is `crate::storage::regions`'.

use std::path::PathBuf;
use std::str::FromStr;

/// A `--store` as written: its name, its region and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    pub name: String,
    pub region: String,
    pub at: Location,
}

/// Where a region store keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        s3_region: String,
        path_style: bool,
    },
    Dir(PathBuf),
}

/// A name or a region: a short lowercase label.
fn label(what: &str, s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !s.starts_with('-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "a store's {what} is 1 to 32 lowercase letters, digits, '-' or '_', not {s:?}"
        ))
    }
}

impl FromStr for StoreSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<StoreSpec, String> {
        let (name, url) = s
            .split_once('=')
            .ok_or_else(|| format!("--store is NAME=URL, not {s:?}"))?;
        let name = label("name", name.trim())?;
        let url = url::Url::parse(url.trim()).map_err(|e| format!("--store {name}: {e}"))?;
        let mut region = None;
        let (mut endpoint, mut s3_region, mut path_style) = (None, None, false);
        for (k, v) in url.query_pairs() {
            let v = v.into_owned();
            match k.as_ref() {
                "region" => region = Some(label("region", &v)?),
                "endpoint" if url.scheme() == "s3" => {
                    url::Url::parse(&v)
                        .map_err(|e| format!("--store {name}: endpoint {v:?}: {e}"))?;
                    endpoint = Some(v)
                }
                "s3_region" if url.scheme() == "s3" => s3_region = Some(v),
                "path_style" if url.scheme() == "s3" => {
                    path_style = match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(format!("--store {name}: path_style is true or false")),
                    }
                }
                other => {
                    return Err(format!(
                        "--store {name}: unknown setting {other:?} (region; for s3: endpoint, s3_region, path_style)"
                    ))
                }
            }
        }
        let region = region.ok_or_else(|| {
            format!("--store {name}: say which region it is in with ?region=NAME")
        })?;
        let at = match url.scheme() {
            "s3" => {
                let bucket = url.host_str().unwrap_or_default().to_owned();
                if bucket.is_empty() {
                    return Err(format!(
                        "--store {name}: s3://BUCKET/PREFIX names no bucket"
                    ));
                }
                Location::S3 {
                    bucket,
                    prefix: url.path().trim_matches('/').to_owned(),
                    endpoint,
                    s3_region: s3_region.unwrap_or_else(|| "us-east-1".into()),
                    path_style,
                }
            }
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| format!("--store {name}: file:///ABSOLUTE/PATH, not {url}"))?;
                Location::Dir(path)
            }
            other => {
                return Err(format!(
                    "--store {name}: {other}:// is not a store strata opens (s3:// or file://)"
                ))
            }
        };
        Ok(StoreSpec { name, region, at })
    }
}
