//! The access matrix's rules, written from docs/accounts.md, docs/sharing.md and docs/datasets.md
//! as tables: who the subjects are and what they hold on `acme/pub`, `acme/int` and `acme/priv`
//! ([`SUBJECTS`]), what each token reaches ([`TOKENS`]), and the answers the gates owe them
//! ([`expect_open`], [`expect_path`]): allowed, or refused with 401 for strangers, 403 for
//! callers who may see the dataset (or hold a share or an object grant in it) and 404 otherwise.

use strata_core::auth::{Action, Role};
use strata_core::datasets::gate::Reach;
use strata_core::db::Permission;
use strata_core::error::Kind;
use strata_core::sharing::shares::Access;

/// What a grant on a whole dataset lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    None,
    Read,
    Write,
    Admin,
}

use Level::{Admin as A, None as N, Read as R, Write as W};

impl Level {
    /// `write` implies `read` and `verify`; `admin` implies everything.
    pub fn covers(self, action: Action) -> bool {
        match self {
            N => false,
            R => action == Action::Read,
            W => action != Action::Admin,
            A => true,
        }
    }
}

pub const ACTIONS: [Action; 4] = [Action::Read, Action::Verify, Action::Write, Action::Admin];
pub const REACHES: [Reach; 2] = [Reach::Dataset, Reach::Objects];

