-- Sign-in through external identity providers (OpenID Connect, GitHub). Times are unix seconds.

-- A provider's account linked to a strata user, by the provider's stable subject: the issuer
-- (or `github:{api}`) and `sub` (GitHub's numeric id). Never by email.
CREATE TABLE identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    provider TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- How the provider names the user (shown on the settings page).
    login TEXT NOT NULL,
    -- The platform role the provider's rules gave at the last sign-in, if any.
    mapped_role TEXT,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_user ON identities (user_id);

-- Sign-ins in flight: the state (only its sha256), the nonce and the PKCE verifier, used once.
CREATE TABLE sso_logins (
    state_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    next TEXT NOT NULL,
    link_user_id BIGINT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_logins_expiry ON sso_logins (expires_at);

-- Organisation (team_id 0) and team memberships the rules granted: only these are taken back
-- when the rules stop granting them.
CREATE TABLE sso_memberships (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    team_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, issuer, org_id, team_id)
);
