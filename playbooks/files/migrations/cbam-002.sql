-- cbam v2: declarations carry the reporting quarter, filled in for the existing rows. v1 ignores the column.
ALTER TABLE declarations ADD COLUMN IF NOT EXISTS reporting_quarter text;
UPDATE declarations SET reporting_quarter = period WHERE reporting_quarter IS NULL;
INSERT INTO schema_migrations (version) VALUES ('002_v2') ON CONFLICT (version) DO NOTHING;
