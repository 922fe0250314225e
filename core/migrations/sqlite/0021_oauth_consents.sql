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

-- Grants made before consents were remembered: each user's live grant to a client, with the
-- scope of its refresh token, so that Settings lists them and can take them back.
INSERT INTO oauth_consents (user_id, client_id, scope, created_at, updated_at)
SELECT f.user_id, f.client_id, MAX(r.scope), MIN(f.created_at), MAX(f.created_at)
FROM oauth_families f JOIN oauth_refresh_tokens r ON r.family_id = f.id
WHERE f.revoked_at IS NULL AND f.user_id IS NOT NULL AND r.used_at IS NULL
GROUP BY f.user_id, f.client_id;
