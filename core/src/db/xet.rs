//! `xet_xorbs`, `xet_files` and `xet_chunks`: the Xet storage of each dataset (`crate::xet`). A xorb's bytes
//! are one of the dataset's objects; its row keeps the index of its chunks. A file's row keeps
//! the segments a shard gave for it, the sha256 the shard claimed and, once strata read the file
//! back and hashed it, the sha256 it really has. The chunks a dedup query may ask about lead to
//! the xorb holding them.

use super::Db;

/// A row of `xet_files`: hash, claimed, oid, size, segments.
type FileRow = (String, Option<String>, Option<String>, i64, Vec<u8>);

/// A xorb of a dataset: the object holding its bytes and the index of its chunks.
#[derive(Debug, Clone)]
pub struct XetXorb {
    pub oid: String,
    pub size: i64,
    pub chunks: Vec<u8>,
    /// Made by the chunker for a table view: counted toward no namespace's usage.
    pub for_view: bool,
}

/// A file a shard recorded in a dataset.
#[derive(Debug, Clone)]
pub struct XetFile {
    pub hash: String,
    pub claimed: Option<String>,
    pub oid: Option<String>,
    pub size: i64,
    pub segments: Vec<u8>,
}

impl XetFile {
    /// The xorbs its segments use, each once.
    pub fn xorbs(
        &self,
    ) -> Result<std::collections::BTreeSet<strata_lfs::xet::Hash>, strata_lfs::xet::FormatError>
    {
        let segments = strata_lfs::xet::shard::parse_segments(&self.segments)?;
        Ok(segments.iter().map(|s| s.xorb).collect())
    }
}

