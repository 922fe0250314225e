-- Apps a site admin offers every account (each offered once, with its scopes, until the user
-- installs or declines it), and the offers each user declined.
CREATE TABLE default_apps (
    app_id TEXT PRIMARY KEY,
    named_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE app_declines (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, app_id)
);
