//! `shared_apps`: app instances an organisation's owner published for its members or for
//! everyone (`crate::apps::shared`), one per app.

use super::{now, Db};

/// A published instance, with its organisation's name and its publisher's.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SharedAppRow {
    pub app_id: String,
    pub org_id: i64,
    pub org: String,
    /// 1: anyone may use it; 0: the organisation's members only.
    pub public: i64,
    pub runs_as: i64,
    pub published_by: String,
    pub created_at: i64,
}

const SHARED_COLUMNS: &str = "s.app_id, s.org_id, o.name AS org, s.public, s.runs_as,
    u.username AS published_by, s.created_at";
const SHARED_FROM: &str =
    "shared_apps s JOIN orgs o ON o.id = s.org_id JOIN users u ON u.id = s.runs_as";

impl SharedAppRow {
    /// Anyone may use it.
    pub fn is_public(&self) -> bool {
        self.public != 0
    }
}

impl Db {
    /// Publishes `app` for `org_id` (or changes who may use it); `false` when another
    /// organisation has published that app.
    pub async fn put_shared_app(
        &self,
        app: &str,
        org_id: i64,
        public: bool,
        runs_as: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO shared_apps (app_id, org_id, public, runs_as, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (app_id) DO UPDATE SET public = excluded.public, runs_as = excluded.runs_as
             WHERE shared_apps.org_id = excluded.org_id",
        )
        .bind(app)
        .bind(org_id)
        .bind(i64::from(public))
        .bind(runs_as)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn shared_app(&self, app: &str) -> Result<Option<SharedAppRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {SHARED_COLUMNS} FROM {SHARED_FROM} WHERE s.app_id = $1"
        ))
        .bind(app)
        .fetch_optional(&self.pool)
        .await
    }

    /// Every shared instance.
    pub async fn shared_apps(&self) -> Result<Vec<SharedAppRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {SHARED_COLUMNS} FROM {SHARED_FROM} ORDER BY s.app_id"
        ))
        .fetch_all(&self.pool)
        .await
    }

    /// The instances published by `org_id`.
    pub async fn shared_apps_of_org(&self, org_id: i64) -> Result<Vec<SharedAppRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {SHARED_COLUMNS} FROM {SHARED_FROM} WHERE s.org_id = $1 ORDER BY s.app_id"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await
    }

    /// The instances `user_id` may use: their organisations' and the public ones.
    pub async fn shared_apps_for(&self, user_id: i64) -> Result<Vec<SharedAppRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {SHARED_COLUMNS} FROM {SHARED_FROM} WHERE s.public = 1 OR s.org_id IN
                (SELECT org_id FROM org_members WHERE user_id = $1)
             ORDER BY s.app_id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Unpublishes `app` of `org_id`; `false` when it was not published there.
    pub async fn delete_shared_app(&self, app: &str, org_id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM shared_apps WHERE app_id = $1 AND org_id = $2")
            .bind(app)
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
