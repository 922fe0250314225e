//! The shared fixture of the fast tier: one runtime and one `Core` (SQLite, or PostgreSQL when
//! `STRATA_TEST_DATABASE_URL` names a server, and local storage in a directory under the target
//! directory) for the whole binary, built once by whichever test
//! asks first, plus the helpers every module uses: users, tokens, datasets with files, error
//! kinds and a tally that collects every failing case of a table into one assertion.
//!
//! The core runs with open sign-up, region `theshire` and `steward/policies` as its policy
//! dataset (the policies are `crate::governance::POLICIES`). The organisation `acme` and its
//! datasets `acme/pub`, `acme/int` and `acme/priv` carry the grants of `crate::matrix::SUBJECTS`;
//! tests that change grants work in namespaces of their own, so the tables stay true while
//! they run side by side.

use std::future::Future;
use std::sync::OnceLock;

use strata_core::auth::{self, Action, Principal};
use strata_core::commits;
use strata_core::config::{Config, Signup};
use strata_core::datasets::{self, gate};
use strata_core::db::{Permission, Repo, User, Visibility};
use strata_core::error::{Kind, Result};
use strata_core::sharing::shares;
use strata_core::{accounts, orgs, Core};
use strata_lfs::pointer::Pointer;
use strata_metastore::{Op, Package, Person};

use crate::matrix::{Subject, SUBJECTS};

/// The files of every fixture dataset.
pub const FILES: &[(&str, &str)] = &[
    ("data/a.csv", "x\n1\n"),
    ("data/sub/b.csv", "y\n2\n"),
    ("data2/c.csv", "z\n3\n"),
    ("other.csv", "w\n4\n"),
];

/// The datasets of `acme`, by name, with their visibility.
pub const ACME: [(&str, Visibility); 3] = [
    ("pub", Visibility::Public),
    ("int", Visibility::Internal),
    ("priv", Visibility::Private),
];

/// Runs `fut` on the runtime every test of the binary shares (the core's pool lives on it).
pub fn run<F: Future>(fut: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime")
    })
    .block_on(fut)
}

pub struct Fixture {
    pub core: std::sync::Arc<Core>,
    _dir: tempfile::TempDir,
    users: std::collections::HashMap<&'static str, User>,
    principals: std::collections::HashMap<&'static str, Principal>,
}

impl Fixture {
    pub fn user(&self, name: &str) -> &User {
        &self.users[name]
    }

    /// The subject's principal: a personal access token with the `*` scope (anonymous: none).
    pub fn principal(&self, name: &str) -> &Principal {
        &self.principals[name]
    }
}

/// The shared fixture, built at first use.
pub async fn fixture() -> &'static Fixture {
    static FIXTURE: tokio::sync::OnceCell<Fixture> = tokio::sync::OnceCell::const_new();
    FIXTURE.get_or_init(build).await
}

/// A directory for one core, under the target directory; directories of earlier runs of this
/// binary older than an hour are removed first (the shared one outlives every test).
pub fn data_dir() -> tempfile::TempDir {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("strata-core-fast");
    std::fs::create_dir_all(&root).expect("the target's temporary directory");
    let stale = |e: &std::fs::DirEntry| {
        e.metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600)
    };
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if stale(&entry) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    tempfile::tempdir_in(&root).expect("a data directory")
}

/// The configuration of a core in `dir`: SQLite there, or a new database of its own on the
/// PostgreSQL server `STRATA_TEST_DATABASE_URL` names (scripts/test.sh's second phase).
pub async fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::with_data_dir(dir);
    let Some(base) = std::env::var("STRATA_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return config;
    };
    use sqlx::Connection;
    let name = format!("strata_fast_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("STRATA_TEST_DATABASE_URL must reach a PostgreSQL server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("a database");
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base.as_str(), String::new()),
    };
    let (server, _) = head.rsplit_once('/').expect("a URL ending in /dbname");
    config.database_url = Some(format!("{server}/{name}{query}").into());
    config
}

/// A core of its own for a test that needs another configuration; drop the directory after it.
pub async fn own_core(
    change: impl FnOnce(&mut Config),
) -> (std::sync::Arc<Core>, tempfile::TempDir) {
    let dir = data_dir();
    let mut config = config(dir.path()).await;
    change(&mut config);
    let core = Core::build(&config).await.expect("a core");
    (core, dir)
}

