//! Apps in SQL: the manifests added through the API (with who added them), each user's installs
//! (with the scopes they consented to, the token family of the app's tokens, and whether the
//! install waits for renewed consent after a change of the manifest) and the users an owner
//! shares an instance with. The manifests of `--apps-dir` are files, never rows.

use super::{now, Db};

/// An app a user installed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstallRow {
    pub user_id: i64,
    pub app_id: String,
    /// Space-separated: what the user consented to.
    pub scopes: String,
    /// Carried by the app's tokens as `fam`: gone with the install, so are they.
    pub family: String,
    pub created_at: i64,
    /// The last traffic through the proxy, as replicas recorded it.
    pub active_at: Option<i64>,
    /// Since when the install waits for its owner's renewed consent (the manifest changed what
    /// runs or what it may do): no start, no proxy, no token.
    pub suspended_at: Option<i64>,
}

const INSTALL_COLUMNS: &str =
    "user_id, app_id, scopes, family, created_at, active_at, suspended_at";

impl Db {
    /// The manifests added through the API: (id, TOML).
    pub async fn app_manifests(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as("SELECT id, manifest FROM apps ORDER BY id")
            .fetch_all(&self.pool)
            .await
    }

    /// The TOML of one API-managed manifest.
    pub async fn app_manifest(&self, id: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT manifest FROM apps WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// One API-managed manifest with who added it: (TOML, user id).
    pub async fn app_manifest_row(
        &self,
        id: &str,
    ) -> Result<Option<(String, Option<i64>)>, sqlx::Error> {
        sqlx::query_as("SELECT manifest, created_by FROM apps WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Adds an API-managed manifest `by` a user, unless one of that id exists; whether it was
    /// added.
    pub async fn insert_app_manifest(
        &self,
        id: &str,
        manifest: &str,
        by: i64,
    ) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "INSERT INTO apps (id, manifest, created_by, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(manifest)
        .bind(by)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Replaces the manifest `id` if it still is `old`; whether it was replaced.
    pub async fn replace_app_manifest(
        &self,
        id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, sqlx::Error> {
        Ok(
            sqlx::query("UPDATE apps SET manifest = $1 WHERE id = $2 AND manifest = $3")
                .bind(new)
                .bind(id)
                .bind(old)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Suspends every install of `app` until its owner consents again; how many were live.
    pub async fn suspend_app_installs(&self, app: &str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE app_installs SET suspended_at = $1 WHERE app_id = $2 AND suspended_at IS NULL",
        )
        .bind(now())
        .bind(app)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Suspends `user_id`'s install of `app` until they consent again.
    pub async fn suspend_app_install(&self, user_id: i64, app: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE app_installs SET suspended_at = $1
             WHERE user_id = $2 AND app_id = $3 AND suspended_at IS NULL",
        )
        .bind(now())
        .bind(user_id)
        .bind(app)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The installs waiting for renewed consent: (username, app).
    pub async fn suspended_app_installs(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT u.username, i.app_id FROM app_installs i JOIN users u ON u.id = i.user_id
             WHERE i.suspended_at IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Removes an API-managed manifest with its installs and shares; whether it existed.
    pub async fn delete_app_manifest(&self, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM app_installs WHERE app_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM app_shares WHERE app_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM apps WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// `user_id`'s install of `app`, if any.
    pub async fn app_install(
        &self,
        user_id: i64,
        app: &str,
    ) -> Result<Option<InstallRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {INSTALL_COLUMNS} FROM app_installs WHERE user_id = $1 AND app_id = $2"
        ))
        .bind(user_id)
        .bind(app)
        .fetch_optional(&self.pool)
        .await
    }

    /// Every app `user_id` installed, by id.
    pub async fn app_installs(&self, user_id: i64) -> Result<Vec<InstallRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {INSTALL_COLUMNS} FROM app_installs WHERE user_id = $1 ORDER BY app_id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Installs `app` for `user_id` with `scopes` (consented to), or changes the scopes of an
    /// install (a new family: tokens of the old consent stop working) and ends its suspension.
    pub async fn install_app(
        &self,
        user_id: i64,
        app: &str,
        scopes: &str,
        family: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO app_installs (user_id, app_id, scopes, family, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, app_id) DO UPDATE
             SET scopes = excluded.scopes, family = excluded.family, suspended_at = NULL",
        )
        .bind(user_id)
        .bind(app)
        .bind(scopes)
        .bind(family)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Uninstalls `app` for `user_id` (and drops its shares); whether it was installed.
    pub async fn uninstall_app(&self, user_id: i64, app: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM app_shares WHERE owner_id = $1 AND app_id = $2")
            .bind(user_id)
            .bind(app)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM app_installs WHERE user_id = $1 AND app_id = $2")
            .bind(user_id)
            .bind(app)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// Records traffic to `user_id`'s `app` at `at` (never moving it back).
    pub async fn app_active(&self, user_id: i64, app: &str, at: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE app_installs SET active_at = $1
             WHERE user_id = $2 AND app_id = $3 AND (active_at IS NULL OR active_at < $1)",
        )
        .bind(at)
        .bind(user_id)
        .bind(app)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether a token family belongs to a live install, not waiting for renewed consent (app
    /// tokens carry `app:` families).
    pub async fn app_family_live(&self, family: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM app_installs WHERE family = $1 AND suspended_at IS NULL",
        )
        .bind(family)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// The app of an install's token family, if the install is there.
    pub async fn app_of_family(&self, family: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT app_id FROM app_installs WHERE family = $1")
            .bind(family)
            .fetch_optional(&self.pool)
            .await
    }

    /// Shares `owner_id`'s instance of `app` with `grantee_id`.
    pub async fn share_app(
        &self,
        owner_id: i64,
        app: &str,
        grantee_id: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO app_shares (owner_id, app_id, grantee_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (owner_id, app_id, grantee_id) DO NOTHING",
        )
        .bind(owner_id)
        .bind(app)
        .bind(grantee_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a share of an instance; whether there was one.
    pub async fn unshare_app(
        &self,
        owner_id: i64,
        app: &str,
        grantee_id: i64,
    ) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM app_shares WHERE owner_id = $1 AND app_id = $2 AND grantee_id = $3",
        )
        .bind(owner_id)
        .bind(app)
        .bind(grantee_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// The usernames `owner_id` shares `app` with.
    pub async fn app_sharees(&self, owner_id: i64, app: &str) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT u.username FROM app_shares s JOIN users u ON u.id = s.grantee_id
             WHERE s.owner_id = $1 AND s.app_id = $2 ORDER BY u.username",
        )
        .bind(owner_id)
        .bind(app)
        .fetch_all(&self.pool)
        .await
    }

    /// Whether `owner_id` shares `app` with `grantee_id`.
    pub async fn app_shared_with(
        &self,
        owner_id: i64,
        app: &str,
        grantee_id: i64,
    ) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM app_shares WHERE owner_id = $1 AND app_id = $2 AND grantee_id = $3",
        )
        .bind(owner_id)
        .bind(app)
        .bind(grantee_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// The apps every account is offered, by id.
    pub async fn default_apps(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT app_id FROM default_apps ORDER BY app_id")
            .fetch_all(&self.pool)
            .await
    }

    /// Names `app` a default app (`on`) or no longer.
    pub async fn set_default_app(&self, app: &str, by: i64, on: bool) -> Result<(), sqlx::Error> {
        if on {
            sqlx::query(
                "INSERT INTO default_apps (app_id, named_by, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (app_id) DO NOTHING",
            )
            .bind(app)
            .bind(by)
            .bind(now())
            .execute(&self.pool)
            .await?;
        } else {
            sqlx::query("DELETE FROM default_apps WHERE app_id = $1")
                .bind(app)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// The default apps `user_id` declined.
    pub async fn declined_apps(&self, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT app_id FROM app_declines WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
    }

    /// Records that `user_id` declined `app`.
    pub async fn decline_app(&self, user_id: i64, app: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO app_declines (user_id, app_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, app_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(app)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
