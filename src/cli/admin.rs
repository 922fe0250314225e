//! `strata admin …`: bootstrap users, repositories and tokens from the command line. The same
//! functions are what tests call to set up their fixtures.

use crate::cli::AdminCommand;
use strata_core::auth::Scopes;
use strata_core::config::Config;
use strata_core::db::{now, Repo, User, Visibility};
use strata_core::names;
use strata_core::Core;

/// Tells (on stderr, so `TOKEN=$(strata admin token …)` still captures only the token) how to
/// hand the token to git once, so that a push does not ask for it three times (git, git-lfs's
/// batch and its lock check).
fn credential_hint(public_url: &str, token: &str) {
    let (protocol, host) = public_url.split_once("://").unwrap_or(("http", public_url));
    let host = host.split('/').next().unwrap_or(host);
    eprintln!(
        "# git and git-lfs can use this token without asking, through a credential helper:\n\
         #   git config --global credential.helper store\n\
         #   printf 'protocol={protocol}\\nhost={host}\\nusername=token\\npassword=%s\\n' '{token}' | git credential approve"
    );
}

pub type AdminResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// `strata migrate`: connects (which migrates, under the database's migration lock) and says
/// where the schema stands.
pub async fn migrate(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let db = strata_core::db::Db::connect(&config.database_url()).await?;
    println!(
        "database schema at migration {}",
        db.schema_version().await?
    );
    db.close().await;
    Ok(())
}

pub async fn run(config: &Config, command: AdminCommand) -> Result<(), Box<dyn std::error::Error>> {
    // Never start a second, empty installation by accident (a new database and new keys in the
    // current directory): the data directory must be one a server made.
    let no_db = config.database_url.is_none() && !config.data_dir.join("strata.db").is_file();
    let no_key =
        config.jwt_key_file.is_none() && !config.data_dir.join("keys/jwt-rs256.pem").is_file();
    if !config.data_dir.is_dir() || no_db || no_key {
        let dir = std::path::absolute(&config.data_dir).unwrap_or(config.data_dir.clone());
        return Err(format!(
            "no strata data in {}: run `strata admin` where `strata serve` runs, or point it at \
             the server's data with --data-dir (STRATA_DATA_DIR) and --database-url",
            dir.display()
        )
        .into());
    }
    // Administration needs no identity provider (nor their secrets in the environment).
    let mut config = config.clone();
    config.oidc_config = None;
    config.password_login = strata_core::config::Switch::On;
    let state = Core::build(&config).await?;
    let result = execute(&state, command).await;
    state.db.close().await;
    result.map_err(|e| e.to_string().into())
}