impl Db {
    /// Records xorb `hash` of dataset `repo_id`; false when it was recorded before (its first
    /// record stays).
    pub async fn xet_put_xorb(
        &self,
        repo_id: i64,
        hash: &str,
        xorb: &XetXorb,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO xet_xorbs (repo_id, hash, oid, size, chunks, for_view)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo_id, hash) DO NOTHING",
        )
        .bind(repo_id)
        .bind(hash)
        .bind(&xorb.oid)
        .bind(xorb.size)
        .bind(&xorb.chunks)
        .bind(i64::from(xorb.for_view))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Counts xorbs `hashes` of dataset `repo_id` toward its usage from now on: a file that is no
    /// view (an object it links) uses their chunks.
    pub async fn xet_xorbs_counted(
        &self,
        repo_id: i64,
        hashes: &[String],
    ) -> Result<(), sqlx::Error> {
        for hash in hashes {
            sqlx::query(
                "UPDATE xet_xorbs SET for_view = 0 WHERE repo_id = $1 AND hash = $2 AND for_view = 1",
            )
            .bind(repo_id)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Xorb `hash` of dataset `repo_id`, if it has one.
    pub async fn xet_xorb(&self, repo_id: i64, hash: &str) -> Result<Option<XetXorb>, sqlx::Error> {
        let row: Option<(String, i64, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT oid, size, chunks, for_view FROM xet_xorbs WHERE repo_id = $1 AND hash = $2",
        )
        .bind(repo_id)
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(oid, size, chunks, for_view)| XetXorb {
            oid,
            size,
            chunks,
            for_view: for_view != 0,
        }))
    }

    /// Each xorb of dataset `repo_id` with the object holding its bytes.
    pub async fn xet_xorb_oids(&self, repo_id: i64) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as("SELECT hash, oid FROM xet_xorbs WHERE repo_id = $1")
            .bind(repo_id)
            .fetch_all(&self.pool)
            .await
    }

    /// The xorbs of dataset `repo_id` whose bytes object `oid` holds.
    pub async fn xet_xorbs_held_by(
        &self,
        repo_id: i64,
        oid: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT hash FROM xet_xorbs WHERE repo_id = $1 AND oid = $2")
                .bind(repo_id)
                .bind(oid)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(h,)| h).collect())
    }

    /// The bytes the xorbs of dataset `repo_id` keep (each stored once).
    pub async fn xet_stored_bytes(&self, repo_id: i64) -> Result<i64, sqlx::Error> {
        let (bytes,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM xet_xorbs WHERE repo_id = $1",
        )
        .bind(repo_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(bytes)
    }

    /// Records dedup entries of dataset `repo_id`: each chunk (hex) and the xorbs it leads to
    /// (space-separated), in place of what an earlier file left for the same chunk.
    pub async fn xet_put_chunks(
        &self,
        repo_id: i64,
        entries: &[(String, String)],
    ) -> Result<(), sqlx::Error> {
        for (chunk, xorbs) in entries {
            sqlx::query(
                "INSERT INTO xet_chunks (repo_id, chunk, xorbs) VALUES ($1, $2, $3)
                 ON CONFLICT (repo_id, chunk) DO UPDATE SET xorbs = excluded.xorbs",
            )
            .bind(repo_id)
            .bind(chunk)
            .bind(xorbs)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// The xorbs (space-separated) chunk `chunk` of dataset `repo_id` leads to, if any.
    pub async fn xet_chunk_xorb(
        &self,
        repo_id: i64,
        chunk: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT xorbs FROM xet_chunks WHERE repo_id = $1 AND chunk = $2")
                .bind(repo_id)
                .bind(chunk)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(x,)| x))
    }

    /// The bytes of every dataset's xorbs, and of the files recorded from them.
    pub async fn xet_totals(&self) -> Result<(i64, i64), sqlx::Error> {
        let (stored, files): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE((SELECT SUM(size) FROM xet_xorbs), 0) AS BIGINT),
                    CAST(COALESCE((SELECT SUM(size) FROM xet_files), 0) AS BIGINT)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((stored, files))
    }

    /// The files recorded in dataset `repo_id`.
    pub async fn xet_files(&self, repo_id: i64) -> Result<Vec<XetFile>, sqlx::Error> {
        let rows: Vec<FileRow> = sqlx::query_as(
            "SELECT hash, claimed, oid, size, segments FROM xet_files WHERE repo_id = $1",
        )
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(file).collect())
    }

    /// Forgets xorbs `xorbs` of dataset `repo_id`, the files `files` recorded from them, and the
    /// dedup entries that lead to them: the objects that held the xorbs, with their sizes.
    pub async fn xet_forget(
        &self,
        repo_id: i64,
        xorbs: &[String],
        files: &[String],
    ) -> Result<Vec<(String, i64)>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for hash in files {
            sqlx::query("DELETE FROM xet_files WHERE repo_id = $1 AND hash = $2")
                .bind(repo_id)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        let mut held = Vec::new();
        for hash in xorbs {
            let row: Option<(String, i64)> =
                sqlx::query_as("SELECT oid, size FROM xet_xorbs WHERE repo_id = $1 AND hash = $2")
                    .bind(repo_id)
                    .bind(hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            held.extend(row);
            sqlx::query("DELETE FROM xet_xorbs WHERE repo_id = $1 AND hash = $2")
                .bind(repo_id)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
            // A dedup entry lists xorbs of one file (64 hexadecimal digits each), the chunk's
            // own first: it goes with that one, and only loses any other.
            sqlx::query(
                "DELETE FROM xet_chunks WHERE repo_id = $1 AND xorbs LIKE CAST($2 AS TEXT) || '%'",
            )
            .bind(repo_id)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE xet_chunks SET xorbs = TRIM(REPLACE(' ' || xorbs || ' ', ' ' || CAST($2 AS TEXT) || ' ', ' '))
                 WHERE repo_id = $1 AND xorbs LIKE '%' || CAST($2 AS TEXT) || '%'",
            )
            .bind(repo_id)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(held)
    }

    /// Moves files of dataset `repo_id` from xorb `old` onto xorb `new` (a compaction of it):
    /// each of `files` (hash, segments before, segments after) whose segments are still those
    /// before, and every dedup entry that led to `old`. How many files moved.
    pub async fn xet_move_files(
        &self,
        repo_id: i64,
        old: &str,
        new: &str,
        files: &[(String, Vec<u8>, Vec<u8>)],
    ) -> Result<u64, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let mut moved = 0;
        for (hash, before, after) in files {
            moved += sqlx::query(
                "UPDATE xet_files SET segments = $4 WHERE repo_id = $1 AND hash = $2 AND segments = $3",
            )
            .bind(repo_id)
            .bind(hash)
            .bind(before)
            .bind(after)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        sqlx::query(
            "UPDATE xet_chunks SET xorbs = REPLACE(xorbs, CAST($2 AS TEXT), CAST($3 AS TEXT))
             WHERE repo_id = $1 AND xorbs LIKE '%' || CAST($2 AS TEXT) || '%'",
        )
        .bind(repo_id)
        .bind(old)
        .bind(new)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE xet_xorbs SET compacted_into = $3 WHERE repo_id = $1 AND hash = $2")
            .bind(repo_id)
            .bind(old)
            .bind(new)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// The xorbs of dataset `repo_id` that a compaction wrote into one of `xorbs` (not
    /// collected yet).
    pub async fn xet_compacted_into(
        &self,
        repo_id: i64,
        xorbs: &[String],
    ) -> Result<Vec<String>, sqlx::Error> {
        let mut out = Vec::new();
        for hash in xorbs {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT hash FROM xet_xorbs WHERE repo_id = $1 AND compacted_into = $2",
            )
            .bind(repo_id)
            .bind(hash)
            .fetch_all(&self.pool)
            .await?;
            out.extend(rows.into_iter().map(|(h,)| h));
        }
        Ok(out)
    }

    /// Records file `file.hash` of dataset `repo_id` as a shard gave it; false when it was
    /// recorded before (the first record, and what was checked of it, stays; until a commit
    /// checks what the file is, the last sha256 claimed for it stands, and a changed claim
    /// counts as new: a false claim made first cannot hold the file back).
    /// A file no commit named yet counts as recorded now again.
    pub async fn xet_put_file(&self, repo_id: i64, file: &XetFile) -> Result<bool, sqlx::Error> {
        let now = super::now();
        let done = sqlx::query(
            "INSERT INTO xet_files (repo_id, hash, claimed, size, segments, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (repo_id, hash) DO UPDATE SET claimed = excluded.claimed
             WHERE xet_files.oid IS NULL AND excluded.claimed IS NOT NULL
               AND (xet_files.claimed IS NULL OR xet_files.claimed <> excluded.claimed)",
        )
        .bind(repo_id)
        .bind(&file.hash)
        .bind(&file.claimed)
        .bind(file.size)
        .bind(&file.segments)
        .bind(now)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "UPDATE xet_files SET recorded_at = $3
             WHERE repo_id = $1 AND hash = $2 AND oid IS NULL AND recorded_at < $3",
        )
        .bind(repo_id)
        .bind(&file.hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The files of dataset `repo_id` that no commit named (none was checked to be an object)
    /// and that no shard recorded since `before`.
    pub async fn xet_unlanded(
        &self,
        repo_id: i64,
        before: i64,
    ) -> Result<std::collections::HashSet<String>, sqlx::Error> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT hash FROM xet_files WHERE repo_id = $1 AND oid IS NULL AND recorded_at < $2",
        )
        .bind(repo_id)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(h,)| h).collect())
    }

    /// File `hash` of dataset `repo_id`, if a shard recorded it.
    pub async fn xet_file(&self, repo_id: i64, hash: &str) -> Result<Option<XetFile>, sqlx::Error> {
        let row: Option<FileRow> = sqlx::query_as(
            "SELECT hash, claimed, oid, size, segments FROM xet_files
             WHERE repo_id = $1 AND hash = $2",
        )
        .bind(repo_id)
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(file))
    }

    /// Files of dataset `repo_id` whose shard claimed sha256 `oid` of `size` bytes (a few: a
    /// false claim does not hide a true one).
    pub async fn xet_files_claiming(
        &self,
        repo_id: i64,
        oid: &str,
        size: i64,
    ) -> Result<Vec<XetFile>, sqlx::Error> {
        let rows: Vec<FileRow> = sqlx::query_as(
            "SELECT hash, claimed, oid, size, segments FROM xet_files
             WHERE repo_id = $1 AND claimed = $2 AND size = $3 ORDER BY hash LIMIT 4",
        )
        .bind(repo_id)
        .bind(oid)
        .bind(size)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(file).collect())
    }

    /// The Xet hash of a file of dataset `repo_id` read back with sha256 `oid`, if any.
    pub async fn xet_hash_of(
        &self,
        repo_id: i64,
        oid: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT hash FROM xet_files WHERE repo_id = $1 AND oid = $2 ORDER BY hash LIMIT 1",
        )
        .bind(repo_id)
        .bind(oid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(hash,)| hash))
    }

    /// A file of dataset `repo_id` read back (or chunked) with sha256 `oid`, if any.
    pub async fn xet_file_of(
        &self,
        repo_id: i64,
        oid: &str,
    ) -> Result<Option<XetFile>, sqlx::Error> {
        let row: Option<FileRow> = sqlx::query_as(
            "SELECT hash, claimed, oid, size, segments FROM xet_files
             WHERE repo_id = $1 AND oid = $2 ORDER BY hash LIMIT 1",
        )
        .bind(repo_id)
        .bind(oid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(file))
    }

    /// How many datasets link object `oid`, or keep it as a table view in their own store,
    /// without holding it as chunks (no file of theirs was checked to be it): those that still
    /// read its whole copy.
    pub async fn links_without_chunks(&self, oid: &str) -> Result<i64, sqlx::Error> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM repo_objects r WHERE r.oid = $1 AND NOT EXISTS
                 (SELECT 1 FROM xet_files f WHERE f.repo_id = r.repo_id AND f.oid = r.oid))
             + (SELECT COUNT(*) FROM table_views v WHERE v.oid = $1 AND v.store IS NULL AND NOT EXISTS
                 (SELECT 1 FROM xet_files f WHERE f.repo_id = v.repo_id AND f.oid = v.oid))",
        )
        .bind(oid)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// Objects of at least `min` bytes that a dataset links, or keeps as a table view (or
    /// digest index) in its own store, and holds neither as chunks nor as a xorb, and that were
    /// not adopted by reference (their bytes stay in their source): what strata chunks next
    /// (`crate::xet::chunking`), oldest first.
    pub async fn xet_unchunked(
        &self,
        min: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT repo_id, oid, size FROM (
                 SELECT r.repo_id, r.oid, o.size, r.created_at AS at
                 FROM repo_objects r JOIN objects o ON o.oid = r.oid
                 WHERE o.size >= $1
                   AND NOT EXISTS (SELECT 1 FROM xet_xorbs x WHERE x.repo_id = r.repo_id AND x.oid = r.oid)
                   AND NOT EXISTS (SELECT 1 FROM object_refs x WHERE x.oid = r.oid)
                 UNION ALL
                 SELECT v.repo_id, v.oid, v.size, v.created_at AS at FROM table_views v
                 WHERE v.store IS NULL AND v.size >= $1
             ) c
             WHERE NOT EXISTS (SELECT 1 FROM xet_files f WHERE f.repo_id = c.repo_id AND f.oid = c.oid)
             GROUP BY repo_id, oid, size ORDER BY MIN(at), repo_id, oid LIMIT $2",
        )
        .bind(min)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Forgets the files of dataset `repo_id` checked to be object `oid`, whose link or table
    /// view went, unless the dataset still links `oid` or keeps a view that is the same bytes.
    pub async fn xet_forget_files_of(&self, repo_id: i64, oid: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM xet_files WHERE repo_id = $1 AND oid = $2
               AND NOT EXISTS (SELECT 1 FROM repo_objects r WHERE r.repo_id = $1 AND r.oid = $2)
               AND NOT EXISTS (SELECT 1 FROM table_views v WHERE v.repo_id = $1 AND v.oid = $2 AND v.store IS NULL)",
        )
        .bind(repo_id)
        .bind(oid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Of `oids`, those dataset `repo_id` holds as chunks (files checked to be them).
    pub async fn xet_chunked_among(
        &self,
        repo_id: i64,
        oids: &[strata_lfs::Oid],
    ) -> Result<std::collections::HashSet<strata_lfs::Oid>, sqlx::Error> {
        if oids.is_empty() {
            return Ok(Default::default());
        }
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let sql = match self.engine {
            super::Engine::Sqlite => "SELECT DISTINCT oid FROM xet_files WHERE repo_id = $1 AND oid IN (SELECT value FROM json_each($2))",
            super::Engine::Postgres => "SELECT DISTINCT oid FROM xet_files WHERE repo_id = $1 AND oid IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb))",
        };
        let rows: Vec<(String,)> = sqlx::query_as(sql)
            .bind(repo_id)
            .bind(list)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().filter_map(|(o,)| o.parse().ok()).collect())
    }

    /// Whether any dataset holds object `oid` as chunks (one it links, or a table view of it).
    pub async fn chunked_anywhere(&self, oid: &str) -> Result<bool, sqlx::Error> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT repo_id FROM xet_files WHERE oid = $1 LIMIT 1")
                .bind(oid)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Sets when the whole copy of object `oid`, which dataset `repo_id` holds as chunks, is to
    /// go (`None`: not any more).
    pub async fn xet_drop_whole_at(
        &self,
        repo_id: i64,
        oid: &str,
        at: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE xet_files SET drop_whole_at = $3 WHERE repo_id = $1 AND oid = $2")
            .bind(repo_id)
            .bind(oid)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Objects held as chunks whose whole copy is to go by `at` (dataset, oid), at most `limit`.
    pub async fn xet_whole_due(
        &self,
        at: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, sqlx::Error> {
        // (Not while another dataset's URLs to the same copy may still be used.)
        sqlx::query_as(
            "SELECT f.repo_id, f.oid FROM xet_files f WHERE f.drop_whole_at <= $1
               AND f.oid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM xet_files g
                 WHERE g.drop_whole_at > $1 AND g.oid = f.oid)
             ORDER BY f.drop_whole_at LIMIT $2",
        )
        .bind(at)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Takes back the sha256 claimed for file `hash` of dataset `repo_id`, and what was checked
    /// of it (it read back as something else, or its link was refused).
    pub async fn xet_file_unclaim(&self, repo_id: i64, hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE xet_files SET claimed = NULL, oid = NULL WHERE repo_id = $1 AND hash = $2",
        )
        .bind(repo_id)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that file `hash` of dataset `repo_id` was read back and hashes to `oid`: false
    /// when the file is no longer recorded.
    pub async fn xet_file_checked(
        &self,
        repo_id: i64,
        hash: &str,
        oid: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE xet_files SET oid = $3 WHERE repo_id = $1 AND hash = $2")
            .bind(repo_id)
            .bind(hash)
            .bind(oid)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn file((hash, claimed, oid, size, segments): FileRow) -> XetFile {
    XetFile {
        hash,
        claimed,
        oid,
        size,
        segments,
    }
}
