-- What each subject has spent of a dataset's privacy budget on differentially private aggregates
-- (a policy's AggregateOnly action), in millionths of epsilon. Spent before an answer is
-- computed, never given back.
CREATE TABLE privacy_budgets (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    -- a principal's key: user:{id}, jwt:{sub} or anonymous
    subject TEXT NOT NULL,
    spent_micro BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, subject)
);
