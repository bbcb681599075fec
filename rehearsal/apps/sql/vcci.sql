-- vcci (Scope 3 platform): schema and seed data. Idempotent: safe to run again.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS emission_factors (
    category integer NOT NULL,
    activity text NOT NULL,
    unit text NOT NULL,
    factor numeric(12, 6) NOT NULL,
    source text NOT NULL DEFAULT 'rehearsal illustrative factors',
    PRIMARY KEY (category, activity)
);
CREATE TABLE IF NOT EXISTS suppliers (
    id text PRIMARY KEY,
    name text NOT NULL,
    country char(2) NOT NULL,
    spend_category text NOT NULL,
    annual_spend_eur numeric(14, 2) NOT NULL
);
CREATE TABLE IF NOT EXISTS calculations (
    id bigserial PRIMARY KEY,
    category integer NOT NULL,
    supplier_id text REFERENCES suppliers (id),
    input jsonb NOT NULL,
    total_kg_co2e numeric(16, 3) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO emission_factors (category, activity, unit, factor) VALUES
    (1, 'metals', 'EUR', 0.95),
    (1, 'chemicals', 'EUR', 0.72),
    (1, 'plastics', 'EUR', 0.66),
    (1, 'electronics', 'EUR', 0.41),
    (1, 'textiles', 'EUR', 0.58),
    (1, 'food', 'EUR', 0.83),
    (1, 'paper', 'EUR', 0.49),
    (1, 'services', 'EUR', 0.12),
    (4, 'road', 'tkm', 0.105),
    (4, 'rail', 'tkm', 0.028),
    (4, 'sea', 'tkm', 0.016),
    (4, 'air', 'tkm', 0.602),
    (6, 'air_short', 'pkm', 0.151),
    (6, 'air_long', 'pkm', 0.148),
    (6, 'rail', 'pkm', 0.035),
    (6, 'car', 'pkm', 0.171),
    (6, 'hotel', 'night', 10.4)
ON CONFLICT (category, activity) DO NOTHING;

INSERT INTO suppliers (id, name, country, spend_category, annual_spend_eur) VALUES
    ('S001', 'Nordic Steel AB', 'SE', 'metals', 1250000.0),
    ('S002', 'Rhein Chemie GmbH', 'DE', 'chemicals', 830000.0),
    ('S003', 'Polymer Works BV', 'NL', 'plastics', 610000.0),
    ('S004', 'Circuit House Ltd', 'IE', 'electronics', 1480000.0),
    ('S005', 'Lusitania Textil SA', 'PT', 'textiles', 270000.0),
    ('S006', 'Agro Foods SpA', 'IT', 'food', 390000.0),
    ('S007', 'Papeterie du Nord', 'FR', 'paper', 150000.0),
    ('S008', 'Consulting Partners', 'BE', 'services', 2100000.0),
    ('S009', 'Baltic Metals UAB', 'LT', 'metals', 720000.0),
    ('S010', 'Iberica Quimica SL', 'ES', 'chemicals', 455000.0)
ON CONFLICT (id) DO NOTHING;

-- A little history, so backups and migrations have rows to carry.
INSERT INTO calculations (id, category, supplier_id, input, total_kg_co2e, created_at) VALUES
    (1, 1, 'S001', '{"items": [{"category": "metals", "spend": 100000}]}', 95000.000, '2025-01-15T10:00:00Z'),
    (2, 1, 'S004', '{"items": [{"category": "electronics", "spend": 50000}]}', 20500.000, '2025-02-15T10:00:00Z'),
    (3, 4, NULL, '{"items": [{"mode": "road", "tonnes": 12, "distance_km": 800}]}', 1008.000, '2025-03-15T10:00:00Z'),
    (4, 6, NULL, '{"items": [{"mode": "air_short", "distance_km": 1200}]}', 181.200, '2025-04-15T10:00:00Z')
ON CONFLICT (id) DO NOTHING;
SELECT setval('calculations_id_seq', GREATEST((SELECT max(id) FROM calculations), 1));

INSERT INTO schema_migrations (version) VALUES ('001_initial') ON CONFLICT (version) DO NOTHING;
