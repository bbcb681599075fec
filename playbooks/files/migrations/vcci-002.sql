-- vcci v2: supplier data-quality score and a hotspot index. Additive, so v1 keeps working beside v2.
ALTER TABLE suppliers ADD COLUMN IF NOT EXISTS data_quality_score smallint NOT NULL DEFAULT 3
    CHECK (data_quality_score BETWEEN 1 AND 5);
CREATE INDEX IF NOT EXISTS calculations_category_created_idx ON calculations (category, created_at);
INSERT INTO schema_migrations (version) VALUES ('002_v2') ON CONFLICT (version) DO NOTHING;
