//! `--store NAME=URL?region=R` (a region store) and `--import-source NAME=URL` (a bucket datasets
//! adopt objects from by reference), as written on the command line, parsed and
//! checked (`s3://BUCKET/PREFIX` with its endpoint, S3 region and path style, or
//! `file:///PATH`). Opening them is `crate::storage`'s.

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
        let mut region = None;
        let (name, at) = parse("--store", s, "region", |k, v| match k {
            "region" => {
                region = Some(label("region", v)?);
                Ok(true)
            }
            _ => Ok(false),
        })?;
        let region = region.ok_or_else(|| {
            format!("--store {name}: say which region it is in with ?region=NAME")
        })?;
        Ok(StoreSpec { name, region, at })
    }
}

/// `--import-source NAME=URL`: a bucket (or directory) whose objects datasets may adopt by
/// reference (`crate::imports`), and the namespaces whose dataset admins may (`?namespace=`,
/// repeated; none: site admins only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSource {
    pub name: String,
    pub at: Location,
    pub namespaces: Vec<String>,
}

impl FromStr for ImportSource {
    type Err = String;

    fn from_str(s: &str) -> Result<ImportSource, String> {
        let mut namespaces = Vec::new();
        let (name, at) = parse("--import-source", s, "namespace", |k, v| match k {
            "namespace" if !v.is_empty() && v.len() <= 64 => {
                namespaces.push(v.to_owned());
                Ok(true)
            }
            "namespace" => Err(format!("namespace {v:?} is not a namespace")),
            _ => Ok(false),
        })?;
        Ok(ImportSource {
            name,
            at,
            namespaces,
        })
    }
}

/// Parses `NAME=URL` for `flag`: the name, and where the URL says; query settings other than
/// the S3 ones go to `extra` (which answers whether it knew the key; `known` names them).
fn parse(
    flag: &str,
    s: &str,
    known: &str,
    mut extra: impl FnMut(&str, &str) -> Result<bool, String>,
) -> Result<(String, Location), String> {
    let (name, url) = s
        .split_once('=')
        .ok_or_else(|| format!("{flag} is NAME=URL, not {s:?}"))?;
    let name = label("name", name.trim())?;
    let url = url::Url::parse(url.trim()).map_err(|e| format!("{flag} {name}: {e}"))?;
    let (mut endpoint, mut s3_region, mut path_style) = (None, None, false);
    for (k, v) in url.query_pairs() {
        let v = v.into_owned();
        match k.as_ref() {
            "endpoint" if url.scheme() == "s3" => {
                url::Url::parse(&v).map_err(|e| format!("{flag} {name}: endpoint {v:?}: {e}"))?;
                endpoint = Some(v)
            }
            "s3_region" if url.scheme() == "s3" => s3_region = Some(v),
            "path_style" if url.scheme() == "s3" => {
                path_style = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("{flag} {name}: path_style is true or false")),
                }
            }
            other => {
                if !extra(other, &v).map_err(|e| format!("{flag} {name}: {e}"))? {
                    return Err(format!(
                        "{flag} {name}: unknown setting {other:?} ({known}; for s3: endpoint, s3_region, path_style)"
                    ));
                }
            }
        }
    }
    let at = match url.scheme() {
        "s3" => {
            let bucket = url.host_str().unwrap_or_default().to_owned();
            if bucket.is_empty() {
                return Err(format!("{flag} {name}: s3://BUCKET/PREFIX names no bucket"));
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
                .map_err(|_| format!("{flag} {name}: file:///ABSOLUTE/PATH, not {url}"))?;
            Location::Dir(path)
        }
        other => {
            return Err(format!(
                "{flag} {name}: {other}:// is not a store strata opens (s3:// or file://)"
            ))
        }
    };
    Ok((name, at))
}