async fn execute(state: &Core, command: AdminCommand) -> AdminResult<()> {
    match command {
        AdminCommand::CreateUser {
            username,
            email,
            admin,
        } => {
            let user = create_user(state, &username, email.as_deref(), admin).await?;
            println!("created user {} (id {})", user.username, user.id);
        }
        AdminCommand::Usage { namespace } => {
            let u = strata_core::quotas::usage_of(state, &namespace).await?;
            let quota = u
                .quota
                .map_or("no quota".to_owned(), |q| format!("{q} bytes"));
            println!("{}: {} bytes stored of {quota}", u.namespace, u.used);
            for (dataset, bytes) in u.datasets {
                println!("  {}/{dataset}: {bytes} bytes", u.namespace);
            }
        }
        AdminCommand::Quota {
            namespace, bytes, ..
        } => {
            strata_core::quotas::set_by_operator(state, &namespace, bytes).await?;
            let u = strata_core::quotas::usage_of(state, &namespace).await?;
            let quota = u
                .quota
                .map_or("no quota".to_owned(), |q| format!("{q} bytes"));
            println!("{}: {} bytes stored of {quota}", u.namespace, u.used);
        }
        AdminCommand::Gc {
            dry_run,
            grace_secs,
            json,
            pace,
        } => {
            let options = strata_core::gc::Options {
                dry_run,
                grace: grace_secs.map_or(state.settings.gc_grace, std::time::Duration::from_secs),
                pace,
            };
            let r = strata_core::gc::run(state, &options, Some("admin-cli")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                return Ok(());
            }
            for item in &r.items {
                let at = item.dataset.as_deref().unwrap_or("-");
                println!(
                    "{} {} {} ({} bytes): {}",
                    item.action, at, item.oid, item.size, item.reason
                );
            }
            let verb = if dry_run { "would be" } else { "were" };
            println!(
                "{} dataset(s), {} ref(s), {} revision(s), {} reachable object(s); {} marked, {} link(s) and {} object(s) {verb} removed, {} bytes freed; {} xorb(s) {verb} compacted ({} unused bytes)",
                r.datasets, r.refs, r.revisions, r.reachable, r.marked, r.links_removed, r.objects_removed, r.bytes_freed, r.xorbs_compacted, r.compacted_bytes
            );
            for e in &r.errors {
                eprintln!("error: {e}");
            }
        }
        AdminCommand::Erase {
            dataset,
            paths,
            resource,
            keys,
            confirm,
        } => {
            if confirm != dataset {
                return Err(
                    "confirm with the dataset's name: erasure cannot be undone; nothing was erased"
                        .into(),
                );
            }
            let Some((ns, name)) = dataset.split_once('/') else {
                return Err("name the dataset as {namespace}/{name}".into());
            };
            let r = match resource {
                Some(resource) => {
                    let mut parsed = Vec::new();
                    for k in &keys {
                        match serde_json::from_str(k) {
                            Ok(serde_json::Value::Object(m)) => parsed.push(m),
                            _ => return Err(format!("--key {k}: a JSON object naming the key columns; nothing was erased").into()),
                        }
                    }
                    strata_core::erase::erase_rows(state, "admin-cli", ns, name, &resource, &parsed)
                        .await?
                }
                None => strata_core::erase::erase(state, "admin-cli", ns, name, &paths).await?,
            };
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        }
        AdminCommand::DeleteUser { username, confirm } => {
            let gone =
                strata_core::accounts::delete::delete(state, None, &username, &confirm).await?;
            println!(
                "deleted {}: {} app instance(s) and their storage destroyed, {} dataset(s) handed over",
                gone.username,
                gone.apps.len(),
                gone.handed_over.len()
            );
        }
        AdminCommand::CreateRepo {
            path,
            visibility,
            owner,
        } => {
            let repo = create_repo(state, &path, visibility.parse()?, owner.as_deref()).await?;
            println!("created {} repository {}", repo.visibility, repo.path());
        }
        AdminCommand::Token {
            user,
            name,
            scopes,
            expires_in_days,
            jwt,
            sub,
            ttl,
        } => {
            let token = if jwt {
                let sub = sub.or(user).unwrap_or_else(|| "admin-cli".into());
                issue_jwt(state, &sub, &scopes, ttl)?
            } else {
                let user = user.ok_or("--user is required for a personal access token")?;
                let name = name.unwrap_or_else(|| {
                    format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
                });
                create_token(state, &user, &name, &scopes, expires_in_days).await?
            };
            println!("{token}");
            if !jwt {
                credential_hint(&state.settings.public_url, &token);
            }
        }
        AdminCommand::RevokeToken { user, name } => {
            revoke_token(state, &user, &name).await?;
            println!("revoked");
        }
        AdminCommand::SetPassword { username } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            set_password(state, &username, password.trim_end_matches(['\r', '\n'])).await?;
            println!("password set for {username}");
        }
        AdminCommand::RotateDataKey { dataset, reseal } => {
            let (ns, name) = dataset
                .split_once('/')
                .ok_or("name the dataset as namespace/name")?;
            let repo = state
                .db
                .repo_by_path(ns, name)
                .await?
                .ok_or_else(|| format!("no dataset {dataset}"))?;
            let (version, resealed) = state.storage.rotate_data_key(repo.id, reseal).await?;
            println!("{dataset}: data key version {version}; {resealed} objects re-sealed");
        }
        AdminCommand::RotateMasterKey { new_key_file } => {
            let source = strata_core::storage::keys::MasterSource::File(&new_key_file);
            let (done, id) = state.storage.rotate_master_key(source).await?;
            println!(
                "{done} data keys now wrapped by master key {id}: restart strata with --master-key-file {}",
                new_key_file.display()
            );
        }
        AdminCommand::Invite { by, days } => {
            println!("{}", invite(state, &by, days).await?);
        }
    }
    Ok(())
}

