BEGIN;
ALTER TABLE orders ADD COLUMN discount numeric(12, 2) NOT NULL DEFAULT 0;
UPDATE schema_version SET version = 2;
COMMIT;
