-- Consents a user gave an OAuth client, remembered so that signing in again through the same
-- client for scopes already allowed does not ask again; forgotten (and the client's grants for
-- that user revoked) from the settings page.
CREATE TABLE oauth_consents (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    -- space-separated, sorted
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
