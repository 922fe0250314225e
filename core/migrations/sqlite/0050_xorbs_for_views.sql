-- Xorbs the chunker made for a table view (`crate::xet::chunking`): views are a cache strata
-- makes itself, so their xorbs count toward no namespace's usage (1), unlike every other xorb (0).
ALTER TABLE xet_xorbs ADD COLUMN for_view INTEGER NOT NULL DEFAULT 0;
