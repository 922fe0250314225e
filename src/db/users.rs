//! `users`: accounts; a user's username is also their namespace.

use super::{now, Db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub is_admin: i64,
    pub created_at: i64,
}

impl User {
    pub fn admin(&self) -> bool {
        self.is_admin != 0
    }
}

const COLUMNS: &str = "id, username, email, is_admin, created_at";

impl Db {
    pub async fn create_user(
        &self,
        username: &str,
        email: Option<&str>,
        admin: bool,
    ) -> Result<User, sqlx::Error> {
        sqlx::query_as(&format!("INSERT INTO users (username, email, is_admin, created_at) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"))
            .bind(username)
            .bind(email)
            .bind(admin as i64)
            .bind(now())
            .fetch_one(&self.pool)
            .await
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, sqlx::Error> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Deletes a user who owns nothing yet (undoing a sign-up that lost a race for its invitation).
    pub async fn delete_user(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
