-- Comments on a merge request: on the request, or on one of its files (path) or one row of a
-- table (path and the row's key as the page shows it).
CREATE TABLE merge_comments (
    id BIGSERIAL PRIMARY KEY,
    merge_request_id BIGINT NOT NULL REFERENCES merge_requests(id) ON DELETE CASCADE,
    author TEXT NOT NULL,
    author_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    body TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT '',
    row_key TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX merge_comments_request ON merge_comments (merge_request_id, id);