/// Sets `username`'s password (checked like a new one in the browser).
pub async fn set_password(state: &Core, username: &str, password: &str) -> AdminResult<()> {
    let user = state
        .db
        .user_by_name(username)
        .await?
        .ok_or("no such user")?;
    strata_core::auth::password::check_new(password, username)?;
    let owned = password.to_owned();
    let hash = state.hasher.hash(owned).await.map_err(|e| e.to_string())?;
    state.db.set_password(user.id, &hash).await?;
    state
        .db
        .audit(
            "password.set",
            Some("admin-cli"),
            Some(username),
            None,
            &serde_json::json!({}),
        )
        .await?;
    Ok(())
}

/// A one-time invitation code from administrator `by`, valid for `days`.
pub async fn invite(state: &Core, by: &str, days: i64) -> AdminResult<String> {
    let admin = state.db.user_by_name(by).await?.ok_or("no such user")?;
    if !admin.admin() {
        return Err(format!("{by} is not an administrator").into());
    }
    let code = strata_core::auth::secrets::random_hex(16);
    let hash = strata_core::auth::secrets::stored(&code);
    state
        .db
        .create_invitation(&hash, admin.id, now() + days.clamp(1, 365) * 86400)
        .await?;
    state
        .db
        .audit(
            "invitation.create",
            Some(by),
            None,
            None,
            &serde_json::json!({"days": days}),
        )
        .await?;
    Ok(code)
}

/// Revokes `username`'s token `name`; every server sharing the database refuses it from now on.
pub async fn revoke_token(state: &Core, username: &str, name: &str) -> AdminResult<()> {
    let user = state
        .db
        .user_by_name(username)
        .await?
        .ok_or("no such user")?;
    if !state.db.revoke_token(user.id, name).await? {
        return Err(format!("user {username} has no live token named {name:?}").into());
    }
    let detail = serde_json::json!({"name": name});
    state
        .db
        .audit(
            "token.revoke",
            Some("admin-cli"),
            Some(username),
            None,
            &detail,
        )
        .await?;
    Ok(())
}

pub async fn create_user(
    state: &Core,
    username: &str,
    email: Option<&str>,
    admin: bool,
) -> AdminResult<User> {
    names::check_namespace(username)?;
    if state.db.org_by_name(username).await?.is_some() {
        return Err(format!("the namespace {username} is an organisation").into());
    }
    if state.db.user_by_name(username).await?.is_some() {
        return Err(format!("user {username} exists already").into());
    }
    state
        .db
        .create_user(username, email, admin)
        .await
        .map_err(|e| match e {
            strata_core::db::Error::Conflict => format!("user {username} exists already").into(),
            e => e.into(),
        })
}

pub async fn create_repo(
    state: &Core,
    path: &str,
    visibility: Visibility,
    owner: Option<&str>,
) -> AdminResult<Repo> {
    let (ns, name) = path
        .split_once('/')
        .ok_or("repository path must be {namespace}/{name}")?;
    names::check_namespace(ns)?;
    names::check("repository name", name)?;
    let owner_name = owner.unwrap_or(ns);
    let owner = state
        .db
        .user_by_name(owner_name)
        .await?
        .ok_or_else(|| format!("no user named {owner_name}"))?;
    strata_core::datasets::create(state, ns, name, owner.id, visibility)
        .await
        .map_err(|e| match e {
            strata_core::datasets::CreateError::Exists => {
                format!("repository {path} exists already").into()
            }
            e => e.to_string().into(),
        })
}

/// Creates a personal access token and returns its secret (shown once, stored hashed); the
/// audit log names `admin-cli` as who made it.
pub async fn create_token(
    state: &Core,
    username: &str,
    name: &str,
    scopes: &str,
    expires_in_days: Option<i64>,
) -> AdminResult<String> {
    let user = state
        .db
        .user_by_name(username)
        .await?
        .ok_or_else(|| format!("no user named {username}"))?;
    let secret = strata_core::accounts::create_token(
        state,
        "admin-cli",
        &user,
        name,
        scopes,
        expires_in_days,
    )
    .await
    .map_err(|e| e.message)?;
    Ok(secret)
}

pub fn issue_jwt(state: &Core, sub: &str, scopes: &str, ttl_secs: i64) -> AdminResult<String> {
    let scopes = Scopes::parse(scopes)?;
    if ttl_secs <= 0 {
        return Err("--ttl must be positive".into());
    }
    Ok(state.jwt.issue(sub, &scopes, ttl_secs)?)
}