async fn build() -> Fixture {
    let dir = data_dir();
    let mut config = config(dir.path()).await;
    config.signup = Signup::Open;
    config.policy_dataset = Some("steward/policies".into());
    config.region = Some("theshire".into());
    let core = Core::build(&config).await.expect("the shared core");
    let mut users = std::collections::HashMap::new();
    for s in SUBJECTS.iter().filter(|s| s.name != "anonymous") {
        users.insert(s.name, new_user(&core, s.name, s.role).await);
    }
    let owner = users["owner"].clone();
    orgs::create(&core, &owner, "acme").await.expect("acme");
    for s in SUBJECTS {
        if let Some(role) = s.org {
            orgs::set_member_role(&core, &owner, "acme", s.name, role)
                .await
                .expect("a member");
        }
    }
    orgs::new_team(&core, &owner, "acme", "eng")
        .await
        .expect("a team");
    orgs::join_team(&core, &owner, "acme", "eng", "teamw")
        .await
        .expect("in the team");
    let owner_p = pat(&core, &owner, "setup", "*").await;
    for (name, vis) in ACME {
        dataset(&core, "acme", name, &owner, vis, FILES).await;
        let admin = gate::dataset(&core, &owner_p, "acme", name, Action::Admin)
            .await
            .expect("the owner administers");
        datasets::settings::set_collaborator(
            &core,
            &owner_p,
            &admin,
            "team:eng",
            Permission::Write,
        )
        .await
        .expect("the team");
        for s in SUBJECTS {
            if let Some(p) = s.collaborator {
                datasets::settings::set_collaborator(&core, &owner_p, &admin, s.name, p)
                    .await
                    .expect("a collaborator");
            }
            if let Some((path, access)) = s.share {
                let new = shares::NewShare {
                    path: path.into(),
                    grantee: shares::Grantee::User(s.name.into()),
                    access,
                    expires_at: (s.name == "expired").then(|| now() + 3600),
                };
                let row = shares::create(&core, &owner_p, &admin, new)
                    .await
                    .expect("a share");
                if s.name == "expired" {
                    // Past expiries cannot be set through the domain: the row is aged directly.
                    core.db
                        .update_share(row.id, access.as_str(), Some(now() - 60))
                        .await
                        .expect("aged");
                }
            }
        }
    }
    for (name, _) in ACME {
        let repo = core.db.repo_by_path("acme", name).await.unwrap().unwrap();
        let (oid, size) = crate::access::object();
        core.db
            .link_object(repo.id, &oid, size)
            .await
            .expect("linked");
    }
    crate::governance::install_policies(&core).await;
    let mut principals = std::collections::HashMap::new();
    principals.insert("anonymous", Principal::Anonymous);
    for (name, user) in &users {
        principals.insert(*name, pat(&core, user, "all", "*").await);
    }
    Fixture {
        core,
        _dir: dir,
        users,
        principals,
    }
}

/// A user with `role` (their namespace is their name).
pub async fn new_user(core: &Core, name: &str, role: auth::Role) -> User {
    let user = core
        .db
        .create_user(name, Some(&format!("{name}@example.test")), false)
        .await
        .expect("a user");
    core.db
        .set_role(user.id, role.as_str())
        .await
        .expect("a role");
    core.db.user_by_id(user.id).await.unwrap().unwrap()
}

/// A personal access token of `user` with `scopes`, authenticated as the server would.
pub async fn pat(core: &Core, user: &User, name: &str, scopes: &str) -> Principal {
    let secret = accounts::create_token(core, &user.username, user, name, scopes, None)
        .await
        .expect("a token");
    auth::authenticate(core, &secret)
        .await
        .expect("the token authenticates")
}

/// A JWT capability with `scopes` (no user behind it), authenticated as the server would.
pub async fn jwt(core: &Core, sub: &str, scopes: &str) -> Principal {
    let token = core
        .jwt
        .sign(&core.jwt.claims(sub, scopes, 600))
        .expect("signed");
    auth::authenticate(core, &token)
        .await
        .expect("the JWT authenticates")
}

/// Creates `ns/name` owned by `owner` with a first revision, then `files` in one commit.
pub async fn dataset(
    core: &Core,
    ns: &str,
    name: &str,
    owner: &User,
    vis: Visibility,
    files: &[(&str, &str)],
) -> Repo {
    let first = datasets::First {
        package: Package::from_json(serde_json::json!({"name": name, "resources": []}))
            .expect("a package"),
        message: "Create".into(),
        author: Person {
            name: owner.username.clone(),
            email: "owner@example.test".into(),
        },
    };
    let (repo, ..) = datasets::create_with(core, ns, name, owner.id, vis, first)
        .await
        .expect("a dataset");
    if !files.is_empty() {
        let who = Principal::User {
            user: owner.clone(),
            scopes: auth::Scopes::parse("*").unwrap(),
            family: None,
        };
        let gated = gate::dataset(core, &who, ns, name, Action::Write)
            .await
            .expect("the owner writes");
        put(core, &who, &gated, files).await.expect("the files");
    }
    repo
}

