//! `delta_shares`, `delta_share_tables`, `delta_recipients`: Delta Sharing's shares of a
//! namespace, the tables each names, and the recipients that read them with a bearer token
//! (`crate::sharing::recipients`, `crate::compat::delta_sharing`).

use super::{is_unique_violation, now, Db};

/// A share of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeltaShare {
    pub id: i64,
    pub namespace: String,
    pub name: String,
    pub comment: String,
    pub created_at: i64,
}

/// A table a share names, with its dataset's path.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeltaTable {
    pub id: i64,
    pub share_id: i64,
    pub share: String,
    pub schema_name: String,
    pub name: String,
    pub repo_id: i64,
    pub repo_namespace: String,
    pub repo_name: String,
    pub resource: String,
    pub at_ref: Option<String>,
    /// JSON: the columns shared, if the share lists them.
    pub columns: Option<String>,
    /// JSON: the share's row filters.
    pub filters: Option<String>,
    pub start_version: i64,
    pub uuid: String,
    pub created_at: i64,
}

/// What a new share table is.
#[derive(Debug, Clone, Default)]
pub struct NewDeltaTable<'a> {
    pub schema_name: &'a str,
    pub name: &'a str,
    pub repo_id: i64,
    pub resource: &'a str,
    pub at_ref: Option<&'a str>,
    pub columns: Option<String>,
    pub filters: Option<String>,
    pub start_version: i64,
}

/// A recipient, never its token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Recipient {
    pub id: i64,
    pub namespace: String,
    pub name: String,
    pub organization: String,
    pub purpose: String,
    pub user_id: Option<i64>,
    pub team_id: Option<i64>,
    /// The user's name, or the team as `org/team`.
    pub stands_for: Option<String>,
    /// JSON: the addresses and CIDR blocks it may call from.
    pub ip_allow: Option<String>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub queries: i64,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
}

impl Recipient {
    /// Neither revoked nor expired.
    pub fn live(&self) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now())
    }
}

/// What a new recipient is.
#[derive(Debug, Clone, Default)]
pub struct NewRecipient<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub organization: &'a str,
    pub purpose: &'a str,
    pub user_id: Option<i64>,
    pub team_id: Option<i64>,
    pub ip_allow: Option<String>,
    pub expires_at: Option<i64>,
    pub created_by: Option<i64>,
}

const TABLE_COLUMNS: &str = "t.id, t.share_id, s.name AS share, t.schema_name, t.name, t.repo_id,
    r.namespace AS repo_namespace, r.name AS repo_name, t.resource, t.at_ref, t.columns, t.filters,
    t.start_version, t.uuid, t.created_at
    FROM delta_share_tables t JOIN delta_shares s ON s.id = t.share_id
    JOIN repos r ON r.id = t.repo_id";

const RECIPIENT_COLUMNS: &str = "c.id, c.namespace, c.name, c.organization, c.purpose, c.user_id,
    c.team_id, COALESCE(u.username, o.name || '/' || tm.name) AS stands_for, c.ip_allow,
    c.expires_at, c.revoked_at, c.queries, c.last_used_at, c.created_at, c.rotated_at
    FROM delta_recipients c LEFT JOIN users u ON u.id = c.user_id
    LEFT JOIN teams tm ON tm.id = c.team_id LEFT JOIN orgs o ON o.id = tm.org_id";

