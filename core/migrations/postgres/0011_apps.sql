-- Apps: manifests added through the API (the ones of --apps-dir live in files), what each user
-- installed (with the scopes they consented to and the token family its tokens carry, so that an
-- uninstall revokes them), and the people an owner shares an instance with.
CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE app_installs (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    family TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    -- The last traffic through any replica's proxy (written every few seconds while there is
    -- some): what the culling of Kubernetes instances goes by.
    active_at BIGINT,
    PRIMARY KEY (user_id, app_id)
);
CREATE TABLE app_shares (
    owner_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    grantee_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner_id, app_id, grantee_id)
);