/// Commits `files` (path, text) as plain git files at the head of the default branch.
pub async fn put(
    core: &Core,
    who: &Principal,
    gated: &gate::Gated,
    files: &[(&str, &str)],
) -> Result<strata_metastore::Revision> {
    let ops = files
        .iter()
        .map(|(path, text)| Op::Put {
            path: (*path).into(),
            data: text.as_bytes().to_vec(),
        })
        .collect();
    let change = commits::Change {
        summary: "files".into(),
        at_head: true,
        ops,
        ..commits::Change::default()
    };
    commits::commit(core, who, gated, change).await
}

/// Stores `bytes` as an object linked to dataset `repo_id`: its LFS pointer.
pub async fn stored(core: &Core, repo_id: i64, bytes: &[u8]) -> Pointer {
    let p = Pointer {
        oid: strata_lfs::Oid::of(bytes),
        size: bytes.len() as u64,
    };
    let body = bytes::Bytes::copy_from_slice(bytes);
    core.storage
        .receive(
            repo_id,
            &p.oid,
            p.size,
            futures_util::stream::iter([Ok::<_, std::io::Error>(body)]),
        )
        .await
        .expect("stored");
    p
}

/// A datapackage resource over `bytes` stored at `path`, with `schema` (`null`: none).
pub fn resource(
    name: &str,
    path: &str,
    bytes: &[u8],
    schema: serde_json::Value,
) -> serde_json::Value {
    let mut r = serde_json::json!({"name": name, "path": path, "format": "csv",
        "bytes": bytes.len(), "hash": format!("sha256:{}", strata_lfs::Oid::of(bytes))});
    if !schema.is_null() {
        r["schema"] = schema;
    }
    r
}

/// Commits `package` as the datapackage and `tables` (path, bytes) as LFS files, stored first, at
/// the head of `branch` (`None`: the default branch).
pub async fn commit_tables(
    core: &Core,
    who: &Principal,
    gated: &gate::Gated,
    branch: Option<&str>,
    package: &serde_json::Value,
    tables: &[(&str, &[u8])],
) -> Result<strata_metastore::Revision> {
    let mut ops = vec![Op::Put {
        path: "datapackage.json".into(),
        data: package.to_string().into_bytes(),
    }];
    for (path, bytes) in tables {
        let p = stored(core, gated.id, bytes).await;
        ops.push(Op::Put {
            path: (*path).into(),
            data: p.encode().into_bytes(),
        });
    }
    let change = commits::Change {
        summary: "tables".into(),
        at_head: true,
        branch: branch.map(str::to_owned),
        ops,
        lfs_paths: tables.iter().map(|(p, _)| (*p).to_owned()).collect(),
        ..commits::Change::default()
    };
    commits::commit(core, who, gated, change).await
}

/// Runs `f` again while it answers `Busy` (at most two table views are made at once, and the
/// tests of the binary run side by side: "try again shortly"), for up to 20 seconds.
pub async fn patiently<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    for _ in 0..400 {
        match f().await {
            Err(e) if e.kind == Kind::Busy => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            done => return done,
        }
    }
    f().await
}

/// `user` with every right of theirs (a `*` scope), as a session would be.
pub fn as_user(user: &User) -> Principal {
    Principal::User {
        user: user.clone(),
        scopes: auth::Scopes::parse("*").unwrap(),
        family: None,
    }
}

pub fn now() -> i64 {
    strata_core::db::now()
}

/// The kind of a refusal, `None` for success.
pub fn kind<T>(r: &Result<T>) -> Option<Kind> {
    r.as_ref().err().map(|e| e.kind)
}

/// Runs `fut` as a request from `ip` (throttling counts per address).
pub async fn from_ip<F: Future>(ip: &str, fut: F) -> F::Output {
    let ctx = strata_core::context::RequestCtx {
        ip: ip.into(),
        ..Default::default()
    };
    strata_core::context::scope(ctx, fut).await
}

/// Cases of a table: each is checked, the failures are collected, and [`Tally::finish`] asserts
/// there were none (naming all of them) after printing how many cases ran.
#[derive(Default)]
pub struct Tally {
    cases: usize,
    failures: Vec<String>,
}

impl Tally {
    pub fn check(&mut self, ok: bool, case: impl FnOnce() -> String) {
        self.cases += 1;
        if !ok {
            self.failures.push(case());
        }
    }

    /// Checks that `got` equals `want`.
    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, got: T, want: T, case: &str) {
        self.check(got == want, || {
            format!("{case}: got {got:?}, want {want:?}")
        });
    }

    pub fn cases(&self) -> usize {
        self.cases
    }

    pub fn finish(self, table: &str) -> usize {
        println!("{table}: {} cases", self.cases);
        assert!(
            self.failures.is_empty(),
            "{table}: {} of {} cases failed:\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
        self.cases
    }
}

/// The subject named `name` in the matrix.
pub fn subject(name: &str) -> &'static Subject {
    SUBJECTS.iter().find(|s| s.name == name).expect("a subject")
}