impl Db {
    /// Makes a share; `None` when the namespace has one of that name.
    pub async fn put_delta_share(
        &self,
        namespace: &str,
        name: &str,
        comment: &str,
        created_by: Option<i64>,
    ) -> Result<Option<DeltaShare>, sqlx::Error> {
        let made = sqlx::query_as(
            "INSERT INTO delta_shares (namespace, name, comment, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id, namespace, name, comment, created_at",
        )
        .bind(namespace)
        .bind(name)
        .bind(comment)
        .bind(created_by)
        .bind(now())
        .fetch_one(&self.pool)
        .await;
        match made {
            Ok(s) => Ok(Some(s)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A namespace's shares, by name.
    pub async fn delta_shares(&self, namespace: &str) -> Result<Vec<DeltaShare>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, namespace, name, comment, created_at FROM delta_shares
             WHERE namespace = $1 ORDER BY name",
        )
        .bind(namespace)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn delta_share(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<DeltaShare>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, namespace, name, comment, created_at FROM delta_shares
             WHERE namespace = $1 AND name = $2",
        )
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    /// Removes a share (its tables, and what recipients had of it); whether there was one.
    pub async fn drop_delta_share(&self, id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM delta_recipient_shares WHERE share_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM delta_share_tables WHERE share_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM delta_shares WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// Adds a table to a share; `None` when the share has one of that schema and name.
    pub async fn put_delta_table(
        &self,
        share_id: i64,
        t: &NewDeltaTable<'_>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let made = sqlx::query_scalar(
            "INSERT INTO delta_share_tables (share_id, schema_name, name, repo_id, resource, at_ref,
                 columns, filters, start_version, uuid, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(share_id)
        .bind(t.schema_name)
        .bind(t.name)
        .bind(t.repo_id)
        .bind(t.resource)
        .bind(t.at_ref)
        .bind(&t.columns)
        .bind(&t.filters)
        .bind(t.start_version)
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(now())
        .fetch_one(&self.pool)
        .await;
        match made {
            Ok(id) => Ok(Some(id)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes a table from a share; whether there was one.
    pub async fn drop_delta_table(
        &self,
        share_id: i64,
        schema_name: &str,
        name: &str,
    ) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM delta_share_tables WHERE share_id = $1 AND schema_name = $2 AND name = $3",
        )
        .bind(share_id)
        .bind(schema_name)
        .bind(name)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// The tables of a share, by schema and name.
    pub async fn delta_tables(&self, share_id: i64) -> Result<Vec<DeltaTable>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {TABLE_COLUMNS} WHERE t.share_id = $1 ORDER BY t.schema_name, t.name"
        ))
        .bind(share_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn delta_table(&self, id: i64) -> Result<Option<DeltaTable>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {TABLE_COLUMNS} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Makes a recipient with the sha256 of its token; `None` when the namespace has one of that
    /// name.
    pub async fn put_recipient(
        &self,
        r: &NewRecipient<'_>,
        token_hash: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        let made = sqlx::query_scalar(
            "INSERT INTO delta_recipients (namespace, name, organization, purpose, user_id, team_id,
                 token_hash, ip_allow, expires_at, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(r.namespace)
        .bind(r.name)
        .bind(r.organization)
        .bind(r.purpose)
        .bind(r.user_id)
        .bind(r.team_id)
        .bind(token_hash)
        .bind(&r.ip_allow)
        .bind(r.expires_at)
        .bind(r.created_by)
        .bind(now())
        .fetch_one(&self.pool)
        .await;
        match made {
            Ok(id) => Ok(Some(id)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A namespace's recipients, by name.
    pub async fn recipients(&self, namespace: &str) -> Result<Vec<Recipient>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {RECIPIENT_COLUMNS} WHERE c.namespace = $1 ORDER BY c.name"
        ))
        .bind(namespace)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn recipient(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Recipient>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {RECIPIENT_COLUMNS} WHERE c.namespace = $1 AND c.name = $2"
        ))
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    /// The recipient whose token has this sha256, revoked or expired too (the caller says which).
    pub async fn recipient_by_token(&self, hash: &str) -> Result<Option<Recipient>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {RECIPIENT_COLUMNS} WHERE c.token_hash = $1"))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn recipient_by_id(&self, id: i64) -> Result<Option<Recipient>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {RECIPIENT_COLUMNS} WHERE c.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Gives a recipient a new token (the old one stops at once) and, if asked, a new expiry.
    pub async fn rotate_recipient(
        &self,
        id: i64,
        token_hash: &str,
        expires_at: Option<Option<i64>>,
    ) -> Result<(), sqlx::Error> {
        let q = match expires_at {
            Some(_) => "UPDATE delta_recipients SET token_hash = $1, rotated_at = $2, expires_at = $4 WHERE id = $3",
            None => "UPDATE delta_recipients SET token_hash = $1, rotated_at = $2 WHERE id = $3",
        };
        let mut q = sqlx::query(q).bind(token_hash).bind(now()).bind(id);
        if let Some(e) = expires_at {
            q = q.bind(e);
        }
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// Revokes a recipient: its token stops at once.
    pub async fn revoke_recipient(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE delta_recipients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets the shares a recipient reads (replacing those it read).
    pub async fn set_recipient_shares(&self, id: i64, shares: &[i64]) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM delta_recipient_shares WHERE recipient_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for s in shares {
            sqlx::query(
                "INSERT INTO delta_recipient_shares (recipient_id, share_id) VALUES ($1, $2)",
            )
            .bind(id)
            .bind(s)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// The shares a recipient reads, by name.
    pub async fn recipient_shares(&self, id: i64) -> Result<Vec<DeltaShare>, sqlx::Error> {
        sqlx::query_as(
            "SELECT s.id, s.namespace, s.name, s.comment, s.created_at
             FROM delta_shares s JOIN delta_recipient_shares g ON g.share_id = s.id
             WHERE g.recipient_id = $1 ORDER BY s.name",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
    }

    /// Counts a query of a recipient.
    pub async fn recipient_used(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE delta_recipients SET queries = queries + 1, last_used_at = $1 WHERE id = $2",
        )
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
