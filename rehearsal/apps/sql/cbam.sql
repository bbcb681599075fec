-- cbam (CBAM importer): schema and seed data. Idempotent: safe to run again.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS default_values (
    cn_code text PRIMARY KEY,
    description text NOT NULL,
    unit text NOT NULL,
    embedded_t_co2e_per_unit numeric(12, 6) NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
    id bigserial PRIMARY KEY,
    declarant text NOT NULL,
    period text NOT NULL,
    cn_code text NOT NULL REFERENCES default_values (cn_code),
    origin char(2) NOT NULL,
    quantity numeric(14, 3) NOT NULL
);
CREATE TABLE IF NOT EXISTS declarations (
    id bigserial PRIMARY KEY,
    declarant text NOT NULL,
    period text NOT NULL,
    embedded_t_co2e numeric(16, 3) NOT NULL,
    certificates numeric(16, 3) NOT NULL,
    status text NOT NULL DEFAULT 'draft',
    UNIQUE (declarant, period)
);

INSERT INTO default_values (cn_code, description, unit, embedded_t_co2e_per_unit) VALUES
    ('2523', 'Portland cement', 't', 0.9),
    ('7208', 'Flat-rolled iron or steel', 't', 2.1),
    ('7601', 'Unwrought aluminium', 't', 8.6),
    ('3102', 'Mineral nitrogen fertilisers', 't', 2.7),
    ('2804', 'Hydrogen', 't', 10.4),
    ('2716', 'Electrical energy', 'MWh', 0.38)
ON CONFLICT (cn_code) DO NOTHING;

INSERT INTO imports (id, declarant, period, cn_code, origin, quantity) VALUES
    (1, 'GreenLang Trading BV', '2025-Q3', '7208', 'TR', 1200.000),
    (2, 'GreenLang Trading BV', '2025-Q3', '2523', 'UA', 5400.000),
    (3, 'GreenLang Trading BV', '2025-Q3', '7601', 'IN', 310.500),
    (4, 'GreenLang Trading BV', '2025-Q4', '3102', 'EG', 880.000),
    (5, 'GreenLang Trading BV', '2025-Q4', '2716', 'RS', 15000.000)
ON CONFLICT (id) DO NOTHING;
SELECT setval('imports_id_seq', GREATEST((SELECT max(id) FROM imports), 1));

INSERT INTO declarations (id, declarant, period, embedded_t_co2e, certificates, status) VALUES
    (1, 'GreenLang Trading BV', '2025-Q3', 9950.300, 9950.300, 'submitted')
ON CONFLICT (id) DO NOTHING;
SELECT setval('declarations_id_seq', GREATEST((SELECT max(id) FROM declarations), 1));

INSERT INTO schema_migrations (version) VALUES ('001_initial') ON CONFLICT (version) DO NOTHING;