/// One caller of the matrix and what the docs say they hold.
pub struct Subject {
    pub name: &'static str,
    pub role: Role,
    /// Their role in `acme` (the owner made it, so is its owner without one here).
    pub org: Option<&'static str>,
    pub collaborator: Option<Permission>,
    /// A share of theirs on each dataset: `""` is the whole dataset.
    pub share: Option<(&'static str, Access)>,
    /// Their grant on `acme/pub`, `acme/int` and `acme/priv`, after the role's cap.
    pub grant: [Level; 3],
    /// What their share of the folder `data` lets them do there (capped by role).
    pub folder: Level,
}

const fn s(
    name: &'static str,
    role: Role,
    org: Option<&'static str>,
    collaborator: Option<Permission>,
    share: Option<(&'static str, Access)>,
    grant: [Level; 3],
    folder: Level,
) -> Subject {
    Subject {
        name,
        role,
        org,
        collaborator,
        share,
        grant,
        folder,
    }
}

use Access::{Read as ShareRead, Write as ShareWrite};
use Permission::{Admin as PA, Read as PR, Write as PW};
use Role::{Admin as RAdmin, Analyst, Engineer, Scientist, Viewer};

/// Every kind of caller: roles × relations (owner, organisation owner or member, collaborator,
/// team, whole-dataset share, folder share, expired share, nothing) × the role caps.
pub const SUBJECTS: &[Subject] = &[
    s("anonymous", Viewer, None, None, None, [R, N, N], N),
    s("siteadmin", RAdmin, None, None, None, [A, A, A], N),
    s("owner", Engineer, None, None, None, [A, A, A], N),
    s("coowner", Engineer, Some("owner"), None, None, [A, A, A], N),
    s(
        "vieworgowner",
        Viewer,
        Some("owner"),
        None,
        None,
        [R, R, R],
        N,
    ),
    s(
        "analystorgowner",
        Analyst,
        Some("owner"),
        None,
        None,
        [W, W, W],
        N,
    ),
    s(
        "member",
        Scientist,
        Some("member"),
        None,
        None,
        [R, R, R],
        N,
    ),
    s("reader", Scientist, None, Some(PR), None, [R, R, R], N),
    s("writer", Scientist, None, Some(PW), None, [W, W, W], N),
    s("collabadmin", Scientist, None, Some(PA), None, [A, A, A], N),
    s("analystw", Analyst, None, Some(PW), None, [W, W, W], N),
    s("analysta", Analyst, None, Some(PA), None, [W, W, W], N),
    s("viewerw", Viewer, None, Some(PW), None, [R, R, R], N),
    s("teamw", Scientist, Some("member"), None, None, [W, W, W], N),
    s(
        "wholeshare",
        Scientist,
        None,
        None,
        Some(("", ShareWrite)),
        [W, W, W],
        N,
    ),
    s(
        "wholeread",
        Scientist,
        None,
        None,
        Some(("", ShareRead)),
        [R, R, R],
        N,
    ),
    s(
        "viewwholeshare",
        Viewer,
        None,
        None,
        Some(("", ShareWrite)),
        [R, R, R],
        N,
    ),
    s(
        "pathreader",
        Scientist,
        None,
        None,
        Some(("data", ShareRead)),
        [R, R, N],
        R,
    ),
    s(
        "pathwriter",
        Scientist,
        None,
        None,
        Some(("data", ShareWrite)),
        [R, R, N],
        W,
    ),
    s(
        "viewpathwriter",
        Viewer,
        None,
        None,
        Some(("data", ShareWrite)),
        [R, R, N],
        R,
    ),
    s(
        "readerpathwriter",
        Scientist,
        None,
        Some(PR),
        Some(("data", ShareWrite)),
        [R, R, R],
        W,
    ),
    s(
        "expired",
        Scientist,
        None,
        None,
        Some(("", ShareWrite)),
        [R, R, N],
        N,
    ),
    s("outsider", Scientist, None, None, None, [R, R, N], N),
    s("engineer", Engineer, None, None, None, [R, R, N], N),
    s("analyst", Analyst, None, None, None, [R, R, N], N),
    s("viewer", Viewer, None, None, None, [R, R, N], N),
];

/// What a token reaches in `acme/{dataset}`: `(dataset, reach, action) -> allowed`.
pub type Reaches = fn(&str, Reach, Action) -> bool;

/// Scoped tokens: a label, the scopes (`{oid}` stands for the object of
/// `crate::access::object`) and what the scope grammar of docs/accounts.md says they reach.
pub const TOKENS: &[(&str, &str, Reaches)] = &[
    ("star", "*", |_, _, _| true),
    ("priv-read", "dataset:acme/priv:read", |d, _, a| {
        d == "priv" && a == Action::Read
    }),
    ("acme-write", "dataset:acme/*:write", |_, _, a| {
        a != Action::Admin
    }),
    ("acme-admin", "dataset:acme:admin", |_, _, _| true),
    ("any-int-write", "dataset:*/int:write", |d, _, a| {
        d == "int" && a != Action::Admin
    }),
    ("obj-priv-read", "obj:acme/priv/*:read", |d, r, a| {
        d == "priv" && r == Reach::Objects && a == Action::Read
    }),
    ("obj-acme-write", "obj:acme:write", |_, r, a| {
        r == Reach::Objects && a != Action::Admin
    }),
    ("obj-verify", "obj:*:verify", |_, r, a| {
        r == Reach::Objects && a == Action::Verify
    }),
    ("obj-one", "obj:acme/pub/{oid}:write", |d, r, a| {
        d == "pub" && r == Reach::Objects && a != Action::Admin
    }),
    (
        "two",
        "dataset:acme/pub:read obj:acme/priv/*:write",
        |d, r, a| {
            (d == "pub" && a == Action::Read)
                || (d == "priv" && r == Reach::Objects && a != Action::Admin)
        },
    ),
    ("elsewhere", "dataset:other/thing:admin", |_, _, _| false),
    ("oidc", "openid profile email", |_, _, _| false),
    ("meta", "obj:acme/priv/*:meta:read", |_, _, _| false),
    ("acmex", "dataset:acmex:admin", |_, _, _| false),
];

/// Who a credential acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer {
    Anonymous,
    /// A user's token: their grant, narrowed by the token.
    User,
    /// A JWT capability: its scopes, whoever holds it (and public reads).
    Jwt,
}

/// The index of `acme/{d}` in [`SUBJECTS`]' grants.
pub fn index(d: &str) -> usize {
    match d {
        "pub" => 0,
        "int" => 1,
        "priv" => 2,
        _ => unreachable!("{d}"),
    }
}

/// Whether the credential may do `action` on `reach` of `acme/{d}`.
pub fn can(bearer: Bearer, grant: Level, token: Reaches, d: &str, reach: Reach, a: Action) -> bool {
    let public_read = d == "pub" && a == Action::Read;
    match bearer {
        Bearer::Anonymous => public_read,
        Bearer::User => grant.covers(a) && token(d, reach, a),
        Bearer::Jwt => public_read || token(d, reach, a),
    }
}

/// The refusal a caller who may not do `action` gets: 401 for strangers; 403 for one who may
/// read what they asked for, who holds objects or a share of some path in the dataset; else 404.
pub fn refusal(
    bearer: Bearer,
    grant: Level,
    token: Reaches,
    shared_path: bool,
    d: &str,
    reach: Reach,
    action: Action,
) -> Kind {
    let can = |r, a| can(bearer, grant, token, d, r, a);
    if bearer == Bearer::Anonymous {
        Kind::Unauthenticated
    } else if (action != Action::Read && can(reach, Action::Read))
        || (reach == Reach::Dataset && can(Reach::Objects, Action::Read))
        || shared_path
    {
        Kind::Forbidden
    } else {
        Kind::NotFound
    }
}

/// What `gate::open` owes the caller.
pub fn expect_open(
    bearer: Bearer,
    subject: &Subject,
    token: Reaches,
    d: &str,
    reach: Reach,
    action: Action,
) -> Option<Kind> {
    let grant = subject.grant[index(d)];
    if can(bearer, grant, token, d, reach, action) {
        return None;
    }
    let shared_path = bearer == Bearer::User && subject.folder != N;
    Some(refusal(bearer, grant, token, shared_path, d, reach, action))
}

/// Whether `path` is `share` or inside it.
pub fn under(path: &str, share: &str) -> bool {
    share.is_empty() || path == share || path.starts_with(&format!("{share}/"))
}

/// What `gate::path` owes the caller for `path` of `acme/{d}`: a grant on the whole dataset
/// reaches every path; a share of `data` reaches what is under it, for what it allows and what
/// the token allows on the dataset; paths with empty, `.` or `..` segments are refused first.
pub fn expect_path(
    bearer: Bearer,
    subject: &Subject,
    token: Reaches,
    d: &str,
    path: &str,
    action: Action,
) -> Option<Kind> {
    if !path.is_empty()
        && path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Some(Kind::Invalid);
    }
    let grant = subject.grant[index(d)];
    if can(bearer, grant, token, d, Reach::Dataset, action) {
        return None;
    }
    let folder = bearer == Bearer::User && subject.folder != N;
    if folder && subject.folder.covers(action) && token(d, Reach::Dataset, action) {
        return (!under(path, "data")).then_some(Kind::Forbidden);
    }
    Some(refusal(
        bearer,
        grant,
        token,
        folder,
        d,
        Reach::Dataset,
        action,
    ))
}
