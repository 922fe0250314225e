-- Platform roles, organisations with members and teams, per-dataset collaborators, and the
-- `internal` visibility (readable by every signed-in user), kept as a flag beside `visibility`
-- because SQLite cannot change the column's CHECK constraint in place (a table rebuild would
-- have to switch foreign keys off, which a migration's transaction cannot).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'scientist'
    CHECK (role IN ('admin', 'engineer', 'scientist', 'analyst', 'viewer'));
UPDATE users SET role = 'admin' WHERE is_admin <> 0;

ALTER TABLE repos ADD COLUMN internal INTEGER NOT NULL DEFAULT 0;

CREATE TABLE orgs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE org_members (
    org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE collaborators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,
    permission TEXT NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
    CHECK ((user_id IS NULL) <> (team_id IS NULL)),
    UNIQUE (repo_id, user_id),
    UNIQUE (repo_id, team_id)
);
