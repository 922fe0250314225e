-- The names a dataset had before it was renamed: each old name leads to the dataset (by id, so a
-- later rename keeps it leading there) until a dataset is made or renamed to that name.
CREATE TABLE dataset_redirects (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX dataset_redirects_path ON dataset_redirects (lower(namespace), lower(name));
CREATE INDEX dataset_redirects_repo ON dataset_redirects (repo_id);
