-- Shared app instances: one instance of an app per server, run for an organisation's members
-- (or, public, for anyone) at the app's own host, acting with the consent of the owner who
-- published it (their install of the app: uninstalling it ends the shared instance).
CREATE TABLE shared_apps (
    app_id TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    -- 1: anyone may use it; 0: the organisation's members only
    public BIGINT NOT NULL CHECK (public IN (0, 1)),
    runs_as BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX shared_apps_org ON shared_apps (org_id);
CREATE INDEX shared_apps_runs_as ON shared_apps (runs_as);
