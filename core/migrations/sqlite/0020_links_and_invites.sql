-- Share links can be shown again: a link's secret is the HMAC of this random nonce under a key
-- derived from the server's private key, so the nonce alone (say, from a copy of the database)
-- opens nothing. Links made before have none, and are shown as "make a new link to copy it".
ALTER TABLE share_links ADD COLUMN nonce TEXT;

-- Shares with an address that has no account yet: delivered as a share to the account that signs
-- in through a provider that verified this address, then removed.
CREATE TABLE share_invites (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    -- "" for the whole dataset
    path TEXT NOT NULL,
    -- lower case
    email TEXT NOT NULL,
    access TEXT NOT NULL,
    expires_at BIGINT,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (repo_id, path, email)
);
CREATE INDEX share_invites_email ON share_invites (email);
